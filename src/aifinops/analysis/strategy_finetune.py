"""Fine-tune vs API: the monthly request volume above which a fine-tuned, self-hosted model costs
less than an API model at its list price (arithmetic in :mod:`aifinops.model.strategy`).

Self-hosted = the training cost spread over the horizon's months + serving replicas running every
hour (a replica more for each ``requests_per_hour x 730 / peak_factor`` requests a month). API =
the request's uncached input, cached input and output tokens at the model's genai-prices rates
(list rates; ``negotiated``: the workspace's ``[prices]`` discounts and overrides). Inputs come
from the options, else the workspace (a job's cost from its machine's bills, the request shape and
volume of the same model in ``llm_usage``), else the catalogs; each is listed with its source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from aifinops.analysis import strategy_data as data
from aifinops.analysis.strategy import (
    Assumptions,
    StrategyResult,
    amount,
    money_text,
    num,
    to_table,
)
from aifinops.errors import QueryError
from aifinops.model import strategy as m
from aifinops.model.gpu_prices import CURRENCY
from aifinops.model.prices import (
    Catalog,
    ModelOverride,
    Price,
    PriceRules,
    Rates,
    canonical_provider,
)
from aifinops.model.timewindow import Window

if TYPE_CHECKING:
    import pyarrow as pa

    from aifinops.config import PricesSection
    from aifinops.engine import Engine

DEFAULT_MONTHS = Decimal(12)


@dataclass(frozen=True)
class TrainingInput:
    """The training: a cost, GPU-hours x a price per GPU-hour, or jobs from the ``jobs`` table."""

    cost: Decimal | None = None
    gpu_hours: Decimal | None = None
    gpu_price: Decimal | None = None
    jobs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServingInput:
    """Serving replicas: GPUs each, price per GPU-hour (or a GPU model priced from the catalog),
    capacity (output tokens per second or requests per hour, per replica)."""

    gpu: str | None = None
    gpus: int = 1
    gpu_price: Decimal | None = None
    tokens_per_second: Decimal | None = None
    requests_per_hour: Decimal | None = None
    min_replicas: int = 1
    peak_factor: Decimal = Decimal(1)
    cloud: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class ApiInput:
    """The API model (``provider/model``) and the request shape (unset: observed in
    ``llm_usage`` for the same model)."""

    model: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    batch: bool = False
    negotiated: bool = False

    @property
    def provider_model(self) -> tuple[str, str]:
        provider, _, name = self.model.strip().partition("/")
        if not provider or not name:
            raise QueryError(
                f"--api-model {self.model!r} needs a provider",
                where="--api-model",
                hint="write provider/model, e.g. openai/gpt-4.1 or anthropic/claude-sonnet-4-5",
            )
        return provider, name


@dataclass(frozen=True)
class FineTuneVsApiQuery:
    training: TrainingInput
    serving: ServingInput
    api: ApiInput
    months: Decimal = DEFAULT_MONTHS
    volumes: tuple[int, ...] = ()
    window: Window = field(default_factory=Window)


def finetune_vs_api(
    engine: Engine, prices: PricesSection, query: FineTuneVsApiQuery, *, when: datetime
) -> StrategyResult:
    """Self-hosted (training + serving) against the API over a range of monthly volumes."""
    notes = Assumptions()
    catalog = Catalog(_rules(prices))
    provider, model = query.api.provider_model
    _price(catalog, query.api, when, 0)  # a model nobody prices stops here
    seen = data.observed_requests(engine, query.window, _same_model(catalog, provider, model, when))
    shape = _shape(query.api, seen, notes)
    rates, currency = _api_rates(catalog, query.api, shape, when, notes)
    per_request = m.api_cost_per_request(rates, shape)
    notes.add("API cost per request", money_text(per_request, 8, currency), "tokens x rates")
    training = _training(engine, query.training, currency, notes)
    default = query.months == DEFAULT_MONTHS
    notes.add("horizon", f"{query.months} months", f"default {DEFAULT_MONTHS}" if default
              else "--months")  # fmt: skip
    serving = _serving(query.serving, shape, currency, notes)
    case = m.FineTuneCase(training, m.fraction(query.months), serving, per_request)
    notes.add("training a month", money_text(case.training_monthly, 2, currency),
              "training cost / horizon months")  # fmt: skip
    fixed = serving.min_replicas * serving.replica_monthly
    notes.add("serving a month, fixed", money_text(fixed, 2, currency),
              "minimum replicas x GPUs per replica x price per GPU-hour x 730 hours")  # fmt: skip
    found = m.volume_break_even(case)
    now = round(seen.per_month) if seen is not None else None
    marks = _marks(case, found, now)
    volumes = list(query.volumes) or _default_volumes(case, found, marks)
    table = _volume_table(case, volumes, marks, currency)
    verdict = tuple(_verdict(case, found, now, currency))
    title = f"self-hosted against {query.api.model}, {currency} a month"
    return StrategyResult(table, notes.table(), verdict, title)


def _rules(prices: PricesSection) -> PriceRules:
    models = {
        key: ModelOverride(**{k: v for k, v in spec.model_dump().items() if v is not None})
        for key, spec in prices.models.items()
    }
    return PriceRules(discounts=dict(prices.discounts), models=models)


def _same_model(catalog: Catalog, provider: str, model: str, when: datetime) -> Any:
    """A test: is ``(p, name)`` of ``llm_usage`` the API model (same name, or the same catalog
    entry, e.g. a dated snapshot of it)?"""
    wanted = catalog.price(provider, model, when)
    canonical = canonical_provider(provider)

    def same(p: str, name: str | None) -> bool:
        if name is None or canonical_provider(p) != canonical:
            return False
        if name.lower() == model.lower():
            return True
        found = catalog.price(p, name, when)
        return wanted is not None and found is not None and found.source == wanted.source

    return same


def _shape(api: ApiInput, seen: data.ObservedRequests | None, notes: Assumptions) -> m.RequestShape:
    label = (
        f"observed: average of {seen.requests:,} requests of {', '.join(seen.models)}"
        if seen
        else ""
    )
    values: dict[str, int] = {}
    for name, flag in (("input_tokens", "--input-tokens"), ("cached_tokens", "--cached-tokens"),
                       ("output_tokens", "--output-tokens")):  # fmt: skip
        given = getattr(api, name)
        if given is not None:
            values[name], origin = given, flag
        elif seen is not None:
            values[name], origin = round(getattr(seen, name)), label
        elif name == "cached_tokens":
            values[name], origin = 0, "none stated (all input uncached)"
        else:
            raise QueryError(
                f"no request shape: {flag} not given and no usage of {api.model} in llm_usage",
                where=flag,
                hint="give --input-tokens and --output-tokens per request",
            )
        notes.add(name.replace("_", " ") + " per request", values[name], origin)
    if seen is not None:
        notes.add("requests per month now", num(seen.per_month, 0),
                  f"observed: {seen.first} to {seen.last}")  # fmt: skip
    return m.RequestShape(**values)


def _api_rates(
    catalog: Catalog, api: ApiInput, shape: m.RequestShape, when: datetime, notes: Assumptions
) -> tuple[Rates, str]:
    price = _price(catalog, api, when, shape.input_tokens)
    rates = price.billed if api.negotiated else price.list
    kind = "rates after [prices]" if api.negotiated else "list rates"
    batch = ", batch" if api.batch else ""
    source = f"{price.source} ({kind}{batch}, {when:%Y-%m-%d})"
    for token in ("input", "cache_read", "output"):
        value = f"{getattr(rates, token)} {rates.currency}"
        notes.add(f"API {token.replace('_', ' ')} per 1M tokens", value, source)
    return rates, rates.currency


def _price(catalog: Catalog, api: ApiInput, when: datetime, prompt_tokens: int) -> Price:
    provider, model = api.provider_model
    price = catalog.price(provider, model, when, batch=api.batch, prompt_tokens=prompt_tokens)
    if price is None:
        raise QueryError(
            f"no price for {api.model} in genai-prices",
            where="--api-model",
            hint=f'check the name, or price it under [prices.models."{api.model}"] in '
            "aifinops.toml and pass --negotiated",
        )
    return price


def _training(engine: Engine, given: TrainingInput, currency: str, notes: Assumptions) -> Fraction:
    ways = [given.cost is not None, given.gpu_hours is not None or given.gpu_price is not None,
            bool(given.jobs)]  # fmt: skip
    if sum(ways) != 1:
        raise QueryError(
            "give the training cost one way: --training-cost, --training-gpu-hours with "
            "--training-gpu-price, or --training-job",
            hint="--training-cost 0 for a model already trained",
        )
    if given.cost is not None:
        notes.add("training cost", f"{given.cost} {currency}", "--training-cost")
        return m.fraction(given.cost)
    if given.jobs:
        return _job_training(engine, given.jobs, currency, notes)
    if given.gpu_hours is None or given.gpu_price is None:
        raise QueryError("--training-gpu-hours and --training-gpu-price go together")
    cost = m.fraction(given.gpu_hours) * m.fraction(given.gpu_price)
    source = f"--training-gpu-hours {given.gpu_hours} x --training-gpu-price {given.gpu_price}"
    notes.add("training cost", money_text(cost, 2, currency), source)
    return cost


def _job_training(
    engine: Engine, refs: tuple[str, ...], currency: str, notes: Assumptions
) -> Fraction:
    total = Fraction(0)
    for job in data.job_costs(engine, refs):
        if job.currency != currency:
            raise QueryError(
                f"job {job.job_id} was billed in {job.currency}, the API is priced in {currency}",
                hint="give --training-cost in the API's currency",
            )
        notes.add(
            f"training job {job.job_id}",
            money_text(job.cost, 2, currency),
            f"estimate: {num(job.gpu_hours, 2)} GPU-hours x {num(job.rate, 6)} per GPU-hour "
            f"(machine {job.machine}'s effective cost per GPU-hour while {job.name or 'it'} ran)",
        )
        total += job.cost
    notes.add("training cost", money_text(total, 2, currency), "the jobs above")
    return total


def _serving(
    given: ServingInput, shape: m.RequestShape, currency: str, notes: Assumptions
) -> m.ServingPlan:
    price, source = _serving_price(given, currency)
    notes.add("serving GPUs per replica", given.gpus, "--serving-gpus")
    notes.add("serving price per GPU-hour", money_text(price, 6, currency), source)
    if (given.tokens_per_second is None) == (given.requests_per_hour is None):
        raise QueryError(
            "give the serving capacity one way: --tokens-per-second or --requests-per-hour",
            hint="the throughput one replica sustains (output tokens per second, or requests)",
        )
    if given.requests_per_hour is not None:
        capacity = m.fraction(given.requests_per_hour)
        notes.add("requests per hour per replica", given.requests_per_hour, "--requests-per-hour")
    else:
        if shape.output_tokens == 0:
            raise QueryError("--tokens-per-second needs requests with output tokens")
        capacity = m.fraction(given.tokens_per_second or 0) * 3600 / shape.output_tokens
        source = f"--tokens-per-second {given.tokens_per_second} x 3600 / output tokens"
        notes.add("requests per hour per replica", num(capacity, 2), source)
    notes.add("minimum replicas", given.min_replicas, "--min-replicas")
    notes.add("peak factor", given.peak_factor, "--peak-factor (busiest hour / average hour)")
    return m.ServingPlan(given.gpus, price, capacity, given.min_replicas,
                         m.fraction(given.peak_factor))  # fmt: skip


def _serving_price(given: ServingInput, currency: str) -> tuple[Fraction, str]:
    if given.gpu_price is not None:
        return m.fraction(given.gpu_price), "--serving-gpu-price"
    if given.gpu is None:
        raise QueryError(
            "no serving price",
            hint="give --serving-gpu MODEL (priced from the catalog) or --serving-gpu-price",
        )
    rows = data.catalog_rows(given.gpu, given.cloud, given.region, None)
    best = data.cheapest(rows, "on_demand") if currency == CURRENCY else None
    if best is None:
        raise QueryError(
            f"no on-demand {currency} price for {given.gpu} in the catalog",
            where="--serving-gpu",
            hint=f"give --serving-gpu-price (the catalog knows {', '.join(data.known_models())})",
        )
    return best


def _marks(case: m.FineTuneCase, found: m.VolumeBreakEven, now: int | None) -> dict[int, str]:
    """Volumes worth a row, with what they are: break-evens, the volume now, the first capacity
    step (the last volume the minimum replicas serve, and the next one, which needs another)."""
    serving = case.serving
    full = math.floor(serving.min_replicas * serving.requests_per_replica_month)
    marks: dict[int, list[str]] = {}
    labelled = [
        (found.first.whole() if found.first else None, "break-even"),
        (found.stays_from.whole() if found.stays_from else None, "cheaper from here on"),
        (now, "your volume now"),
        (full, f"{serving.min_replicas} replica(s) full"),
        (full + 1, f"{serving.replicas(Fraction(full + 1))} replicas"),
    ]
    for volume, label in labelled:
        if volume is not None and volume >= 1:
            marks.setdefault(volume, []).append(label)
    return {v: "; ".join(labels) for v, labels in marks.items()}


def _default_volumes(
    case: m.FineTuneCase, found: m.VolumeBreakEven, marks: dict[int, str]
) -> list[int]:
    """A 1-2-5 series around the break-even (else the minimum replicas' capacity) and the marks
    up to a hundred times it."""
    first = found.first or found.stays_from
    serving = case.serving
    reference = (
        Fraction(first.whole())
        if first
        else serving.min_replicas * serving.requests_per_replica_month
    )
    return m.volume_grid(reference, [v for v in marks if v <= reference * 100])


_HEADS = {
    "requests_per_month": "int", "replicas": "int", "serving_gpus": "int",
    "self_hosted_monthly": "money", "api_monthly": "money", "self_hosted_per_request":
    "per_request", "api_per_request": "per_request", "cheaper": "string",
    "self_hosting_saves": "money", "currency": "string", "note": "string",
}  # fmt: skip


def _volume_table(
    case: m.FineTuneCase, volumes: list[int], marks: dict[int, str], currency: str
) -> pa.Table:
    rows = []
    for volume in volumes:
        if volume < 1:
            raise QueryError(f"a volume must be at least 1 request a month, not {volume}")
        v = Fraction(volume)
        own, api = case.self_hosted_monthly(v), case.api_monthly(v)
        replicas = case.serving.replicas(v)
        rows.append({
            "requests_per_month": volume, "replicas": replicas,
            "serving_gpus": replicas * case.serving.gpus_per_replica,
            "self_hosted_monthly": own, "api_monthly": api,
            "self_hosted_per_request": own / v, "api_per_request": case.api_per_request,
            "cheaper": "self-hosted" if own < api else ("API" if api < own else "equal"),
            "self_hosting_saves": api - own, "currency": currency, "note": marks.get(volume),
        })  # fmt: skip
    return to_table(rows, _HEADS)


def _verdict(
    case: m.FineTuneCase, found: m.VolumeBreakEven, now: int | None, currency: str
) -> list[str]:
    serving = case.serving
    lines = [
        f"API: {num(case.api_per_request, 6)} {currency} per request. Self-hosted: training "
        f"{amount(case.training_monthly, currency)} a month over {num(case.horizon_months, 2)} "
        f"months + {amount(serving.replica_monthly, currency)} a month per replica of "
        f"{serving.gpus_per_replica} GPU(s), each serving up to "
        f"{math.floor(serving.requests_per_replica_month):,} requests a month.",
    ]
    if found.first is None:
        lines.append("Self-hosting never costs less than the API: " + _never(case, currency))
        return lines
    lines.append(
        f"Self-hosting costs no more than the API from {found.first.whole():,} requests a month."
    )
    if found.stays_from is None:
        full = math.floor(serving.min_replicas * serving.requests_per_replica_month)
        lines.append(
            f"It stays so only up to {full:,} requests a month, what {serving.min_replicas} "
            "replica(s) serve: each extra replica costs more a month than the API charges for "
            "the requests it adds."
        )
    elif found.stays_from.whole() != found.first.whole():
        lines.append(
            f"Above that it is cheaper only between capacity steps, and at every volume from "
            f"{found.stays_from.whole():,} requests a month."
        )
    if now is not None:
        lines.append(_now(case, now, currency))
    return lines


def _now(case: m.FineTuneCase, now: int, currency: str) -> str:
    own, api = case.self_hosted_monthly(Fraction(now)), case.api_monthly(Fraction(now))
    if own == api:
        return f"At your volume now ({now:,} requests a month) both cost the same."
    side = "self-hosting" if own < api else "the API"
    return (
        f"At your volume now ({now:,} requests a month) {side} is cheaper by "
        f"{amount(abs(api - own), currency)} a month."
    )


def _never(case: m.FineTuneCase, currency: str) -> str:
    if case.api_per_request == 0:
        return "the API costs nothing per request."
    serving = case.serving
    full = case.api_per_request * serving.requests_per_replica_month
    return (
        f"the requests a full replica serves cost {amount(full, currency)} a month on the API, "
        f"no more than the replica itself ({amount(serving.replica_monthly, currency)}), before "
        "any training cost."
    )
