"""Workspace commands: init, status, sources, sql, export, quarantine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aifinops.cli.common import (
    FormatOption,
    OutputOption,
    WorkspaceOption,
    console,
    open_workspace,
)
from aifinops.output import OutputFormat, render


def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new workspace.")] = Path(),
) -> None:
    """Create a workspace: a commented aifinops.toml and an empty DuckDB store."""
    from aifinops.workspace import Workspace

    with Workspace.init(directory) as ws:
        console.print(f"workspace ready in [bold]{ws.path}[/bold]")
        console.print(f"  settings: {ws.path / 'aifinops.toml'}")
        console.print(f"  store:    {ws.database_path}")
        console.print("next: [bold]aifinops ingest focus PATH...[/bold]")


def status(
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    usage: Annotated[
        bool, typer.Option("--usage", help="Only the usage tables (GPU samples, LLM usage ...).")
    ] = False,
) -> None:
    """What the workspace holds: cost rows, files and periods per provider; the usage tables."""
    with open_workspace(workspace) as ws:
        if not usage:
            render(ws.status(), fmt, title=f"workspace {ws.path}")
        if usage or fmt is OutputFormat.TABLE:
            render(ws.usage_status(), fmt, title="usage beside the costs")


def sources() -> None:
    """List every registered source, with its formats and the table it fills."""
    import pyarrow as pa

    from aifinops.sources import registered

    specs = sorted(registered().values(), key=lambda s: s.name)
    table = pa.table(
        {
            "source": [s.name for s in specs],
            "formats": [", ".join(s.formats) for s in specs],
            "table": [s.table for s in specs],
            "description": [s.description for s in specs],
            "options": [
                "; ".join(f"{n}: {h}" for n, h in sorted(s.options.items())) for s in specs
            ],
        }
    )
    render(table, OutputFormat.TABLE, title="sources (aifinops ingest SOURCE PATH...)")


def sql(
    query: Annotated[str, typer.Argument(help="One read-only SQL statement (DuckDB dialect).")],
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
) -> None:
    """Run read-only SQL; [bold]focus_data_table[/bold] is the FOCUS view of all costs."""
    with open_workspace(workspace, read_only=True) as ws:
        render(ws.sql(query), fmt, output=output)


def export_focus(
    out: Annotated[Path, typer.Option("--out", help="Folder to write into.")],
    focus_version: Annotated[
        str, typer.Option("--focus-version", help="1.2 (validator-checked) or 1.4.")
    ] = "1.2",
    csv: Annotated[bool, typer.Option("--csv", help="Also write CSV.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Export all costs as a FOCUS dataset (Parquet, and CSV on request)."""
    formats = ("parquet", "csv") if csv else ("parquet",)
    with open_workspace(workspace, read_only=True) as ws:
        for path in ws.export_focus(out, version=focus_version, formats=formats):
            console.print(f"wrote {path}")


def quarantine(
    workspace: WorkspaceOption = None,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 50,
    fmt: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
) -> None:
    """Show quarantined rows: file, line, column, reason (the raw row is kept in the store)."""
    with open_workspace(workspace, read_only=True) as ws:
        render(ws.quarantined(limit=limit), fmt, output=output, title="quarantine")


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(status)
    app.command()(sources)
    app.command()(sql)
    app.command()(quarantine)
    export_app = typer.Typer(help="Write the workspace out.", no_args_is_help=True)
    export_app.command("focus")(export_focus)
    app.add_typer(export_app, name="export")
