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
)
from aifinops.model.metrics import CostMetric
from aifinops.model.timewindow import Window

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

    from aifinops.engine import Engine
    from aifinops.model.carbon import CarbonSettings
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
    if view is CarbonView.REGIONS:
        from aifinops.analysis.carbon_regions import carbon_regions

        return carbon_regions(engine, query)
    return carbon(engine, query)


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
            "gpu_kwh": rounded(self.gpu_kwh, 3),
            "kwh": rounded(self.kwh, 3),
            "kgco2e": rounded(self.kg, 3),
            **{f"{m}_share": rounded(_div(self.wh[m], total), 6) for m in METHODS},
            "unknown_share": rounded(1 - (_div(self.carbon_gpu_hours, self.gpu_hours) or 0), 6)
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
    return to_arrow(out, table.schema, [*keys, *COLUMNS])


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
        "kgco2e_per_1000": rounded(per_1000, 6),
        "kgco2e_per_gpu_hour": rounded(per_gpu_hour, 6),
    }


def to_arrow(rows: list[dict[str, Any]], schema: pa.Schema, columns: list[str]) -> pa.Table:
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


def rounded(value: float | None, places: int) -> float | None:
    return None if value is None else round(value, places)
