"""Which workloads held a GPU machine's GPUs, hour by hour: the basis of fraction-aware GPU cost.

A *workload* is a job or a pod. Two things say a workload held GPUs in an hour:

* **labelled telemetry**: ``gpu_samples`` rows that carry a ``job_id`` (or a ``pod``, keyed
  ``namespace/pod``). In each hour, a GPU (or MIG instance) is shared by the workloads seen on
  it in proportion to their samples; a MIG instance counts for its share of the GPU (``3g.40gb``
  is 3/7 of an A100/H100, 3/4 of an A30), so a slice is charged for the slice, not the GPU, and
  two pods time-sliced on one GPU pay half each.
* **the scheduler**: ``jobs`` rows with a ``host``, start and end hold ``gpu_count`` GPUs (all
  the machine's GPUs when the count is unknown) for the part of each hour they ran. Where
  labelled telemetry exists for a host and hour, it wins: the scheduler's claim for that hour is
  not added again.

A machine never holds more GPUs than it is billed for: when the workloads of an hour claim more,
their claims are scaled down to the billed GPUs. GPU-hours with telemetry that no workload held
are *idle*; billed GPU-hours with neither telemetry nor a workload are unknown and stay with the
cost row's owner.

:func:`row_parts` cuts each GPU machine cost row into these parts as fractions of its billed
GPU-hours; :mod:`aifinops.analysis.allocation` turns fractions into money.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aifinops.analysis.gpu import GpuEfficiencyQuery, gpu_rows, host_hours
from aifinops.model.timewindow import Window

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.engine import Engine

ROW = ("x_IngestFileId", "x_SourceRecord")
#: Parts of a GPU machine cost row (the ``part`` column of :func:`row_parts`).
WORKLOAD, IDLE, REST = "workload", "idle", "rest"


def _mig_share(samples: ir.Table) -> ir.FloatingValue:
    """The share of a GPU one sample's device is: a MIG instance's compute slices, else 1."""
    import ibis

    slices = samples.mig_profile.re_extract(r"(\d+)g\.", 1).nullif("").cast("float64")
    per_gpu = ibis.ifelse(samples.gpu_model.lower().contains("a30"), 4.0, 7.0)
    return ibis.least(1.0, (slices / per_gpu).fill_null(1.0))


def telemetry_holdings(engine: Engine) -> ir.Table:
    """Per (host, hour, workload): GPU-hours held according to labelled samples, with the
    workload's labels."""
    import ibis

    s = engine.table("gpu_samples")
    pod = ibis.ifelse(s.pod.notnull(), s.namespace.fill_null("") + "/" + s.pod, ibis.null("string"))
    s = s.mutate(
        workload=s.job_id.nullif("").fill_null(pod),
        hour=s.ts.truncate("h"),
        device=s.gpu_uuid.fill_null(s.gpu_index.cast("string")).fill_null("")
        + "|"
        + s.mig_instance.fill_null(""),
        share=_mig_share(s),
    )
    s = s.filter(s.host.notnull())
    per_device = s.group_by(["host", "hour", "device"]).aggregate(
        _n=s.count(), _share=s.share.max()
    )
    seen = s.filter(s.workload.notnull())
    mine = seen.group_by(["host", "hour", "device", "workload"]).aggregate(
        _k=seen.count(), labels_map=seen.labels_map.first()
    )
    j = mine.join(per_device, ["host", "hour", "device"])
    held = j.mutate(held=j._share * j._k / j._n)
    return held.group_by(["host", "hour", "workload"]).aggregate(
        held=held.held.sum(), labels_map=held.labels_map.first()
    )


def scheduler_holdings(engine: Engine, labelled: ir.Table) -> ir.Table:
    """Per (host, hour, workload): GPU-hours held according to ``jobs`` (``held`` NULL when the
    job does not say how many GPUs: all of the machine's), except host-hours with labelled
    telemetry."""
    import ibis

    jobs = engine.table("jobs")
    jobs = jobs.filter(
        jobs.host.notnull(), jobs.end_time.notnull(), jobs.end_time > jobs.start_time
    )
    first = jobs.start_time.truncate("h")
    span = jobs.end_time.delta(first, unit="second") / 3600
    hours = jobs.mutate(_k=ibis.range(0, span.ceil().cast("int64")).unnest(), _first=first)
    hour = hours._first + hours._k.as_interval("h")
    hours = hours.mutate(hour=hour)
    start = ibis.greatest(hours.start_time, hours.hour)
    end = ibis.least(hours.end_time, hours.hour + ibis.interval(hours=1))
    overlap = end.delta(start, unit="second").cast("float64") / 3600
    claimed = hours.select(
        "host",
        "hour",
        workload=hours.job_id,
        held=overlap * hours.gpu_count.cast("float64"),
        overlap=overlap,
        labels_map=hours.labels_map,
    )
    covered = labelled.select("host", "hour").distinct()
    return claimed.anti_join(covered, ["host", "hour"])


def row_parts(engine: Engine, window: Window | None = None) -> ir.Table:
    """GPU machine cost rows cut into parts: one per workload that held its GPUs, one ``idle``
    (telemetry, nobody holding) and one ``rest`` (unknown), as ``fraction`` of the row's billed
    GPU-hours (fractions of a row sum to 1), with ``gpu_hours`` and the workload's labels."""
    import ibis

    query = GpuEfficiencyQuery(by=(), window=window or Window())
    rows = gpu_rows(engine, query).select(
        *ROW, "machine", "ChargePeriodStart", "ChargePeriodEnd", "gpus", "gpu_hours"
    )
    labelled = telemetry_holdings(engine)
    scheduled = scheduler_holdings(engine, labelled)
    held = (
        labelled.mutate(overlap=ibis.literal(1.0))
        .select("host", "hour", "workload", "held", "overlap", "labels_map")
        .union(scheduled)
    )
    j = rows.join(
        held,
        [
            rows.machine == held.host,
            held.hour >= rows.ChargePeriodStart,
            held.hour < rows.ChargePeriodEnd,
        ],
    )
    j = j.mutate(held=j.held.fill_null(j.gpus * j.overlap))
    per_hour = j.group_by([*ROW, "hour"]).aggregate(_claimed=j.held.sum(), _gpus=j.gpus.max())
    scale = ibis.least(1.0, per_hour._gpus / per_hour._claimed.nullif(0))
    per_hour = per_hour.mutate(scale=scale, held_hour=per_hour._claimed * scale)
    j = j.join(per_hour, [*ROW, "hour"])
    workloads = j.group_by([*ROW, "workload"]).aggregate(
        gpu_hours=(j.held * j.scale).sum(), labels_map=j.labels_map.first()
    )
    idle = _idle_hours(engine, rows, per_hour)
    return _as_fractions(rows, workloads, idle)


def _idle_hours(engine: Engine, rows: ir.Table, per_hour: ir.Table) -> ir.Table:
    """Per cost row: GPU-hours with telemetry that no workload held."""
    import ibis

    hh = host_hours(engine, GpuEfficiencyQuery(by=()))
    j = rows.join(
        hh,
        [
            rows.machine == hh.host,
            hh.hour >= rows.ChargePeriodStart,
            hh.hour < rows.ChargePeriodEnd,
        ],
    )
    j = j.left_join(per_hour, [*ROW, "hour"])
    seen = ibis.least(j.seen.cast("float64"), j.gpus)
    free = ibis.greatest(0.0, seen - j.held_hour.fill_null(0.0))
    return j.group_by(list(ROW)).aggregate(idle_hours=free.sum())


def _as_fractions(rows: ir.Table, workloads: ir.Table, idle: ir.Table) -> ir.Table:
    import ibis

    base = rows.select(*ROW, "machine", "gpu_hours")
    w = workloads.join(base, list(ROW)).select(
        *ROW,
        "machine",
        part=ibis.literal(WORKLOAD),
        workload=workloads.workload,
        gpu_hours=workloads.gpu_hours,
        labels_map=workloads.labels_map,
        _total=base.gpu_hours,
    )
    i = idle.join(base, list(ROW)).select(
        *ROW,
        "machine",
        part=ibis.literal(IDLE),
        workload=ibis.null("string"),
        gpu_hours=idle.idle_hours,
        labels_map=ibis.null("map<string, string>"),
        _total=base.gpu_hours,
    )
    parts = w.union(i)
    parts = parts.mutate(fraction=parts.gpu_hours / parts._total.nullif(0))
    used = parts.group_by(list(ROW)).aggregate(_used=parts.fraction.sum())
    # Hour-aligned rows never exceed 1; rows cut mid-hour could, so scale down to be safe.
    parts = parts.join(used, list(ROW))
    parts = parts.mutate(fraction=parts.fraction / ibis.greatest(1.0, parts._used))
    rest = used.join(base, list(ROW)).select(
        *ROW,
        "machine",
        part=ibis.literal(REST),
        workload=ibis.null("string"),
        gpu_hours=base.gpu_hours * ibis.greatest(0.0, 1 - used._used),
        labels_map=ibis.null("map<string, string>"),
        fraction=ibis.greatest(0.0, 1 - used._used),
    )
    columns = [*ROW, "machine", "part", "workload", "gpu_hours", "labels_map", "fraction"]
    out = parts.select(columns).union(rest.select(columns))
    return out.filter(out.fraction > 1e-9)
