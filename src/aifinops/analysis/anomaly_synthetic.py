"""Generated daily spend series for measuring the anomaly detector (tests and the benchmark).

:func:`normal_series` is anomaly-free by construction: a level between $300 and $100k a day, a
weekly profile (flat, weekdays-heavy like developer boxes, or a random one within +-15%), a trend
of -5% to +15% a month, day-to-day noise of 2% to 12% with heavier tails than a normal
distribution (Student t, 6 degrees of freedom by default), and up to two level shifts of 3% to
12% (a resource added or removed: business as usual, under any sensible alert threshold).
:func:`with_anomaly` adds one anomaly to such a series: a spike of 1-2 days or a level shift that
stays, 30% to 300% of the level. Every draw comes from ``numpy.random.default_rng(seed)``: the
same seed, the same series.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


@dataclass(frozen=True)
class Generated:
    values: Floats
    weekdays: Ints
    onset: int | None = None  # the planted anomaly's first day
    kind: str | None = None  # "spike" | "level shift"
    days: int = 0  # spike length


def normal_series(seed: int, days: int = 120, *, tails: float = 6.0) -> Generated:
    """``tails``: degrees of freedom of the noise's Student t (lower: heavier tails; inf:
    Gaussian)."""
    rng = np.random.default_rng(seed)
    level = 10 ** rng.uniform(2.5, 5.0)
    weekdays = (np.arange(days) + int(rng.integers(0, 7))) % 7
    profile = _profile(rng)[weekdays]
    trend = (1 + rng.uniform(-0.05, 0.15)) ** (np.arange(days) / 30.4)
    sigma = rng.uniform(0.02, 0.12)
    draws = rng.standard_normal(days) if np.isinf(tails) else rng.standard_t(tails, days)
    unit = 1.0 if np.isinf(tails) else np.sqrt((tails - 2) / tails)  # t has variance df/(df-2)
    noise = np.exp(sigma * unit * draws)
    shifts = np.ones(days)
    for _ in range(int(rng.integers(0, 3))):
        at = int(rng.integers(days // 4, days))
        shifts[at:] *= 1 + rng.choice([-1, 1]) * rng.uniform(0.03, 0.12)
    values = level * profile * trend * noise * shifts
    return Generated(np.round(values, 2), weekdays.astype(np.int64))


def with_anomaly(
    seed: int, days: int = 120, *, judged_from: int = 60, tails: float = 6.0
) -> Generated:
    """A normal series with one spike or level shift starting on a day from ``judged_from``."""
    base = normal_series(seed, days, tails=tails)
    rng = np.random.default_rng([seed, 1])
    onset = int(rng.integers(judged_from, days - 3))
    size = rng.uniform(0.3, 3.0) * float(np.median(base.values[onset - 14 : onset]))
    values = base.values.copy()
    if rng.random() < 0.5:
        length = int(rng.integers(1, 3))
        values[onset : onset + length] += size
        return Generated(values, base.weekdays, onset, "spike", length)
    values[onset:] += size
    return Generated(values, base.weekdays, onset, "level shift", days - onset)


def _profile(rng: np.random.Generator) -> Floats:
    kind = rng.integers(0, 3)
    if kind == 0:
        return np.ones(7)
    if kind == 1:  # weekdays only, or mostly: developer boxes, batch jobs in office hours
        weekend = rng.uniform(0.2, 0.8)
        return np.array([1, 1, 1, 1, 1, weekend, weekend])
    return rng.uniform(0.85, 1.15, 7)
