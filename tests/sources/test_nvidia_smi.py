"""nvidia-smi --query-gpu CSV -> gpu_samples: golden rows on the real captures (H100, H100 MIG,
H200, H200 MIG, L40S; idle and load), and each edge case."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest

from aifinops import Workspace
from aifinops.errors import IngestError
from aifinops.sources.nvidia_smi import NvidiaSmiReader
from tests.sources.test_dcgm import DATA, golden, read_all

SMI = DATA / "nvidia-smi"
CAPTURES = sorted(p.name.removesuffix("__query-gpu.csv") for p in SMI.glob("*__query-gpu.csv"))
FIELDS = "timestamp, hostname, index, uuid, name, utilization.gpu [%], memory.used [MiB]"


def read(path: Path, **options: str) -> dict[str, Any]:
    return read_all(NvidiaSmiReader(path, **options))  # type: ignore[arg-type]


def write(tmp_path: Path, *rows: str, header: str = FIELDS) -> Path:
    path = tmp_path / "gpus.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("capture", CAPTURES)
def test_golden_captures(capture: str) -> None:
    got = read(SMI / f"{capture}__query-gpu.csv")
    golden(f"nvidia_smi_{capture}", got)
    (row,) = got["rows"]
    assert row["gpu_uuid"] == "GPU-00000000-0000-0000-0000-000000000000"  # masked upstream
    assert row["fb_total_mib"] and row["power_limit_w"] and not got["rejected"]


def test_load_capture_values() -> None:
    (row,) = read(SMI / "nvidia-h100-80gb-hbm3__590.48.01__load__query-gpu.csv")["rows"]
    assert row["gpu_model"] == "NVIDIA H100 80GB HBM3"
    assert row["gpu_util_pct"] == 100.0 and row["power_w"] > 300


def test_mig_capture_has_no_utilisation() -> None:
    got = read(SMI / "nvidia-h100-mig__590.48.01__load__query-gpu.csv")
    (row,) = got["rows"]
    assert row["gpu_util_pct"] is None  # [N/A] under MIG
    assert "no value ([N/A], [Not Supported] ...) read as NULL: utilization.gpu" in got["warnings"]
    assert '"mig.mode.current": "Enabled"' in row["labels"]


def test_nounits_reads_the_same(tmp_path: Path) -> None:
    source = SMI / "nvidia-h200__590.48.01__load__query-gpu.csv"
    header, values = list(csv.reader(io.StringIO(source.read_text()), skipinitialspace=True))
    stripped = [re.sub(r"^(-?[0-9.]+) (%|MiB|W|MHz|us)$", r"\1", v) for v in values]
    assert stripped != values
    path = tmp_path / "nounits.csv"
    path.write_text(", ".join(header) + "\n" + ", ".join(stripped) + "\n", encoding="utf-8")
    (with_units,) = read(source)["rows"]
    (without,) = read(path)["rows"]
    assert without == with_units


def test_bad_values_quarantined_with_line_and_column(workspace: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "2026/07/14 09:00:44.579, n1, 0, GPU-a, NVIDIA H100, 97 %, 100 MiB",
        "2026/07/14 09:00:44.579, n1, 1, GPU-b, NVIDIA H100, abc %, 100 MiB",
        "2026/07/14 09:00:44.579, n1, 2, GPU-c, NVIDIA H100, -5 %, 100 MiB",
        "2026/07/14 09:00:44.579, n1, 3, GPU-d, NVIDIA H100, 150 %, -1 MiB",
        "2026/07/14 09:00:44.579, n1, 4, GPU-e, NVIDIA H100, [Not Supported], [N/A]",
        "yesterday, n1, 5, GPU-f, NVIDIA H100, 1 %, 1 MiB",
        FIELDS,
    )
    summary = workspace.ingest([path], source="nvidia-smi")
    (result,) = summary.files
    assert (result.rows_read, result.rows_ingested, result.rows_quarantined) == (7, 2, 5)
    rejected = workspace.connection.execute(
        "SELECT line, column_name, reason FROM quarantine ORDER BY line"
    ).fetchall()
    assert rejected == [
        (3, "utilization.gpu [%]", "utilization.gpu [%]: not a number"),
        (4, "utilization.gpu [%]", "utilization.gpu [%]: negative value (expected a percentage "
         "(0..100))"),
        (5, "utilization.gpu [%]", "utilization.gpu [%]: above 100 (expected a percentage "
         "(0..100)); memory.used [MiB]: negative value (expected not negative)"),
        (7, "timestamp", "timestamp: not a time (expected YYYY/MM/DD HH:MM:SS.mmm)"),
        (8, "timestamp", "timestamp: a repeated CSV header line (not a sample)"),
    ]  # fmt: skip
    stored = workspace.connection.execute(
        "SELECT gpu_uuid, gpu_util_pct, fb_used_mib FROM gpu_samples ORDER BY gpu_index"
    ).fetchall()
    assert stored == [("GPU-a", 97.0, 100.0), ("GPU-e", None, None)]


def test_timezone_and_host_options(tmp_path: Path) -> None:
    path = write(tmp_path, "2026/07/14 09:00:44.579, [N/A], 0, GPU-a, NVIDIA L40S, 5 %, 1 MiB")
    (row,) = read(path, timezone="Europe/Paris", host="node-7")["rows"]
    assert (row["ts"], row["host"]) == ("2026-07-14T07:00:44.579000+00:00", "node-7")


def test_without_timestamp_needs_scraped_at(tmp_path: Path) -> None:
    header = "index, uuid, utilization.gpu [%]"
    path = write(tmp_path, "0, GPU-a, 5 %", header=header)
    with pytest.raises(IngestError, match="no timestamp field"):
        read(path)
    (row,) = read(path, scraped_at="2026-01-01T00:00:00Z")["rows"]
    assert row["ts"] == "2026-01-01T00:00:00+00:00"


def test_rows_must_name_their_gpu(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="neither uuid nor index"):
        read(write(tmp_path, "2026/07/14 09:00:44.579, 5 %", header="timestamp, utilization.gpu"))


@pytest.mark.parametrize("kind", ["compute-apps", "accounted-apps"])
def test_per_process_files_are_refused_with_a_pointer(kind: str) -> None:
    with pytest.raises(IngestError) as caught:
        read(SMI / f"nvidia-l40s__595.80__load__query-{kind}.csv")
    assert "per-process" in caught.value.what and "gpu_processes" in (caught.value.hint or "")


def test_same_capture_twice_is_one_sample(workspace: Workspace) -> None:
    path = SMI / "nvidia-l40s__595.80__load__query-gpu.csv"
    workspace.ingest([path], source="nvidia-smi")
    workspace.ingest([path], source="nvidia-smi", force=True)
    assert workspace.connection.execute("SELECT count(*) FROM gpu_samples").fetchone() == (1,)
