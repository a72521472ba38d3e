from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifinops.errors import AifinopsError
from aifinops.model.timewindow import Granularity, Window, parse_period, resolve_window

TODAY = date(2026, 11, 23)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-10", date(2026, 10, 1), date(2026, 11, 1)),
        ("2026-12", date(2026, 12, 1), date(2027, 1, 1)),
        ("2026-Q3", date(2026, 7, 1), date(2026, 10, 1)),
        ("2026", date(2026, 1, 1), date(2027, 1, 1)),
        ("2026-10-05", date(2026, 10, 5), date(2026, 10, 6)),
        ("last-month", date(2026, 10, 1), date(2026, 11, 1)),
        ("this-month", date(2026, 11, 1), date(2026, 12, 1)),
        ("mtd", date(2026, 11, 1), date(2026, 11, 24)),
        ("30d", date(2026, 10, 25), date(2026, 11, 24)),
        ("2w", date(2026, 11, 10), date(2026, 11, 24)),
        ("3m", date(2026, 9, 1), date(2026, 11, 24)),
        ("last-quarter", date(2026, 7, 1), date(2026, 10, 1)),
        ("ytd", date(2026, 1, 1), date(2026, 11, 24)),
        ("last-year", date(2025, 1, 1), date(2026, 1, 1)),
    ],
)
def test_periods(text: str, start: date, end: date) -> None:
    assert parse_period(text, today=TODAY) == Window(start, end)


@pytest.mark.parametrize("text", ["2026-13", "yesterday-ish", "0d", "20261"])
def test_bad_periods_say_what_is_accepted(text: str) -> None:
    with pytest.raises(AifinopsError, match="YYYY-MM"):
        parse_period(text, today=TODAY)


def test_to_is_inclusive_and_from_to_equals_the_month() -> None:
    window = resolve_window(period=None, start="2026-10-01", end="2026-10-31", today=TODAY)
    assert window == parse_period("2026-10", today=TODAY)


def test_period_and_from_are_exclusive() -> None:
    with pytest.raises(AifinopsError, match="not both"):
        resolve_window(period="2026-10", start="2026-10-01", end=None, today=TODAY)


def test_a_window_cannot_end_before_it_starts() -> None:
    with pytest.raises(AifinopsError, match="before it starts"):
        resolve_window(period=None, start="2026-10-05", end="2026-10-01", today=TODAY)


def test_previous_month_is_a_calendar_month() -> None:
    assert parse_period("2026-03", today=TODAY).previous() == Window(
        date(2026, 2, 1), date(2026, 3, 1)
    )


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), st.integers(1, 400))
def test_relative_days_cover_exactly_n_days_ending_today(today: date, n: int) -> None:
    window = parse_period(f"{n}d", today=today)
    assert window.days == n
    assert window.end is not None and window.end.toordinal() == today.toordinal() + 1


def test_granularity_parser() -> None:
    assert Granularity.parse("Daily") is Granularity.DAY
    assert Granularity.parse("monthly") is Granularity.MONTH
    with pytest.raises(AifinopsError):
        Granularity.parse("hourly")
