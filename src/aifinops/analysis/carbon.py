"""Carbon and energy of GPU machines: kWh and kg CO2e beside their cost.

The machines are those of the GPU efficiency report (:func:`aifinops.analysis.gpu.gpu_rows`:
usage cost rows of catalog GPU instance types and on-prem servers), with the same join of
telemetry by host and UTC hour inside the charge period, scaled so a machine never shows more
GPUs than it is billed for.

Energy of each billed GPU-hour, by method (see :mod:`aifinops.analysis.energy`):

* ``measured`` (energy counter) or ``power`` (power samples) where telemetry has them;
* ``modelled`` where telemetry has only utilisation, and for billed GPU-hours without telemetry
  at the assumed utilisation (``[carbon] assumed_utilisation_pct``, CCF's 50%): idle + u x
  (max - idle) watts of the GPU model (:func:`aifinops.model.carbon.gpu_power`). A GPU model
  without a power model leaves those GPU-hours' energy unknown.

``gpu_kwh`` is the GPUs' own energy; ``kwh`` adds the data centre's overhead (x PUE) and
``kgco2e`` is ``kwh`` x the grid intensity of the machine's region (FOCUS ``RegionId``; on-prem:
the cluster's ``[carbon]`` setting). Only GPUs are counted: the host's CPUs, memory, disks and
network are not. Where PUE or intensity is unknown the GPU-hours are counted in
``unknown_share`` and named in ``unknowns``; their energy and emissions are never taken as zero,
and the ratios (``kgco2e_per_1000``, ``kgco2e_per_gpu_hour``) are over the GPU-hours whose
emissions are known and their share of the cost (a cost row's cost spread evenly over its
GPU-hours).

Money: ``cost`` is the exact decimal sum of the cost metric. Energy and emissions are estimates
computed in binary floating point and rounded half-even (kWh and kg to 3 places, ratios and
shares to 6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from aifinops.analysis.energy import FIGURES
from aifinops.errors import QueryError
from aifinops.model.carbon import (
    ASSUMED_UTILISATION_PCT,
    ONPREM,
    CarbonFactors,
    Site,
    gpu_power,
    provider_key,
    region_key,
)
from aifinops.model.metrics import CostMetric
from aifinops.model.timewindow import Window

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

    from aifinops.engine import Engine
    from aifinops.model.carbon import CarbonSettings
    from aifinops.model.gpu_prices import GpuPrice
    from aifinops.model.onprem import OnPremInventory

DEFAULT_BY = ("ServiceProviderName", "RegionId")
METHODS = ("measured", "power", "modelled")
#: the cost-row columns that place a machine and pick its power model
SITE = (
    "HostProviderName",
    "ServiceProviderName",
    "ProviderName",
    "RegionId",
    "BillingAccountName",
    "gpu_model",
    "instance_type",
)
_ROW = ("x_IngestFileId", "x_SourceRecord")


@dataclass(frozen=True)
class CarbonQuery:
    """``by`` dimensions (FOCUS columns, ``tag:KEY``, ``machine``, ``instance_type``,
    ``gpu_model``), a cost metric, a window, the places' factors and the utilisation assumed
    where none is measured (percent)."""

    by: tuple[str, ...] = DEFAULT_BY
    metric: CostMetric = CostMetric.EFFECTIVE
    window: Window = field(default_factory=Window)
    factors: CarbonFactors = field(default_factory=CarbonFactors)
    assumed_util_pct: Decimal = ASSUMED_UTILISATION_PCT


class CarbonView(StrEnum):
    """What the carbon report shows: GPU machines by cost dimensions, jobs, or regions."""

    COSTS = "costs"
    JOBS = "jobs"
    REGIONS = "regions"

    @classmethod
    def parse(cls, text: str) -> CarbonView:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise QueryError(
                f"unknown carbon view {text!r}", hint="use costs, jobs or regions"
            ) from None


def view_of(*, jobs: bool, regions: bool) -> CarbonView:
    """The view the report's ``--jobs`` / ``--regions`` flags choose."""
    if jobs and regions:
        raise QueryError("--jobs and --regions are two different views", hint="choose one")
    return CarbonView.JOBS if jobs else CarbonView.REGIONS if regions else CarbonView.COSTS


#: columns a terminal table leaves out (CSV, JSON and Parquet have them all)
TERMINAL_OMITS = (
    "gpu_kwh",
    "kgco2e_per_1000",
    "on_demand_here",
    "on_demand_there",
    "g_per_kwh",
    "suggested_g_per_kwh",
    "lowest_g_per_kwh",
    "gpu_kwh_per_month",
)


def for_terminal(table: pa.Table) -> pa.Table:
    """Fewer columns: the method shares as one ``method`` text (``power 57%, modelled 43%``),
    and none of :data:`TERMINAL_OMITS`."""
    import pyarrow as pa

    shares = [f"{m}_share" for m in METHODS]
    if all(s in table.column_names for s in shares):
        rows = table.select(shares).to_pylist()
        text = [
            ", ".join(f"{m} {r[f'{m}_share']:.0%}" for m in METHODS if r[f"{m}_share"]) or None
            for r in rows
        ]
        at = table.column_names.index(shares[0])
        table = table.drop_columns(shares).add_column(at, "method", pa.array(text, pa.string()))
    return table.drop_columns([c for c in TERMINAL_OMITS if c in table.column_names])


def carbon_report(
    engine: Engine,
    view: CarbonView,
    by: tuple[str, ...] | None,
    *,
    metric: CostMetric,
    window: Window,
    settings: CarbonSettings,
    onprem: OnPremInventory | None = None,
) -> pa.Table:
    """The carbon report of ``view`` (``by`` None: the view's default dimensions)."""
    from aifinops.model.carbon import factors_for

    factors = factors_for(settings, onprem)
    util = Decimal(settings.assumed_utilisation_pct)
    if view is CarbonView.JOBS:
        from aifinops.analysis.carbon_jobs import DEFAULT_BY as JOB_BY
        from aifinops.analysis.carbon_jobs import JobCarbonQuery, job_carbon

        jobs = JobCarbonQuery(
            by=by or JOB_BY, window=window, factors=factors, assumed_util_pct=util
        )
        return job_carbon(engine, jobs)
    query = CarbonQuery(
        by=by or DEFAULT_BY, metric=metric, window=window, factors=factors, assumed_util_pct=util
    )
    return (carbon_regions if view is CarbonView.REGIONS else carbon)(engine, query)


def site_rows(engine: Engine, query: CarbonQuery) -> ir.Table:
    """GPU machine cost rows summed per ``by``, currency and :data:`SITE`: billed GPU-hours,
    the telemetry sums of :data:`FIGURES`, GPU-hours without telemetry (``unseen``), cost and
    the first and last charge times."""
    import ibis

    from aifinops.analysis import energy
    from aifinops.analysis.gpu import GpuEfficiencyQuery, gpu_rows

    by = tuple(dict.fromkeys([*query.by, *SITE]))
    rows = gpu_rows(engine, GpuEfficiencyQuery(by=by, metric=query.metric, window=query.window))
    hh = energy.host_hours(engine, query.window)
    j = rows.join(
        hh,
        [
            rows.machine == hh.host,
            hh.hour >= rows.ChargePeriodStart,
            hh.hour < rows.ChargePeriodEnd,
        ],
    )
    scale = ibis.least(1.0, j.gpus / j.seen)
    per_row = j.group_by(list(_ROW)).aggregate(**{f: (j[f] * scale).sum() for f in FIGURES})
    r = rows.left_join(per_row, list(_ROW))
    r = r.mutate(**{f: r[f].fill_null(0.0) for f in FIGURES})
    r = r.mutate(unseen=ibis.greatest(0.0, r.gpu_hours - r.seen))
    keys = list(dict.fromkeys([*by, "BillingCurrency"]))
    return r.group_by(keys).aggregate(
        gpu_hours=r.gpu_hours.sum(),
        **{f: r[f].sum() for f in (*FIGURES, "unseen")},
        cost=r.cost.sum(),
        first=r.ChargePeriodStart.min(),
        last=r.ChargePeriodEnd.max(),
    )


@dataclass
class Tally:
    """Energy and emissions summed over site rows (floats are Wh, kWh and kg)."""

    gpu_hours: float = 0.0
    energy_gpu_hours: float = 0.0  # GPU-hours whose energy is known
    carbon_gpu_hours: float = 0.0  # ... whose emissions are known
    wh: dict[str, float] = field(default_factory=lambda: dict.fromkeys(METHODS, 0.0))
    kwh: float | None = None
    kg: float | None = None
    cost: Decimal = Decimal(0)
    carbon_cost: float = 0.0  # the cost of the GPU-hours whose emissions are known
    unknowns: set[str] = field(default_factory=set)

    def add(self, figures: Figures, cost: Decimal = Decimal(0)) -> None:
        self.gpu_hours += figures.gpu_hours
        self.energy_gpu_hours += figures.energy_gpu_hours
        for method, wh in figures.wh.items():
            self.wh[method] += wh
        self.cost += cost
        self.unknowns |= figures.unknowns
        if figures.kwh is not None:
            self.kwh = (self.kwh or 0.0) + figures.kwh
        if figures.kg is not None:
            self.kg = (self.kg or 0.0) + figures.kg
            self.carbon_gpu_hours += figures.energy_gpu_hours
            known = _div(figures.energy_gpu_hours, figures.gpu_hours) or 0.0
            self.carbon_cost += float(cost) * known

    @property
    def gpu_kwh(self) -> float | None:
        return sum(self.wh.values()) / 1000 if self.energy_gpu_hours else None

    def columns(self) -> dict[str, Any]:
        """The energy and carbon columns of a report row."""
        total = sum(self.wh.values())
        return {
            "gpu_hours": self.gpu_hours,
            "gpu_kwh": _round(self.gpu_kwh, 3),
            "kwh": _round(self.kwh, 3),
            "kgco2e": _round(self.kg, 3),
            **{f"{m}_share": _round(_div(self.wh[m], total), 6) for m in METHODS},
            "unknown_share": _round(1 - (_div(self.carbon_gpu_hours, self.gpu_hours) or 0), 6)
            if self.gpu_hours
            else None,
            "unknowns": "; ".join(sorted(self.unknowns)) or None,
        }


@dataclass(frozen=True)
class Figures:
    """One site row's energy and emissions."""

    gpu_hours: float
    energy_gpu_hours: float
    wh: dict[str, float]
    kwh: float | None
    kg: float | None
    unknowns: frozenset[str]


def figures(row: dict[str, Any], gpu_model: str | None, site: Site, assumed: float) -> Figures:
    """Energy by method and emissions of a site row (``row`` has :data:`FIGURES`, ``unseen``
    and ``gpu_hours``); ``assumed`` is the utilisation (0..1) of GPU-hours without telemetry."""
    power = gpu_power(gpu_model)
    needed = row["model_n"] + row["unseen"]
    unknowns: set[str] = set()
    wh = {"measured": row["measured_wh"], "power": row["power_wh"], "modelled": 0.0}
    known = row["measured_n"] + row["power_n"]
    if power is not None:
        wh["modelled"] = (
            row["model_n"] * float(power.idle_w)
            + row["model_util"] * float(power.max_w - power.idle_w)
            + row["unseen"] * power.watts(assumed)
        )
        known += needed
    elif needed > 0:
        unknowns.add(f"no power model for GPU {gpu_model or '(not named)'}")
    gpu_kwh = sum(wh.values()) / 1000
    kwh = gpu_kwh * float(site.pue.value) if site.pue and known else None
    kg = kwh * float(site.grid.g_per_kwh) / 1000 if kwh is not None and site.grid else None
    if known:
        unknowns |= {f"no {what} for {row['_where']}" for what in site.unknown}
    return Figures(row["gpu_hours"], known, wh, kwh, kg, frozenset(unknowns))


def place(row: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(provider key, region, cluster) of a site row."""
    provider = provider_key(
        row["HostProviderName"] or row["ServiceProviderName"] or row["ProviderName"]
    )
    cluster = row["BillingAccountName"] if provider == ONPREM else None
    return provider, row["RegionId"], cluster


def carbon(engine: Engine, query: CarbonQuery) -> pa.Table:
    """Per ``by`` group and currency: GPU-hours, energy, emissions, cost, kg CO2e per $1000 and
    per GPU-hour, method shares, the unknown share and why; the most emissions first."""
    table = engine.execute(site_rows(engine, query))
    assumed = float(query.assumed_util_pct) / 100
    keys = [*query.by, "BillingCurrency"]
    tallies: dict[tuple[Any, ...], Tally] = {}
    for row in table.to_pylist():
        provider, region, cluster = place(row)
        row["_where"] = f"{cluster} (on-prem)" if cluster else f"{provider}/{region}"
        site = query.factors.site(provider, region, cluster)
        found = figures(row, row["gpu_model"], site, assumed)
        tallies.setdefault(tuple(row[k] for k in keys), Tally()).add(found, row["cost"])
    out = [
        {**dict(zip(keys, key, strict=True)), **_report_columns(t)} for key, t in tallies.items()
    ]
    out.sort(key=lambda r: (r["kgco2e"] is None, -(r["kgco2e"] or 0), -r["cost"], _text(r, keys)))
    return _to_arrow(out, table.schema, [*keys, *COLUMNS])


def _text(row: dict[str, Any], keys: list[str]) -> list[str]:
    return ["" if row[k] is None else str(row[k]) for k in keys]


def _report_columns(t: Tally) -> dict[str, Any]:
    cols = t.columns()
    kg = t.kg
    per_1000 = _div(kg, t.carbon_cost / 1000) if kg is not None else None
    per_gpu_hour = _div(kg, t.carbon_gpu_hours) if kg is not None else None
    return {
        **cols,
        "cost": t.cost,
        "kgco2e_per_1000": _round(per_1000, 6),
        "kgco2e_per_gpu_hour": _round(per_gpu_hour, 6),
    }


def _to_arrow(rows: list[dict[str, Any]], schema: pa.Schema, columns: list[str]) -> pa.Table:
    """``rows`` as Arrow: key and cost columns typed as in ``schema`` (the query's), text
    columns as strings, the rest float64."""
    import pyarrow as pa

    types = {f.name: f.type for f in schema} | {
        "on_demand_here": pa.decimal128(38, 18),
        "on_demand_there": pa.decimal128(38, 18),
        "price_difference_per_month": pa.decimal128(38, 2),
        "jobs": pa.int64(),
    }
    fields = [
        pa.field(c, types.get(c) or (pa.string() if c in _TEXT else pa.float64())) for c in columns
    ]
    return pa.table({c: [r[c] for r in rows] for c in columns}, schema=pa.schema(fields))


_TEXT = ("unknowns", "method", "provider", "region", "lowest_region", "suggested_region", "note")
#: the columns of the carbon report after its keys
COLUMNS = (
    "gpu_hours",
    "gpu_kwh",
    "kwh",
    "kgco2e",
    "cost",
    "kgco2e_per_1000",
    "kgco2e_per_gpu_hour",
    *(f"{m}_share" for m in METHODS),
    "unknown_share",
    "unknowns",
)


def _div(a: float | None, b: float | None) -> float | None:
    if a is None or not b:
        return None
    return a / b


def _round(value: float | None, places: int) -> float | None:
    return None if value is None else round(value, places)


# -- the lower-carbon region for a movable workload ------------------------------------------

MONTH_DAYS = 30
CENT = Decimal("0.01")
REGION_COLUMNS = (
    "instance_type",
    "provider",
    "region",
    "gpu_hours",
    "gpu_kwh_per_month",
    "kgco2e_per_month",
    "g_per_kwh",
    "suggested_region",
    "suggested_g_per_kwh",
    "kgco2e_saved_per_month",
    "on_demand_here",
    "on_demand_there",
    "price_difference_per_month",
    "lowest_region",
    "lowest_g_per_kwh",
    "lowest_kgco2e_saved_per_month",
    "note",
)


def carbon_regions(engine: Engine, query: CarbonQuery) -> pa.Table:
    """Per cloud GPU instance type and region in use: its emissions per month (30 days) and the
    region of the same provider where it would emit least: among the regions the pricing
    reference lists the type in (``suggested_region``, with the on-demand price difference per
    month, positive when that region costs more), and among all the provider's regions with a
    known intensity (``lowest_region``; its availability for the type is unknown unless it is
    the suggested one). See docs/carbon.md."""
    from dataclasses import replace

    table = engine.execute(site_rows(engine, replace(query, by=())))
    rows = [r for r in table.to_pylist() if r["instance_type"] is not None]
    days = query.window.days or _span_days(rows)
    assumed = float(query.assumed_util_pct) / 100
    groups: dict[tuple[str, str | None, str | None], Tally] = {}
    for row in rows:
        provider, region, _ = place(row)
        row["_where"] = f"{provider}/{region}"
        site = query.factors.site(provider, region, None)
        key = (row["instance_type"], provider, region)
        groups.setdefault(key, Tally()).add(figures(row, row["gpu_model"], site, assumed))
    out = [_move(key, tally, query.factors, MONTH_DAYS / days) for key, tally in groups.items()]
    out.sort(key=_by_saving)
    return _to_arrow(out, table.schema, list(REGION_COLUMNS))


def _by_saving(row: dict[str, Any]) -> tuple[float, float, str, str]:
    saved, lowest = row["kgco2e_saved_per_month"], row["lowest_kgco2e_saved_per_month"]
    return (-(saved or 0), -(lowest or 0), row["instance_type"], row["region"] or "")


def _span_days(rows: list[dict[str, Any]]) -> int:
    if not rows:
        return MONTH_DAYS
    first = min(r["first"] for r in rows)
    last = max(r["last"] for r in rows)
    return max(1, -(-int((last - first).total_seconds()) // 86400))


def _factor(factors: CarbonFactors, provider: str | None, region: str | None) -> float | None:
    """kg CO2e per GPU kWh in a region (PUE x grid intensity / 1000), or None."""
    site = factors.site(provider, region, None)
    if site.pue is None or site.grid is None:
        return None
    return float(site.pue.value) * float(site.grid.g_per_kwh) / 1000


def _move(
    key: tuple[str, str | None, str | None], tally: Tally, factors: CarbonFactors, month: float
) -> dict[str, Any]:
    from aifinops.model.carbon import provider_regions

    instance_type, provider, region = key
    here = _factor(factors, provider, region)
    gpu_kwh = (tally.gpu_kwh or 0.0) * month
    listed = _listed(instance_type, provider)
    options = [(f, r) for r in listed if (f := _factor(factors, provider, r)) is not None]
    suggested = min(options, default=None, key=lambda o: (o[0], o[1] or ""))
    if suggested is not None and (here is None or suggested[0] >= here):
        suggested = None
    everywhere = [
        (f, g.key.split("/", 1)[1])
        for g in provider_regions(provider or "")
        if (f := _factor(factors, provider, g.key.split("/", 1)[1])) is not None
    ]
    lowest = min(everywhere, default=None, key=lambda o: (o[0], o[1]))
    kg = tally.kg * month if tally.kg is not None else None
    here_price = listed.get(region_key(provider, region) or "")
    there_price = listed.get(suggested[1]) if suggested else None
    return {
        "instance_type": instance_type,
        "provider": provider,
        "region": region,
        "gpu_hours": tally.gpu_hours,
        "gpu_kwh_per_month": _round(gpu_kwh if tally.energy_gpu_hours else None, 3),
        "kgco2e_per_month": _round(kg, 3),
        "g_per_kwh": _grid(factors, provider, region),
        "suggested_region": suggested[1] if suggested else None,
        "suggested_g_per_kwh": _grid(factors, provider, suggested[1]) if suggested else None,
        "kgco2e_saved_per_month": _saved(kg, gpu_kwh, suggested),
        "on_demand_here": here_price.on_demand if here_price else None,
        "on_demand_there": there_price.on_demand if there_price else None,
        "price_difference_per_month": _price_difference(here_price, there_price, tally, month),
        "lowest_region": lowest[1] if lowest else None,
        "lowest_g_per_kwh": _grid(factors, provider, lowest[1]) if lowest else None,
        "lowest_kgco2e_saved_per_month": _saved(kg, gpu_kwh, lowest),
        "note": _note(region, here, listed, suggested=suggested, lowest=lowest, tally=tally),
    }


def _listed(instance_type: str, provider: str | None) -> dict[str, GpuPrice]:
    """The regions the price list has ``instance_type`` in (availability elsewhere is unknown,
    not absent), with its prices there."""
    from aifinops.model.gpu_prices import gpu_prices

    return {
        region_key(provider, p.region) or "": p
        for p in gpu_prices()
        if p.instance_type.lower() == instance_type.lower() and not p.region.startswith("(")
    }


def _grid(factors: CarbonFactors, provider: str | None, region: str | None) -> float | None:
    grid = factors.site(provider, region, None).grid
    return float(grid.g_per_kwh) if grid else None


def _saved(
    kg: float | None, gpu_kwh: float, option: tuple[float, str | None] | None
) -> float | None:
    if kg is None or option is None:
        return None
    return _round(max(0.0, kg - gpu_kwh * option[0]), 3)


def _price_difference(
    here: GpuPrice | None, there: GpuPrice | None, tally: Tally, month: float
) -> Decimal | None:
    """(there - here) on-demand price x instance-hours per month, rounded half-even to the cent
    (an estimate: instance-hours are GPU-hours / GPUs per instance, in floating point)."""
    from decimal import ROUND_HALF_EVEN

    if here is None or there is None:
        return None
    if here.on_demand is None or there.on_demand is None or not here.gpu_count:
        return None
    hours = Decimal(repr(tally.gpu_hours * month)) / here.gpu_count
    difference = (there.on_demand - here.on_demand) * hours
    return difference.quantize(CENT, ROUND_HALF_EVEN)


def _note(
    region: str | None,
    here: float | None,
    listed: dict[str, GpuPrice],
    *,
    suggested: tuple[float, str | None] | None,
    lowest: tuple[float, str | None] | None,
    tally: Tally,
) -> str:
    parts = []
    if here is None:
        parts.append(f"no PUE or grid intensity for {region}: savings unknown")
    known = sorted(r for r in listed if r)
    parts.append(
        f"price list has it in {', '.join(known)}" if known else "no region in the price list"
    )
    if suggested is None and here is not None and known:
        parts.append("none of those emits less")
    if lowest is not None and lowest[1] not in listed:
        parts.append(f"availability in {lowest[1]} unknown")
    if tally.energy_gpu_hours < tally.gpu_hours:
        parts.append("energy of some GPU-hours unknown: figures are partial")
    return "; ".join(parts)
