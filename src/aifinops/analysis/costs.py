"""Cost by any dimensions over any window, at any granularity: the question behind most reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aifinops.analysis.common import NOT_SET, OTHER, dimension, within
from aifinops.model.metrics import CostMetric
from aifinops.model.timewindow import Granularity, Window

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.engine import Engine

PERIOD = "period"


@dataclass(frozen=True)
class CostQuery:
    """``by`` dimensions (FOCUS columns or ``tag:KEY``), a metric, a window, a granularity, top N.

    Costs are always split by ``BillingCurrency``: amounts in different currencies never add up.
    With ``top``, the N largest groups over the whole window are kept and the rest summed into
    ``(other)``.
    """

    by: tuple[str, ...] = ()
    metric: CostMetric = CostMetric.EFFECTIVE
    window: Window = field(default_factory=Window)
    granularity: Granularity | None = None
    top: int | None = None


def cost_report(engine: Engine, query: CostQuery) -> ir.Table:
    """The expression for ``query``; columns: the dimensions, ``period``, BillingCurrency, cost."""
    costs = within(engine.table("costs"), query.window)
    dims = {spec: dimension(engine, costs, spec) for spec in query.by}
    keys: dict[str, ir.Value] = dict(dims)
    if query.granularity is not None:
        keys[PERIOD] = engine.bucket(costs.x_ChargeDate, query.granularity)
    keys["BillingCurrency"] = costs.BillingCurrency
    metric = query.metric.column
    grouped = costs.group_by(**keys).aggregate(**{metric: costs[metric].sum()})
    if query.top is not None and dims:
        grouped = _keep_top(grouped, list(dims), list(keys), metric, query.top)
    order = [grouped[PERIOD]] if query.granularity is not None else []
    if query.top is not None and dims:  # (other) last
        order.append((grouped[next(iter(dims))] == OTHER).fill_null(False))
    return grouped.order_by([*order, grouped[metric].desc(), *[grouped[d] for d in dims]])


def _keep_top(
    grouped: ir.Table, dims: list[str], keys: list[str], metric: str, top: int
) -> ir.Table:
    """Keep the ``top`` largest dimension groups (over all periods); sum the rest as (other)."""
    import ibis

    total = grouped[metric].sum().over(group_by=[grouped[d] for d in dims])
    ranked = grouped.mutate(_total=total)
    rank = ibis.dense_rank().over(
        order_by=[
            ranked._total.desc(),
            *[ranked[d].cast("string").fill_null(NOT_SET) for d in dims],
        ]
    )
    ranked = ranked.mutate(_rank=rank)
    # Ibis's dense_rank counts from 0.
    labels = {
        d: ibis.ifelse(ranked._rank < top, ranked[d].cast("string"), ibis.literal(OTHER))
        for d in dims
    }
    others = {k: ranked[k] for k in keys if k not in dims}
    relabelled = ranked.mutate(**labels, **others)
    return relabelled.group_by(keys).aggregate(**{metric: relabelled[metric].sum()})
