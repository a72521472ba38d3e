"""Recording jobs: ``aifinops run -- CMD``, ``aifinops.job(...)``, and the GPUs a job sees."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

import aifinops
from aifinops import Workspace
from aifinops.agent.jobs import Gpus, detect_gpus
from tests.cli.runner import run_cli

SMI = [
    ("0", "GPU-aaaa", "NVIDIA H100 80GB HBM3"),
    ("1", "GPU-bbbb", "NVIDIA H100 80GB HBM3"),
]


def jobs(ws_path: Path) -> list[dict[str, object]]:
    with Workspace(ws_path, read_only=True) as ws:
        return ws.sql(
            "SELECT job_id, name, status, exit_code, gpu_count, labels_map['team'] AS team, "
            "start_time, end_time, source, command FROM jobs ORDER BY start_time"
        ).to_pylist()


@pytest.mark.parametrize(
    ("env", "smi", "expected"),
    [
        ({}, [], Gpus(None)),
        ({}, SMI, Gpus(["GPU-aaaa", "GPU-bbbb"], "NVIDIA H100 80GB HBM3")),
        ({"CUDA_VISIBLE_DEVICES": "1"}, SMI, Gpus(["GPU-bbbb"], "NVIDIA H100 80GB HBM3")),
        ({"CUDA_VISIBLE_DEVICES": "0,1"}, [], Gpus(["0", "1"])),
        ({"NVIDIA_VISIBLE_DEVICES": "GPU-aaaa"}, SMI, Gpus(["GPU-aaaa"], "NVIDIA H100 80GB HBM3")),
        ({"CUDA_VISIBLE_DEVICES": ""}, SMI, Gpus([])),
        (
            {"NVIDIA_VISIBLE_DEVICES": "all"},
            SMI,
            Gpus(["GPU-aaaa", "GPU-bbbb"], "NVIDIA H100 80GB HBM3"),
        ),
        ({"NVIDIA_VISIBLE_DEVICES": "all"}, [], Gpus(None)),
    ],
)
def test_the_gpus_a_job_can_see(
    env: dict[str, str], smi: list[tuple[str, str, str]], expected: Gpus
) -> None:
    assert detect_gpus(env, lambda: smi) == expected


def test_run_records_a_failing_command_and_passes_its_exit_status(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "ws").close()
    code = "import os, sys; print(os.environ['AIFINOPS_JOB_ID']); sys.exit(3)"
    result = run_cli(
        "run", "-w", tmp_path / "ws", "-l", "team=search", "--kind", "training", "--",
        sys.executable, "-c", code, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    job_id = result.stdout.strip()
    [row] = jobs(tmp_path / "ws")
    assert row["job_id"] == job_id
    assert (row["status"], row["exit_code"], row["team"], row["source"]) == (
        "failed",
        3,
        "search",
        "aifinops-run",
    )
    assert row["end_time"] >= row["start_time"]  # type: ignore[operator]
    assert str(row["command"]).endswith("sys.exit(3)'")
    assert (tmp_path / "ws/jobs" / f"{job_id}.csv").exists()


def test_a_busy_workspace_keeps_the_record_for_later(tmp_path: Path) -> None:
    ws_path = tmp_path / "ws"
    Workspace.init(ws_path).close()
    holder = duckdb.connect(str(ws_path / "aifinops.duckdb"))  # another writer holds the lock
    try:
        result = run_cli("run", "-w", ws_path, "--", sys.executable, "-c", "pass", cwd=tmp_path)
    finally:
        holder.close()
    assert result.returncode == 0, result.stderr
    assert "the workspace is busy" in result.stderr
    [kept] = list((ws_path / "jobs").glob("*.csv"))
    assert jobs(ws_path) == []
    with Workspace(ws_path) as ws:
        ws.ingest([ws_path / "jobs"], source="jobs", options={"source": "aifinops-run"})
    [row] = jobs(ws_path)
    assert (row["job_id"], row["status"]) == (kept.stem, "completed")


def test_the_python_api_records_outcome_metrics_and_failures(tmp_path: Path) -> None:
    ws_path = tmp_path / "ws"
    Workspace.init(ws_path).close()
    before = datetime.now(UTC)
    with aifinops.job("finetune", labels={"team": "vision"}, workspace=ws_path) as run:
        run.metrics["eval_loss"] = 0.25
    with (
        pytest.raises(RuntimeError),
        aifinops.job("broken", workspace=ws_path),
    ):
        raise RuntimeError("out of memory")
    rows = jobs(ws_path)
    assert [(r["name"], r["status"], r["team"]) for r in rows] == [
        ("finetune", "completed", "vision"),
        ("broken", "failed", None),
    ]
    assert rows[0]["start_time"] >= before  # type: ignore[operator]
    with Workspace(ws_path, read_only=True) as ws:
        metrics = ws.sql("SELECT metrics FROM jobs WHERE name = 'finetune'").column(0)[0]
    assert metrics.as_py() == '{"eval_loss": 0.25}'
