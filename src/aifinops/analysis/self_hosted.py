"""Self-hosted inference: $ per 1M tokens from the GPU cost of the serving deployment and the
tokens it served, beside the list price of comparable API models for the same tokens.

A **deployment** is a value of an allocation dimension (``key``, default ``model``: the served
model, e.g. ``kestrel-7b-chat``). Its **cost** is the ``allocated_costs`` of GPU machines with
that value — the machines its tags or ``[allocation]`` rules (resource patterns:
``{ value = "kestrel-7b-chat", resources = ["g5-chat-*"] }``) give it — except the parts
charged to jobs of a kind that is not serving (training, fine-tunes, experiments, evaluations
run on the same machines); jobs of kind ``inference`` / ``serving`` / ``deployment`` count.
Idle and unknown hours of those machines are paid for by the tokens served.

Its **tokens** come from, per value and period, the first of:

* ``llm_usage`` rows of a self-hosted provider (:data:`SELF_HOSTED_PROVIDERS`, plus
  ``providers``): a gateway such as LiteLLM routing to your own vLLM/TGI/Triton endpoint; the
  value is the row's label ``key`` (for ``model``: else its ``model`` column);
* ``business_metrics`` of metric ``input_tokens_served`` and ``output_tokens_served`` (or only
  ``tokens_served``), labelled ``key``; ``requests`` labelled ``key`` give the requests.

``cost_per_1m_tokens`` = GPU cost x 1,000,000 / tokens; ``cost_per_request`` = cost / requests.

Each **API model** of :mod:`aifinops.model.comparables` (by the model's size class, or
``compare``) prices the same input and output tokens at its genai-prices list rates as of the
first day of the period (cached input is priced as input: the comparison is of list prices);
``vs_self_hosted`` = that cost / the self-hosted cost (2 = the API would cost twice as much).
Where only a total is known, the API row shows the rates and no cost. Ratios are exact
fractions rounded half-even (:data:`aifinops.analysis.unit_costs.PLACES`, and
``vs_self_hosted`` to 4 places).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aifinops.analysis.unit_costs import (
    CURRENCY,
    PERIOD,
    allocated,
    dimension_of,
    exact_ratio,
    gpu_machine_parts,
    label_dimension,
    label_keys,
)
from aifinops.model.comparables import Comparable, comparables_for, parse_compare
from aifinops.model.metrics import CostMetric
from aifinops.model.timewindow import Granularity, Window

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

    from aifinops.engine import Engine
    from aifinops.model.allocation import AllocationRules, Dimension
    from aifinops.model.prices import Catalog

#: ``llm_usage`` providers that are your own endpoints (LiteLLM provider names and the like)
SELF_HOSTED_PROVIDERS = (
    "self-hosted",
    "self_hosted",
    "selfhosted",
    "hosted_vllm",
    "vllm",
    "ollama",
    "ollama_chat",
    "triton",
    "tgi",
    "text-generation-inference",
    "llamafile",
    "lm_studio",
    "xinference",
    "sagemaker",
    "sagemaker_chat",
)
#: ``business_metrics`` metric names of tokens served
TOKEN_METRICS = {
    "input_tokens_served": "input",
    "output_tokens_served": "output",
    "tokens_served": "total",
}
#: job kinds whose GPU cost is serving cost (other kinds on a serving machine are left out)
SERVING_KINDS = ("inference", "serving", "deployment", "service", "endpoint")
SELF = "self-hosted GPU"
#: decimal places of the ratios and prices (rounded half-even; prices are the catalog's)
PLACES = {
    "cost_per_1m_tokens": 6,
    "cost_per_request": 8,
    "vs_self_hosted": 4,
    "input_price_per_1m": 6,
    "output_price_per_1m": 6,
}


@dataclass(frozen=True)
class SelfHostedQuery:
    key: str = "model"
    metric: CostMetric = CostMetric.EFFECTIVE
    window: Window = field(default_factory=Window)
    granularity: Granularity | None = None
    providers: tuple[str, ...] = ()
    compare: tuple[str, ...] = ()


def self_hosted(
    engine: Engine, rules: AllocationRules, query: SelfHostedQuery, catalog: Catalog
) -> pa.Table:
    """One row per deployment, period and currency priced as self-hosted, then one per
    comparable API model (see the module)."""
    dim = dimension_of(rules, query.key, allocated(engine, query.window))
    tokens = _tokens(engine, dim, query)
    values = sorted({t["value"] for t in tokens.values()})
    costs = engine.execute(_gpu_cost(engine, query, values)).to_pylist() if values else []
    chosen = parse_compare(query.compare)
    rows: list[dict[str, Any]] = []
    for cost in _joined(tokens, costs):
        rows.append(cost)
        offers = chosen or comparables_for(cost["value"])
        rows += [_api_row(cost, offer, catalog) for offer in offers]
        if not offers:
            cost["basis"] += "; no comparable API model: its name states no size (use --compare)"
    return _table(rows, query)


# -- tokens served ---------------------------------------------------------------------------


def _tokens(
    engine: Engine, dim: Dimension, query: SelfHostedQuery
) -> dict[tuple[Any, str], dict[str, Any]]:
    """(period, value) -> input, output, total tokens, requests, first day and source."""
    found: dict[tuple[Any, str], dict[str, Any]] = {}
    for r in engine.execute(_metric_tokens(engine, dim, query)).to_pylist():
        t = found.setdefault((r["period"], r["value"]), _empty(r, "business_metrics"))
        kind = TOKEN_METRICS.get(r["metric"])
        t[kind or "requests"] = int(r["amount"])
        t["first"] = min(t["first"], r["first"])
    for key, t in found.items():
        split = t["input"] is not None and t["output"] is not None
        t["total"] = t["input"] + t["output"] if split else t["total"]
        if t["total"] is None:  # only requests: nothing served to divide by
            t["source"] = None
        found[key] = t
    for r in engine.execute(_usage_tokens(engine, dim, query)).to_pylist():
        t = _empty(r, "llm_usage")  # llm_usage wins where both say
        t |= {"input": int(r["input"]), "output": int(r["output"]), "requests": r["requests"]}
        t["total"] = t["input"] + t["output"]
        found[(r["period"], r["value"])] = t
    return {k: t for k, t in found.items() if t["source"] is not None}


def _empty(r: dict[str, Any], source: str) -> dict[str, Any]:
    return {
        "period": r["period"],
        "value": r["value"],
        "input": None,
        "output": None,
        "total": None,
        "requests": None,
        "first": r["first"],
        "source": source,
    }


def _bucket(engine: Engine, day: ir.DateValue, query: SelfHostedQuery) -> ir.Value:
    import ibis

    if query.granularity is None:
        return ibis.null("date")
    return engine.bucket(day, query.granularity)


def _usage_tokens(engine: Engine, dim: Dimension, query: SelfHostedQuery) -> ir.Table:
    from aifinops.analysis.llm_costs import _usage_rows, input_tokens

    u = _usage_rows(engine, query.window)
    providers = {p.lower() for p in (*SELF_HOSTED_PROVIDERS, *query.providers)}
    u = u.filter(u.provider.lower().isin(sorted(providers)))
    column = "model" if query.key == "model" else None
    value = label_dimension(u, label_keys(engine, "llm_usage"), dim, column=column)
    day = u.start_time.date()
    u = u.mutate(period=_bucket(engine, day, query), value=value, _day=day)
    u = u.filter(u.value.notnull())
    return u.group_by(["period", "value"]).aggregate(
        input=input_tokens(u).sum(),
        output=u.output_tokens.fill_null(0).sum(),
        requests=u.requests.sum(),
        first=u._day.min(),
    )


def _metric_tokens(engine: Engine, dim: Dimension, query: SelfHostedQuery) -> ir.Table:
    from aifinops.analysis.common import within_dates

    b = within_dates(engine.table("business_metrics"), "period_start", query.window)
    b = b.mutate(metric=b.metric.strip().lower())
    b = b.filter(b.metric.isin([*TOKEN_METRICS, "requests"]))
    value = label_dimension(b, label_keys(engine, "business_metrics"), dim)
    b = b.mutate(period=_bucket(engine, b.period_start, query), _label=value)
    b = b.filter(b._label.notnull())
    return b.group_by(["period", b._label.name("value"), "metric"]).aggregate(
        amount=b.value.sum(), first=b.period_start.min()
    )


# -- GPU cost of the deployments -------------------------------------------------------------


def _gpu_cost(engine: Engine, query: SelfHostedQuery, values: list[str]) -> ir.Table:
    parts = gpu_machine_parts(engine, query.window)
    parts = parts.filter(parts[query.key].isin(values))
    jobs = engine.table("jobs")
    kind = jobs.kind.strip().lower()
    other = jobs.filter(kind.notnull(), ~kind.isin(list(SERVING_KINDS)))
    parts = parts.anti_join(other, parts.job == other.job_id)
    day = parts.charge_date
    keyed = parts.mutate(period=_bucket(engine, day, query), value=parts[query.key])
    return keyed.group_by(["period", "value", CURRENCY]).aggregate(
        cost=keyed[query.metric.column].sum(),
        gpu_hours=keyed.part_gpu_hours.sum(),
        machines=keyed.machine.nunique(),
    )


def _joined(
    tokens: dict[tuple[Any, str], dict[str, Any]], costs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Self-hosted rows: tokens with the GPU cost of the same period and value (one row per
    currency; cost NULL and said so where none was allocated)."""
    by_key: dict[tuple[Any, str], list[dict[str, Any]]] = {}
    for c in costs:
        by_key.setdefault((c["period"], c["value"]), []).append(c)
    rows = []
    for key in sorted(tokens, key=lambda k: (k[0] or date.min, k[1])):
        t = tokens[key]
        for c in by_key.get(key) or [
            {CURRENCY: None, "cost": None, "gpu_hours": None, "machines": 0}
        ]:
            basis = (
                f"GPU cost of {c['machines']} machine(s), {c['gpu_hours']:,.0f} GPU-hours billed"
                if c["cost"] is not None
                else "no GPU machine cost is allocated to it (tag the serving machines or add "
                "an [allocation] rule)"
            )
            rows.append(
                {
                    **t,
                    CURRENCY: c[CURRENCY],
                    "cost": c["cost"],
                    "priced_as": SELF,
                    "basis": f"{basis}; tokens from {t['source']}",
                }
            )
    return rows


# -- API models at list price ----------------------------------------------------------------


def _api_row(own: dict[str, Any], offer: Comparable, catalog: Catalog) -> dict[str, Any]:
    first = own["period"] or own["first"]
    when = datetime(first.year, first.month, first.day, tzinfo=UTC)
    price = catalog.price(offer.provider, offer.model, when)
    row = {
        **own,
        "priced_as": f"{offer.name} list price",
        "cost": None,
        "input_rate": None,
        "output_rate": None,
    }
    if price is None:
        return row | {"basis": f"{offer.why}; genai-prices has no price for it"}
    rates = price.list
    row |= {"input_rate": rates.input, "output_rate": rates.output, "basis": offer.why}
    if own[CURRENCY] is not None and rates.currency != own[CURRENCY]:
        return row | {"basis": f"{offer.why}; priced in {rates.currency}, not {own[CURRENCY]}"}
    if own["input"] is not None and own["output"] is not None:
        million = Decimal(1_000_000)
        cost = (own["input"] * rates.input + own["output"] * rates.output) / million
        row |= {"cost": cost, CURRENCY: rates.currency}
    return row


def _table(rows: list[dict[str, Any]], query: SelfHostedQuery) -> pa.Table:
    import pyarrow as pa

    own_cost: dict[tuple[Any, str, Any], Decimal | None] = {
        (r["period"], r["value"], r[CURRENCY]): r["cost"] for r in rows if r["priced_as"] == SELF
    }
    columns: dict[str, list[Any]] = {}
    for r in rows:
        own = own_cost.get((r["period"], r["value"], r[CURRENCY]))
        values = {
            **({PERIOD: r["period"]} if query.granularity is not None else {}),
            query.key: r["value"],
            CURRENCY: r[CURRENCY],
            "priced_as": r["priced_as"],
            "input_tokens": r["input"],
            "output_tokens": r["output"],
            "total_tokens": r["total"],
            "requests": r["requests"],
            "cost": r["cost"],
            "cost_per_1m_tokens": exact_ratio(r["cost"], r["total"], 6, 1_000_000),
            "cost_per_request": exact_ratio(r["cost"], r["requests"], 8),
            "vs_self_hosted": None if r["priced_as"] == SELF else exact_ratio(r["cost"], own, 4),
            "input_price_per_1m": exact_ratio(r.get("input_rate"), 1, 6),
            "output_price_per_1m": exact_ratio(r.get("output_rate"), 1, 6),
            "basis": r["basis"],
        }
        for name, value in values.items():
            columns.setdefault(name, []).append(value)
    types = {PERIOD: pa.date32(), "cost": pa.decimal128(38, 18)}
    types |= {name: pa.decimal128(38, places) for name, places in PLACES.items()}
    types |= dict.fromkeys(
        ("input_tokens", "output_tokens", "total_tokens", "requests"), pa.int64()
    )
    if not rows:
        names = [PERIOD] if query.granularity is not None else []
        names += [
            query.key,
            CURRENCY,
            "priced_as",
            "input_tokens",
            "output_tokens",
            "total_tokens",
            "requests",
            "cost",
            "cost_per_1m_tokens",
            "cost_per_request",
            "vs_self_hosted",
            "input_price_per_1m",
            "output_price_per_1m",
            "basis",
        ]
        columns = {n: [] for n in names}
    return pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in columns.items()})
