"""Exact money arithmetic on scaled integers: no float ever touches an amount.

An amount is an ``int64`` count of ``10**-SCALE`` dollars. A quantity carries its own scale (hours
are whole, GB-months have 4 decimals, tokens in thousands have 3). ``cost = quantity x unit price``
is an integer product divided by ``10**qty_scale`` with round-half-away-from-zero, which is how
providers round line items to at most ten decimal places.
"""

from __future__ import annotations

import sys
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

SCALE = 10
ONE = 10**SCALE
_INT64_MAX = 2**63 - 1
_SPLIT = 10**9  # amounts are summed as (high, low) parts so float64 partial sums stay exact

Int64s = NDArray[np.int64]
Bools = NDArray[np.bool_]


def units(value: Decimal | str | int, scale: int = SCALE) -> int:
    """``value`` as an integer count of ``10**-scale``; refuses to round silently."""
    scaled = Decimal(value).scaleb(scale)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {scale} decimal places")
    return int(scaled)


def quantize(value: Decimal, places: int) -> Decimal:
    """``value`` rounded half-even to ``places`` decimals (prices are published this way)."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def to_decimal(amount: int, scale: int = SCALE) -> Decimal:
    return Decimal(amount).scaleb(-scale)


def amount_text(amount: int) -> str:
    """An amount as a fixed ten-decimal string, the manifest's exact format."""
    return f"{to_decimal(amount):.{SCALE}f}"


def mul_round(qty: Int64s, qty_scale: int, price: Int64s) -> Int64s:
    """``qty x price`` at ``SCALE``: ``qty`` has ``qty_scale`` decimals, ``price`` has ``SCALE``."""
    divisor = 10**qty_scale
    if qty_scale and not (price % divisor).any():
        return mul_round(qty, 0, price // divisor)  # exact: no rounding needed
    if len(qty) and int(np.abs(qty).max()) * int(np.abs(price).max()) > _INT64_MAX:
        raise OverflowError("quantity x price does not fit in 64 bits; use a smaller qty scale")
    product = qty * price
    if qty_scale == 0:
        return product
    magnitude: Int64s = (np.abs(product) + divisor // 2) // divisor
    magnitude[product < 0] *= -1
    return magnitude


def line_sums(values: Int64s, line: NDArray[np.int32], n_lines: int) -> tuple[Int64s, Int64s]:
    """Per-line exact sums of ``values`` as (high, low) parts: total = high * 10**9 + low."""
    high = values // _SPLIT
    low = values - high * _SPLIT
    if len(values) and int(np.abs(high).sum()) >= 2**53:
        raise OverflowError("block too large for exact per-line sums")
    high_sum = np.bincount(line, weights=high, minlength=n_lines)
    low_sum = np.bincount(line, weights=low, minlength=n_lines)
    return np.rint(high_sum).astype(np.int64), np.rint(low_sum).astype(np.int64)


def join_parts(high: int, low: int) -> int:
    return high * _SPLIT + low


def decimal_array(values: Int64s, scale: int, valid: Bools | None = None) -> pa.Array:
    """A ``decimal128(38, 10)`` array from scaled integers, built from buffers (no Python loop)."""
    if sys.byteorder != "little":  # pragma: no cover - Arrow buffers are little-endian here
        raise RuntimeError("decimal buffers assume a little-endian machine")
    words = np.empty((len(values), 2), dtype=np.int64)
    words[:, 0] = values
    words[:, 1] = values >> 63
    bitmap = None
    null_count = 0
    if valid is not None and not valid.all():
        bitmap = pa.array(valid).buffers()[1]
        null_count = int(len(valid) - valid.sum())
    array = pa.Array.from_buffers(
        pa.decimal128(38, scale), len(values), [bitmap, pa.py_buffer(words)], null_count=null_count
    )
    return array if scale == SCALE else array.cast(pa.decimal128(38, SCALE))


def decimal_strings(values: Int64s, scale: int, valid: Bools | None = None) -> pa.Array:
    """Plain decimal text (``12.5``, ``-0.0000012``, ``0.0``), never exponent notation.

    Always with a decimal point: a CSV column of whole numbers only reads as an integer column,
    which fails FOCUS's "MUST be of type Decimal".
    """
    magnitude = np.abs(values)
    whole = pc.cast(pa.array(magnitude // 10**scale), pa.string())
    text = pc.binary_join_element_wise(whole, "0", ".")
    if scale:
        fraction = magnitude % 10**scale
        digits = pc.utf8_lpad(pc.cast(pa.array(fraction), pa.string()), width=scale, padding="0")
        joined = pc.binary_join_element_wise(whole, pc.utf8_rtrim(digits, characters="0"), ".")
        text = pc.if_else(pa.array(fraction == 0), text, joined)
    text = pc.if_else(pa.array(values < 0), pc.binary_join_element_wise("-", text, ""), text)
    if valid is not None and not valid.all():
        text = pc.if_else(pa.array(valid), text, pa.scalar(None, pa.string()))
    return text
