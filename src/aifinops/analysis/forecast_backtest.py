"""Rolling-origin backtest of a daily spend forecast against a seasonal-naive baseline.

For each cut-off ``c`` (up to ``origins`` of them, evenly spread over the history, the last one
``horizon`` days before its end) the model is fitted on the days before ``c`` and forecasts the
next ``horizon`` days, exactly as a real forecast would be made; seasonal-naive (each day repeats
the same weekday of the week before the cut-off) forecasts the same days. Each needs at least
``MIN_TRAIN_SEASONS`` seasons (28 days) of training data.

Score: MAPE, the mean of ``|actual - forecast| / |actual|`` over every forecast day of every
cut-off, in percent. Days whose actual spend is zero have no percentage error: they are left
out of both models' MAPE and counted (``zero_days``). The model wins when its MAPE is lower;
within ``TIE`` (0.005 percentage points, e.g. a flat daily fee both forecast exactly) they tie.
``coverage`` is the share of those days whose actual spend fell inside the model's interval at
the lowest requested level (an honest 80% interval holds about 80%); ``total_coverage`` the
share of cut-offs whose actual total over the horizon fell inside the interval of the total
(few, overlapping windows on a short history: a rough figure).

``scale`` calibrates the intervals (split-conformal style): the factor by which the model's
simulated deviations must be stretched, or shrunk, for ``level`` % of the backtest's days to fall
inside. Forecasts stretch their paths by it, so a scope whose history held surprises its
residuals do not show (level shifts, a trend the damped model under-extrapolates) gets wider
intervals, and one whose residuals hold a one-off jump that did not come back narrower ones;
the factor is kept within ``SCALE_BOUNDS`` (a quarter to four times).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aifinops.analysis.forecast_model import Floats, ForecastModel, fit, seasonal_naive

MIN_TRAIN_SEASONS = 4
#: Sample paths per cut-off for the coverage figure (a check, not the forecast itself).
BACKTEST_PATHS = 400
#: Fewer scored days than this: the intervals are not calibrated (scale 1).
MIN_CALIBRATION_DAYS = 20
#: The calibration stretches intervals by at most 4x and shrinks them to a quarter at most, so
#: a few odd days (a step in a flat series) cannot explode or collapse them.
SCALE_BOUNDS = (0.25, 4.0)
#: MAPEs closer than this (percentage points) tie; a tie is no reason to distrust ETS.
TIE = 0.005


@dataclass(frozen=True)
class Backtest:
    """How ETS and seasonal-naive did on the history."""

    horizon: int
    cutoffs: tuple[int, ...]
    days_scored: int
    zero_days: int
    model_mape: float | None
    baseline_mape: float | None
    coverage: float | None
    level: int
    note: str | None = None
    #: Share of cut-offs whose actual total over the horizon fell inside the model's interval.
    total_coverage: float | None = None
    #: How much the model's intervals must stretch (or shrink) to hold ``level`` % of the
    #: backtest's days.
    scale: float = 1.0

    @property
    def tie(self) -> bool:
        """Both scored the same, to ``TIE`` percentage points (e.g. a constant daily fee)."""
        if self.model_mape is None or self.baseline_mape is None:
            return False
        return abs(self.model_mape - self.baseline_mape) < TIE

    @property
    def model_wins(self) -> bool | None:
        """True when ETS beat (or tied with) seasonal-naive, None when nothing was scored."""
        if self.model_mape is None or self.baseline_mape is None:
            return None
        return self.tie or self.model_mape < self.baseline_mape

    @property
    def winner(self) -> ForecastModel | None:
        wins = self.model_wins
        if wins is None:
            return None
        return ForecastModel.ETS if wins else ForecastModel.SEASONAL_NAIVE

    def verdict(self) -> str:
        """One plain sentence: who won, by how much, and which forecast to trust."""
        if self.model_mape is None or self.baseline_mape is None:
            return self.note or "not backtested"
        if self.tie:
            return f"ETS and seasonal-naive tie (MAPE {self.model_mape:.2f}%): either will do"
        places = 1 if f"{self.model_mape:.1f}" != f"{self.baseline_mape:.1f}" else 2
        scores = f"MAPE {self.model_mape:.{places}f}% vs {self.baseline_mape:.{places}f}%"
        if self.model_wins:
            return f"ETS beats seasonal-naive ({scores}): trust ETS"
        return (
            f"ETS does NOT beat seasonal-naive ({scores}): trust seasonal-naive here "
            "(--model seasonal-naive, or auto)"
        )


def backtest(
    y: Floats,
    horizon: int,
    *,
    season: int,
    origins: int,
    level: int,
) -> Backtest:
    """Backtest ETS against seasonal-naive on ``y`` (daily values, oldest first)."""
    min_train = MIN_TRAIN_SEASONS * season
    tested = min(horizon, len(y) - min_train)
    if tested < 1 or origins < 1:
        short = f"not backtested: {len(y)} days of history, needs at least {min_train + 1}"
        return Backtest(horizon, (), 0, 0, None, None, None, level, short)
    cutoffs = _cutoffs(min_train, len(y) - tested, origins)
    cuts = [_score(y, cut, tested, season, level) for cut in cutoffs]
    zero_days = sum(c.zero_days for c in cuts)
    scored_days = sum(len(c.model) for c in cuts)
    if not scored_days:
        undefined = "not backtested: every tested day had zero spend (MAPE is undefined)"
        return Backtest(tested, cutoffs, 0, zero_days, None, None, None, level, undefined)
    note = None if tested == horizon else f"backtest horizon cut to {tested} days by the history"
    return Backtest(
        horizon=tested,
        cutoffs=cutoffs,
        days_scored=scored_days,
        zero_days=zero_days,
        model_mape=_mean_pct([c.model for c in cuts]),
        baseline_mape=_mean_pct([c.baseline for c in cuts]),
        coverage=_mean_pct([c.inside for c in cuts]),
        level=level,
        note=note,
        total_coverage=_mean_pct([np.array([float(c.total_inside)]) for c in cuts]),
        scale=_scale([c.misses for c in cuts], level),
    )


@dataclass(frozen=True)
class _Cut:
    """One cut-off's errors: per scored day (actual not zero) and of the horizon's total."""

    model: Floats
    baseline: Floats
    inside: Floats
    total_inside: bool
    zero_days: int
    #: Each scored day's error over its interval's half-width (1: on the bound).
    misses: Floats


def _score(y: Floats, cut: int, tested: int, season: int, level: int) -> _Cut:
    actual = y[cut : cut + tested]
    scored = actual != 0
    fitted = fit(y[:cut], tested, season=season, model=ForecastModel.ETS)
    baseline = seasonal_naive(y[:cut], tested, season).mean
    paths = fitted.paths(BACKTEST_PATHS, seed=cut)
    bounds = [(100 - level) / 2, (100 + level) / 2]
    low, high = np.percentile(paths, bounds, axis=0)
    total_low, total_high = np.percentile(paths.sum(axis=1), bounds)
    total = float(actual.sum())
    return _Cut(
        model=_ape(actual[scored], fitted.mean[scored]),
        baseline=_ape(actual[scored], baseline[scored]),
        inside=((actual >= low - 1e-9) & (actual <= high + 1e-9))[scored].astype(np.float64),
        total_inside=bool(total_low - 1e-9 <= total <= total_high + 1e-9),
        zero_days=int((~scored).sum()),
        misses=_misses(actual[scored], fitted.mean[scored], (high - low)[scored] / 2),
    )


def _misses(actual: Floats, mean: Floats, half_width: Floats) -> Floats:
    """``|actual - mean| / half_width`` where the interval has a width (a millionth of the
    forecast at least: a flat fee's interval is a point, and a point cannot be stretched)."""
    wide = half_width > 1e-6 * np.maximum(np.abs(mean), 1.0)
    return np.asarray(np.abs(actual - mean)[wide] / half_width[wide], dtype=np.float64)


def _scale(misses: list[Floats], level: int) -> float:
    """The factor that makes ``level`` % of the days fall inside their stretched interval, kept
    within ``SCALE_BOUNDS``; 1 when fewer than ``MIN_CALIBRATION_DAYS`` days had an interval."""
    joined = np.concatenate(misses) if misses else np.zeros(0)
    if len(joined) < MIN_CALIBRATION_DAYS:
        return 1.0
    low, high = SCALE_BOUNDS
    return float(np.clip(np.quantile(joined, level / 100), low, high))


def _cutoffs(first: int, last: int, count: int) -> tuple[int, ...]:
    """Up to ``count`` cut-offs evenly spread over ``[first, last]``, always ending at ``last``."""
    if last <= first:
        return (last,)
    spread = np.linspace(first, last, num=min(count, last - first + 1))
    return tuple(sorted({round(float(v)) for v in spread}))


def _ape(actual: Floats, forecast: Floats) -> Floats:
    return np.asarray(np.abs(actual - forecast) / np.abs(actual), dtype=np.float64)


def _mean_pct(parts: list[Floats]) -> float:
    joined = np.concatenate(parts).astype(np.float64)
    return float(joined.mean() * 100)
