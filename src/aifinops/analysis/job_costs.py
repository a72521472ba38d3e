"""What each job cost, and roll-ups of jobs into training runs, fine-tunes, evaluations and
experiments.

A job is a row of ``jobs`` (a training run, fine-tune, experiment, evaluation, batch job or
deployment) that started in the window. Its cost is the sum of the ``allocated_costs`` rows whose
``job`` is its ``job_id`` — all of them, also those charged after the window ends, so a job is
counted once, whole, in the window it started in. ``gpu_hours`` are the GPU-hours it held
(``gpu-workload`` rows: fractions for MIG slices and time-sliced GPUs). Workloads that allocation
charged but ``jobs`` does not list (pods and job ids seen only in GPU telemetry) are listed too,
with the first day they were charged as their start.

A job with no allocated cost is listed with ``cost`` NULL and a ``note`` saying why (no host, no
end time, its host is not a billed GPU machine, no bill covers its hours, ...), never as 0.

Roll-ups group the jobs of the unit's kinds by a key, the first of a list that a job has:

=============  ==========================================  ==================================
unit           jobs (``kind``)                             key
=============  ==========================================  ==================================
training-run   training, train, pretraining, pretrain      label ``run``, else the job id
fine-tune      fine-tune, finetune, fine-tuning, sft ...   label ``run``, else the job id
evaluation     evaluation, eval                            label ``run``, else the job id
experiment     every kind                                  label ``experiment``, else the name
                                                           without its run number, else the id
=============  ==========================================  ==================================

``--by`` replaces the key with any of: ``label:KEY``, ``name`` (without its run number), a
``jobs`` column (``kind``, ``status``, ``host``, ``user_name``, ``gpu_model``, ``source``) or an
allocation dimension (``team``, ``project`` ...). ``key_from`` says where each key came from.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from aifinops.analysis.unit_costs import (
    CURRENCY,
    Unit,
    UnitQuery,
    add_ratios,
    exact_ratio,
    label_dimension,
    label_keys,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

    from aifinops.engine import Engine
    from aifinops.model.allocation import AllocationRules

#: job kinds of each unit (lower-case; ``_`` and spaces read as ``-``); experiment: every kind
KINDS: dict[Unit, tuple[str, ...]] = {
    Unit.TRAINING_RUN: ("training", "train", "pretraining", "pretrain", "pre-training"),
    Unit.FINE_TUNE: ("fine-tune", "finetune", "fine-tuning", "finetuning", "sft", "rlhf"),
    Unit.EVALUATION: ("evaluation", "eval", "evaluate", "benchmark"),
}
#: the key chain of each roll-up (the first a job has)
KEYS: dict[Unit, tuple[str, ...]] = {
    Unit.TRAINING_RUN: ("label:run", "job_id"),
    Unit.FINE_TUNE: ("label:run", "job_id"),
    Unit.EVALUATION: ("label:run", "job_id"),
    Unit.EXPERIMENT: ("label:experiment", "name", "job_id"),
}
#: ``jobs`` columns a roll-up can be keyed by
JOB_COLUMNS = ("job_id", "kind", "status", "host", "user_name", "gpu_model", "source")
#: statuses of jobs that finished their work (others count as not completed)
DONE = ("completed", "complete", "succeeded", "success", "done", "finished", "0")
_RUN_NUMBER = r"([-_.]([0-9]+|[0-9a-f]{6,}))+$"  # "-0134", "_7", ".3f9a2c1d"


def job_report(engine: Engine, rules: AllocationRules, query: UnitQuery) -> pa.Table:
    """Per job (``query.per`` job) or per roll-up key."""
    per = Unit(query.per)
    kinds = query.kinds or KINDS.get(per, ())
    rows = job_rows(engine, rules, query, kinds)
    if per is Unit.JOB and not query.by:
        return job_costs(engine, rows)
    return rollup(engine, rows, per, query.by)


# -- one row per job -------------------------------------------------------------------------


def job_rows(
    engine: Engine, rules: AllocationRules, query: UnitQuery, kinds: tuple[str, ...]
) -> ir.Table:
    """Jobs (and workloads only telemetry names) starting in the window, with their allocated
    cost per currency, GPU-hours held, duration and dimensions; ``labels_map`` kept."""
    import ibis

    from aifinops.analysis.allocation import GPU_WORKLOAD, TABLE

    a = engine.table(TABLE)
    a = a.filter(a.job.notnull())
    dims = [d for d in rules.all_dimensions() if d in a.columns]
    m = a[query.metric.column]
    charged = a.group_by(["job", "BillingCurrency"]).aggregate(
        cost=m.sum(),
        gpu_hours=a.gpu_hours.sum(where=a.allocation == GPU_WORKLOAD),
        _first=a.charge_date.min(),
        **{f"_{d}": a[d].argmax(m) for d in dims},  # where the largest cost row went
    )
    jobs = _jobs(engine, rules, dims)
    j = jobs.left_join(charged, jobs.job_id == charged.job)
    known = j.select(
        *jobs.columns,
        CURRENCY,
        "cost",
        "gpu_hours",
        **{d: ibis.coalesce(j[f"_{d}"], j[f"_label_{d}"]) for d in dims},
    ).drop(*[f"_label_{d}" for d in dims])
    known = _within(known, "start_time", query)
    if kinds:
        known = known.filter(_kind(known.kind).isin(list(kinds)))
    else:
        listed = engine.table("jobs")
        only = charged.anti_join(listed, charged.job == listed.job_id)
        only = only.mutate(start_time=only._first.cast(listed.start_time.type()))
        known = known.union(_telemetry_only(_within(only, "start_time", query), known, dims))
    return known.mutate(duration_hours=known.end_time.delta(known.start_time, unit="second") / 3600)


def _jobs(engine: Engine, rules: AllocationRules, dims: list[str]) -> ir.Table:
    jobs = engine.table("jobs")
    present = label_keys(engine, "jobs")
    all_dims = rules.all_dimensions()
    labels = {f"_label_{d}": label_dimension(jobs, present, all_dims[d]) for d in dims}
    return jobs.select(
        "job_id",
        "name",
        "kind",
        "status",
        "start_time",
        "end_time",
        "host",
        "gpu_count",
        "user_name",
        "gpu_model",
        "source",
        "labels_map",
        **labels,
    )


def _telemetry_only(only: ir.Table, like: ir.Table, dims: list[str]) -> ir.Table:
    import ibis

    values: dict[str, ir.Value] = {
        "job_id": only.job,
        "start_time": only.start_time,
        "source": ibis.literal("gpu_samples"),
        CURRENCY: only.BillingCurrency,
        "cost": only.cost,
        "gpu_hours": only.gpu_hours,
        **{d: only[f"_{d}"] for d in dims},
    }
    out = {c: values.get(c, ibis.null(like[c].type())).cast(like[c].type()) for c in like.columns}
    return only.select(**out)


def _within(t: ir.Table, column: str, query: UnitQuery) -> ir.Table:
    import ibis

    w = query.window
    if w.start is not None:
        t = t.filter(t[column] >= ibis.timestamp(w.start.isoformat(), timezone="UTC"))
    if w.end is not None:
        t = t.filter(t[column] < ibis.timestamp(w.end.isoformat(), timezone="UTC"))
    return t


def _kind(kind: ir.StringValue) -> ir.StringValue:
    return kind.strip().lower().re_replace(r"[_ ]+", "-")


def job_costs(engine: Engine, rows: ir.Table) -> pa.Table:
    """One row per job and currency, with ``cost_per_gpu_hour`` and a ``note`` for jobs without
    cost (see :func:`missing_reasons`)."""
    import pyarrow as pa

    ordered = rows.drop("labels_map", "user_name", "gpu_model")
    ordered = ordered.order_by([ordered.start_time, ordered.job_id])
    table = engine.execute(ordered)
    rows_ = table.to_pylist()
    reasons = missing_reasons(engine, [r["job_id"] for r in rows_ if r["cost"] is None])
    notes = [None if r["cost"] is not None else reasons.get(r["job_id"]) for r in rows_]
    table = add_ratios(
        table, {"cost_per_gpu_hour": [exact_ratio(r["cost"], r["gpu_hours"], 6) for r in rows_]}
    )
    return table.append_column("note", pa.array(notes, pa.string()))


def missing_reasons(engine: Engine, job_ids: list[str]) -> dict[str, str]:
    """Why each of ``job_ids`` has no allocated cost: the first of no host, no end time, an end
    before the start, a host that no GPU machine cost row names, no such row covering the job's
    hours, or (else) no allocated row naming it."""
    if not job_ids:
        return {}
    from aifinops.analysis.gpu import GpuEfficiencyQuery, gpu_rows

    jobs = engine.table("jobs")
    jobs = jobs.filter(jobs.job_id.isin(job_ids))
    machines = gpu_rows(engine, GpuEfficiencyQuery(by=())).select(
        "machine", "ChargePeriodStart", "ChargePeriodEnd"
    )
    hosts = machines.select(host=machines.machine).distinct()
    covered = jobs.join(
        machines,
        [
            jobs.host == machines.machine,
            machines.ChargePeriodStart < jobs.end_time,
            machines.ChargePeriodEnd > jobs.start_time,
        ],
    ).select("job_id")
    facts = jobs.select(
        "job_id",
        "host",
        "start_time",
        "end_time",
        billed=jobs.host.isin(hosts.host),
        covered=jobs.job_id.isin(covered.job_id),
    )
    return {r["job_id"]: _reason(r) for r in engine.execute(facts).to_pylist()}


def _reason(r: dict[str, Any]) -> str:
    if r["host"] is None:
        return "no host: the scheduler did not say where it ran"
    if r["end_time"] is None:
        return "no end time: still running, or the end was not recorded"
    if r["end_time"] <= r["start_time"]:
        return "it ends before it starts"
    if not r["billed"]:
        return (
            f"host {r['host']} is not a billed GPU machine (no GPU cost row has ResourceName "
            f"{r['host']}; for on-prem hosts see [onprem])"
        )
    if not r["covered"]:
        return f"no cost row of host {r['host']} covers the job's hours (bills not in yet?)"
    return (
        "no allocated cost names it: labelled telemetry of other workloads held its host's "
        "GPUs, GPU workload allocation is off, or allocated_costs predates it (run "
        "`aifinops allocate`)"
    )


# -- roll-ups --------------------------------------------------------------------------------


def rollup(engine: Engine, rows: ir.Table, per: Unit, by: tuple[str, ...]) -> pa.Table:
    """Jobs grouped by the unit's key chain (or ``by``): jobs, completed, without cost, GPU-hours,
    cost, cost of jobs that did not complete, per GPU-hour and per costed job."""
    import ibis

    if by:
        keys = {b: _key(rows, b) for b in by}
        named = rows.mutate(**keys)
        group = list(keys)
    else:
        chain = KEYS.get(per, ("job_id",))
        values = [_key(rows, k) for k in chain]
        names = [
            ibis.ifelse(v.notnull(), ibis.literal(k), ibis.null("string"))
            for k, v in zip(chain, values, strict=True)
        ]
        label = per.value.replace("-", "_") if per is not Unit.JOB else "job"
        named = rows.mutate(**{label: ibis.coalesce(*values), "key_from": ibis.coalesce(*names)})
        group = [label, "key_from"]
    done = _kind(named.status).isin(list(DONE)) | (named.status.isnull() & named.cost.notnull())
    g = named.group_by([*group, CURRENCY]).aggregate(
        jobs=named.job_id.nunique(),
        completed=named.job_id.nunique(where=done),
        without_cost=named.job_id.nunique(where=named.cost.isnull()),
        gpu_hours=named.gpu_hours.sum(),
        duration_hours=named.duration_hours.sum(),
        cost=named.cost.sum(),
        not_completed_cost=named.cost.sum(where=~done),
        first_start=named.start_time.min(),
        last_end=named.end_time.max(),
    )
    known = ibis.ifelse(g.cost.notnull(), g.not_completed_cost.fill_null(0), g.not_completed_cost)
    g = g.mutate(not_completed_cost=known)
    g = g.order_by([g.cost.desc(), *[g[k] for k in group]])
    table = _merge_uncosted(engine.execute(g), group)
    rows_ = table.to_pylist()
    costed = [r["jobs"] - r["without_cost"] for r in rows_]
    return add_ratios(
        table,
        {
            "cost_per_gpu_hour": [exact_ratio(r["cost"], r["gpu_hours"], 6) for r in rows_],
            "cost_per_job": [
                exact_ratio(r["cost"], n, 6) for r, n in zip(rows_, costed, strict=True)
            ],
        },
    )


def _key(rows: ir.Table, spec: str) -> ir.Value:
    if spec.lower().startswith("label:"):
        key = spec[len("label:") :]
        return rows.labels_map.get(key).strip().nullif("").name(spec)
    if spec == "name":
        return rows.name.re_replace(_RUN_NUMBER, "").nullif("").name(spec)
    if spec in rows.columns and spec not in ("labels_map", "cost", "gpu_hours"):
        return rows[spec]
    known = ["name", "label:KEY", *JOB_COLUMNS]
    close = difflib.get_close_matches(spec, [*known, *rows.columns], n=3)
    from aifinops.errors import QueryError

    hint = f"did you mean {', '.join(close)}?" if close else f"use {', '.join(known)}"
    raise QueryError(f"cannot group jobs by {spec!r}", hint=f"{hint} (or a dimension)")


def _merge_uncosted(table: pa.Table, group: list[str]) -> pa.Table:
    """Jobs without cost have no currency: fold their row into the key's one priced row (when
    the key has exactly one), so a key is one line."""
    import pyarrow as pa

    rows = table.to_pylist()
    priced: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        if r[CURRENCY] is not None:
            priced.setdefault(tuple(r[k] for k in group), []).append(r)
    out = []
    for r in rows:
        same = priced.get(tuple(r[k] for k in group), [])
        if r[CURRENCY] is None and len(same) == 1:
            target = same[0]
            for k in ("jobs", "completed", "without_cost"):
                target[k] += r[k]
            target["duration_hours"] = _add(target["duration_hours"], r["duration_hours"])
            target["first_start"] = min(target["first_start"], r["first_start"])
            target["last_end"] = _latest(target["last_end"], r["last_end"])
            continue
        out.append(r)
    return pa.Table.from_pylist(out, schema=table.schema)


def _add(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else a + b


def _latest(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)
