"""``aifinops allocate``, ``aifinops report allocation`` and ``aifinops report showback``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from aifinops.cli.common import (
    FormatOption,
    FromOption,
    MetricOption,
    OutputOption,
    PeriodOption,
    ToOption,
    WorkspaceOption,
    console,
    err_console,
    open_workspace,
    split_values,
)
from aifinops.cli.report import GranularityOption, report_app
from aifinops.output import OutputFormat, render

ByOption = Annotated[
    list[str] | None,
    typer.Option(
        "--by",
        "-b",
        help="Dimensions (team, project, model, environment, cost_centre, your own), "
        "allocation, job, shared_pool or a FOCUS column kept in allocated_costs; repeat or "
        "comma-separate. Default: team.",
    ),
]


class StatementFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"
    PARQUET = "parquet"
    HTML = "html"


def allocate(workspace: WorkspaceOption = None) -> None:
    """Apply the [allocation] rules: rebuild allocated_costs (every cost row with its team,
    project, model ... ; GPU cost charged to workloads; shared costs split)."""
    with open_workspace(workspace) as ws:
        result = ws.allocate()
    render(result.by_kind, OutputFormat.TABLE, title="allocated_costs", console=console)
    for note in result.unsplit:
        err_console.print(
            f"[yellow]note:[/yellow] shared cost {note} had nothing to split it by: left "
            "(unallocated)"
        )
    console.print(
        f"every month adds up to the costs, to the cent, in all four metrics "
        f"({result.seconds:.1f} s)"
    )


def allocation_report(
    by: ByOption = None,
    metric: MetricOption = None,
    period: PeriodOption = None,
    start: FromOption = None,
    end: ToOption = None,
    granularity: GranularityOption = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
) -> None:
    """Allocated cost by team, project, model, job ... (from `aifinops allocate`)."""
    with open_workspace(workspace, read_only=True) as ws:
        _warn_stale(ws.allocation_stale())
        table = ws.allocated(
            split_values(by) or ["team"],
            metric=metric,
            granularity=granularity,
            period=period,
            start=start,
            end=end,
        )
        render(table, fmt, output=output, title=f"allocated cost, {ws.window(period, start, end)}")


def showback(
    dimension: Annotated[
        str, typer.Option("--dimension", "-d", help="Whom the statement is for.")
    ] = "team",
    value: Annotated[
        list[str] | None,
        typer.Option("--value", "-v", help="Only these values (e.g. one team); repeatable."),
    ] = None,
    detail_by: Annotated[
        str, typer.Option("--detail-by", help="Items listed per value in the HTML page.")
    ] = "ServiceName",
    metric: MetricOption = None,
    period: PeriodOption = None,
    start: FromOption = None,
    end: ToOption = None,
    workspace: WorkspaceOption = None,
    fmt: Annotated[
        StatementFormat,
        typer.Option("--format", "-f", help="Output format.", case_sensitive=False),
    ] = StatementFormat.TABLE,
    output: OutputOption = None,
) -> None:
    """Showback / chargeback statement per team (or any dimension) and month: direct cost, GPU
    workloads, idle GPUs, shared costs; as a table, CSV or a self-contained HTML page."""
    with open_workspace(workspace, read_only=True) as ws:
        _warn_stale(ws.allocation_stale())
        window = {"period": period, "start": start, "end": end}
        values = split_values(value)
        table = ws.showback(dimension=dimension, values=values, metric=metric, **window)
        title = f"{dimension} statement, {ws.window(period, start, end)}"
        if fmt is not StatementFormat.HTML:
            render(table, OutputFormat(fmt.value), output=output, title=title)
            return
        from aifinops.showback_html import page

        detail = ws.showback(
            dimension=dimension, values=values, metric=metric, detail_by=detail_by, **window
        )
        text = page(
            table, detail, title=title, dimension=dimension, metric=ws._metric(metric).value
        )
    _write(text, output)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")


def _warn_stale(reason: str | None) -> None:
    if reason:
        err_console.print(f"[yellow]warning:[/yellow] {reason}")


def register(app: typer.Typer) -> None:
    app.command("allocate")(allocate)
    report_app.command("allocation")(allocation_report)
    report_app.command("showback")(showback)
