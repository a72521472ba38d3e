"""What a budget has spent: daily sums of its scope's costs or of its LLM keys' usage.

Shared by :mod:`aifinops.analysis.budgets` (status, check) and :mod:`aifinops.guard`. Days are
UTC dates in ``[start, stop)``; amounts are exact decimals per billing currency; a scope or key
whose rows are in another currency than the budget's is an error, never converted or dropped.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from aifinops.errors import ConfigError
from aifinops.model.timewindow import Window
from aifinops.output import money

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.engine import Engine
    from aifinops.model.budgets import Budget
    from aifinops.model.metrics import CostMetric

ZERO = Decimal(0)
LLM_USAGE = "llm_usage"


@dataclass
class Spend:
    """A budget's spend per day in its currency, and the rows it could not price."""

    days: dict[date, Decimal] = field(default_factory=dict)
    unpriced: int = 0

    @property
    def total(self) -> Decimal:
        return sum(self.days.values(), ZERO)

    def add(self, day: date, amount: Decimal) -> None:
        self.days[day] = self.days.get(day, ZERO) + amount


def key_matches(patterns: Sequence[str], key: str) -> bool:
    """Whether an API key id is one of ``patterns`` (exact ids or globs, case-sensitive)."""
    return any(key == p or (_is_glob(p) and fnmatch.fnmatchcase(key, p)) for p in patterns)


def _is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def key_rows(
    engine: Engine, patterns: Iterable[str], start: date, stop: date
) -> list[tuple[str, date, str | None, Decimal | None, int]]:
    """``(api_key_id, day, currency, cost, unpriced rows)`` of ``llm_usage`` usage records in
    ``[start, stop)`` for keys that may match ``patterns`` (globs are matched by the caller);
    the cost is None where no row of the group is priced."""
    if stop <= start or not engine.has_table(LLM_USAGE):
        return []
    usage = engine.table(LLM_USAGE)
    day = usage.start_time.date()
    rows = usage.filter(
        (usage.record_type == "usage") & (day >= start) & (day < stop) & usage.api_key_id.notnull()
    )
    wanted = list(patterns)
    if not any(_is_glob(p) for p in wanted):
        rows = rows.filter(rows.api_key_id.isin(wanted))
    rows = rows.mutate(day=rows.start_time.date(), currency=rows.currency)
    totals = rows.group_by(["api_key_id", "day", "currency"]).aggregate(
        cost=rows.cost.sum(), unpriced=rows.cost.isnull().sum()
    )
    out = []
    for row in engine.execute(totals).to_pylist():
        key, day, currency = row["api_key_id"], row["day"], row["currency"]
        out.append((key, day, currency, row["cost"], int(row["unpriced"])))
    return out


def key_spend(engine: Engine, budget: Budget, start: date, stop: date) -> Spend:
    """The ``llm_usage`` cost of ``budget``'s keys per day."""
    spend = Spend()
    for key, day, currency, cost, unpriced in key_rows(engine, budget.llm_keys, start, stop):
        if not key_matches(budget.llm_keys, key):
            continue
        spend.unpriced += unpriced
        if cost is not None:
            check_currency(budget, currency, cost, f"API key {key}")
            spend.add(day, cost)
    return spend


def scope_spend(
    engine: Engine,
    budget: Budget,
    dimensions: Sequence[str],
    metric: CostMetric,
    *,
    start: date,
    stop: date,
) -> Spend:
    """The cost of ``budget``'s scope per day, in ``metric``."""
    from aifinops.analysis.scope import daily

    spend = Spend()
    if stop <= start:
        return spend
    table = engine.execute(daily(engine, budget.scope, dimensions, metric, Window(start, stop)))
    for row in table.to_pylist():
        amount = row["amount"] if row["amount"] is not None else ZERO
        check_currency(budget, row["BillingCurrency"], amount, "its scope")
        spend.add(row["day"], amount)
    return spend


def last_data_day(engine: Engine, budget: Budget) -> date | None:
    """The latest day of data in the table the budget reads (how fresh its spend is)."""
    if budget.counts_llm_usage:
        if not engine.has_table(LLM_USAGE):
            return None
        usage = engine.table(LLM_USAGE)
        expr: ir.Scalar = usage.start_time.date().max()
    else:
        from aifinops.analysis.scope import last_day

        if not engine.has_table(budget.scope.source):
            return None
        expr = last_day(engine, budget.scope)
    value = engine.execute(expr.name("last").as_table()).column("last")[0].as_py()
    return value if isinstance(value, date) else None


def counted_through(start: date, stop: date, last: date | None) -> date | None:
    """The last day counted in ``[start, stop)``: the day before ``stop``, or the data's last day
    (``last``) if earlier; None when no day of data is in the range."""
    if stop <= start or last is None or last < start:
        return None
    return min(stop - timedelta(days=1), last)


def scope_has_rows(engine: Engine, budget: Budget, dimensions: Sequence[str]) -> bool:
    """Whether anything ever matched the budget's scope or keys (a typo matches nothing)."""
    if budget.counts_llm_usage:
        return bool(key_rows(engine, budget.llm_keys, date.min, date.max))
    from aifinops.analysis.scope import scoped

    rows = scoped(engine, budget.scope, dimensions)
    found = engine.execute(rows.limit(1).count().name("n").as_table())
    return bool(found.column("n")[0].as_py())


def check_currency(budget: Budget, currency: str | None, amount: Decimal, what: str) -> None:
    if currency is not None and currency.upper() == budget.currency:
        return
    raise ConfigError(
        f"budget {budget.name!r}: {what} has costs in {currency or 'an unknown currency'} "
        f"({money(amount)} on one day), but the budget's amount is in {budget.currency}",
        hint=f'set currency = "{currency}" on the budget if all its costs are in {currency}, '
        "or narrow its scope to one billing currency (e.g. providers = ...); amounts in "
        "different currencies are never added up",
    )
