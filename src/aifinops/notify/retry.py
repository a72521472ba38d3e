"""Tries with exponential backoff and jitter."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from aifinops.notify.http import SendError

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What the last try gave: a value, or the error that ended the tries."""

    value: T | None
    error: SendError | None
    attempts: int


def backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait after try ``attempt`` (1-based): ``base * 2**(attempt-1)`` capped at
    ``cap``, of which a random half (jitter, so retrying clients do not stampede together)."""
    delay = min(cap, base * 2.0 ** (attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)


def with_retries(
    action: Callable[[], T],
    *,
    attempts: int,
    base: float,
    cap: float,
    on_attempt: Callable[[int, SendError | None], None] | None = None,
) -> Outcome[T]:
    """Call ``action`` until it returns, a failure is not retryable, or ``attempts`` are used."""
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    attempt = 0
    while True:
        attempt += 1
        try:
            value = action()
        except SendError as exc:
            if on_attempt is not None:
                on_attempt(attempt, exc)
            if not exc.retryable or attempt == attempts:
                return Outcome(None, exc, attempt)
            time.sleep(backoff(attempt, base, cap))
            continue
        if on_attempt is not None:
            on_attempt(attempt, None)
        return Outcome(value, None, attempt)
