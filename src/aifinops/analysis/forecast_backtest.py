"""Rolling-origin backtest of a daily spend forecast against a seasonal-naive baseline.

For each cut-off ``c`` (up to ``origins`` of them, evenly spread over the history, the last one
``horizon`` days before its end) the model is fitted on the days before ``c`` and forecasts the
next ``horizon`` days, exactly as a real forecast would be made; seasonal-naive (each day repeats
the same weekday of the week before the cut-off) forecasts the same days. Each needs at least
``MIN_TRAIN_SEASONS`` seasons (28 days) of training data.

Score: MAPE, the mean of ``|actual - forecast| / |actual|`` over every forecast day of every
cut-off, in percent. Days whose actual spend is zero have no percentage error: they are left
out of both models' MAPE and counted (``zero_days``). The model wins when its MAPE is lower.
``coverage`` is the share of those days whose actual spend fell inside the model's interval at
the lowest requested level (an honest 80% interval holds about 80%).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aifinops.analysis.forecast_model import Floats, ForecastModel, fit, seasonal_naive

MIN_TRAIN_SEASONS = 4
#: Sample paths per cut-off for the coverage figure (a check, not the forecast itself).
BACKTEST_PATHS = 400


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

    @property
    def model_wins(self) -> bool | None:
        """True when ETS beat seasonal-naive, None when there was nothing to score."""
        if self.model_mape is None or self.baseline_mape is None:
            return None
        return self.model_mape < self.baseline_mape

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
    model_errors: list[Floats] = []
    baseline_errors: list[Floats] = []
    inside: list[Floats] = []
    zero_days = 0
    for cut in cutoffs:
        actual = y[cut : cut + tested]
        scored = actual != 0
        zero_days += int((~scored).sum())
        fitted = fit(y[:cut], tested, season=season, model=ForecastModel.ETS)
        baseline = seasonal_naive(y[:cut], tested, season).mean
        model_errors.append(_ape(actual[scored], fitted.mean[scored]))
        baseline_errors.append(_ape(actual[scored], baseline[scored]))
        paths = fitted.paths(BACKTEST_PATHS, seed=cut)
        low, high = np.percentile(paths, [(100 - level) / 2, (100 + level) / 2], axis=0)
        inside.append(((actual >= low - 1e-9) & (actual <= high + 1e-9))[scored])
    scored_days = sum(len(e) for e in model_errors)
    if not scored_days:
        undefined = "not backtested: every tested day had zero spend (MAPE is undefined)"
        return Backtest(tested, cutoffs, 0, zero_days, None, None, None, level, undefined)
    note = None if tested == horizon else f"backtest horizon cut to {tested} days by the history"
    return Backtest(
        horizon=tested,
        cutoffs=cutoffs,
        days_scored=scored_days,
        zero_days=zero_days,
        model_mape=_mean_pct(model_errors),
        baseline_mape=_mean_pct(baseline_errors),
        coverage=_mean_pct(inside),
        level=level,
        note=note,
    )


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
