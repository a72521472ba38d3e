"""Compute savings: settings of the GPU and commitment recommendations, and their arithmetic.

The recommenders (``analysis/recommend/gpu.py``, ``commitments.py``) measure; the sums that turn
measurements into a saving live here, free of any database, so they are tested on their own.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

SPOT_JOB_KINDS = ["training", "fine-tune", "experiment", "evaluation"]
TRUE_WORDS = ("true", "yes", "1", "y", "on")


class ComputeRecommendSettings(BaseModel):
    """``[recommend_compute]``: idle GPUs, rightsizing, spot and commitments. Percentages may
    have decimals; the defaults are whole numbers so ``aifinops init`` writes them as numbers."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    idle_below_pct: float = Field(
        5, ge=0, le=100, description="A GPU-hour under this utilisation (percent) is idle."
    )
    idle_share_pct: float = Field(
        80,
        gt=0,
        le=100,
        description="A GPU machine idle in at least this percent of its GPU-hours with telemetry "
        "is one to stop; a weekday/weekend x UTC hour band idle this much is one to schedule off; "
        "a GPU idle this much is one to drop.",
    )
    min_telemetry_days: int = Field(
        3, ge=1, description="Fewest days of GPU telemetry a GPU recommendation rests on."
    )
    headroom_pct: float = Field(
        20,
        ge=0,
        description="Headroom a smaller GPU or MIG profile must leave above the p95 memory and "
        "compute measured (percent).",
    )
    rightsize_below_pct: float = Field(
        30,
        gt=0,
        le=100,
        description="Highest p95 compute activity (percent) at which a smaller GPU model is "
        "proposed.",
    )
    spot_job_kinds: list[str] = Field(
        default=SPOT_JOB_KINDS,
        description="Job kinds that can run on interruptible (spot) capacity.",
    )
    spot_tag: str = Field(
        "interruptible",
        description="Tag key (any letter case) whose value true/yes/1 marks a machine as fit for "
        "spot whatever its jobs.",
    )
    spot_overhead_pct: float = Field(
        10,
        ge=0,
        description="Interruption allowance: extra spot hours (percent) assumed to redo work lost "
        "to interruptions since the last checkpoint.",
    )
    commitment_discount_pct: float = Field(
        20,
        gt=0,
        lt=100,
        description="Discount (percent off on-demand) assumed for a new commitment where the data "
        "holds none of the provider's to observe one from.",
    )


def percent(value: float) -> Decimal:
    """A settings percentage as an exact fraction (``20.0`` -> ``0.2``)."""
    return Decimal(str(value)) / 100


@dataclass(frozen=True)
class CommitmentSize:
    """A commitment for the steady baseline: on-demand-equivalent spend per hour it covers, its
    fee per hour, the saving over the hours looked at, and the share of hours it is fully used."""

    hourly: Decimal
    hourly_fee: Decimal
    saving: Decimal
    used_share: Decimal


def commitment_at(hourly: Sequence[Decimal], discount: Decimal, level: Decimal) -> CommitmentSize:
    """Committing ``level`` (on-demand dollars an hour) at ``discount`` costs
    ``level x (1 - discount)`` every hour and covers up to ``level`` of that hour's usage: the
    saving over ``hourly`` is ``sum(min(u_h, level)) - hours x level x (1 - discount)``."""
    fee = level * (1 - discount)
    covered = sum((min(u, level) for u in hourly), Decimal(0))
    used = sum(1 for u in hourly if u >= level)
    share = Decimal(used) / len(hourly) if hourly else Decimal(0)
    return CommitmentSize(level, fee, covered - len(hourly) * fee, share)


def best_commitment(
    hourly: Sequence[Decimal], discount: Decimal, cap: Decimal | None = None
) -> CommitmentSize:
    """The hourly commitment that would have saved most over ``hourly`` on-demand spend, no
    higher than ``cap``.

    The saving of :func:`commitment_at` is concave in the level, largest at one of the hourly
    values (the ``discount`` quantile of them), so the best under a cap is the cap or that value.
    Exact decimal arithmetic.
    """
    values = sorted(hourly)
    count = len(values)
    best = CommitmentSize(Decimal(0), Decimal(0), Decimal(0), Decimal(0))
    below = Decimal(0)  # sum of the values under the candidate
    for index, level in enumerate(values):
        saving = below + (count - index) * level - count * level * (1 - discount)
        if saving > best.saving:
            used = Decimal(count - bisect_left(values, level)) / count
            best = CommitmentSize(level, level * (1 - discount), saving, used)
        below += level
    if cap is not None and best.hourly > cap:
        best = commitment_at(values, discount, cap)
    return best


def spot_saving(on_demand_cost: Decimal, spot_ratio: Decimal, overhead: Decimal) -> Decimal:
    """Saving of running ``on_demand_cost`` of work on spot at ``spot_ratio`` of the on-demand
    price, with ``overhead`` more hours to redo interrupted work."""
    return on_demand_cost * (1 - spot_ratio * (1 + overhead))


def is_true(value: str | None) -> bool:
    return value is not None and value.strip().lower() in TRUE_WORDS
