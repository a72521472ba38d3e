"""One provider's month: its catalog, the row sources in write order, and the closing charges.

Sources are zero-argument callables yielding blocks, so nothing is generated before it is
written. Closing charges (support fee, tax) depend on the month's totals and are priced last.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial

import numpy as np

from aifinops.demo import blocks as b
from aifinops.demo.charges import (
    Context,
    committed_price,
    constants,
    instance_lines,
    meter_lines,
    monthly_line,
    purchase_line,
    sud_lines,
    unused_line,
)
from aifinops.demo.company import Commitment, InstancePool, MonthlyCharge, Provider
from aifinops.demo.ledger import LineSums
from aifinops.demo.lines import Catalog
from aifinops.demo.money import SCALE, quantize, to_decimal, units
from aifinops.demo.pricebook import support_fee
from aifinops.demo.timeline import Month

Source = Callable[[], Iterator[b.Block]]
Closing = Callable[[LineSums], b.Block]


@dataclass
class MonthPlan:
    catalog: Catalog
    sources: list[Source] = field(default_factory=list)
    closing: list[Closing] = field(default_factory=list)


def plan_month(scope: b.Scope, provider: Provider, cap: int) -> MonthPlan:
    company, month = scope.company, scope.month
    ctx = Context(company, provider)
    plan = MonthPlan(Catalog(constants(ctx, month)))
    for pool in (p for p in company.instances if p.provider == provider.slug):
        lines = plan.catalog.add_all(instance_lines(ctx, pool))
        plan.sources.append(partial(b.hourly_blocks, scope, pool, lines, cap))
        if pool.sud_credit is not None:
            credits = plan.catalog.add_all(sud_lines(ctx, pool))
            plan.sources.append(partial(b.daily_credit_blocks, scope, pool, credits, cap))
    for meter in (m for m in company.meters if m.provider == provider.slug):
        lines = plan.catalog.add_all(meter_lines(ctx, meter))
        plan.sources.append(partial(b.meter_blocks, scope, meter, lines))
    for commitment in company.commitments.values():
        if commitment.provider == provider.slug:
            _commitment(ctx, plan, commitment, scope)
    for charge in (c for c in company.monthly if c.provider == provider.slug):
        _monthly(ctx, plan, charge, month)
    return plan


@dataclass(frozen=True)
class _Cover:
    """What a commitment covers this month: pools, their sizes, and per-resource weights."""

    pools: list[InstancePool]
    counts: list[int]
    weights: list[int]  # spend: committed USD per hour (scale 10); usage: 1 per resource
    list_price: Decimal
    scale: int  # of the unused/purchase quantity: USD at 10 decimals, or whole hours


def _cover(ctx: Context, c: Commitment) -> _Cover | None:
    pools = b.covered_pools(ctx.company, c)
    prices = [ctx.instance_type(p).price for p in pools]
    counts = [ctx.company.count(p) for p in pools]
    if not pools or not sum(counts):
        return None
    spend = c.category == "Spend"
    if not spend and len(set(prices)) != 1:
        raise ValueError(f"{c.key}: a usage-based commitment covers one instance type")
    weights = [units(committed_price(c, x)) if spend else 1 for x in prices]
    return _Cover(pools, counts, weights, prices[0], SCALE if spend else 0)


def _commitment(ctx: Context, plan: MonthPlan, c: Commitment, scope: b.Scope) -> None:
    cover = _cover(ctx, c)
    if cover is None:
        return
    unused = plan.catalog.add(unused_line(ctx, c, cover.list_price))
    source = partial(b.unused_blocks, scope, cover.pools, cover.weights, unused, cover.scale)
    plan.sources.append(source)
    month = scope.month
    if c.payment == "all-upfront" and month.index != 0:
        return  # bought once, in the first month of the demo
    purchase = plan.catalog.add(purchase_line(ctx, c, cover.list_price))
    if c.category == "Spend":
        committed = sum(w * n for w, n in zip(cover.weights, cover.counts, strict=True))
        qty = int(quantize(Decimal(committed) * c.recurring, 0)) * month.hours
    else:
        qty = sum(cover.counts) * (c.term_hours if c.payment == "all-upfront" else month.hours)
    end = 24 if c.payment == "all-upfront" else month.hours
    plan.sources.append(partial(_one, purchase, 0, end, qty, cover.scale))


def _one(line: int, start: int, end: int, qty: int, scale: int) -> Iterator[b.Block]:
    yield b.single(line, start, end, qty, scale)


def _monthly(ctx: Context, plan: MonthPlan, charge: MonthlyCharge, month: Month) -> None:
    line = plan.catalog.add(monthly_line(ctx, charge))
    if charge.kind in ("subscription", "credit"):
        plan.sources.append(partial(_one, line, 0, month.hours, units(charge.amount), SCALE))
        return
    catalog, provider = plan.catalog, ctx.provider

    def close(sums: LineSums) -> b.Block:
        if charge.kind == "support":
            base = sums.total("BilledCost", catalog.lines_in("support-base"))
            fee = support_fee(to_decimal(base))
        else:
            taxable = np.zeros(len(catalog), dtype=np.bool_)
            for group in sorted(provider.tax_on):
                taxable |= catalog.lines_in(group)
            fee = quantize(to_decimal(sums.total("BilledCost", taxable)) * provider.tax_rate, 2)
        return b.single(line, 0, month.hours, units(fee), SCALE)

    plan.closing.append(close)
