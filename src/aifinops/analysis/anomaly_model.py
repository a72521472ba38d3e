"""The detector on one daily spend series: a same-weekday robust baseline, and events.

Pure numpy, no I/O: :mod:`aifinops.analysis.anomalies` feeds it each scope's daily usage-based
spend; the benchmark feeds it generated series. The method (docs/anomalies.md):

* **Expected spend.** The median of the same weekday's spend on the last 3 usable days before it
  (usable: in the last ``history_days`` and not part of an open spike): a Tuesday is compared
  with the three Tuesdays before it, so the weekly profile is whatever the data has lately (no
  additive or multiplicative model of it to go wrong after a change), and a holiday or one odd
  day moves a median of three little. If the last 7 usable days sat above their own
  same-weekday medians (growth, or a rise too small or too gradual to be an anomaly), the median
  is raised by their median excess or their median ratio, whichever raises it more; it is
  never lowered (a baseline too high only delays an alert).
* **Noise.** Every history day is forecast the same way from the days before it (truly out of
  sample); the median absolute deviation of the errors' logarithms ``ln(actual / expected)``
  x 1.4826 is the robust standard deviation ``sigma``. Logarithms: spend noise is
  multiplicative, and a ratio's upper tail is longer than its lower one.
* **Anomaly.** ``score = ln(actual / expected) / sigma``; a day is anomalous when the score
  reaches ``sensitivity`` *and* the day is at least ``min_impact`` and ``min_relative`` above the
  expected spend (below it too, with ``decreases``).
* **Events.** An anomalous day opens an event against the baseline of that moment, frozen. Next
  days that are still anomalous against it (at half the thresholds, so nothing flaps) extend the
  event (no new alert) and stay out of the history. After ``shift_days`` such days the new level
  is a **level shift**: its days join the history, and a same-weekday day from before it counts
  as that day raised by the shift (``max(day + the shift's median excess, day x its median
  ratio)``: right for a machine added and for a business that doubled) until the weekday has
  days of its own since the shift. So the new level is the baseline and only a further change
  alerts. When spend drops back below the frozen baseline's thresholds the event ends; a level
  shift that ends is taken out of the history again, so the baseline returns to the level
  before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution x this = its standard deviation
SIGMA_FLOOR = 0.005  # relative: spend that never moves still has rounding and price changes
NEW_SPEND = 0.005  # expected below half a cent: any spend is new spend
SAME_WEEKDAYS = 3  # same-weekday days a day's expected spend is the median of
MIN_ERRORS = 7  # history days with a forecast of their own needed to measure the noise
LEAST_SHARE = 0.01  # a day of no spend, in log terms, is 1% of the expected spend
CONTINUE = 0.5  # an open event goes on while a day passes this share of every threshold


@dataclass(frozen=True)
class Thresholds:
    sensitivity: float = 5.0
    min_impact: float = 200.0
    min_relative: float = 0.2
    history_days: int = 56
    min_history_days: int = 21
    shift_days: int = 3
    decreases: bool = False


@dataclass(frozen=True)
class Baseline:
    """Expected spend per weekday (Monday first), as judged on one day and frozen."""

    expected: Floats
    sigma: float  # robust standard deviation of ln(actual / expected)
    history: int  # usable history days it rests on
    reference: tuple[int, ...] = ()  # the same-weekday days it compares the day with

    def expect(self, weekday: int) -> float:
        value = float(self.expected[weekday])
        return value if np.isfinite(value) else 0.0


@dataclass
class Event:
    """A run of anomalous days judged against the baseline frozen at its first day."""

    onset: int
    direction: int  # +1 above expected, -1 below
    baseline: Baseline
    actual: float
    expected: float
    score: float | None  # None: new spend (nothing expected)
    days: int = 1
    total: float = 0.0  # actual - expected over its days
    shift: bool = False  # lasted shift_days: its level became the baseline
    end: int | None = None  # first day after it
    excess: list[float] = field(default_factory=list)  # actual - expected, per day
    ratio: list[float] = field(default_factory=list)  # actual / expected, per day

    def raise_(self, value: float) -> float:
        """A day from before this level shift, as it would be at the new level."""
        delta = float(np.median(self.excess))
        ratio = float(np.median(self.ratio)) if self.ratio else 1.0
        return max(value + delta, value * ratio)  # the higher: never a false rise after it

    @property
    def kind(self) -> str:
        if self.score is None:
            return "new spend"
        return "level shift" if self.shift else "spike"


@dataclass
class Scan:
    """A scanned series: its events from ``start`` on, and the baseline each judged day was
    judged against (an open spike's days: the one frozen at its first day)."""

    events: list[Event]
    baselines: dict[int, Baseline]

    def judged(self, start: int = 0) -> int:
        """Days judged from ``start`` on."""
        return sum(1 for t in self.baselines if t >= start)


@dataclass
class _State:
    values: Floats
    weekdays: Ints
    th: Thresholds
    excluded: NDArray[np.bool_] = field(init=False)
    shifts: list[Event] = field(default_factory=list)  # open level shifts
    pending: Event | None = None  # open, not yet a level shift
    events: list[Event] = field(default_factory=list)
    forecasts: dict[int, float | None] = field(default_factory=dict)  # day -> its own forecast
    medians: dict[int, float | None] = field(default_factory=dict)  # day -> same-weekday median

    def __post_init__(self) -> None:
        self.excluded = np.zeros(len(self.values), dtype=np.bool_)

    def forget(self, since: int) -> None:
        """History changed from day ``since`` on: forecasts of those days on are stale."""
        self.forecasts = {d: f for d, f in self.forecasts.items() if d < since}
        self.medians = {d: f for d, f in self.medians.items() if d < since}


def scan(values: Floats, weekdays: Ints, th: Thresholds, *, start: int = 0) -> Scan:
    """Judge every day of ``values`` from ``start`` on (earlier days are history only)."""
    state = _State(values.astype(np.float64), weekdays.astype(np.int64), th)
    judged: dict[int, Baseline] = {}
    for t in range(len(values)):
        _continue_events(state, t)
        if state.pending is not None:
            judged[t] = state.pending.baseline
            continue
        base = baseline(state, t)
        if base is None:
            continue
        judged[t] = base
        exp = base.expect(int(state.weekdays[t]))
        direction = anomalous(float(state.values[t]), exp, base.sigma, th)
        if direction:
            _open(state, t, base, exp, direction)
    events = [*state.events, *state.shifts, *([state.pending] if state.pending else [])]
    reported = sorted((e for e in events if e.onset >= start), key=lambda e: e.onset)
    return Scan(reported, judged)


def anomalous(
    actual: float, expected: float, sigma: float, th: Thresholds, *, scale: float = 1.0
) -> int:
    """+1 (above), -1 (below, only with ``decreases``) or 0; ``scale`` < 1 lowers every
    threshold (events continue at half of them, so a level shift does not flap)."""
    impact = actual - expected
    least = th.min_impact * scale
    if expected < NEW_SPEND:
        return 1 if impact >= least else 0
    relative = impact / expected
    z = _log_ratio(actual, expected) / max(sigma, SIGMA_FLOOR)
    big = th.min_relative * scale, th.sensitivity * scale
    if impact >= least and relative >= big[0] and z >= big[1]:
        return 1
    if th.decreases and -impact >= least and -relative >= big[0] and -z >= big[1]:
        return -1
    return 0


def score(actual: float, expected: float, sigma: float) -> float | None:
    """The robust z-score of a day; None where nothing was expected (new spend)."""
    if expected < NEW_SPEND:
        return None
    return _log_ratio(actual, expected) / max(sigma, SIGMA_FLOOR)


def _log_ratio(actual: float, expected: float) -> float:
    """``ln(actual / expected)``, a day of no spend counted as 1% of the expected spend."""
    return float(np.log(max(actual, LEAST_SHARE * expected) / expected))


def _open(state: _State, t: int, base: Baseline, exp: float, direction: int) -> None:
    actual = float(state.values[t])
    state.pending = Event(
        t, direction, base, actual, exp, score(actual, exp, base.sigma), total=actual - exp
    )
    _record(state.pending, actual, exp)
    state.excluded[t] = True


def _record(event: Event, actual: float, expected: float) -> None:
    event.excess.append(actual - expected)
    if expected > NEW_SPEND:
        event.ratio.append(actual / expected)


def _continue_events(state: _State, t: int) -> None:
    """Extend or end the open events with day ``t`` (each against its own frozen baseline)."""
    value, weekday = float(state.values[t]), int(state.weekdays[t])
    for event in [*state.shifts, *([state.pending] if state.pending else [])]:
        exp = event.baseline.expect(weekday)
        going = anomalous(value, exp, event.baseline.sigma, state.th, scale=CONTINUE)
        if going == event.direction:
            event.days += 1
            event.total += value - exp
            if not event.shift:
                _record(event, value, exp)
                state.excluded[t] = True
                if event.days >= state.th.shift_days:
                    _confirm(state, event)
        else:
            _end(state, event, t)


def _confirm(state: _State, event: Event) -> None:
    event.shift = True
    state.excluded[event.onset : event.onset + event.days] = False
    state.shifts.append(event)
    state.pending = None
    state.forget(event.onset)


def _end(state: _State, event: Event, t: int) -> None:
    event.end = t
    state.events.append(event)
    if event is state.pending:
        state.pending = None
        return
    state.shifts.remove(event)
    later = min((e.onset for e in state.shifts if e.onset > event.onset), default=t)
    state.excluded[event.onset : later] = True  # back to the level before it
    state.forget(event.onset)


def baseline(state: _State, t: int) -> Baseline | None:
    """The baseline for day ``t``: same-weekday medians raised to the recent level, and the
    noise of the history's own forecasts."""
    th = state.th
    lo = max(0, t - th.history_days)
    usable = [int(d) for d in np.arange(lo, t)[~state.excluded[lo:t]]]
    if len(usable) < th.min_history_days:
        return None
    forecasts = [(day, f) for day in usable if (f := _forecast(state, day)) is not None]
    if len(forecasts) < MIN_ERRORS:
        return None
    error = np.array([_log_ratio(float(state.values[d]), f) for d, f in forecasts if f > NEW_SPEND])
    spread = float(np.median(np.abs(error - np.median(error)))) if len(error) else 0.0
    sigma = max(MAD_TO_SIGMA * spread, SIGMA_FLOOR)  # no spend expected yet: the floor
    lift = _lift(state, usable)
    expected = np.full(7, np.nan)
    reference: tuple[int, ...] = ()
    for weekday in range(7):
        target = t + (weekday - int(state.weekdays[t])) % 7  # the next day of that weekday
        value, days = _same_weekday(state, target, lo)
        if value is not None:
            expected[weekday] = _lifted(value, lift)
        if target == t:
            reference = days
    return Baseline(expected, sigma, len(usable), reference)


def _forecast(state: _State, day: int) -> float | None:
    """A history day's own forecast, made as the day itself would have been judged, cached."""
    if day not in state.forecasts:
        lo = max(0, day - state.th.history_days)
        value, days = _same_weekday(state, day, lo)
        if len(days) < 2 or value is None:
            state.forecasts[day] = None
        else:
            usable = [int(d) for d in np.arange(lo, day)[~state.excluded[lo:day]]]
            state.forecasts[day] = _lifted(value, _lift(state, usable))
    return state.forecasts[day]


def _lift(state: _State, usable: list[int]) -> tuple[float, float]:
    """How far the last 7 usable days sat above their same-weekday medians: the median excess
    and the median ratio (0 and 1 when they sat at or below them)."""
    excess, ratio = [], []
    for day in usable[-7:]:
        median = _median(state, day)
        if median is not None:
            excess.append(float(state.values[day]) - median)
            if median > NEW_SPEND:
                ratio.append(float(state.values[day]) / median)
    if len(excess) < 4 or float(np.median(excess)) <= 0:
        return 0.0, 1.0
    return float(np.median(excess)), float(np.median(ratio)) if ratio else 1.0


def _lifted(value: float, lift: tuple[float, float]) -> float:
    """A same-weekday median raised to the recent level: by the excess or the ratio, whichever
    is more (right for a machine added on every day and for a business grown by a share)."""
    excess, ratio = lift
    return max(value + excess, value * ratio)


def _median(state: _State, day: int) -> float | None:
    if day not in state.medians:
        value, days = _same_weekday(state, day, max(0, day - state.th.history_days))
        state.medians[day] = value if len(days) >= 2 else None
    return state.medians[day]


def _same_weekday(state: _State, target: int, lo: int) -> tuple[float | None, tuple[int, ...]]:
    """Median of the last usable days of ``target``'s weekday before min(target, today), each
    raised by the level shifts that began after it (and by ``target``)."""
    days: list[int] = []
    day = target - 7
    while day >= lo and len(days) < SAME_WEEKDAYS:
        if day < len(state.excluded) and not state.excluded[day]:
            days.append(day)
        day -= 7
    if not days:
        return None, ()
    values = []
    for day in days:
        value = float(state.values[day])
        for shift in state.shifts:
            if day < shift.onset <= target:
                value = shift.raise_(value)
        values.append(value)
    return float(np.median(values)), tuple(sorted(days))
