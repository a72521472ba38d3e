"""``aifinops ingest SOURCE PATH...``: load files, with progress and a summary."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from aifinops.cli.common import WorkspaceOption, console, err_console, open_workspace

if TYPE_CHECKING:
    from aifinops.store.ingest import IngestSummary


def ingest(
    source: Annotated[
        str, typer.Argument(help="Source name (see `aifinops sources`), e.g. focus.")
    ],
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Files, folders or globs (onprem: default the workspace's aifinops.toml).",
            show_default=False,
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail (ingest nothing) if any row is unreadable.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Load files again even if already ingested.")
    ] = False,
    focus_version: Annotated[
        str | None,
        typer.Option("--focus-version", help="Read as this FOCUS version instead of detecting it."),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            help="NAME=VALUE for the source's reader (see `aifinops sources`); repeatable.",
        ),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Load files into the workspace: idempotent, atomic, bad rows quarantined with reasons."""
    from aifinops.cli.progress import IngestProgress

    with open_workspace(workspace) as ws, IngestProgress(err_console) as progress:
        summary = ws.ingest(
            paths or [],
            source=source,
            strict=strict or None,
            force=force,
            focus_version=focus_version,
            progress=progress,
            options=parse_options(option or []),
        )
    print_summary(summary)


def parse_options(items: list[str]) -> dict[str, object]:
    """``["name=value", ...]`` -> ``{"name": "value"}``; dashes in names read as underscores."""
    from aifinops.errors import IngestError

    options: dict[str, object] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise IngestError(f"--option {item!r} is not NAME=VALUE", hint="e.g. -o period=2026-01")
        options[name.strip().replace("-", "_")] = value.strip()
    return options


def print_summary(summary: IngestSummary) -> None:
    from rich.table import Table

    table = Table(title="ingest summary", title_justify="left")
    for name, justify in [
        ("file", "left"),
        ("version", "left"),
        ("rows read", "right"),
        ("ingested", "right"),
        ("quarantined", "right"),
        ("status", "left"),
    ]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for f in summary.files:
        status = f.status if f.status == "ingested" else f"skipped: {f.reason}"
        table.add_row(
            f.path.name,
            f.focus_version or "",
            f"{f.rows_read:,}",
            f"{f.rows_ingested:,}",
            f"{f.rows_quarantined:,}",
            status,
        )
    table.add_row(
        "total",
        "",
        f"{summary.rows_read:,}",
        f"{summary.rows_ingested:,}",
        f"{summary.rows_quarantined:,}",
        f"{summary.seconds:.1f} s",
        style="bold",
    )
    console.print(table)
    if summary.rows_replaced:
        keys = ", ".join(summary.replace_keys)
        console.print(
            f"replaced {summary.rows_replaced:,} older rows with the same {keys} "
            f"(files {sorted(summary.replaced_files)})"
        )
    for message, count in sorted(summary.warnings.items()):
        console.print(
            f"[yellow]warning[/yellow]: {escape(message)} ({count:,} rows)", highlight=False
        )
    notes = Counter(note for f in summary.files for note in f.notes)
    for note, files in sorted(notes.items()):
        plural = "s" * (files > 1)
        console.print(f"[dim]note: {escape(note)} ({files} file{plural})[/dim]", highlight=False)
    for f in summary.files:
        for r in f.first_rejections:
            where = f"{f.path.name}:{r.line}" if r.line else f"{f.path.name} record {r.record}"
            console.print(
                f"[red]quarantined[/red] {escape(where)}: {escape(r.reason)}", highlight=False
            )
    if summary.rows_quarantined:
        console.print("see all with [bold]aifinops quarantine[/bold]")


def register(app: typer.Typer) -> None:
    app.command()(ingest)
