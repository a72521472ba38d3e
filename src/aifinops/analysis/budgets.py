"""Budget status: spend so far in the period, burn rate, forecast at period end, thresholds.

For each ``[[budgets]]`` table, as on day ``as_of``:

* **actual**: the budget's spend (:mod:`aifinops.analysis.budget_spend`) in
  ``[period start, min(as_of, period end))`` -- the ``as_of`` day itself is still running and is
  not counted; data that has not arrived yet (bills lag a day or more) is not guessed: ``through``
  says the last day counted and a note says when the data stops short of ``as_of``;
* **burn rate**: actual / days from the period start to ``through`` (per day, half-even to the
  cent);
* **forecast** at period end: :func:`aifinops.analysis.forecast.forecast_total` over the
  budget's scope (expected total with prediction intervals, estimates rounded to the cent); an
  ``llm_keys`` budget, whose spend is not a cost scope, is projected at its burn rate (no
  interval);
* **thresholds**: those of ``thresholds`` actual spend has reached and those of
  ``forecast_thresholds`` the expected total has reached;
* **state**: ``over`` when actual spend has reached the amount, ``warning`` when any threshold
  is crossed, else ``ok``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from aifinops.analysis.budget_spend import (
    Spend,
    counted_through,
    key_spend,
    last_data_day,
    scope_has_rows,
    scope_spend,
)
from aifinops.errors import ConfigError
from aifinops.model.budgets import HUNDRED, Budget

if TYPE_CHECKING:
    import pyarrow as pa

    from aifinops.analysis.forecast import TotalForecast
    from aifinops.config import ForecastSection, Settings
    from aifinops.engine import Engine
    from aifinops.model.metrics import CostMetric
    from aifinops.model.scope import Scope
    from aifinops.notify.alert import Alert

CENT = Decimal("0.01")
LEVELS = (80, 95)


class BudgetState(StrEnum):
    OK = "ok"
    WARNING = "warning"
    OVER = "over"


@dataclass(frozen=True)
class BudgetStatus:
    """One budget as on ``as_of``. ``end`` is exclusive (the day after the period's last)."""

    budget: Budget
    name: str
    scope: Scope
    start: date
    end: date
    as_of: date
    amount: Decimal
    currency: str
    metric: str
    actual: Decimal
    through: date | None
    burn_rate: Decimal | None
    expected: Decimal | None
    low: dict[int, Decimal]
    high: dict[int, Decimal]
    forecast_model: str | None
    forecast: TotalForecast | None
    crossed: tuple[Decimal, ...]
    forecast_crossed: tuple[Decimal, ...]
    days_left: int
    state: BudgetState
    notes: tuple[str, ...] = field(default=())

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.actual

    @property
    def used_pct(self) -> Decimal:
        return _pct(self.actual, self.amount)

    @property
    def forecast_pct(self) -> Decimal | None:
        return None if self.expected is None else _pct(self.expected, self.amount)

    @property
    def period_label(self) -> str:
        return f"{self.start.isoformat()} to {(self.end - timedelta(days=1)).isoformat()}"

    def alerts(self) -> list[Alert]:
        """The alerts this status raises; see :mod:`aifinops.analysis.budget_alerts`."""
        from aifinops.analysis.budget_alerts import budget_alerts

        return budget_alerts(self)


def budget_status(
    engine: Engine,
    settings: Settings,
    *,
    as_of: date,
    names: Sequence[str] | None = None,
) -> list[BudgetStatus]:
    """The status of every budget (or those ``names``), in the order of ``aifinops.toml``."""
    return [status_of(engine, settings, b, as_of=as_of) for b in select(settings, names)]


def select(settings: Settings, names: Sequence[str] | None) -> list[Budget]:
    """The budgets named (case-insensitive), all when ``names`` is None; unknown names fail."""
    budgets = list(settings.budgets)
    if names is None:
        return budgets
    by_name = {b.name.lower(): b for b in budgets}
    missing = [n for n in names if n.lower() not in by_name]
    if missing:
        known = ", ".join(b.name for b in budgets) or "none: add [[budgets]] to aifinops.toml"
        raise ConfigError(f"no budget named {', '.join(missing)}", hint=f"budgets: {known}")
    return [by_name[n.lower()] for n in names]


def status_of(engine: Engine, settings: Settings, budget: Budget, *, as_of: date) -> BudgetStatus:
    """One budget's status as on ``as_of`` (see the module)."""
    start, end = budget.period_of(as_of)
    run = _Reading(
        engine=engine,
        budget=budget,
        dimensions=list(settings.allocation.all_dimensions()),
        metric=budget.metric or settings.report.metric,
        start=start,
        end=end,
        as_of=as_of,
        forecast=settings.forecast,
    )
    spend = run.spend()
    last = last_data_day(engine, budget)
    through = counted_through(start, run.stop, last)
    actual = spend.total
    burn = _burn(actual, start, through)
    notes = run.notes(spend, last)
    projection = run.projection(actual, burn, through, notes)
    crossed = _reached(budget.thresholds, actual, budget.amount)
    forecast_crossed = (
        ()
        if projection.expected is None
        else _reached(budget.forecast_thresholds, projection.expected, budget.amount)
    )
    return BudgetStatus(
        budget=budget,
        name=budget.name,
        scope=budget.scope,
        start=start,
        end=end,
        as_of=as_of,
        amount=budget.amount,
        currency=budget.currency,
        metric="llm_usage.cost" if budget.counts_llm_usage else run.metric.value,
        actual=actual,
        through=through,
        burn_rate=burn,
        expected=projection.expected,
        low=projection.low,
        high=projection.high,
        forecast_model=projection.model,
        forecast=projection.forecast,
        crossed=crossed,
        forecast_crossed=forecast_crossed,
        days_left=max(0, (end - max(as_of, start)).days),
        state=_state(actual, budget.amount, crossed, forecast_crossed),
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class _Projection:
    """The expected total at period end, its intervals, the method and the full forecast."""

    expected: Decimal | None = None
    low: dict[int, Decimal] = field(default_factory=dict)
    high: dict[int, Decimal] = field(default_factory=dict)
    model: str | None = None
    forecast: TotalForecast | None = None


@dataclass(frozen=True)
class _Reading:
    """One budget read as on ``as_of``: spend counts ``[start, stop)``."""

    engine: Engine
    budget: Budget
    dimensions: list[str]
    metric: CostMetric
    start: date
    end: date
    as_of: date
    forecast: ForecastSection | None = None

    @property
    def stop(self) -> date:
        return max(self.start, min(self.as_of, self.end))

    def spend(self) -> Spend:
        if self.budget.counts_llm_usage:
            return key_spend(self.engine, self.budget, self.start, self.stop)
        return scope_spend(
            self.engine, self.budget, self.dimensions, self.metric, start=self.start, stop=self.stop
        )

    def notes(self, spend: Spend, last: date | None) -> list[str]:
        notes = []
        yesterday = self.stop - timedelta(days=1)
        if self.stop <= self.start:
            notes.append(f"the period starts {self.start}: nothing spent yet")
        elif last is None:
            notes.append("no data yet")
        elif last < yesterday:
            notes.append(
                f"data ends {last}, {(yesterday - last).days} day(s) before the as-of day: "
                "spend after it is not counted yet"
            )
        if spend.unpriced:
            notes.append(
                f"{spend.unpriced} llm_usage row(s) of these keys have no price and are not "
                "counted (see docs/sources/llm.md#prices)"
            )
        if not spend.days and self.stop > self.start and not self._matches_anything():
            what = "API key" if self.budget.counts_llm_usage else "cost row"
            notes.append(f"no {what} ever matched {self.budget.describe_scope()}: check it")
        return notes

    def _matches_anything(self) -> bool:
        return scope_has_rows(self.engine, self.budget, self.dimensions)

    def projection(
        self, actual: Decimal, burn: Decimal | None, through: date | None, notes: list[str]
    ) -> _Projection:
        if self.as_of >= self.end:
            return _Projection(actual, model="period ended")
        if self.budget.counts_llm_usage:
            if burn is None or through is None:
                return _Projection()
            return _Projection(actual + burn * ((self.end - through).days - 1), model="run-rate")
        from aifinops.analysis.forecast import forecast_total

        forecasts = forecast_total(
            self.engine,
            self.budget.scope,
            self.dimensions,
            self.metric,
            start=self.start,
            end=self.end,
            as_of=self.as_of,
            levels=LEVELS,
            options=self.forecast,
        )
        mine = [f for f in forecasts if f.currency.upper() == self.budget.currency]
        if not mine:
            return _Projection()
        found = mine[0]
        if found.note:
            notes.append(f"forecast: {found.note}")
        # The forecast of the days left, on top of the actual counted here (the same rows).
        shift = actual - found.actual
        return _Projection(
            found.expected + shift,
            {level: value + shift for level, value in found.low.items()},
            {level: value + shift for level, value in found.high.items()},
            found.model,
            found,
        )


def _burn(actual: Decimal, start: date, through: date | None) -> Decimal | None:
    if through is None:
        return None
    days = (through - start).days + 1
    return (actual / days).quantize(CENT, rounding=ROUND_HALF_EVEN)


def status_table(statuses: Sequence[BudgetStatus]) -> pa.Table:
    """One row per budget: spend, burn, forecast with intervals, thresholds, state, freshness.
    ``period_end`` is the period's last day; money is exact (forecasts are estimates)."""
    import pyarrow as pa

    money_type = pa.decimal128(38, 18)
    rows = [_row(s) for s in statuses]
    columns = {name: [row[name] for row in rows] for name in _COLUMNS}
    types = dict.fromkeys(_MONEY, money_type) | {"days_left": pa.int64()}
    types |= {name: pa.date32() for name in ("period_start", "period_end", "data_through")}
    types |= {name: pa.decimal128(10, 1) for name in ("used_pct", "forecast_pct")}
    fields = [pa.field(name, types.get(name, pa.string())) for name in _COLUMNS]
    return pa.table(columns, schema=pa.schema(fields))


_MONEY = (
    "amount", "actual", "remaining", "burn_per_day", "forecast",
    *(f"forecast_{side}_{level}" for level in LEVELS for side in ("low", "high")),
)  # fmt: skip
_COLUMNS = (
    "budget", "scope", "period_start", "period_end", "currency", "metric", "amount", "actual",
    "used_pct", "remaining", "burn_per_day", "forecast", "forecast_pct",
    *(f"forecast_{side}_{level}" for level in LEVELS for side in ("low", "high")),
    "forecast_model", "days_left", "crossed", "forecast_crossed", "state", "data_through", "notes",
)  # fmt: skip


def _row(status: BudgetStatus) -> dict[str, object]:
    row: dict[str, object] = {
        "budget": status.name,
        "scope": status.budget.describe_scope(),
        "period_start": status.start,
        "period_end": status.end - timedelta(days=1),
        "currency": status.currency,
        "metric": status.metric,
        "amount": status.amount,
        "actual": status.actual,
        "used_pct": status.used_pct,
        "remaining": status.remaining,
        "burn_per_day": status.burn_rate,
        "forecast": _cents(status.expected),
        "forecast_pct": status.forecast_pct,
        "forecast_model": status.forecast_model,
        "days_left": status.days_left,
        "crossed": ",".join(f"{p}%" for p in status.crossed) or None,
        "forecast_crossed": ",".join(f"{p}%" for p in status.forecast_crossed) or None,
        "state": status.state.value,
        "data_through": status.through,
        "notes": "; ".join(status.notes) or None,
    }
    for level in LEVELS:
        row[f"forecast_low_{level}"] = _cents(status.low.get(level))
        row[f"forecast_high_{level}"] = _cents(status.high.get(level))
    return row


def _cents(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def _reached(percents: tuple[Decimal, ...], spent: Decimal, amount: Decimal) -> tuple[Decimal, ...]:
    return tuple(p for p in percents if spent * HUNDRED >= amount * p)


def _state(
    actual: Decimal,
    amount: Decimal,
    crossed: tuple[Decimal, ...],
    forecast_crossed: tuple[Decimal, ...],
) -> BudgetState:
    if actual >= amount:
        return BudgetState.OVER
    if crossed or forecast_crossed:
        return BudgetState.WARNING
    return BudgetState.OK


def _pct(part: Decimal, whole: Decimal) -> Decimal:
    return (part * HUNDRED / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)


__all__ = ["BudgetState", "BudgetStatus", "budget_status", "select", "status_of", "status_table"]
