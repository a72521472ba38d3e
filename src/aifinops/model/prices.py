"""LLM token prices: the genai-prices catalog (bundled data, offline) and ``[prices]`` overrides.

Pure: no I/O beyond the catalog's bundled package data. A :class:`Catalog` answers "what did one
million tokens of each kind cost for this provider, model, request time, batch / service tier
and prompt size" as a :class:`Price` (the rates billed and the list rates, and where they came
from), or ``None`` for a model nobody priced - never zero.

Token kinds (:class:`TokenKind`) are disjoint: uncached input, cache read, cache write for 5
minutes (or an unspecified time to live), cache write for 1 hour, output other than reasoning,
reasoning. Rates follow genai-prices' rules: a kind without a price of its own is priced as its
parent (cache read and cache write as input, 1h cache write as cache write, reasoning as output).
Tiered (prompt-length) prices take the tier of the request's whole prompt (uncached + cache read
+ cache write tokens); conditional prices take the price in force at the request time.

Precedence: a ``[prices.models]`` entry (negotiated or self-hosted per-million-token prices)
wins over the catalog; a ``[prices.discounts]`` percentage lowers the catalog's rates (the list
rates stay the catalog's). The most specific pattern wins (``provider/model`` over ``provider``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from importlib.metadata import version
from typing import Any

MILLION = Decimal(1_000_000)
_HUNDRED = Decimal(100)


class TokenKind(StrEnum):
    INPUT = "input"  # uncached input
    CACHE_READ = "cache_read"
    CACHE_WRITE_5M = "cache_write_5m"
    CACHE_WRITE_1H = "cache_write_1h"
    OUTPUT = "output"  # output other than reasoning
    REASONING = "reasoning"


@dataclass(frozen=True)
class Rates:
    """Prices per million tokens of each kind, in ``currency``."""

    input: Decimal
    cache_read: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    output: Decimal
    reasoning: Decimal
    currency: str = "USD"

    def per_million(self, kind: TokenKind) -> Decimal:
        value: Decimal = getattr(self, kind.value)
        return value

    def per_token(self, kind: TokenKind) -> Decimal:
        return self.per_million(kind) / MILLION

    def less(self, percent: Decimal) -> Rates:
        factor = (_HUNDRED - percent) / _HUNDRED
        scaled: dict[str, Any] = {k.value: self.per_million(k) * factor for k in TokenKind}
        return replace(self, **scaled)


@dataclass(frozen=True)
class Price:
    """The rates a row is priced at, the catalog (list) rates, and where they came from."""

    billed: Rates
    list: Rates
    source: str


@dataclass(frozen=True)
class ModelOverride:
    """Per-million-token prices for a model (self-hosted, or a negotiated price list)."""

    input: Decimal
    output: Decimal
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    cache_write_1h: Decimal | None = None
    reasoning: Decimal | None = None
    currency: str = "USD"

    def rates(self) -> Rates:
        cache_write = _first(self.cache_write, self.input)
        return Rates(
            input=self.input,
            cache_read=_first(self.cache_read, self.input),
            cache_write_5m=cache_write,
            cache_write_1h=_first(self.cache_write_1h, cache_write),
            output=self.output,
            reasoning=_first(self.reasoning, self.output),
            currency=self.currency,
        )


@dataclass(frozen=True)
class PriceRules:
    """The ``[prices]`` settings, as the catalog takes them.

    Keys are ``provider`` or ``provider/model`` with shell-style wildcards (``openai/gpt-4o*``).
    """

    discounts: Mapping[str, Decimal] = field(default_factory=dict)
    models: Mapping[str, ModelOverride] = field(default_factory=dict)


#: Provider names as sources report them (OTel ``gen_ai.system`` / ``gen_ai.provider.name``,
#: LiteLLM ``custom_llm_provider``) -> genai-prices provider ids.
PROVIDER_ALIASES = {
    "openai": "openai",
    "azure.ai.openai": "azure",
    "azure_openai": "azure",
    "az.ai.openai": "azure",
    "az.ai.inference": "azure",
    "anthropic": "anthropic",
    "aws.bedrock": "aws",
    "bedrock": "aws",
    "bedrock_converse": "aws",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "gemini": "google",
    "vertex_ai": "google",
    "vertex_ai_beta": "google",
    "mistral_ai": "mistral",
    "xai": "x-ai",
    "x_ai": "x-ai",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
    "cohere_chat": "cohere",
}


def catalog_version() -> str:
    return f"genai-prices {version('genai-prices')}"


def canonical_provider(provider: str) -> str:
    """The genai-prices id for a provider name a source reports (lower case when unknown)."""
    name = provider.strip().lower()
    return PROVIDER_ALIASES.get(name, name)


def most_specific(patterns: Mapping[str, Any], provider: str, model: str) -> str | None:
    """The key of ``patterns`` matching ``provider/model`` most closely: a ``provider/model``
    pattern beats a ``provider`` one, a pattern without wildcards beats one with, a longer one a
    shorter one."""
    subject = f"{provider}/{model}".lower()
    ranked = []
    for key in patterns:
        low = key.lower()
        target = subject if "/" in low else provider.lower()
        if fnmatch.fnmatchcase(target, low):
            ranked.append((("/" in low), not any(c in low for c in "*?["), len(low), key))
    return max(ranked)[3] if ranked else None


class Catalog:
    """Prices from genai-prices' bundled data with ``rules`` applied; lookups are cached."""

    def __init__(self, rules: PriceRules | None = None) -> None:
        from genai_prices.data_snapshot import get_snapshot

        self.rules = rules or PriceRules()
        self._snapshot = get_snapshot()
        self._models: dict[tuple[str, str], Any] = {}
        self._prices: dict[tuple[object, ...], Price | _Tiered | None] = {}
        self._tiered: dict[tuple[object, ...], _Tiered] = {}
        self._source = catalog_version()

    def price(
        self,
        provider: str,
        model: str,
        when: datetime,
        *,
        batch: bool = False,
        service_tier: str | None = None,
        prompt_tokens: int = 0,
    ) -> Price | None:
        """The price of ``model`` at ``when``; ``prompt_tokens`` picks a prompt-length tier."""
        key = (provider, model, when.replace(second=0, microsecond=0), batch, service_tier)
        cached: Price | _Tiered | None = self._prices.get(key, _MISSING)
        if cached is _MISSING:
            cached = self._prices[key] = self._resolve(provider, model, key[2], batch, service_tier)
        if isinstance(cached, _Tiered):
            return cached.at(prompt_tokens)
        assert cached is None or isinstance(cached, Price)
        return cached

    def model_id(self, provider: str, model: str) -> str | None:
        """The catalog's ``provider/model`` id of a model as a source names it (``gpt-4.1`` for
        ``gpt-4.1-2025-04-14``), or None for a model the catalog does not know."""
        found = self._model(canonical_provider(provider), model)
        return None if found is None else f"{found[0]}/{found[1].id}"

    def tier_starts(
        self,
        provider: str,
        model: str,
        when: datetime,
        *,
        batch: bool = False,
        service_tier: str | None = None,
    ) -> tuple[int, ...] | None:
        """The prompt sizes above which a higher price tier starts (ascending; empty when the
        price has no tiers), or ``None`` for a model nobody priced. A request of ``n`` prompt
        tokens pays tier ``sum(n > start for start in starts)``: :meth:`price` with
        ``prompt_tokens`` ``starts[tier - 1] + 1`` (0 for the base tier) gives its price."""
        key = (provider, model, when.replace(second=0, microsecond=0), batch, service_tier)
        cached: Price | _Tiered | None = self._prices.get(key, _MISSING)
        if cached is _MISSING:
            cached = self._prices[key] = self._resolve(provider, model, key[2], batch, service_tier)
        if cached is None:
            return None
        return tuple(cached._starts) if isinstance(cached, _Tiered) else ()

    def _resolve(
        self, provider: str, model: str, when: datetime, batch: bool, service_tier: str | None
    ) -> Price | _Tiered | None:
        name = canonical_provider(provider)
        override = most_specific(self.rules.models, name, model)
        if override is not None:
            rates = self.rules.models[override].rates()
            return Price(rates, rates, f"[prices.models] {override}")
        found = self._model(name, model)
        if found is None:
            return None
        provider_id, info = found
        context = {"processing": "batch"} if batch else {}
        if service_tier:
            context["service_tier"] = service_tier.lower()
        resolved = info.get_prices(when.astimezone(UTC), context or None)
        source = f"{self._source} {provider_id}/{info.id}"
        discount_key = most_specific(self.rules.discounts, name, model)
        discount = None
        if discount_key is not None:
            discount = self.rules.discounts[discount_key]
            source += f" less {discount}% ([prices.discounts] {discount_key})"
        # the same catalog price for many minutes: one _Tiered (and one Price per tier) for all
        key = (id(resolved), source, discount)
        tiered = self._tiered.get(key)
        if tiered is None or tiered.prices is not resolved:
            tiered = self._tiered[key] = _Tiered(resolved, source, discount)
        return tiered

    def _model(self, provider: str, model: str) -> tuple[str, Any] | None:
        key = (provider, model)
        if key not in self._models:
            self._models[key] = self._find(provider, model)
        found: tuple[str, Any] | None = self._models[key]
        return found

    def _find(self, provider: str, model: str) -> tuple[str, Any] | None:
        ref = model
        if "/" in model and model.split("/", 1)[0].lower() == provider:
            ref = model.split("/", 1)[1]
        try:
            found_provider, info = self._snapshot.find_provider_model(ref, None, provider, None)
        except LookupError:
            return None
        return str(found_provider.id), info


@dataclass
class _Tiered:
    """A catalog price whose rates may depend on the prompt length."""

    prices: Any  # genai_prices.types.ModelPrice
    source: str
    discount: Decimal | None
    _by_tier: dict[int, Price] = field(default_factory=dict)
    _starts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._starts = sorted(_tier_starts(self.prices))

    def at(self, prompt_tokens: int) -> Price | None:
        starts = self._starts
        tier = sum(1 for start in starts if prompt_tokens > start) if starts else 0
        if tier not in self._by_tier:
            probe = starts[tier - 1] + 1 if tier else 0
            rates = _catalog_rates(self.prices, probe)
            if rates is None:
                return None
            billed = rates.less(self.discount) if self.discount is not None else rates
            self._by_tier[tier] = Price(billed, rates, self.source)
        return self._by_tier[tier]


def _tier_starts(prices: Any) -> set[int]:
    from genai_prices.types import TieredPrices

    return {
        tier.start
        for value in vars(prices).values()
        if isinstance(value, TieredPrices)
        for tier in value.tiers
    }


def _rate(prices: Any, key: str, prompt_tokens: int) -> Decimal | None:
    from genai_prices.types import TieredPrices

    value = getattr(prices, key, None)
    if isinstance(value, TieredPrices):
        chosen = value.base
        for tier in value.tiers:
            if prompt_tokens > tier.start:
                chosen = tier.price
        return chosen
    return value if isinstance(value, Decimal) else None


def _catalog_rates(prices: Any, prompt_tokens: int) -> Rates | None:
    """genai-prices' rates per kind; ``None`` when it has no token prices for the model."""
    input_rate = _rate(prices, "input_mtok", prompt_tokens)
    output_rate = _rate(prices, "output_mtok", prompt_tokens)
    if input_rate is None or output_rate is None:
        return None
    cache_write = _first(_rate(prices, "cache_write_mtok", prompt_tokens), input_rate)
    return Rates(
        input=input_rate,
        cache_read=_first(_rate(prices, "cache_read_mtok", prompt_tokens), input_rate),
        cache_write_5m=_first(_rate(prices, "cache_write_5m_mtok", prompt_tokens), cache_write),
        cache_write_1h=_first(_rate(prices, "cache_write_1h_mtok", prompt_tokens), cache_write),
        output=output_rate,
        reasoning=_first(_rate(prices, "output_reasoning_mtok", prompt_tokens), output_rate),
    )


def _first(value: Decimal | None, fallback: Decimal) -> Decimal:
    return fallback if value is None else value


_MISSING: Any = object()
