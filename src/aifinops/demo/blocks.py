"""Rows as arrays: which line, which hours, how much, generated a block at a time.

A ``Block`` is a run of rows sharing one quantity scale. Hourly resources become an hours x
resources activity matrix whose non-zero cells, read in row-major order, are the rows in time
order; blocks are cut so that no matrix exceeds ``cap`` cells, which bounds memory at any scale.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from aifinops.demo.anomalies import Planted, meter_extra
from aifinops.demo.company import Commitment, Company, InstancePool, MeterPool, intervals
from aifinops.demo.pricebook import PRODUCTS
from aifinops.demo.timeline import Mask, Month, Timeline

Ints = NDArray[np.int64]
LineIds = NDArray[np.int32]


@dataclass(frozen=True)
class Block:
    line: LineIds  # catalog line of each row
    start: NDArray[np.int32]  # charge period, in hours from the month's start
    end: NDArray[np.int32]
    qty: Ints  # PricingQuantity in units of 10**-scale
    scale: int

    def __len__(self) -> int:
        return len(self.line)


@dataclass(frozen=True)
class Scope:
    """The company and the month being generated, on the demo's timeline."""

    company: Company
    timeline: Timeline
    month: Month

    def span(self, pool: InstancePool) -> tuple[Ints, Ints]:
        """Each resource's running hours within the month, as [start, end) month hours."""
        starts, ends = intervals(self.company, pool, self.timeline)
        month = self.month
        first = np.clip(starts - month.hour0, 0, month.hours)
        last = np.clip(ends - month.hour0, 0, month.hours)
        return first, np.maximum(last, first)

    def mask(self, kind: Mask) -> NDArray[np.bool_] | None:
        if kind is Mask.ALL:
            return None
        return self.timeline.mask(kind)[self.month.hour0 : self.month.hour1]


def _activity(
    first: Ints, last: Ints, mask: NDArray[np.bool_] | None, hours: int
) -> NDArray[np.bool_]:
    hour = np.arange(hours)[:, None]
    active = (hour >= first[None, :]) & (hour < last[None, :])
    return active & mask[:, None] if mask is not None else active


def _slices(count: int, per_slice: int) -> Iterator[slice]:
    step = max(1, per_slice)
    for begin in range(0, count, step):
        yield slice(begin, min(count, begin + step))


def hourly_blocks(scope: Scope, pool: InstancePool, lines: LineIds, cap: int) -> Iterator[Block]:
    """One row per resource per running hour, quantity 1 hour."""
    first, last = scope.span(pool)
    mask, hours = scope.mask(pool.schedule.mask), scope.month.hours
    for part in _slices(len(lines), cap // hours):
        if not (last[part] > first[part]).any():
            continue
        hour, resource = np.nonzero(_activity(first[part], last[part], mask, hours))
        start = hour.astype(np.int32)
        yield Block(lines[part][resource], start, start + 1, np.ones(len(hour), np.int64), 0)


def daily_credit_blocks(
    scope: Scope, pool: InstancePool, lines: LineIds, cap: int
) -> Iterator[Block]:
    """One row per resource per day it ran, quantity = hours run that day."""
    first, last = scope.span(pool)
    mask, month = scope.mask(pool.schedule.mask), scope.month
    for part in _slices(len(lines), cap // month.hours):
        active = _activity(first[part], last[part], mask, month.hours)
        hours = active.reshape(month.days, 24, -1).sum(axis=1)
        day, resource = np.nonzero(hours)
        start = (day * 24).astype(np.int32)
        qty = hours[day, resource].astype(np.int64)
        yield Block(lines[part][resource], start, start + 24, qty, 0)


def meter_blocks(scope: Scope, pool: MeterPool, lines: LineIds) -> Iterator[Block]:
    """One row per line per day: trend x weekday x log-normal noise, rounded to the qty scale."""
    company, month, product = scope.company, scope.month, PRODUCTS[pool.product]
    n, days = len(lines), month.days
    if n == 0:
        return
    size = np.exp(company.rng(pool.key, "size").normal(0.0, 0.25, n)) if n > 1 else np.ones(1)
    day = month.hour0 // 24 + np.arange(days)
    weekday = (scope.timeline.months[0].start.weekday() + day) % 7
    trend = (1 + pool.growth) ** (day / 30.4) * np.where(weekday >= 5, pool.weekend, 1.0)
    sigma = pool.sigma
    noise = np.exp(company.rng(pool.key, month.index).normal(-sigma * sigma / 2, sigma, (days, n)))
    volume = pool.daily * company.volume(pool) * 10**product.qty_scale
    qty = np.rint(volume * trend[:, None] * size[None, :] * noise).astype(np.int64)
    if month.index == scope.timeline.last.index:
        _plant(qty, meter_extra(company.planted, pool.key), 10**product.qty_scale)
    row_day, line = np.nonzero(qty > 0)
    start = (row_day * 24).astype(np.int32)
    yield Block(lines[line], start, start + 24, qty[row_day, line], product.qty_scale)


def _plant(qty: Ints, items: list[Planted], unit: int) -> None:
    """Add each planted anomaly's extra quantity to its resource on its days (in place)."""
    for item in items:
        first, last = item.days
        resource = min(item.resource or 0, qty.shape[1] - 1)  # small scales have fewer
        qty[first - 1 : last - 1, resource] += round(item.extra * unit)


def idle_commitment(scope: Scope, pools: list[InstancePool], weights: list[int]) -> Ints:
    """Per month hour: sum of ``weight`` over covered resources not running in that hour."""
    hour = np.arange(scope.month.hours)
    idle = np.zeros(scope.month.hours, dtype=np.int64)
    for pool, weight in zip(pools, weights, strict=True):
        if pool.schedule.mask is not Mask.ALL:
            raise ValueError(f"{pool.key}: commitments cover always-on pools only")
        first, last = scope.span(pool)
        not_started = len(first) - np.searchsorted(np.sort(first), hour, side="right")
        stopped = np.searchsorted(np.sort(last), hour, side="right")
        idle += weight * (not_started + stopped)
    return idle


def unused_blocks(
    scope: Scope, pools: list[InstancePool], weights: list[int], line: int, scale: int
) -> Iterator[Block]:
    idle = idle_commitment(scope, pools, weights)
    hour = np.nonzero(idle)[0].astype(np.int32)
    if len(hour):
        yield Block(np.full(len(hour), line, np.int32), hour, hour + 1, idle[hour], scale)


def single(line: int, start: int, end: int, qty: int, scale: int) -> Block:
    """A block of one row (fees, credits, purchases, tax)."""
    return Block(
        np.array([line], np.int32),
        np.array([start], np.int32),
        np.array([end], np.int32),
        np.array([qty], np.int64),
        scale,
    )


def covered_pools(company: Company, commitment: Commitment) -> list[InstancePool]:
    return [p for p in company.instances if p.commitment == commitment.key]


def count_rows(company: Company, timeline: Timeline) -> int:
    """Rows the company writes over ``timeline``, without writing them (sizes ``rows=N``)."""
    total = 0
    for pool in company.instances:
        prefix = timeline.prefix(pool.schedule.mask)
        starts, ends = intervals(company, pool, timeline)
        hours = int((prefix[ends] - prefix[starts]).sum())
        total += hours + (hours // 24 if pool.sud_credit is not None else 0)
    for meter in company.meters:
        total += company.count(meter) * (timeline.hours // 24)
    for commitment in company.commitments.values():
        pools = covered_pools(company, commitment)
        for month in timeline.months:
            idle = idle_commitment(Scope(company, timeline, month), pools, [1] * len(pools))
            total += int(np.count_nonzero(idle)) + 1
    return total + len(company.monthly) * len(timeline.months)
