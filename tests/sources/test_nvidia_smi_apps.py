"""nvidia-smi --query-compute-apps / --query-accounted-apps CSV -> gpu_processes: golden rows on
every real capture (H100, H100 MIG, H200, H200 MIG, L40S; idle and load), and each edge case.

Files built in the tests use the fields nvidia-smi documents in its --help-query-compute-apps /
--help-query-accounted-apps output (shared/reference/gpu/nvidia-smi/captures/)."""

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
from aifinops.sources.nvidia_smi_apps import NvidiaSmiAppsReader
from tests.cli.runner import run_cli
from tests.sources.test_dcgm import DATA, golden, read_all

SMI = DATA / "nvidia-smi"
APPS = sorted(p.name.removesuffix(".csv") for p in SMI.glob("*__query-*-apps.csv"))
UUID = "GPU-00000000-0000-0000-0000-000000000000"
RUNNING = "timestamp, gpu_uuid, gpu_name, pid, process_name, used_gpu_memory [MiB]"
ACCOUNTED = "timestamp, gpu_uuid, pid, gpu_utilization [%], mem_utilization [%], "
ACCOUNTED += "max_memory_usage [MiB], time [ms]"
L40S = SMI / "nvidia-l40s__595.80__load__query-compute-apps.csv"


def read(path: Path, **options: str) -> dict[str, Any]:
    return read_all(NvidiaSmiAppsReader(path, **options))  # type: ignore[arg-type]


def write(tmp_path: Path, *rows: str, header: str = RUNNING, name: str = "apps.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def table(workspace: Workspace, sql: str) -> list[tuple[Any, ...]]:
    return workspace.connection.execute(sql).fetchall()


# -- golden files on the real captures ---------------------------------------------------------


@pytest.mark.parametrize("capture", APPS)
def test_golden_captures(capture: str) -> None:
    got = read(SMI / f"{capture}.csv")
    golden(f"nvidia_smi_apps_{capture}", got)
    kind = "running" if capture.endswith("compute-apps") else "accounted"
    assert {r["kind"] for r in got["rows"]} <= {kind} and not got["rejected"]
    assert all(r["gpu_uuid"] == UUID and r["pid"] > 0 for r in got["rows"])  # masked upstream


def test_captures_row_counts() -> None:
    counts = {c: len(read(SMI / f"{c}.csv")["rows"]) for c in APPS}
    idle = {c for c, n in counts.items() if n == 0}
    # compute-apps lists processes running now: none when idle, the load's processes under load
    assert {c for c in APPS if "__idle__query-compute-apps" in c} <= idle
    assert counts["nvidia-h100-mig__590.48.01__load__query-compute-apps"] == 3
    assert counts["nvidia-l40s__595.80__load__query-accounted-apps"] == 5
    # accounting mode off (nvidia-smi -q) and nothing in the buffer: a header alone
    assert counts["nvidia-h200__590.48.01__load__query-accounted-apps"] == 0


def test_compute_apps_values() -> None:
    rows = read(SMI / "nvidia-h200__590.48.01__load__query-compute-apps.csv")["rows"]
    assert [(r["pid"], r["process_name"], r["used_memory_mib"]) for r in rows] == [
        (10291, "/root/tools/memhog", 2566.0),
        (10293, "/root/tools/memhog", 1542.0),
        (10309, "./gpu_burn", 28234.0),
    ]
    assert rows[0]["ts"] == "2026-07-03T22:11:09.916000+00:00"
    assert rows[0]["gpu_model"] == "NVIDIA H200" and rows[0]["gpu_bus_id"] == "00000000:83:00.0"
    assert (
        rows[0]["gpu_util_pct"] is None and rows[0]["labels"] == '{"gpu_serial": "0000000000000"}'
    )


def test_accounted_apps_values() -> None:
    rows = read(SMI / "nvidia-l40s__595.80__load__query-accounted-apps.csv")["rows"]
    last = rows[-1]
    assert (last["pid"], last["gpu_util_pct"], last["mem_util_pct"]) == (20038, 4.0, 0.0)
    assert (last["max_memory_mib"], last["run_time_ms"]) == (681.0, 0)
    assert rows[2]["run_time_ms"] == 153712 and rows[2]["process_name"] is None
    assert all(r["used_memory_mib"] is None for r in rows)


def test_every_capture_loads(workspace: Workspace) -> None:
    """Idle captures (a header and no rows) load zero rows cleanly; rows read add up."""
    paths = [SMI / f"{c}.csv" for c in APPS]
    summary = workspace.ingest(paths, source="nvidia-smi-apps", options={"host": "node-1"})
    # the idle captures with no rows are byte-identical headers: the first one is loaded
    skipped = [f for f in summary.files if f.status == "skipped"]
    assert all(f.reason.startswith("same content as") for f in skipped) and len(skipped) == 9
    assert all(f.rows_read == f.rows_ingested and not f.rows_quarantined for f in summary.files)
    total = sum(f.rows_ingested for f in summary.files)
    assert total == 3 + 3 + 6 + 6 + 3 + 3 + 3 + 5 + 2
    assert table(workspace, "SELECT count(*) FROM gpu_processes") == [(total,)]
    assert table(
        workspace,
        "SELECT kind, count(*) FROM gpu_processes WHERE host = 'node-1' GROUP BY 1 ORDER BY 1",
    ) == [("accounted", 20), ("running", 14)]
    assert table(workspace, "SELECT DISTINCT labels_map['gpu_serial'] FROM gpu_processes") == [
        ("0000000000000",)
    ]


def test_nounits_reads_the_same(tmp_path: Path) -> None:
    for source in (L40S, SMI / "nvidia-l40s__595.80__load__query-accounted-apps.csv"):
        lines = list(csv.reader(io.StringIO(source.read_text()), skipinitialspace=True))
        header, rows = lines[0], lines[1:]
        stripped = [[re.sub(r"^([0-9.]+) (%|MiB|ms)$", r"\1", v) for v in row] for row in rows]
        assert stripped != rows
        text = "\n".join(", ".join(r) for r in [header, *stripped]) + "\n"
        path = tmp_path / source.name
        path.write_text(text, encoding="utf-8")
        assert read(path)["rows"] == read(source)["rows"]


# -- options -----------------------------------------------------------------------------------


def test_timezone_and_host_options() -> None:
    rows = read(L40S, timezone="Europe/Paris", host="node-7")["rows"]
    assert (rows[0]["ts"], rows[0]["host"]) == ("2026-07-03T06:33:53.650000+00:00", "node-7")


def test_host_note_when_no_host() -> None:
    assert "no host (nvidia-smi writes none here): give -o host=NAME" in read(L40S)["notes"]
    assert not any("no host" in n for n in read(L40S, host="n")["notes"])


def test_without_timestamp_needs_scraped_at(tmp_path: Path) -> None:
    path = write(tmp_path, "GPU-a, 42, python, 100 MiB", header="gpu_uuid, pid, name, used_memory")
    with pytest.raises(IngestError, match="no timestamp field") as caught:
        read(path)
    assert "--query-compute-apps" in (caught.value.hint or "")
    (row,) = read(path, scraped_at="2026-01-01T00:00:00Z")["rows"]
    assert (row["ts"], row["process_name"], row["used_memory_mib"]) == (
        "2026-01-01T00:00:00+00:00",
        "python",
        100.0,
    )


# -- what the file is --------------------------------------------------------------------------


def test_query_gpu_file_is_refused_with_a_pointer() -> None:
    with pytest.raises(IngestError, match="no pid field") as caught:
        read(SMI / "nvidia-l40s__595.80__load__query-gpu.csv")
    assert "aifinops ingest nvidia-smi FILE" in (caught.value.hint or "")


def test_nvidia_smi_source_points_here() -> None:
    with pytest.raises(IngestError) as caught:
        read_all(NvidiaSmiReader(L40S))  # type: ignore[arg-type]
    assert "aifinops ingest nvidia-smi-apps" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("header", "found"),
    [
        ("timestamp, gpu_uuid, pid, used_gpu_memory [MiB], time [ms]", "fields of both"),
        ("timestamp, gpu_uuid, pid", "none of the fields of"),
    ],
)
def test_kind_must_be_told_by_the_header(tmp_path: Path, header: str, found: str) -> None:
    with pytest.raises(IngestError, match=found):
        read(write(tmp_path, header=header))


def test_rows_must_name_their_gpu(tmp_path: Path) -> None:
    path = write(tmp_path, header="timestamp, gpu_name, pid, gpu_util [%]")
    with pytest.raises(IngestError, match="no gpu_uuid field") as caught:
        read(path)
    assert "--query-accounted-apps" in (caught.value.hint or "")


# -- bad input ---------------------------------------------------------------------------------


def test_bad_values_quarantined_with_line_and_column(workspace: Workspace, tmp_path: Path) -> None:
    t = "2026/07/14 09:00:44.579, GPU-a"
    path = write(
        tmp_path,
        f"{t}, 11, 97 %, 5 %, 100 MiB, 2000 ms",
        f"{t}, abc, 97 %, 5 %, 100 MiB, 2000 ms",
        f"{t}, [N/A], 97 %, 5 %, 100 MiB, 2000 ms",
        f"{t}, 12, 150 %, 5 %, -1 MiB, 2000 ms",
        f"{t}, 13, 1 %, 1 %, 1 MiB, 1.5 ms",
        f"{t}, 14, [N/A], [Not Supported], [N/A], [N/A]",
        f"{t}, 11, 1 %, 1 %, 1 MiB, 1 ms",
        "yesterday, GPU-a, 15, 1 %, 1 %, 1 MiB, 1 ms",
        ACCOUNTED,
        header=ACCOUNTED,
    )
    summary = workspace.ingest([path], source="nvidia-smi-apps", options={"host": "n1"})
    (result,) = summary.files
    assert (result.rows_read, result.rows_ingested, result.rows_quarantined) == (9, 2, 7)
    assert result.warnings["no value ([N/A], [Not Supported] ...) read as NULL: time"] == 1
    rejected = table(workspace, "SELECT line, column_name, reason FROM quarantine ORDER BY line")
    assert rejected == [
        (3, "pid", "pid: not a process id"),
        (4, "pid", "pid: no process id ([N/A] or empty)"),
        (5, "gpu_utilization [%]", "gpu_utilization [%]: above 100 (expected a percentage "
         "(0..100)); max_memory_usage [MiB]: negative value (expected not negative)"),
        (6, "time [ms]", "time [ms]: not a whole number of ms"),
        (8, "pid", "pid: the same time, GPU and pid as line 2"),
        (9, "timestamp", "timestamp: not a time (expected YYYY/MM/DD HH:MM:SS.mmm)"),
        (10, "timestamp", "timestamp: a repeated CSV header line (not a sample)"),
    ]  # fmt: skip
    stored = table(
        workspace, "SELECT pid, gpu_util_pct, max_memory_mib, run_time_ms FROM gpu_processes"
    )
    assert sorted(stored) == [(11, 97.0, 100.0, 2000), (14, None, None, None)]


# -- re-exports never count twice ------------------------------------------------------------


def grown(tmp_path: Path) -> Path:
    """The L40S capture, then a second snapshot of the same processes 15 s later: what a log
    written with ``-l 15`` holds a little later."""
    text = L40S.read_text(encoding="utf-8")
    later = [line.replace("08:33:53.650", "08:34:08.650") for line in text.splitlines()[1:]]
    path = tmp_path / "apps-grown.csv"
    path.write_text(text + "\n".join(later) + "\n", encoding="utf-8")
    return path


def test_a_grown_log_replaces_the_rows_it_repeats(workspace: Workspace, tmp_path: Path) -> None:
    options = {"host": "node-1"}
    workspace.ingest([L40S], source="nvidia-smi-apps", options=options)
    summary = workspace.ingest([grown(tmp_path)], source="nvidia-smi-apps", options=options)
    assert summary.files[-1].notes[-1].startswith("2 earlier row(s) of the same time, GPU, pid")
    assert table(workspace, "SELECT x_IngestFileId, count(*) FROM gpu_processes GROUP BY 1") == [
        (2, 4)
    ]
    assert table(
        workspace, "SELECT file_id, rows_superseded, superseded_by_load FROM ingest_log ORDER BY 1"
    ) == [(1, 2, 2), (2, 0, None)]
    assert table(workspace, "SELECT sum(used_memory_mib) FROM gpu_processes") == [(2 * 1219.0,)]


def test_overlapping_files_of_one_load(workspace: Workspace, tmp_path: Path) -> None:
    copy = tmp_path / "copy.csv"
    copy.write_bytes(L40S.read_bytes() + b"\n")  # other bytes, the same rows
    workspace.ingest([L40S, copy], source="nvidia-smi-apps")
    assert table(workspace, "SELECT x_IngestFileId, count(*) FROM gpu_processes GROUP BY 1") == [
        (2, 2)
    ]
    assert table(
        workspace, "SELECT file_id, rows_superseded, superseded_by_load FROM ingest_log ORDER BY 1"
    ) == [(1, 2, None), (2, 0, None)]


def test_other_hosts_and_kinds_are_not_replaced(workspace: Workspace) -> None:
    accounted = SMI / "nvidia-l40s__595.80__load__query-accounted-apps.csv"
    workspace.ingest([L40S, accounted], source="nvidia-smi-apps", options={"host": "a"})
    workspace.ingest([L40S], source="nvidia-smi-apps", options={"host": "b"}, force=True)
    assert table(
        workspace, "SELECT host, kind, count(*) FROM gpu_processes GROUP BY ALL ORDER BY ALL"
    ) == [("a", "accounted", 5), ("a", "running", 2), ("b", "running", 2)]


def test_same_file_twice_is_skipped(workspace: Workspace) -> None:
    workspace.ingest([L40S], source="nvidia-smi-apps")
    second = workspace.ingest([L40S], source="nvidia-smi-apps")
    assert second.files[0].status == "skipped"
    workspace.ingest([L40S], source="nvidia-smi-apps", force=True)
    assert table(workspace, "SELECT count(*) FROM gpu_processes") == [(2,)]


def test_cli_ingest(tmp_path: Path) -> None:
    assert run_cli("init", tmp_path / "ws", cwd=tmp_path).returncode == 0
    done = run_cli(
        "ingest", "nvidia-smi-apps", L40S, "-o", "host=node-7", "--workspace", tmp_path / "ws",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with Workspace(tmp_path / "ws") as ws:
        assert table(ws, "SELECT host, pid FROM gpu_processes ORDER BY pid") == [
            ("node-7", 20037),
            ("node-7", 20038),
        ]
