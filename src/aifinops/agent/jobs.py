"""Recording a job: ``aifinops run -- CMD`` and ``with aifinops.job(...)``.

A job is recorded as a one-row file in the workspace's ``jobs/`` folder (the layout the ``jobs``
source reads) and loaded into the ``jobs`` table through the normal ingest: once when it starts
(status ``running``) and once when it ends (``completed``/``failed``, exit code, end time). The
second load replaces the first (same job id). The files are the record: if the workspace is busy
(another process is writing) when a job ends, the file stays and ``aifinops ingest jobs
WORKSPACE/jobs`` loads it later; nothing is lost.

The GPUs a job used are the ones it could see: ``CUDA_VISIBLE_DEVICES`` (or
``NVIDIA_VISIBLE_DEVICES``), resolved to UUIDs and the model with ``nvidia-smi`` when it is
installed; every GPU of the host when neither variable is set and ``nvidia-smi`` lists some. When
nothing says, the count is left empty (unknown), not zero.
"""

from __future__ import annotations

import csv
import getpass
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

JOBS_FOLDER = "jobs"
SOURCE = "aifinops-run"
_COLUMNS = (
    "job_id", "name", "kind", "start_time", "end_time", "host", "gpu_count", "gpus",
    "gpu_model", "status", "exit_code", "user_name", "command", "metrics",
)  # fmt: skip


@dataclass
class Gpus:
    """The GPUs a job can use: ids (UUIDs where known, else indices) and model."""

    ids: list[str] | None  # None: unknown
    model: str | None = None


@dataclass
class JobRecord:
    """One job, as written to its file and loaded into ``jobs``."""

    job_id: str
    name: str | None
    start_time: datetime
    kind: str | None = None
    end_time: datetime | None = None
    host: str | None = None
    gpus: Gpus = field(default_factory=lambda: Gpus(None))
    status: str = "running"
    exit_code: int | None = None
    user_name: str | None = None
    command: str | None = None
    metrics: dict[str, object] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def row(self) -> dict[str, str]:
        ids = self.gpus.ids
        values: dict[str, object] = {
            "job_id": self.job_id,
            "name": self.name,
            "kind": self.kind,
            "start_time": self.start_time.isoformat(),
            "end_time": self.end_time.isoformat() if self.end_time else None,
            "host": self.host,
            "gpu_count": None if ids is None else len(ids),
            "gpus": None if ids is None else ",".join(ids),
            "gpu_model": self.gpus.model,
            "status": self.status,
            "exit_code": self.exit_code,
            "user_name": self.user_name,
            "command": self.command,
            "metrics": json.dumps(self.metrics, sort_keys=True, default=str)
            if self.metrics
            else None,
        }
        out = {k: "" if v is None else str(v) for k, v in values.items()}
        out.update({f"label:{k}": v for k, v in sorted(self.labels.items())})
        return out


def write_record(folder: Path, record: JobRecord) -> Path:
    """Write the job's file (atomically: a reader never sees half of it)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{record.job_id}.csv"
    tmp = path.with_suffix(".csv.tmp")
    row = record.row()
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    tmp.replace(path)
    return path


def detect_gpus(environ: Mapping[str, str], smi: Callable[[], list[tuple[str, str, str]]]) -> Gpus:
    """The GPUs visible to a process with ``environ``; ``smi`` lists (index, uuid, name)."""
    visible = environ.get("CUDA_VISIBLE_DEVICES", environ.get("NVIDIA_VISIBLE_DEVICES"))
    listed = smi()
    by_index = {i: (u, n) for i, u, n in listed}
    by_uuid = {u: (u, n) for _, u, n in listed}
    if visible is None:
        if not listed:
            return Gpus(None)
        return Gpus([u for _, u, _ in listed], _model({n for _, _, n in listed}))
    wanted = [v.strip() for v in visible.split(",") if v.strip()]
    if visible.strip().lower() == "all":
        wanted = [i for i, _, _ in listed]
        if not wanted:
            return Gpus(None)
    if visible.strip().lower() in {"none", "void", "-1", ""}:
        return Gpus([])
    ids: list[str] = []
    models: set[str] = set()
    for item in wanted:
        found = by_index.get(item) or by_uuid.get(item)
        ids.append(found[0] if found else item)
        if found:
            models.add(found[1])
    return Gpus(ids, _model(models))


def _model(names: set[str]) -> str | None:
    return ",".join(sorted(names)) or None


def nvidia_smi_gpus() -> list[tuple[str, str, str]]:
    """(index, uuid, name) of every GPU ``nvidia-smi`` lists; empty without nvidia-smi."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=index,uuid,name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    rows = [[c.strip() for c in line.split(",")] for line in out.splitlines() if line.strip()]
    return [(r[0], r[1], r[2]) for r in rows if len(r) >= 3]


class JobRecorder:
    """Writes a job's record and loads it into a workspace (see the module docstring)."""

    def __init__(self, workspace: Path, *, attempts: int = 3, wait: float = 0.5) -> None:
        self.workspace = workspace
        self.folder = workspace / JOBS_FOLDER
        self.attempts = attempts
        self.wait = wait
        #: why the last load did not happen (None when it did)
        self.deferred: str | None = None

    def record(self, job: JobRecord) -> Path:
        path = write_record(self.folder, job)
        self.deferred = self._load(path)
        return path

    def _load(self, path: Path) -> str | None:
        from aifinops.errors import WorkspaceBusyError
        from aifinops.workspace import Workspace

        problem = None
        for attempt in range(self.attempts):
            try:
                with Workspace(self.workspace) as ws:
                    ws.ingest([path], source="jobs", options={"source": SOURCE})
                return None
            except WorkspaceBusyError as exc:
                problem = exc.what
                if attempt + 1 < self.attempts:
                    time.sleep(self.wait * (attempt + 1))
        return problem


def new_record(
    name: str | None,
    *,
    kind: str | None = None,
    labels: Mapping[str, str] | None = None,
    command: str | None = None,
    environ: Mapping[str, str] | None = None,
    smi: Callable[[], list[tuple[str, str, str]]] = nvidia_smi_gpus,
) -> JobRecord:
    env = os.environ if environ is None else environ
    try:
        user: str | None = getpass.getuser()
    except (OSError, KeyError):
        user = None
    return JobRecord(
        job_id=env.get("AIFINOPS_JOB_ID") or f"run-{uuid.uuid4().hex[:16]}",
        name=name,
        kind=kind,
        start_time=datetime.now(UTC),
        host=socket.gethostname(),
        gpus=detect_gpus(env, smi),
        user_name=user,
        command=command,
        labels=dict(labels or {}),
    )


class Job:
    """A job being recorded (what :func:`job` yields): add outcome metrics as it runs."""

    def __init__(self, record: JobRecord, recorder: JobRecorder) -> None:
        self.record = record
        self.recorder = recorder

    @property
    def id(self) -> str:
        return self.record.job_id

    @property
    def metrics(self) -> dict[str, object]:
        """Outcome metrics (loss, accuracy, tokens served ...), stored with the job."""
        return self.record.metrics

    def finish(self, status: str, exit_code: int | None) -> Path:
        self.record.end_time = datetime.now(UTC)
        self.record.status = status
        self.record.exit_code = exit_code
        return self.recorder.record(self.record)


@contextmanager
def job(
    name: str | None = None,
    *,
    labels: Mapping[str, str] | None = None,
    kind: str | None = None,
    workspace: str | Path | None = None,
) -> Iterator[Job]:
    """Record the code inside as a job: start, end, host, GPUs, outcome, labels.

    ``with aifinops.job("finetune", labels={"team": "search"}) as run: ... run.metrics["loss"]
    = 0.21``. An exception inside marks the job failed (and goes on up).
    """
    from aifinops.workspace import find_workspace

    folder = find_workspace(workspace, os.environ, Path.cwd())
    current = Job(new_record(name, kind=kind, labels=labels), JobRecorder(folder))
    current.recorder.record(current.record)
    try:
        yield current
    except BaseException:
        current.finish("failed", None)
        raise
    current.finish("completed", 0)
