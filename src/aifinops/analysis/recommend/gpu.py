"""GPU recommendations: stop or schedule idle machines (``gpu-idle``), and a smaller GPU, a MIG
profile or fewer GPUs where memory and compute headroom allow (``gpu-rightsize``).

Both read the machines of :mod:`.machines` (cost joined to telemetry by host and hour). Cloud
machines only: an on-premises server's cost is mostly sunk (amortisation), so stopping or
shrinking it saves little of what its idle cost shows.

Savings are estimates: a measured share (idle GPU-hours, a price ratio) times the machine's cost
over the window, scaled from the hours with telemetry to the billed hours, counting only the cost
not under a commitment, then scaled to 30 days by :meth:`RecommendContext.monthly`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aifinops.analysis.recommend import Confidence, Recommendation, RecommendContext
from aifinops.analysis.recommend.machines import Band, Machine, machines
from aifinops.model.compute_savings import ComputeRecommendSettings
from aifinops.model.gpu_catalog import GpuInstanceType, instance_type
from aifinops.model.gpu_prices import GpuPrice, gpu_prices
from aifinops.model.mig import (
    gpus_needed,
    is_cuda_gpu,
    memory_mib,
    profiles_for,
    smallest_fit,
    tdp_watts,
)

if TYPE_CHECKING:
    from aifinops.engine import Engine

IDLE, RIGHTSIZE = "gpu-idle", "gpu-rightsize"
#: Telemetry (days, share of billed GPU-hours) for high and medium confidence.
HIGH_WHEN, MEDIUM_WHEN = (14, 0.4), (7, 0.2)
#: A machine not billed in this long before the window ends is gone: nothing to stop or resize.
GONE_AFTER = timedelta(days=3)
_RANK = {Confidence.LOW: 0, Confidence.MEDIUM: 1, Confidence.HIGH: 2}


def settings(ctx: RecommendContext) -> ComputeRecommendSettings:
    return ctx.settings.recommend_compute if ctx.settings else ComputeRecommendSettings()


def window_end(ctx: RecommendContext) -> datetime:
    end = ctx.window.end
    assert end is not None  # ctx.days checked it
    return datetime.combine(end, time(), UTC)


def confidence(m: Machine, cap: Confidence = Confidence.HIGH) -> Confidence:
    """From the days of telemetry and the share of billed GPU-hours it covers, at most ``cap``."""
    days, share = m.telemetry_days, m.coverage
    found = (
        Confidence.HIGH
        if days >= HIGH_WHEN[0] and share >= HIGH_WHEN[1]
        else Confidence.MEDIUM
        if days >= MEDIUM_WHEN[0] and share >= MEDIUM_WHEN[1]
        else Confidence.LOW
    )
    return min(found, cap, key=_RANK.__getitem__)


def measured(m: Machine, cfg: ComputeRecommendSettings, ctx: RecommendContext) -> bool:
    """A cloud machine billed in the window's last days, with enough telemetry to judge."""
    return (
        m.instance_type is not None
        and m.telemetry_gpu_hours > 0
        and m.telemetry_days >= cfg.min_telemetry_days
        and m.running_at(window_end(ctx) - GONE_AFTER)
    )


def exact(value: float) -> Decimal:
    """A measured quantity (GPU-hours: sums of whole or scaled hours) as a decimal."""
    return Decimal(str(round(value, 9)))


def _fmt(value: Decimal | float, currency: str) -> str:
    return f"{Decimal(str(value)).quantize(Decimal('0.01')):,} {currency}"


# -- gpu-idle --------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdleFinding:
    stop: bool  # the whole machine (else: the bands listed)
    saving: Decimal  # over the window
    bands: tuple[Band, ...]
    share: float  # idle share of the GPU-hours measured (in the bands, for a schedule)


def idle_finding(m: Machine, cfg: ComputeRecommendSettings) -> IdleFinding | None:
    """Stop a machine idle most of the time, else schedule it off in the bands it idles.

    Saving = the cost not under a commitment x the idle GPU-hours (all, or those of the bands)
    / the GPU-hours measured: the cost of the idle hours, with the measured hours standing for the
    billed ones (a GPU-hour costs the same all window long)."""
    if not m.telemetry_gpu_hours:
        return None
    threshold = cfg.idle_share_pct / 100
    measured_hours = exact(m.telemetry_gpu_hours)
    share = exact(m.idle_gpu_hours) / measured_hours
    if share >= Decimal(str(threshold)):
        return IdleFinding(True, m.basis * share, (), float(share))
    off = tuple(b for b in m.bands if b.telemetry_gpu_hours and b.idle_share >= threshold)
    idle = sum((exact(b.idle_gpu_hours) for b in off), Decimal(0))
    if not off or not idle:
        return None
    seen = sum((exact(b.telemetry_gpu_hours) for b in off), Decimal(0))
    return IdleFinding(False, m.basis * idle / measured_hours, off, float(idle / seen))


def describe_bands(bands: tuple[Band, ...]) -> str:
    """``on weekends and on weekdays 00-06 and 18-24 UTC``."""
    parts = []
    for day_type in ("weekend", "weekday"):
        hours = [b.hour_band for b in bands if b.day_type == day_type]
        if len(hours) == 4:
            parts.append(f"on {day_type}s")
        elif hours:
            parts.append(f"on {day_type}s {' and '.join(hours)} UTC")
    return " and ".join(parts)


def gpu_idle(engine: Engine, ctx: RecommendContext) -> list[Recommendation]:
    """``gpu-idle``: stop machines idle most of the time; schedule off the weekday/weekend x hour
    bands a machine idles in."""
    cfg = settings(ctx)
    out = []
    for m in machines(engine, ctx, cfg):
        found = idle_finding(m, cfg) if measured(m, cfg, ctx) else None
        if found is None or ctx.monthly(found.saving) <= 0:
            continue
        out.append(_idle_recommendation(m, found, cfg, ctx))
    return out


def _idle_recommendation(
    m: Machine, found: IdleFinding, cfg: ComputeRecommendSettings, ctx: RecommendContext
) -> Recommendation:
    what = f"{m.name} ({m.instance_type}, {m.gpus:g} x {m.gpu_model})"
    if found.stop:
        action = f"Stop {what}, or schedule it on only when needed: it idles."
    else:
        action = f"Schedule {what} off {describe_bands(found.bands)}: it idles then."
    return Recommendation(
        kind=IDLE,
        target=m.name,
        action=action,
        monthly_saving=ctx.monthly(found.saving),
        currency=m.currency,
        confidence=confidence(m),
        evidence=_idle_evidence(m, found, cfg),
        team=m.team,
        details=_machine_details(m)
        | {
            "idle_share": round(found.share, 4),
            "schedule_off": [f"{b.day_type} {b.hour_band}" for b in found.bands],
            "window_saving": str(found.saving),
        },
    )


def _idle_evidence(m: Machine, found: IdleFinding, cfg: ComputeRecommendSettings) -> str:
    pattern = "; ".join(
        f"{d}s {share:.0%} idle"
        for d in ("weekday", "weekend")
        if (share := _day_share(m.bands, d)) is not None
    )
    text = (
        f"GPUs under {cfg.idle_below_pct:g}% in {m.idle_gpu_hours:,.0f} of "
        f"{m.telemetry_gpu_hours:,.0f} GPU-hours measured over {m.telemetry_days} days "
        f"({pattern}); telemetry covers {m.coverage:.0%} of the {m.gpu_hours:,.0f} billed "
        f"GPU-hours; cost {_fmt(m.cost, m.currency)} in the window"
    )
    if not found.stop:
        text += f"; {found.share:.0%} idle in the hours to schedule off"
    if m.committed_cost:
        text += f"; {m.committed_cost / m.cost:.0%} of it under a commitment, not counted"
    return text + "."


def _day_share(bands: list[Band], day_type: str) -> float | None:
    seen = sum(b.telemetry_gpu_hours for b in bands if b.day_type == day_type)
    return sum(b.idle_gpu_hours for b in bands if b.day_type == day_type) / seen if seen else None


def _machine_details(m: Machine) -> dict[str, Any]:
    return {
        "machine": m.name,
        "instance_type": m.instance_type,
        "gpu_model": m.gpu_model,
        "gpus": m.gpus,
        "provider": m.provider,
        "region": m.region,
        "cost": str(m.cost),
        "committed_cost": str(m.committed_cost),
        "gpu_hours": m.gpu_hours,
        "telemetry_gpu_hours": m.telemetry_gpu_hours,
        "telemetry_days": m.telemetry_days,
        "coverage": round(m.coverage, 4),
    }


# -- gpu-rightsize ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    """What the busy GPUs of a machine need: how many, p95 memory and compute with headroom."""

    gpus: int
    dropped: int  # GPUs idle consistently
    memory_mib: float | None
    compute_pct: float
    util_pct: float


@dataclass(frozen=True)
class Option:
    how: str  # "fewer GPUs" | "smaller GPU" | "MIG"
    price: GpuPrice
    ratio: Decimal  # new price / current
    note: str
    extra: dict[str, Any] = field(default_factory=dict)


def need(m: Machine, cfg: ComputeRecommendSettings) -> Need | None:
    """None when the machine is idle as a whole (``gpu-idle``'s) or already uses MIG."""
    if any(u.mig for u in m.use):
        return None
    count = round(m.gpus)
    seen = m.use[:count]
    idle = [u for u in seen if u.idle_share >= cfg.idle_share_pct / 100]
    busy = [u for u in seen if u not in idle]
    if not busy:
        return None
    head = 1 + cfg.headroom_pct / 100
    memory = [u.memory_p95_mib for u in busy]
    return Need(
        gpus=count - len(idle),
        dropped=len(idle),
        memory_mib=None if None in memory else max(m for m in memory if m is not None) * head,
        compute_pct=max(u.compute_p95 for u in busy) * head,
        util_pct=max(u.util_p95 for u in busy),
    )


def prices_in(cloud: str, region: str | None, current: str) -> tuple[str, list[GpuPrice]]:
    """On-demand prices of ``cloud`` in ``region``, else in the region listing most of its types
    that prices ``current`` (ratios between types travel between regions better than prices)."""
    rows = [p for p in gpu_prices() if p.cloud == cloud and p.on_demand is not None]
    regions: dict[str, list[GpuPrice]] = {}
    for p in rows:
        regions.setdefault(p.region, []).append(p)
    usable = {r: ps for r, ps in regions.items() if any(p.instance_type == current for p in ps)}
    if region in usable:
        return region, usable[region]
    if not usable:
        return "", []
    best = max(usable, key=lambda r: (len(usable[r]), r))
    return best, usable[best]


def options(
    m: Machine, want: Need, current: GpuInstanceType, cfg: ComputeRecommendSettings
) -> list[Option]:
    _, prices = prices_in(current.cloud, m.region, current.name)
    now = next((p for p in prices if p.instance_type == current.name), None)
    if now is None or not now.on_demand:
        return []
    cheaper = [p for p in prices if p.on_demand is not None and p.on_demand < now.on_demand]
    found = _fewer(want, current, now, cheaper) + _smaller(want, current, now, cheaper, cfg)
    return found + _mig(want, current, now, cheaper)


def _ratio(new: GpuPrice, now: GpuPrice) -> Decimal:
    assert new.on_demand is not None and now.on_demand
    return new.on_demand / now.on_demand


def _same_model(p: GpuPrice, current: GpuInstanceType) -> bool:
    t = instance_type(p.instance_type)
    return t is not None and t.gpu_model == current.gpu_model and t.gpu_count >= 1


def _fewer(
    want: Need, current: GpuInstanceType, now: GpuPrice, cheaper: list[GpuPrice]
) -> list[Option]:
    if not want.dropped:
        return []
    fits = [
        p
        for p in cheaper
        if _same_model(p, current) and want.gpus <= p.gpu_count < current.gpu_count
    ]
    note = f"{want.dropped} of its {current.gpu_count} GPUs idle consistently"
    return [Option("fewer GPUs", p, _ratio(p, now), note) for p in fits]


def _smaller(
    want: Need,
    current: GpuInstanceType,
    now: GpuPrice,
    cheaper: list[GpuPrice],
    cfg: ComputeRecommendSettings,
) -> list[Option]:
    power = tdp_watts(current.gpu_model)
    if want.memory_mib is None or power is None or want.util_pct > cfg.rightsize_below_pct:
        return []
    out = []
    for p in cheaper:
        t = instance_type(p.instance_type)
        if t is None or t.gpu_model == current.gpu_model or not is_cuda_gpu(t.gpu_model):
            continue
        memory, watts = memory_mib(t.gpu_model, t.gpu_memory_mib), tdp_watts(t.gpu_model)
        if t.gpu_count < max(want.gpus, 1) or t.gpu_count != int(t.gpu_count):
            continue
        if memory is None or watts is None or memory < want.memory_mib:
            continue
        if watts < power * want.compute_pct / 100:
            continue
        note = f"{t.gpu_model} {memory:,} MiB, {watts} W board power vs {power} W"
        out.append(Option("smaller GPU", p, _ratio(p, now), note))
    return out


def _mig(
    want: Need, current: GpuInstanceType, now: GpuPrice, cheaper: list[GpuPrice]
) -> list[Option]:
    gpu_memory = memory_mib(current.gpu_model, current.gpu_memory_mib)
    profiles = profiles_for(current.gpu_model, gpu_memory)
    if not profiles or gpu_memory is None or want.memory_mib is None:
        return []
    profile = smallest_fit(
        profiles,
        gpu_memory_mib=gpu_memory,
        need_memory_mib=want.memory_mib,
        need_compute_share=want.compute_pct / 100,
    )
    if profile is None:
        return []
    gpus = gpus_needed(want.gpus, profile)
    fits = [
        p for p in cheaper if _same_model(p, current) and gpus <= p.gpu_count < current.gpu_count
    ]
    note = f"{want.gpus} workloads as MIG {profile.name} instances, {profile.max_instances} a GPU"
    extra = {"mig_profile": profile.name, "gpus_needed": gpus}
    return [Option("MIG", p, _ratio(p, now), note, extra) for p in fits]


def gpu_rightsize(engine: Engine, ctx: RecommendContext) -> list[Recommendation]:
    """``gpu-rightsize``: the cheapest catalog type (same cloud and region) with fewer GPUs, a
    smaller GPU or MIG instances that holds the p95 memory and compute measured."""
    cfg = settings(ctx)
    out = []
    for m in machines(engine, ctx, cfg):
        current = instance_type(m.instance_type) if m.instance_type else None
        want = need(m, cfg) if current and measured(m, cfg, ctx) else None
        if want is None or current is None:
            continue
        idle = idle_finding(m, cfg)
        if idle is not None and idle.stop:
            continue  # gpu-idle says stop it
        found = options(m, want, current, cfg)
        if found:
            best = min(found, key=lambda o: (o.ratio, o.price.instance_type))
            basis = m.basis - (idle.saving if idle else Decimal(0))
            saving = basis * (1 - best.ratio)
            if ctx.monthly(saving) > 0:
                out.append(
                    _rightsize_recommendation(
                        m, want, best, saving=saving, current=current, ctx=ctx
                    )
                )
    return out


def _rightsize_recommendation(
    m: Machine,
    want: Need,
    best: Option,
    *,
    saving: Decimal,
    current: GpuInstanceType,
    ctx: RecommendContext,
) -> Recommendation:
    new = best.price
    action = f"Move {m.name} from {current.name} to {new.instance_type} ({best.how}: {best.note})."
    memory = f"{want.memory_mib:,.0f} MiB" if want.memory_mib is not None else "unknown"
    evidence = (
        f"p95 over {m.telemetry_days} days of telemetry ({m.coverage:.0%} of billed GPU-hours): "
        f"GPU utilisation {want.util_pct:.0f}%, memory needed with headroom {memory}, compute "
        f"{want.compute_pct:.0f}% of one {current.gpu_model}; {want.gpus} of {current.gpu_count} "
        f"GPUs busy; list price {new.instance_type} {new.on_demand} vs {current.name} "
        f"{_price_of(current.name, new.region)} USD/h in {new.region} "
        f"(ratio {best.ratio:.3f}, applied to the cost billed)."
    )
    cap = Confidence.LOW if best.how == "smaller GPU" else Confidence.MEDIUM
    return Recommendation(
        kind=RIGHTSIZE,
        target=m.name,
        action=action,
        monthly_saving=ctx.monthly(saving),
        currency=m.currency,
        confidence=confidence(m, cap),
        evidence=evidence,
        team=m.team,
        details=_machine_details(m)
        | best.extra
        | {
            "how": best.how,
            "to_instance_type": new.instance_type,
            "price_region": new.region,
            "price_ratio": str(best.ratio),
            "busy_gpus": want.gpus,
            "memory_needed_mib": want.memory_mib,
            "compute_needed_pct": want.compute_pct,
            "window_saving": str(saving),
        },
    )


def _price_of(name: str, region: str) -> Decimal | None:
    return next(
        (p.on_demand for p in gpu_prices() if p.instance_type == name and p.region == region), None
    )
