"""What every command shares: the workspace option, output options, error handling."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
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
ScopeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--scope",
        "-s",
        help="KEY=VALUE, repeatable: a match field (services, accounts, providers, regions ...), "
        "tag:KEY or an allocation dimension (team, project ...); globs allowed. Default: all.",
    ),
]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Judge as on this day (YYYY-MM-DD; default: today). Data after it is ignored.",
    ),
]


def as_of_date(text: str | None) -> date:
    """The ``--as-of`` day, or today (UTC)."""
    if text is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        from aifinops.errors import QueryError

        raise QueryError(f"--as-of {text!r} is not a date", hint="use YYYY-MM-DD") from None


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
