"""GPU energy from telemetry: per GPU and UTC hour, the watts it drew and how that is known.

Three methods, best first, chosen per GPU-hour:

* ``measured``: the GPU's energy counter (``gpu_samples.energy_j``, joules since boot). Each pair
  of consecutive readings of one GPU is an interval; its energy is the difference. An interval
  is used only when the counter did not go down (a decrease is a reset: the GPU or its driver
  restarted, and the energy of that interval is unknown) and it lasts at most
  :data:`MAX_INTERVAL_S` (a longer gap could hide a reset and would smear energy over hours it
  cannot place). An interval that crosses the hour is split between the two hours in proportion
  to time. The GPU-hour's average draw is the energy of its intervals over the time they cover.
* ``power``: the mean of the hour's ``power_w`` samples.
* ``modelled``: only utilisation is known (``gpu_util_pct``, else ``gr_engine_active`` x 100):
  the caller applies the GPU's power model (:mod:`aifinops.model.carbon`).

A GPU-hour's energy is its average draw x 1 hour, so a partly covered hour is extrapolated to the
whole hour, as the GPU efficiency report counts an hour with samples as an hour seen. MIG
instances of one GPU are one GPU here (their rows of one time are merged first).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.engine import Engine
    from aifinops.model.timewindow import Window

#: the longest counter interval used (seconds); longer gaps fall back to power or the model
MAX_INTERVAL_S = 3600
_GPU = ("host", "uuid", "idx")


def _samples(engine: Engine, window: Window) -> ir.Table:
    """One row per host, GPU and time: the counter, mean power and utilisation (0..1) of the
    samples of that time (MIG instances merged)."""
    import ibis

    s = engine.table("gpu_samples")
    if window.start is not None:
        start = datetime.combine(window.start, time(), UTC)
        early = start - timedelta(seconds=MAX_INTERVAL_S)  # the interval into the window
        s = s.filter(s.ts >= ibis.timestamp(early.isoformat(), timezone="UTC"))
    if window.end is not None:
        s = s.filter(s.ts < ibis.timestamp(window.end.isoformat(), timezone="UTC"))
    s = s.filter(s.host.notnull())
    util = s.gpu_util_pct.fill_null(s.gr_engine_active * 100) / 100
    return s.group_by(
        host=s.host,
        uuid=s.gpu_uuid.fill_null(""),
        idx=s.gpu_index.cast("string").fill_null(""),
        ts=s.ts,
    ).aggregate(energy_j=s.energy_j.max(), power_w=s.power_w.mean(), util=util.mean())


def _counter_hours(samples: ir.Table) -> ir.Table:
    """Per host, GPU and hour: joules counted and seconds covered by valid counter intervals."""
    import ibis

    e = samples.filter(samples.energy_j.notnull())
    w = ibis.window(group_by=[e[k] for k in _GPU], order_by=e.ts)
    iv = e.mutate(t0=e.ts.lag().over(w), e0=e.energy_j.lag().over(w))
    secs = iv.ts.delta(iv.t0, unit="millisecond").cast("float64") / 1000
    valid = iv.t0.notnull() & (iv.energy_j >= iv.e0) & (secs > 0) & (secs <= MAX_INTERVAL_S)
    iv = iv.mutate(secs=secs, joules=iv.energy_j - iv.e0).filter(valid)
    boundary = iv.t0.truncate("h") + ibis.interval(hours=1)
    first = ibis.least(iv.ts, boundary).delta(iv.t0, unit="millisecond").cast("float64") / 1000
    second = iv.ts.delta(boundary, unit="millisecond").cast("float64") / 1000
    keys = [iv[k] for k in _GPU]
    head = iv.select(*keys, hour=iv.t0.truncate("h"), part=first, secs=iv.secs, j=iv.joules)
    tail = iv.filter(iv.ts > boundary).select(
        *keys, hour=boundary, part=second, secs=iv.secs, j=iv.joules
    )
    parts = head.union(tail)
    return parts.group_by([*_GPU, "hour"]).aggregate(
        joules=(parts.j * parts.part / parts.secs).sum(), covered_s=parts.part.sum()
    )


def gpu_hours(engine: Engine, window: Window) -> ir.Table:
    """Per host, GPU (``uuid``, ``idx``: "" where the samples lack one) and UTC hour inside
    ``window``: ``measured_w``, ``power_w``, ``util`` (0..1) and the ``method`` to use
    (``measured``, ``power`` or ``modelled``). GPU-hours with none of the three are left out."""
    import ibis

    s = _samples(engine, window)
    hourly = s.group_by([*_GPU, s.ts.truncate("h").name("hour")]).aggregate(
        power_w=s.power_w.mean(), util=s.util.mean()
    )
    counted = _counter_hours(s)
    both = hourly.mutate(measured_w=ibis.null("float64")).union(
        counted.select(
            *_GPU,
            "hour",
            power_w=ibis.null("float64"),
            util=ibis.null("float64"),
            measured_w=counted.joules / counted.covered_s,
        )
    )
    g = both.group_by([*_GPU, "hour"]).aggregate(
        measured_w=both.measured_w.max(), power_w=both.power_w.max(), util=both.util.max()
    )
    if window.start is not None:
        g = g.filter(g.hour >= ibis.timestamp(window.start.isoformat(), timezone="UTC"))
    method = ibis.cases(
        (g.measured_w.notnull(), "measured"),
        (g.power_w.notnull(), "power"),
        (g.util.notnull(), "modelled"),
        else_=ibis.null("string"),
    )
    g = g.mutate(method=method)
    return g.filter(g.method.notnull())


def gpu_figures(engine: Engine, window: Window) -> ir.Table:
    """:func:`gpu_hours` with the figures :func:`host_hours` sums, per GPU-hour: ``seen`` 1;
    ``measured_n``/``power_n``/``model_n`` 1 for the hour's method; ``measured_wh`` and
    ``power_wh`` the draw of that method; ``model_util`` the utilisation of a modelled hour."""
    import ibis

    g = gpu_hours(engine, window)
    measured, power, modelled = (g.method == m for m in ("measured", "power", "modelled"))
    return g.mutate(
        seen=ibis.literal(1.0),
        measured_n=ibis.ifelse(measured, 1.0, 0.0),
        measured_wh=ibis.ifelse(measured, g.measured_w, 0.0),
        power_n=ibis.ifelse(power, 1.0, 0.0),
        power_wh=ibis.ifelse(power, g.power_w, 0.0),
        model_n=ibis.ifelse(modelled, 1.0, 0.0),
        model_util=ibis.ifelse(modelled, g.util, 0.0),
    )


#: the per-hour figures of :func:`gpu_figures` and :func:`host_hours`
FIGURES = ("seen", "measured_n", "measured_wh", "power_n", "power_wh", "model_n", "model_util")


def host_hours(engine: Engine, window: Window) -> ir.Table:
    """Per host and UTC hour: GPUs ``seen``; by method, the GPUs (``*_n``) and their watts
    (``measured_wh``, ``power_wh``: one hour at that draw); for ``modelled`` GPUs the summed
    utilisation (``model_util``, fractions) for the linear power model."""
    g = gpu_figures(engine, window)
    return g.group_by("host", "hour").aggregate(**{f: g[f].sum() for f in FIGURES})
