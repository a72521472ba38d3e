"""The GPU machines of a window, measured once for the GPU recommenders.

A machine is what :mod:`aifinops.analysis.gpu` calls one (a usage cost row of a catalog GPU
instance type, or an on-premises row stating its GPUs), keyed by name and billing currency. For
each: its cost and the part of it under a commitment (``PricingCategory = Committed``), billed
GPU-hours, the GPU-hours telemetry covers and how many of them were idle with their cost
(:func:`~aifinops.analysis.gpu.gpu_efficiency`), the idle hours by weekday/weekend and UTC hour
band (:func:`~aifinops.analysis.gpu.idle_pattern`), its region, provider, team and when it was
last billed; and per GPU the telemetry's hours, idle hours and p95 utilisation, compute activity
and memory over the window (:func:`gpu_use`).

Only the few result rows come back to Python; the aggregation is Ibis expressions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aifinops.analysis.common import within
from aifinops.analysis.gpu import (
    GpuEfficiencyQuery,
    gpu_efficiency,
    gpu_rows,
    idle_pattern,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.analysis.recommend import RecommendContext
    from aifinops.engine import Engine
    from aifinops.model.compute_savings import ComputeRecommendSettings

COMMITTED, ON_DEMAND = "Committed", "Standard"
P95 = 0.95


@dataclass(frozen=True)
class Band:
    """Telemetry of a machine in one weekday/weekend x UTC hour band."""

    day_type: str
    hour_band: str
    telemetry_gpu_hours: float
    idle_gpu_hours: float

    @property
    def idle_share(self) -> float:
        return self.idle_gpu_hours / self.telemetry_gpu_hours if self.telemetry_gpu_hours else 0.0


@dataclass(frozen=True)
class GpuUse:
    """One GPU (or MIG instance) of a host over the window, from its hourly averages."""

    gpu: str
    hours: int
    idle_hours: int
    util_p95: float
    compute_p95: float  # SM activity where measured, else utilisation (percent)
    memory_p95_mib: float | None
    memory_total_mib: float | None
    days: int
    mig: bool

    @property
    def idle_share(self) -> float:
        return self.idle_hours / self.hours if self.hours else 0.0


@dataclass
class Machine:
    name: str
    currency: str
    instance_type: str | None
    gpu_model: str | None
    gpus: float
    cost: Decimal
    #: PricingCategory (Standard, Committed, Dynamic ...) -> (cost, machine-hours billed)
    categories: dict[str, tuple[Decimal, float]] = field(default_factory=dict)
    gpu_hours: float = 0.0
    telemetry_gpu_hours: float = 0.0
    idle_gpu_hours: float = 0.0
    provider: str | None = None
    region: str | None = None
    team: str | None = None
    last_end: datetime | None = None
    bands: list[Band] = field(default_factory=list)
    use: list[GpuUse] = field(default_factory=list)

    @property
    def coverage(self) -> float:
        """Share of the billed GPU-hours telemetry covers."""
        return min(1.0, self.telemetry_gpu_hours / self.gpu_hours) if self.gpu_hours else 0.0

    @property
    def scale(self) -> float:
        """Billed over measured GPU-hours: what turns a measured cost into the window's."""
        return self.gpu_hours / self.telemetry_gpu_hours if self.telemetry_gpu_hours else 0.0

    @property
    def committed_cost(self) -> Decimal:
        return self.categories.get(COMMITTED, (Decimal(0), 0.0))[0]

    @property
    def on_demand_cost(self) -> Decimal:
        return self.categories.get(ON_DEMAND, (Decimal(0), 0.0))[0]

    @property
    def basis(self) -> Decimal:
        """The cost not under a commitment: what a change saves at once (a commitment is paid
        whether the machine runs or not)."""
        return self.cost - self.committed_cost

    @property
    def telemetry_days(self) -> int:
        return max((u.days for u in self.use), default=0)

    def running_at(self, moment: datetime) -> bool:
        return self.last_end is not None and self.last_end >= moment


def machines(engine: Engine, ctx: RecommendContext, cfg: ComputeRecommendSettings) -> list[Machine]:
    """The window's GPU machines with their cost, telemetry and idle figures (shared per run)."""
    return ctx.shared("gpu-machines", lambda: _measure(engine, ctx, cfg))


def _measure(engine: Engine, ctx: RecommendContext, cfg: ComputeRecommendSettings) -> list[Machine]:
    query = GpuEfficiencyQuery(
        by=("machine", "instance_type", "gpu_model"),
        metric=ctx.metric,
        window=ctx.window,
        idle_below=cfg.idle_below_pct,
        busy_from=max(cfg.idle_below_pct, 50.0),
    )
    found: dict[tuple[str, str], Machine] = {}
    for r in engine.execute(gpu_efficiency(engine, query)).to_pylist():
        found[(r["machine"], r["BillingCurrency"])] = Machine(
            name=r["machine"],
            currency=r["BillingCurrency"],
            instance_type=r["instance_type"],
            gpu_model=r["gpu_model"],
            gpus=0.0,
            cost=Decimal(r["cost"] or 0),
            gpu_hours=float(r["gpu_hours"] or 0),
            telemetry_gpu_hours=float(r["telemetry_gpu_hours"] or 0),
            idle_gpu_hours=float(r["idle_gpu_hours"] or 0),
        )
    if not found:
        return []
    _add_rows(engine, query, found)
    _add_bands(engine, query, found)
    _add_teams(engine, ctx, found)
    use = gpu_use(engine, ctx, cfg.idle_below_pct)
    for m in found.values():
        m.use = use.get(m.name, [])
    return sorted(found.values(), key=lambda m: (m.name, m.currency))


def _add_rows(
    engine: Engine, query: GpuEfficiencyQuery, found: dict[tuple[str, str], Machine]
) -> None:
    """Cost and machine-hours by pricing category, GPUs, region, provider, last billed time."""
    rows = gpu_rows(
        engine,
        GpuEfficiencyQuery(
            by=("PricingCategory", "RegionId", "ProviderName"),
            metric=query.metric,
            window=query.window,
        ),
    )
    g = rows.group_by("machine", "BillingCurrency", "PricingCategory").aggregate(
        cost=rows.cost.sum(),
        hours=(rows.gpu_hours / rows.gpus).sum(),
        gpus=rows.gpus.max(),
        region=rows.RegionId.max(),
        provider=rows.ProviderName.max(),
        last_end=rows.ChargePeriodEnd.max(),
    )
    for r in engine.execute(g).to_pylist():
        m = found.get((r["machine"], r["BillingCurrency"]))
        if m is None:
            continue
        category = r["PricingCategory"] or ""
        m.categories[category] = (Decimal(r["cost"] or 0), float(r["hours"] or 0))
        m.gpus = max(m.gpus, float(r["gpus"] or 0))
        m.region, m.provider = m.region or r["region"], m.provider or r["provider"]
        m.last_end = max(filter(None, (m.last_end, r["last_end"])), default=None)


def _add_bands(
    engine: Engine, query: GpuEfficiencyQuery, found: dict[tuple[str, str], Machine]
) -> None:
    pattern = idle_pattern(
        engine,
        GpuEfficiencyQuery(
            by=("machine",),
            metric=query.metric,
            window=query.window,
            idle_below=query.idle_below,
            busy_from=query.busy_from,
        ),
    )
    for r in engine.execute(pattern).to_pylist():
        m = found.get((r["machine"], r["BillingCurrency"]))
        if m is not None:
            m.bands.append(
                Band(
                    r["day_type"],
                    r["hour_band"],
                    float(r["telemetry_gpu_hours"] or 0),
                    float(r["idle_gpu_hours"] or 0),
                )
            )


def tag_any_case(table: ir.Table, key: str) -> ir.StringValue:
    """The value of tag ``key`` in any letter case (``team``, ``Team``, ``TEAM``)."""
    import ibis

    tags = table.x_TagsMap
    keys = tags.keys().filter(lambda k: k.lower() == key.lower())
    return ibis.ifelse(keys.length() > 0, tags.get(keys[0]), ibis.null("string"))


def _add_teams(
    engine: Engine, ctx: RecommendContext, found: dict[tuple[str, str], Machine]
) -> None:
    costs = within(engine.table("costs"), ctx.window)
    costs = costs.filter(costs.ChargeCategory == "Usage")
    machine = costs.ResourceName.fill_null(costs.ResourceId)
    costs = costs.filter(machine.isin(sorted({name for name, _ in found})))
    g = costs.group_by(machine=machine).aggregate(team=tag_any_case(costs, "team").max())
    teams = {r["machine"]: r["team"] for r in engine.execute(g).to_pylist()}
    for m in found.values():
        m.team = teams.get(m.name)


def gpu_use(engine: Engine, ctx: RecommendContext, idle_below: float) -> dict[str, list[GpuUse]]:
    """Per host, its GPUs over the window: hours, idle hours, p95 utilisation, compute activity
    (``sm_active``, else utilisation) and memory used, the memory size, days seen, MIG or not."""
    per_gpu = engine.execute(_gpu_use_expr(engine, ctx, idle_below)).to_pylist()
    out: dict[str, list[GpuUse]] = {}
    for r in per_gpu:
        out.setdefault(r["host"], []).append(_use(r))
    for uses in out.values():
        uses.sort(key=lambda u: u.gpu)
    return out


def _use(r: dict[str, Any]) -> GpuUse:
    return GpuUse(
        gpu=r["gpu"],
        hours=int(r["hours"]),
        idle_hours=int(r["idle_hours"] or 0),
        util_p95=float(r["util_p95"]),
        compute_p95=float(r["compute_p95"]),
        memory_p95_mib=r["memory_p95"],
        memory_total_mib=r["memory_total"],
        days=int(r["days"]),
        mig=bool(r["mig"]),
    )


def _gpu_use_expr(engine: Engine, ctx: RecommendContext, idle_below: float) -> ir.Table:
    import ibis

    s = engine.table("gpu_samples")
    window = ctx.window
    if window.start is not None:
        start = datetime.combine(window.start, time(), UTC)
        s = s.filter(s.ts >= ibis.timestamp(start.isoformat(), timezone="UTC"))
    if window.end is not None:
        end = datetime.combine(window.end, time(), UTC)
        s = s.filter(s.ts < ibis.timestamp(end.isoformat(), timezone="UTC"))
    util = s.gpu_util_pct.fill_null(s.gr_engine_active * 100)
    s = s.filter(s.host.notnull(), util.notnull())
    total = s.fb_total_mib.fill_null(s.fb_used_mib + s.fb_free_mib)
    hourly = s.group_by(
        host=s.host,
        gpu=s.gpu_uuid.fill_null(s.gpu_index.cast("string")).fill_null(""),
        hour=s.ts.truncate("h"),
    ).aggregate(
        util=util.mean(),
        compute=(s.sm_active * 100).fill_null(util).mean(),
        memory=s.fb_used_mib.max(),
        total=total.max(),
        mig=s.mig_profile.count(),
    )
    return hourly.group_by("host", "gpu").aggregate(
        hours=hourly.count(),
        idle_hours=(hourly.util < idle_below).sum(),
        util_p95=hourly.util.quantile(P95),
        compute_p95=hourly.compute.quantile(P95),
        memory_p95=hourly.memory.quantile(P95),
        memory_total=hourly.total.max(),
        days=hourly.hour.date().nunique(),
        mig=hourly.mig.sum() > 0,
    )
