"""Recommendations: what to change, the evidence, the monthly saving and how sure we are.

Each recommender is a function ``(engine, context) -> list[Recommendation]`` in a module of this
package, registered in :data:`RECOMMENDERS` by kind. The heavy lifting (aggregating cost rows,
telemetry, usage) is Ibis expressions run on the engine; the few result rows are turned into
:class:`Recommendation` objects in Python. ``recommend`` runs them all and ranks by monthly saving.

Savings are monthly: the window's saving scaled to 30 days (``monthly()``), rounded half-even
to the cent, in the currency of the costs they come from (never added across currencies).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from aifinops.errors import QueryError
from aifinops.model.metrics import CostMetric
from aifinops.model.timewindow import Window

if TYPE_CHECKING:
    import pyarrow as pa

    from aifinops.config import Settings
    from aifinops.engine import Engine

CENT = Decimal("0.01")
MONTH_DAYS = 30
T = TypeVar("T")


class Confidence(StrEnum):
    """How sure a recommendation is: ``high`` (measured over enough data, a safe change),
    ``medium`` (measured, but the change carries risk or the data is thin), ``low`` (an
    estimate from a model or a short window)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True)
class Recommendation:
    """One thing to change.

    ``kind`` names the recommender (``gpu-rightsize``, ``spot``, ``commitment``,
    ``llm-caching``, ``llm-routing``, ``llm-batch``, ``storage-tiering``,
    ``checkpoint-retention``, ...); ``target`` what it is about (a machine, a model, a bucket
    prefix); ``action`` one sentence saying what to do; ``evidence`` the figures it rests on, in
    words; ``details`` the same figures for machines (JSON-able values).
    """

    kind: str
    target: str
    action: str
    monthly_saving: Decimal
    currency: str
    confidence: Confidence
    evidence: str
    team: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecommendContext:
    """What every recommender is given: the window of history to learn from, the cost metric,
    today's date (for ages) and the workspace settings."""

    window: Window
    metric: CostMetric = CostMetric.EFFECTIVE
    today: date | None = None
    settings: Settings | None = None
    _shared: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def shared(self, key: str, make: Callable[[], T]) -> T:
        """``make()``, computed once per context: facts several recommenders read (the GPU
        machines of the window) are measured once per run."""
        if key not in self._shared:
            self._shared[key] = make()
        value: T = self._shared[key]
        return value

    @property
    def days(self) -> int:
        """Days in the window (a window needs both ends to scale savings to a month)."""
        if self.window.days is None:
            raise QueryError("recommendations need a closed window", hint="use --period 30d")
        return self.window.days

    def monthly(self, amount: Decimal | float) -> Decimal:
        """``amount`` saved over the window, as a saving per 30 days, rounded to the cent."""
        value = Decimal(str(amount)) if isinstance(amount, float) else amount
        return (value * MONTH_DAYS / self.days).quantize(CENT, ROUND_HALF_EVEN)


Recommender = Callable[["Engine", RecommendContext], list[Recommendation]]

#: kind prefix -> "module:function" of the recommender (imported when it runs)
RECOMMENDERS: dict[str, str] = {
    "gpu-idle": "aifinops.analysis.recommend.gpu:gpu_idle",
    "gpu-rightsize": "aifinops.analysis.recommend.gpu:gpu_rightsize",
    "spot": "aifinops.analysis.recommend.spot:spot",
    "commitment": "aifinops.analysis.recommend.commitments:commitment",
    "commitment-unused": "aifinops.analysis.recommend.commitments:commitment_unused",
    "llm-caching": "aifinops.analysis.recommend.llm:caching",
    "llm-routing": "aifinops.analysis.recommend.llm:routing",
    "llm-batch": "aifinops.analysis.recommend.llm:batch",
    "storage-tiering": "aifinops.analysis.recommend.storage:tiering",
    "checkpoint-retention": "aifinops.analysis.recommend.storage:checkpoint_retention",
}


def recommenders(kinds: Sequence[str] = ()) -> dict[str, Recommender]:
    """The registered recommenders, or those named in ``kinds``."""
    unknown = [k for k in kinds if k not in RECOMMENDERS]
    if unknown:
        raise QueryError(
            f"unknown recommendation kind {', '.join(unknown)}",
            hint=f"use one of {', '.join(RECOMMENDERS)}",
        )
    out: dict[str, Recommender] = {}
    for kind in kinds or RECOMMENDERS:
        module, _, name = RECOMMENDERS[kind].partition(":")
        out[kind] = getattr(importlib.import_module(module), name)
    return out


class Ranked(list[Recommendation]):
    """Recommendations, largest monthly saving first, with the window they were learned from."""

    def __init__(self, items: Iterable[Recommendation], window: Window) -> None:
        super().__init__(items)
        self.window = window


def recommend(
    engine: Engine, context: RecommendContext, kinds: Sequence[str] = ()
) -> list[Recommendation]:
    """Every recommendation of the chosen kinds, the largest monthly saving first."""
    found = [r for run in recommenders(kinds).values() for r in run(engine, context)]
    return sorted(found, key=lambda r: (-r.monthly_saving, r.kind, r.target))


def select(
    recommendations: Sequence[Recommendation],
    *,
    team: str | None = None,
    min_saving: Decimal | int | None = None,
) -> list[Recommendation]:
    """Those of ``team`` (any letter case) saving at least ``min_saving`` a month."""
    return [
        r
        for r in recommendations
        if (team is None or (r.team or "").lower() == team.lower())
        and (min_saving is None or r.monthly_saving >= min_saving)
    ]


def cost_span(engine: Engine) -> tuple[date | None, date | None]:
    """The first and last charge day of the workspace's costs (None when it has none)."""
    costs = engine.table("costs")
    expr = costs.aggregate(first=costs.x_ChargeDate.min(), last=costs.x_ChargeDate.max())
    row = engine.execute(expr).to_pylist()[0]
    return row["first"], row["last"]


def history(
    requested: Window, first: date | None, last: date | None, *, days: int = MONTH_DAYS
) -> Window:
    """The window recommendations learn from: ``requested`` clipped to the days the costs cover
    (a saving is scaled by the days of data, not by calendar days without any); an unbounded
    request is the last ``days`` days of data."""
    if first is None or last is None:
        raise QueryError("the workspace has no costs to recommend from", hint="ingest bills first")
    data_end = last + timedelta(days=1)
    if requested.start is None and requested.end is None:
        return Window(max(first, data_end - timedelta(days=days)), data_end)
    start = max(requested.start or first, first)
    end = min(requested.end or data_end, data_end)
    if end <= start:
        raise QueryError(
            f"no costs in {requested}",
            hint=f"the workspace holds costs from {first} to {last}",
        )
    return Window(start, end)


def to_table(recommendations: Sequence[Recommendation]) -> pa.Table:
    """Recommendations as an Arrow table (``details`` as JSON text), in the order given."""
    import json

    import pyarrow as pa

    return pa.table(
        {
            "rank": pa.array(range(1, len(recommendations) + 1), pa.int64()),
            "kind": pa.array([r.kind for r in recommendations], pa.string()),
            "target": pa.array([r.target for r in recommendations], pa.string()),
            "team": pa.array([r.team for r in recommendations], pa.string()),
            "monthly_saving": pa.array(
                [r.monthly_saving for r in recommendations], pa.decimal128(38, 2)
            ),
            "currency": pa.array([r.currency for r in recommendations], pa.string()),
            "confidence": pa.array([r.confidence.value for r in recommendations], pa.string()),
            "action": pa.array([r.action for r in recommendations], pa.string()),
            "evidence": pa.array([r.evidence for r in recommendations], pa.string()),
            "details": pa.array(
                [json.dumps(r.details, sort_keys=True, default=str) for r in recommendations],
                pa.string(),
            ),
        }
    )
