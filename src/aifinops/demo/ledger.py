"""Pricing blocks and keeping exact per-line totals, the source of the manifest's figures.

Totals are kept per catalog line (rows and the four cost metrics), so the manifest, the closing
charges (support, tax) and the messiness counts are all sums over lines, computed from the
generator's own integers rather than read back from the files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from aifinops.demo.blocks import Block
from aifinops.demo.lines import CatalogArrays
from aifinops.demo.money import Int64s, join_parts, line_sums, mul_round

METRICS = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")


@dataclass(frozen=True)
class Priced:
    block: Block
    costs: tuple[Int64s, Int64s, Int64s, Int64s]  # in METRICS order, at money.SCALE
    consumed: Int64s  # ConsumedQuantity at the block's scale

    def __len__(self) -> int:
        return len(self.block)

    def cost(self, metric: str) -> Int64s:
        return self.costs[METRICS.index(metric)]


def price(block: Block, arrays: CatalogArrays) -> Priced:
    line, qty, scale = block.line, block.qty, block.scale
    prices = (arrays.billed_price, arrays.effective_price, arrays.list_price)
    billed, effective, list_ = (mul_round(qty, scale, p[line]) for p in prices)
    contracted = mul_round(qty, scale, arrays.contracted_price[line])
    return Priced(
        block, (billed, effective, list_, contracted), qty * arrays.consumed_per_unit[line]
    )


class LineSums:
    """Rows and exact cost totals per catalog line."""

    def __init__(self, lines: int) -> None:
        self.rows = np.zeros(lines, dtype=np.int64)
        self.high = np.zeros((len(METRICS), lines), dtype=np.int64)
        self.low = np.zeros((len(METRICS), lines), dtype=np.int64)

    def add(self, priced: Priced) -> None:
        line = priced.block.line
        self.rows += np.bincount(line, minlength=len(self.rows))
        for i, values in enumerate(priced.costs):
            high, low = line_sums(values, line, len(self.rows))
            self.high[i] += high
            self.low[i] += low

    def total(self, metric: str, where: NDArray[np.bool_] | None = None) -> int:
        i = METRICS.index(metric)
        high, low = self.high[i], self.low[i]
        if where is not None:
            high, low = high[where], low[where]
        return join_parts(int(high.sum()), int(low.sum()))

    def count(self, where: NDArray[np.bool_] | None = None) -> int:
        return int(self.rows.sum() if where is None else self.rows[where].sum())
