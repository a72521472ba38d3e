"""The demo's calendar: consecutive UTC months counted in hours from the first one's start.

Resources run over half-open hour ranges of this timeline, optionally only in some hours of the
week (``Mask``); the number of hours a resource runs in a month is a difference of prefix sums,
so the generator can size the company before writing a single row.
"""

from __future__ import annotations

import calendar
import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

HOUR_US = 3_600_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Mask(StrEnum):
    """Hours of the week a resource runs."""

    ALL = "all"
    WEEKDAYS = "weekdays"  # Monday to Friday, all day (autoscaled capacity)
    OFFICE = "office"  # Monday to Friday, 07:00-21:00 UTC (developer boxes)


@dataclass(frozen=True)
class Month:
    index: int
    start: date
    hour0: int  # first hour of the month on the timeline
    hours: int

    @property
    def days(self) -> int:
        return self.hours // 24

    @property
    def hour1(self) -> int:
        return self.hour0 + self.hours

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m}"

    @property
    def start_us(self) -> int:
        moment = datetime(self.start.year, self.start.month, 1, tzinfo=UTC)
        return (moment - _EPOCH) // timedelta(microseconds=1)

    def stamps(self, iso: bool) -> pa.Array:
        """Text of every hour boundary of the month, ``0 .. hours`` inclusive."""
        first = datetime(self.start.year, self.start.month, 1)
        pattern = "%Y-%m-%dT%H:%M:%SZ" if iso else "%Y-%m-%d %H:%M:%S"
        return pa.array(
            [(first + timedelta(hours=h)).strftime(pattern) for h in range(self.hours + 1)]
        )


def _add_months(first: date, count: int) -> date:
    serial = first.year * 12 + first.month - 1 + count
    return date(serial // 12, serial % 12 + 1, 1)


@dataclass(frozen=True)
class Timeline:
    months: tuple[Month, ...]

    @classmethod
    def ending(cls, end_month: date, count: int) -> Timeline:
        if count < 1:
            raise ValueError("months must be at least 1")
        first = _add_months(end_month.replace(day=1), 1 - count)
        months: list[Month] = []
        hour0 = 0
        for index in range(count):
            start = _add_months(first, index)
            hours = calendar.monthrange(start.year, start.month)[1] * 24
            months.append(Month(index, start, hour0, hours))
            hour0 += hours
        return cls(tuple(months))

    @property
    def hours(self) -> int:
        return self.months[-1].hour1

    @property
    def last(self) -> Month:
        return self.months[-1]

    def mask(self, kind: Mask) -> NDArray[np.bool_]:
        return _mask(self.months[0].start, self.hours, kind)

    def prefix(self, kind: Mask) -> NDArray[np.int64]:
        """``prefix[h]`` = running hours of ``kind`` before timeline hour ``h``."""
        return _prefix(self.months[0].start, self.hours, kind)


@functools.cache
def _mask(first: date, hours: int, kind: Mask) -> NDArray[np.bool_]:
    hour = np.arange(hours, dtype=np.int64)
    weekday = (first.weekday() + hour // 24) % 7
    if kind is Mask.ALL:
        return np.ones(hours, dtype=np.bool_)
    working = weekday < 5
    if kind is Mask.WEEKDAYS:
        return working
    clock = hour % 24
    return working & (clock >= 7) & (clock < 21)


@functools.cache
def _prefix(first: date, hours: int, kind: Mask) -> NDArray[np.int64]:
    counts = np.zeros(hours + 1, dtype=np.int64)
    np.cumsum(_mask(first, hours, kind), out=counts[1:])
    return counts
