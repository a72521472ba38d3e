"""``aifinops convert SOURCE PATH... -o OUT``: files of a cost source -> one FOCUS file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from aifinops.cli.common import console, err_console


def convert(
    source: Annotated[
        str, typer.Argument(help="Cost source (see `aifinops sources`), e.g. aws-cur.")
    ],
    paths: Annotated[list[str], typer.Argument(help="Files, folders or globs.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The FOCUS file to write: *.parquet or *.csv.")
    ],
    focus_version: Annotated[
        str, typer.Option("--focus-version", help="FOCUS version to write: 1.2 or 1.4.")
    ] = "1.2",
    option: Annotated[
        list[str] | None,
        typer.Option("--option", help="NAME=VALUE for the source's reader; repeatable."),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit with status 1 if any row was rejected.")
    ] = False,
) -> None:
    """Convert cost files straight into a FOCUS file (no workspace); bad rows go to
    OUT.rejected.csv."""
    from aifinops.cli.ingest import parse_options
    from aifinops.convert import convert_files

    summary = convert_files(
        source, list(paths), output, version=focus_version, options=parse_options(option or [])
    )
    for f in summary.files:
        console.print(
            f"{escape(f.path.name)}: {f.rows_read:,} rows read, {f.rows_written:,} written, "
            f"{f.rows_rejected:,} rejected",
            highlight=False,
        )
        for r in f.first_rejections:
            where = f"{f.path.name}:{r.line}" if r.line else f"{f.path.name} record {r.record}"
            err_console.print(
                f"[red]rejected[/red] {escape(where)}: {escape(r.reason)}", highlight=False
            )
    for message, count in sorted(summary.warnings.items()):
        console.print(f"[yellow]warning[/yellow]: {escape(message)} ({count:,} rows)")
    console.print(
        f"wrote {summary.rows_written:,} rows as FOCUS {summary.version} to {escape(str(output))}",
        highlight=False,
    )
    if summary.rejected_path is not None:
        err_console.print(
            f"{summary.rows_rejected:,} rejected rows, with reasons, in "
            f"{escape(str(summary.rejected_path))}",
            highlight=False,
        )
        if strict:
            raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(convert)
