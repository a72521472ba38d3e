"""Revenue to AI spend and ROI per product, team or model, over time.

The value side is ``business_metrics``: rows of metric ``revenue`` (``--revenue-metric``) and
``requests`` (``--requests-metric``), labelled with the key ``by`` (``product``, ``team``,
``model``: any label key, matched case-insensitively). The spend side is ``allocated_costs``:
everything allocation charged to the same value of the allocation dimension of the same name
(``spend_by`` names another: business metrics labelled ``product = chat-assistant`` against
allocated cost of ``project = chat-assistant``). Values are compared as allocation stores them:
trimmed and lower-cased unless the dimension keeps case. Both sides are bucketed by
``granularity`` (default month) on the metric's ``period_start`` and the cost's charge date.

Revenue is money in the currency its ``unit`` names (``USD``); it is compared with spend in the
same ``BillingCurrency`` only. Requests have no currency: each currency's row of a value and
period shows them.

Per value, period and currency: ``revenue``, ``spend``, ``requests`` (exact sums), and, worked out
after aggregation with exact fractions and rounded half-even:

- ``revenue_to_spend`` = revenue / spend (4 places);
- ``roi`` = (revenue - spend) / spend (4 places);
- ``cost_per_request`` = spend / requests (8 places);
- ``revenue_change``, ``spend_change``: the change against the value's previous period
  (this / previous - 1, 4 places; the period before the window is read for the first one;
  NULL where the previous period has none, or after a gap).

A value with no allocated spend in a period gets ``spend`` NULL and a ``note`` (an untagged
product is unknown, not free); so does revenue in a unit that is not a currency code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from aifinops.analysis.unit_costs import allocated, dimension_of, exact_ratio, label_keys
from aifinops.errors import QueryError
from aifinops.model.allocation import Dimension
from aifinops.model.metrics import CostMetric
from aifinops.model.timewindow import Granularity, Window

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

    from aifinops.engine import Engine
    from aifinops.model.allocation import AllocationRules

PLACES = {
    "revenue_to_spend": 4,
    "roi": 4,
    "cost_per_request": 8,
    "revenue_change": 4,
    "spend_change": 4,
}
_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class RoiQuery:
    """Business metrics labelled ``by`` against allocated spend of dimension ``spend_by``."""

    by: str = "product"
    spend_by: str | None = None
    metric: CostMetric = CostMetric.EFFECTIVE
    window: Window = field(default_factory=Window)
    granularity: Granularity = Granularity.MONTH
    revenue_metric: str = "revenue"
    requests_metric: str = "requests"

    @property
    def dimension(self) -> str:
        return self.spend_by or self.by


def roi(engine: Engine, rules: AllocationRules, query: RoiQuery) -> pa.Table:
    """One row per period, value and currency (see the module). The period before the window
    is read too, as the base of the first period's change, and then left out."""
    first = bucket_start(query.window.start, query.granularity) if query.window.start else None
    before = previous(first, query.granularity) if first else None
    wider = replace(query, window=Window(before, query.window.end))
    a = allocated(engine, wider.window)
    dim = dimension_of(rules, query.dimension, a)
    revenue_expr, requests_expr = _business(engine, wider, dim)
    revenue, requests = engine.execute(revenue_expr), engine.execute(requests_expr)
    values = {r["value"] for r in (*revenue.to_pylist(), *requests.to_pylist())}
    spend = engine.execute(_spend(engine, a, wider, sorted(values)))
    rows = _assemble(revenue.to_pylist(), requests.to_pylist(), spend.to_pylist())
    rows = _with_trend(rows, query.granularity)
    return _table([r for r in rows if first is None or r["period"] >= first], query)


def _business(engine: Engine, query: RoiQuery, dim: Dimension) -> tuple[ir.Table, ir.Table]:
    """(revenue per period, value and currency; requests per period and value)."""
    from aifinops.analysis.common import within_dates
    from aifinops.analysis.unit_costs import label_dimension

    present = label_keys(engine, "business_metrics")
    if not any(k.lower() == query.by.lower() for k in present):
        found = ", ".join(present) or "none"
        raise QueryError(
            f"no business_metrics row has a {query.by!r} label",
            hint=f"labels found: {found}; ingest metrics with a {query.by} column "
            "(docs/sources/metrics.md) or use --by with one of those",
        )
    b = within_dates(engine.table("business_metrics"), "period_start", query.window)
    label = Dimension(tags=[query.by], keep_case=dim.keep_case)
    value = label_dimension(b, present, label)
    b = b.mutate(
        _value=value,
        _period=engine.bucket(b.period_start, query.granularity),
        _metric=b.metric.strip().lower(),
    )
    b = b.filter(b._value.notnull())
    rev = b.filter(b._metric == query.revenue_metric.lower())
    unit = rev.unit.strip().upper()
    revenue = rev.group_by(period=rev._period, value=rev._value, currency=unit).aggregate(
        revenue=rev.value.sum()
    )
    req = b.filter(b._metric == query.requests_metric.lower())
    requests = req.group_by(period=req._period, value=req._value).aggregate(
        requests=req.value.sum()
    )
    return revenue, requests


def _spend(engine: Engine, a: ir.Table, query: RoiQuery, values: list[str]) -> ir.Table:
    a = a.filter(a[query.dimension].isin(values)) if values else a.limit(0)
    return a.group_by(
        period=engine.bucket(a.charge_date, query.granularity),
        value=a[query.dimension],
        currency=a.BillingCurrency,
    ).aggregate(spend=a[query.metric.column].sum())


Key = tuple[date, str, str | None]


def _assemble(
    revenue: list[dict[str, Any]], requests: list[dict[str, Any]], spend: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Rows keyed by (period, value, currency): revenue and spend where they are, requests on
    every currency row of their period and value."""
    rows: dict[Key, dict[str, Any]] = {}

    def row(key: Key) -> dict[str, Any]:
        return rows.setdefault(
            key,
            {
                "period": key[0],
                "value": key[1],
                "currency": key[2],
                "revenue": None,
                "spend": None,
                "requests": None,
            },
        )

    for r in revenue:
        row((r["period"], r["value"], r["currency"]))["revenue"] = r["revenue"]
    for r in spend:
        row((r["period"], r["value"], r["currency"]))["spend"] = r["spend"]
    counted = {(r["period"], r["value"]): r["requests"] for r in requests}
    for (period, value), n in counted.items():
        same = [r for k, r in rows.items() if k[:2] == (period, value)]
        for r in same or [row((period, value, None))]:
            r["requests"] = n
    return sorted(rows.values(), key=lambda r: (r["period"], r["value"], r["currency"] or ""))


def _with_trend(rows: list[dict[str, Any]], granularity: Granularity) -> list[dict[str, Any]]:
    by_key = {(r["period"], r["value"], r["currency"]): r for r in rows}
    for r in rows:
        before = by_key.get((previous(r["period"], granularity), r["value"], r["currency"]))
        for name in ("revenue", "spend"):
            old = before[name] if before else None
            change = exact_ratio(r[name] - old, old, 4) if r[name] is not None and old else None
            r[f"{name}_change"] = change
    return rows


def bucket_start(day: date, granularity: Granularity) -> date:
    """The first day of the bucket ``day`` is in (weeks start on Monday)."""
    if granularity is Granularity.DAY:
        return day
    if granularity is Granularity.WEEK:
        return day - timedelta(days=day.weekday())
    months = {Granularity.MONTH: 1, Granularity.QUARTER: 3, Granularity.YEAR: 12}[granularity]
    return date(day.year, (day.month - 1) // months * months + 1, 1)


def previous(start: date, granularity: Granularity) -> date:
    """The first day of the bucket before the one starting on ``start``."""
    if granularity is Granularity.DAY:
        return start - timedelta(days=1)
    if granularity is Granularity.WEEK:
        return start - timedelta(days=7)
    months = {Granularity.MONTH: 1, Granularity.QUARTER: 3, Granularity.YEAR: 12}[granularity]
    index = start.year * 12 + start.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _note(r: dict[str, Any], query: RoiQuery) -> str | None:
    notes = []
    if r["currency"] is not None and not _CURRENCY_CODE.match(r["currency"]):
        notes.append(f"revenue unit {r['currency']!r} is not a currency code")
    if r["spend"] is None:
        notes.append(f"no allocated cost with {query.dimension} = {r['value']!r}")
    if r["revenue"] is None:
        notes.append(f"no {query.revenue_metric!r} in business_metrics")
    return "; ".join(notes) or None


def _table(rows: list[dict[str, Any]], query: RoiQuery) -> pa.Table:
    import pyarrow as pa

    out: dict[str, list[Any]] = {
        name: []
        for name in (
            "period",
            query.by,
            "currency",
            "revenue",
            "spend",
            "requests",
            "revenue_to_spend",
            "roi",
            "cost_per_request",
            "revenue_change",
            "spend_change",
            "note",
        )
    }
    for r in rows:
        revenue, spend = r["revenue"], r["spend"]
        out["period"].append(r["period"])
        out[query.by].append(r["value"])
        for name in ("currency", "revenue", "spend", "requests", "revenue_change", "spend_change"):
            out[name].append(r[name])
        out["revenue_to_spend"].append(exact_ratio(revenue, spend, 4))
        gain = revenue - spend if revenue is not None and spend is not None else None
        out["roi"].append(exact_ratio(gain, spend, 4))
        out["cost_per_request"].append(exact_ratio(spend, r["requests"], 8))
        out["note"].append(_note(r, query))
    money = pa.decimal128(38, 18)
    types = {"period": pa.date32(), "revenue": money, "spend": money, "requests": money}
    types |= {name: pa.decimal128(38, places) for name, places in PLACES.items()}
    return pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in out.items()})
