"""Cost rows in a :class:`~aifinops.model.scope.Scope`, and their daily spend.

Whatever table a scope reads (the bill or ``allocated_costs``), the rows come back with the same
names for what budgets, forecasts and anomaly checks need: ``day`` (the charge date),
``provider``, ``BillingCurrency``, ``ChargeFrequency``, the cost metrics, and every other column
of the table for drill-down.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from aifinops.analysis.common import within_dates
from aifinops.errors import QueryError
from aifinops.model.allocation import MATCH_COLUMNS, glob_regex
from aifinops.model.scope import ALLOCATED, ALLOCATED_COLUMNS, Scope

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.engine import Engine
    from aifinops.model.metrics import CostMetric
    from aifinops.model.timewindow import Window


def scoped(
    engine: Engine, scope: Scope, dimensions: Sequence[str], *, source: str | None = None
) -> ir.Table:
    """The rows of ``scope`` (``dimensions``: the workspace's allocation dimension names).

    ``source`` reads a scope of match fields from the other table (``allocated_costs`` for a
    bill scope's rows with their dimensions, as the anomaly drill-down does)."""
    scope.check(dimensions)
    if source is not None and source != scope.source and (scope.dimensions or scope.tags):
        raise QueryError(f"scope {scope.describe()} cannot be read from {source}")
    if (source or scope.source) == ALLOCATED:
        rows = _allocated(engine)
        columns = ALLOCATED_COLUMNS
    else:
        costs = engine.table("costs")
        rows = costs.mutate(
            day=costs.x_ChargeDate,
            provider=costs.ServiceProviderName.fill_null(costs.ProviderName),
        )
        columns = MATCH_COLUMNS
    for field, patterns in scope.match.items():
        rows = rows.filter(_any_of([rows[c] for c in columns[field]], patterns))
    for name, patterns in scope.dimensions.items():
        rows = rows.filter(_any_of([rows[name]], patterns))
    if scope.tags:
        spellings = _tag_spellings(engine, rows)
        for key, patterns in scope.tags.items():
            found = spellings.get(key.lower(), [key])
            rows = rows.filter(_any_of([engine.tag(rows, k) for k in found], patterns))
    return rows


def daily(
    engine: Engine,
    scope: Scope,
    dimensions: Sequence[str],
    metric: CostMetric,
    window: Window,
    *,
    by: Sequence[str] = (),
) -> ir.Table:
    """Spend per ``day`` and ``BillingCurrency`` (and ``by`` columns) inside ``window``, as
    ``amount``; days without rows are absent (the caller fills them with zero)."""
    rows = within_dates(scoped(engine, scope, dimensions), "day", window)
    keys = ["day", "BillingCurrency", *by]
    out = rows.group_by(keys).aggregate(amount=rows[metric.column].sum())
    return out.order_by(keys)


def last_day(engine: Engine, scope: Scope) -> ir.Scalar:
    """The latest charge day of the table the scope reads (how fresh its data is)."""
    rows = engine.table(scope.source)
    return rows["charge_date" if scope.source == ALLOCATED else "x_ChargeDate"].max()


def _allocated(engine: Engine) -> ir.Table:
    if not engine.has_table(ALLOCATED):
        raise QueryError(
            "a scope on an allocation dimension needs allocated_costs",
            hint="run `aifinops allocate` first (see docs/allocation.md)",
        )
    table = engine.table(ALLOCATED)
    if "ChargeFrequency" not in table.columns:
        raise QueryError(
            "allocated_costs was built by an older aifinops",
            hint="run `aifinops allocate` again",
        )
    return table.mutate(day=table.charge_date)


def _tag_spellings(engine: Engine, costs: ir.Table) -> dict[str, list[str]]:
    """Tag keys present, by lower-case key: ``team`` -> ``["Team", "team"]``."""
    keys = engine.tag_keys(costs).name("key")
    present = engine.execute(keys.as_table().distinct()).column("key").to_pylist()
    out: dict[str, list[str]] = {}
    for key in sorted(k for k in present if k is not None):
        out.setdefault(key.lower(), []).append(key)
    return out


def _any_of(values: list[ir.Value], patterns: Sequence[str]) -> ir.BooleanValue:
    """True where any of ``values`` matches any glob (case-insensitive, whole value)."""
    import functools
    import operator

    plain = [p.lower() for p in patterns if not any(ch in p for ch in "*?")]
    globs = [glob_regex(p) for p in patterns if any(ch in p for ch in "*?")]
    tests: list[ir.BooleanValue] = []
    for value in values:
        text = value.cast("string").lower()
        if plain:
            tests.append(text.isin(plain))
        tests.extend(text.re_search(g) for g in globs)
    return functools.reduce(operator.or_, tests).fill_null(False)
