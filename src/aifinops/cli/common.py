"""What every command shares: the workspace option, output options, error handling."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from aifinops.output import OutputFormat

if TYPE_CHECKING:
    from aifinops.workspace import Workspace

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (default: $AIFINOPS_WORKSPACE, else the current folder or a "
        "parent of it holding aifinops.toml).",
        show_default=False,
    ),
]
FormatOption = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
]
OutputOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write to this file instead of the terminal."),
]
PeriodOption = Annotated[
    str | None,
    typer.Option(
        "--period",
        "-p",
        help="2026-10, 2026-Q3, 2026, last-month, this-month, mtd, ytd, 30d, 12w, 6m ...",
    ),
]
FromOption = Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD).")]
ToOption = Annotated[str | None, typer.Option("--to", help="Last day, inclusive (YYYY-MM-DD).")]
MetricOption = Annotated[
    str | None,
    typer.Option(
        "--metric",
        "-m",
        help="billed (invoice), effective (amortised), list or contracted. "
        "Default: the workspace's report.metric (effective).",
    ),
]


def split_values(values: list[str] | None) -> list[str]:
    """Values of a repeatable, comma-separating option (``--by a,b --by c``)."""
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


console = Console()
err_console = Console(stderr=True, soft_wrap=True)


def open_workspace(path: Path | None, *, read_only: bool = False) -> Workspace:
    """The workspace named by --workspace, $AIFINOPS_WORKSPACE or the current folder."""
    from aifinops.workspace import Workspace, find_workspace

    folder = find_workspace(path, os.environ, Path.cwd())
    return Workspace(folder, read_only=read_only)
