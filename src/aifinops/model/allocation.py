"""Allocation rules: the dimensions every cost row is given, and how shared costs are split.

Pure domain (no I/O). The rules live in ``aifinops.toml`` under ``[allocation]`` (see
docs/allocation.md); :mod:`aifinops.analysis.allocation` applies them.

A **dimension** (team, project, model, environment, cost centre, or any the user adds) takes its
value on a cost row from, in order:

1. the row's tags: the first of ``tags`` (aliases, tried in order) present on the row, matched
   case-insensitively (``Team``, ``TEAM`` and ``team`` are one key);
2. ``rules``: the first rule whose patterns all match the row (account, resource, service,
   provider, region, category, charge category, tags);
3. ``default``.

(``rules_first = true`` swaps 1 and 2.) Values are trimmed and, unless ``keep_case``, lower-cased,
so ``Research`` and ``research`` are one team.

A **shared cost** is a set of rows (``match``) taken out of direct allocation and split, per
month and currency, over the values of one dimension: ``even``, by fixed ``weights``,
``proportional`` to what each value is directly allocated, or proportional to a usage metric
(``gpu-hours`` the telemetry and scheduler show each value held, ``tokens`` in ``llm_usage``,
``jobs`` run).
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: The value of a dimension nothing says anything about.
UNALLOCATED = "(unallocated)"
#: The value of the other dimensions on rows made by splitting a shared cost.
SHARED = "(shared)"
#: The value of a dimension on the idle part of a GPU machine's cost (``idle_gpu = "own-line"``).
IDLE_GPU = "(idle GPU)"

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
#: Column names of ``allocated_costs`` that a dimension cannot take.
RESERVED = frozenset(
    {
        "charge_date",
        "period",
        "allocation",
        "shared_pool",
        "job",
        "gpu_hours",
        "machine",
        "provider",
    }
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class Match(_Model):
    """Patterns a cost row must match: every field given must match (a field matches when any of
    its patterns does). Patterns are globs (``*``, ``?``), case-insensitive, on the whole value."""

    accounts: list[str] = Field(
        [], description="SubAccountId, SubAccountName, BillingAccountId or BillingAccountName."
    )
    resources: list[str] = Field([], description="ResourceId or ResourceName.")
    services: list[str] = Field([], description="ServiceName.")
    providers: list[str] = Field([], description="ServiceProviderName or ProviderName.")
    regions: list[str] = Field([], description="RegionId or RegionName.")
    categories: list[str] = Field([], description="ServiceCategory (e.g. AI and Machine Learning).")
    charge_categories: list[str] = Field(
        [], description="ChargeCategory (Usage, Purchase, Tax...)."
    )
    tags: dict[str, str] = Field({}, description="Tag key (case-insensitive) -> value pattern.")

    @property
    def empty(self) -> bool:
        return not any(getattr(self, name) for name in type(self).model_fields)


#: Match fields -> the cost columns each is read from.
MATCH_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("SubAccountId", "SubAccountName", "BillingAccountId", "BillingAccountName"),
    "resources": ("ResourceId", "ResourceName"),
    "services": ("ServiceName",),
    "providers": ("ServiceProviderName", "ProviderName"),
    "regions": ("RegionId", "RegionName"),
    "categories": ("ServiceCategory",),
    "charge_categories": ("ChargeCategory",),
}


class Rule(Match):
    """``value`` for the rows the patterns match."""

    value: str = Field(min_length=1, description="The dimension's value for matching rows.")

    @model_validator(mode="after")
    def _has_patterns(self) -> Rule:
        if Match.model_validate(self.model_dump(exclude={"value"})).empty:
            raise ValueError(f"rule for {self.value!r} has no patterns: it would match every row")
        return self


class Dimension(_Model):
    """How one dimension gets its value on each cost row."""

    tags: list[str] = Field([], description="Tag keys (aliases) tried in order; case-insensitive.")
    rules: list[Rule] = Field([], description="Pattern rules, first match wins.")
    rules_first: bool = Field(False, description="Try the rules before the tags.")
    default: str = Field(UNALLOCATED, description="The value when neither tags nor rules say.")
    keep_case: bool = Field(False, description="Keep the case of values (default: lower-case).")


class SplitMethod(StrEnum):
    EVEN = "even"
    WEIGHTS = "weights"
    PROPORTIONAL = "proportional"
    GPU_HOURS = "gpu-hours"
    TOKENS = "tokens"
    JOBS = "jobs"

    @property
    def usage(self) -> bool:
        return self in (SplitMethod.GPU_HOURS, SplitMethod.TOKENS, SplitMethod.JOBS)


class SharedCost(_Model):
    """A shared cost pool: the rows ``match`` selects, split over the values of ``dimension``."""

    name: str = Field(min_length=1, description="Pool name (shown on the split rows).")
    match: Match = Field(description="Which cost rows are shared.")
    dimension: str = Field("team", description="The dimension the pool is split over.")
    method: SplitMethod = Field(SplitMethod.PROPORTIONAL, description="How the pool is split.")
    weights: dict[str, Decimal] = Field({}, description="Fixed weights per value (weights).")
    targets: list[str] = Field(
        [], description="Values that share the pool (default: every value with a weight)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> SharedCost:
        if self.match.empty:
            raise ValueError(f"shared cost {self.name!r}: match has no patterns")
        if self.method is SplitMethod.WEIGHTS and not self.weights:
            raise ValueError(f"shared cost {self.name!r}: method 'weights' needs weights")
        if any(w < 0 for w in self.weights.values()) or (
            self.weights and sum(self.weights.values()) <= 0
        ):
            raise ValueError(f"shared cost {self.name!r}: weights must be >= 0, not all zero")
        return self


class IdleGpu(StrEnum):
    """Where the idle part of a GPU machine's cost goes."""

    OWN_LINE = "own-line"
    SHARED = "shared"


def default_dimensions() -> dict[str, Dimension]:
    """The dimensions every workspace has unless it redefines them."""
    return {
        "team": Dimension(tags=["team"]),
        "project": Dimension(tags=["project", "project_name"]),
        "model": Dimension(tags=["model", "model_name"]),
        "environment": Dimension(tags=["environment", "env"]),
        "cost_centre": Dimension(tags=["cost-centre", "cost-center", "cost_centre", "cost_center"]),
    }


class AllocationRules(_Model):
    """The ``[allocation]`` section."""

    idle_gpu: IdleGpu = Field(
        IdleGpu.OWN_LINE,
        description='Idle GPU cost: "own-line" (a line of its own) or "shared" (over the '
        "workloads of the same machine and month, by GPU-hours held).",
    )
    gpu_workloads: bool = Field(
        True,
        description="Charge GPU machine cost to the jobs/pods the telemetry and scheduler show "
        "holding its GPUs (MIG slices and time-sliced GPUs for their share).",
    )

    dimensions: dict[str, Dimension] = Field(
        {},
        description="Dimensions by name; these replace or add to the defaults (team, project, "
        "model, environment, cost_centre). See docs/allocation.md.",
    )
    shared: list[SharedCost] = Field([], description="Shared cost pools, first match wins.")

    @field_validator("dimensions")
    @classmethod
    def _names(cls, value: dict[str, Dimension]) -> dict[str, Dimension]:
        for name in value:
            if not _NAME.match(name) or name in RESERVED:
                raise ValueError(
                    f"dimension name {name!r} must be lower-case letters, digits and _ "
                    f"(not one of {', '.join(sorted(RESERVED))})"
                )
        return value

    @model_validator(mode="after")
    def _pools_name_dimensions(self) -> AllocationRules:
        names = self.all_dimensions()
        for pool in self.shared:
            if pool.dimension not in names:
                raise ValueError(
                    f"shared cost {pool.name!r} splits over {pool.dimension!r}, which is not a "
                    f"dimension (use one of {', '.join(names)})"
                )
        return self

    def all_dimensions(self) -> dict[str, Dimension]:
        """The defaults, then the workspace's own (which replace a default of the same name)."""
        return default_dimensions() | self.dimensions


def glob_regex(pattern: str) -> str:
    """An anchored regular expression (lower-case) for a case-insensitive glob."""
    out = []
    for char in pattern.lower():
        out.append(".*" if char == "*" else "." if char == "?" else re.escape(char))
    return "^" + "".join(out) + "$"


def normalise(value: str, *, keep_case: bool) -> str:
    value = value.strip()
    return value if keep_case else value.lower()
