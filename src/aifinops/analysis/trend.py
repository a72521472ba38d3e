"""Period-over-period change: what grew, what shrank, by service (or any dimension)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aifinops.analysis.common import dimension, within
from aifinops.model.metrics import CostMetric
from aifinops.model.timewindow import Window

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.engine import Engine


def trend(
    engine: Engine, *, by: str, metric: CostMetric, window: Window, previous: Window
) -> ir.Table:
    """Cost in ``window`` and in ``previous`` per ``by`` value, with the change and its percent."""
    import ibis

    costs = within(engine.table("costs"), Window(previous.start, window.end))
    column = metric.column
    current = (costs.x_ChargeDate >= window.start) if window.start else ibis.literal(True)
    key = dimension(engine, costs, by)
    amount = costs[column]
    grouped = costs.group_by([key.name(by), costs.BillingCurrency]).aggregate(
        current=amount.sum(where=current),
        previous=amount.sum(where=~current),
    )
    grouped = grouped.mutate(
        current=grouped.current.fill_null(0), previous=grouped.previous.fill_null(0)
    )
    change = grouped.current - grouped.previous
    pct = (change.cast("float64") / grouped.previous.cast("float64") * 100).round(1)
    out = grouped.mutate(change=change, change_pct=ibis.ifelse(grouped.previous == 0, None, pct))
    return out.order_by([ibis.desc(out.change.abs()), by])
