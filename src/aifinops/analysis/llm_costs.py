"""LLM unit costs: requests, tokens by kind, cost, $ per 1M tokens and per request.

Read from ``llm_usage``, only rows of ``record_type = 'usage'``: vendor cost-report rows (OpenAI
costs API, Anthropic cost report) are what the vendor charged for the same tokens, kept to compare
(:mod:`aifinops.analysis.llm`), and would count the spend twice. Rows are in the window by
``start_time`` (UTC dates, half-open) and grouped by ``by`` dimensions, the optional ``period``
bucket and ``currency``: amounts in different currencies never add up.

Sums are exact: token counts as integers, ``cost``, ``list_cost`` and ``vendor_cost`` as
``DECIMAL(38, 18)``. The ratios are worked out from those sums with Python's ``Decimal`` after the
query (one row per group, so it costs nothing): the engines divide decimals in binary floating
point. Each is rounded half-even to the places in :data:`PLACES`; a zero or unknown denominator
gives NULL, never NaN or infinity.

- ``total_tokens``: uncached input + cache read + cache writes (5 minutes and 1 hour) + output
  (reasoning tokens are part of output and not added again).
- ``cost_per_1m_tokens``: cost x 1,000,000 / total tokens.
- ``cost_per_1m_output_tokens``: cost x 1,000,000 / output tokens (all of the cost, input
  included: what a million generated tokens cost the way they were produced).
- ``cost_per_request``: the cost of the rows that count requests / their requests. Sources that
  do not count requests (Anthropic's older usage report) leave ``requests`` NULL; their rows are
  left out of this ratio, not counted as zero requests.
- ``cache_read_share``: cache read / all input tokens (uncached + cache read + cache writes).
- ``vendor_cost``: what the vendor reported on the usage rows themselves (LiteLLM ``spend``), in
  the row's currency; vendor costs in another currency are left out.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

from aifinops.errors import QueryError
from aifinops.model.timewindow import Granularity, Window

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

    from aifinops.engine import Engine

PERIOD = "period"
LABEL_PREFIX = "label:"
DEFAULT_BY = ("provider", "model")
#: ``llm_usage`` columns that can be a dimension (besides ``label:KEY``)
DIMENSIONS = (
    "provider",
    "model",
    "project_id",
    "workspace_id",
    "organization_id",
    "api_key_id",
    "user_id",
    "service_tier",
    "batch",
    "source",
    "price_source",
)
#: decimal places of each ratio (rounded half-even)
PLACES = {
    "cost_per_1m_tokens": 6,
    "cost_per_1m_output_tokens": 6,
    "cost_per_request": 8,
    "cache_read_share": 4,
}
_MILLION = 1_000_000
_TOKENS = (
    "uncached_input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)


@dataclass(frozen=True)
class LlmCostQuery:
    """``by`` dimensions (``llm_usage`` columns in :data:`DIMENSIONS` or ``label:KEY``), a window
    on ``start_time`` and an optional granularity."""

    by: tuple[str, ...] = DEFAULT_BY
    window: Window = field(default_factory=Window)
    granularity: Granularity | None = None


def llm_usage_totals(engine: Engine, query: LlmCostQuery) -> ir.Table:
    """Exact sums per group: requests, tokens by kind, cost, list cost, vendor cost, and
    ``_request_cost`` (the cost of the rows that count requests); the largest cost first."""
    usage = _usage_rows(engine, query.window)
    keys: dict[str, ir.Value] = {spec: dimension(usage, spec) for spec in query.by}
    if query.granularity is not None:
        keys[PERIOD] = engine.bucket(usage.start_time.date(), query.granularity)
    keys["currency"] = usage.currency.fill_null(usage.vendor_currency)
    keyed = usage.mutate(**keys)
    counted = keyed.requests.notnull()
    same_money = keyed.vendor_currency.isnull() | (keyed.vendor_currency == keyed.currency)
    g = keyed.group_by(list(keys)).aggregate(
        requests=keyed.requests.sum(),
        uncached_input_tokens=_count(keyed.uncached_input_tokens).sum(),
        cache_read_tokens=_count(keyed.cache_read_tokens).sum(),
        cache_write_tokens=(
            _count(keyed.cache_write_5m_tokens) + _count(keyed.cache_write_1h_tokens)
        ).sum(),
        output_tokens=_count(keyed.output_tokens).sum(),
        reasoning_tokens=_count(keyed.reasoning_tokens).sum(),
        cost=keyed.cost.sum(),
        list_cost=keyed.list_cost.sum(),
        vendor_cost=keyed.vendor_cost.sum(where=same_money),
        _request_cost=keyed.cost.sum(where=counted),
    )
    order = [g[PERIOD]] if query.granularity is not None else []
    return g.order_by([*order, g.currency, g.cost.desc(), *[g[k] for k in query.by]])


def llm_costs(engine: Engine, query: LlmCostQuery) -> pa.Table:
    """Per group: the sums of :func:`llm_usage_totals` and the unit costs (see the module)."""
    return with_unit_costs(engine.execute(llm_usage_totals(engine, query)))


def with_unit_costs(totals: pa.Table) -> pa.Table:
    """``totals`` with ``total_tokens`` and the ratios, exact, in place of ``_request_cost``."""
    import pyarrow as pa

    rows = totals.to_pylist()
    ratios = [_ratios(row) for row in rows]
    out = totals.drop_columns(["_request_cost"])
    at = out.column_names.index("cost")
    out = out.add_column(
        at, "total_tokens", pa.array([r["total_tokens"] for r in ratios], pa.int64())
    )
    for name, places in PLACES.items():
        values = pa.array([r[name] for r in ratios], pa.decimal128(38, places))
        out = out.append_column(name, values)
    return out


def dimension(usage: ir.Table, spec: str) -> ir.Value:
    """An ``llm_usage`` column in :data:`DIMENSIONS` or ``label:KEY`` (a key of ``labels``)."""
    if spec.lower().startswith(LABEL_PREFIX):
        key = spec[len(LABEL_PREFIX) :]
        if not key:
            raise QueryError("label: needs a key, e.g. label:team")
        return usage.labels_map.get(key).name(spec)
    if spec.lower() in DIMENSIONS:
        return usage[spec.lower()].name(spec)
    close = difflib.get_close_matches(spec.lower(), DIMENSIONS, n=3)
    hint = f"did you mean {', '.join(close)}?" if close else f"use {', '.join(DIMENSIONS)}"
    raise QueryError(f"unknown LLM usage dimension {spec!r}", hint=f"{hint} (or label:KEY)")


def _usage_rows(engine: Engine, window: Window) -> ir.Table:
    import ibis

    usage = engine.table("llm_usage")
    usage = usage.filter(usage.record_type == "usage")
    if window.start is not None:
        usage = usage.filter(
            usage.start_time >= ibis.timestamp(window.start.isoformat(), timezone="UTC")
        )
    if window.end is not None:
        usage = usage.filter(
            usage.start_time < ibis.timestamp(window.end.isoformat(), timezone="UTC")
        )
    return usage


def _count(column: ir.IntegerValue) -> ir.IntegerValue:
    return column.fill_null(0)


#: Token columns of ``llm_usage`` that are input (uncached, cache reads, cache writes).
INPUT_TOKENS = (
    "uncached_input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
)


def input_tokens(usage: ir.Table) -> ir.IntegerValue:
    """All input tokens of each ``llm_usage`` row (a missing count is 0)."""
    counts = [_count(usage[c]) for c in INPUT_TOKENS]
    return sum(counts[1:], counts[0])


def total_tokens(usage: ir.Table) -> ir.IntegerValue:
    """Input + output tokens of each row (reasoning tokens are part of output)."""
    return input_tokens(usage) + _count(usage.output_tokens)


def _ratios(row: dict[str, object]) -> dict[str, int | Decimal | None]:
    counts = {k: _int(row[k]) for k in _TOKENS}
    inputs = counts["uncached_input_tokens"] + counts["cache_read_tokens"]
    inputs += counts["cache_write_tokens"]
    total = inputs + counts["output_tokens"]
    cost = _money(row["cost"])
    return {
        "total_tokens": total,
        "cost_per_1m_tokens": _ratio(cost, total, _MILLION, "cost_per_1m_tokens"),
        "cost_per_1m_output_tokens": _ratio(
            cost, counts["output_tokens"], _MILLION, "cost_per_1m_output_tokens"
        ),
        "cost_per_request": _ratio(
            _money(row["_request_cost"]), _int(row["requests"]), 1, "cost_per_request"
        ),
        "cache_read_share": _ratio(
            Decimal(counts["cache_read_tokens"]), inputs, 1, "cache_read_share"
        ),
    }


def _ratio(amount: Decimal | None, count: int, per: int, name: str) -> Decimal | None:
    """``amount x per / count`` rounded half-even to ``PLACES[name]``; NULL when ``count`` is 0."""
    if amount is None or count == 0:
        return None
    places = PLACES[name]
    # Fractions are exact; round() of a Fraction rounds half to even.
    units = round(Fraction(amount) * per * 10**places / count)
    return Decimal(f"{units}E-{places}")  # from text: exact, whatever the context


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | Decimal) else 0


def _money(value: object) -> Decimal | None:
    return value if isinstance(value, Decimal) else None


#: the columns a terminal table leaves out (CSV, JSON and Parquet have them all)
TERMINAL_OMITS = (*_TOKENS, "list_cost")


def for_terminal(table: pa.Table) -> pa.Table:
    """Fewer columns (no token kinds, no list cost; a vendor cost column only where there is
    one), and the ratios as text with all their places: a terminal table shows decimals as
    money, in cents."""
    import pyarrow as pa

    omit = [*TERMINAL_OMITS]
    if table.column("vendor_cost").null_count == table.num_rows:
        omit.append("vendor_cost")
    table = table.drop_columns(omit)
    for name in PLACES:
        at = table.column_names.index(name)
        text = [None if v is None else format(v, "f") for v in table.column(name).to_pylist()]
        table = table.set_column(at, name, pa.array(text, pa.string()))
    return table
