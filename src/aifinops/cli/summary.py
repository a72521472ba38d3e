"""The executive summary that ``aifinops demo`` prints: where the money goes, at a glance."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aifinops.output import OutputFormat, render

if TYPE_CHECKING:
    from rich.console import Console

    from aifinops.workspace import Workspace


def print_executive_summary(ws: Workspace, console: Console) -> None:
    """Spend by provider, month, team, service; tag coverage; the largest resources."""
    table = OutputFormat.TABLE
    console.rule("executive summary (effective cost: commitments amortised)")
    render(ws.status(), table, title="what the workspace holds", console=console)
    render(ws.usage_status(), table, title="usage beside the costs", console=console)
    render(
        ws.costs(["ServiceProviderName"], granularity="month"),
        table,
        title="spend by provider and month",
        console=console,
    )
    render(
        ws.costs(["tag:team"], top=8),
        table,
        title="spend by team (tag 'team'; untagged shows as —)",
        console=console,
    )
    render(
        ws.costs(["ServiceCategory", "ServiceName"], top=10),
        table,
        title="top services",
        console=console,
    )
    latest = ws.sql("SELECT max(x_ChargeDate) FROM costs").column(0)[0].as_py()
    if latest is not None:
        render(
            ws.trend(by="ServiceName", period=latest.strftime("%Y-%m")),
            table,
            title=f"change {latest:%Y-%m} vs the month before, by service",
            console=console,
        )
    render(ws.tag_coverage(), table, title="tag coverage (share of usage cost)", console=console)
    render(
        ws.costs(["ResourceId", "ServiceName"], top=10),
        table,
        title="largest resources",
        console=console,
    )
