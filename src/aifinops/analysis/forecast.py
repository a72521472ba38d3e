"""Spend forecasts per scope, with prediction intervals and a built-in backtest.

A forecast starts the day after the data ends or on ``as_of``, whichever is earlier (the
*cut-off*): spend counts up to ``min(as_of, last data day + 1)`` and every day from the cut-off
on is forecast. Per billing currency (and per ``--by`` value):

* usage-based spend (and recurring fees charged on most days) is forecast by the model of
  :mod:`aifinops.analysis.forecast_model` (a weekly profile plus ETS, or seasonal-naive);
* recurring charges billed on a few days a month are repeated on their day of each later month
  (:func:`aifinops.analysis.forecast_history.calendar`), so a monthly fee is not smeared over
  every day;
* one-time charges (tax, purchases, credits) are not forecast; the note says how much there
  was in the last month.

Intervals: ``sample_paths`` simulated futures of the usage series (bootstrapped residuals
through the model's psi weights, :meth:`~aifinops.analysis.forecast_model.Fitted.paths`); a
total over several days is the sum along each path, so its interval is that of the sum, not
the sum of daily bounds. Money is exact where it is history (``actual``, recurring charges) and
rounded half-even to the cent where it is an estimate. See docs/forecasting.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING

import numpy as np

from aifinops.analysis.forecast_backtest import Backtest, backtest
from aifinops.analysis.forecast_history import ZERO, History, calendar, load
from aifinops.analysis.forecast_model import Fitted, Floats, ForecastModel, fit
from aifinops.analysis.forecast_report import ForecastResult
from aifinops.config import ForecastSection
from aifinops.errors import QueryError
from aifinops.model.timewindow import Window

if TYPE_CHECKING:
    from aifinops.engine import Engine
    from aifinops.model.metrics import CostMetric
    from aifinops.model.scope import Scope

CENT = Decimal("0.01")


@dataclass(frozen=True)
class TotalForecast:
    """Spend over ``[start, end)`` in one currency: what was spent and what is expected."""

    currency: str
    actual: Decimal
    expected: Decimal
    low: dict[int, Decimal]
    high: dict[int, Decimal]
    model: str
    note: str | None
    through: date


@dataclass(frozen=True)
class DayForecast:
    day: date
    expected: Decimal
    recurring: Decimal
    low: dict[int, Decimal]
    high: dict[int, Decimal]


@dataclass(frozen=True)
class ScopeForecast:
    """The forecast of one scope (or ``--by`` value) and currency over ``[start, end)``."""

    scope: str
    value: str | None
    currency: str
    through: date
    start: date
    end: date
    history_days: int
    model: str
    expected: Decimal
    recurring: Decimal
    low: dict[int, Decimal]
    high: dict[int, Decimal]
    previous: Decimal
    days: tuple[DayForecast, ...]
    notes: tuple[str, ...] = ()
    backtest: Backtest | None = None


@dataclass(frozen=True)
class _Projection:
    """One history projected from the cut-off to ``end``: usage paths and calendar charges."""

    history: History
    cutoff: date
    fitted: Fitted
    paths: Floats
    history_days: int
    recurring: list[Decimal]
    monthly: dict[str, Decimal]
    notes: list[str] = field(default_factory=list)
    backtest: Backtest | None = None

    def total(
        self, first: int, levels: Sequence[int]
    ) -> tuple[Decimal, dict[int, Decimal], dict[int, Decimal]]:
        """Expected total and bounds per level of forecast days ``first..`` (index from cutoff)."""
        recurring = sum(self.recurring[first:], ZERO)
        sums = self.paths[:, first:].sum(axis=1)
        expected = cents(float(self.fitted.mean[first:].sum()), recurring)
        low, high = _bounds(sums, levels, recurring, expected)
        return expected, low, high

    def day(self, index: int, levels: Sequence[int]) -> DayForecast:
        recurring = self.recurring[index]
        expected = cents(float(self.fitted.mean[index]), recurring)
        low, high = _bounds(self.paths[:, index], levels, recurring, expected)
        day = self.cutoff + timedelta(days=index)
        return DayForecast(day, expected, recurring, low, high)


def forecast_total(
    engine: Engine,
    scope: Scope,
    dimensions: Sequence[str],
    metric: CostMetric,
    *,
    start: date,
    end: date,
    as_of: date,
    levels: Sequence[int] = (80, 95),
    options: ForecastSection | None = None,
) -> list[TotalForecast]:
    """Spend of ``scope`` over ``[start, end)`` per billing currency: ``actual`` (exact, up to
    the cut-off), ``expected`` (actual + forecast to ``end``) and its bounds per level.
    ``options``: the workspace's ``[forecast]`` settings (default: the defaults)."""
    options = _options(options, levels)
    if end <= start:
        raise QueryError(f"the period ends ({end}) before it starts ({start})")
    cutoff = _cutoff(engine, scope, as_of)
    if cutoff is None:
        return []
    window = Window(min(start, cutoff - timedelta(days=options.history_days)), cutoff)
    out = []
    for history in load(engine, scope, dimensions, metric, window):
        actual = history.spend(start, min(cutoff, end))
        if end <= cutoff:
            bounds = dict.fromkeys(options.levels, actual)
            out.append(TotalForecast(history.currency, actual, actual, bounds, bounds, "actual",
                                     None, cutoff - timedelta(days=1)))  # fmt: skip
            continue
        projection = _project(history, cutoff, end, options)
        expected, low, high = projection.total(max(0, (start - cutoff).days), options.levels)
        out.append(
            TotalForecast(
                currency=history.currency,
                actual=actual,
                expected=actual + expected,
                low={level: actual + v for level, v in low.items()},
                high={level: actual + v for level, v in high.items()},
                model=projection.fitted.name,
                note="; ".join(projection.notes) or None,
                through=cutoff - timedelta(days=1),
            )
        )
    return out


def forecast(
    engine: Engine,
    scope: Scope,
    dimensions: Sequence[str],
    metric: CostMetric,
    *,
    as_of: date,
    end: date,
    by: str | None = None,
    top: int | None = 10,
    options: ForecastSection | None = None,
) -> ForecastResult:
    """Per-day forecasts from the cut-off to ``end`` (exclusive) of ``scope``, or of each of the
    ``top`` values of ``by`` (a dimension, a column of the scope's table or ``tag:KEY``) with
    the most spend over the history, each with its backtest."""
    options = _options(options, options.levels if options else None)
    levels = tuple(options.levels)
    scope = _widen(scope, dimensions, by)
    cutoff = _cutoff(engine, scope, as_of)
    if cutoff is None:
        return ForecastResult([], levels, by)
    if end <= cutoff:
        raise QueryError(
            f"nothing to forecast: the forecast would end ({end}) before the data's cut-off "
            f"({cutoff})",
            hint="give a later --to or a --horizon of at least one day",
        )
    horizon = (end - cutoff).days
    window = Window(cutoff - timedelta(days=max(options.history_days, horizon)), cutoff)
    histories = load(engine, scope, dimensions, metric, window, by=by)
    chosen = _top(histories, cutoff - timedelta(days=options.history_days), cutoff, top)
    results = []
    for history in chosen:
        projection = _project(history, cutoff, end, options)
        results.append(_scope_forecast(scope, projection, end, levels))
    others = len({h.key for h in histories}) - len({h.key for h in chosen})
    return ForecastResult(results, levels, by, others)


def _scope_forecast(
    scope: Scope, projection: _Projection, end: date, levels: Sequence[int]
) -> ScopeForecast:
    history, cutoff = projection.history, projection.cutoff
    expected, low, high = projection.total(0, levels)
    horizon = (end - cutoff).days
    return ScopeForecast(
        scope=scope.describe(),
        value=history.key,
        currency=history.currency,
        through=cutoff - timedelta(days=1),
        start=cutoff,
        end=end,
        history_days=projection.history_days,
        model=projection.fitted.name,
        expected=expected,
        recurring=sum(projection.recurring, ZERO),
        low=low,
        high=high,
        previous=history.spend(cutoff - timedelta(days=horizon), cutoff),
        days=tuple(projection.day(i, levels) for i in range(horizon)),
        notes=tuple(projection.notes),
        backtest=projection.backtest,
    )


def _project(history: History, cutoff: date, end: date, options: ForecastSection) -> _Projection:
    """Backtest and fit the usage series, simulate its paths (stretched by the backtest's
    calibration) and lay the recurring charges on the calendar."""
    horizon = (end - cutoff).days
    _, series = history.series(cutoff - timedelta(days=options.history_days), cutoff)
    season = options.season_length
    model = ForecastModel.parse(options.model)
    tested = backtest(series, horizon, season=season, origins=options.backtest_origins,
                      level=min(options.levels))  # fmt: skip
    if model is ForecastModel.AUTO:
        model = tested.winner or ForecastModel.ETS
    fitted = fit(series, horizon, season=season, model=model)
    scale = tested.scale if model is ForecastModel.ETS else 1.0
    projected = calendar(history, cutoff, end)
    recurring = [projected.by_day.get(cutoff + timedelta(days=i), ZERO) for i in range(horizon)]
    notes = [n for n in (fitted.note, _one_time_note(history, cutoff)) if n]
    notes += [f"recurring {s} last charged {d}: not projected" for s, d in projected.ended.items()]
    return _Projection(
        history=history,
        cutoff=cutoff,
        fitted=fitted,
        paths=fitted.paths(options.sample_paths, scale=scale),
        history_days=len(series),
        recurring=recurring,
        monthly=projected.monthly,
        notes=notes,
        backtest=tested,
    )


def _one_time_note(history: History, cutoff: date) -> str | None:
    recent = history.one_time_recent(cutoff)
    if not recent:
        return None
    return (
        f"one-time charges (tax, purchases, credits) are not forecast: {recent:,.2f} "
        f"{history.currency} in the 31 days to {cutoff - timedelta(days=1)}"
    )


def _cutoff(engine: Engine, scope: Scope, as_of: date) -> date | None:
    """``min(as_of, last data day + 1)``; None when the scope's table is empty."""
    from aifinops.analysis.scope import last_day

    if not engine.has_table(scope.source):
        raise QueryError(
            f"scope {scope.describe()} reads {scope.source}, which is not there yet",
            hint="run `aifinops allocate` first (see docs/allocation.md)",
        )
    found = engine.execute(last_day(engine, scope).name("last").as_table()).column(0)[0].as_py()
    if found is None:
        return None
    last: date = found.date() if isinstance(found, datetime) else found
    return min(as_of, last + timedelta(days=1))


def _widen(scope: Scope, dimensions: Sequence[str], by: str | None) -> Scope:
    """A ``by`` naming an allocation dimension reads allocated_costs: add it to the scope."""
    if by is None or by not in dimensions or by in scope.dimensions:
        return scope
    return scope.model_copy(update={"dimensions": {**scope.dimensions, by: ("*",)}})


def _top(histories: list[History], start: date, end: date, top: int | None) -> list[History]:
    """The ``top`` values with the most spend in ``[start, end)`` (all currencies of each)."""
    if top is None:
        return histories
    spend: dict[str | None, Decimal] = {}
    for h in histories:
        spend[h.key] = spend.get(h.key, ZERO) + abs(h.spend(start, end))
    keep = set(sorted(spend, key=lambda k: (-spend[k], k or ""))[:top])
    return [h for h in histories if h.key in keep]


def _options(options: ForecastSection | None, levels: Sequence[int] | None) -> ForecastSection:
    options = options or ForecastSection()
    chosen = sorted(set(levels or options.levels))
    for level in chosen:
        if not 0 < level < 100:
            raise QueryError(f"interval level {level} is not between 1 and 99", hint="e.g. 80")
    ForecastModel.parse(options.model)
    return options.model_copy(update={"levels": chosen})


def _bounds(
    totals: Floats, levels: Sequence[int], shift: Decimal, expected: Decimal
) -> tuple[dict[int, Decimal], dict[int, Decimal]]:
    """Central intervals of the simulated ``totals`` (+ ``shift``), each stretched to hold the
    ``expected`` forecast: with skewed residuals (rare large jumps) the mean of one day can lie
    just outside that day's central interval."""
    low: dict[int, Decimal] = {}
    high: dict[int, Decimal] = {}
    for level in levels:
        lo, hi = np.percentile(totals, [(100 - level) / 2, (100 + level) / 2])
        low[level] = min(cents(float(lo), shift), expected)
        high[level] = max(cents(float(hi), shift), expected)
    return low, high


def cents(estimate: float, exact: Decimal = ZERO) -> Decimal:
    """``estimate + exact`` rounded half-even to the cent (a forecast is an estimate)."""
    return (Decimal(repr(estimate)) + exact).quantize(CENT, rounding=ROUND_HALF_EVEN)
