"""Showback and chargeback statements: what each team (or any dimension's value) is charged per
month, from ``allocated_costs``, split into what it ran directly, the GPU-hours its jobs held,
idle GPUs on its machines and its share of shared costs.

Columns are exact decimal sums of the chosen cost metric; a month's statement lines add up to the
month's total cost (the allocation invariant), so a chargeback built from them bills every cent
once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aifinops.analysis.allocation import (
    DIRECT,
    GPU_WORKLOAD,
    IDLE_LINE,
    IDLE_SHARED,
    SHARED_SPLIT,
    SHARED_UNSPLIT,
    TABLE,
    allocated_column,
)
from aifinops.analysis.common import within_dates
from aifinops.model.metrics import CostMetric
from aifinops.model.timewindow import Window

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.engine import Engine

#: statement column -> allocation kinds it sums
LINES = {
    "direct": (DIRECT,),
    "gpu_workloads": (GPU_WORKLOAD,),
    "idle_gpu": (IDLE_LINE, IDLE_SHARED),
    "shared": (SHARED_SPLIT, SHARED_UNSPLIT),
}


def _rows(engine: Engine, window: Window, dimension: str, values: list[str]) -> ir.Table:
    t = within_dates(engine.table(TABLE), "charge_date", window)
    t = t.mutate(value=allocated_column(t, dimension))
    if values:
        t = t.filter(t.value.isin(values))
    return t


def statement(
    engine: Engine,
    *,
    metric: CostMetric,
    window: Window,
    dimension: str = "team",
    values: list[str] | None = None,
) -> ir.Table:
    """Per month, value and currency: each statement line, the total and the share of the
    month's total (of every value, also when ``values`` picks some)."""
    import ibis

    t = _rows(engine, window, dimension, [])
    cost = t[metric.column]
    lines = {
        name: ibis.ifelse(t.allocation.isin(kinds), cost, 0).sum() for name, kinds in LINES.items()
    }
    g = t.group_by(["period", t.value.name(dimension), "BillingCurrency"]).aggregate(
        **lines, total=cost.sum(), gpu_hours=t.gpu_hours.sum()
    )
    month = ibis.window(group_by=["period", "BillingCurrency"])
    share = g.total.cast("float64") / g.total.sum().over(month).cast("float64").nullif(0)
    g = g.mutate(share=share.round(4))
    if values:
        g = g.filter(g[dimension].isin(values))
    return g.order_by(["period", "BillingCurrency", ibis.desc("total"), dimension])


def statement_detail(
    engine: Engine,
    *,
    metric: CostMetric,
    window: Window,
    dimension: str = "team",
    values: list[str] | None = None,
    by: str = "ServiceName",
) -> ir.Table:
    """Per value: cost by ``by`` (a service, project, job ...) and allocation kind, largest first;
    split shared costs show their pool's name."""
    import ibis

    t = _rows(engine, window, dimension, values or [])
    item = ibis.ifelse(
        t.allocation.isin([SHARED_SPLIT, SHARED_UNSPLIT]),
        "shared: " + t.shared_pool,
        allocated_column(t, by).fill_null("(none)"),
    )
    g = t.group_by(
        [t.value.name(dimension), item.name(by), "allocation", "BillingCurrency"]
    ).aggregate(cost=t[metric.column].sum())
    return g.order_by([dimension, "BillingCurrency", ibis.desc("cost"), by])
