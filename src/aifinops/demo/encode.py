"""Priced blocks to Arrow columns, in Parquet types or as the text a CSV export holds.

Text columns are dictionary-encoded by catalog line, so a block's 40-odd text columns cost one
integer gather each. Parquet gets ``decimal128(38, 10)`` money and quantities and
``timestamp[us, UTC]`` times; CSV gets plain decimal text and ISO 8601 times (or the naive
``2026-10-01 00:00:00`` some exports use).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from aifinops.demo.flavours import FLAVOURS
from aifinops.demo.ledger import Priced
from aifinops.demo.lines import Catalog, CatalogArrays, Cdq
from aifinops.demo.money import SCALE, Bools, Int64s, decimal_array, decimal_strings
from aifinops.demo.timeline import HOUR_US, Month
from aifinops.model.focus import ColumnType, FocusVersion, columns, export_columns

TEXT = pa.dictionary(pa.int32(), pa.string())
_TIMES = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")


@dataclass(frozen=True)
class Layout:
    """A file's columns, in order, by how they are produced."""

    names: tuple[str, ...]
    decimals: frozenset[str]
    extras: tuple[str, ...]

    @property
    def texts(self) -> tuple[str, ...]:
        skip = self.decimals | set(_TIMES) | set(self.extras)
        return tuple(n for n in self.names if n not in skip)


def layout(slug: str, version: FocusVersion) -> Layout:
    flavour = FLAVOURS[slug]
    cols = columns(version) if flavour.keeps_deprecated else export_columns(version)
    decimals = frozenset(c.name for c in cols if c.type is ColumnType.DECIMAL)
    names = tuple(c.name for c in cols) + flavour.extra_columns
    return Layout(names, decimals, flavour.extra_columns)


class Encoder(Protocol):
    def decimal(self, values: Int64s, scale: int, valid: Bools | None = None) -> pa.Array: ...
    def hours(self, hours: NDArray[np.int32], month: Month, column: str) -> pa.Array: ...
    def schema_type(self, kind: str) -> pa.DataType: ...


class ParquetEncoder:
    def decimal(self, values: Int64s, scale: int, valid: Bools | None = None) -> pa.Array:
        return decimal_array(values, scale, valid)

    def hours(self, hours: NDArray[np.int32], month: Month, column: str) -> pa.Array:
        micros = month.start_us + hours.astype(np.int64) * HOUR_US
        return pa.array(micros, type=pa.timestamp("us", tz="UTC"))

    def schema_type(self, kind: str) -> pa.DataType:
        types = {"decimal": pa.decimal128(38, SCALE), "time": pa.timestamp("us", tz="UTC")}
        return types.get(kind, TEXT if kind == "text" else pa.string())


class TextEncoder:
    def __init__(self, naive_billing_period: bool) -> None:
        self.naive = naive_billing_period

    def decimal(self, values: Int64s, scale: int, valid: Bools | None = None) -> pa.Array:
        return decimal_strings(values, scale, valid)

    def hours(self, hours: NDArray[np.int32], month: Month, column: str) -> pa.Array:
        iso = not (self.naive and column.startswith("BillingPeriod"))
        return pa.DictionaryArray.from_arrays(pa.array(hours), _stamps(month, iso))

    def schema_type(self, kind: str) -> pa.DataType:
        return TEXT if kind in ("text", "time") else pa.string()


@functools.lru_cache(maxsize=64)
def _stamps(month: Month, iso: bool) -> pa.Array:
    return month.stamps(iso)


class TextColumns:
    """Each text column of a catalog as (code per line, dictionary of distinct values)."""

    def __init__(self, catalog: Catalog, names: Iterable[str]) -> None:
        self._codes: dict[str, NDArray[np.int32]] = {}
        self._values: dict[str, pa.Array] = {}
        for name in names:
            distinct: dict[str, int] = {}
            codes = [
                -1 if v is None else distinct.setdefault(v, len(distinct))
                for v in catalog.text(name)
            ]
            self._codes[name] = np.array(codes, dtype=np.int32)
            self._values[name] = pa.array(list(distinct), type=pa.string())

    def array(self, name: str, line: NDArray[np.int32]) -> pa.Array:
        codes = self._codes[name][line]
        values = self._values[name]
        if len(values) == 0:
            return pa.nulls(len(line), TEXT)
        mask = codes < 0
        indices = pa.array(codes, mask=mask) if mask.any() else pa.array(codes)
        return pa.DictionaryArray.from_arrays(indices, values)


class _Numbers:
    """The decimal columns of one priced block, each built on first use."""

    def __init__(self, priced: Priced, arrays: CatalogArrays, encoder: Encoder) -> None:
        self.p, self.a, self.enc = priced, arrays, encoder
        self.line = priced.block.line

    def cost(self, i: int) -> pa.Array:
        return self._costs[i]

    @functools.cached_property
    def _costs(self) -> tuple[pa.Array, ...]:
        return tuple(self.enc.decimal(c, SCALE) for c in self.p.costs)

    @functools.cached_property
    def list_unit(self) -> pa.Array:
        valid = self.a.list_unit_valid[self.line]
        return self.enc.decimal(self.a.list_unit_price[self.line], SCALE, valid)

    @functools.cached_property
    def contracted_unit(self) -> pa.Array:
        valid = self.a.list_unit_valid[self.line]
        return self.enc.decimal(self.a.contracted_unit_price[self.line], SCALE, valid)

    def pricing_quantity(self) -> pa.Array:
        block = self.p.block
        return self.enc.decimal(block.qty, block.scale, self.a.has_quantity[self.line])

    def consumed_quantity(self) -> pa.Array:
        block = self.p.block
        return self.enc.decimal(self.p.consumed, block.scale, self.a.has_consumed[self.line])

    def commitment_quantity(self) -> pa.Array:
        mode = self.a.cdq[self.line]
        values = np.zeros(len(mode), dtype=np.int64)
        spent = mode == Cdq.EFFECTIVE
        values[spent] = self.p.costs[1][spent]
        counted = mode == Cdq.QUANTITY
        values[counted] = self.p.block.qty[counted] * 10 ** (SCALE - self.p.block.scale)
        return self.enc.decimal(values, SCALE, mode != Cdq.NONE)

    def column(self, name: str) -> pa.Array:
        simple = {
            "BilledCost": 0,
            "EffectiveCost": 1,
            "ListCost": 2,
            "ContractedCost": 3,
            "PricingCurrencyEffectiveCost": 1,
        }
        if name in simple:
            return self.cost(simple[name])
        if name in ("ListUnitPrice", "PricingCurrencyListUnitPrice"):
            return self.list_unit
        if name in ("ContractedUnitPrice", "PricingCurrencyContractedUnitPrice"):
            return self.contracted_unit
        builders = {
            "PricingQuantity": self.pricing_quantity,
            "ConsumedQuantity": self.consumed_quantity,
            "CommitmentDiscountQuantity": self.commitment_quantity,
        }
        return builders[name]()


@dataclass(frozen=True)
class Target:
    """How one provider's month is written: its catalog as arrays and text, types, columns."""

    arrays: CatalogArrays
    text: TextColumns
    encoder: Encoder
    layout: Layout
    month: Month


def encoder_for(slug: str, fmt: str) -> Encoder:
    if fmt == "parquet":
        return ParquetEncoder()
    return TextEncoder(FLAVOURS[slug].naive_billing_period)


def encode(priced: Priced, target: Target, first_row: int) -> dict[str, pa.Array]:
    """All columns of one priced block; ``first_row`` numbers the ``Id`` extra column."""
    encoder, lay, month, text = target.encoder, target.layout, target.month, target.text
    block, numbers = priced.block, _Numbers(priced, target.arrays, encoder)
    n = len(block)
    out = {name: text.array(name, block.line) for name in lay.texts}
    out |= {name: numbers.column(name) for name in lay.names if name in lay.decimals}
    out["ChargePeriodStart"] = encoder.hours(block.start, month, "ChargePeriodStart")
    out["ChargePeriodEnd"] = encoder.hours(block.end, month, "ChargePeriodEnd")
    for column, hour in (("BillingPeriodStart", 0), ("BillingPeriodEnd", month.hours)):
        out[column] = encoder.hours(np.full(n, hour, dtype=np.int32), month, column)
    for extra in lay.extras:
        out[extra] = pa.array(np.arange(first_row + 1, first_row + n + 1)).cast(pa.string())
    return out


def schema(lay: Layout, encoder: Encoder) -> pa.Schema:
    def kind(name: str) -> str:
        if name in lay.decimals:
            return "decimal"
        return "time" if name in _TIMES else "extra" if name in lay.extras else "text"

    return pa.schema([pa.field(n, encoder.schema_type(kind(n))) for n in lay.names])
