"""Energy and emissions per job: jobs joined to the telemetry of their host and time.

A job (``jobs``) ran on ``host`` from ``start_time`` to ``end_time`` (clipped to the window) on
the GPUs it names (``gpus``: UUIDs or indexes, comma-separated) or on ``gpu_count`` GPUs. Each
telemetry GPU-hour of the host (:mod:`aifinops.analysis.energy`) counts for the fraction of the
hour the job overlaps:

* a job naming its GPUs gets those GPUs' figures;
* otherwise the host-hour's figures x ``gpu_count`` / GPUs seen (at most all of them); a job
  with neither gets the whole host.

Hours of the job without telemetry are modelled: its GPUs (``gpu_count``, else the GPUs named,
else the machine's from the GPU catalog) x hours, less the GPU-hours telemetry covered, at the
assumed utilisation. The power model is the one of the machine's GPU (from its cost rows), else
the job's ``gpu_model``. PUE and grid intensity are those of the machine the cost rows place the
host in; a host without GPU cost rows in the window has an unknown region. A job still running
(no ``end_time``) is counted to the window's end, or, in an open window, only where telemetry
has it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aifinops.analysis.carbon import (
    METHODS,
    SITE,
    Figures,
    Tally,
    figures,
    place,
    rounded,
    to_arrow,
)
from aifinops.analysis.energy import FIGURES
from aifinops.errors import QueryError
from aifinops.model.carbon import ASSUMED_UTILISATION_PCT, CarbonFactors
from aifinops.model.timewindow import Window

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

    from aifinops.engine import Engine

LABEL_PREFIX = "label:"
DIMENSIONS = ("job_id", "name", "kind", "host", "user_name", "status", "gpu_model", "source")
DEFAULT_BY = ("job_id", "name", "kind", "host")
COLUMNS = (
    "jobs",
    "gpu_hours",
    "gpu_kwh",
    "kwh",
    "kgco2e",
    "kgco2e_per_gpu_hour",
    *(f"{m}_share" for m in METHODS),
    "unknown_share",
    "unknowns",
)
#: what places a job's machine: the cost-row site columns, less the instance type
_MACHINE = tuple(c for c in SITE if c != "instance_type")


@dataclass(frozen=True)
class JobCarbonQuery:
    """``by``: job columns in :data:`DIMENSIONS` or ``label:KEY``; a window on the jobs' time;
    the places' factors and the utilisation assumed without telemetry (percent)."""

    by: tuple[str, ...] = DEFAULT_BY
    window: Window = field(default_factory=Window)
    factors: CarbonFactors = field(default_factory=CarbonFactors)
    assumed_util_pct: Decimal = ASSUMED_UTILISATION_PCT


def _ts(day: Any) -> Any:
    import ibis

    return ibis.timestamp(datetime.combine(day, time(), UTC).isoformat(), timezone="UTC")


def _jobs(engine: Engine, query: JobCarbonQuery) -> ir.Table:
    """Jobs overlapping the window with ``s``/``e`` (their time inside it), ``listed`` (the GPUs
    named, or NULL) and the ``by`` dimensions."""
    import ibis

    j = engine.table("jobs")
    start, end = query.window.start, query.window.end
    s = j.start_time if start is None else ibis.greatest(j.start_time, _ts(start))
    e = j.end_time if end is None else ibis.least(j.end_time.fill_null(_ts(end)), _ts(end))
    if start is not None:
        j = j.filter(j.end_time.isnull() | (j.end_time > _ts(start)))
    if end is not None:
        j = j.filter(j.start_time < _ts(end))
    dims = {spec: dimension(j, spec) for spec in query.by}
    return j.select(
        jid=j.job_id,
        jhost=j.host,
        jgpus=j.gpu_count,
        s=s,
        e=e,
        listed=j.gpus.nullif("").split(",").map(lambda gpu: gpu.strip()),
        job_gpu_model=j.gpu_model,
        **dims,
    )


def dimension(jobs: ir.Table, spec: str) -> ir.Value:
    """A ``jobs`` column in :data:`DIMENSIONS` or ``label:KEY`` (a key of ``labels``)."""
    if spec.lower().startswith(LABEL_PREFIX):
        key = spec[len(LABEL_PREFIX) :]
        if not key:
            raise QueryError("label: needs a key, e.g. label:team")
        return jobs.labels_map.get(key).name(spec)
    if spec.lower() in DIMENSIONS:
        return jobs[spec.lower()].name(spec)
    close = difflib.get_close_matches(spec.lower(), DIMENSIONS, n=3)
    hint = f"did you mean {', '.join(close)}?" if close else f"use {', '.join(DIMENSIONS)}"
    raise QueryError(f"unknown job dimension {spec!r}", hint=f"{hint} (or label:KEY)")


def _overlap_hours(s: ir.Value, e: ir.Value, hour: ir.TimestampValue) -> ir.FloatingValue:
    """Hours of [s, e) inside the hour starting at ``hour`` (``e`` NULL: to the hour's end)."""
    import ibis

    after = hour + ibis.interval(hours=1)
    ms = ibis.least(e.fill_null(after), after).delta(ibis.greatest(s, hour), unit="millisecond")
    return ms.cast("float64") / 3_600_000


def job_telemetry(engine: Engine, query: JobCarbonQuery) -> ir.Table:
    """Per job: the telemetry figures (:data:`~aifinops.analysis.energy.FIGURES`) of the
    GPU-hours it held, weighted by the fraction of each hour it ran."""
    import ibis

    from aifinops.analysis import energy

    jobs = _jobs(engine, query)
    per_gpu = energy.gpu_figures(engine, query.window)
    hosts = energy.host_hours(engine, query.window)
    parts = []
    for table, named in ((per_gpu, True), (hosts, False)):
        mine = jobs.filter(jobs.listed.notnull() if named else jobs.listed.isnull())
        on = [
            mine.jhost == table.host,
            table.hour < mine.e.fill_null(table.hour + ibis.interval(hours=1)),
            table.hour + ibis.interval(hours=1) > mine.s,
        ]
        if named:
            on.append(mine.listed.contains(table.uuid) | mine.listed.contains(table.idx))
        j = mine.join(table, on)
        weight = _overlap_hours(j.s, j.e, j.hour)
        if not named:
            share = ibis.least(1.0, j.jgpus.cast("float64") / j.seen).fill_null(1.0)
            weight = weight * share
        parts.append(j.select("jid", **{f: j[f] * weight for f in FIGURES}))
    both = parts[0].union(parts[1])
    return both.group_by("jid").aggregate(**{f: both[f].sum() for f in FIGURES})


def _machines(engine: Engine, query: JobCarbonQuery) -> ir.Table:
    """Per GPU machine with cost rows in the window: where it is, its GPU model and GPUs."""
    from aifinops.analysis.gpu import GpuEfficiencyQuery, gpu_rows

    rows = gpu_rows(engine, GpuEfficiencyQuery(by=_MACHINE, window=query.window))
    return rows.group_by(jhost=rows.machine).aggregate(
        m_gpus=rows.gpus.max(), **{f"m_{c}": rows[c].max() for c in _MACHINE}
    )


def job_rows(engine: Engine, query: JobCarbonQuery) -> ir.Table:
    """Each job with its hours, GPUs, telemetry figures and its machine's place."""
    tele = job_telemetry(engine, query)
    jobs = _jobs(engine, query)
    j = jobs.left_join(tele, "jid").left_join(_machines(engine, query), "jhost")
    hours = j.e.delta(j.s, unit="millisecond").cast("float64") / 3_600_000
    gpus = j.jgpus.cast("float64").fill_null(j.listed.length().cast("float64"))
    return j.mutate(
        hours=hours,
        gpus=gpus.fill_null(j.m_gpus),
        **{f: j[f].fill_null(0.0) for f in FIGURES},
    )


def job_carbon(engine: Engine, query: JobCarbonQuery) -> pa.Table:
    """Per ``by`` group of jobs: jobs, GPU-hours, energy and emissions, kg CO2e per GPU-hour,
    method shares, the unknown share and why; the most emissions first."""
    table = engine.execute(job_rows(engine, query))
    assumed = float(query.assumed_util_pct) / 100
    keys = list(query.by)
    tallies: dict[tuple[Any, ...], tuple[Tally, set[str]]] = {}
    for row in table.to_pylist():
        tally, ids = tallies.setdefault(tuple(row[k] for k in keys), (Tally(), set()))
        tally.add(_job_figures(row, query.factors, assumed))
        ids.add(row["jid"])
    out = []
    for key, (tally, ids) in tallies.items():
        cols = tally.columns()
        kg, hours = tally.kg, tally.carbon_gpu_hours
        per_hour = rounded(kg / hours, 6) if kg is not None and hours else None
        out.append({**dict(zip(keys, key, strict=True)), "jobs": len(ids), **cols,
                    "kgco2e_per_gpu_hour": per_hour})  # fmt: skip
    out.sort(key=lambda r: (r["kgco2e"] is None, -(r["kgco2e"] or 0), [str(r[k]) for k in keys]))
    return to_arrow(out, table.schema, [*keys, *COLUMNS])


def _job_figures(row: dict[str, Any], factors: CarbonFactors, assumed: float) -> Figures:
    """A job's :func:`~aifinops.analysis.carbon.figures`: its GPU-hours are GPUs x hours (or
    what telemetry saw where either is unknown)."""
    provider, region, cluster = place({c: row[f"m_{c}"] for c in _MACHINE})
    unknown_place = provider is None and region is None
    row["_where"] = f"host {row['jhost']} (no GPU cost rows)" if unknown_place else (
        f"{cluster} (on-prem)" if cluster else f"{provider}/{region}"
    )  # fmt: skip
    span = row["gpus"] * row["hours"] if row["gpus"] is not None and row["hours"] else None
    row["gpu_hours"] = span if span is not None else row["seen"]
    row["unseen"] = max(0.0, row["gpu_hours"] - row["seen"])
    site = factors.site(provider, region, cluster)
    found = figures(row, row["m_gpu_model"] or row["job_gpu_model"], site, assumed)
    if span is None and row["hours"] is None:
        extra = {f"job {row['jid']} has no end: only hours with telemetry counted"}
        return Figures(**{**found.__dict__, "unknowns": found.unknowns | extra})
    return found
