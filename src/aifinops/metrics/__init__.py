"""Prometheus metrics: the workspace's analyses as a text exposition (format 0.0.4).

>>> from aifinops import Workspace
>>> from aifinops.metrics import ExpositionCache, exposition
>>> with Workspace("demo-workspace", read_only=True) as ws:   # doctest: +SKIP
...     print(exposition(ws))                                  # every family, computed now
...     cache = ExpositionCache(ws.settings.metrics.cache_seconds)
...     text = exposition(ws, cache=cache)  # what a /metrics route serves on each scrape

Families, labels and settings: docs/metrics.md. ``[metrics] families`` says which are computed;
a family whose analysis fails is left out with ``aifinops_metrics_family_ok{family} 0`` and a
comment line saying why, and the others are still served.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from aifinops.errors import AifinopsError
from aifinops.metrics.text import CONTENT_TYPE, Family, day_timestamp, render

if TYPE_CHECKING:
    from aifinops.workspace import Workspace

__all__ = ["CONTENT_TYPE", "ExpositionCache", "exposition"]


def exposition(
    ws: Workspace, *, as_of: date | None = None, cache: ExpositionCache | None = None
) -> str:
    """The exposition as on ``as_of`` (default today, UTC); from ``cache`` when it holds one for
    the same workspace state."""
    if cache is not None:
        return cache.get(ws, as_of=as_of)
    return _compute(ws, as_of or _today())


def _compute(ws: Workspace, as_of: date) -> str:
    from aifinops.metrics.families import FAMILIES, Context

    started = time.perf_counter()
    settings = ws.settings.metrics
    ctx = Context(ws=ws, as_of=as_of, settings=settings, metric=ws.settings.report.metric)
    families: list[Family] = []
    comments: list[str] = []
    ok = Family(
        "aifinops_metrics_family_ok",
        "1 when the family was computed, 0 when its analysis failed (a comment line says why).",
    )
    for name in settings.families:
        try:
            families += FAMILIES[name](ctx)
        except AifinopsError as exc:
            comments.append(f"aifinops: {name} not computed: {exc.message}")
            ok.add("0", family=name)
        else:
            ok.add("1", family=name)
    day = Family(
        "aifinops_as_of_timestamp_seconds",
        "Midnight (UTC) of the as-of day: figures count the days before it.",
    )
    day.add(day_timestamp(as_of))
    generated = Family(
        "aifinops_exposition_timestamp_seconds", "When this exposition was computed."
    )
    generated.add(f"{time.time():.3f}")
    duration = Family(
        "aifinops_exposition_duration_seconds",
        "Seconds the analyses behind this exposition took (computed at most once per "
        "[metrics] cache_seconds).",
    )
    duration.add(f"{time.perf_counter() - started:.3f}")
    return render([*families, ok, day, generated, duration], comments)


def _today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class _Entry:
    key: tuple[object, ...]
    at: float
    text: str


class ExpositionCache:
    """The last exposition, served again for ``seconds`` while the workspace's state (its last
    ingest load, its allocation, its settings) and the as-of day are the same."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._entry: _Entry | None = None

    def get(self, ws: Workspace, *, as_of: date | None = None) -> str:
        day = as_of or _today()
        with self._lock:  # one computation at a time; concurrent scrapes wait for it
            key = (str(ws.path), day, *_state(ws), ws.settings.model_dump_json())
            now = self._clock()
            entry = self._entry
            if entry is not None and entry.key == key and now - entry.at < self.seconds:
                return entry.text
            text = _compute(ws, day)
            self._entry = _Entry(key, now, text)
            return text


def _state(ws: Workspace) -> tuple[object, ...]:
    """The last ingest load and the allocation's state: one small query."""
    row = ws.connection.execute(
        "SELECT (SELECT coalesce(max(load_id), 0) FROM ingest_log), "
        "(SELECT max(value) FROM meta WHERE key = 'allocation_state')"
    ).fetchone()
    return tuple(row) if row else ()
