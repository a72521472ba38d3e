"""LLM savings: prompt caching, routing a share of traffic to a smaller model, batch APIs.

All three read ``llm_usage`` rows of ``record_type = 'usage'`` whose ``start_time`` is in the
window (LiteLLM cache hits, which cost nothing, are left out) and make one recommendation per
provider, model and the ``[recommend_llm] group_by`` dimensions (team, project, feature ...).
Savings over the window are scaled to 30 days (``RecommendContext.monthly``). The three are
alternatives for the same traffic: their savings do not add up.

``llm-caching``
    Only requests whose labels carry a hash of the prompt prefix (``prefix_hash_labels``) are
    looked at: repetition is never assumed. A request is a would-be cache read when an earlier
    request of the same provider, model and prefix hash came at most ``cache_ttl_minutes``
    before it; the others would write the cache. The prefix's length is the
    ``prefix_tokens_label`` label where present, else the shortest prompt sharing the hash (an
    upper bound: confidence low), never more than the request's own prompt; prefixes under
    ``min_cache_tokens`` are not cacheable. Tokens already read from or written to a cache are
    not counted again. Saving = read tokens x (input - cache read price) - written tokens x
    (cache write - input price), priced with the catalog and ``[prices]`` on the request's day.
``llm-routing``
    A model with a smaller sibling in ``model/data/llm_routing_pairs.csv`` (same provider and
    family): ``routing_share_percent`` of its traffic, the same tokens by kind, priced at list
    prices on both sides (the row's ``list_cost``; the smaller model's catalog list price on
    the same day). Confidence is low: answer quality on the smaller model is not measured.
``llm-batch``
    Traffic matching a ``batch_selectors`` entry (``label:env=staging``, ``label:feature=eval*``,
    ``project_id=*eval*`` ...), not sent in batch or flex already, on a provider with a batch API
    discount (``model/data/llm_batch_discounts.csv``): saving = discount x cost. Confidence is
    medium for a label that says so, low for a match on a project or key name.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aifinops.analysis.llm_costs import dimension
from aifinops.analysis.recommend import Confidence, Recommendation, RecommendContext
from aifinops.errors import ConfigError
from aifinops.model.llm_savings import (
    BatchDiscount,
    LlmRecommendSettings,
    RoutingPair,
    batch_discount,
    smaller_model,
)
from aifinops.model.prices import MILLION, Catalog, ModelOverride, PriceRules, Rates, TokenKind

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.engine import Engine

_INPUTS = (
    "uncached_input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
)
_KINDS = {
    "uncached_input_tokens": TokenKind.INPUT,
    "cache_read_tokens": TokenKind.CACHE_READ,
    "cache_write_5m_tokens": TokenKind.CACHE_WRITE_5M,
    "cache_write_1h_tokens": TokenKind.CACHE_WRITE_1H,
    "other_output_tokens": TokenKind.OUTPUT,
    "reasoning_tokens": TokenKind.REASONING,
}
_CACHE_HIT = "litellm_cache_hit"
_SKIP_TIERS = ("batch", "flex")  # already priced at (about) the batch discount


# -- shared --------------------------------------------------------------------------------------


def settings_of(ctx: RecommendContext) -> LlmRecommendSettings:
    return ctx.settings.recommend_llm if ctx.settings is not None else LlmRecommendSettings()


def catalog_of(ctx: RecommendContext) -> Catalog:
    """The price catalog with the workspace's ``[prices]`` rules."""
    if ctx.settings is None:
        return Catalog()
    prices = ctx.settings.prices
    models = {
        key: ModelOverride(**{k: v for k, v in spec.model_dump().items() if v is not None})
        for key, spec in prices.models.items()
    }
    return Catalog(PriceRules(discounts=dict(prices.discounts), models=models))


def usage_rows(engine: Engine, ctx: RecommendContext) -> ir.Table:
    """Priced usage rows in the window, LiteLLM cache hits left out."""
    import ibis

    usage = engine.table("llm_usage")
    window = ctx.window
    usage = usage.filter(
        usage.record_type == "usage",
        usage.labels_map.get(_CACHE_HIT).fill_null("false") != "true",
    )
    if window.start is not None:
        start = ibis.timestamp(window.start.isoformat(), timezone="UTC")
        usage = usage.filter(usage.start_time >= start)
    if window.end is not None:
        usage = usage.filter(
            usage.start_time < ibis.timestamp(window.end.isoformat(), timezone="UTC")
        )
    return usage


def owner_keys(usage: ir.Table, specs: Sequence[str]) -> dict[str, ir.Value]:
    """The grouping dimensions (``[recommend_llm] group_by``), as named columns."""
    try:
        return {spec: dimension(usage, spec) for spec in specs}
    except Exception as exc:
        raise ConfigError(
            f"[recommend_llm] group_by: {exc}", hint="see docs/recommendations.md"
        ) from None


def target(row: dict[str, Any], specs: Sequence[str]) -> str:
    """``provider/model (team=search, project_id=p1)`` for a result row."""
    owners = [f"{spec.removeprefix('label:')}={row[spec]}" for spec in specs if row[spec]]
    name = f"{row['provider']}/{row['model']}"
    return f"{name} ({', '.join(owners)})" if owners else name


def team_of(row: dict[str, Any]) -> str | None:
    value = row.get("label:team")
    return str(value) if value else None


def _day(value: date) -> datetime:
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _rate(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _by_group(
    rows: Iterable[dict[str, Any]], keys: Sequence[str]
) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    out: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        out[tuple(row[k] for k in keys)].append(row)
    return out


def _rows(engine: Engine, expr: ir.Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = engine.execute(expr).to_pylist()
    return rows


# -- llm-caching ---------------------------------------------------------------------------------


def caching(engine: Engine, ctx: RecommendContext) -> list[Recommendation]:
    """Prompt caching for repeated prompt prefixes, where the data has prefix hashes."""
    s = settings_of(ctx)
    requests = _cache_requests(engine, ctx, s)
    if requests is None:
        return []
    keys = owner_keys(requests, s.group_by)
    group = [*keys, "provider", "model", "currency"]
    daily = requests.mutate(**keys, day=requests.start_time.date())
    by_day = daily.group_by([*group, "day", "batch", "service_tier"]).aggregate(
        read_tokens=daily["_read"].sum(), write_tokens=daily["_write"].sum()
    )
    counts = daily.group_by(group).aggregate(
        requests=daily.count(),
        cacheable=daily["_eligible"].sum(),
        hits=daily["_hit"].sum(),
        prefixes=daily["_hash"].nunique(),
        measured=daily["_measured"].sum(),
        read_total=daily["_read"].sum(),
    )
    catalog = catalog_of(ctx)
    found = []
    days = _by_group(_rows(engine, by_day), group)
    for row in _rows(engine, counts):
        priced = _price_caching(catalog, days.get(tuple(row[k] for k in group), []))
        if priced is not None and ctx.monthly(priced[0]) > 0:
            saving, rates, premium = priced
            found.append(
                _caching_recommendation(ctx, s, row, saving=saving, rates=rates, premium=premium)
            )
    return found


def _cache_requests(
    engine: Engine, ctx: RecommendContext, s: LlmRecommendSettings
) -> ir.Table | None:
    """One row per request that has a prefix hash: whether it would read the cache (``_hit``),
    the tokens it would read (``_read``) or write (``_write``) beyond what it already caches."""
    import ibis

    if not s.prefix_hash_labels:
        return None
    usage = usage_rows(engine, ctx)
    usage = usage.filter(usage.requests == 1)
    hashes = [usage.labels_map.get(k).nullif("") for k in s.prefix_hash_labels]
    usage = usage.mutate(_hash=hashes[0] if len(hashes) == 1 else ibis.coalesce(*hashes))
    usage = usage.filter(usage["_hash"].notnull())
    prompt = sum((usage[c].fill_null(0) for c in _INPUTS), ibis.literal(0))
    labelled = usage.labels_map.get(s.prefix_tokens_label).try_cast("int64")
    usage = usage.mutate(_prompt=prompt, _labelled=labelled)
    key = [usage.provider, usage.model, usage["_hash"]]
    shortest = usage["_prompt"].min().over(ibis.window(group_by=key))
    previous = usage.start_time.lag().over(
        ibis.window(group_by=key, order_by=[usage.start_time, usage.request_id])
    )
    prefix = ibis.least(ibis.coalesce(usage["_labelled"], shortest), usage["_prompt"])
    cached = usage.cache_read_tokens.fill_null(0) + usage.cache_write_5m_tokens.fill_null(0)
    cached = cached + usage.cache_write_1h_tokens.fill_null(0)
    new = ibis.least(ibis.greatest(prefix - cached, 0), usage.uncached_input_tokens.fill_null(0))
    eligible = prefix >= s.min_cache_tokens
    hit = previous.notnull() & (
        usage.start_time <= previous + ibis.interval(minutes=s.cache_ttl_minutes)
    )
    return usage.mutate(
        _eligible=eligible.cast("int64"),
        _hit=(eligible & hit).cast("int64"),
        _read=ibis.ifelse(eligible & hit, new, 0),
        _write=ibis.ifelse(eligible & ~hit, new, 0),
        _measured=(eligible & usage["_labelled"].notnull()).cast("int64"),
    )


def _price_caching(
    catalog: Catalog, days: list[dict[str, Any]]
) -> tuple[Decimal, Rates, Decimal] | None:
    """(saving over the window, the rates of the last day, the write premium paid) or None
    when a day has no price."""
    saving = premium = Decimal(0)
    rates = None
    for day in days:
        price = catalog.price(
            day["provider"],
            day["model"],
            _day(day["day"]),
            batch=bool(day["batch"]),
            service_tier=day["service_tier"],
        )
        if price is None:
            return None
        rates = price.billed
        read, write = Decimal(day["read_tokens"] or 0), Decimal(day["write_tokens"] or 0)
        cost = write * (rates.cache_write_5m - rates.input) / MILLION
        saving += read * (rates.input - rates.cache_read) / MILLION - cost
        premium += cost
    return None if rates is None else (saving, rates, premium)


def _caching_recommendation(
    ctx: RecommendContext,
    s: LlmRecommendSettings,
    row: dict[str, Any],
    *,
    saving: Decimal,
    rates: Rates,
    premium: Decimal,
) -> Recommendation:
    measured = row["measured"] == row["cacheable"]
    length = (
        f"prefix lengths from the {s.prefix_tokens_label} label"
        if measured
        else "prefix length taken as the shortest prompt sharing the hash (an upper bound)"
    )
    evidence = (
        f"{row['requests']:,} requests with a prompt prefix hash share {row['prefixes']:,} "
        f"prefixes; {row['hits']:,} came within {s.cache_ttl_minutes} min of an earlier request "
        f"with the same prefix of {s.min_cache_tokens:,}+ tokens: {row['read_total']:,} input "
        f"tokens would be cache reads at {_rate(rates.cache_read)} instead of "
        f"{_rate(rates.input)} {rates.currency} per 1M; cache writes cost {_money(premium)} more "
        f"({_rate(rates.cache_write_5m)} per 1M); {length}; saving over {ctx.window}: "
        f"{_money(saving)} {row['currency']}"
    )
    return Recommendation(
        kind="llm-caching",
        target=target(row, s.group_by),
        action=f"Cache the shared prompt prefix for {row['provider']}/{row['model']}: keep the "
        "fixed part (system prompt, tools, examples) first and identical, and mark it cacheable "
        "where the provider asks for it",
        monthly_saving=ctx.monthly(saving),
        currency=row["currency"],
        confidence=Confidence.MEDIUM if measured else Confidence.LOW,
        evidence=evidence,
        team=team_of(row),
        details={
            "requests": row["requests"],
            "prefixes": row["prefixes"],
            "cache_hits": row["hits"],
            "cache_read_tokens": row["read_total"],
            "write_premium": str(premium),
            "window_saving": str(saving),
            "prefix_length_measured": measured,
        },
    )


# -- llm-routing ---------------------------------------------------------------------------------


def routing(engine: Engine, ctx: RecommendContext) -> list[Recommendation]:
    """A share of a model's traffic on the smaller model of its family, at list prices."""
    s = settings_of(ctx)
    usage = usage_rows(engine, ctx)
    keys = owner_keys(usage, s.group_by)
    group = [*keys, "provider", "model", "currency"]
    keyed = usage.mutate(**keys, day=usage.start_time.date())
    daily = keyed.group_by([*group, "day", "batch", "service_tier"]).aggregate(
        requests=keyed.requests.sum(),
        list_cost=keyed.list_cost.sum(),
        **{c: keyed[c].fill_null(0).sum() for c in (*_INPUTS, "reasoning_tokens")},
        other_output_tokens=(
            keyed.output_tokens.fill_null(0) - keyed.reasoning_tokens.fill_null(0)
        ).sum(),
    )
    catalog = catalog_of(ctx)
    share = Decimal(s.routing_share_percent) / 100
    found = []
    for rows in _by_group(_rows(engine, daily), group).values():
        first = rows[0]
        model_id = catalog.model_id(first["provider"], first["model"] or "")
        pair = smaller_model(model_id) if model_id else None
        if pair is None:
            continue
        repriced = _reprice(catalog, pair.provider, pair.smaller_model, rows)
        if repriced is None:
            continue
        now = sum((r["list_cost"] or Decimal(0) for r in rows), Decimal(0))
        saving = share * (now - repriced)
        if ctx.monthly(saving) > 0:
            found.append(
                _routing_recommendation(
                    ctx, s, first, rows=rows, pair=pair, now=now, repriced=repriced, saving=saving
                )
            )
    return found


def _reprice(
    catalog: Catalog, provider: str, model: str, rows: list[dict[str, Any]]
) -> Decimal | None:
    """The rows' tokens at ``provider/model``'s list prices on each row's day (None when a day
    has no price or another currency)."""
    total = Decimal(0)
    for row in rows:
        price = catalog.price(
            provider,
            model,
            _day(row["day"]),
            batch=bool(row["batch"]),
            service_tier=row["service_tier"],
        )
        if price is None or price.list.currency != row["currency"]:
            return None
        total += (
            sum(
                (Decimal(row[c]) * price.list.per_million(k) for c, k in _KINDS.items()), Decimal(0)
            )
            / MILLION
        )
    return total


def _routing_recommendation(
    ctx: RecommendContext,
    s: LlmRecommendSettings,
    row: dict[str, Any],
    *,
    rows: list[dict[str, Any]],
    pair: RoutingPair,
    now: Decimal,
    repriced: Decimal,
    saving: Decimal,
) -> Recommendation:
    smaller = f"{pair.provider}/{pair.smaller_model}"
    requests = sum(r["requests"] or 0 for r in rows)
    evidence = (
        f"{_money(now)} {row['currency']} at list prices over {ctx.window}"
        + (f" ({requests:,} requests)" if requests else "")
        + f"; the same tokens on {smaller} ({pair.reason}) would cost {_money(repriced)}; "
        f"moving {s.routing_share_percent}% of the traffic saves {_money(saving)}. Answer "
        "quality on the smaller model is not measured: try it on a sample first"
    )
    return Recommendation(
        kind="llm-routing",
        target=target(row, s.group_by),
        action=f"Route {s.routing_share_percent}% of {row['provider']}/{row['model']} traffic "
        f"(the simpler requests) to {smaller}",
        monthly_saving=ctx.monthly(saving),
        currency=row["currency"],
        confidence=Confidence.LOW,
        evidence=evidence,
        team=team_of(row),
        details={
            "smaller_model": smaller,
            "share_percent": s.routing_share_percent,
            "list_cost": str(now),
            "list_cost_on_smaller": str(repriced),
            "window_saving": str(saving),
        },
    )


# -- llm-batch -----------------------------------------------------------------------------------


def batch(engine: Engine, ctx: RecommendContext) -> list[Recommendation]:
    """Traffic that can wait, on providers whose batch API costs less."""
    import ibis

    s = settings_of(ctx)
    usage = usage_rows(engine, ctx)
    tier = usage.service_tier.fill_null("").lower()
    usage = usage.filter(~usage.batch.fill_null(False), ~tier.isin(_SKIP_TIERS))
    selectors = [_selector(usage, text) for text in s.batch_selectors]
    if not selectors:
        return []
    matched = ibis.cases(*[(cond, text) for text, cond in selectors], else_=None)
    keys = owner_keys(usage, s.group_by)
    keyed = usage.mutate(**keys, _matched=matched)
    keyed = keyed.filter(keyed["_matched"].notnull())
    group = [*keys, "provider", "model", "currency", "_matched"]
    totals = keyed.group_by(group).aggregate(
        cost=keyed.cost.sum(), requests=keyed.requests.sum(), rows=keyed.count()
    )
    found = []
    for row in _rows(engine, totals):
        discount = batch_discount(row["provider"])
        if discount is None or row["cost"] is None:
            continue
        saving = discount.fraction * row["cost"]
        if ctx.monthly(saving) > 0:
            found.append(_batch_recommendation(ctx, s, row, discount, saving))
    return found


def _selector(usage: ir.Table, text: str) -> tuple[str, ir.BooleanValue]:
    """``DIMENSION=GLOB`` as a condition on the rows (case-insensitive)."""
    spec, sep, glob = text.partition("=")
    if not sep or not spec.strip() or not glob.strip():
        raise ConfigError(
            f"[recommend_llm] batch_selectors: {text!r} is not DIMENSION=GLOB",
            hint='e.g. "label:env=staging" or "project_id=*eval*"',
        )
    value = owner_keys(usage, [spec.strip()])[spec.strip()].cast("string").lower()
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob.strip().lower())
    return text, value.re_search("^" + "".join(parts) + "$").fill_null(False)


def _batch_recommendation(
    ctx: RecommendContext,
    s: LlmRecommendSettings,
    row: dict[str, Any],
    discount: BatchDiscount,
    saving: Decimal,
) -> Recommendation:
    selector = row["_matched"]
    by_label = selector.startswith("label:")
    requests = f" in {row['requests']:,} requests" if row["requests"] else ""
    evidence = (
        f"{_money(row['cost'])} {row['currency']}{requests} over {ctx.window} matches "
        f"{selector} (traffic that can wait) and is not sent in batch; the {discount.provider} "
        f"batch API costs {discount.percent}% less ({discount.url}); saving "
        f"{_money(saving)}" + ("" if by_label else "; matched on a name, not a label: check it")
    )
    return Recommendation(
        kind="llm-batch",
        target=target(row, s.group_by),
        action=f"Send the {selector} traffic of {row['provider']}/{row['model']} through the "
        f"{discount.provider} batch API (results within 24 hours)",
        monthly_saving=ctx.monthly(saving),
        currency=row["currency"],
        confidence=Confidence.MEDIUM if by_label else Confidence.LOW,
        evidence=evidence,
        team=team_of(row),
        details={
            "selector": selector,
            "cost": str(row["cost"]),
            "discount_percent": str(discount.percent),
            "discount_source": f"{discount.url} ({discount.source}, {discount.as_of})",
            "window_saving": str(saving),
        },
    )
