"""``aifinops anomalies`` (daily cost anomalies with their root cause) and ``aifinops anomalies
explain DATE`` (the full drill-down of one day)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from aifinops.cli.common import (
    AsOfOption,
    FormatOption,
    OutputOption,
    ScopeOption,
    WorkspaceOption,
    as_of_date,
    console,
    err_console,
    open_workspace,
    split_values,
)
from aifinops.errors import QueryError
from aifinops.output import OutputFormat, money, render

if TYPE_CHECKING:
    from aifinops.analysis.anomalies import Anomaly, AnomalyReport
    from aifinops.analysis.anomaly_explain import Explanation

anomalies_app = typer.Typer(
    help="Daily cost anomalies per scope, each with its root cause and $ impact "
    "(docs/anomalies.md).",
    invoke_without_command=True,
)

ByOption = Annotated[
    list[str] | None,
    typer.Option(
        "--by",
        "-b",
        help="Watch each value of these besides the whole scope: team, project ... or provider, "
        "service, account, region, category (default: the anomalies.dimensions setting; 'none' "
        "for none).",
    ),
]
DaysOption = Annotated[
    int, typer.Option("--days", "-d", help="Judge the last N days before --as-of.")
]


@anomalies_app.callback()
def anomalies(
    ctx: typer.Context,
    scope: ScopeOption = None,
    by: ByOption = None,
    days: DaysOption = 30,
    as_of: AsOfOption = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also list anomalies beyond the daily alert budget.")
    ] = False,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
) -> None:
    """Anomalous days of the whole bill and of each team, provider and service (or --scope and
    --by): impact, kind (spike, level shift, new spend) and the top causes."""
    if ctx.invoked_subcommand is not None:
        return
    from aifinops.analysis.anomaly_text import anomalies_table
    from aifinops.model.scope import Scope

    watch = split_values(by)
    with open_workspace(workspace, read_only=True) as ws:
        _warn_stale(ws.allocation_stale())
        report = ws.anomalies(
            as_of=as_of_date(as_of),
            days=days,
            scopes=[Scope.parse(scope)] if scope else None,
            by=None if by is None else [w for w in watch if w.lower() != "none"],
        )
    found = report.anomalies + (report.over_budget if show_all else [])
    if fmt is OutputFormat.TABLE and output is None:
        _show(report, found)
    else:
        render(anomalies_table(found), fmt, output=output, title=_title(report))


@anomalies_app.command("explain")
def explain_day(
    day: Annotated[str, typer.Argument(help="The day to explain (YYYY-MM-DD).")],
    scope: ScopeOption = None,
    top: Annotated[int, typer.Option("--top", "-n", help="Values shown per dimension.")] = 5,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
) -> None:
    """One day of a scope against its baseline, drilled down by every dimension: which service,
    account, resource, region, LLM key, team, project and model moved, and by how much."""
    from aifinops.analysis.anomaly_explain import explain
    from aifinops.model.scope import Scope

    when = _day(day)
    with open_workspace(workspace, read_only=True) as ws:
        found = explain(ws.engine, ws.settings, day=when, scope=Scope.parse(scope or []))
    if not found:
        err_console.print(f"[yellow]note:[/yellow] no spend in this scope on or before {when}")
        return
    if fmt is not OutputFormat.TABLE or output is not None:
        from aifinops.analysis.anomaly_text import explanation_table

        render(explanation_table(found, top=top), fmt, output=output, title=f"{when} explained")
        return
    for item in found:
        _explain(item, top)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise QueryError(f"{text!r} is not a date", hint="use YYYY-MM-DD") from None


def _title(report: AnomalyReport) -> str:
    window = report.window
    assert window.start is not None and window.end is not None
    last = window.end - timedelta(days=1)
    if report.through is not None and report.through < last:
        last = report.through
    return f"cost anomalies {window.start} to {last} (data through {report.through or 'none'})"


def _show(report: AnomalyReport, found: list[Anomaly]) -> None:
    from aifinops.analysis.anomaly_text import compact_causes, event_text, percent, signed

    console.print(f"[bold]{escape(_title(report))}[/bold]")
    for rank, a in enumerate(found, start=1):
        console.print(
            f"\n{rank}. {a.day} [bold]{escape(a.scope)}[/bold] — {escape(event_text(a))}: "
            f"{signed(a.impact)} {a.currency} on the day ({percent(a.relative)}; "
            f"{money(a.actual)} against {money(a.expected)} expected), "
            f"{signed(a.total_impact)} {a.currency} in all",
            highlight=False,
        )
        causes = compact_causes(a.causes)
        if causes:
            console.print("   causes: " + escape(" · ".join(causes)), highlight=False)
        if a.views:
            seen = " · ".join(f"{v.scope} {signed(v.impact)}" for v in a.views)
            console.print(f"   also seen in: {escape(seen)}", highlight=False)
    console.print(
        f"\n{len(found)} anomaly(ies) from {report.flagged} flagged scope view(s), "
        f"{report.scope_days:,} scope-days in {report.scopes} series judged",
        highlight=False,
    )
    if report.over_budget and len(found) == len(report.anomalies):
        err_console.print(
            f"[yellow]note:[/yellow] {len(report.over_budget)} smaller anomaly(ies) beyond the "
            "alert budget ([anomalies] max_alerts_per_day): --all lists them"
        )
    for note in report.notes:
        err_console.print(f"[yellow]note:[/yellow] {escape(note)}")


def _explain(item: Explanation, top: int) -> None:
    from aifinops.analysis.anomaly_text import LEADING, explanation_table, percent, signed

    impact = item.impact
    head = f"{item.day} {item.scope}, {item.basis} ({item.currency}): {money(item.actual)}"
    if impact is not None and item.expected is not None:
        relative = float(impact / item.expected) if item.expected > 0 else None
        head += f" against {money(item.expected)} expected ({signed(impact)}, {percent(relative)})"
    score = "" if item.score is None else f", score {item.score:.1f}"
    head += f" — {item.status}{score}"
    if item.reference:
        head += "; compared with " + ", ".join(str(d) for d in item.reference)
    console.print(f"\n[bold]{escape(head)}[/bold]", highlight=False)
    if item.drill:
        table = explanation_table([item], top=top).drop_columns(list(LEADING))
        render(table, OutputFormat.TABLE, console=console)


def _warn_stale(note: str | None) -> None:
    if note:
        err_console.print(f"[yellow]note:[/yellow] {escape(note)}")


def register(app: typer.Typer) -> None:
    app.add_typer(anomalies_app, name="anomalies")
