"""``aifinops metrics``: the Prometheus exposition, printed or written for node_exporter."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from aifinops.cli.common import AsOfOption, WorkspaceOption, as_of_date, err_console, open_workspace

MetricsOutput = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Write to this file atomically (a temporary file beside it, then renamed), e.g. "
        "node_exporter's textfile collector: /var/lib/node_exporter/textfile/aifinops.prom.",
    ),
]


def metrics(
    as_of: AsOfOption = None,
    output: MetricsOutput = None,
    workspace: WorkspaceOption = None,
) -> None:
    """The workspace's cost, GPU idle, budget, $/1M-token and freshness figures in the
    Prometheus text format (docs/metrics.md)."""
    from aifinops.metrics import exposition

    day = as_of_date(as_of)
    with open_workspace(workspace, read_only=True) as ws:
        text = exposition(ws, as_of=day)
    if output is None:
        sys.stdout.write(text)
        return
    write_atomically(output, text)
    err_console.print(f"wrote {output}", markup=False, highlight=False)


def write_atomically(path: Path, text: str) -> None:
    """``text`` to ``path`` so a reader sees the old file or the new one, never half of one: a
    hidden temporary file (not ``*.prom``, which the collector would read) in the same folder,
    flushed to disk, then renamed over ``path``."""
    from aifinops.errors import AifinopsError

    folder = path.parent
    if not folder.is_dir():
        raise AifinopsError("no such folder", where=str(folder), hint="create it first")
    handle, temp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        Path(temp).chmod(0o644)
        Path(temp).replace(path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def register(app: typer.Typer) -> None:
    app.command("metrics")(metrics)
