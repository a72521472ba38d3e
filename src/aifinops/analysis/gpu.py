"""GPU efficiency: GPU utilisation joined to cost, idle and under-used GPUs in dollars.

A *GPU machine* is a usage row of ``costs`` for a cloud instance type in the GPU catalog (the type
read from ``SkuPriceDetails``'s ``InstanceType`` or found in ``ChargeDescription``) or a row that
states its GPUs (``x_GpuCount``, ``x_GpuModel``: on-premises servers). Its billed GPU-hours are
GPUs x the hours of its charge period. Telemetry from ``gpu_samples`` joins on host =
``ResourceName`` and the UTC hour of the sample inside the charge period; each GPU's samples in an
hour are averaged (``gpu_util_pct``, else ``gr_engine_active`` x 100) and that GPU-hour is *idle*
below ``idle_below``, *under-used* from there to below ``busy_from``, *busy* above. Billed
GPU-hours without telemetry are *unknown*: never counted idle or busy.

Money: ``cost`` is the exact decimal sum of the cost metric. ``idle_cost`` (cost per billed
GPU-hour x idle GPU-hours) and ``under_used_cost`` (cost per billed GPU-hour x (1 - utilisation)
over the under-used GPU-hours) are estimates: computed per cost row in binary floating point, summed
per group and rounded half-even to the cent as ``decimal(38, 2)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aifinops.analysis.common import dimension, within
from aifinops.errors import QueryError
from aifinops.model.metrics import CostMetric
from aifinops.model.timewindow import Window

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.engine import Engine

#: dimensions computed here beside FOCUS columns and ``tag:KEY``
MACHINE, INSTANCE_TYPE, GPU_MODEL = "machine", "instance_type", "gpu_model"
DEFAULT_BY = ("tag:team", MACHINE, INSTANCE_TYPE, GPU_MODEL)
#: UTC hour bands of the idle pattern
HOUR_BANDS = ("00-06", "06-12", "12-18", "18-24")
_ROW = ("x_IngestFileId", "x_SourceRecord")  # one cost row
_DETAILS_TYPE = r'"InstanceType"\s*:\s*"([^"]+)"'


@dataclass(frozen=True)
class GpuEfficiencyQuery:
    """``by`` dimensions (FOCUS columns, ``tag:KEY``, ``machine``, ``instance_type``,
    ``gpu_model``), a metric, a window and the utilisation thresholds in percent."""

    by: tuple[str, ...] = DEFAULT_BY
    metric: CostMetric = CostMetric.EFFECTIVE
    window: Window = field(default_factory=Window)
    idle_below: float = 5.0
    busy_from: float = 50.0

    def __post_init__(self) -> None:
        if not 0 <= self.idle_below <= self.busy_from <= 100:
            raise QueryError(
                f"thresholds idle < {self.idle_below}% and busy >= {self.busy_from}% "
                "are out of order",
                hint="use 0 <= --idle-below <= --busy-from <= 100",
            )


def gpu_efficiency(engine: Engine, query: GpuEfficiencyQuery) -> ir.Table:
    """Per group: GPU-hours billed and with telemetry, the share without telemetry, average
    utilisation, cost, idle and under-used cost; the largest idle cost first."""
    rows = _with_telemetry(engine, query)
    keys = [*query.by, "BillingCurrency"]
    g = rows.group_by(keys).aggregate(
        gpu_hours=rows.gpu_hours.sum(),
        telemetry_gpu_hours=rows.telemetry_gpu_hours.sum(),
        _busy_pct=rows.util_gpu_hours.sum(),
        idle_gpu_hours=rows.idle_gpu_hours.sum(),
        cost=rows.cost.sum(),
        _idle=rows.idle_cost.sum(),
        _under=rows.under_used_cost.sum(),
    )
    out = g.mutate(
        unknown_share=(1 - g.telemetry_gpu_hours / g.gpu_hours.nullif(0)),
        avg_util_pct=g._busy_pct * 100 / g.telemetry_gpu_hours.nullif(0),
        idle_cost=_cents(g._idle),
        under_used_cost=_cents(g._under),
    )
    columns = [
        *keys,
        "gpu_hours",
        "telemetry_gpu_hours",
        "unknown_share",
        "avg_util_pct",
        "idle_gpu_hours",
        "cost",
        "idle_cost",
        "under_used_cost",
    ]
    out = out.select(columns)
    return out.order_by(
        [out.idle_cost.desc(), out.under_used_cost.desc(), out.cost.desc(), *[out[k] for k in keys]]
    )


def idle_pattern(engine: Engine, query: GpuEfficiencyQuery) -> ir.Table:
    """Idle GPU-hours and idle cost by weekday/weekend and UTC hour band (and ``by``), from the
    hours with telemetry."""
    import ibis

    hours = _row_hours(engine, query)
    weekend = hours.hour.day_of_week.index() >= 5  # Monday is 0
    band = ibis.literal(list(HOUR_BANDS))[(hours.hour.hour() // 6).cast("int64")]
    keyed = hours.mutate(day_type=ibis.ifelse(weekend, "weekend", "weekday"), hour_band=band)
    keys = [*query.by, "BillingCurrency", "day_type", "hour_band"]
    g = keyed.group_by(keys).aggregate(
        telemetry_gpu_hours=keyed.seen.sum(),
        idle_gpu_hours=keyed.idle.sum(),
        _idle=(keyed.idle * keyed.cost_per_gpu_hour).sum(),
    )
    out = g.mutate(
        idle_share=g.idle_gpu_hours / g.telemetry_gpu_hours.nullif(0), idle_cost=_cents(g._idle)
    ).drop("_idle")
    return out.order_by([out[k] for k in keys])


def _cents(value: ir.FloatingValue) -> ir.DecimalValue:
    return value.round(2).cast("decimal(38, 2)")


def gpu_rows(engine: Engine, query: GpuEfficiencyQuery) -> ir.Table:
    """Usage cost rows of GPU machines with ``machine``, ``instance_type``, ``gpu_model``,
    ``gpus``, ``gpu_hours``, ``cost`` and the ``by`` dimensions."""
    import ibis
    import pyarrow as pa

    from aifinops.model.gpu_catalog import instance_types, name_pattern

    costs = within(engine.table("costs"), query.window)
    costs = costs.filter(costs.ChargeCategory == "Usage")
    named = costs.SkuPriceDetails.re_extract(_DETAILS_TYPE, 1).nullif("")
    found = costs.ChargeDescription.re_extract(name_pattern(), 1).nullif("")
    costs = costs.mutate(_type=named.fill_null(found).lower())
    catalog = ibis.memtable(
        pa.table(
            {
                "_type": [t.name.lower() for t in instance_types()],
                "_name": [t.name for t in instance_types()],
                "_model": [t.gpu_model for t in instance_types()],
                "_count": [float(t.gpu_count) for t in instance_types()],
            }
        )
    )
    joined = costs.left_join(catalog, "_type")
    # x_GpuCount / x_GpuModel exist once a source that states GPUs (on-prem) has loaded.
    stated = "x_GpuCount" in joined.columns and "x_GpuModel" in joined.columns
    count = joined.x_GpuCount.try_cast("float64") if stated else ibis.null("float64")
    model = joined.x_GpuModel if stated else ibis.null("string")
    rows = joined.mutate(
        machine=joined.ResourceName.fill_null(joined.ResourceId),
        instance_type=joined._name,
        gpu_model=joined._model.fill_null(model),
        gpus=joined._count.fill_null(count),
    )
    rows = rows.filter(rows.gpus > 0, rows.machine.notnull())
    # epoch arithmetic: a zoned date_diff costs ~6x more over millions of rows
    seconds = engine.epoch_seconds(rows.ChargePeriodEnd) - engine.epoch_seconds(
        rows.ChargePeriodStart
    )
    period = seconds.cast("float64") / 3600
    dims = {spec: dimension(engine, rows, spec) for spec in query.by}
    base = (*_ROW, "machine", "ChargePeriodStart", "ChargePeriodEnd", "BillingCurrency", "gpus")
    columns: dict[str, ir.Value] = {name: rows[name] for name in base}
    columns |= {"gpu_hours": rows.gpus * period, "cost": rows[query.metric.column]}
    return rows.select(**(columns | dims))


def host_hours(engine: Engine, query: GpuEfficiencyQuery) -> ir.Table:
    """Per host and UTC hour: GPUs seen, their summed utilisation (fractions), idle GPUs, and the
    unused fraction summed over the under-used GPUs."""
    import ibis

    s = engine.table("gpu_samples")
    if query.window.start is not None:
        s = s.filter(s.ts >= ibis.timestamp(query.window.start.isoformat(), timezone="UTC"))
    if query.window.end is not None:
        s = s.filter(s.ts < ibis.timestamp(query.window.end.isoformat(), timezone="UTC"))
    util = s.gpu_util_pct.fill_null(s.gr_engine_active * 100)
    s = s.filter(s.host.notnull(), util.notnull())
    gpu = s.gpu_uuid.fill_null(s.gpu_index.cast("string")).fill_null("")
    per_gpu = s.group_by(host=s.host, hour=s.ts.truncate("h"), gpu=gpu).aggregate(util=util.mean())
    u = per_gpu.util
    under = (u >= query.idle_below) & (u < query.busy_from)
    return per_gpu.group_by("host", "hour").aggregate(
        seen=u.count(),
        util_sum=(u / 100).sum(),
        idle=(u < query.idle_below).sum().cast("float64"),
        unused=ibis.ifelse(under, 1 - u / 100, 0.0).sum(),
    )


def _row_hours(engine: Engine, query: GpuEfficiencyQuery) -> ir.Table:
    """One row per (GPU cost row, hour with telemetry inside its charge period), scaled so a
    machine never shows more GPUs than it is billed for."""
    import ibis

    rows = gpu_rows(engine, query)
    hh = host_hours(engine, query)
    j = rows.join(
        hh,
        [
            rows.machine == hh.host,
            hh.hour >= rows.ChargePeriodStart,
            hh.hour < rows.ChargePeriodEnd,
        ],
    )
    scale = ibis.least(1.0, j.gpus / j.seen)
    per_gpu_hour = j.cost.cast("float64") / j.gpu_hours.nullif(0)
    return j.mutate(
        seen=j.seen * scale,
        util=j.util_sum * scale,
        idle=j.idle * scale,
        unused=j.unused * scale,
        cost_per_gpu_hour=per_gpu_hour,
    )


def _with_telemetry(engine: Engine, query: GpuEfficiencyQuery) -> ir.Table:
    """GPU cost rows with their telemetry GPU-hours and idle and under-used cost estimates."""
    hours = _row_hours(engine, query)
    per_row = hours.group_by(list(_ROW)).aggregate(
        _seen=hours.seen.sum(),
        _util=hours.util.sum(),
        _idle=hours.idle.sum(),
        _unused=hours.unused.sum(),
    )
    rows = gpu_rows(engine, query)
    j = rows.left_join(per_row, list(_ROW))
    per_hour = j.cost.cast("float64") / j.gpu_hours.nullif(0)
    return j.mutate(
        telemetry_gpu_hours=j._seen.fill_null(0.0),
        util_gpu_hours=j._util,
        idle_gpu_hours=j._idle.fill_null(0.0),
        idle_cost=(per_hour * j._idle).fill_null(0.0),
        under_used_cost=(per_hour * j._unused).fill_null(0.0),
    )
