"""Tag coverage: how much cost carries each tag key, and the largest untagged resources."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aifinops.analysis.common import within
from aifinops.model.metrics import CostMetric
from aifinops.model.timewindow import Window

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.engine import Engine

#: Only usage can carry a resource's tags; taxes, credits and purchases are left out of coverage.
TAGGABLE = "Usage"


def _usage(engine: Engine, window: Window) -> ir.Table:
    costs = within(engine.table("costs"), window)
    return costs.filter(costs.ChargeCategory == TAGGABLE)


def tag_coverage(engine: Engine, *, metric: CostMetric, window: Window) -> ir.Table:
    """Per tag key: the usage cost carrying it and its share of all usage cost, per currency."""
    import ibis

    usage = _usage(engine, window)
    column = metric.column
    exploded = usage.select("BillingCurrency", column, key=engine.tag_keys(usage))
    tagged = exploded.group_by(["key", "BillingCurrency"]).aggregate(
        tagged=exploded[column].sum(), rows=exploded.count()
    )
    totals = usage.group_by("BillingCurrency").aggregate(total=usage[column].sum())
    joined = tagged.join(totals, "BillingCurrency")
    share = (joined.tagged.cast("float64") / joined.total.cast("float64")).round(4)
    out = joined.mutate(share=ibis.ifelse(joined.total == 0, None, share))
    return out.select("key", "BillingCurrency", "tagged", "total", "share", "rows").order_by(
        [ibis.desc("tagged"), "key"]
    )


def untagged_resources(
    engine: Engine, *, metric: CostMetric, window: Window, key: str | None, top: int
) -> ir.Table:
    """The largest resources with no tags (or without tag ``key``), by cost."""
    import ibis

    usage = _usage(engine, window)
    if key is None:
        missing = usage.x_TagsMap.isnull() | (usage.x_TagsMap.length() == 0)
    else:
        missing = engine.tag(usage, key).isnull()
    rows = usage.filter(missing)
    column = metric.column
    grouped = rows.group_by(
        ["ResourceId", "ServiceName", "SubAccountName", "BillingCurrency"]
    ).aggregate(**{column: rows[column].sum(), "ResourceName": rows.ResourceName.max()})
    return grouped.order_by([ibis.desc(column), "ResourceId"]).limit(top)
