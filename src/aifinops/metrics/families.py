"""The metric families: each a function from a :class:`Context` to families, read from the
workspace's analyses (allocation or the bill, GPU efficiency, budgets, LLM and self-hosted unit
costs, data freshness). Windows are as on ``as_of``: the as-of day itself is still running and is
not counted; month to date is ``[first of as_of's month, as_of)``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aifinops.analysis.common import NOT_SET, last_day
from aifinops.errors import QueryError
from aifinops.metrics.text import Family, Key, Sums, day_timestamp, money, ratio, top_n
from aifinops.model.timewindow import Window

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.config import MetricsSection
    from aifinops.engine import Engine
    from aifinops.model.metrics import CostMetric
    from aifinops.workspace import Workspace

ALLOCATED = "allocated_costs"
MILLION = Decimal(1_000_000)
Rows = dict[tuple[Key, str], Sums]


@dataclass(frozen=True)
class Context:
    ws: Workspace
    as_of: date
    settings: MetricsSection
    metric: CostMetric

    @property
    def engine(self) -> Engine:
        return self.ws.engine

    @property
    def month_to_date(self) -> Window | None:
        """``[first of the month, as_of)``; None on the first of a month (nothing counted yet)."""
        start = self.as_of.replace(day=1)
        return Window(start, self.as_of) if start < self.as_of else None


# -- costs per dimension ----------------------------------------------------------------------


def costs(ctx: Context) -> list[Family]:
    """Cost of the latest complete day and month to date per dimension value and currency."""
    daily = Family(
        "aifinops_daily_cost",
        "Cost of the latest complete day (the last day before as-of with charges; see "
        "aifinops_daily_cost_day_timestamp_seconds), in the currency label, rounded to the cent.",
    )
    mtd = Family(
        "aifinops_month_to_date_cost",
        "Cost from the first of the month to the day before as-of, in the currency label, "
        "rounded to the cent.",
    )
    day_ts = Family(
        "aifinops_daily_cost_day_timestamp_seconds",
        "Midnight (UTC) of the day aifinops_daily_cost is about.",
    )
    stale = Family(
        "aifinops_allocation_stale",
        "1 when allocated_costs is older than the latest ingest or the [allocation] rules.",
    )
    table, date_col, dims = _cost_source(ctx)
    if table == ALLOCATED:
        stale.add("1" if ctx.ws.allocation_stale() else "0")
    families = [daily, mtd, day_ts, stale]
    last = last_day(ctx.engine, ctx.engine.table(table), date_col, ctx.as_of)
    if last is None or not dims:
        return families
    day_ts.add(day_timestamp(last))
    for dim, rows in _cost_rows(ctx, table, date_col, dims, last).items():
        for ((value,), currency), sums in top_n(rows, ctx.settings.top, "rank").items():
            labels = {"dimension": dim, "value": value, "currency": currency}
            labels["metric"] = ctx.metric.value
            daily.add(money(sums.get("day")), **labels)
            mtd.add(money(sums.get("mtd")), **labels)
    return families


def _cost_source(ctx: Context) -> tuple[str, str, dict[str, Callable[[ir.Table], ir.Value]]]:
    """``allocated_costs`` when allocation exists (its dimensions, provider, service), else the
    bill (``costs``: provider and service only)."""
    wanted = ctx.settings.dimensions
    if ctx.engine.has_table(ALLOCATED):
        known = {*ctx.ws.settings.allocation.all_dimensions(), "provider"}
        unknown = [d for d in wanted if d not in known and d != "service"]
        if unknown:
            raise QueryError(
                f"[metrics] dimensions: no allocation dimension {', '.join(unknown)}",
                hint=f"use provider, service or one of {', '.join(sorted(known))}",
            )
        dims = {d: _column("ServiceName" if d == "service" else d) for d in wanted}
        return ALLOCATED, "charge_date", dims
    bill: dict[str, Callable[[ir.Table], ir.Value]] = {
        "provider": lambda t: t.ServiceProviderName.fill_null(t.ProviderName),
        "service": _column("ServiceName"),
    }
    return "costs", "x_ChargeDate", {d: bill[d] for d in wanted if d in bill}


def _column(name: str) -> Callable[[ir.Table], ir.Value]:
    return lambda t: t[name]


def _cost_rows(
    ctx: Context,
    table: str,
    date_col: str,
    dims: dict[str, Callable[[ir.Table], ir.Value]],
    last: date,
) -> dict[str, Rows]:
    """Per dimension: (value, currency) -> ``day`` (the latest day), ``mtd`` and ``rank`` (both)."""
    import ibis

    start = ctx.as_of.replace(day=1)
    t = ctx.engine.table(table)
    day = t[date_col]
    t = t.filter(((day >= start) | (day == last)) & (day < ctx.as_of))
    column = ctx.metric.column
    parts = [
        t.group_by(
            value=dims[d](t).cast("string").fill_null(NOT_SET),
            day=t[date_col],
            currency=t.BillingCurrency,
        )
        .aggregate(amount=t[column].sum())
        .mutate(dimension=ibis.literal(d))
        for d in dims
    ]
    out: dict[str, Rows] = {d: {} for d in dims}
    for row in ctx.engine.execute(ibis.union(*parts)).to_pylist():
        sums = out[row["dimension"]].setdefault(((row["value"],), row["currency"]), {})
        amount = row["amount"] or Decimal(0)
        sums["rank"] = sums.get("rank", Decimal(0)) + amount
        if row["day"] == last:
            sums["day"] = amount
        if row["day"] >= start:
            sums["mtd"] = sums.get("mtd", Decimal(0)) + amount
    return out


# -- GPU efficiency ---------------------------------------------------------------------------


def gpu(ctx: Context) -> list[Family]:
    """GPU cost, idle and under-used cost, utilisation per GPU dimension value, month to date."""
    from aifinops.analysis.gpu import GpuEfficiencyQuery, gpu_efficiency

    names = {
        "cost": ("aifinops_gpu_cost", "Cost of GPU machines"),
        "idle": ("aifinops_gpu_idle_cost", "Cost of idle GPU-hours (utilisation below 5%)"),
        "under": (
            "aifinops_gpu_under_used_cost",
            "Unused share of the cost of under-used GPU-hours (5% to 50% utilisation)",
        ),
    }
    families = {
        k: Family(n, f"{h}, month to date, rounded to the cent.") for k, (n, h) in names.items()
    }
    util = Family(
        "aifinops_gpu_utilisation_ratio",
        "Average GPU utilisation (0-1) over the GPU-hours with telemetry, month to date.",
    )
    window = ctx.month_to_date
    if window is None:
        return [*families.values(), util]
    for dim in ctx.settings.gpu_dimensions:
        query = GpuEfficiencyQuery(by=(dim,), metric=ctx.metric, window=window)
        rows: Rows = {}
        for r in ctx.engine.execute(gpu_efficiency(ctx.engine, query)).to_pylist():
            telemetry = Decimal(str(r["telemetry_gpu_hours"] or 0))
            busy = Decimal(str(r["avg_util_pct"] or 0)) / 100 * telemetry
            sums = {"cost": r["cost"], "idle": r["idle_cost"], "under": r["under_used_cost"]}
            sums |= {"busy": busy, "telemetry": telemetry}
            value = NOT_SET if r[dim] is None else str(r[dim])
            rows[(value,), r["BillingCurrency"]] = {k: v or Decimal(0) for k, v in sums.items()}
        for ((value,), currency), sums in top_n(rows, ctx.settings.top, "cost").items():
            labels = {"dimension": dim, "value": value, "currency": currency}
            labels["metric"] = ctx.metric.value
            for key, family in families.items():
                family.add(money(sums[key]), **labels)
            util.add(ratio(sums["busy"], sums["telemetry"]), dimension=dim, value=value)
    return [*families.values(), util]


# -- budgets ----------------------------------------------------------------------------------


def budgets(ctx: Context) -> list[Family]:
    """Each ``[[budgets]]`` as on as-of: spend, amount, forecast, ratios, days left, state."""
    from aifinops.analysis.budgets import BudgetState

    def family(name: str, help_text: str) -> Family:
        return Family(f"aifinops_budget_{name}", help_text)

    amount = family("amount", "The budget's amount for its current period, in currency.")
    spent = family("spent", "Spend in the budget's period up to the day before as-of.")
    forecast = family("forecast", "Expected spend at the end of the period (rounded to the cent).")
    used = family("used_ratio", "Spend / amount (1 = the whole budget is spent).")
    forecast_ratio = family("forecast_ratio", "Forecast at period end / amount.")
    days_left = family("days_left", "Days from as-of to the end of the budget's period.")
    state = family("state", "1 for the budget's state (ok, warning, over), 0 for the others.")
    for s in ctx.ws.budget_status(as_of=ctx.as_of):
        labels = {"budget": s.name, "currency": s.currency, "metric": s.metric}
        amount.add(money(s.amount), **labels)
        spent.add(money(s.actual), **labels)
        forecast.add(money(s.expected), **labels)
        used.add(ratio(s.actual, s.amount), **labels)
        forecast_ratio.add(ratio(s.expected, s.amount), **labels)
        days_left.add(str(s.days_left), budget=s.name)
        for each in BudgetState:
            state.add("1" if s.state is each else "0", budget=s.name, state=each.value)
    return [amount, spent, forecast, used, forecast_ratio, days_left, state]


# -- LLM and self-hosted unit costs -----------------------------------------------------------


def llm(ctx: Context) -> list[Family]:
    """LLM API cost, tokens and $ per 1M tokens per provider and model, month to date."""
    from aifinops.analysis.llm_costs import LlmCostQuery, llm_costs

    cost = Family("aifinops_llm_cost", "LLM usage cost, month to date, rounded to the cent.")
    tokens = Family(
        "aifinops_llm_tokens", "Tokens (input, cached, cache writes, output), month to date."
    )
    per_1m = Family("aifinops_llm_cost_per_1m_tokens", "Cost per million tokens, month to date.")
    per_out = Family(
        "aifinops_llm_cost_per_1m_output_tokens",
        "All of the cost per million output tokens, month to date.",
    )
    window = ctx.month_to_date
    table = llm_costs(ctx.engine, LlmCostQuery(window=window)) if window else None
    rows: Rows = {}
    for r in table.to_pylist() if table is not None else ():
        key = (str(r["provider"]), NOT_SET if r["model"] is None else str(r["model"]))
        rows[key, r["currency"]] = {
            "cost": r["cost"] or Decimal(0),
            "tokens": Decimal(r["total_tokens"] or 0),
            "output": Decimal(r["output_tokens"] or 0),
        }
    for ((provider, model), currency), s in top_n(rows, ctx.settings.top, "cost").items():
        labels = {"provider": provider, "model": model, "currency": currency}
        cost.add(money(s["cost"]), **labels)
        tokens.add(str(int(s["tokens"])), provider=provider, model=model)
        per_1m.add(ratio(s["cost"] * MILLION, s["tokens"]), **labels)
        per_out.add(ratio(s["cost"] * MILLION, s["output"]), **labels)
    return [cost, tokens, per_1m, per_out]


def self_hosted(ctx: Context) -> list[Family]:
    """Self-hosted inference: GPU cost per million tokens served per deployment, month to date."""
    from aifinops.analysis.self_hosted import SELF, SelfHostedQuery
    from aifinops.analysis.self_hosted import self_hosted as report
    from aifinops.model.prices import Catalog

    cost = Family(
        "aifinops_self_hosted_cost", "GPU cost of each serving deployment, month to date."
    )
    per_1m = Family(
        "aifinops_self_hosted_cost_per_1m_tokens",
        "GPU cost per million tokens served by each deployment, month to date.",
    )
    window = ctx.month_to_date
    if window is None or not ctx.engine.has_table(ALLOCATED):
        return [cost, per_1m]
    query = SelfHostedQuery(metric=ctx.metric, window=window)
    table = report(ctx.engine, ctx.ws.settings.allocation, query, Catalog())
    rows: Rows = {}
    for r in table.to_pylist():
        if r["priced_as"] == SELF and r["total_tokens"]:
            rows[(str(r["model"]),), r["BillingCurrency"]] = {
                "cost": r["cost"] or Decimal(0),
                "tokens": Decimal(r["total_tokens"]),
            }
    for ((deployment,), currency), s in top_n(rows, ctx.settings.top, "cost").items():
        labels = {"deployment": deployment, "currency": currency, "metric": ctx.metric.value}
        cost.add(money(s["cost"]), **labels)
        per_1m.add(ratio(s["cost"] * MILLION, s["tokens"]), **labels)
    return [cost, per_1m]


# -- freshness --------------------------------------------------------------------------------


def freshness(ctx: Context) -> list[Family]:
    """The last charge day and the newest record of each usage table, up to as-of."""
    from aifinops.store.schema import USAGE_TABLES

    charge = Family(
        "aifinops_data_last_charge_day_timestamp_seconds",
        "Midnight (UTC) of the last day with a charge, on or before as-of.",
    )
    usage = Family(
        "aifinops_data_last_timestamp_seconds",
        "Newest record of each usage table (table label), before the end of the as-of day.",
    )
    end = ctx.as_of + timedelta(days=1)
    charge.add(day_timestamp(last_day(ctx.engine, ctx.engine.table("costs"), "x_ChargeDate", end)))
    for name, column in USAGE_TABLES.items():
        usage.add(
            day_timestamp(_newest(ctx.engine, ctx.engine.table(name), column, end)), table=name
        )
    return [charge, usage]


def _newest(engine: Engine, t: ir.Table, column: str, before: date) -> Any:
    """The newest value of a date or timestamp ``column`` before midnight (UTC) of ``before``."""
    if t[column].type().is_date():
        return last_day(engine, t, column, before)
    stop = datetime(before.year, before.month, before.day, tzinfo=UTC)
    rows = t.filter(t[column] < stop).aggregate(last=t[column].max())
    return engine.execute(rows).column("last")[0].as_py()


FAMILIES: dict[str, Callable[[Context], list[Family]]] = {
    "costs": costs,
    "gpu": gpu,
    "budgets": budgets,
    "llm": llm,
    "self_hosted": self_hosted,
    "freshness": freshness,
}
