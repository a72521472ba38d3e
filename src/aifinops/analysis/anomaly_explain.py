"""The full drill-down of one day of one scope, anomalous or not (``aifinops anomalies explain``).

The day is judged exactly as :func:`aifinops.analysis.anomalies.detect` judges it (the same
history, baseline and events), then every drill dimension's values are ranked by how much of the
difference from the expected spend each explains.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from aifinops.analysis.anomalies import thresholds
from aifinops.analysis.anomaly_causes import Cause, Question, cents, drill_down
from aifinops.analysis.anomaly_model import Baseline, Event, scan, score
from aifinops.analysis.anomaly_series import (
    RECURRING,
    USAGE,
    Series,
    SeriesSet,
    load,
    month_before,
)
from aifinops.model.scope import Scope

if TYPE_CHECKING:
    from aifinops.config import Settings
    from aifinops.engine import Engine


@dataclass(frozen=True)
class Explanation:
    """One scope's spend of one currency and kind of charge on ``day`` against its baseline."""

    day: date
    scope: str
    currency: str
    basis: str
    actual: Decimal
    expected: Decimal | None  # None: not judged (too little history)
    score: float | None
    status: str  # "anomaly: first day of a spike", "normal", "not judged: ...", ...
    reference: tuple[date, ...]
    drill: dict[str, tuple[Cause, ...]] = field(default_factory=dict)

    @property
    def impact(self) -> Decimal | None:
        return None if self.expected is None else cents(self.actual - self.expected)


def explain(
    engine: Engine, settings: Settings, *, day: date, scope: Scope | None = None
) -> list[Explanation]:
    """Every kind of charge and currency the scope has on ``day`` (or expected on it)."""
    base = scope or Scope()
    config = settings.anomalies
    dimensions = list(settings.allocation.all_dimensions())
    history = max(config.history_days, 35)
    data = load(
        engine, base, dimensions, settings.report.metric,
        start=day - timedelta(days=history), end=day + timedelta(days=1), watch=[],
    )  # fmt: skip
    out = []
    for series in data.series:
        index = (day - data.days[0]).days
        if index >= series.end:
            continue
        if series.basis == USAGE:
            item = _usage(settings, data, series, index)
        else:
            item = _recurring(data, series, index)
        if not item.actual and not item.expected:
            continue  # nothing of this kind that day, nor expected
        if item.expected is not None:
            question = Question(
                series.scope, series.currency, series.basis, day, item.reference,
                float(item.expected), float(item.actual - item.expected),
            )  # fmt: skip
            drill = drill_down(
                engine, question, dimensions=dimensions, metric=settings.report.metric,
                drill=config.drill_down,
            )  # fmt: skip
            item = replace(item, drill={k: tuple(v) for k, v in drill.causes.items()})
        out.append(item)
    return sorted(out, key=lambda e: (e.currency, e.basis != USAGE))


def _usage(settings: Settings, data: SeriesSet, series: Series, index: int) -> Explanation:
    first = series.first
    weekdays = np.array([d.weekday() for d in data.days[first : series.end]])
    result = scan(series.values[first : series.end], weekdays, thresholds(settings.anomalies))
    t = index - first
    day, actual = data.days[index], series.amount(index)
    base = result.baselines.get(t)
    if base is None:
        return Explanation(day, series.scope.describe(), series.currency, USAGE, actual, None,
                           None, "not judged: too little history", ())  # fmt: skip
    expected = base.expect(day.weekday())
    reference = tuple(data.days[first + i] for i in base.reference)
    return Explanation(
        day, series.scope.describe(), series.currency, USAGE, actual, cents(expected),
        score(float(actual), expected, base.sigma),
        _status(result.events, t, base, data.days[first:]), reference,
    )  # fmt: skip


def _status(events: list[Event], t: int, base: Baseline, days: list[date]) -> str:
    for event in events:
        if event.onset == t:
            return f"anomaly: first day of a {event.kind}"
        if event.onset < t < event.onset + event.days:
            began = days[event.onset]
            if event.baseline is not base:
                return f"at the level of the level shift that began {began} (the baseline now)"
            return f"part of the {event.kind} that began {began}"
    return "normal"


def _recurring(data: SeriesSet, series: Series, index: int) -> Explanation:
    day, actual = data.days[index], series.amount(index)
    ref = month_before(data.days, index)
    if ref is None or ref < series.first:
        return Explanation(day, series.scope.describe(), series.currency, RECURRING, actual,
                           None, None, "not judged: no month before", ())  # fmt: skip
    expected = series.amount(ref)
    return Explanation(day, series.scope.describe(), series.currency, RECURRING, actual,
                       cents(expected), None, "compared with the same day a month before",
                       (data.days[ref],))  # fmt: skip
