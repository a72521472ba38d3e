"""``aifinops budgets status`` and ``aifinops check`` (cron: exit 0 ok, 1 crossed, 2 error)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from aifinops.cli.common import (
    AsOfOption,
    FormatOption,
    OutputOption,
    WorkspaceOption,
    as_of_date,
    console,
    err_console,
    open_workspace,
    split_values,
)
from aifinops.output import OutputFormat, money, render

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.table import Table

    from aifinops.analysis.budgets import BudgetStatus
    from aifinops.check import CheckResult
    from aifinops.workspace import Workspace

budgets_app = typer.Typer(
    help="Budgets ([[budgets]] in aifinops.toml): spend, burn, forecast at period end.",
    no_args_is_help=True,
)

BudgetOption = Annotated[
    list[str] | None,
    typer.Option("--budget", "-b", help="Only these budgets (repeat or comma-separate)."),
]
NO_BUDGETS = "no budgets: add [[budgets]] tables to aifinops.toml (see docs/budgets.md)"


@budgets_app.command("status")
def status(
    budget: BudgetOption = None,
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
) -> None:
    """Each budget's spend so far, burn rate, forecast at period end (with its 80% and 95%
    intervals), days left and state (ok, warning, over)."""
    from aifinops.analysis.budgets import status_table

    day = as_of_date(as_of)
    with open_workspace(workspace, read_only=True) as ws:
        statuses = ws.budget_status(as_of=day, names=split_values(budget) or None)
        warn_stale(ws, statuses)
    show(status_table(statuses), statuses, fmt, output=output, title=f"budgets as on {day}")


def warn_stale(ws: Workspace, statuses: list[BudgetStatus]) -> None:
    """Budgets on a dimension read allocated_costs: say when it is older than the costs."""
    from aifinops.model.scope import ALLOCATED

    if any(s.scope.source == ALLOCATED and not s.budget.llm_keys for s in statuses):
        reason = ws.allocation_stale()
        if reason:
            err_console.print(f"[yellow]warning:[/yellow] {escape(reason)}", highlight=False)


def show(
    table: pa.Table,
    statuses: list[BudgetStatus],
    fmt: OutputFormat,
    *,
    output: OutputOption = None,
    title: str,
) -> None:
    """The terminal table with notes under it, or every column in another format."""
    if fmt is not OutputFormat.TABLE or output is not None:
        render(table, fmt, output=output, title=title)
        return
    if not statuses:
        console.print(NO_BUDGETS, markup=False)
        return
    console.print(_glance(statuses, title))
    for s in statuses:
        console.print(f"[bold]{escape(s.name)}[/bold]: " + escape("; ".join(_details(s))))


def _glance(statuses: list[BudgetStatus], title: str) -> Table:
    """The terminal table: whole currency units (the lines under it and -f csv/json are exact)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    out = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 0),
        collapse_padding=True,
    )
    out.add_column("budget", min_width=max(len(s.name) for s in statuses), no_wrap=True)
    for name in ("amount", "spent", "used", "forecast", "fcst", "left"):
        out.add_column(name, justify="right")
    out.add_column("state")
    colour = {"ok": "green", "warning": "yellow", "over": "red"}
    for s in statuses:
        out.add_row(
            Text(s.name),
            _whole(s.amount),
            _whole(s.actual),
            f"{s.used_pct}%",
            _whole(s.expected),
            "—" if s.forecast_pct is None else f"{s.forecast_pct}%",
            f"{s.days_left}d",
            Text(s.state.value, style=colour[s.state.value]),
        )
    return out


def _whole(value: Decimal | None) -> str:
    return "—" if value is None else f"{value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN):,}"


def _details(s: BudgetStatus) -> list[str]:
    """What the table leaves out: exact spend, period, metric, burn, forecast, data."""
    lines = [f"{money(s.actual)} of {money(s.amount)} {s.currency} ({s.metric}) {s.period_label}"]
    if s.burn_rate is not None:
        lines.append(f"burn {money(s.burn_rate)}/day")
    if s.forecast_model:
        interval = (
            f" (80%: {money(s.low[80])} to {money(s.high[80])})"
            if 80 in s.low and 80 in s.high
            else ""
        )
        lines.append(f"forecast by {s.forecast_model}{interval}")
    lines.append(f"data through {s.through.isoformat() if s.through else '-'}")
    return lines + list(s.notes)


def check(
    as_of: AsOfOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the alerts without sending them.")
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Check every budget and the last week's cost anomalies; send each alert once (for cron).
    Exit 0: all ok; 1: a threshold is crossed or an anomaly found; 2: something could not be
    checked."""
    with exit_2_on_error():
        result = _run_check(workspace, as_of, dry_run)
    _report(result)
    raise typer.Exit(result.exit_code)


@contextmanager
def exit_2_on_error() -> Iterator[None]:
    """Any failure exits 2 (cron and gateways read 1 as "crossed" or "deny"), with a message."""
    from aifinops.errors import AifinopsError

    try:
        yield
    except (typer.Exit, KeyboardInterrupt):
        raise
    except Exception as exc:
        text = exc.message if isinstance(exc, AifinopsError) else f"{type(exc).__name__}: {exc}"
        err_console.print(f"[bold red]error:[/bold red] {escape(text)}", highlight=False)
        raise typer.Exit(2) from None


def _run_check(workspace: WorkspaceOption, as_of: str | None, dry_run: bool) -> CheckResult:
    from aifinops.analysis.budgets import status_table
    from aifinops.check import run_check

    day = as_of_date(as_of)
    with open_workspace(workspace, read_only=True) as ws:
        result = run_check(ws, as_of=day, dry_run=dry_run)
        warn_stale(ws, result.statuses)
    show(status_table(result.statuses), result.statuses, OutputFormat.TABLE, title=f"as on {day}")
    return result


def _report(result: CheckResult) -> None:
    if not result.channels and result.alerts and not result.dry_run:
        err_console.print(
            f"[yellow]{len(result.alerts)} alert(s) not sent:[/yellow] no \\[notify] channels "
            "(see docs/notifications.md)",
            highlight=False,
        )
    if result.dry_run or not result.channels:
        for alert, channels in result.alerts:
            where = escape(", ".join(channels) or "routed by [notify]")
            title, key = escape(alert.title), escape(alert.key)
            console.print(f"would alert ({where}): {title}  [dim]{key}[/dim]")
    for report in result.deliveries:
        for d in report.sent:
            console.print(f"alert sent to {d.channel}: {escape(d.title)}")
        for d in report.failed:
            err_console.print(
                f"[yellow]alert not delivered to {d.channel}[/yellow] (kept, retried next run): "
                f"{escape(d.title)}: {escape(d.detail)}"
            )
        for a in report.unrouted if result.channels else ():
            err_console.print(f"[yellow]no channel takes[/yellow] {escape(a.title)}")
    for error in result.errors:
        err_console.print(f"[bold red]error:[/bold red] {escape(error)}", highlight=False)
    for name, found in result.findings.items():
        console.print(f"{escape(name)}: {len(found)} alert(s)")
    crossed = len(result.crossed)
    console.print(
        f"{len(result.statuses)} budget(s) checked, {crossed} past a threshold, "
        f"{len(result.errors)} error(s): exit {result.exit_code}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(budgets_app, name="budgets")
    app.command("check")(check)
