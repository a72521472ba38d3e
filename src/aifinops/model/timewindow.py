"""Time windows: ``--period 2026-10``, ``last-month``, ``30d``, ``--from/--to``.

Every window is a half-open range of UTC dates ``[start, end)``. Parsers take ``today`` as an
argument so they are testable; nothing here reads the clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from aifinops.errors import AifinopsError

_PERIOD_HINT = (
    "use YYYY, YYYY-MM, YYYY-Qn, YYYY-MM-DD, Nd (last N days), Nw, Nm, this-month, last-month, "
    "this-quarter, last-quarter, this-year, last-year, ytd or mtd"
)


@dataclass(frozen=True)
class Window:
    """UTC dates ``start <= d < end``; either bound may be open (None)."""

    start: date | None = None
    end: date | None = None

    def __post_init__(self) -> None:
        if self.start and self.end and self.end <= self.start:
            raise AifinopsError(
                f"the window ends ({self.end}) before it starts ({self.start})",
                hint="check --from/--to",
            )

    @property
    def days(self) -> int | None:
        return (self.end - self.start).days if self.start and self.end else None

    def previous(self) -> Window:
        """The window of the same length just before this one (months stay calendar months)."""
        if self.start is None or self.end is None:
            raise AifinopsError("an open-ended window has no previous window")
        if self.start.day == 1 and self.end.day == 1:
            months = _month_index(self.end) - _month_index(self.start)
            return Window(_add_months(self.start, -months), self.start)
        return Window(self.start - (self.end - self.start), self.start)

    def __str__(self) -> str:
        if self.start is None and self.end is None:
            return "all dates"
        start = self.start.isoformat() if self.start else "…"
        end = (self.end - timedelta(days=1)).isoformat() if self.end else "…"
        return f"{start} to {end}"


class Granularity(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"

    @classmethod
    def parse(cls, text: str) -> Granularity:
        aliases = {"daily": "day", "weekly": "week", "monthly": "month", "quarterly": "quarter",
                   "yearly": "year", "annual": "year", "d": "day", "w": "week", "m": "month",
                   "q": "quarter", "y": "year"}  # fmt: skip
        cleaned = text.strip().lower()
        cleaned = aliases.get(cleaned, cleaned)
        try:
            return cls(cleaned)
        except ValueError:
            raise AifinopsError(
                f"unknown granularity {text!r}", hint="use day, week, month, quarter or year"
            ) from None


def _month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def _add_months(d: date, months: int) -> date:
    index = _month_index(d) + months
    return date(index // 12, index % 12 + 1, 1)


def month_start(d: date) -> date:
    return d.replace(day=1)


def _quarter_start(d: date) -> date:
    return date(d.year, (d.month - 1) // 3 * 3 + 1, 1)


def parse_date(text: str, *, option: str = "date") -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise AifinopsError(f"{option} {text!r} is not a date", hint="write YYYY-MM-DD") from None


_RELATIVE = re.compile(r"^(\d+)\s*([dwm])$")


def _named(text: str, today: date) -> Window | None:
    this_month = month_start(today)
    this_quarter = _quarter_start(today)
    tomorrow = today + timedelta(days=1)
    named = {
        "this-month": Window(this_month, _add_months(this_month, 1)),
        "mtd": Window(this_month, tomorrow),
        "last-month": Window(_add_months(this_month, -1), this_month),
        "this-quarter": Window(this_quarter, _add_months(this_quarter, 3)),
        "last-quarter": Window(_add_months(this_quarter, -3), this_quarter),
        "this-year": Window(date(today.year, 1, 1), date(today.year + 1, 1, 1)),
        "ytd": Window(date(today.year, 1, 1), tomorrow),
        "last-year": Window(date(today.year - 1, 1, 1), date(today.year, 1, 1)),
    }
    return named.get(text.replace("_", "-").replace(" ", "-"))


def _absolute(text: str) -> Window | None:
    if m := re.fullmatch(r"(\d{4})", text):
        year = int(m[1])
        return Window(date(year, 1, 1), date(year + 1, 1, 1))
    if m := re.fullmatch(r"(\d{4})-q([1-4])", text):
        start = date(int(m[1]), (int(m[2]) - 1) * 3 + 1, 1)
        return Window(start, _add_months(start, 3))
    if m := re.fullmatch(r"(\d{4})-(\d{1,2})", text):
        if not 1 <= int(m[2]) <= 12:
            return None
        start = date(int(m[1]), int(m[2]), 1)
        return Window(start, _add_months(start, 1))
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = parse_date(text, option="--period")
        return Window(day, day + timedelta(days=1))
    return None


def parse_period(text: str, *, today: date) -> Window:
    """A named or relative period. ``30d`` is the 30 days up to and including ``today``."""
    cleaned = text.strip().lower()
    if m := _RELATIVE.fullmatch(cleaned):
        count, unit = int(m[1]), m[2]
        if count <= 0:
            raise AifinopsError(f"period {text!r} must be at least 1", hint=_PERIOD_HINT)
        end = today + timedelta(days=1)
        if unit == "m":
            return Window(_add_months(month_start(today), -count + 1), end)
        return Window(end - timedelta(days=count * (7 if unit == "w" else 1)), end)
    window = _named(cleaned, today) or _absolute(cleaned)
    if window is None:
        raise AifinopsError(f"unknown period {text!r}", hint=_PERIOD_HINT)
    return window


def resolve_window(
    *,
    period: str | None,
    start: str | None,
    end: str | None,
    today: date,
) -> Window:
    """Combine ``--period`` with ``--from``/``--to`` (``--to`` is inclusive)."""
    if period and (start or end):
        raise AifinopsError("give --period or --from/--to, not both")
    if period:
        return parse_period(period, today=today)
    first = parse_date(start, option="--from") if start else None
    last = parse_date(end, option="--to") + timedelta(days=1) if end else None
    return Window(first, last)
