"""Commitments: how much to commit for the steady baseline of on-demand compute (``commitment``),
and existing commitments paid for but not used (``commitment-unused``).

Compute is the FOCUS ``ServiceCategory = Compute`` usage of each provider (on-premises rows
aside). Existing commitments are read from FOCUS: ``CommitmentDiscountId`` with
``CommitmentDiscountStatus`` ``Used`` (the usage they covered) and ``Unused`` (the part paid for
nothing), ``PricingCategory = Committed``. Per commitment, utilisation = used / (used + unused)
effective cost; per provider, coverage = committed usage at its on-demand equivalent
(``ContractedCost``, else ``ListCost``) / all compute usage at on-demand prices.

Sizing works hour by hour: the on-demand compute spend of every hour of the window (rows longer
than an hour spread evenly over their hours, hours with none count as 0), less what the
provider's unused commitments could have taken that hour, and the commitment ``C`` that would have
saved most, ``sum(min(u_h, C)) - hours x C x (1 - discount)``
(:func:`~aifinops.model.compute_savings.best_commitment`). The discount is the one observed on
the provider's commitments in the window (1 - effective / on-demand equivalent of their usage),
else ``[recommend_compute] commitment_discount_pct``. Commitments are about amortised prices, so
this reads ``EffectiveCost`` whatever ``--metric`` says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from statistics import median
from typing import TYPE_CHECKING, Any

from aifinops.analysis.common import within
from aifinops.analysis.recommend import Confidence, Recommendation, RecommendContext
from aifinops.analysis.recommend.gpu import settings
from aifinops.model.compute_savings import CommitmentSize, best_commitment, percent
from aifinops.sources.onprem import PROVIDER as ON_PREMISES

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.engine import Engine

COMMITMENT, UNUSED = "commitment", "commitment-unused"
COMPUTE, COMMITTED, ON_DEMAND = "Compute", "Committed", "Standard"
USED_STATUS, UNUSED_STATUS = "Used", "Unused"
#: How each provider sells a commitment for compute (wording only; others get the generic one).
TERMS = {
    "AWS": "a Compute Savings Plan",
    "Microsoft": "an Azure savings plan for compute (or reservations)",
    "Google Cloud": "committed use discounts",
}
GENERIC_TERM = "a savings plan, reservation or committed-use discount"
STEADY_DAYS = 30  # history below this gives low confidence
#: Never commit above the lowest hourly spend of the last week: what still runs every hour.
RECENT_HOURS = 7 * 24


@dataclass(frozen=True)
class Held:
    """One existing commitment over the window."""

    provider: str
    currency: str
    id: str
    name: str
    type: str | None
    used: Decimal
    unused: Decimal
    used_on_demand: Decimal  # the on-demand equivalent of the usage it covered
    last_unused: datetime | None

    @property
    def utilisation(self) -> Decimal:
        total = self.used + self.unused
        return self.used / total if total else Decimal(0)


@dataclass
class Provider:
    """One provider and currency: its commitments, discount and hourly on-demand compute."""

    name: str
    currency: str
    held: list[Held] = field(default_factory=list)
    on_demand: dict[datetime, Decimal] = field(default_factory=dict)
    unused: dict[datetime, Decimal] = field(default_factory=dict)

    @property
    def covered(self) -> Decimal:
        return sum((h.used_on_demand for h in self.held), Decimal(0))

    def discount(self, default: Decimal) -> tuple[Decimal, str]:
        used = sum((h.used for h in self.held), Decimal(0))
        if self.covered > 0 and used < self.covered:
            names = ", ".join(sorted({h.name for h in self.held}))
            return 1 - used / self.covered, f"observed on {names}"
        return default, "the [recommend_compute] commitment_discount_pct default"


def commitment(engine: Engine, ctx: RecommendContext) -> list[Recommendation]:
    """``commitment``: per provider, the hourly commitment for the steady on-demand baseline."""
    out = []
    default = percent(settings(ctx).commitment_discount_pct)
    for p in providers(engine, ctx):
        discount, source = p.discount(default)
        hourly = residual(p, discount, hours(ctx))
        cap = min(hourly[-RECENT_HOURS:], default=None)
        size = best_commitment(hourly, discount, cap=cap)
        if size.hourly > 0 and ctx.monthly(size.saving) > 0:
            capped = size.hourly == cap and best_commitment(hourly, discount).hourly > cap
            out.append(
                _purchase(p, size, hourly, discount=discount, source=source, capped=capped, ctx=ctx)
            )
    return out


def commitment_unused(engine: Engine, ctx: RecommendContext) -> list[Recommendation]:
    """``commitment-unused``: existing commitments with unused hours in the window."""
    out = []
    default = percent(settings(ctx).commitment_discount_pct)
    for p in providers(engine, ctx):
        discount, _ = p.discount(default)
        fill = _fillable(p, discount)
        for held in p.held:
            if held.unused > 0 and ctx.monthly(held.unused) > 0:
                out.append(_unused(p, held, fill, ctx))
    return out


def providers(engine: Engine, ctx: RecommendContext) -> list[Provider]:
    """The providers with compute usage in the window (measured once per run)."""
    return ctx.shared("commitment-providers", lambda: _measure(engine, ctx))


def hours(ctx: RecommendContext) -> list[datetime]:
    assert ctx.window.start is not None  # ctx.days checks the window is closed
    first = datetime.combine(ctx.window.start, time(), UTC)
    return [first + timedelta(hours=h) for h in range(ctx.days * 24)]


def residual(p: Provider, discount: Decimal, every: list[datetime]) -> list[Decimal]:
    """On-demand spend per hour, less what the unused commitments could have taken."""
    out = []
    for hour in every:
        room = p.unused.get(hour, Decimal(0)) / (1 - discount)
        out.append(max(Decimal(0), p.on_demand.get(hour, Decimal(0)) - room))
    return out


def _fillable(p: Provider, discount: Decimal) -> Decimal:
    """On-demand spend (at on-demand prices) that ran while commitments sat unused."""
    return sum(
        (min(p.on_demand.get(h, Decimal(0)), v / (1 - discount)) for h, v in p.unused.items()),
        Decimal(0),
    )


# -- recommendations -------------------------------------------------------------------------


def _purchase(
    p: Provider,
    size: CommitmentSize,
    hourly: list[Decimal],
    *,
    discount: Decimal,
    source: str,
    capped: bool,
    ctx: RecommendContext,
) -> Recommendation:
    on_demand = sum(p.on_demand.values(), Decimal(0))
    covered_now = p.covered
    newly = sum((min(h, size.hourly) for h in hourly), Decimal(0))
    total = covered_now + on_demand
    now, after = _share(covered_now, total), _share(covered_now + newly, total)
    term = TERMS.get(p.name, GENERIC_TERM)
    action = (
        f"Commit {_money(size.hourly_fee)} {p.currency}/hour to {term} on {p.name}: it covers "
        f"{_money(size.hourly)} {p.currency}/hour of on-demand compute."
    )
    evidence = (
        f"on-demand compute over {ctx.days} days: {_money(on_demand)} {p.currency}, hourly "
        f"median {_money(Decimal(median(hourly)))}, lowest {_money(min(hourly))}, highest "
        f"{_money(max(hourly))}; "
        + ("held to the lowest hour of the last 7 days; " if capped else "")
        + "the commitment would have been fully used in "
        f"{size.used_share:.0%} of the hours; discount {discount:.1%} ({source}); coverage of "
        f"compute by commitments {now:.0%} now, {after:.0%} with it."
    )
    return Recommendation(
        kind=COMMITMENT,
        target=f"{p.name} compute",
        action=action,
        monthly_saving=ctx.monthly(size.saving),
        currency=p.currency,
        confidence=Confidence.MEDIUM if ctx.days >= STEADY_DAYS else Confidence.LOW,
        evidence=evidence,
        details={
            "provider": p.name,
            "hourly_on_demand_covered": str(size.hourly),
            "hourly_commitment": str(size.hourly_fee),
            "discount": str(discount),
            "discount_source": source,
            "capped_by_last_week": capped,
            "hours": len(hourly),
            "fully_used_share": str(size.used_share),
            "on_demand_cost": str(on_demand),
            "coverage_now": str(now),
            "coverage_after": str(after),
            "window_saving": str(size.saving),
        },
    )


def _unused(p: Provider, held: Held, fill: Decimal, ctx: RecommendContext) -> Recommendation:
    last, end = held.last_unused, hours(ctx)[-1] + timedelta(hours=1)
    ongoing = last is not None and last >= end - timedelta(days=1)
    if fill > 0:
        how = (
            "put matching on-demand usage under its scope (instance family, region, account), "
            "or exchange or resize it at renewal"
        )
    else:
        how = "resize, exchange or sell it where the provider allows, and renew it smaller"
    evidence = (
        f"{held.utilisation:.1%} used in the window: {_money(held.used)} {p.currency} of "
        f"usage covered, {_money(held.unused)} {p.currency} paid for nothing"
        f"{' (still unused at the end of the window)' if ongoing else ''}; "
        f"{_money(fill)} {p.currency} of {p.name} on-demand compute ran while commitments sat "
        "unused."
    )
    return Recommendation(
        kind=UNUSED,
        target=held.name,
        action=f"Use or resize {held.name} ({held.type or 'commitment'}): {how}.",
        monthly_saving=ctx.monthly(held.unused),
        currency=p.currency,
        confidence=Confidence.HIGH if ongoing and fill > 0 else Confidence.MEDIUM,
        evidence=evidence,
        details=_held_details(held, fill),
    )


def _held_details(held: Held, fill: Decimal) -> dict[str, Any]:
    return {
        "provider": held.provider,
        "commitment_id": held.id,
        "commitment_type": held.type,
        "used": str(held.used),
        "unused": str(held.unused),
        "utilisation": str(held.utilisation),
        "last_unused": held.last_unused.isoformat() if held.last_unused else None,
        "on_demand_while_unused": str(fill),
    }


def _share(part: Decimal, whole: Decimal) -> Decimal:
    return part / whole if whole else Decimal(0)


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):,}"


# -- queries ---------------------------------------------------------------------------------


def _measure(engine: Engine, ctx: RecommendContext) -> list[Provider]:
    usage = _compute(engine, ctx)
    found: dict[tuple[str, str], Provider] = {}

    def get(name: str, currency: str) -> Provider:
        return found.setdefault((name, currency), Provider(name, currency))

    for r in engine.execute(_held_expr(usage)).to_pylist():
        get(r["provider"], r["currency"]).held.append(_held(r))
    for r in engine.execute(_hourly_expr(usage, ctx)).to_pylist():
        p = get(r["provider"], r["currency"])
        for key, column in ((p.on_demand, "on_demand"), (p.unused, "unused")):
            if r[column]:
                key[r["hour"]] = Decimal(str(round(r[column], 6)))
    return sorted(found.values(), key=lambda p: (p.name, p.currency))


def _held(r: dict[str, Any]) -> Held:
    return Held(
        provider=r["provider"],
        currency=r["currency"],
        id=r["id"],
        name=r["name"] or r["id"],
        type=r["type"],
        used=Decimal(r["used"] or 0),
        unused=Decimal(r["unused"] or 0),
        used_on_demand=Decimal(r["used_on_demand"] or 0),
        last_unused=r["last_unused"],
    )


def _compute(engine: Engine, ctx: RecommendContext) -> ir.Table:
    costs = within(engine.table("costs"), ctx.window)
    provider = costs.ServiceProviderName.fill_null(costs.ProviderName)
    costs = costs.mutate(provider=provider.fill_null("(unknown)"), currency=costs.BillingCurrency)
    return costs.filter(
        costs.ChargeCategory == "Usage",
        costs.ServiceCategory == COMPUTE,
        costs.provider != ON_PREMISES,
    )


def _held_expr(usage: ir.Table) -> ir.Table:
    import ibis

    c = usage.filter(usage.CommitmentDiscountId.notnull(), usage.CommitmentDiscountStatus.notnull())
    zero = ibis.literal(0).cast(c.EffectiveCost.type())
    used = c.CommitmentDiscountStatus == USED_STATUS
    unused = c.CommitmentDiscountStatus == UNUSED_STATUS
    on_demand = c.ContractedCost.fill_null(c.ListCost)
    return c.group_by("provider", "currency", id=c.CommitmentDiscountId).aggregate(
        name=c.CommitmentDiscountName.max(),
        type=c.CommitmentDiscountType.max(),
        used=ibis.ifelse(used, c.EffectiveCost, zero).sum(),
        unused=ibis.ifelse(unused, c.EffectiveCost, zero).sum(),
        used_on_demand=ibis.ifelse(used, on_demand.fill_null(zero), zero).sum(),
        last_unused=ibis.ifelse(unused, c.ChargePeriodEnd, ibis.null()).max(),
    )


def _hourly_expr(usage: ir.Table, ctx: RecommendContext) -> ir.Table:
    """Per provider, currency and hour of the window: on-demand and unused-commitment effective
    cost, rows spread evenly over the hours they span."""
    import ibis
    import pyarrow as pa

    rows = usage.filter(
        (usage.PricingCategory == ON_DEMAND) | (usage.CommitmentDiscountStatus == UNUSED_STATUS)
    )
    rows = rows.mutate(
        kind=ibis.ifelse(rows.PricingCategory == ON_DEMAND, "on_demand", "unused"),
        amount=rows.EffectiveCost.cast("float64"),
        minutes=rows.ChargePeriodEnd.delta(rows.ChargePeriodStart, unit="minute"),
    )
    calendar = ibis.memtable(pa.table({"hour": pa.array(hours(ctx), pa.timestamp("us", "UTC"))}))
    calendar = calendar.mutate(next_hour=calendar.hour + ibis.interval(hours=1))
    j = rows.join(
        calendar,
        [calendar.hour < rows.ChargePeriodEnd, calendar.next_hour > rows.ChargePeriodStart],
    )
    overlap = ibis.least(j.ChargePeriodEnd, j.next_hour).delta(
        ibis.greatest(j.ChargePeriodStart, j.hour), unit="minute"
    )
    share = overlap.cast("float64") / j.minutes.cast("float64").nullif(0)
    part = j.amount * share.fill_null(1.0)
    zero = ibis.literal(0.0)
    return j.group_by("provider", "currency", "hour").aggregate(
        on_demand=ibis.ifelse(j.kind == "on_demand", part, zero).sum(),
        unused=ibis.ifelse(j.kind == "unused", part, zero).sum(),
    )
