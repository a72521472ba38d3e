"""``spot``: interruptible training on on-demand GPU machines moved to spot capacity.

A machine is interruptible when a cost row of it carries the spot tag (``interruptible=true`` by
default) or jobs of an interruptible kind (training, fine-tune, experiment, evaluation) ran on it
in the window (``jobs.host`` = the machine). Checkpoints back the claim: a job label whose key
names checkpoints, or objects in ``storage_objects`` under a checkpoint bucket or prefix whose key
holds the job's project. The spot price must be known: what the workspace's own bills show for the
same instance type and region (``PricingCategory = Dynamic`` rows against on-demand ones), else the
catalog's list spot price for that type and region (GCP). AWS and Azure spot prices move by the
hour and are not in the catalog: without spot rows in the bills, those machines get no spot
recommendation.

Saving = on-demand cost x share of the machine's billed hours that interruptible jobs ran
(all of it when tagged) x (1 - spot/on-demand price x (1 + interruption allowance)).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aifinops.analysis.common import within
from aifinops.analysis.recommend import Confidence, Recommendation, RecommendContext
from aifinops.analysis.recommend.gpu import idle_finding, settings, window_end
from aifinops.analysis.recommend.machines import Machine, machines, tag_any_case
from aifinops.model.compute_savings import is_true, percent, spot_saving
from aifinops.model.gpu_prices import gpu_prices

if TYPE_CHECKING:
    from aifinops.engine import Engine

SPOT = "spot"
DYNAMIC, STANDARD = "Dynamic", "Standard"
CHECKPOINT = "checkpoint"


@dataclass(frozen=True)
class Work:
    """Interruptible jobs of one host in the window."""

    hours: float
    jobs: int
    kinds: tuple[str, ...]
    projects: tuple[str, ...]
    checkpoint_labels: bool


@dataclass(frozen=True)
class SpotPrice:
    ratio: Decimal  # spot / on-demand
    source: str


def spot(engine: Engine, ctx: RecommendContext) -> list[Recommendation]:
    """``spot``: run interruptible training on spot where the spot price is known."""
    cfg = settings(ctx)
    every = machines(engine, ctx, cfg)
    cloud = [m for m in every if m.instance_type and m.on_demand_cost > 0]
    if not cloud:
        return []
    work = _work(engine, ctx, cfg.spot_job_kinds)
    tagged = _tagged(engine, ctx, cfg.spot_tag, [m.name for m in cloud])
    observed = _observed_ratios(every)
    checkpoints = _checkpointed(engine, {p for w in work.values() for p in w.projects})
    out = []
    for m in cloud:
        idle = idle_finding(m, cfg)
        if (idle is not None and idle.stop) or (m.name not in work and m.name not in tagged):
            continue
        price = _price(m, observed)
        if price is None:
            continue
        found = work.get(m.name)
        share = Decimal(1) if m.name in tagged else _share(m, found)
        saving = spot_saving(m.on_demand_cost * share, price.ratio, percent(cfg.spot_overhead_pct))
        proof = m.name in tagged or (found is not None and _has_checkpoints(found, checkpoints))
        if ctx.monthly(saving) > 0:
            c = Candidate(m, found, price, share, saving, proof)
            out.append(c.recommendation(cfg.spot_overhead_pct, ctx))
    return out


def _share(m: Machine, found: Work | None) -> Decimal:
    hours = m.gpu_hours / m.gpus if m.gpus else 0.0
    if found is None or not hours:
        return Decimal(0)
    return min(Decimal(1), Decimal(str(round(found.hours / hours, 6))))


def _price(m: Machine, observed: dict[tuple[str, str | None], Decimal]) -> SpotPrice | None:
    key = (str(m.instance_type), m.region)
    if key in observed:
        return SpotPrice(observed[key], f"spot rows of {m.instance_type} in this workspace's bills")
    for p in gpu_prices():
        if p.instance_type == m.instance_type and p.region == m.region and p.spot and p.on_demand:
            source = (
                f"catalog {p.spot_kind} list price {p.spot:.4f} vs on-demand "
                f"{p.on_demand:.4f} USD/h ({p.region}, {p.as_of})"
            )
            return SpotPrice(p.spot / p.on_demand, source)
    return None


def _has_checkpoints(found: Work, checkpoints: set[str]) -> bool:
    return found.checkpoint_labels or any(p in checkpoints for p in found.projects)


@dataclass(frozen=True)
class Candidate:
    """A machine to move to spot, with what makes the case."""

    machine: Machine
    work: Work | None  # None: tagged interruptible
    price: SpotPrice
    share: Decimal  # of its billed hours that interruptible work ran
    saving: Decimal  # over the window
    checkpoints: bool

    def recommendation(self, overhead: float, ctx: RecommendContext) -> Recommendation:
        m = self.machine
        return Recommendation(
            kind=SPOT,
            target=m.name,
            action=f"Run the interruptible work of {m.name} ({m.instance_type}, {m.region}) on "
            "spot capacity, checkpointing so an interruption loses little.",
            monthly_saving=ctx.monthly(self.saving),
            currency=m.currency,
            confidence=Confidence.MEDIUM if self.checkpoints else Confidence.LOW,
            evidence=self.evidence(overhead, running=m.running_at(window_end(ctx))),
            team=m.team,
            details=self.details(),
        )

    def evidence(self, overhead: float, *, running: bool) -> str:
        m, work = self.machine, self.work
        why = (
            "tagged interruptible"
            if work is None
            else f"{work.jobs} {'/'.join(work.kinds)} job(s) ran {work.hours:,.0f} h on it "
            f"({self.share:.0%} of its billed hours)"
        )
        cost = m.on_demand_cost.quantize(Decimal("0.01"))
        return (
            f"{why}; on-demand cost {cost:,} {m.currency} in the window; spot at "
            f"{self.price.ratio:.1%} of on-demand ({self.price.source}); {overhead:g}% more hours "
            "allowed for interruptions; "
            + ("checkpoints seen" if self.checkpoints else "no checkpoints seen (labels, storage)")
            + ("" if running else "; not running now: the saving is for its next runs")
            + "."
        )

    def details(self) -> dict[str, Any]:
        m, work = self.machine, self.work
        return {
            "machine": m.name,
            "instance_type": m.instance_type,
            "region": m.region,
            "on_demand_cost": str(m.on_demand_cost),
            "spot_ratio": str(self.price.ratio),
            "spot_price_source": self.price.source,
            "interruptible_share": str(self.share),
            "jobs": work.jobs if work else 0,
            "job_kinds": list(work.kinds) if work else [],
            "projects": list(work.projects) if work else [],
            "checkpoints": self.checkpoints,
            "window_saving": str(self.saving),
        }


# -- queries ---------------------------------------------------------------------------------


def _work(engine: Engine, ctx: RecommendContext, kinds: Iterable[str]) -> dict[str, Work]:
    """Per host: hours of interruptible jobs inside the window, their kinds and projects."""
    import ibis

    jobs = engine.table("jobs")
    start, end = _bounds(ctx)
    first = ibis.greatest(jobs.start_time, ibis.timestamp(start.isoformat(), timezone="UTC"))
    until = ibis.timestamp(end.isoformat(), timezone="UTC")
    last = ibis.least(jobs.end_time.fill_null(until), until)  # a running job: to the end
    wanted = [k.lower() for k in kinds]
    jobs = jobs.filter(jobs.host.notnull(), jobs.kind.lower().isin(wanted), last > first)
    labels = jobs.labels_map
    marked = labels.keys().filter(lambda k: k.lower().contains(CHECKPOINT)).length() > 0
    g = jobs.group_by("host").aggregate(
        minutes=last.delta(first, unit="minute").sum(),
        jobs=jobs.count(),
        kinds=jobs.kind.lower().collect(distinct=True),
        projects=labels.get("project").collect(distinct=True),
        marked=marked.any(),
    )
    return {
        r["host"]: Work(
            hours=float(r["minutes"]) / 60,
            jobs=int(r["jobs"]),
            kinds=tuple(sorted(r["kinds"])),
            projects=tuple(sorted(p for p in r["projects"] if p)),
            checkpoint_labels=bool(r["marked"]),
        )
        for r in engine.execute(g).to_pylist()
    }


def _bounds(ctx: RecommendContext) -> tuple[datetime, datetime]:
    from datetime import timedelta

    end = window_end(ctx)
    return end - timedelta(days=ctx.days), end


def _tagged(engine: Engine, ctx: RecommendContext, key: str, names: list[str]) -> set[str]:
    costs = within(engine.table("costs"), ctx.window)
    machine = costs.ResourceName.fill_null(costs.ResourceId)
    costs = costs.filter(costs.ChargeCategory == "Usage", machine.isin(names))
    g = costs.group_by(machine=machine).aggregate(
        value=tag_any_case(costs, key).collect(distinct=True)
    )
    rows = engine.execute(g).to_pylist()
    return {r["machine"] for r in rows if any(is_true(v) for v in r["value"] or [])}


def _observed_ratios(found: list[Machine]) -> dict[tuple[str, str | None], Decimal]:
    """Spot / on-demand price per machine-hour, by instance type and region, from the bills."""
    sums: dict[tuple[str, str | None, str], tuple[Decimal, Decimal]] = {}
    for m in found:
        for category, (cost, hours) in m.categories.items():
            if m.instance_type and category in (DYNAMIC, STANDARD) and hours:
                key = (m.instance_type, m.region, category)
                before = sums.get(key, (Decimal(0), Decimal(0)))
                sums[key] = (before[0] + cost, before[1] + Decimal(str(round(hours, 9))))
    price = {key: cost / hours for key, (cost, hours) in sums.items()}
    return {
        (t, region): price[(t, region, DYNAMIC)] / value
        for (t, region, category), value in price.items()
        if category == STANDARD and value and (t, region, DYNAMIC) in price
    }


def _checkpointed(engine: Engine, projects: set[str]) -> set[str]:
    """The projects with objects under a checkpoint bucket or prefix naming them."""
    import ibis
    import pyarrow as pa

    if not projects:
        return set()
    objects = engine.table("storage_objects")
    where = objects.bucket.lower().contains(CHECKPOINT) | objects.key.lower().contains(CHECKPOINT)
    objects = objects.filter(where)
    names = ibis.memtable(pa.table({"project": sorted(projects)}))
    j = objects.cross_join(names).filter(lambda t: t.key.contains(t.project))
    return {r["project"] for r in engine.execute(j.select("project").distinct()).to_pylist()}
