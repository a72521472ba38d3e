"""What ``aifinops forecast`` and ``Workspace.forecast`` return: forecasts as tables, the
backtest verdicts, and the horizon options (``30d``, ``--to end-of-month``) turned into dates."""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aifinops.errors import QueryError

if TYPE_CHECKING:
    import pyarrow as pa

    from aifinops.analysis.forecast import ScopeForecast

_SPAN = re.compile(r"^\s*(\d+)\s*([dwm]?)\s*$")
_ENDS = {
    "end-of-month": "month", "eom": "month", "month-end": "month",
    "end-of-quarter": "quarter", "eoq": "quarter", "quarter-end": "quarter",
    "end-of-year": "year", "eoy": "year", "year-end": "year",
}  # fmt: skip


def days_in(text: str | int, *, option: str, since: date) -> int:
    """``30d``, ``8w``, ``3m`` (calendar months from ``since``) or a number of days."""
    if isinstance(text, int):
        count, unit = text, "d"
    elif m := _SPAN.fullmatch(text.lower()):
        count, unit = int(m[1]), m[2] or "d"
    else:
        raise QueryError(f"{option} {text!r} is not a span of days", hint="e.g. 30d, 8w or 3m")
    if count < 1:
        raise QueryError(f"{option} {text!r} must be at least one day", hint="e.g. 30d")
    if unit == "m":  # the same day N months later (the 31st becomes the month's last day)
        first = _months_on(since.replace(day=1), count)
        last_day = calendar.monthrange(first.year, first.month)[1]
        return (first.replace(day=min(since.day, last_day)) - since).days
    return count * (7 if unit == "w" else 1)


def forecast_end(as_of: date, *, horizon: str | int | None, to: str | date | None) -> date:
    """The first day after the forecast: ``as_of`` + horizon, or the day after ``to`` (a date,
    or the end of ``as_of``'s month, quarter or year)."""
    if horizon is not None and to is not None:
        raise QueryError("give --horizon or --to, not both")
    if to is None:
        return as_of + timedelta(days=days_in(horizon or "30d", option="--horizon", since=as_of))
    if isinstance(to, date):
        return to + timedelta(days=1)
    period = _ENDS.get(to.strip().lower().replace("_", "-").replace(" ", "-"))
    if period == "month":
        return _months_on(as_of.replace(day=1), 1)
    if period == "quarter":
        return _months_on(as_of.replace(month=(as_of.month - 1) // 3 * 3 + 1, day=1), 3)
    if period == "year":
        return date(as_of.year + 1, 1, 1)
    try:
        return date.fromisoformat(to.strip()) + timedelta(days=1)
    except ValueError:
        raise QueryError(
            f"--to {to!r} is not a date", hint="use YYYY-MM-DD, end-of-month, end-of-quarter"
        ) from None


def _months_on(first: date, months: int) -> date:
    """The 1st of the month ``months`` after ``first``'s."""
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class ForecastResult:
    """Forecasts of some scopes over the same days, with what the CLI shows about them."""

    forecasts: list[ScopeForecast]
    levels: tuple[int, ...]
    by: str | None = None
    others: int = 0

    @property
    def label(self) -> str:
        return self.by or "scope"

    def _name(self, f: ScopeForecast) -> str:
        return f.value if f.value is not None else f.scope

    def table(self) -> pa.Table:
        """One row per scope and currency: the forecast total, its bounds, previous spend."""
        rows = []
        for f in self.forecasts:
            row: dict[str, Any] = {
                self.label: self._name(f), "currency": f.currency, "from": f.start,
                "to": f.end - timedelta(days=1), "previous": f.previous, "forecast": f.expected,
            }  # fmt: skip
            row |= _bounds(f.low, f.high, self.levels)
            row |= {"recurring": f.recurring, "model": f.model}
            row["backtest"] = _short(f) if f.backtest else None
            row["note"] = "; ".join(f.notes) or None
            rows.append(row)
        return _arrow(rows, self._columns(["from", "to", "previous", "forecast"], "recurring"))

    def daily(self) -> pa.Table:
        """One row per scope, currency and forecast day."""
        rows = []
        for f in self.forecasts:
            for d in f.days:
                row: dict[str, Any] = {self.label: self._name(f), "currency": f.currency,
                                       "day": d.day, "forecast": d.expected}  # fmt: skip
                row |= _bounds(d.low, d.high, self.levels)
                row["recurring"] = d.recurring
                rows.append(row)
        return _arrow(rows, self._columns(["day", "forecast"], "recurring"))

    def backtests(self) -> pa.Table:
        """One row per scope and currency: ETS and seasonal-naive MAPE and the verdict."""
        rows = []
        for f in self.forecasts:
            b = f.backtest
            rows.append({
                self.label: self._name(f), "currency": f.currency, "history_days": f.history_days,
                "horizon": b.horizon if b else None, "cutoffs": len(b.cutoffs) if b else 0,
                "days_scored": b.days_scored if b else 0, "zero_days": b.zero_days if b else 0,
                "ets_mape": _round(b.model_mape if b else None),
                "seasonal_naive_mape": _round(b.baseline_mape if b else None),
                f"coverage_{min(self.levels)}": _round(b.coverage if b else None),
                f"total_coverage_{min(self.levels)}": _round(b.total_coverage if b else None),
                "interval_scale": _round(b.scale if b else None),
                "winner": "tie" if b and b.tie else str(b.winner) if b and b.winner else None,
                "verdict": b.verdict() if b else "not backtested",
            })  # fmt: skip
        return _arrow(rows, [self.label, "currency", "verdict"])

    def _columns(self, dated: list[str], last: str) -> list[str]:
        bounds = [f"{side}_{level}" for level in self.levels for side in ("low", "high")]
        return [self.label, "currency", *dated, *bounds, last]

    def losers(self) -> list[str]:
        """A plain line for every scope where seasonal-naive beat ETS in the backtest."""
        out = []
        for f in self.forecasts:
            if f.backtest is not None and f.backtest.model_wins is False:
                out.append(f"{self.label} {self._name(f)} ({f.currency}): {f.backtest.verdict()}")
        return out


def _short(f: ScopeForecast) -> str:
    b = f.backtest
    if b is None or b.model_wins is None:
        return "not backtested"
    if b.tie:
        return "tie"
    return "ETS wins" if b.model_wins else "seasonal-naive wins"


def _bounds(
    low: dict[int, Decimal], high: dict[int, Decimal], levels: Sequence[int]
) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for level in levels:
        out[f"low_{level}"], out[f"high_{level}"] = low[level], high[level]
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _arrow(rows: list[dict[str, Any]], columns: list[str]) -> pa.Table:
    """Rows as Arrow; money exact decimals (forecasts are whole cents, history is exact)."""
    import pyarrow as pa

    if not rows:
        return pa.table({name: pa.array([], pa.string()) for name in columns})
    data = {name: [row[name] for row in rows] for name in rows[0]}
    fields = [
        pa.field(name, pa.decimal128(38, 18))
        if any(isinstance(v, Decimal) for v in values)
        else pa.field(name, pa.array(values).type)
        for name, values in data.items()
    ]
    return pa.table(data, schema=pa.schema(fields))
