"""What the strategy analyses read from the workspace: the on-prem inventory, the GPU usage in the
bills (demand, list rate, commitment discount, spot rate, on-prem cost per server-hour), jobs and
LLM usage. Ibis expressions over the workspace tables; the small results are finished in Python
with exact fractions (GPU-hours, float in the store, are taken to 6 decimal places).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from aifinops.errors import ConfigError, QueryError
from aifinops.model import onprem as inv
from aifinops.model import strategy as m
from aifinops.model.gpu_prices import GpuPrice, known_models, matching, same_gpu
from aifinops.model.metrics import CostMetric
from aifinops.model.timewindow import Window

if TYPE_CHECKING:
    from pathlib import Path

    import ibis.expr.types as ir

    from aifinops.engine import Engine

__all__ = ["known_models"]

#: on-prem assumption -> the option that sets it
SERVER_FIELDS = {
    "gpus_per_server": "--gpus-per-server",
    "server_price": "--server-price",
    "amortisation_years": "--amortisation-years",
    "power_kw": "--power-kw",
    "pue": "--pue",
    "electricity_price": "--electricity-price",
    "space_per_month": "--space-per-month",
    "operations_per_month": "--operations-per-month",
    "support_per_month": "--support-per-month",
}
OVERHEADS = ("space_per_month", "operations_per_month", "support_per_month")
#: on-prem assumption -> its name in the assumptions, and whether it is money
SERVER_LABELS = {
    "gpus_per_server": ("on-prem GPUs per server", False),
    "server_price": ("on-prem server price", True),
    "amortisation_years": ("on-prem amortisation years", False),
    "power_kw": ("on-prem power per server, kW", False),
    "pue": ("on-prem PUE", False),
    "electricity_price": ("on-prem electricity price per kWh", True),
    "space_per_month": ("on-prem space per server-month", True),
    "operations_per_month": ("on-prem operations per server-month", True),
    "support_per_month": ("on-prem support per server-month", True),
}
#: the [onprem] model's own defaults, used for a server described by options only
MODEL_DEFAULTS: dict[str, Any] = {
    "amortisation_years": inv.Node.model_fields["amortisation_years"].default,
    "pue": inv.Cluster.model_fields["pue"].default,
}
DEFAULT_SOURCES = {
    "amortisation_years": "default of the [onprem] model",
    "pue": "default of the [onprem] model",
}
_COMPONENTS = ("x_AmortisationCost", "x_EnergyCost", "x_SpaceCost", "x_OperationsCost",
               "x_SupportCost")  # fmt: skip


def _fraction(value: object) -> Fraction:
    """An exact fraction of a decimal, an integer, or a float taken to 6 decimal places."""
    if isinstance(value, float):
        return Fraction(str(round(value, 6)))
    return Fraction(str(value))


# -- the on-prem inventory ----------------------------------------------------------------------


@dataclass(frozen=True)
class InventoryNode:
    """A server entry of an ``[onprem]`` inventory, with its share of the cluster's overhead."""

    cluster: inv.Cluster
    node: inv.Node

    @property
    def currency(self) -> str:
        return self.cluster.currency

    def values(self) -> dict[str, Any]:
        cluster, node = self.cluster, self.node
        gpus = sum(n.gpus * n.count for n in cluster.nodes)
        share = Fraction(node.gpus, gpus)
        overheads = {
            "space_per_month": cluster.space_per_month,
            "operations_per_month": cluster.operations_per_month,
            "support_per_month": cluster.support_per_month,
        }
        return {
            "gpus_per_server": node.gpus,
            "server_price": node.purchase_price,
            "amortisation_years": node.amortisation_years,
            "power_kw": node.power_kw,
            "pue": cluster.pue,
            "electricity_price": cluster.electricity_price_per_kwh,
            **{k: Fraction(v) * share for k, v in overheads.items()},
        }


def inventory_node(
    settings: inv.OnPremInventory, path: Path | None, gpu: str
) -> tuple[str, InventoryNode | None]:
    """The inventory's server entry for ``gpu`` (see :func:`same_gpu`; the latest bought when
    several) and a description of where it is."""
    inventory = _read_inventory(path) if path is not None else settings
    where = str(path) if path is not None else "aifinops.toml"
    entries = [InventoryNode(c, n) for c in inventory.clusters for n in c.nodes]
    models = same_gpu(gpu, (e.node.gpu_model for e in entries))
    found = [e for e in entries if e.node.gpu_model in models]
    if not found:
        if path is not None:
            held = ", ".join(sorted({e.node.gpu_model for e in entries}))
            raise QueryError(
                f"the inventory has no {gpu} servers", where=where, hint=f"it has {held}"
            )
        return "", None
    best = max(found, key=lambda e: (e.node.purchase_date, e.node.name))
    return f"[onprem] {best.cluster.name}/{best.node.name} ({best.node.gpu_model}) in {where}", best


def _read_inventory(path: Path) -> inv.OnPremInventory:
    try:
        document = tomllib.loads(path.read_text("utf-8"), parse_float=Decimal)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the inventory: {exc}", where=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=str(path)) from None
    section = document.get("onprem")
    if not isinstance(section, dict):
        raise ConfigError("no [onprem] section", where=str(path), hint="see docs/sources/onprem.md")
    try:
        return inv.OnPremInventory.model_validate(section)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(
            f"invalid [onprem] inventory: {problems}", where=str(path),
            hint="see docs/sources/onprem.md",
        ) from None  # fmt: skip


# -- cloud prices -------------------------------------------------------------------------------


def catalog_rows(
    gpu: str, cloud: str | None, region: str | None, instance_type: str | None
) -> tuple[GpuPrice, ...]:
    """Catalog rows for ``gpu`` narrowed to a cloud, region and instance type (case-insensitive)."""
    rows = matching(gpu)
    for value, attr in ((cloud, "cloud"), (region, "region"), (instance_type, "instance_type")):
        if value:
            rows = tuple(r for r in rows if getattr(r, attr).lower() == value.strip().lower())
    return rows


def cheapest(rows: tuple[GpuPrice, ...], kind: str) -> tuple[Fraction, str] | None:
    """The lowest ``on_demand`` or ``spot`` price per GPU-hour among catalog ``rows``, with its
    source (None: no row has one)."""

    def per_gpu(row: GpuPrice) -> Fraction | None:
        price = row.on_demand if kind == "on_demand" else row.spot
        return None if price is None else m.fraction(price) / m.fraction(row.gpu_count)

    priced = [(p, r.describe(), r) for r in rows if (p := per_gpu(r)) is not None]
    if not priced:
        return None
    price, _, row = min(priced, key=lambda item: item[:2])
    return price, catalog_source(row, kind)


def catalog_source(row: GpuPrice, kind: str) -> str:
    price = row.on_demand if kind == "on_demand" else row.spot
    label = "on-demand" if kind == "on_demand" else (row.spot_kind or "spot")
    return (
        f"catalog, cheapest {label} per GPU: {row.describe()} ${price}/h for "
        f"{row.gpu_count.normalize()} x {row.gpu_model}, as of {row.as_of}"
    )


# -- GPU usage in the bills ---------------------------------------------------------------------


def _gpu_rows(engine: Engine, window: Window, by: tuple[str, ...]) -> ir.Table:
    from aifinops.analysis.gpu import GpuEfficiencyQuery, gpu_rows

    query = GpuEfficiencyQuery(by=by, metric=CostMetric.EFFECTIVE, window=window)
    return gpu_rows(engine, query)


@dataclass(frozen=True)
class DemandProfile:
    """Cloud GPUs held per hour: the busiest hour's and the average over the span of use."""

    peak: int
    average: Fraction
    hours: int
    first: datetime
    models: tuple[str, ...]

    def describe(self) -> str:
        last = self.first + timedelta(hours=self.hours)
        return (
            f"cloud {'/'.join(self.models)} GPUs held in the bills, {self.hours} hours from "
            f"{self.first:%Y-%m-%d %H:00} to {last:%Y-%m-%d %H:00} UTC"
        )


@dataclass(frozen=True)
class GpuUsage:
    """What the bills say about a GPU model: demand, list and spot rates, commitment discount."""

    gpu: str
    currency: str | None
    demand: DemandProfile | None
    list_rate: tuple[Fraction, str] | None
    spot_rate: tuple[Fraction, str] | None
    billed_rate: tuple[Fraction, str] | None  # effective cost per GPU-hour of all of it
    committed_discount: tuple[Fraction, str] | None  # percent

    @classmethod
    def read(cls, engine: Engine, gpu: str, window: Window) -> GpuUsage:
        rows = _usage_by_pricing(engine, window)
        models = same_gpu(gpu, {r["gpu_model"] for r in rows if r["cloud"]})
        cloud = [r for r in rows if r["cloud"] and r["gpu_model"] in models]
        currencies = sorted({r["currency"] for r in cloud})
        if len(currencies) > 1:
            raise QueryError(
                f"cloud {gpu} usage is billed in several currencies: {currencies}",
                hint="narrow the window with --period so one currency remains",
            )
        label = f"{'/'.join(sorted(models))} ({window})"
        committed = [r for r in cloud if r["committed"]]
        standard = [r for r in cloud if not r["committed"] and r["pricing"] != "Dynamic"]
        spot = [r for r in cloud if r["pricing"] == "Dynamic"]
        return cls(
            gpu=gpu,
            currency=currencies[0] if currencies else None,
            demand=_demand_profile(engine, window, tuple(sorted(models))) if cloud else None,
            list_rate=_rate(standard, "list_cost", f"standard {label}"),
            spot_rate=_rate(spot, "cost", f"spot {label}"),
            billed_rate=_rate(cloud, "cost", f"effective cost of cloud {label}"),
            committed_discount=_discount(committed, f"committed {label}"),
        )


def _usage_by_pricing(engine: Engine, window: Window) -> list[dict[str, Any]]:
    by = ("instance_type", "gpu_model", "PricingCategory", "CommitmentDiscountId", "ListCost")
    rows = _gpu_rows(engine, window, by)
    committed = rows.CommitmentDiscountId.notnull() | (rows.PricingCategory == "Committed")
    g = rows.group_by(
        gpu_model=rows.gpu_model.fill_null("(unknown)"),
        cloud=rows.instance_type.notnull(),
        pricing=rows.PricingCategory.fill_null(""),
        committed=committed.fill_null(False),
        currency=rows.BillingCurrency,
    ).aggregate(gpu_hours=rows.gpu_hours.sum(), list_cost=rows.ListCost.sum(), cost=rows.cost.sum())
    result: list[dict[str, Any]] = engine.execute(g).to_pylist()
    return result


def _rate(rows: list[dict[str, Any]], column: str, label: str) -> tuple[Fraction, str] | None:
    hours = sum((_fraction(r["gpu_hours"]) for r in rows if r[column] is not None), Fraction(0))
    if not hours:
        return None
    amount = sum((_fraction(r[column]) for r in rows if r[column] is not None), Fraction(0))
    return amount / hours, f"{label}, {m.rounded(hours, 2)} GPU-hours"


def _discount(rows: list[dict[str, Any]], label: str) -> tuple[Fraction, str] | None:
    priced = [r for r in rows if r["list_cost"] and r["cost"] is not None]
    listed = sum((_fraction(r["list_cost"]) for r in priced), Fraction(0))
    if listed <= 0:
        return None
    paid = sum((_fraction(r["cost"]) for r in priced), Fraction(0))
    return (1 - paid / listed) * 100, f"1 - effective / list cost of {label}"


def _demand_profile(engine: Engine, window: Window, models: tuple[str, ...]) -> DemandProfile:
    rows = _gpu_rows(engine, window, ("instance_type", "gpu_model"))
    rows = rows.filter(rows.instance_type.notnull(), rows.gpu_model.isin(list(models)))
    minutes = rows.ChargePeriodEnd.delta(rows.ChargePeriodStart, unit="minute")
    short = rows.filter(minutes <= 60)
    hourly = short.group_by(hour=short.ChargePeriodStart.truncate("h")).aggregate(
        gpus=short.gpu_hours.sum()
    )
    long = rows.filter(minutes > 60)
    spans = long.group_by("ChargePeriodStart", "ChargePeriodEnd").aggregate(gpus=long.gpus.sum())
    held: dict[datetime, Fraction] = {}
    for r in engine.execute(hourly).to_pylist():
        hour = _utc(r["hour"])
        held[hour] = held.get(hour, Fraction(0)) + _fraction(r["gpus"])
    for r in engine.execute(spans).to_pylist():
        hour = _utc(r["ChargePeriodStart"]).replace(minute=0, second=0, microsecond=0)
        while hour < _utc(r["ChargePeriodEnd"]):
            held[hour] = held.get(hour, Fraction(0)) + _fraction(r["gpus"])
            hour += timedelta(hours=1)
    first, last = min(held), max(held)
    hours = int((last - first) / timedelta(hours=1)) + 1
    average = sum(held.values(), Fraction(0)) / hours
    return DemandProfile(math.ceil(max(held.values())), average, hours, first, models)


def _utc(moment: datetime) -> datetime:
    """An aware UTC time (a truncated timestamp comes back naive, in the session's UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def observed_onprem(
    engine: Engine, gpu: str, window: Window
) -> tuple[m.OnPremRate, str, str] | None:
    """Cost per server-hour by component of the on-prem servers of ``gpu`` in the bills (the
    entry with the most GPU-hours), with the currency and a description."""
    if "x_AmortisationCost" not in engine.table("costs").columns:
        return None  # no on-prem source loaded
    rows = _gpu_rows(engine, window, ("instance_type", "gpu_model", "BillingAccountId",
                                      *_COMPONENTS))  # fmt: skip
    rows = rows.filter(rows.instance_type.isnull())
    sums = {c: rows[c].cast("decimal(38, 18)").sum() for c in _COMPONENTS}
    g = rows.group_by("gpu_model", "gpus", "BillingAccountId", "BillingCurrency").aggregate(
        gpu_hours=rows.gpu_hours.sum(), **sums
    )
    found = engine.execute(g).to_pylist()
    models = same_gpu(gpu, {r["gpu_model"] for r in found})
    found = [r for r in found if r["gpu_model"] in models]
    if not found:
        return None
    best = max(found, key=lambda r: (r["gpu_hours"], r["BillingAccountId"]))
    gpus = int(best["gpus"])
    server_hours = _fraction(best["gpu_hours"]) / gpus
    per = {c: _fraction(best[c] or 0) / server_hours for c in _COMPONENTS}
    rate = m.OnPremRate(
        gpus_per_server=gpus,
        amortisation=per["x_AmortisationCost"],
        energy=per["x_EnergyCost"],
        overhead=per["x_SpaceCost"] + per["x_OperationsCost"] + per["x_SupportCost"],
    )
    where = (
        f"{best['BillingAccountId']} {best['gpu_model']} servers ({gpus} GPUs each), "
        f"{m.rounded(server_hours, 2)} server-hours ({window})"
    )
    return rate, best["BillingCurrency"], where


# -- jobs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobCost:
    """A job's GPU-hours priced at what its machine cost per GPU-hour while it ran."""

    job_id: str
    name: str | None
    gpu_hours: Fraction
    rate: Fraction
    currency: str
    machine: str

    @property
    def cost(self) -> Fraction:
        return self.gpu_hours * self.rate


def job_costs(engine: Engine, refs: tuple[str, ...]) -> list[JobCost]:
    """Each job named by id or name in ``refs`` (a name may match several runs)."""
    jobs = engine.table("jobs")
    chosen = jobs.filter(jobs.job_id.isin(list(refs)) | jobs.name.isin(list(refs)))
    columns = ("job_id", "name", "host", "gpu_count", "start_time", "end_time")
    found = engine.execute(chosen.select(*columns).order_by("start_time", "job_id")).to_pylist()
    missing = [ref for ref in refs if not any(ref in (j["job_id"], j["name"]) for j in found)]
    if missing:
        raise QueryError(
            f"no job with id or name {', '.join(map(repr, missing))} in the jobs table",
            where="--training-job",
            hint='aifinops sql "SELECT job_id, name, kind FROM jobs" lists them',
        )
    return [_job_cost(engine, job) for job in found]


def _job_cost(engine: Engine, job: dict[str, Any]) -> JobCost:
    where = f"job {job['job_id']}"
    if job["end_time"] is None or not job["gpu_count"] or not job["host"]:
        raise QueryError(
            "the job has no end, GPU count or host to cost it by",
            where=where, hint="give --training-cost or --training-gpu-hours instead",
        )  # fmt: skip
    start, end = job["start_time"], job["end_time"]
    window = Window(start.date(), end.date() + timedelta(days=1))
    rows = _gpu_rows(engine, window, ())
    rows = rows.filter(
        rows.machine == job["host"], rows.ChargePeriodStart < end, rows.ChargePeriodEnd > start
    )
    g = rows.group_by("BillingCurrency").aggregate(cost=rows.cost.sum(), hours=rows.gpu_hours.sum())
    sums = engine.execute(g).to_pylist()
    if len(sums) != 1 or not sums[0]["hours"]:
        raise QueryError(
            f"no single-currency GPU cost for machine {job['host']} while the job ran",
            where=where,
            hint="give --training-cost, or --training-gpu-hours and --training-gpu-price",
        )
    hours = Fraction(int((end - start).total_seconds()), 3600)
    return JobCost(
        job_id=job["job_id"],
        name=job["name"],
        gpu_hours=job["gpu_count"] * hours,
        rate=_fraction(sums[0]["cost"]) / _fraction(sums[0]["hours"]),
        currency=sums[0]["BillingCurrency"],
        machine=job["host"],
    )


# -- LLM usage ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservedRequests:
    """Average tokens per request and requests per month of a model in ``llm_usage``."""

    requests: int
    input_tokens: Fraction
    cached_tokens: Fraction
    output_tokens: Fraction
    per_month: Fraction
    models: tuple[str, ...]
    first: date
    last: date


def observed_requests(engine: Engine, window: Window, same_model: Any) -> ObservedRequests | None:
    """Usage rows that count requests, of the models for which ``same_model(provider, model)``
    holds, summed."""
    u = engine.table("llm_usage")
    u = u.filter(u.record_type == "usage", u.requests > 0)
    if window.start is not None:
        u = u.filter(u.start_time.date() >= window.start)
    if window.end is not None:
        u = u.filter(u.start_time.date() < window.end)
    cached = u.cache_read_tokens.fill_null(0)
    written = u.cache_write_5m_tokens.fill_null(0) + u.cache_write_1h_tokens.fill_null(0)
    g = u.group_by("provider", "model").aggregate(
        requests=u.requests.sum(),
        input=(u.uncached_input_tokens.fill_null(0) + cached + written).sum(),
        cached=cached.sum(),
        output=u.output_tokens.fill_null(0).sum(),
        first=u.start_time.min(),
        last=u.start_time.max(),
    )
    rows = [r for r in engine.execute(g).to_pylist() if same_model(r["provider"], r["model"])]
    if not rows:
        return None
    return _summed(rows, window)


def _summed(rows: list[dict[str, Any]], window: Window) -> ObservedRequests:
    requests = sum(int(r["requests"]) for r in rows)
    first = window.start or min(r["first"] for r in rows).date()
    last = (window.end - timedelta(days=1)) if window.end else max(r["last"] for r in rows).date()
    days = (last - first).days + 1
    return ObservedRequests(
        requests=requests,
        input_tokens=Fraction(sum(int(r["input"]) for r in rows), requests),
        cached_tokens=Fraction(sum(int(r["cached"]) for r in rows), requests),
        output_tokens=Fraction(sum(int(r["output"]) for r in rows), requests),
        per_month=Fraction(requests) * Fraction(365, 12) / days,
        models=tuple(sorted({f"{r['provider']}/{r['model']}" for r in rows})),
        first=first,
        last=last,
    )
