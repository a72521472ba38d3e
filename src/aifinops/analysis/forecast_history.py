"""The history a spend forecast starts from: a scope's daily spend, split by how it is charged.

One query reads the scope's rows (:func:`aifinops.analysis.scope.scoped`, the same rows as
:func:`~aifinops.analysis.scope.daily`, grouped here also by a ``--by`` value, which may be a
``tag:KEY``) per value, billing currency, day and ``ChargeFrequency``; recurring rows also by
``ServiceName``. Each value and currency becomes a :class:`History`:

* ``Usage-Based`` -> the daily series the model forecasts;
* ``Recurring``, and rows with no frequency (``allocated_costs``' shared-cost splits, one row
  per pool and month on its 1st), per ``ServiceName``:

  - charged on many days (hourly fees, amortised commitments: more than ``FREQUENT_DAYS`` days
    in the last 31) -> added to that series;
  - charged on a few days a month (monthly fees, support billed on the 1st) -> projected on the
    calendar (:func:`calendar`), not smeared over every day;

* ``One-Time`` (tax, purchases, credits) -> counted in the actual spend, never forecast.
"""

from __future__ import annotations

import calendar as cal
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from aifinops.analysis.forecast_model import Floats
from aifinops.model.enums import ChargeFrequency

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.engine import Engine
    from aifinops.model.metrics import CostMetric
    from aifinops.model.scope import Scope
    from aifinops.model.timewindow import Window

#: A recurring service charged on more days than this in the last 31 is forecast as usage.
FREQUENT_DAYS = 4
#: A calendar charge not seen for this many days has ended: it is not projected.
ENDED_AFTER_DAYS = 62
ZERO = Decimal(0)
#: ``ChargeFrequency`` of rows that have none (allocated_costs' shared-cost splits, dated on the
#: 1st of their month; FOCUS 1.0 rows): classified like recurring charges, by how often they come.
UNKNOWN = "(none)"


@dataclass
class History:
    """One value's (or the whole scope's) daily spend in one currency, by kind of charge."""

    key: str | None
    currency: str
    actual: dict[date, Decimal] = field(default_factory=dict)
    usage: dict[date, Decimal] = field(default_factory=dict)
    recurring: dict[str, dict[date, Decimal]] = field(default_factory=dict)
    one_time: dict[date, Decimal] = field(default_factory=dict)

    def spend(self, start: date, end: date) -> Decimal:
        """Exact spend of every kind in ``[start, end)``."""
        return sum((v for d, v in self.actual.items() if start <= d < end), ZERO)

    def frequent(self, cutoff: date) -> list[str]:
        """Recurring services charged on more than ``FREQUENT_DAYS`` days of the last 31."""
        recent = cutoff - timedelta(days=31)
        return sorted(
            service
            for service, days in self.recurring.items()
            if sum(1 for d in days if recent <= d < cutoff) > FREQUENT_DAYS
        )

    def series(self, start: date, cutoff: date) -> tuple[date, Floats]:
        """The daily series to model: usage and frequent recurring charges from the first day
        with any (on or after ``start``) to the day before ``cutoff``, gaps as zero."""
        daily: dict[date, Decimal] = defaultdict(Decimal, self.usage)
        for service in self.frequent(cutoff):
            for d, amount in self.recurring[service].items():
                daily[d] += amount
        spent = sorted(d for d, v in daily.items() if start <= d < cutoff and v != 0)
        if not spent:
            return cutoff, np.zeros(0)
        first = spent[0]
        days = (cutoff - first).days
        values = np.zeros(days)
        for d, amount in daily.items():
            if first <= d < cutoff:
                values[(d - first).days] = float(amount)
        return first, values

    def one_time_recent(self, cutoff: date) -> Decimal:
        """One-time charges in the 31 days before ``cutoff``."""
        recent = cutoff - timedelta(days=31)
        return sum((v for d, v in self.one_time.items() if recent <= d < cutoff), ZERO)


@dataclass(frozen=True)
class Calendar:
    """Recurring charges projected onto the forecast days, and what was left out."""

    by_day: dict[date, Decimal]
    monthly: dict[str, Decimal]
    ended: dict[str, date]


def calendar(history: History, cutoff: date, end: date) -> Calendar:
    """Each infrequent recurring service's charges of its last month, repeated on the same day
    of each later month inside ``[cutoff, end)`` (the 31st becomes the month's last day)."""
    by_day: dict[date, Decimal] = defaultdict(Decimal)
    monthly: dict[str, Decimal] = {}
    ended: dict[str, date] = {}
    frequent = set(history.frequent(cutoff))
    for service, charges in sorted(history.recurring.items()):
        seen = [d for d in charges if d < cutoff]
        if service in frequent or not seen:
            continue
        last = max(seen)
        if (cutoff - last).days > ENDED_AFTER_DAYS:
            ended[service] = last
            continue
        template = {
            d: v for d, v in charges.items() if (d.year, d.month) == (last.year, last.month)
        }
        monthly[service] = sum(template.values(), ZERO)
        for d, amount in template.items():
            for day in _monthly(d, cutoff, end):
                by_day[day] += amount
    return Calendar(dict(by_day), monthly, ended)


def _monthly(first: date, cutoff: date, end: date) -> list[date]:
    """The same day of the month as ``first`` in each later month, inside ``[cutoff, end)``."""
    out: list[date] = []
    months = 1
    while True:
        index = first.year * 12 + first.month - 1 + months
        year, month = divmod(index, 12)
        day = date(year, month + 1, min(first.day, cal.monthrange(year, month + 1)[1]))
        if day >= end:
            return out
        if day >= cutoff:
            out.append(day)
        months += 1


def load(
    engine: Engine,
    scope: Scope,
    dimensions: Sequence[str],
    metric: CostMetric,
    window: Window,
    *,
    by: str | None = None,
) -> list[History]:
    """Every value's history in ``window`` (one per value of ``by`` and currency)."""
    rows = engine.execute(_daily(engine, scope, dimensions, metric, window, by=by)).to_pylist()
    histories: dict[tuple[str | None, str], History] = {}
    for row in rows:
        key = (row["key"] if by else None, row["BillingCurrency"] or "(no currency)")
        found = histories.setdefault(key, History(*key))
        day, amount = row["day"], row["amount"] or ZERO
        found.actual[day] = found.actual.get(day, ZERO) + amount
        if row["frequency"] in (ChargeFrequency.RECURRING.value, UNKNOWN):
            days = found.recurring.setdefault(row["service"], {})
            days[day] = days.get(day, ZERO) + amount
        elif row["frequency"] == ChargeFrequency.ONE_TIME.value:
            found.one_time[day] = found.one_time.get(day, ZERO) + amount
        else:
            found.usage[day] = found.usage.get(day, ZERO) + amount
    return [histories[k] for k in sorted(histories, key=lambda k: (k[0] or "", k[1]))]


def _daily(
    engine: Engine,
    scope: Scope,
    dimensions: Sequence[str],
    metric: CostMetric,
    window: Window,
    *,
    by: str | None,
) -> ir.Table:
    import ibis

    from aifinops.analysis.common import NOT_SET, dimension, within_dates
    from aifinops.analysis.scope import scoped

    rows = within_dates(scoped(engine, scope, dimensions), "day", window)
    frequency = rows.ChargeFrequency.fill_null(UNKNOWN)
    recurring = frequency.isin([ChargeFrequency.RECURRING.value, UNKNOWN])
    key = dimension(engine, rows, by).cast("string").fill_null(NOT_SET) if by else ibis.literal("")
    table = rows.mutate(
        key=key,
        frequency=frequency,
        service=ibis.ifelse(recurring, rows.ServiceName.fill_null(NOT_SET), ""),
        amount=rows[metric.column],
    )
    keys = ["key", "BillingCurrency", "day", "frequency", "service"]
    return table.group_by(keys).aggregate(amount=table.amount.sum())
