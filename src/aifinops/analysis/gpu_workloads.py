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

from aifinops.analysis.gpu import GpuEfficiencyQuery, gpu_rows
from aifinops.model.timewindow import Window

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.engine import Engine

ROW = ("x_IngestFileId", "x_SourceRecord")
#: Parts of a GPU machine cost row (the ``part`` column of :func:`row_parts`).
WORKLOAD, IDLE, REST = "workload", "idle", "rest"


def _hour(engine: Engine, ts: ir.TimestampValue) -> ir.IntegerValue:
    """The UTC hour of ``ts`` as hours since the Unix epoch (integer arithmetic: truncating
    zoned timestamps costs several times more)."""
    return engine.epoch_seconds(ts) // 3600


def _mig_share(samples: ir.Table) -> ir.FloatingValue:
    """The share of a GPU one sample's device is: a MIG instance's compute slices, else 1."""
    import ibis

    slices = samples.mig_profile.re_extract(r"(\d+)g\.", 1).nullif("").cast("float64")
    per_gpu = ibis.ifelse(samples.gpu_model.lower().contains("a30"), 4.0, 7.0)
    return ibis.least(1.0, (slices / per_gpu).fill_null(1.0))


def machine_rows(engine: Engine, window: Window | None = None) -> ir.Table:
    """GPU machine cost rows (:func:`aifinops.analysis.gpu.gpu_rows`): the row, machine, charge
    period, GPUs and billed GPU-hours."""
    query = GpuEfficiencyQuery(by=(), window=window or Window())
    return gpu_rows(engine, query).select(
        *ROW, "machine", "ChargePeriodStart", "ChargePeriodEnd", "gpus", "gpu_hours"
    )


def device_hours(engine: Engine) -> ir.Table:
    """``gpu_samples`` per (host, hour, GPU, MIG instance, workload): samples, samples with a
    utilisation, the share of a GPU the device is, and the workload's labels. One pass over the
    samples; everything else reads this."""
    import ibis

    s = engine.table("gpu_samples")
    s = s.filter(s.host.notnull())
    pod = ibis.ifelse(s.pod.notnull(), s.namespace.fill_null("") + "/" + s.pod, ibis.null("string"))
    util = s.gpu_util_pct.fill_null(s.gr_engine_active * 100)
    return s.group_by(
        "host",
        "gpu_uuid",
        "gpu_index",
        "mig_instance",
        hour=_hour(engine, s.ts),
        workload=s.job_id.nullif("").fill_null(pod),
    ).aggregate(
        n=s.count(),
        seen=util.count(),
        share=_mig_share(s).max(),
        labels_map=s.labels_map.first(),
    )


def telemetry_holdings(devices: ir.Table) -> ir.Table:
    """Per (host, hour, workload): GPU-hours held according to labelled samples, with the
    workload's labels (a device-hour is shared by its workloads in proportion to samples)."""
    import ibis

    device = ibis.window(group_by=["host", "hour", "gpu_uuid", "gpu_index", "mig_instance"])
    d = devices.mutate(_all=devices.n.sum().over(device))
    d = d.filter(d.workload.notnull())
    d = d.mutate(held=d.share * d.n / d._all)
    return d.group_by(["host", "hour", "workload"]).aggregate(
        held=d.held.sum(), labels_map=d.labels_map.first()
    )


def seen_gpus(devices: ir.Table) -> ir.Table:
    """Per (host, hour): GPUs with a utilisation sample (MIG instances count as their GPU)."""
    d = devices.filter(devices.seen > 0)
    gpus = d.group_by(["host", "hour", "gpu_uuid", "gpu_index"]).aggregate()
    return gpus.group_by(["host", "hour"]).aggregate(seen=gpus.count().cast("float64"))


def scheduler_holdings(engine: Engine, labelled: ir.Table) -> ir.Table:
    """Per (host, hour, workload): GPU-hours held according to ``jobs`` (``held`` NULL when the
    job does not say how many GPUs: all of the machine's), except host-hours with labelled
    telemetry."""
    import ibis

    jobs = engine.table("jobs")
    jobs = jobs.filter(
        jobs.host.notnull(), jobs.end_time.notnull(), jobs.end_time > jobs.start_time
    )
    begin, finish = engine.epoch_seconds(jobs.start_time), engine.epoch_seconds(jobs.end_time)
    first = begin // 3600
    count = (finish - first * 3600 + 3599) // 3600
    hours = jobs.mutate(hour=first + ibis.range(0, count).unnest(), _begin=begin, _end=finish)
    start = ibis.greatest(hours._begin, hours.hour * 3600)
    end = ibis.least(hours._end, hours.hour * 3600 + 3600)
    overlap = (end - start).cast("float64") / 3600
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


def row_hours(engine: Engine, rows: ir.Table, busy: ir.Table) -> ir.Table:
    """The UTC hours of each GPU machine cost row that are among the ``busy`` (host, hour)
    pairs (telemetry or jobs there). Most rows are one hour; only longer ones are cut."""
    import ibis

    start = engine.epoch_seconds(rows.ChargePeriodStart)
    end = engine.epoch_seconds(rows.ChargePeriodEnd)
    one = (end - start == 3600) & (start % 3600 == 0)
    hourly = rows.filter(one).mutate(hour=start // 3600)
    hourly = hourly.semi_join(busy, [hourly.machine == busy.host, hourly.hour == busy.hour])
    hosts = busy.select("host").distinct()
    longer = rows.filter(~one)
    longer = longer.semi_join(hosts, longer.machine == hosts.host)
    first = engine.epoch_seconds(longer.ChargePeriodStart) // 3600
    count = (engine.epoch_seconds(longer.ChargePeriodEnd) - first * 3600 + 3599) // 3600
    longer = longer.mutate(hour=first + ibis.range(0, count).unnest())
    longer = longer.semi_join(busy, [longer.machine == busy.host, longer.hour == busy.hour])
    columns = [*ROW, "machine", "gpus", "hour"]
    return hourly.select(columns).union(longer.select(columns))


def holdings(engine: Engine, devices: ir.Table) -> ir.Table:
    """Per (host, hour, workload): GPU-hours held by labelled telemetry, else by the scheduler
    (``held`` NULL: all of the machine's GPUs for ``overlap`` of the hour), with its labels."""
    import ibis

    labelled = telemetry_holdings(devices)
    return (
        labelled.mutate(overlap=ibis.literal(1.0))
        .select("host", "hour", "workload", "held", "overlap", "labels_map")
        .union(scheduler_holdings(engine, labelled))
    )


def busy_hours(held: ir.Table, seen: ir.Table) -> ir.Table:
    """The (host, hour) pairs with a workload (``held``: :func:`holdings`) or telemetry
    (``seen``: :func:`seen_gpus`)."""
    return held.select("host", "hour").union(seen.select("host", "hour")).distinct()


def row_parts(rows: ir.Table, held: ir.Table, seen: ir.Table, hours: ir.Table) -> ir.Table:
    """GPU machine cost rows (``rows``: :func:`machine_rows`) cut into parts: one per workload
    that held its GPUs, one ``idle`` (telemetry, nobody holding) and one ``rest`` (unknown), as
    ``fraction`` of the row's billed GPU-hours (fractions of a row sum to 1), with ``gpu_hours``
    and the workload's labels. Rows with neither telemetry nor jobs have no parts.

    ``held`` is :func:`holdings`, ``seen`` :func:`seen_gpus` and ``hours`` :func:`row_hours`
    of the :func:`busy_hours` (each read twice here: the caller may materialise them)."""
    import ibis

    j = hours.join(held, [hours.machine == held.host, hours.hour == held.hour])
    j = j.mutate(held=j.held.fill_null(j.gpus * j.overlap))
    per_hour = j.group_by([*ROW, "hour"]).aggregate(_claimed=j.held.sum(), _gpus=j.gpus.max())
    scale = ibis.least(1.0, per_hour._gpus / per_hour._claimed.nullif(0))
    per_hour = per_hour.mutate(scale=scale, held_hour=per_hour._claimed * scale)
    j = j.join(per_hour, [*ROW, "hour"])
    workloads = j.group_by([*ROW, "workload"]).aggregate(
        gpu_hours=(j.held * j.scale).sum(), labels_map=j.labels_map.first()
    )
    s = hours.join(seen, [hours.machine == seen.host, hours.hour == seen.hour])
    s = s.left_join(per_hour, [*ROW, "hour"])
    free = ibis.greatest(0.0, ibis.least(s.seen, s.gpus) - s.held_hour.fill_null(0.0))
    idle = s.group_by(list(ROW)).aggregate(idle_hours=free.sum())
    return _as_fractions(rows, workloads, idle)


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
