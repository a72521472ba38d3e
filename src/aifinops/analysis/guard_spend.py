"""The spend of every guard budget in its current period, read in few queries (for
:class:`aifinops.guard.Guard`).

A guard budget names ``llm_keys`` (spend: the keys' ``llm_usage`` cost) or ``llm_teams`` (spend:
its scope's costs). As in :mod:`aifinops.analysis.budgets`, spend counts the days of the period
before the as-of day, up to the last day of data (``through``).

Key budgets are read in one query over ``llm_usage``; budgets whose scope is one allocation
dimension with plain values (``scope = { team = "research" }``, the usual team budget) in one
query per dimension and metric; any other scope in a query of its own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from aifinops.analysis.budget_spend import (
    LLM_USAGE,
    ZERO,
    check_currency,
    counted_through,
    key_matches,
    key_rows,
    last_data_day,
    scope_spend,
)
from aifinops.model.scope import Scope

if TYPE_CHECKING:
    from aifinops.config import Settings
    from aifinops.engine import Engine
    from aifinops.model.budgets import Budget
    from aifinops.model.metrics import CostMetric


@dataclass(frozen=True)
class BudgetSpend:
    """One guard budget's period and what it had spent by ``through``."""

    budget: Budget
    start: date
    end: date
    spent: Decimal
    through: date | None
    unpriced: int = 0


def guard_spend(engine: Engine, settings: Settings, as_of: date) -> list[BudgetSpend]:
    """Every budget with ``llm_keys`` or ``llm_teams``, with its spend as on ``as_of``."""
    budgets = [b for b in settings.budgets if b.guarded]
    dimensions = list(settings.allocation.all_dimensions())
    tally = _Tally({b.name: b.period_of(as_of) for b in budgets}, as_of)
    _keys(engine, [b for b in budgets if b.counts_llm_usage], tally)
    batched, single = _split([b for b in budgets if not b.counts_llm_usage])
    for (dimension, _metric), group in batched.items():
        metric = group[0].metric or settings.report.metric
        _dimension(engine, dimension, metric, group, tally, dimensions=dimensions)
    for budget in single:
        start, stop = tally.window([budget])
        metric = budget.metric or settings.report.metric
        found = scope_spend(engine, budget, dimensions, metric, start=start, stop=stop)
        tally.spent[budget.name] = found.total
    fresh = _freshness(engine, budgets)
    out = []
    for budget in budgets:
        start, end = tally.periods[budget.name]
        through = counted_through(start, tally.stops[budget.name], fresh[_source(budget)])
        spent, unpriced = tally.spent.get(budget.name, ZERO), tally.unpriced.get(budget.name, 0)
        out.append(BudgetSpend(budget, start, end, spent, through, unpriced))
    return out


class _Tally:
    """Each budget's period ``[start, end)``, the end of what counts (``stop``) and its sums."""

    def __init__(self, periods: dict[str, tuple[date, date]], as_of: date) -> None:
        self.periods = periods
        self.stops = {name: max(start, min(as_of, end)) for name, (start, end) in periods.items()}
        self.spent: dict[str, Decimal] = {}
        self.unpriced: dict[str, int] = {}

    def window(self, budgets: Sequence[Budget]) -> tuple[date, date]:
        """The dates any of ``budgets`` counts: ``[first start, last stop)``."""
        first = min(self.periods[b.name][0] for b in budgets)
        return first, max(first, *(self.stops[b.name] for b in budgets))

    def counts(self, budget: Budget, day: date) -> bool:
        return self.periods[budget.name][0] <= day < self.stops[budget.name]

    def add(self, budget: Budget, amount: Decimal) -> None:
        self.spent[budget.name] = self.spent.get(budget.name, ZERO) + amount


def _keys(engine: Engine, budgets: list[Budget], tally: _Tally) -> None:
    if not budgets:
        return
    first, last = tally.window(budgets)
    exact: dict[str, list[Budget]] = defaultdict(list)
    globbed = []
    for budget in budgets:
        for pattern in budget.llm_keys:
            if any(ch in pattern for ch in "*?["):
                globbed.append(budget)
            else:
                exact[pattern].append(budget)
    patterns = [p for b in budgets for p in b.llm_keys]
    for key, day, currency, cost, bad in key_rows(engine, patterns, first, last):
        owners = exact.get(key, []) + [b for b in globbed if key_matches(b.llm_keys, key)]
        for budget in {b.name: b for b in owners}.values():
            if not tally.counts(budget, day):
                continue
            tally.unpriced[budget.name] = tally.unpriced.get(budget.name, 0) + bad
            if cost is not None:
                check_currency(budget, currency, cost, f"API key {key}")
                tally.add(budget, cost)


def _split(budgets: list[Budget]) -> tuple[dict[tuple[str, str], list[Budget]], list[Budget]]:
    """Budgets whose scope is one dimension with plain values, by (dimension, metric); others."""
    batched: dict[tuple[str, str], list[Budget]] = defaultdict(list)
    single = []
    for budget in budgets:
        scope = budget.scope
        simple = not scope.match and not scope.tags and len(scope.dimensions) == 1
        values = next(iter(scope.dimensions.values()), ())
        if simple and not any(ch in v for v in values for ch in "*?"):
            dimension = next(iter(scope.dimensions))
            batched[(dimension, str(budget.metric or ""))].append(budget)
        else:
            single.append(budget)
    return batched, single


def _dimension(
    engine: Engine,
    dimension: str,
    metric: CostMetric,
    budgets: list[Budget],
    tally: _Tally,
    *,
    dimensions: list[str],
) -> None:
    """One query for every budget scoped on ``dimension`` (values compared in lower case)."""
    from aifinops.analysis.scope import scoped

    first, last = tally.window(budgets)
    if last <= first:
        return
    values = sorted({v.lower() for b in budgets for v in b.scope.dimensions[dimension]})
    rows = scoped(engine, Scope(dimensions={dimension: tuple(values)}), dimensions)
    rows = rows.filter((rows.day >= first) & (rows.day < last))
    rows = rows.mutate(value=rows[dimension].cast("string").lower())
    totals = rows.group_by(["value", "day", "BillingCurrency"]).aggregate(
        amount=rows[metric.column].sum()
    )
    by_value: dict[str, list[Budget]] = defaultdict(list)
    for budget in budgets:
        for v in dict.fromkeys(x.lower() for x in budget.scope.dimensions[dimension]):
            by_value[v].append(budget)
    for row in engine.execute(totals).to_pylist():
        amount = row["amount"] if row["amount"] is not None else ZERO
        for budget in by_value[row["value"]]:
            if tally.counts(budget, row["day"]):
                check_currency(budget, row["BillingCurrency"], amount, "its scope")
                tally.add(budget, amount)


def _source(budget: Budget) -> str:
    return LLM_USAGE if budget.counts_llm_usage else budget.scope.source


def _freshness(engine: Engine, budgets: Sequence[Budget]) -> dict[str, date | None]:
    """The last day of data of each table the budgets read (one query per table)."""
    out: dict[str, date | None] = {}
    for budget in budgets:
        if _source(budget) not in out:
            out[_source(budget)] = last_data_day(engine, budget)
    return out
