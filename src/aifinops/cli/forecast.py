"""``aifinops forecast``: spend forecasts per scope with intervals, backtested."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from aifinops.cli.common import (
    AsOfOption,
    FormatOption,
    MetricOption,
    OutputOption,
    ScopeOption,
    WorkspaceOption,
    as_of_date,
    console,
    err_console,
    open_workspace,
)
from aifinops.errors import QueryError
from aifinops.output import OutputFormat, render

if TYPE_CHECKING:
    from aifinops.analysis.forecast_report import ForecastResult
    from aifinops.workspace import Workspace

ByOption = Annotated[
    str | None,
    typer.Option(
        "--by",
        "-b",
        help="One forecast per value of: an allocation dimension (team, project ...), a column "
        "(ServiceName, provider, SubAccountName ...) or tag:KEY.",
    ),
]
TopOption = Annotated[
    int, typer.Option("--top", "-n", help="With --by: the N values with the most spend.")
]
HorizonOption = Annotated[
    str | None,
    typer.Option("--horizon", help="Forecast up to --as-of plus this: 30d (default), 8w, 3m."),
]
ToOption = Annotated[
    str | None,
    typer.Option("--to", help="Forecast up to this day: YYYY-MM-DD, end-of-month, end-of-quarter."),
]
LevelOption = Annotated[
    list[int] | None,
    typer.Option("--level", "-l", help="Interval level in percent, repeatable (default 80, 95)."),
]
HistoryOption = Annotated[
    str | None,
    typer.Option("--history", help="History to fit on: 365d (default [forecast]), 26w, 6m."),
]
ModelOption = Annotated[
    str | None,
    typer.Option("--model", help="ets (default), seasonal-naive, or auto (the backtest's winner)."),
]

#: Columns left out of the terminal table (CSV, JSON and Parquet keep them).
TERMINAL_DROPS = ("from", "to", "recurring", "note", "verdict", "cutoffs")


def forecast(
    scope: ScopeOption = None,
    by: ByOption = None,
    top: TopOption = 10,
    horizon: HorizonOption = None,
    to: ToOption = None,
    level: LevelOption = None,
    as_of: AsOfOption = None,
    history: HistoryOption = None,
    model: ModelOption = None,
    backtest: Annotated[
        bool, typer.Option("--backtest", help="Show the backtest: ETS vs seasonal-naive MAPE.")
    ] = False,
    daily: Annotated[bool, typer.Option("--daily", help="One row per forecast day.")] = False,
    metric: MetricOption = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
) -> None:
    """Forecast spend per scope with prediction intervals: usage by a weekly profile plus ETS,
    monthly fees on their day, one-time charges left out; backtested against seasonal-naive."""
    if backtest and daily:
        raise QueryError("give --backtest or --daily, not both")
    with open_workspace(workspace, read_only=True) as ws:
        result = ws.forecast(
            scope, by=by, top=top, horizon=horizon, to=to, levels=level,
            as_of=as_of_date(as_of), history=history, model=model, metric=metric,
        )  # fmt: skip
        stale = ws.allocation_stale() if _reads_allocated(ws, scope, by) else None
    if stale:
        err_console.print(f"[yellow]warning:[/yellow] {escape(stale)}")
    table = result.backtests() if backtest else result.daily() if daily else result.table()
    terminal = fmt is OutputFormat.TABLE and output is None
    if terminal:  # what the title, the notes and the warnings below already say
        table = table.drop_columns([c for c in TERMINAL_DROPS if c in table.column_names])
    render(table, fmt, output=output, title=_title(result, backtest), console=console)
    _tell(result, notes=terminal)


def _reads_allocated(ws: Workspace, scope: list[str] | None, by: str | None) -> bool:
    """Whether the forecast reads allocated_costs (a dimension in the scope or as --by)."""
    from aifinops.model.scope import ALLOCATED, Scope

    dimensions = set(ws.settings.allocation.all_dimensions())
    return Scope.parse(scope or []).source == ALLOCATED or by in dimensions


def _title(result: ForecastResult, backtest: bool) -> str:
    if not result.forecasts:
        return "spend forecast"
    first = result.forecasts[0]
    what = "backtest of the spend forecast" if backtest else "spend forecast"
    span = f"{first.start} to {first.end - timedelta(days=1)}"
    return f"{what}, {span} (data through {first.through})"


def _tell(result: ForecastResult, *, notes: bool) -> None:
    """Notes and backtest losses, on stderr so that piped output stays clean."""
    if not result.forecasts:
        err_console.print("[yellow]note:[/yellow] no spend in this scope's history to forecast")
    if notes:
        for name, note in _notes(result):
            err_console.print(f"[yellow]note:[/yellow] {escape(name)}: {escape(note)}")
    if result.others:
        err_console.print(
            f"[yellow]note:[/yellow] {result.others} more value(s) of {result.by} not shown "
            "(--top N)"
        )
    for line in result.losers():
        err_console.print(f"[bold yellow]warning:[/bold yellow] {escape(line)}")


def _notes(result: ForecastResult) -> list[tuple[str, str]]:
    return [
        (f"{f.value if f.value is not None else f.scope} ({f.currency})", note)
        for f in result.forecasts
        for note in f.notes
    ]


def register(app: typer.Typer) -> None:
    app.command("forecast")(forecast)
