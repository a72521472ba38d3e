"""Allocation: every cost row with its dimensions, GPU cost charged to workloads, shared costs
split. ``allocate`` materialises the result as the ``allocated_costs`` table.

The rules are :class:`aifinops.model.allocation.AllocationRules` (docs/allocation.md). The
result has one or more rows per cost row and one row per (shared pool, month, currency, value):

* ``direct``: a cost row with its dimension values (tags, then rules, then the default);
* ``gpu-workload``: the part of a GPU machine's cost row for the GPU-hours a job or pod held
  (:mod:`aifinops.analysis.gpu_workloads`); its dimensions come from the workload's labels,
  else from the cost row; ``job`` names the workload;
* ``idle-gpu``: the part for GPU-hours the telemetry shows idle, with the machine's dimensions
  (``idle_gpu = "own-line"``); with ``idle_gpu = "shared"`` it is split over the workloads of
  the same machine and month by GPU-hours held (``gpu-workload-idle``), and stays its own line
  where the machine ran no workload that month;
* ``shared``: a shared pool's month split over the values of its dimension (the other dimensions
  say ``(shared)``); ``shared-unsplit`` when nothing in that month gives a weight (the pool stays
  ``(unallocated)``, and the summary says so).

**Money.** Every part of an amount is the amount x its share, rounded half away from zero to the
cent, except the part with the largest share (first by order on ties), which takes the amount
minus the other parts. So parts sum to the amount exactly, in all four cost metrics, and the
invariant holds: per month (of ``x_ChargeDate``), currency and metric, ``allocated_costs`` sums
to ``costs`` exactly. Shares (from telemetry and usage) are fractions kept to 9 decimal places;
money is never a float.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aifinops.analysis.gpu_workloads import (
    IDLE,
    ROW,
    WORKLOAD,
    busy_hours,
    device_hours,
    holdings,
    machine_rows,
    row_hours,
    row_parts,
    seen_gpus,
)
from aifinops.analysis.llm_costs import total_tokens
from aifinops.errors import QueryError
from aifinops.model.allocation import (
    IDLE_GPU,
    MATCH_COLUMNS,
    SHARED,
    UNALLOCATED,
    AllocationRules,
    Dimension,
    IdleGpu,
    Match,
    SharedCost,
    SplitMethod,
    glob_regex,
)
from aifinops.model.metrics import CostMetric
from aifinops.model.timewindow import Granularity, Window

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

    from aifinops.engine import Engine

TABLE = "allocated_costs"
METRICS = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")
#: Cost columns carried into ``allocated_costs`` for drill-down.
CARRIED = (
    "BillingCurrency",
    "SubAccountId",
    "SubAccountName",
    "ServiceCategory",
    "ServiceName",
    "ChargeCategory",
    "ChargeFrequency",
    "RegionId",
    "ResourceId",
    "ResourceName",
)
#: ``allocation`` kinds
DIRECT, GPU_WORKLOAD, IDLE_LINE, IDLE_SHARED = (
    "direct",
    "gpu-workload",
    "idle-gpu",
    "gpu-workload-idle",
)
SHARED_SPLIT, SHARED_UNSPLIT = "shared", "shared-unsplit"
_PRECISE = "decimal(38, 9)"
_MONEY = "decimal(38, 18)"


@dataclass
class Plan:
    """The rules resolved against one workspace: tag key spellings found in each table."""

    rules: AllocationRules
    basis: CostMetric
    keys: dict[str, list[str]] = field(default_factory=dict)  # table -> tag/label keys present

    @property
    def dimensions(self) -> dict[str, Dimension]:
        return self.rules.all_dimensions()

    def spellings(self, table: str, aliases: list[str]) -> list[str]:
        """The keys present in ``table`` for ``aliases``: alias order, exact spelling first."""
        present = self.keys.get(table, [])
        out: list[str] = []
        for alias in aliases:
            same = [k for k in present if k.lower() == alias.lower()]
            out += sorted(same, key=lambda k: (k != alias, k))
        return list(dict.fromkeys(out))


def make_plan(engine: Engine, rules: AllocationRules, basis: CostMetric) -> Plan:
    """Find which tag keys the costs and which label keys the usage tables hold (one map per
    distinct ``Tags`` / ``labels`` text, not per row: the map is derived from the text)."""
    plan = Plan(rules, basis)
    for table, text, column in (
        ("costs", "Tags", "x_TagsMap"),
        ("jobs", "labels", "labels_map"),
        ("gpu_samples", "labels", "labels_map"),
        ("llm_usage", "labels", "labels_map"),
    ):
        t = engine.table(table)
        maps = t.group_by(text).aggregate(_map=t[column].first())
        keys = maps.select(key=maps._map.keys().unnest()).distinct()
        plan.keys[table] = sorted(engine.execute(keys).column("key").to_pylist())
    plan.keys["workloads"] = sorted({*plan.keys["jobs"], *plan.keys["gpu_samples"]})
    return plan


# -- dimensions ------------------------------------------------------------------------------


def _label(plan: Plan, table: str, labels: ir.Value, aliases: list[str]) -> ir.StringValue:
    import ibis

    values = [labels.get(k).strip().nullif("") for k in plan.spellings(table, aliases)]
    if not values:
        return ibis.null("string")
    return ibis.coalesce(*values) if len(values) > 1 else values[0]


def _matches(costs: ir.Table, match: Match, plan: Plan) -> ir.BooleanValue:
    import ibis

    conditions: list[ir.BooleanValue] = []
    for name, columns in MATCH_COLUMNS.items():
        patterns: list[str] = getattr(match, name)
        if patterns:
            regex = "|".join(f"({glob_regex(p)})" for p in patterns)
            hits = [costs[c].lower().re_search(regex).fill_null(False) for c in columns]
            conditions.append(ibis.or_(*hits) if len(hits) > 1 else hits[0])
    for key, pattern in match.tags.items():
        value = _label(plan, "costs", costs.x_TagsMap, [key])
        conditions.append(value.lower().re_search(glob_regex(pattern)).fill_null(False))
    return ibis.and_(*conditions)


def _normalised(value: ir.StringValue, dim: Dimension) -> ir.StringValue:
    value = value.strip().nullif("")
    return value if dim.keep_case else value.lower()


def dimension_value(
    costs: ir.Table, dim: Dimension, plan: Plan, tagged: ir.StringValue
) -> ir.StringValue:
    """A dimension's value on each cost row: ``tagged`` (the value its tags give, looked up by
    :func:`labelled_costs`), the rules (or the other way round), the default."""
    import ibis

    ruled: ir.StringValue = ibis.null("string")
    if dim.rules:
        case = ibis.cases(
            *[
                (_matches(costs, r, plan), _normalised(ibis.literal(r.value), dim))
                for r in dim.rules
            ],
            else_=ibis.null("string"),
        )
        ruled = case
    first, second = (ruled, tagged) if dim.rules_first else (tagged, ruled)
    return ibis.coalesce(first, second, ibis.literal(dim.default))


def _pool(costs: ir.Table, pools: list[SharedCost], plan: Plan) -> ir.StringValue:
    import ibis

    if not pools:
        return ibis.null("string")
    return ibis.cases(
        *[(_matches(costs, p.match, plan), p.name) for p in pools], else_=ibis.null("string")
    )


def month(day: ir.DateValue) -> ir.DateValue:
    """The first day of ``day``'s month, as a date (engines truncate dates to timestamps)."""
    return day.truncate("M").cast("timestamp").cast("date")


def _rule_columns(plan: Plan) -> list[str]:
    """The cost columns the dimension rules and the shared pools read."""
    matches: list[Match] = [r for d in plan.dimensions.values() for r in d.rules]
    matches += [p.match for p in plan.rules.shared]
    used = {c for m in matches for f, cs in MATCH_COLUMNS.items() if getattr(m, f) for c in cs}
    return [c for cs in MATCH_COLUMNS.values() for c in cs if c in used]


def labelled_costs(engine: Engine, plan: Plan) -> ir.Table:
    """Every cost row with ``period`` (month), ``provider``, the dimensions and ``shared_pool``.

    Tags, rules and pools are evaluated once per distinct tuple of the columns they read
    (``Tags`` and the matched columns: thousands of tuples, not millions of rows: a MAP lookup
    costs ~0.3 s and a pattern ~0.1 s per million rows), then joined back on that tuple."""
    costs = engine.table("costs")
    keys = ["Tags", *_rule_columns(plan)]
    distinct = costs.group_by(keys).aggregate(x_TagsMap=costs.x_TagsMap.first())
    dims = {
        name: dimension_value(
            distinct,
            dim,
            plan,
            _normalised(_label(plan, "costs", distinct.x_TagsMap, dim.tags), dim),
        )
        for name, dim in plan.dimensions.items()
    }
    found = distinct.select(
        *[distinct[k].name(f"_key{i}") for i, k in enumerate(keys)],
        shared_pool=_pool(distinct, plan.rules.shared, plan),
        **dims,
    )
    # NULL keys match NULL keys (IS NOT DISTINCT FROM): every row finds its tuple
    on = [costs[k].identical_to(found[f"_key{i}"]) for i, k in enumerate(keys)]
    costs = costs.join(found, on)
    return costs.select(
        *ROW,
        *CARRIED,
        *METRICS,
        charge_date=costs.x_ChargeDate,
        period=month(costs.x_ChargeDate),
        provider=costs.ServiceProviderName.fill_null(costs.ProviderName),
        shared_pool=costs.shared_pool,
        **{name: costs[name] for name in plan.dimensions},
    )


# -- splitting money -------------------------------------------------------------------------


def split(parts: ir.Table, group: list[str], share: ir.FloatingValue, order: list[str]) -> ir.Table:
    """Each part of a group gets ``METRICS x share`` to the cent; the largest share takes what is
    left so each group's parts sum to its amounts exactly."""
    import ibis

    shared = parts.mutate(_share=share.cast(_PRECISE))
    w = ibis.window(group_by=group, order_by=[shared._share.desc(), *[shared[o] for o in order]])
    ranked = shared.mutate(_rank=ibis.row_number().over(w))
    # the largest part's cut is never used: only the others are multiplied (decimal products
    # are 128-bit arithmetic, the costliest step; most groups have one or two parts)
    first = ranked._rank == 0
    cut = {m: (ranked[m].cast(_PRECISE) * ranked._share).round(2).cast(_MONEY) for m in METRICS}
    ranked = ranked.mutate(**{f"_{m}": ibis.ifelse(first, 0, v) for m, v in cut.items()})
    others = ibis.window(group_by=group)
    out = {}
    for m in METRICS:
        given = ranked[f"_{m}"].sum().over(others)
        out[m] = ibis.ifelse(first, ranked[m] - given, ranked[f"_{m}"])
    return ranked.mutate(**out).drop("_share", "_rank", *[f"_{m}" for m in METRICS])


# -- the allocated rows ------------------------------------------------------------------------


def _columns(plan: Plan) -> list[str]:
    return [
        *ROW,
        "charge_date",
        "period",
        "provider",
        *CARRIED,
        "allocation",
        "shared_pool",
        "job",
        "machine",
        "gpu_hours",
        *plan.dimensions,
        *METRICS,
    ]


def _shape(table: ir.Table, plan: Plan, **values: ir.Value) -> ir.Table:
    """``table`` with the columns of ``allocated_costs`` (missing ones NULL, typed)."""
    import ibis

    types = {
        "x_IngestFileId": "int32",
        "x_SourceRecord": "int64",
        "charge_date": "date",
        "period": "date",
        "gpu_hours": "float64",
        **dict.fromkeys(METRICS, _MONEY),
    }
    out: dict[str, ir.Value] = {}
    for name in _columns(plan):
        if name in values:
            value = values[name]
        elif name in table.columns:
            value = table[name]
        else:
            value = ibis.null(types.get(name, "string"))
        out[name] = value.cast(types.get(name, "string"))
    return table.select(**out)


def priced_parts(engine: Engine, parts: ir.Table) -> ir.Table:
    """GPU row parts (:func:`row_parts`) with their money: each metric of the cost row x the
    part's fraction, to the cent, the largest part taking the rest (``p_<metric>``)."""
    costs = engine.table("costs").select(*ROW, *METRICS)
    rows = parts.join(costs, list(ROW))
    rows = split(rows, list(ROW), rows.fraction, ["part", "workload"])
    return rows.rename({f"p_{m}": m for m in METRICS})


def _with_parts(plan: Plan, costs: ir.Table, priced: ir.Table) -> ir.Table:
    """Every unpooled cost row, GPU machine rows replaced by their priced parts (workloads,
    idle, the rest): one left join, so the labelled costs are read once."""
    import ibis

    rows = costs.left_join(priced.drop("fraction"), list(ROW))
    cut = rows.part.notnull()
    # the "rest" part (no telemetry, no workload) keeps the row's own dimensions, as DIRECT
    kind = ibis.cases(
        (rows.part == WORKLOAD, GPU_WORKLOAD), (rows.part == IDLE, IDLE_LINE), else_=DIRECT
    )
    dims: dict[str, ir.Value] = {}
    for name, dim in plan.dimensions.items():
        own = _normalised(_label(plan, "workloads", rows.labels_map, dim.tags), dim)
        dims[name] = ibis.ifelse(rows.part == WORKLOAD, own.fill_null(rows[name]), rows[name])
    money = {m: ibis.ifelse(cut, rows[f"p_{m}"], rows[m]) for m in METRICS}
    return _shape(
        rows,
        plan,
        allocation=kind,
        job=rows.workload,
        gpu_hours=rows.gpu_hours,
        **dims,
        **money,
    )


def _share_idle(plan: Plan, gpu: ir.Table) -> ir.Table:
    """Idle parts split over the workloads of the same machine and month (where there are any)."""
    import ibis

    group = ["machine", "period", "BillingCurrency"]
    idle = gpu.filter(gpu.allocation == IDLE_LINE)
    pools = idle.group_by(group).aggregate(
        _idle_hours=idle.gpu_hours.sum(), **{m: idle[m].sum() for m in METRICS}
    )
    busy = gpu.filter(gpu.allocation == GPU_WORKLOAD)
    receivers = busy.group_by([*group, "job", *plan.dimensions]).aggregate(
        _held=busy.gpu_hours.sum()
    )
    j = pools.join(receivers, group)
    j = j.mutate(_part=j._held / j._held.sum().over(ibis.window(group_by=group)))
    shared = split(j, group, j._part, ["job"])
    shared = _shape(
        shared,
        plan,
        allocation=ibis.literal(IDLE_SHARED),
        charge_date=shared.period,
        gpu_hours=shared._idle_hours * shared._part,  # the idle GPU-hours it now pays for
    )
    kept = idle.anti_join(receivers.select(*group).distinct(), group)
    return gpu.filter(gpu.allocation != IDLE_LINE).union(kept).union(shared)


def _weights(engine: Engine, plan: Plan, pool: SharedCost, allocated: ir.Table) -> ir.Table:
    """(period, value, weight) — plus BillingCurrency for the cost-based methods."""
    import ibis

    dim = plan.dimensions[pool.dimension]
    method = pool.method
    markers = [UNALLOCATED, SHARED, IDLE_GPU, dim.default]
    if method is SplitMethod.GPU_HOURS:
        a = allocated.filter(allocated.allocation == GPU_WORKLOAD)
        w = a.group_by(["period", a[pool.dimension].name("value")]).aggregate(
            weight=a.gpu_hours.sum()
        )
    elif method in (SplitMethod.TOKENS, SplitMethod.JOBS):
        w = _usage_weights(engine, plan, dim, method)
    else:
        a = allocated.filter(allocated.allocation != IDLE_LINE)
        keys = ["period", "BillingCurrency", a[pool.dimension].name("value")]
        basis = a[plan.basis.column].cast("float64")
        w = a.group_by(keys).aggregate(weight=basis.sum())
        if method is SplitMethod.EVEN:
            w = w.mutate(weight=ibis.literal(1.0))
        elif method is SplitMethod.WEIGHTS:
            import pyarrow as pa

            fixed = ibis.memtable(
                pa.table(
                    {
                        "value": [_norm_text(k, dim) for k in pool.weights],
                        "_fixed": [float(v) for v in pool.weights.values()],
                    }
                )
            )
            periods = w.select("period", "BillingCurrency").distinct()
            w = periods.cross_join(fixed).select(
                "period", "BillingCurrency", "value", weight=fixed._fixed
            )
    w = w.filter(w.weight > 0, ~w.value.isin(markers))
    if pool.targets:
        w = w.filter(w.value.isin([_norm_text(t, dim) for t in pool.targets]))
    return w


def _norm_text(value: str, dim: Dimension) -> str:
    return value.strip() if dim.keep_case else value.strip().lower()


def _usage_weights(engine: Engine, plan: Plan, dim: Dimension, method: SplitMethod) -> ir.Table:
    if method is SplitMethod.TOKENS:
        u = engine.table("llm_usage")
        u = u.filter(u.record_type == "usage")
        amount = total_tokens(u).cast("float64")
        value = _normalised(_label(plan, "llm_usage", u.labels_map, dim.tags), dim)
        u = u.mutate(period=month(u.start_time.date()), value=value, _amount=amount)
    else:
        u = engine.table("jobs")
        value = _normalised(_label(plan, "jobs", u.labels_map, dim.tags), dim)
        u = u.mutate(period=month(u.start_time.date()), value=value, _amount=1.0)
    u = u.filter(u.value.notnull())
    return u.group_by(["period", "value"]).aggregate(weight=u._amount.sum())


def _split_pool(
    engine: Engine, plan: Plan, pool: SharedCost, pooled: ir.Table, allocated: ir.Table
) -> ir.Table:
    import ibis

    group = ["period", "BillingCurrency"]
    mine = pooled.filter(pooled.shared_pool == pool.name)
    totals = mine.group_by(group).aggregate(**{m: mine[m].sum() for m in METRICS})
    weights = _weights(engine, plan, pool, allocated)
    on = [k for k in group if k in weights.columns]
    j = totals.join(weights, on)
    share = j.weight / j.weight.sum().over(ibis.window(group_by=group))
    parts = split(j, group, share, ["value"])
    others = {d: ibis.literal(SHARED) for d in plan.dimensions if d != pool.dimension}
    split_rows = _shape(
        parts,
        plan,
        allocation=ibis.literal(SHARED_SPLIT),
        shared_pool=ibis.literal(pool.name),
        charge_date=parts.period,
        **{pool.dimension: parts.value},
        **others,
    )
    unsplit = totals.anti_join(weights.select(*on).distinct(), on)
    left = _shape(
        unsplit,
        plan,
        allocation=ibis.literal(SHARED_UNSPLIT),
        shared_pool=ibis.literal(pool.name),
        charge_date=unsplit.period,
        **{pool.dimension: ibis.literal(UNALLOCATED)},
        **others,
    )
    return split_rows.union(left)


def base_rows(plan: Plan, costs: ir.Table, priced: ir.Table | None) -> ir.Table:
    """Direct rows and GPU parts (``priced``: :func:`priced_parts`) of the unpooled ``costs``
    (:func:`labelled_costs`)."""
    import ibis

    own = costs.filter(costs.shared_pool.isnull())
    if priced is None:
        return _shape(own, plan, allocation=ibis.literal(DIRECT))
    return _with_parts(plan, own, priced)


def pool_rows(engine: Engine, plan: Plan, costs: ir.Table, allocated: ir.Table) -> list[ir.Table]:
    """Per shared pool, its split rows; weights come from ``allocated`` (the base rows)."""
    pooled = costs.filter(costs.shared_pool.notnull())
    base = allocated.filter(~allocated.allocation.isin([SHARED_SPLIT, SHARED_UNSPLIT]))
    return [_split_pool(engine, plan, pool, pooled, base) for pool in plan.rules.shared]


# -- materialising ---------------------------------------------------------------------------

#: intermediate tables of one run (temporary: gone with the connection)
GPU_ROWS, DEVICES, PARTS = "_allocation_gpu_rows", "_allocation_devices", "_allocation_parts"
PRICED, STAGE, POOLED = "_allocation_priced", "_allocation_stage", "_allocation_pooled"
HELD, SEEN, HOURS = "_allocation_held", "_allocation_seen", "_allocation_hours"


@dataclass(frozen=True)
class AllocationSummary:
    """What ``allocate`` made: rows and cost per allocation kind, the pools that could not be
    split in some month, and the check that every month and currency adds up."""

    by_kind: pa.Table
    unsplit: list[str]
    mismatches: pa.Table
    seconds: float


def materialise(engine: Engine, plan: Plan) -> None:
    """(Re)build ``allocated_costs``: GPU machine rows, the samples per device-hour, the
    holdings, the GPUs seen, the busy hours of each row and the GPU parts into temporary tables
    (each is read more than once); then the direct rows and GPU parts; then each shared pool's
    split rows."""
    parts = None
    if plan.rules.gpu_workloads:
        engine.create_table(GPU_ROWS, machine_rows(engine), temp=True)
        engine.create_table(DEVICES, device_hours(engine), temp=True)
        rows, devices = engine.table(GPU_ROWS), engine.table(DEVICES)
        engine.create_table(HELD, holdings(engine, devices), temp=True)
        engine.create_table(SEEN, seen_gpus(devices), temp=True)
        held, seen = engine.table(HELD), engine.table(SEEN)
        engine.create_table(HOURS, row_hours(engine, rows, busy_hours(held, seen)), temp=True)
        engine.create_table(PARTS, row_parts(rows, held, seen, engine.table(HOURS)), temp=True)
        engine.create_table(PRICED, priced_parts(engine, engine.table(PARTS)), temp=True)
        parts = engine.table(PRICED)
    costs = labelled_costs(engine, plan)
    base = base_rows(plan, costs, parts)
    if parts is not None and plan.rules.idle_gpu is IdleGpu.SHARED:
        engine.create_table(STAGE, base, temp=True)  # read twice: idle lines and the rest
        base = _share_idle(plan, engine.table(STAGE))
    engine.create_table(TABLE, base)
    allocated = engine.table(TABLE)
    if plan.rules.shared:  # pooled rows are few: label them once more, keep them aside
        engine.create_table(POOLED, costs.filter(costs.shared_pool.notnull()), temp=True)
        for rows in pool_rows(engine, plan, engine.table(POOLED), allocated):
            engine.insert(TABLE, rows)
    for name in (GPU_ROWS, DEVICES, HELD, SEEN, HOURS, PARTS, PRICED, STAGE, POOLED):
        engine.drop_table(name)


def mismatches(engine: Engine) -> ir.Table:
    """Months, currencies and metrics where ``allocated_costs`` does not sum to ``costs``."""
    import ibis

    costs = engine.table("costs")
    allocated = engine.table(TABLE)
    keys = ["period", "BillingCurrency"]
    src = costs.group_by([month(costs.x_ChargeDate).name("period"), "BillingCurrency"]).aggregate(
        **{m: costs[m].sum() for m in METRICS}
    )
    out = allocated.group_by(keys).aggregate(**{f"a_{m}": allocated[m].sum() for m in METRICS})
    j = src.outer_join(
        out, [src.period == out.period, src.BillingCurrency.identical_to(out.BillingCurrency)]
    )
    differs = ibis.or_(
        *[~j[m].fill_null(0).identical_to(j[f"a_{m}"].fill_null(0)) for m in METRICS]
    )
    return j.filter(differs)


def summary(engine: Engine, plan: Plan, seconds: float) -> AllocationSummary:
    allocated = engine.table(TABLE)
    kinds = allocated.group_by(["allocation", "BillingCurrency"]).aggregate(
        rows=allocated.count(), **{plan.basis.column: allocated[plan.basis.column].sum()}
    )
    kinds = kinds.order_by(["BillingCurrency", kinds[plan.basis.column].desc()])
    unsplit = allocated.filter(allocated.allocation == SHARED_UNSPLIT)
    left = unsplit.select(
        text=unsplit.shared_pool + " in " + unsplit.period.cast("string").substr(0, 7)
    ).distinct()
    notes = sorted(engine.execute(left).column("text").to_pylist())
    return AllocationSummary(
        by_kind=engine.execute(kinds),
        unsplit=notes,
        mismatches=engine.execute(mismatches(engine)),
        seconds=seconds,
    )


# -- reading ---------------------------------------------------------------------------------

STATE_KEY = "allocation_state"
#: Bumped when ``allocated_costs`` gains or loses columns, so older tables read as stale.
LAYOUT = 2


def state(rules: AllocationRules, loads: int) -> str:
    """What an allocation was built from: the rules and the last ingest load."""
    import hashlib
    import json

    digest = hashlib.sha256(rules.model_dump_json().encode()).hexdigest()[:16]
    return json.dumps({"rules": digest, "loads": loads, "layout": LAYOUT}, sort_keys=True)


def report(
    engine: Engine,
    by: list[str],
    metric: CostMetric,
    window: Window,
    granularity: Granularity | None,
) -> ir.Table:
    """Allocated cost by any of its columns (dimensions, ``allocation``, ``job``, FOCUS
    columns carried), over a window, optionally per day/week/month bucket."""
    import ibis

    from aifinops.analysis.common import within_dates

    t = within_dates(engine.table(TABLE), "charge_date", window)
    keys: list[ir.Value] = [allocated_column(t, b) for b in by]
    if granularity is not None:
        keys.insert(0, engine.bucket(t.charge_date, granularity).name("period_start"))
    if "BillingCurrency" not in by:
        keys.append(t.BillingCurrency)
    g = t.group_by(keys).aggregate(
        **{metric.column: t[metric.column].sum()}, rows=t.count(), gpu_hours=t.gpu_hours.sum()
    )
    order = [g[k.get_name()] for k in keys[:1]] if granularity is not None else []
    return g.order_by([*order, ibis.desc(metric.column), *[g[b] for b in by]])


def allocated_column(t: ir.Table, name: str) -> ir.Value:
    import difflib

    if name in t.columns:
        return t[name]
    close = difflib.get_close_matches(name, t.columns, n=3)
    hint = f"did you mean {', '.join(close)}?" if close else f"use one of {', '.join(t.columns)}"
    raise QueryError(f"allocated_costs has no column {name!r}", hint=hint)
