"""Prometheus HTTP API exports of DCGM metrics -> gpu_samples.

No real export was available: the files in tests/data/gpu/prometheus/ are built by hand from the
documented response format of /api/v1/query_range (``resultType: matrix``, ``values: [[t, "v"]]``)
and /api/v1/query (``vector``, ``value: [t, "v"]``), with the label sets dcgm-exporter writes (as
in the real scrape tests/data/gpu/dcgm/scrape_datadog-fixture_t4_a10g.prom) plus the ``instance``
and ``job`` labels Prometheus adds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aifinops import Workspace
from aifinops.errors import IngestError
from aifinops.sources.prometheus import PrometheusReader
from tests.sources.test_dcgm import DATA, golden, read_all

FILES = DATA / "prometheus"
LABELS = {"__name__": "DCGM_FI_DEV_GPU_UTIL", "gpu": "0", "UUID": "GPU-a", "Hostname": "n1"}


def read(path: Path, **options: str) -> dict[str, Any]:
    return read_all(PrometheusReader(path, **options))  # type: ignore[arg-type]


def write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def matrix(*series: dict[str, Any]) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "matrix", "result": list(series)}}


@pytest.mark.parametrize(
    "name", ["query_range_matrix", "query_vector", "several_responses"], ids=str
)
def test_golden(name: str) -> None:
    golden(f"prometheus_{name}", read(FILES / f"{name}.json"))


def test_matrix_pivots_series_into_rows() -> None:
    got = read(FILES / "query_range_matrix.json")
    rows = got["rows"]
    first = rows[0]
    assert (first["host"], first["gpu_util_pct"], first["fb_used_mib"]) == ("dgx-01", 97.0, 70012.0)
    assert (first["power_w"], first["energy_j"], first["pod"]) == (
        612.341,
        128996.013,
        "llama-ft-0",
    )
    assert json.loads(first["labels"])["instance"] == "10.0.3.17:9400"
    mig = [r for r in rows if r["mig_instance"] == "9"]
    assert [r["sm_active"] for r in mig] == [0.25, 0.5, 0.75]
    assert mig[0]["mig_profile"] == "1g.10gb" and mig[0]["host"] == "dgx-01"  # hostname label
    assert len(rows) == 9  # 3 devices x 3 times
    assert got["warnings"] == {
        "DCGM no-value sentinel read as NULL (DCGM_INT64_NOT_SUPPORTED)": 3,
        "metric not stored (no gpu_samples column): DCGM_FI_DEV_XID_ERRORS": 3,
    }


def test_vector_keeps_fractional_times() -> None:
    rows = read(FILES / "query_vector.json")["rows"]
    assert [r["ts"] for r in rows] == ["2025-11-23T00:00:00.781000+00:00"] * 2
    assert [r["tensor_active"] for r in rows] == [0.412, 0.0]


def test_array_of_responses_and_old_names() -> None:
    rows = read(FILES / "several_responses.json")["rows"]
    assert [(r["gpu_index"], r["dram_active"], r["sm_occupancy"]) for r in rows[:2]] == [
        (0, 0.31, 0.4),
        (0, 0.33, 0.41),
    ]
    assert [r["gpu_util_pct"] for r in rows[2:]] == [5.0, 6.0]  # dcgm_gpu_utilization (1.x)


def test_bad_points_are_quarantined(tmp_path: Path) -> None:
    values = [[1, "50"], [2, "abc"], [3, "-1"], [4, "101"], [5, "NaN"], [6], "x"]
    no_gpu = {
        "metric": {"__name__": "DCGM_FI_DEV_GPU_UTIL", "Hostname": "n1"},
        "values": [[1, "1"]],
    }
    got = read(write(tmp_path, matrix({"metric": LABELS, "values": values}, no_gpu)))
    assert [r["gpu_util_pct"] for r in got["rows"]] == [50.0]
    assert [r["reason"] for r in got["rejected"]] == [
        "response 1, result 1, point 2: not a number: [2, 'abc']",
        "response 1, result 1, point 3: negative value (expected a percentage (0..100))",
        "response 1, result 1, point 4: above 100 (expected a percentage (0..100))",
        "response 1, result 1, point 5: not a finite number (expected a percentage (0..100))",
        "response 1, result 1, point 6: not a [time, value] pair",
        "response 1, result 1, point 7: not a [time, value] pair",
        "response 1, result 2, point 1: no gpu or UUID label: the series cannot be attributed "
        "to a GPU",
    ]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"status": "error", "errorType": "bad_data", "error": "parse error"}, "the query failed"),
        ({"status": "success", "data": {"resultType": "scalar", "result": [1, "2"]}}, "scalar"),
        (matrix({"metric": {"gpu": "0"}, "values": [[1, "1"]]}), "no __name__ label"),
        ([{"nothing": 1}], "not a Prometheus API response"),
        ("not json {", "not JSON"),
    ],
)
def test_unusable_files_are_refused(tmp_path: Path, document: object, message: str) -> None:
    path = write(tmp_path, document)
    if document == "not json {":
        path.write_text("not json {", encoding="utf-8")
    with pytest.raises(IngestError, match=message):
        read(path)


def test_metric_option_names_results_without_name(tmp_path: Path) -> None:
    series = {"metric": {"gpu": "0", "UUID": "GPU-a"}, "values": [[1, "42"]]}
    got = read(write(tmp_path, matrix(series)), metric="DCGM_FI_DEV_GPU_UTIL", host="n9")
    assert [(r["host"], r["gpu_util_pct"]) for r in got["rows"]] == [("n9", 42.0)]


def test_one_file_per_metric_fill_the_same_rows(workspace: Workspace, tmp_path: Path) -> None:
    util = tmp_path / "util.json"
    util.write_text(json.dumps(matrix({"metric": LABELS, "values": [[1, "50"], [2, "60"]]})))
    power = tmp_path / "power.json"
    labels = dict(LABELS, __name__="DCGM_FI_DEV_POWER_USAGE")
    power.write_text(json.dumps(matrix({"metric": labels, "values": [[2, "300"], [3, "310"]]})))
    workspace.ingest([util], source="prometheus")
    workspace.ingest([power], source="prometheus")
    rows = workspace.connection.execute(
        "SELECT epoch(ts)::INT, gpu_util_pct, power_w FROM gpu_samples ORDER BY ts"
    ).fetchall()
    assert rows == [(1, 50.0, None), (2, 60.0, 300.0), (3, None, 310.0)]
    # the same export again changes nothing
    workspace.ingest([util], source="prometheus", force=True)
    assert workspace.connection.execute("SELECT count(*) FROM gpu_samples").fetchone() == (3,)


def test_a_series_without_points_is_empty_not_bad(tmp_path: Path) -> None:
    got = read(write(tmp_path, matrix({"metric": LABELS, "values": []})))
    assert (got["rows"], got["rejected"]) == ([], [])
