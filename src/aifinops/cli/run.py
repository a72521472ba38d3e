"""``aifinops run [--label k=v] -- CMD``: run a command and record it as a job."""

from __future__ import annotations

import shlex
import signal
import subprocess
from typing import TYPE_CHECKING, Annotated

import typer

from aifinops.cli.common import WorkspaceOption, err_console

if TYPE_CHECKING:
    from aifinops.agent.jobs import JobRecord, JobRecorder

LabelOption = Annotated[
    list[str] | None,
    typer.Option("--label", "-l", help="KEY=VALUE label of the job (team, project ...)."),
]
NameOption = Annotated[str | None, typer.Option("--name", help="Job name (default: the command).")]
KindOption = Annotated[
    str | None, typer.Option("--kind", help="training, fine-tune, experiment, batch ...")
]


def run(
    command: Annotated[list[str], typer.Argument(help="The command to run (after --).")],
    label: LabelOption = None,
    name: NameOption = None,
    kind: KindOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Run CMD, recording it as a job: start, end, host, GPUs, exit status and labels.

    The command's output passes through and its exit status is this command's exit status.
    """
    import os
    from pathlib import Path

    from aifinops.agent.jobs import JobRecorder, new_record
    from aifinops.errors import AifinopsError
    from aifinops.workspace import find_workspace

    labels = {}
    for item in label or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise AifinopsError(f"--label {item!r} is not KEY=VALUE", hint="e.g. -l team=search")
        labels[key.strip()] = value.strip()
    folder = find_workspace(workspace, os.environ, Path.cwd())
    record = new_record(
        name or Path(command[0]).name, kind=kind, labels=labels, command=shlex.join(command)
    )
    recorder = JobRecorder(folder)
    _record(recorder, record)
    try:
        child = subprocess.Popen(command, env={**os.environ, "AIFINOPS_JOB_ID": record.job_id})
    except OSError as exc:
        _finish(recorder, record, "failed", 127)
        raise AifinopsError(f"cannot start {command[0]!r}: {exc.strerror}") from None
    # Ctrl-C and termination go to the child; this process waits and records the outcome.
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda n, _f: child.send_signal(n)) for s in signals}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    status = "completed" if code == 0 else "cancelled" if code < 0 else "failed"
    path = _finish(recorder, record, status, code)
    err_console.print(f"[dim]job {record.job_id} {status} (exit {code}); recorded in {path}[/dim]")
    raise typer.Exit(code if code >= 0 else 128 - code)


def _finish(recorder: JobRecorder, record: JobRecord, status: str, code: int) -> str:
    from datetime import UTC, datetime

    record.end_time = datetime.now(UTC)
    record.status, record.exit_code = status, code
    return _record(recorder, record)


def _record(recorder: JobRecorder, record: JobRecord) -> str:
    path = recorder.record(record)
    if recorder.deferred:
        err_console.print(
            f"[yellow]warning[/yellow]: the workspace is busy ({recorder.deferred}); the job "
            f"record is kept in {path}: load it later with `aifinops ingest jobs "
            f"{recorder.folder}`",
            highlight=False,
        )
    return str(path)


def register(app: typer.Typer) -> None:
    app.command(context_settings={"allow_interspersed_args": False})(run)
