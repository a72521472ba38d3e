"""Pricing a block of requests at once: the fast path of the per-request sources.

:func:`price_block` prices every row of a block with the same rules as
:class:`~aifinops.sources.llm.common.Rows` (one request at a time), without a Python step per
row: rows are grouped by (provider, model, minute of the request, batch, service tier) - few
distinct keys - and by prompt-length tier, the catalog is asked once per group, and the cost is
exact integer arithmetic on the token counts and the rates scaled to integers, handed over as
``decimal128(38, 18)``. No float is on the money path.

The result is the same value :func:`~aifinops.sources.llm.common._cost` gives: its Decimal sums
are exact while they fit 28 digits, and the quantization to 18 places never rounds when the
rates have at most 12 decimals. Rows this cannot price exactly (a rate with more decimals, a
total beyond 62 bits, a cost over a billion) and rows of models without a price are flagged, and
the caller prices or rejects them one by one, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aifinops.model.prices import Catalog, Price, TokenKind
from aifinops.sources.convert import DECIMAL

#: token columns in the order their rates are taken (output is priced net of reasoning)
KINDS = (
    ("uncached_input_tokens", TokenKind.INPUT),
    ("cache_read_tokens", TokenKind.CACHE_READ),
    ("cache_write_5m_tokens", TokenKind.CACHE_WRITE_5M),
    ("cache_write_1h_tokens", TokenKind.CACHE_WRITE_1H),
    ("output_tokens", TokenKind.OUTPUT),
    ("reasoning_tokens", TokenKind.REASONING),
)
INPUT_KINDS = ("uncached_input_tokens", "cache_read_tokens", "cache_write_5m_tokens",
               "cache_write_1h_tokens")  # fmt: skip
_MAX_SCALE = 12  # rate decimals: cost = total / 10**(scale + 6) needs no rounding at 18 places
_LIMIT = float(1 << 62)
_MINUTE_US = 60_000_000


@dataclass
class Priced:
    """The priced columns of a block; ``slow`` marks the rows left to the one-by-one path."""

    cost: pa.Array
    list_cost: pa.Array
    currency: pa.Array
    price_source: pa.Array
    slow: np.ndarray


def counts(column: pa.Array | None, n: int) -> np.ndarray:
    """An int64 token column as numbers, missing as 0."""
    if column is None:
        return np.zeros(n, dtype=np.int64)
    return np.asarray(pc.fill_null(column, 0).to_numpy(zero_copy_only=False), dtype=np.int64)


def whole_numbers(text: pa.Array, pattern: str, kind: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """Text of plain whole numbers (``pattern``) as ``kind``, and the rows written otherwise.

    Arrow's cast reads what ``int()`` reads, and ``0x`` hex, which ``int()`` refuses: a column
    without an ``x`` that casts whole is taken as it is; otherwise the pattern picks the rows."""
    try:
        if not pc.any(pc.match_substring(text, "x", ignore_case=True)).as_py():
            return pc.cast(text, kind), np.zeros(len(text), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    plain = pc.match_substring_regex(text, pattern)
    bad = np.asarray(pc.fill_null(pc.invert(plain), False).to_numpy(zero_copy_only=False), bool)
    return pc.cast(pc.if_else(plain, text, pa.scalar(None, pa.string())), kind), bad


def price_block(
    catalog: Catalog,
    provider: pa.Array,
    model: pa.Array,
    start: pa.Array,
    tokens: dict[str, pa.Array],
    *,
    prompt: np.ndarray,
    free: np.ndarray,
    free_source: str,
    skip: np.ndarray,
    service_tier: pa.Array | None = None,
    batch: pa.Array | None = None,
) -> Priced:
    """Prices each row not in ``skip``: ``free`` rows cost 0 with ``free_source``; rows whose
    price this cannot give exactly come back marked ``slow``. ``prompt`` picks the tier."""
    n = len(provider)
    slow = np.zeros(n, dtype=bool)
    todo = ~skip & ~free
    cost_units = np.zeros(n, dtype=np.int64)
    list_units = np.zeros(n, dtype=np.int64)
    currency: list[str | None] = [None]
    source: list[str | None] = [None, free_source]
    text_index = np.where(free & ~skip, 1, 0).astype(np.int32)
    currency_index = np.where(free & ~skip, 1, 0).astype(np.int32)
    currency.append("USD")
    scale = 0
    rows = np.flatnonzero(todo)
    if len(rows):
        groups, first = _groups(provider, model, start, service_tier, batch, rows)
        combos, combo_prices = _combos(
            catalog, provider, model, start, service_tier, batch, rows, groups, first, prompt
        )
        scale = max((_scale(p) for p in set(combo_prices) if p is not None), default=0)
        known = np.array([p is not None for p in combo_prices], dtype=bool)
        if scale > _MAX_SCALE:
            known[:] = False
        slow[rows[~known[combos]]] = True
        billed, listed = _rate_table(combo_prices, scale)
        sources = [p.source if p else None for p in combo_prices]
        currencies = [p.billed.currency if p else None for p in combo_prices]
        text_index[rows] = np.asarray(combos, dtype=np.int32) + len(source)
        currency_index[rows] = np.asarray(combos, dtype=np.int32) + len(currency)
        source += sources
        currency += currencies
        amounts = {name: counts(tokens.get(name), n)[rows] for name, _ in KINDS}
        amounts["output_tokens"] = amounts["output_tokens"] - amounts["reasoning_tokens"]
        for rates, out in ((billed, cost_units), (listed, list_units)):
            total = np.zeros(len(rows), dtype=np.int64)
            bound = np.zeros(len(rows), dtype=np.float64)
            for k, (name, _) in enumerate(KINDS):
                rate = rates[k][combos]
                total += amounts[name] * rate
                bound += np.abs(amounts[name].astype(np.float64)) * np.abs(rate.astype(np.float64))
            too_big = bound >= _LIMIT
            if scale + 15 < 19:  # a cost of a billion or more: Decimal's quantize refuses it
                too_big |= np.abs(total) >= 10 ** (scale + 15)
            slow[rows[too_big]] = True
            out[rows] = total
    done = ~slow & ~skip
    cost = _money(np.where(done, cost_units, 0), min(scale, _MAX_SCALE))
    list_cost = _money(np.where(done, list_units, 0), min(scale, _MAX_SCALE))
    text_index[~done] = 0
    currency_index[~done] = 0
    return Priced(
        cost=cost,
        list_cost=list_cost,
        currency=pa.array(currency, pa.string()).take(pa.array(currency_index)),
        price_source=pa.array(source, pa.string()).take(pa.array(text_index)),
        slow=slow & ~skip,
    )


def _groups(  # noqa: PLR0917  (the columns of a block, passed through)
    provider: pa.Array,
    model: pa.Array,
    start: pa.Array,
    service_tier: pa.Array | None,
    batch: pa.Array | None,
    rows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The group of each row of ``rows`` (provider, model, minute, batch, service tier) and the
    first row of each group."""
    take = pa.array(rows)
    key = np.zeros(len(rows), dtype=np.int64)
    for column in (provider, model, service_tier):
        if column is None:
            continue
        encoded = pc.dictionary_encode(column.take(take))
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False) + 1
        key = key * (len(encoded.dictionary) + 1) + codes
    if batch is not None:
        flags = pc.fill_null(batch.take(take), False).to_numpy(zero_copy_only=False)
        key = key * 2 + flags.astype(np.int64)
    micros = pc.cast(start.take(take), pa.int64()).to_numpy(zero_copy_only=False)
    minutes = micros // _MINUTE_US
    span = int(minutes.max() - minutes.min()) + 1
    key = key * span + (minutes - minutes.min())
    _, first, groups = np.unique(key, return_index=True, return_inverse=True)
    return groups.reshape(-1), first


def _combos(  # noqa: PLR0917  (the columns of a block, passed through)
    catalog: Catalog,
    provider: pa.Array,
    model: pa.Array,
    start: pa.Array,
    service_tier: pa.Array | None,
    batch: pa.Array | None,
    rows: np.ndarray,
    groups: np.ndarray,
    first: np.ndarray,
    prompt: np.ndarray,
) -> tuple[np.ndarray, list[Price | None]]:
    """For each row of ``rows``, its (group, tier) combination, and the price of each."""
    at = pa.array(rows[first])
    providers = provider.take(at).to_pylist()
    models = model.take(at).to_pylist()
    minutes = pc.cast(start.take(at), pa.int64()).to_numpy(zero_copy_only=False) // _MINUTE_US
    tiers_of = service_tier.take(at).to_pylist() if service_tier is not None else None
    batches = pc.fill_null(batch.take(at), False).to_pylist() if batch is not None else None
    keys = []
    starts: list[tuple[int, ...]] = []
    for g in range(len(first)):
        when = datetime.fromtimestamp(int(minutes[g]) * 60, UTC)
        key = (providers[g], models[g], when, bool(batches[g]) if batches else False,
               tiers_of[g] if tiers_of else None)  # fmt: skip
        keys.append(key)
        found = catalog.tier_starts(key[0], key[1], when, batch=key[3], service_tier=key[4])
        starts.append(found or ())
    width = max(len(s) for s in starts) + 1
    tier = np.zeros(len(rows), dtype=np.int64)
    row_prompt = prompt[rows]
    for shape in set(starts):
        if not shape:
            continue
        members = np.flatnonzero(np.array([s == shape for s in starts], dtype=bool)[groups])
        tier[members] = np.searchsorted(np.array(shape), row_prompt[members], side="left")
    combo_key = groups * width + tier
    unique, combos = np.unique(combo_key, return_inverse=True)
    prices: list[Price | None] = []
    for value in unique.tolist():
        g, t = divmod(value, width)
        provider_name, model_name, when, is_batch, tier_name = keys[g]
        probe = starts[g][t - 1] + 1 if t else 0
        prices.append(
            catalog.price(
                provider_name,
                model_name,
                when,
                batch=is_batch,
                service_tier=tier_name,
                prompt_tokens=probe,
            )
        )
    return combos.reshape(-1), prices


@lru_cache(maxsize=4096)
def _scale(price: Price) -> int:
    """Decimals of the finest rate of ``price``."""
    digits = 0
    for rates in (price.billed, price.list):
        for kind in TokenKind:
            exponent = rates.per_million(kind).as_tuple().exponent
            if not isinstance(exponent, int):
                return _MAX_SCALE + 1
            digits = max(digits, -exponent)
    return digits


@lru_cache(maxsize=4096)
def _price_units(price: Price, scale: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The billed and list rates of ``price`` per kind, as integers (times ``10**scale``)."""
    return (
        tuple(_units(price.billed.per_million(kind), scale) for _, kind in KINDS),
        tuple(_units(price.list.per_million(kind), scale) for _, kind in KINDS),
    )


def _rate_table(
    prices: list[Price | None], scale: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per kind, each combination's billed and list rates as integers (per million tokens, times
    ``10**scale``); 0 for unpriced combinations."""
    if scale > _MAX_SCALE:
        empty = [np.zeros(len(prices), dtype=np.int64) for _ in KINDS]
        return empty, empty
    zero = (0,) * len(KINDS)
    units = [_price_units(p, scale) if p is not None else (zero, zero) for p in prices]
    billed = np.array([u[0] for u in units], dtype=np.int64).reshape(len(prices), len(KINDS))
    listed = np.array([u[1] for u in units], dtype=np.int64).reshape(len(prices), len(KINDS))
    return list(billed.T.copy()), list(listed.T.copy())


def _units(rate: Decimal, scale: int) -> int:
    scaled = rate.scaleb(scale)
    whole = int(scaled)
    assert scaled == whole, (rate, scale)
    return whole


def _money(units: np.ndarray, scale: int) -> pa.Array:
    """``units / 10**(scale + 6)`` as ``decimal128(38, 18)`` (exact: scale + 6 <= 18)."""
    n = len(units)
    words = np.empty((n, 2), dtype=np.int64)
    words[:, 0] = units
    words[:, 1] = units >> 63  # two's complement sign extension to 128 bits
    raw = pa.Array.from_buffers(
        pa.decimal128(38, scale + 6), n, [None, pa.py_buffer(words.tobytes())]
    )
    return pc.cast(raw, DECIMAL)
