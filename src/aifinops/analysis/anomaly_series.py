"""The daily spend series an anomaly check judges: one per scope, currency and kind of charge.

The scopes are the base scope (the whole bill unless one is given) and, inside it, each value of
the watched dimensions (``[anomalies] dimensions``): allocation dimensions read
``allocated_costs``, the bill's own fields (provider, service, account, region, category) the
base scope's table. One query per watched dimension; the series are small and finished here.

Charges are split by ``ChargeFrequency``: usage-based spend is judged day by day against its
weekday-aware baseline (:mod:`aifinops.analysis.anomaly_model`); recurring and one-time charges
(monthly fees, support, tax, purchases, credits) are judged like with like, against the same day
of the month before (:func:`judge_recurring`). Rows of shared-cost pools in ``allocated_costs``
(split once a month and dated on its first day) are left out of dimension scopes: the charges
they split are judged on the day they were billed, in the bill's scopes.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from aifinops.analysis.common import within_dates
from aifinops.analysis.scope import scoped
from aifinops.errors import ConfigError
from aifinops.model.scope import ALLOCATED, BILL, Scope
from aifinops.model.timewindow import Window

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.engine import Engine
    from aifinops.model.metrics import CostMetric

USAGE = "usage-based"
RECURRING = "recurring and one-time"

#: Watched bill fields: name -> (the scope's match field, the column a value is read from).
WATCH_FIELDS: dict[str, tuple[str, str]] = {
    "provider": ("providers", "provider"),
    "service": ("services", "ServiceName"),
    "account": ("accounts", "SubAccountName"),
    "region": ("regions", "RegionId"),
    "category": ("categories", "ServiceCategory"),
}
_SPELLINGS = {match: name for name, (match, _) in WATCH_FIELDS.items()}


@dataclass
class Series:
    """One scope's daily spend in one currency and kind of charge (index 0 = ``days[0]``)."""

    scope: Scope
    currency: str
    basis: str
    values: NDArray[np.float64]
    exact: dict[int, Decimal] = field(default_factory=dict)  # day index -> exact amount
    first: int = 0  # days before the base scope's first day of data are unknown, not zero
    end: int = 0  # days from this index on have no data yet

    def amount(self, index: int) -> Decimal:
        return self.exact.get(index, Decimal(0))


@dataclass
class SeriesSet:
    days: list[date]
    series: list[Series]
    through: date | None  # last day with data (of the bill)
    notes: list[str]


def watched(name: str, dimensions: Sequence[str]) -> tuple[str, str]:
    """``(kind, key)`` of a watched dimension: ``("dimension", "team")`` or
    ``("field", "service")``; a ConfigError names the setting for anything else."""
    key = name.strip()
    if key in dimensions:
        return "dimension", key
    field_name = _SPELLINGS.get(key.lower(), key.lower())
    if field_name in WATCH_FIELDS:
        return "field", field_name
    known = ", ".join([*WATCH_FIELDS, *dimensions])
    raise ConfigError(
        f"cannot watch {name!r} for anomalies", hint=f"[anomalies] dimensions / --by take {known}"
    )


def load(
    engine: Engine,
    base: Scope,
    dimensions: Sequence[str],
    metric: CostMetric,
    *,
    start: date,
    end: date,
    watch: Sequence[str],
) -> SeriesSet:
    """Every series of ``base`` and of each value of ``watch`` inside it, over [start, end)."""
    bill_end = _last(engine, base.source)
    through = min(end - timedelta(days=1), bill_end) if bill_end else None
    days = [start + timedelta(days=i) for i in range((end - start).days)]
    out = SeriesSet(days, [], through, [])
    if through is None or through < start:
        return out
    out.series += _load(engine, base, dimensions, metric, days, by=None)
    first = _first_index(out.series)
    for name in watch:
        kind, key = watched(name, dimensions)
        source = ALLOCATED if kind == "dimension" else base.source
        problem = _unreadable(engine, base, source, key)
        if problem:
            out.notes.append(problem)
            continue
        out.series += _load(engine, base, dimensions, metric, days, by=(kind, key))
    source_ends = {BILL: bill_end, ALLOCATED: _last(engine, ALLOCATED)}
    for item in out.series:
        _trim(item, days, first, (source_ends[_source(item.scope, base)], through), out.notes)
    return out


def _source(scope: Scope, base: Scope) -> str:
    return ALLOCATED if scope.dimensions or base.source == ALLOCATED else BILL


def _last(engine: Engine, source: str) -> date | None:
    if not engine.has_table(source):
        return None
    column = "charge_date" if source == ALLOCATED else "x_ChargeDate"
    value = engine.execute(engine.table(source)[column].max().name("d").as_table())
    found = value.column("d")[0].as_py()
    return found if isinstance(found, date) else None


def _unreadable(engine: Engine, base: Scope, source: str, key: str) -> str | None:
    if source != ALLOCATED:
        return None
    if base.tags:
        return f"{key}: a tag: scope cannot be split by allocation dimensions; not watched"
    if not engine.has_table(ALLOCATED):
        return f"{key}: no allocated_costs (run `aifinops allocate`); not watched"
    return None


def _load(
    engine: Engine,
    base: Scope,
    dimensions: Sequence[str],
    metric: CostMetric,
    days: list[date],
    *,
    by: tuple[str, str] | None,
) -> list[Series]:
    source = ALLOCATED if by and by[0] == "dimension" else None
    rows = scoped(engine, base, dimensions, source=source)
    rows = within_dates(rows, "day", _window(days))
    if "shared_pool" in rows.columns:
        rows = rows.filter(rows.shared_pool.isnull())  # pools: split monthly, judged in the bill
    column = None if by is None else (by[1] if by[0] == "dimension" else WATCH_FIELDS[by[1]][1])
    keys: list[ir.Value] = [rows.day, rows.BillingCurrency, is_usage(rows).name("usage")]
    if column is not None:
        keys.append(rows[column].cast("string").name("value"))
    grouped = rows.group_by(keys).aggregate(amount=rows[metric.column].sum())
    table = engine.execute(grouped).to_pylist()
    index = {d: i for i, d in enumerate(days)}
    found: dict[tuple[str | None, str, bool], Series] = {}
    for row in table:
        value = row.get("value") if column is not None else None
        if (column is not None and value is None) or row["amount"] is None:
            continue
        group = (value, row["BillingCurrency"] or "", bool(row["usage"]))
        item = found.get(group)
        if item is None:
            scope = base if by is None else _narrow(base, by, str(value))
            basis = USAGE if group[2] else RECURRING
            item = Series(scope, group[1], basis, np.zeros(len(days)))
            found[group] = item
        i = index[row["day"]]
        item.exact[i] = item.exact.get(i, Decimal(0)) + row["amount"]
        item.values[i] = float(item.exact[i])
    return list(found.values())


def is_usage(rows: ir.Table) -> ir.BooleanValue:
    """Usage-based charges; a row without ``ChargeFrequency`` is one when its category is Usage."""
    frequency = rows.ChargeFrequency.lower().strip()
    category = rows.ChargeCategory.lower().strip() == "usage"
    return (frequency == "usage-based").fill_null(category.fill_null(False))


def _narrow(base: Scope, by: tuple[str, str], value: str) -> Scope:
    kind, key = by
    if kind == "dimension":
        return base.model_copy(update={"dimensions": {**base.dimensions, key: (value,)}})
    match_key = WATCH_FIELDS[key][0]
    return base.model_copy(update={"match": {**base.match, match_key: (value,)}})


def _window(days: list[date]) -> Window:
    return Window(days[0], days[-1] + timedelta(days=1))


def _first_index(series: list[Series]) -> int:
    """The first day the base scope has data: earlier days are unknown, not zero."""
    found = [min(s.exact) for s in series if s.exact]
    return min(found) if found else 0


def _trim(
    item: Series,
    days: list[date],
    first: int,
    ends: tuple[date | None, date],
    notes: list[str],
) -> None:
    source_end, through = ends
    end = min(through, source_end) if source_end else through
    item.first, item.end = first, max(first, (end - days[0]).days + 1)
    if source_end is not None and source_end < through:
        note = f"allocated_costs ends on {source_end} (run `aifinops allocate`)"
        if note not in notes:
            notes.append(note)


@dataclass(frozen=True)
class RecurringFinding:
    index: int
    reference: int  # the same day of the month before
    actual: float
    expected: float


def judge_recurring(
    series: Series,
    days: list[date],
    start: int,
    *,
    min_impact: float,
    min_relative: float,
    decreases: bool,
) -> list[RecurringFinding]:
    """Days whose recurring and one-time charges differ from the same day of the month before by
    at least ``min_impact`` and ``min_relative`` (up, or either way with ``decreases``)."""
    out = []
    for i in range(max(start, series.first), series.end):
        ref = month_before(days, i)
        if ref is None or ref < series.first:
            continue
        actual, expected = float(series.values[i]), float(series.values[ref])
        change = actual - expected
        if change == 0 or (change < 0 and not decreases):
            continue
        relative = abs(change) / expected if expected > 0 else np.inf
        if abs(change) >= min_impact and relative >= min_relative:
            out.append(RecurringFinding(i, ref, actual, expected))
    return out


def month_before(days: list[date], index: int) -> int | None:
    day = days[index]
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    same = date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
    ref = (same - days[0]).days
    return ref if ref >= 0 else None
