"""Exact conversion of text columns to typed Arrow arrays, finding the values that do not convert.

Fast path: one vectorised Arrow cast per column. Only when it fails does a slower path find which
values are bad, so clean files pay nothing for validation. Money becomes ``decimal128(38, 18)``
(never a float); times become ``timestamp[us, UTC]``. A time without an offset is read as UTC.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from aifinops.model.enums import normalise

DECIMAL = pa.decimal128(38, 18)
TIMESTAMP = pa.timestamp("us", tz="UTC")
_SCALE = decimal.Decimal(1).scaleb(-18)
_DECIMAL_CONTEXT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN)
_ZONED = r"([zZ]|[+-]\d{2}:?\d{2})$"
_LONG_FRACTION = r"(\.\d{6})\d+"


@dataclass
class Converted:
    """A converted column: the values, the positions that failed with why, and repair counts."""

    values: pa.Array
    errors: dict[int, str] = field(default_factory=dict)
    rounded: int = 0


def _as_text(arr: pa.Array) -> pa.Array:
    return (
        arr
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)
        else (pc.cast(arr, pa.string()))
    )


def to_decimal(arr: pa.Array) -> Converted:
    """Text (or numbers) to exact ``decimal128(38, 18)``."""
    if pa.types.is_decimal(arr.type) or pa.types.is_integer(arr.type):
        try:
            return Converted(pc.cast(arr, DECIMAL))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            arr = pc.cast(arr, pa.string())
    # Floats in Parquet become their shortest round-trip text, which is what the file "says".
    text = _as_text(arr)
    try:
        return Converted(pc.cast(text, DECIMAL))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _decimal_slow(text)


def _parse_decimal(value: str) -> tuple[decimal.Decimal | None, str | None, bool]:
    try:
        number = decimal.Decimal(value.strip())
    except decimal.InvalidOperation:
        return None, f"not a number: {value!r}", False
    if not number.is_finite():
        return None, f"not a finite number: {value!r}", False
    rounded = number.quantize(_SCALE, context=_DECIMAL_CONTEXT)
    if rounded.adjusted() >= 20:
        return None, f"too large for the store (more than 20 integer digits): {value!r}", False
    return rounded, None, rounded != number


def _decimal_slow(text: pa.Array) -> Converted:
    values: list[decimal.Decimal | None] = []
    errors: dict[int, str] = {}
    rounded = 0
    for i, raw in enumerate(text.to_pylist()):
        if raw is None:
            values.append(None)
            continue
        number, error, was_rounded = _parse_decimal(raw)
        values.append(number)
        rounded += was_rounded
        if error:
            errors[i] = error
    return Converted(pa.array(values, type=DECIMAL), errors, rounded)


def to_timestamp(arr: pa.Array) -> Converted:
    """ISO 8601 text (with ``T`` or a space, with or without ``Z``/offset) to UTC timestamps."""
    if pa.types.is_timestamp(arr.type):
        naive = arr.type.tz is None
        return Converted(pc.cast(pc.assume_timezone(arr, "UTC") if naive else arr, TIMESTAMP))
    if pa.types.is_date(arr.type):
        return Converted(pc.cast(pc.cast(arr, pa.timestamp("us")), TIMESTAMP))
    text = _as_text(arr)
    for attempt in (text, pc.replace_substring_regex(text, _LONG_FRACTION, r"\1")):
        try:
            return Converted(_cast_timestamps(attempt))
        except pa.ArrowInvalid:
            continue
    return _timestamp_slow(text)


def _cast_timestamps(text: pa.Array) -> pa.Array:
    try:
        return pc.cast(text, TIMESTAMP)
    except pa.ArrowInvalid:
        pass
    zoned = pc.fill_null(pc.match_substring_regex(text, _ZONED), False)
    if not pc.any(zoned).as_py():
        return pc.cast(pc.cast(text, pa.timestamp("us")), TIMESTAMP)
    with_zone = pc.cast(pc.if_else(zoned, text, None), TIMESTAMP)
    without = pc.cast(pc.cast(pc.if_else(zoned, None, text), pa.timestamp("us")), TIMESTAMP)
    return pc.if_else(zoned, with_zone, without)


def _parse_timestamp(value: str) -> tuple[datetime | None, str | None]:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None, f"not an ISO 8601 date/time: {value!r}"
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC), None
    return parsed.astimezone(UTC), None


def _timestamp_slow(text: pa.Array) -> Converted:
    values: list[datetime | None] = []
    errors: dict[int, str] = {}
    for i, raw in enumerate(text.to_pylist()):
        if raw is None:
            values.append(None)
            continue
        parsed, error = _parse_timestamp(raw)
        values.append(parsed)
        if error:
            errors[i] = error
    return Converted(pa.array(values, type=TIMESTAMP), errors)


def enum_repairs(arr: pa.Array, allowed: tuple[str, ...]) -> tuple[pa.Array, int, dict[int, str]]:
    """Map near-miss spellings onto ``allowed``; return (values, repaired count, unknown positions).

    Unknown values are left as they are; the caller decides whether they are errors.
    """
    text = _as_text(arr)
    uniques = [u for u in pc.unique(text).to_pylist() if u is not None]
    mapping = {u: normalise(u, allowed) for u in uniques}
    if all(mapping[u] == u for u in uniques):
        return text, 0, {}
    fixed = pa.array([mapping[u] if mapping[u] is not None else u for u in uniques], pa.string())
    positions = pc.index_in(text, value_set=pa.array(uniques, pa.string()))
    out = pc.take(fixed, positions)
    changed = [u for u in uniques if mapping[u] not in (u, None)]
    repaired = pc.sum(pc.is_in(text, value_set=pa.array(changed, pa.string()))).as_py() or 0
    unknown_values = [u for u in uniques if mapping[u] is None]
    unknown: dict[int, str] = {}
    if unknown_values:
        mask = pc.is_in(text, value_set=pa.array(unknown_values, pa.string()))
        for i in pc.indices_nonzero(mask).to_pylist():
            unknown[i] = f"{text[i].as_py()!r} is not one of {', '.join(allowed)}"
    return out, int(repaired), unknown
