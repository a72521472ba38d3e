"""dcgm-exporter scrapes -> gpu_samples: golden rows on the real captures, and each edge case."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest

from aifinops import Workspace
from aifinops.errors import IngestError
from aifinops.sources import dcgm, gpu_common
from aifinops.sources.base import SourceReader
from aifinops.sources.dcgm import DcgmReader

DATA = Path(__file__).parents[1] / "data" / "gpu"
EXPECTED = DATA / "expected"
T0 = "2026-11-23T00:00:00Z"
UUID = "GPU-20c56d28-0da5-6d26-a36a-e7af1ce2586e"
LABELS = f'gpu="0",UUID="{UUID}",device="nvidia0",modelName="NVIDIA H100 80GB HBM3"'


def read_all(reader: SourceReader) -> dict[str, Any]:
    """Everything a reader gives, as plain JSON-able data (rows sorted as read)."""
    rows: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for batch in reader.batches():
        if batch.table is not None:
            for row in batch.table.to_pylist():
                row["ts"] = row["ts"].isoformat()
                rows.append(row)
        rejected += [
            {"line": r.line, "column": r.column, "reason": r.reason, "value": r.value}
            for r in batch.rejected
        ]
    return {
        "rows": rows,
        "rejected": rejected,
        "warnings": dict(sorted(reader.warnings.items())),
        "notes": reader.notes,
    }


def golden(name: str, got: dict[str, Any]) -> None:
    """Compare with tests/data/gpu/expected/NAME.json exactly (write it when asked to)."""
    path = EXPECTED / f"{name}.json"
    text = json.dumps(got, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    if os.environ.get("AIFINOPS_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text


def scrape(tmp_path: Path, text: str, name: str = "s.prom") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def rows_of(path: Path, **options: str) -> dict[str, Any]:
    return read_all(DcgmReader(path, **options))  # type: ignore[arg-type]


# -- golden files on the real captures ---------------------------------------------------------


def test_datadog_fixture_golden() -> None:
    got = rows_of(DATA / "dcgm" / "scrape_datadog-fixture_t4_a10g.prom", scraped_at=T0)
    golden("dcgm_datadog_t4_a10g", got)
    # Two real T4s and the A10G; the dummy unlabeled lines of mapped metrics are quarantined.
    assert [r["host"] for r in got["rows"]] == ["424773df46e0", "551bdf382151", "ip-11111"]
    assert got["rows"][0]["energy_j"] == pytest.approx(128996.013)  # 128996013 mJ
    assert got["rows"][2]["pod"] == "ray-1111111"
    assert all(r["reason"].startswith("no gpu or UUID label") for r in got["rejected"])


def test_readme_excerpt_golden_quarantines_ellipsis_lines() -> None:
    got = rows_of(DATA / "dcgm" / "scrape_dcgm-exporter-readme_k8s-excerpt.prom", scraped_at=T0)
    golden("dcgm_readme_excerpt", got)
    assert [(r["line"], r["value"]) for r in got["rejected"]] == [(7, "..."), (11, "...")]
    assert "not a Prometheus sample line" in got["rejected"][0]["reason"]
    (row,) = got["rows"]
    assert row["memory_temp_c"] is None  # 9223372036854775794 = DCGM_INT64_NOT_SUPPORTED
    assert got["warnings"] == {"DCGM no-value sentinel read as NULL (DCGM_INT64_NOT_SUPPORTED)": 1}
    assert row["pod"] is None and row["labels"] == "{}"  # empty labels are absent labels


# -- edge cases --------------------------------------------------------------------------------


def test_sentinel_family_all_null(tmp_path: Path) -> None:
    values = ["9223372036854775792", "9223372036854775793", "9223372036854775795"]
    values += ["2147483632", "2147483634", "140737488355328.000000", "140737488355331"]
    metrics = ["DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE"]
    metrics += ["DCGM_FI_DEV_SM_CLOCK", "DCGM_FI_DEV_MEM_CLOCK", "DCGM_FI_DEV_POWER_USAGE"]
    metrics += ["DCGM_FI_PROF_SM_ACTIVE"]
    text = "".join(f"{m}{{{LABELS}}} {v}\n" for m, v in zip(metrics, values, strict=True))
    got = rows_of(scrape(tmp_path, text), scraped_at=T0)
    (row,) = got["rows"]
    assert all(row[c] is None for c in ("gpu_util_pct", "fb_used_mib", "power_w", "sm_active"))
    assert sum(got["warnings"].values()) == 7 and not got["rejected"]
    assert "DCGM no-value sentinel read as NULL (DCGM_INT32_NOT_SUPPORTED)" in got["warnings"]


def test_both_host_labels_mig_and_pod_labels(tmp_path: Path) -> None:
    mig = 'gpu="1",UUID="GPU-b",modelName="NVIDIA H100 80GB HBM3",GPU_I_PROFILE="1g.10gb"'
    text = (
        f'DCGM_FI_DEV_GPU_UTIL{{gpu="0",UUID="GPU-a",Hostname="node-a"}} 50\n'
        f'DCGM_FI_DEV_GPU_UTIL{{gpu="0",UUID="GPU-c",hostname="node-b"}} 40\n'
        f'DCGM_FI_PROF_SM_ACTIVE{{{mig},GPU_I_ID="1",Hostname="node-a",pod="p1",namespace="ml",'
        'container="train",team="nlp"} 0.25\n'
        f'DCGM_FI_PROF_SM_ACTIVE{{{mig},GPU_I_ID="2",Hostname="node-a"}} 0.75\n'
    )
    rows = rows_of(scrape(tmp_path, text), scraped_at=T0)["rows"]
    assert [(r["host"], r["gpu_uuid"], r["mig_instance"]) for r in rows] == [
        ("node-a", "GPU-a", None),
        ("node-b", "GPU-c", None),
        ("node-a", "GPU-b", "1"),
        ("node-a", "GPU-b", "2"),
    ]
    assert rows[2]["mig_profile"] == "1g.10gb" and rows[2]["sm_active"] == 0.25
    assert (rows[2]["pod"], rows[2]["namespace"], rows[2]["container"]) == ("p1", "ml", "train")
    assert json.loads(rows[2]["labels"]) == {"team": "nlp"}


def test_metrics_of_one_device_and_time_pivot_into_one_row(tmp_path: Path) -> None:
    text = (
        "# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %), not scraped_at anything.\n"
        f"# scraped_at {T0}\n"
        f"DCGM_FI_DEV_GPU_UTIL{{{LABELS}}} 97\n"
        f"DCGM_FI_DEV_FB_USED{{{LABELS}}} 70000\n"
        f"DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{{LABELS}}} 5000\n"
        f"DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{{{LABELS}}} 0.5\n"
        f"DCGM_FI_PROF_SM_OCCUPANCY{{{LABELS}}} 0.4\n"
        f"DCGM_FI_PROF_DRAM_ACTIVE{{{LABELS}}} 0.3\n"
        "# scraped_at 2026-11-23T00:00:15Z\n"
        f"DCGM_FI_DEV_GPU_UTIL{{{LABELS}}} 12\n"
    )
    rows = rows_of(scrape(tmp_path, text))["rows"]
    assert [(r["ts"], r["gpu_util_pct"]) for r in rows] == [
        ("2026-11-23T00:00:00+00:00", 97.0),
        ("2026-11-23T00:00:15+00:00", 12.0),
    ]
    first = rows[0]
    assert (first["fb_used_mib"], first["energy_j"], first["tensor_active"]) == (70000.0, 5.0, 0.5)
    assert (first["sm_occupancy"], first["dram_active"], first["gpu_index"]) == (0.4, 0.3, 0)
    assert first["x_SourceRecord"] == 3  # the line of the row's first sample


def test_per_sample_timestamps(tmp_path: Path) -> None:
    text = (
        f"DCGM_FI_DEV_GPU_UTIL{{{LABELS}}} 10 1763856000000\n"
        f"DCGM_FI_DEV_GPU_UTIL{{{LABELS}}} 20 1763856015000\n"
        f"DCGM_FI_DEV_POWER_USAGE{{{LABELS}}} 300.5 1763856000000\n"
        f"DCGM_FI_DEV_POWER_USAGE{{{LABELS}}} 310 1763856015.0\n"  # OpenMetrics: seconds
    )
    rows = rows_of(scrape(tmp_path, text))["rows"]
    assert [(r["ts"][11:19], r["gpu_util_pct"], r["power_w"]) for r in rows] == [
        ("00:00:00", 10.0, 300.5),
        ("00:00:15", 20.0, 310.0),
    ]


def test_no_time_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = scrape(tmp_path, f"# HELP x\nDCGM_FI_DEV_GPU_UTIL{{{LABELS}}} 10\n")
    with pytest.raises(IngestError) as caught:
        rows_of(path)
    assert caught.value.where == f"{path}:2"
    assert "scraped_at" in (caught.value.hint or "")


def test_scraped_at_mtime_is_said(tmp_path: Path) -> None:
    path = scrape(tmp_path, f"DCGM_FI_DEV_GPU_UTIL{{{LABELS}}} 10\n")
    os.utime(path, (1763856000, 1763856000))
    got = rows_of(path, scraped_at="mtime")
    assert got["rows"][0]["ts"] == "2025-11-23T00:00:00+00:00"
    assert "modification time" in " ".join(got["notes"])


def test_old_1x_metric_names(tmp_path: Path) -> None:
    lines = (DATA / "dcgm" / "dcgm-exporter_1.x-compatibility-metrics.csv").read_text()
    names = [ln.split(",")[0].strip() for ln in lines.splitlines() if ln and ln[0] != "#"]
    text = "".join(f'{n}{{gpu="0",uuid="GPU-x",hostname="n1"}} 1\n' for n in names if n)
    got = rows_of(scrape(tmp_path, text), scraped_at=T0)
    (row,) = got["rows"]
    for column in ("gpu_util_pct", "mem_copy_util_pct", "fb_used_mib", "fb_free_mib", "power_w"):
        assert row[column] == 1.0, column
    assert (row["temperature_c"], row["sm_clock_mhz"], row["mem_clock_mhz"]) == (1.0, 1.0, 1.0)
    assert (row["tensor_active"], row["dram_active"], row["energy_j"]) == (1.0, 1.0, 0.001)
    assert (row["host"], row["gpu_uuid"]) == ("n1", "GPU-x")
    # The rest (enc/dec utilisation, PCIe, XID ...) are counted, not stored.
    assert got["warnings"]["metric not stored (no gpu_samples column): dcgm_xid_errors"] == 1


def test_bad_values_are_quarantined_with_line_and_reason(tmp_path: Path) -> None:
    text = (
        f"# scraped_at {T0}\n"
        f"DCGM_FI_DEV_GPU_UTIL{{{LABELS}}} abc\n"
        f"DCGM_FI_DEV_MEM_COPY_UTIL{{{LABELS}}} -3\n"
        f"DCGM_FI_DEV_FB_USED{{{LABELS}}} 1000\n"
        f'DCGM_FI_DEV_GPU_UTIL{{gpu="1",UUID="GPU-y"}} 140\n'
        f'DCGM_FI_PROF_SM_ACTIVE{{gpu="1",UUID="GPU-y"}} 1.5\n'
        f'DCGM_FI_DEV_POWER_USAGE{{gpu="1",UUID="GPU-y"}} NaN\n'
        f'DCGM_FI_DEV_POWER_USAGE{{gpu="x",UUID="GPU-z"}} 1\n'
        "DCGM_FI_DEV_POWER_USAGE{gpu=0} 1\n"
        'DCGM_FI_DEV_GPU_UTIL{gpu="0"} 1 not-a-time\n'
        "some_exporter_metric 3\n"
        "garbage line here !\n"
    )
    got = rows_of(scrape(tmp_path, text))
    reasons = [(r["line"], r["column"], r["reason"], r["value"]) for r in got["rejected"]]
    assert reasons == [
        (2, "DCGM_FI_DEV_GPU_UTIL", "not a number", "abc"),
        (3, "DCGM_FI_DEV_MEM_COPY_UTIL", "negative value (expected a percentage (0..100))", "-3"),
        (5, "DCGM_FI_DEV_GPU_UTIL", "above 100 (expected a percentage (0..100))", "140"),
        (6, "DCGM_FI_PROF_SM_ACTIVE", "above 1 (expected a ratio (0..1))", "1.5"),
        (7, "DCGM_FI_DEV_POWER_USAGE", "not a finite number (expected not negative)", "NaN"),
        (8, "DCGM_FI_DEV_POWER_USAGE", "malformed labels: invalid literal for int() with base "
         "10: 'x'", "1"),
        (9, "DCGM_FI_DEV_POWER_USAGE", "malformed labels: bad label syntax at 'gpu=0'", "1"),
        (10, "timestamp", "not a timestamp (milliseconds)", "not-a-time"),
        (12, None, "not a Prometheus sample line (expected NAME{labels} VALUE [TIMESTAMP])",
         "garbage line here !"),
    ]  # fmt: skip
    (row,) = got["rows"]  # GPU 0 keeps its good metric; GPU-y had no good one
    assert (row["fb_used_mib"], row["gpu_util_pct"]) == (1000.0, None)
    assert got["warnings"] == {"metric not stored (no gpu_samples column): some_exporter_metric": 1}


def test_gzip_and_repeated_metric(tmp_path: Path) -> None:
    path = tmp_path / "s.prom.gz"
    body = f"DCGM_FI_DEV_GPU_UTIL{{{LABELS}}} 1\nDCGM_FI_DEV_GPU_UTIL{{{LABELS}}} 2\n"
    path.write_bytes(gzip.compress(body.encode()))
    got = rows_of(path, scraped_at=T0)
    assert DcgmReader(path).format == "prometheus-text.gz"
    assert [r["gpu_util_pct"] for r in got["rows"]] == [2.0]
    assert got["warnings"] == {
        "a metric repeated for the same GPU and time (the later value kept)": 1
    }


# -- through the store: counts, idempotency ------------------------------------------------------


def _scrapes(start: int, count: int, util: int) -> str:
    out = []
    for k in range(start, start + count):
        out.append(f"# scraped_at {1763856000 + 15 * k}")
        for gpu in range(2):
            labels = f'gpu="{gpu}",UUID="GPU-{gpu}",Hostname="n1"'
            out.append(f"DCGM_FI_DEV_GPU_UTIL{{{labels}}} {util}")
            out.append(f"DCGM_FI_DEV_FB_USED{{{labels}}} {1000 + k}")
    return "\n".join(out) + "\n"


def test_rows_read_equal_ingested_plus_quarantined(workspace: Workspace) -> None:
    path = DATA / "dcgm" / "scrape_dcgm-exporter-readme_k8s-excerpt.prom"
    summary = workspace.ingest([path], source="dcgm", options={"scraped_at": T0})
    (result,) = summary.files
    assert (result.rows_read, result.rows_ingested, result.rows_quarantined) == (3, 1, 2)
    lines = workspace.connection.execute("SELECT line FROM quarantine ORDER BY line").fetchall()
    assert lines == [(7,), (11,)]


def test_overlapping_exports_never_double_count(workspace: Workspace, tmp_path: Path) -> None:
    con = workspace.connection
    first = scrape(tmp_path, _scrapes(0, 10, util=10), "a.prom")
    workspace.ingest([first], source="dcgm")
    # A later export of scrapes 5..14 (overlapping 5..9, with corrected values) ...
    second = scrape(tmp_path, _scrapes(5, 10, util=20), "b.prom")
    summary = workspace.ingest([second], source="dcgm")
    assert summary.files[0].notes[-1].startswith("10 row(s) merged into rows of the same GPU")
    assert con.execute("SELECT count(*) FROM gpu_samples").fetchone() == (2 * 15,)
    per_util = con.execute(
        "SELECT gpu_util_pct, count(*) FROM gpu_samples GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert per_util == [(10.0, 10), (20.0, 20)]  # the re-exported samples replaced the old ones
    log = con.execute("SELECT rows_superseded FROM ingest_log ORDER BY file_id").fetchall()
    assert log == [(10,), (0,)]
    # ... and both files again, in one call, changes nothing.
    workspace.ingest([first, second], source="dcgm", force=True)
    assert con.execute("SELECT count(*) FROM gpu_samples").fetchone() == (30,)


def test_files_with_other_metrics_of_the_same_samples_fill_the_row(
    workspace: Workspace, tmp_path: Path
) -> None:
    util = scrape(tmp_path, f"DCGM_FI_DEV_GPU_UTIL{{{LABELS}}} 50 1763856000000\n", "u.prom")
    power = scrape(tmp_path, f"DCGM_FI_DEV_POWER_USAGE{{{LABELS}}} 400 1763856000000\n", "p.prom")
    workspace.ingest([util, power], source="dcgm")
    rows = workspace.connection.execute(
        "SELECT gpu_util_pct, power_w, labels_map['device'] FROM gpu_samples"
    ).fetchall()
    assert rows == [(50.0, 400.0, "nvidia0")]


def test_large_files_stream_in_bounded_batches(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows are handed on every FLUSH_ROWS; in a file not in time order a row can still be cut
    by a flush (the same GPU and time in two batches), and the load merges it back into one."""
    monkeypatch.setattr(dcgm, "FLUSH_ROWS", 2)
    monkeypatch.setattr(gpu_common, "lines", lambda stream, size: _one_line_chunks(stream))
    text = (
        f"DCGM_FI_DEV_GPU_UTIL{{{LABELS}}} 10 1763856000000\n"
        f"DCGM_FI_DEV_GPU_UTIL{{{LABELS}}} 20 1763856015000\n"
        f"DCGM_FI_DEV_POWER_USAGE{{{LABELS}}} 300 1763856000000\n"
        f"DCGM_FI_DEV_POWER_USAGE{{{LABELS}}} 310 1763856015000\n"
    )
    path = scrape(tmp_path, text)
    tables = [b.table for b in DcgmReader(path).batches() if b.table is not None]
    # t0 util, then t0 power (a second part of the t0 row: the file is not in time order), t15
    assert [t.num_rows for t in tables] == [1, 1, 1]
    workspace.ingest([path], source="dcgm")
    rows = workspace.connection.execute(
        "SELECT gpu_util_pct, power_w FROM gpu_samples ORDER BY ts"
    ).fetchall()
    assert rows == [(10.0, 300.0), (20.0, 310.0)]


def test_time_ordered_scrapes_are_never_cut_by_a_flush(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scrapes come in time order: a batch holds only times before the latest one seen, so every
    row is handed out whole and rows ingested are rows stored."""
    monkeypatch.setattr(dcgm, "FLUSH_ROWS", 1)
    monkeypatch.setattr(gpu_common, "lines", lambda stream, size: _one_line_chunks(stream))
    text = "".join(
        f"DCGM_FI_DEV_GPU_UTIL{{{LABELS}}} {10 + k} {1763856000000 + 15000 * k}\n"
        f"DCGM_FI_DEV_POWER_USAGE{{{LABELS}}} {300 + k} {1763856000000 + 15000 * k}\n"
        for k in range(3)
    )
    path = scrape(tmp_path, text)
    tables = [b.table for b in DcgmReader(path).batches() if b.table is not None]
    assert [t.num_rows for t in tables] == [1, 1, 1]
    summary = workspace.ingest([path], source="dcgm")
    stored = workspace.connection.execute("SELECT count(*) FROM gpu_samples").fetchone()
    assert stored is not None
    assert summary.rows_ingested == stored[0] == 3


def _one_line_chunks(stream: Any) -> Any:
    for line in stream.read().decode().splitlines():
        yield [line], 0.5
