"""The lower-carbon region for a movable workload.

For each cloud GPU instance type and region in use (the GPU machines of
:mod:`aifinops.analysis.carbon`), its GPU energy and emissions per month and the region of the
same provider where the same energy would emit least (PUE x grid intensity):

* ``suggested_region``: among the regions the price list (:mod:`aifinops.model.gpu_prices`) has
  the type in, with the on-demand price difference per month (positive: that region costs more);
* ``lowest_region``: among all the provider's regions with a known intensity; its availability for
  the type is unknown unless the price list has the type there (the note says so).

The GPU energy stays what it was (same hardware, same work); the move itself (data transfer,
latency, residency) is not costed. See docs/carbon.md.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from aifinops.analysis.carbon import (
    CarbonQuery,
    Tally,
    figures,
    place,
    rounded,
    site_rows,
    to_arrow,
)
from aifinops.model.carbon import CarbonFactors, provider_regions, region_key

if TYPE_CHECKING:
    import pyarrow as pa

    from aifinops.engine import Engine
    from aifinops.model.gpu_prices import GpuPrice

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
    """Per cloud GPU instance type and region in use: GPU kWh and kg CO2e per month (30 days,
    scaled from the window), the suggested and the lowest region (see the module), the kg CO2e
    each would save and the price difference; the largest saving first."""
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
    return to_arrow(out, table.schema, list(REGION_COLUMNS))


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
        "gpu_kwh_per_month": rounded(gpu_kwh if tally.energy_gpu_hours else None, 3),
        "kgco2e_per_month": rounded(kg, 3),
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
    return rounded(max(0.0, kg - gpu_kwh * option[0]), 3)


def _price_difference(
    here: GpuPrice | None, there: GpuPrice | None, tally: Tally, month: float
) -> Decimal | None:
    """(there - here) on-demand price x instance-hours per month, rounded half-even to the cent
    (an estimate: instance-hours are GPU-hours / GPUs per instance, in floating point)."""
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
