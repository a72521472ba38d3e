"""Pieces shared by the cost analyses: dimensions, windows, currencies."""

from __future__ import annotations

import difflib
from datetime import date
from typing import TYPE_CHECKING

from aifinops.errors import QueryError

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.engine import Engine
    from aifinops.model.timewindow import Window

TAG_PREFIX = "tag:"
NOT_SET = "(not set)"
OTHER = "(other)"


def dimension(engine: Engine, costs: ir.Table, spec: str) -> ir.Value:
    """A grouping dimension: a FOCUS or ``x_`` column name, or ``tag:KEY``."""
    if spec.lower().startswith(TAG_PREFIX):
        key = spec[len(TAG_PREFIX) :]
        if not key:
            raise QueryError("tag: needs a key, e.g. tag:team")
        return engine.tag(costs, key).name(spec)
    columns = list(costs.columns)
    if spec in columns:
        return costs[spec]
    by_lower = {c.lower(): c for c in columns}
    if spec.lower() in by_lower:
        return costs[by_lower[spec.lower()]]
    close = difflib.get_close_matches(spec, columns, n=3)
    hint = (
        f"did you mean {', '.join(close)}?"
        if close
        else ("use a FOCUS column (e.g. ServiceName, SubAccountName, RegionId) or tag:KEY")
    )
    raise QueryError(f"unknown dimension {spec!r}", hint=hint)


def within(costs: ir.Table, window: Window) -> ir.Table:
    """Rows whose charge period starts inside ``window`` (UTC dates)."""
    return within_dates(costs, "x_ChargeDate", window)


def within_dates(table: ir.Table, column: str, window: Window) -> ir.Table:
    """Rows whose date ``column`` is inside ``window``."""
    if window.start is not None:
        table = table.filter(table[column] >= window.start)
    if window.end is not None:
        table = table.filter(table[column] < window.end)
    return table


def last_day(
    engine: Engine, table: ir.Table, column: str, before: date | None = None
) -> date | None:
    """The last day with rows in the date or timestamp ``column`` (only days before ``before``
    when given): how fresh the data is. None when there is none."""
    value = table[column]
    day = value if value.type().is_date() else value.date()
    if before is not None:
        table = table.filter(day < before)
    found = engine.execute(table.aggregate(last=day.max())).column("last")[0].as_py()
    return found if isinstance(found, date) else None
