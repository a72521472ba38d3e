"""Unit costs: what one unit of work or value cost — a job, a run, an experiment, a GPU-hour, a
team's or model's or feature's month, an LLM request, a thousand or a million tokens.

Costs come from ``allocated_costs`` (run ``aifinops allocate`` first), so a unit's cost is what
allocation charged it: a job's cost is the sum of the rows naming it (``job``), i.e. the part of
each GPU machine's cost for the GPU-hours it held (MIG slices and time-sliced GPUs for their
share), plus its share of idle GPUs when ``idle_gpu = "shared"``. Units:

* ``job``, ``training-run``, ``fine-tune``, ``evaluation``, ``experiment``: jobs and roll-ups of
  them (:mod:`aifinops.analysis.job_costs`);
* ``gpu-hour``: GPU machine cost per GPU-hour billed and per GPU-hour held by workloads (the
  *effective* rate: idle and unknown hours are paid for by the hours that did work), per GPU
  model, instance type, machine or any allocation dimension (:func:`gpu_hour_costs`);
* ``team``, ``model``, ``feature`` or any other allocation dimension: its allocated cost with its
  jobs, GPU-hours, LLM tokens (``llm_usage``) and requests served (``business_metrics``)
  (:func:`dimension_units`);
* ``request``, ``1k-tokens``, ``1m-tokens``: LLM unit costs from ``llm_usage``, the report of
  :mod:`aifinops.analysis.llm_costs` with $ per 1K tokens added.

**Exact.** Money sums are exact decimals from the engine. Every ratio is worked out after the
query from those sums with :func:`exact_ratio` (a ``Fraction``; GPU-hours, which come from
telemetry shares, are binary floats converted exactly), rounded half-even to the places in
:data:`PLACES`. A zero or unknown denominator gives NULL, never 0 or infinity.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import TYPE_CHECKING

from aifinops.errors import QueryError
from aifinops.model.metrics import CostMetric
from aifinops.model.timewindow import Granularity, Window

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

    from aifinops.engine import Engine
    from aifinops.model.allocation import AllocationRules, Dimension

#: decimal places of each ratio (rounded half-even)
PLACES = {
    "cost_per_gpu_hour": 6,
    "cost_per_billed_gpu_hour": 6,
    "effective_cost_per_gpu_hour": 6,
    "held_share": 4,
    "cost_per_job": 6,
    "cost_per_1k_tokens": 9,
    "cost_per_1m_tokens": 6,
    "cost_per_1m_output_tokens": 6,
    "cost_per_request": 8,
    "cost_per_request_served": 8,
    "llm_cost_per_1m_tokens": 6,
}
PERIOD = "period"
CURRENCY = "BillingCurrency"
#: grouping keys of the GPU-hour view that come from the GPU machine, not from allocation
MACHINE_KEYS = ("gpu_model", "instance_type", "machine")
DEFAULT_GPU_BY = ("gpu_model", "instance_type")


class Unit(StrEnum):
    """What ``--per`` asks for; any other name is an allocation dimension."""

    JOB = "job"
    TRAINING_RUN = "training-run"
    FINE_TUNE = "fine-tune"
    EVALUATION = "evaluation"
    EXPERIMENT = "experiment"
    GPU_HOUR = "gpu-hour"
    REQUEST = "request"
    TOKENS_1K = "1k-tokens"
    TOKENS_1M = "1m-tokens"

    @classmethod
    def parse(cls, text: str) -> Unit | str:
        """A unit, or the name of an allocation dimension (``team``, ``model``, ``feature``)."""
        cleaned = text.strip().lower().replace("_", "-")
        aliases = {
            "jobs": "job",
            "run": "training-run",
            "training": "training-run",
            "finetune": "fine-tune",
            "eval": "evaluation",
            "gpu-hours": "gpu-hour",
            "requests": "request",
            "1k": "1k-tokens",
            "1m": "1m-tokens",
            "tokens": "1m-tokens",
        }
        cleaned = aliases.get(cleaned, cleaned)
        try:
            return cls(cleaned)
        except ValueError:
            return text.strip()

    @property
    def of_jobs(self) -> bool:
        return self in (
            Unit.JOB,
            Unit.TRAINING_RUN,
            Unit.FINE_TUNE,
            Unit.EVALUATION,
            Unit.EXPERIMENT,
        )

    @property
    def of_tokens(self) -> bool:
        return self in (Unit.REQUEST, Unit.TOKENS_1K, Unit.TOKENS_1M)


@dataclass(frozen=True)
class UnitQuery:
    """``per`` unit, ``by`` grouping (meaning depends on the unit), metric, window, granularity
    and, for job units, the job kinds to keep (default: the unit's)."""

    per: Unit | str = Unit.JOB
    by: tuple[str, ...] = ()
    metric: CostMetric = CostMetric.EFFECTIVE
    window: Window = field(default_factory=Window)
    granularity: Granularity | None = None
    kinds: tuple[str, ...] = ()


def unit_costs(engine: Engine, rules: AllocationRules, query: UnitQuery) -> pa.Table:
    """The table for ``query.per`` (see the module)."""
    per = query.per
    if isinstance(per, Unit) and per.of_jobs:
        from aifinops.analysis.job_costs import job_report

        return job_report(engine, rules, query)
    if per is Unit.GPU_HOUR:
        return gpu_hour_costs(engine, query)
    if isinstance(per, Unit) and per.of_tokens:
        return token_costs(engine, query)
    return dimension_units(engine, rules, str(per), query)


# -- exact ratios ----------------------------------------------------------------------------


def exact_ratio(
    amount: Decimal | int | float | None,
    count: Decimal | int | float | None,
    places: int,
    per: int = 1,
) -> Decimal | None:
    """``amount x per / count`` rounded half-even to ``places``; None when either is unknown or
    ``count`` is 0. Floats are taken at their exact binary value."""
    if amount is None or count is None or count == 0:
        return None
    units = round(Fraction(amount) * per * 10**places / Fraction(count))
    return Decimal(f"{units}E-{places}")  # from text: exact, whatever the context


def add_ratios(table: pa.Table, ratios: dict[str, list[Decimal | None]]) -> pa.Table:
    """``table`` with each ratio column appended as ``decimal(38, PLACES[name])``."""
    import pyarrow as pa

    for name, values in ratios.items():
        table = table.append_column(name, pa.array(values, pa.decimal128(38, PLACES[name])))
    return table


#: columns a terminal table leaves out (CSV, JSON and Parquet have them all)
TERMINAL_OMITS = (
    "name",
    "end_time",
    "host",
    "gpu_count",
    "source",
    "environment",
    "cost_centre",
    "key_from",
    "first_start",
    "last_end",
    "duration_hours",
    "machines",
    "unknown_gpu_hours",
    "job_cost",
    "llm_requests",
    "llm_cost",
    "uncached_input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "list_cost",
    "vendor_cost",
    "input_tokens",
    "input_price_per_1m",
    "output_price_per_1m",
    "basis",
)
_ALWAYS = ("cost", "spend", "revenue")


def for_terminal(
    table: pa.Table, places: Mapping[str, int] | None = None, keep: tuple[str, ...] = ()
) -> pa.Table:
    """Fewer columns (:data:`TERMINAL_OMITS` but those in ``keep``, and columns with no value
    but money); ratios (:data:`PLACES` and ``places``) as text with all their places (a
    terminal table shows decimals in cents); GPU-hours rounded to 0.01."""
    import pyarrow as pa

    ratios = {*PLACES, *(places or {})}
    empty = [c for c in table.column_names if table.column(c).null_count == table.num_rows > 0]
    omit = [c for c in (*TERMINAL_OMITS, *empty) if c in table.column_names and c not in keep]
    table = table.drop_columns([c for c in dict.fromkeys(omit) if c not in _ALWAYS])
    for at, name in enumerate(table.column_names):
        values = table.column(name).to_pylist()
        if name in ratios:
            text = [None if v is None else format(v, "f") for v in values]
            table = table.set_column(at, name, pa.array(text, pa.string()))
        elif name.endswith("gpu_hours") and pa.types.is_floating(table.schema.field(name).type):
            table = table.set_column(
                at, name, pa.array([None if v is None else round(v, 2) for v in values])
            )
    return table


# -- labels on usage tables, read like allocation dimensions ----------------------------------


def label_keys(engine: Engine, table: str) -> list[str]:
    """The label keys present in ``table``'s ``labels_map``."""
    t = engine.table(table)
    keys = t.select(key=t.labels_map.keys().unnest()).distinct()
    return sorted(engine.execute(keys).column("key").to_pylist())


def label_dimension(
    usage: ir.Table, present: list[str], dim: Dimension, *, column: str | None = None
) -> ir.StringValue:
    """A dimension's value on usage rows from their labels: the dimension's tag aliases
    matched case-insensitively against the keys ``present`` (then ``column``), trimmed and
    lower-cased unless the dimension keeps case — the same values ``allocated_costs`` holds."""
    import ibis

    keys: list[str] = []
    for alias in dim.tags:
        same = [k for k in present if k.lower() == alias.lower()]
        keys += sorted(same, key=lambda k: (k != alias, k))
    values: list[ir.Value] = [usage.labels_map.get(k).strip().nullif("") for k in keys]
    if column is not None:
        values.append(usage[column].strip().nullif(""))
    value: ir.StringValue = ibis.coalesce(*values) if values else ibis.null("string")
    return value if dim.keep_case else value.lower()


def dimension_of(rules: AllocationRules, name: str, allocated: ir.Table) -> Dimension:
    """The allocation dimension ``name``, which ``allocated_costs`` must hold."""
    dims = rules.all_dimensions()
    if name in dims and name in allocated.columns:
        return dims[name]
    known = [d for d in dims if d in allocated.columns]
    close = difflib.get_close_matches(name, [*known, *(u.value for u in Unit)], n=3)
    if name in dims:
        hint = "run `aifinops allocate` to add it to allocated_costs"
    else:
        hint = f"did you mean {', '.join(close)}? " if close else ""
        hint += (
            f"use a unit ({', '.join(u.value for u in Unit)}) or a dimension "
            f"({', '.join(known)}), or add one: [allocation.dimensions.{name}] "
            f'tags = ["{name}"] in aifinops.toml, then `aifinops allocate`'
        )
    raise QueryError(f"{name!r} is neither a unit nor an allocation dimension", hint=hint)


def allocated(engine: Engine, window: Window) -> ir.Table:
    from aifinops.analysis.allocation import TABLE
    from aifinops.analysis.common import within_dates

    return within_dates(engine.table(TABLE), "charge_date", window)


def _keys(t: ir.Table, engine: Engine, by: list[str], query: UnitQuery) -> dict[str, ir.Value]:
    keys: dict[str, ir.Value] = {}
    if query.granularity is not None:
        keys[PERIOD] = engine.bucket(t.charge_date, query.granularity).name(PERIOD)
    keys |= {b: t[b] for b in by}
    keys[CURRENCY] = t.BillingCurrency
    return keys


# -- per GPU-hour ----------------------------------------------------------------------------


def gpu_machine_parts(engine: Engine, window: Window) -> ir.Table:
    """The ``allocated_costs`` rows of GPU machines with ``gpu_model``, ``instance_type``,
    ``machine`` and ``part_gpu_hours``: the GPU-hours each part stands for (held, idle or
    unknown; a row allocation left whole stands for all its billed GPU-hours; the split rows
    of shared idle cost for their share of the idle GPU-hours they replaced)."""
    import ibis

    from aifinops.analysis.allocation import IDLE_SHARED
    from aifinops.analysis.gpu import GpuEfficiencyQuery, gpu_rows
    from aifinops.analysis.gpu_workloads import ROW

    q = GpuEfficiencyQuery(by=("instance_type", "gpu_model"), window=Window())
    gpus = gpu_rows(engine, q).select(
        *ROW, "instance_type", "gpu_model", _machine=ibis._.machine, _billed=ibis._.gpu_hours
    )
    a = allocated(engine, window)
    rows = a.join(gpus, list(ROW))
    rows = rows.mutate(
        machine=rows.machine.fill_null(rows._machine),
        part_gpu_hours=rows.gpu_hours.fill_null(rows._billed),
    ).drop("_machine", "_billed")
    kinds = gpus.group_by(machine=gpus._machine).aggregate(
        instance_type=gpus.instance_type.max(), gpu_model=gpus.gpu_model.max()
    )
    idle = a.filter(a.allocation == IDLE_SHARED)
    idle = idle.join(kinds, "machine").mutate(part_gpu_hours=idle.gpu_hours.fill_null(0.0))
    return rows.union(idle.select(rows.columns))


def gpu_hour_costs(engine: Engine, query: UnitQuery) -> pa.Table:
    """Per group: GPU machine cost, GPU-hours billed, held by workloads, idle, unknown; cost per
    billed GPU-hour and per GPU-hour held (effective: idle included)."""
    from aifinops.analysis.allocation import GPU_WORKLOAD, IDLE_LINE, IDLE_SHARED

    parts = gpu_machine_parts(engine, query.window)
    by = list(query.by or DEFAULT_GPU_BY)
    for name in by:
        if name not in parts.columns or name in ("job", "allocation"):
            _unknown_key(name, [*MACHINE_KEYS, *_dimension_columns(parts)])
    keys = _keys(parts, engine, by, query)
    kind = parts.allocation
    hours = parts.part_gpu_hours
    g = parts.group_by(list(keys.values())).aggregate(
        cost=parts[query.metric.column].sum(),
        billed_gpu_hours=hours.sum(),
        held_gpu_hours=hours.sum(where=kind == GPU_WORKLOAD).fill_null(0.0),
        idle_gpu_hours=hours.sum(where=kind.isin([IDLE_LINE, IDLE_SHARED])).fill_null(0.0),
        machines=parts.machine.nunique(),
    )
    g = g.mutate(unknown_gpu_hours=g.billed_gpu_hours - g.held_gpu_hours - g.idle_gpu_hours)
    g = g.order_by([*([g[PERIOD]] if PERIOD in keys else []), g.cost.desc(), *by])
    table = engine.execute(g)
    rows = table.to_pylist()
    return add_ratios(
        table,
        {
            "cost_per_billed_gpu_hour": [
                exact_ratio(r["cost"], r["billed_gpu_hours"], 6) for r in rows
            ],
            "effective_cost_per_gpu_hour": [
                exact_ratio(r["cost"], r["held_gpu_hours"], 6) for r in rows
            ],
            "held_share": [
                exact_ratio(r["held_gpu_hours"], r["billed_gpu_hours"], 4) for r in rows
            ],
        },
    )


def _dimension_columns(t: ir.Table) -> list[str]:
    from aifinops.analysis.allocation import CARRIED, METRICS

    fixed = {*CARRIED, *METRICS, "x_IngestFileId", "x_SourceRecord", "charge_date", "period"}
    fixed |= {"provider", "allocation", "shared_pool", "job", "machine", "gpu_hours"}
    fixed |= {*MACHINE_KEYS, "part_gpu_hours"}
    return [c for c in t.columns if c not in fixed]


def _unknown_key(name: str, known: list[str]) -> None:
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"did you mean {', '.join(close)}?" if close else f"use {', '.join(known)}"
    raise QueryError(f"cannot group GPU-hours by {name!r}", hint=hint)


# -- per team / model / feature (any allocation dimension) ------------------------------------


def dimension_units(
    engine: Engine, rules: AllocationRules, name: str, query: UnitQuery
) -> pa.Table:
    """Per value of dimension ``name``: allocated cost; its jobs' cost, count and GPU-hours held;
    LLM requests, tokens and cost in ``llm_usage`` labelled with the same value; requests
    served (``business_metrics`` metric ``requests``) labelled with it."""
    from aifinops.analysis.allocation import GPU_WORKLOAD

    a = allocated(engine, query.window)
    dim = dimension_of(rules, name, a)
    keys = _keys(a, engine, [name], query)
    m = a[query.metric.column]
    g = a.group_by(list(keys.values())).aggregate(
        cost=m.sum(),
        job_cost=m.sum(where=a.job.notnull()),
        jobs=a.job.nunique(),
        gpu_hours=a.gpu_hours.sum(where=a.allocation == GPU_WORKLOAD),
    )
    llm = _llm_by_value(engine, dim, name, query)
    served = _served_by_value(engine, dim, query)
    timed = PERIOD in keys
    on = [g[name] == llm._value, g[CURRENCY] == llm._currency]
    on += [g[PERIOD] == llm._period] if timed else []
    j = g.left_join(llm, on).select(*g.columns, "llm_requests", "llm_tokens", "llm_cost")
    on = [j[name] == served._value] + ([j[PERIOD] == served._period] if timed else [])
    j = j.left_join(served, on).select(*j.columns, "requests_served")
    j = j.order_by([*([j[PERIOD]] if timed else []), j.cost.desc(), j[name]])
    table = engine.execute(j)
    rows = table.to_pylist()
    return add_ratios(
        table,
        {
            "cost_per_job": [exact_ratio(r["job_cost"], r["jobs"], 6) for r in rows],
            "cost_per_gpu_hour": [exact_ratio(r["job_cost"], r["gpu_hours"], 6) for r in rows],
            "llm_cost_per_1m_tokens": [
                exact_ratio(r["llm_cost"], r["llm_tokens"], 6, 1_000_000) for r in rows
            ],
            "cost_per_request_served": [
                exact_ratio(r["cost"], r["requests_served"], 8) for r in rows
            ],
        },
    )


def _llm_by_value(engine: Engine, dim: Dimension, name: str, query: UnitQuery) -> ir.Table:
    from aifinops.analysis.llm_costs import _usage_rows, total_tokens

    u = _usage_rows(engine, query.window)
    value = label_dimension(
        u, label_keys(engine, "llm_usage"), dim, column="model" if name == "model" else None
    )
    keys: dict[str, ir.Value] = {}
    if query.granularity is not None:
        keys["_period"] = engine.bucket(u.start_time.date(), query.granularity)
    keys |= {"_value": value, "_currency": u.currency}
    k = u.mutate(**keys, _tokens=total_tokens(u))
    return k.group_by(list(keys)).aggregate(
        llm_requests=k.requests.sum(), llm_tokens=k._tokens.sum(), llm_cost=k.cost.sum()
    )


def _served_by_value(engine: Engine, dim: Dimension, query: UnitQuery) -> ir.Table:
    from aifinops.analysis.common import within_dates

    b = within_dates(engine.table("business_metrics"), "period_start", query.window)
    b = b.filter(b.metric.lower() == "requests")
    keys: dict[str, ir.Value] = {}
    if query.granularity is not None:
        keys["_period"] = engine.bucket(b.period_start, query.granularity)
    keys["_value"] = label_dimension(b, label_keys(engine, "business_metrics"), dim)
    k = b.mutate(**keys)
    return k.group_by(list(keys)).aggregate(requests_served=k.value.sum())


# -- per request / per 1K and 1M tokens (llm_usage) -------------------------------------------


def token_costs(engine: Engine, query: UnitQuery) -> pa.Table:
    """The LLM unit cost report (:func:`aifinops.analysis.llm_costs.llm_costs`) with
    ``cost_per_1k_tokens`` beside ``cost_per_1m_tokens``."""
    from aifinops.analysis.llm_costs import DEFAULT_BY, LlmCostQuery, llm_costs

    table = llm_costs(
        engine,
        LlmCostQuery(by=query.by or DEFAULT_BY, window=query.window, granularity=query.granularity),
    )
    per_1k = [
        exact_ratio(cost, tokens, 9, 1000)
        for cost, tokens in zip(
            table.column("cost").to_pylist(), table.column("total_tokens").to_pylist(), strict=True
        )
    ]
    import pyarrow as pa

    at = table.column_names.index("cost_per_1m_tokens")
    return table.add_column(at, "cost_per_1k_tokens", pa.array(per_1k, pa.decimal128(38, 9)))
