"""Daily cost anomalies per scope, each with its root cause and its $ impact.

``detect(engine, settings, as_of=..., days=...)`` judges the last ``days`` days before
``as_of`` (up to the data's last day) of the whole bill and of each value of the watched
dimensions (``[anomalies]``, docs/anomalies.md):

1. daily spend per scope, currency and kind of charge (:mod:`.anomaly_series`);
2. usage-based spend against a weekday-aware robust baseline; a spike or the first day of a new
   level is an anomaly, a level shift then becomes the baseline (:mod:`.anomaly_model`);
   recurring and one-time charges against the same day of the month before;
3. each anomaly drilled down by service, account, resource, region, charge, LLM key and model,
   team, project and model (:mod:`.anomaly_causes`);
4. views of one event in nested scopes (a team and the whole bill, say) merged into one anomaly
   when the same costs moved, and at most ``max_alerts_per_day`` anomalies a day kept.

Amounts are exact sums of the bill; expected amounts come from the float baseline and are
estimates rounded half-even to the cent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from aifinops.analysis.anomaly_causes import (
    Cause,
    DrillDown,
    Question,
    cents,
    check_drill,
    drill_down,
)
from aifinops.analysis.anomaly_model import Event, Thresholds, scan
from aifinops.analysis.anomaly_series import (
    RECURRING,
    USAGE,
    Series,
    SeriesSet,
    judge_recurring,
    load,
    month_before,
    watched,
)
from aifinops.analysis.common import NOT_SET
from aifinops.errors import QueryError
from aifinops.model.scope import Scope
from aifinops.model.timewindow import Window

if TYPE_CHECKING:
    from aifinops.config import AnomaliesSection, Settings
    from aifinops.engine import Engine
    from aifinops.notify import Alert

__all__ = ["RECURRING", "USAGE", "Anomaly", "AnomalyReport", "Cause", "View", "detect",
           "detect_report"]  # fmt: skip

SAME_EVENT = 0.5  # views share at least this much of the smaller one's moved costs
MIN_CAUSE_SHARE = 0.05


@dataclass(frozen=True)
class View:
    """The same event seen in another scope."""

    scope: str
    actual: Decimal
    expected: Decimal
    impact: Decimal
    score: float | None


@dataclass(frozen=True)
class Anomaly:
    """An anomalous day of a scope (the first day of its event) with its drill-down.

    ``kind``: ``spike`` (back to normal after ``days`` days, or still going), ``level shift``
    (a new level that lasted ``shift_days``; the baseline from then on), ``new spend`` (nothing
    was expected) or ``recurring change`` (recurring or one-time charges unlike the month
    before). ``impact`` is the first day's; ``total_impact`` adds every day of the event up to
    the data's last day (``through``). ``score`` is the robust z-score (None for new spend and
    recurring charges). ``causes`` are the top contributors over every drill dimension, ranked
    by impact; ``drill`` holds every value of every dimension.
    """

    day: date
    scope: str
    currency: str
    actual: Decimal
    expected: Decimal
    impact: Decimal
    score: float | None
    causes: tuple[Cause, ...]
    kind: str
    basis: str
    days: int
    total_impact: Decimal
    ongoing: bool
    through: date
    views: tuple[View, ...] = ()
    filter: Scope = field(default_factory=Scope)
    drill: dict[str, tuple[Cause, ...]] = field(default_factory=dict, repr=False)
    atoms: dict[tuple[str, ...], float] = field(default_factory=dict, repr=False)

    @property
    def relative(self) -> float | None:
        """Impact as a share of the expected spend (None when nothing was expected)."""
        return float(self.impact / self.expected) if self.expected > 0 else None

    @property
    def owner(self) -> str | None:
        """The team whose view this is, else the team that explains most of it."""
        team = self.filter.dimensions.get("team")
        if team and len(team) == 1 and not team[0].startswith("("):
            return team[0]
        top = self.drill.get("team", ())
        if top and top[0].share >= SAME_EVENT and not top[0].value.startswith("("):
            return top[0].value
        return None

    def alert(self) -> Alert:
        from aifinops.analysis.anomaly_text import alert

        return alert(self)


@dataclass(frozen=True)
class AnomalyReport:
    """What a check found, what it looked at and what it left out."""

    anomalies: list[Anomaly]
    window: Window  # the days judged
    through: date | None  # the data's last day
    scopes: int  # series judged (scope x currency x kind of charge)
    scope_days: int  # days judged in them (recurring charges: days with a charge then or before)
    flagged: int  # anomalies found in every scope before views were merged
    over_budget: list[Anomaly]  # beyond max_alerts_per_day
    notes: list[str]


def detect(
    engine: Engine,
    settings: Settings,
    *,
    as_of: date,
    days: int,
    scopes: Sequence[Scope] | None = None,
    by: Sequence[str] | None = None,
) -> list[Anomaly]:
    """Anomalies of the ``days`` days before ``as_of`` (see the module docstring)."""
    return detect_report(engine, settings, as_of=as_of, days=days, scopes=scopes, by=by).anomalies


def detect_report(
    engine: Engine,
    settings: Settings,
    *,
    as_of: date,
    days: int,
    scopes: Sequence[Scope] | None = None,
    by: Sequence[str] | None = None,
) -> AnomalyReport:
    """:func:`detect` with what was judged, the freshness of the data and notes."""
    config = settings.anomalies
    if days < 1:
        raise QueryError(f"--days must be at least 1, not {days}")
    dimensions = list(settings.allocation.all_dimensions())
    watch = list(config.dimensions if by is None else by)
    for name in watch:
        watched(name, dimensions)
    check_drill(config.drill_down, dimensions)
    window = Window(as_of - timedelta(days=days), as_of)
    found: list[Anomaly] = []
    seen: set[tuple[str, str, str]] = set()
    report = _Tally()
    for base in scopes or [Scope()]:
        data = _load(engine, settings, base, window, watch)
        report.merge(data)
        for series in data.series:
            key = (series.scope.describe(), series.currency, series.basis)
            if key not in seen:
                seen.add(key)
                found += _judge(engine, settings, data, series, window=window, report=report)
    merged = merge_views(found)
    kept, over = _budget(merged, config.max_alerts_per_day)
    return AnomalyReport(
        kept, window, report.through, report.scopes, report.scope_days, len(found), over,
        report.notes,
    )  # fmt: skip


@dataclass
class _Tally:
    through: date | None = None
    scopes: int = 0
    scope_days: int = 0
    notes: list[str] = field(default_factory=list)

    def merge(self, data: SeriesSet) -> None:
        if data.through and (self.through is None or data.through > self.through):
            self.through = data.through
        self.notes += [n for n in data.notes if n not in self.notes]


def _load(
    engine: Engine, settings: Settings, base: Scope, window: Window, watch: list[str]
) -> SeriesSet:
    assert window.start is not None and window.end is not None
    history = max(settings.anomalies.history_days, 35)  # 35: the same day a month before
    return load(
        engine,
        base,
        list(settings.allocation.all_dimensions()),
        settings.report.metric,
        start=window.start - timedelta(days=history),
        end=window.end,
        watch=watch,
    )


def thresholds(config: AnomaliesSection) -> Thresholds:
    return Thresholds(
        sensitivity=config.sensitivity,
        min_impact=float(config.min_impact),
        min_relative=config.min_relative_pct / 100,
        history_days=config.history_days,
        min_history_days=config.min_history_days,
        shift_days=config.shift_days,
        decreases=config.decreases,
    )


def _judge(
    engine: Engine,
    settings: Settings,
    data: SeriesSet,
    series: Series,
    *,
    window: Window,
    report: _Tally,
) -> list[Anomaly]:
    assert window.start is not None
    start = (window.start - data.days[0]).days
    if series.end <= max(start, series.first):
        return []
    if series.basis == RECURRING:
        found, judged = _recurring(engine, settings, data, series, start)
    else:
        first = series.first
        weekdays = np.array([d.weekday() for d in data.days[first : series.end]])
        result = scan(series.values[first : series.end], weekdays,
                      thresholds(settings.anomalies), start=max(0, start - first))  # fmt: skip
        found = [_usage(engine, settings, data, series, e) for e in result.events]
        judged = result.judged(max(0, start - first))
    report.scopes += judged > 0
    report.scope_days += judged
    return found


def _usage(
    engine: Engine, settings: Settings, data: SeriesSet, series: Series, event: Event
) -> Anomaly:
    first = series.first
    day = data.days[first + event.onset]
    reference = tuple(data.days[first + i] for i in event.baseline.reference)
    question = Question(series.scope, series.currency, USAGE, day, reference, event.expected,
                        event.actual - event.expected)  # fmt: skip
    drill = _drill(engine, settings, question)
    return _anomaly(series, data, question, drill, event)


def _recurring(
    engine: Engine, settings: Settings, data: SeriesSet, series: Series, start: int
) -> tuple[list[Anomaly], int]:
    """Anomalies, and the days judged: those with charges on them or on the day a month before."""
    config = settings.anomalies
    judged = sum(
        1
        for i in range(max(start, series.first), series.end)
        if (ref := month_before(data.days, i)) is not None
        and ref >= series.first
        and (series.values[i] or series.values[ref])
    )
    out = []
    for found in judge_recurring(
        series,
        data.days,
        start,
        min_impact=float(config.min_impact),
        min_relative=config.recurring_min_relative_pct / 100,
        decreases=config.decreases,
    ):
        day, before = data.days[found.index], data.days[found.reference]
        question = Question(series.scope, series.currency, RECURRING, day, (before,),
                            found.expected, found.actual - found.expected)  # fmt: skip
        drill = _drill(engine, settings, question)
        out.append(_anomaly(series, data, question, drill, None))
    return out, judged


def _drill(engine: Engine, settings: Settings, question: Question) -> DrillDown:
    return drill_down(
        engine,
        question,
        dimensions=list(settings.allocation.all_dimensions()),
        metric=settings.report.metric,
        drill=settings.anomalies.drill_down,
    )


def _anomaly(
    series: Series, data: SeriesSet, q: Question, drill: DrillDown, event: Event | None
) -> Anomaly:
    index = (q.day - data.days[0]).days
    actual = series.amount(index)
    expected = cents(q.expected)
    total = cents(event.total) if event else cents(actual - expected)
    return Anomaly(
        day=q.day,
        scope=series.scope.describe(),
        currency=series.currency,
        actual=actual,
        expected=expected,
        impact=cents(actual - expected),
        score=event.score if event else None,
        causes=top_causes(drill),
        kind=event.kind if event else "recurring change",
        basis=series.basis,
        days=event.days if event else 1,
        total_impact=total,
        ongoing=bool(event and event.end is None),
        through=data.days[series.end - 1],
        filter=series.scope,
        drill={k: tuple(v) for k, v in drill.causes.items()},
        atoms=drill.atoms,
    )


def top_causes(drill: DrillDown) -> tuple[Cause, ...]:
    """Per drill dimension (in ``drill_down`` order), its values that explain at least 5% of the
    anomaly, largest first; values that are not set (no resource, no API key) are left out."""
    return tuple(
        cause
        for causes in drill.causes.values()
        for cause in causes
        if cause.share >= MIN_CAUSE_SHARE and cause.value != NOT_SET
    )


def merge_views(found: list[Anomaly]) -> list[Anomaly]:
    """One anomaly per event: views a day apart at most, in the same currency and kind of
    charge, whose moved costs (service, account, resource) overlap by at least half of the
    smaller one's impact are the same event. The view kept first is a team's (it has an owner;
    not ``(unallocated)``), then the largest."""
    groups: list[list[Anomaly]] = []
    for item in sorted(found, key=_primary_order):
        for group in groups:
            if any(_same_event(item, other) for other in group):
                group.append(item)
                break
        else:
            groups.append([item])
    out = []
    for group in groups:
        head, rest = group[0], group[1:]
        views = tuple(View(a.scope, a.actual, a.expected, a.impact, a.score) for a in rest)
        out.append(replace(head, views=views))
    return sorted(out, key=lambda a: (a.day, -abs(a.impact), a.scope))


def _primary_order(item: Anomaly) -> tuple[bool, Decimal, str]:
    team = item.filter.dimensions.get("team", ("(",))[0]
    return (team.startswith("("), -abs(item.impact), item.scope)


def _same_event(a: Anomaly, b: Anomaly) -> bool:
    if (a.currency, a.basis) != (b.currency, b.basis) or abs((a.day - b.day).days) > 1:
        return False
    sign = 1.0 if a.impact >= 0 else -1.0
    if sign * float(b.impact) <= 0:
        return False
    shared = sum(
        min(sign * a.atoms[key], sign * b.atoms[key])
        for key in a.atoms.keys() & b.atoms.keys()
        if sign * a.atoms[key] > 0 and sign * b.atoms[key] > 0
    )
    smaller = min(abs(float(a.impact)), abs(float(b.impact)))
    return smaller > 0 and shared >= SAME_EVENT * smaller


def _budget(found: list[Anomaly], per_day: int) -> tuple[list[Anomaly], list[Anomaly]]:
    kept: list[Anomaly] = []
    over: list[Anomaly] = []
    count: dict[date, int] = {}
    for item in sorted(found, key=lambda a: (a.day, -abs(a.impact))):
        count[item.day] = count.get(item.day, 0) + 1
        (kept if count[item.day] <= per_day else over).append(item)
    return kept, over
