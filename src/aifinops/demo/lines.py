"""Catalog lines: everything about a charge except when it happened and how much was used.

A row of a demo file is a line (its text columns and unit prices) plus a charge period and a
quantity. Lines are few (one per resource and meter per month) and rows are many, so the text
columns are written as dictionary-encoded columns indexed by line, and costs are computed from
per-line unit prices with integer arithmetic.

Every line prices its quantity four ways (``list``, ``contracted``, ``effective``, ``billed``, in
units of ``10**-10`` USD per pricing unit). Charges whose amount is only known in money (commitment
fees, unused commitment, credits, tax, support) carry that amount as the quantity, at scale 10,
with prices of 0 or +-1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

from aifinops.demo.money import ONE, units

Text = dict[str, str | None]


class Cdq(IntEnum):
    """What CommitmentDiscountQuantity holds for a line."""

    NONE = 0
    EFFECTIVE = 1  # spend-based commitment: the amount of commitment used
    QUANTITY = 2  # usage-based commitment: hours used or bought; spend-based purchase: amount


@dataclass
class Line:
    text: Text
    list_price: int = 0
    contracted_price: int = 0
    effective_price: int = 0
    billed_price: int = 0
    list_unit_price: int | None = None
    contracted_unit_price: int | None = None
    has_quantity: bool = True  # False: PricingQuantity and ConsumedQuantity are null
    consumed_per_unit: int | None = None  # ConsumedQuantity = PricingQuantity x this
    cdq: Cdq = Cdq.NONE
    groups: frozenset[str] = field(default_factory=frozenset)


def priced(
    text: Text,
    list_price: Decimal,
    contracted: Decimal,
    effective: Decimal,
    billed: Decimal,
    *,
    consumed: int | None = 1,
) -> Line:
    """A line charged per unit: on-demand (effective = billed = contracted) or committed."""
    return Line(
        text,
        list_price=units(list_price),
        contracted_price=units(contracted),
        effective_price=units(effective),
        billed_price=units(billed),
        list_unit_price=units(list_price),
        contracted_unit_price=units(contracted),
        consumed_per_unit=consumed,
    )


def amount(
    text: Text,
    *,
    list_: int,
    contracted: int,
    effective: int,
    billed: int,
    unit_prices: bool,
    consumed: bool = False,
) -> Line:
    """A line whose quantity is an amount of money (scale 10); prices are 0 or +-1."""
    return Line(
        text,
        list_price=list_ * ONE,
        contracted_price=contracted * ONE,
        effective_price=effective * ONE,
        billed_price=billed * ONE,
        list_unit_price=ONE if unit_prices else None,
        contracted_unit_price=ONE if unit_prices else None,
        has_quantity=unit_prices,
        consumed_per_unit=1 if consumed else None,
    )


@dataclass(frozen=True)
class CatalogArrays:
    """The catalog's numbers as arrays indexed by line."""

    list_price: NDArray[np.int64]
    contracted_price: NDArray[np.int64]
    effective_price: NDArray[np.int64]
    billed_price: NDArray[np.int64]
    list_unit_price: NDArray[np.int64]
    list_unit_valid: NDArray[np.bool_]
    contracted_unit_price: NDArray[np.int64]
    has_quantity: NDArray[np.bool_]
    consumed_per_unit: NDArray[np.int64]
    has_consumed: NDArray[np.bool_]
    cdq: NDArray[np.int8]


class Catalog:
    """The lines of one provider's month; ``constants`` fill text columns lines leave unset."""

    def __init__(self, constants: Text) -> None:
        self.constants = constants
        self.lines: list[Line] = []

    def __len__(self) -> int:
        return len(self.lines)

    def add(self, line: Line) -> int:
        self.lines.append(line)
        return len(self.lines) - 1

    def add_all(self, lines: list[Line]) -> NDArray[np.int32]:
        first = len(self.lines)
        self.lines.extend(lines)
        return np.arange(first, len(self.lines), dtype=np.int32)

    def text(self, column: str) -> list[str | None]:
        default = self.constants.get(column)
        return [line.text.get(column, default) for line in self.lines]

    def lines_in(self, group: str) -> NDArray[np.bool_]:
        return np.array([group in line.groups for line in self.lines], dtype=np.bool_)

    def arrays(self) -> CatalogArrays:
        def ints(values: list[int | None]) -> NDArray[np.int64]:
            return np.array([v or 0 for v in values], dtype=np.int64)

        lines = self.lines
        return CatalogArrays(
            list_price=ints([x.list_price for x in lines]),
            contracted_price=ints([x.contracted_price for x in lines]),
            effective_price=ints([x.effective_price for x in lines]),
            billed_price=ints([x.billed_price for x in lines]),
            list_unit_price=ints([x.list_unit_price for x in lines]),
            list_unit_valid=np.array([x.list_unit_price is not None for x in lines]),
            contracted_unit_price=ints([x.contracted_unit_price for x in lines]),
            has_quantity=np.array([x.has_quantity for x in lines], dtype=np.bool_),
            consumed_per_unit=ints([x.consumed_per_unit for x in lines]),
            has_consumed=np.array([x.consumed_per_unit is not None for x in lines]),
            cdq=np.array([int(x.cdq) for x in lines], dtype=np.int8),
        )
