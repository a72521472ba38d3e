"""Budgets: how much a scope may spend in a period, and when to warn.

Pure domain (no I/O); :mod:`aifinops.analysis.budgets` measures spend against them and
:mod:`aifinops.guard` answers allow/deny for LLM keys and teams. In ``aifinops.toml``::

    [[budgets]]
    name = "research"
    scope = { team = "research" }
    amount = 400000               # in `currency`, the billing currency
    period = "monthly"            # monthly | quarterly | yearly | custom
    thresholds = [50, 80, 100]    # percent of amount, on actual spend
    forecast_thresholds = [100]   # percent of amount, on the forecast at period end
    channels = ["slack-finops"]   # [notify] channel names
    owner = "research-lead@example.com"

    [[budgets]]
    name = "chat-assistant-llm"
    llm_keys = ["key_chat_assistant"]   # spend: llm_usage cost of these API keys
    amount = 3500

Periods are half-open date ranges ``[start, end)`` in UTC. ``quarterly`` and ``yearly`` start in
``start_month`` (1 = January; 2 gives a fiscal year from February and quarters Feb-Apr, May-Jul,
Aug-Oct, Nov-Jan); ``custom`` runs from ``start`` to ``end``, both days included.

What a budget counts:

* a budget with ``llm_keys`` counts the ``cost`` of the ``llm_usage`` rows (usage records) of
  those API keys (exact ids or globs) -- what the gateway sees per key, before it reaches the
  bill; it has no scope;
* any other budget counts its scope's cost rows (the bill, or ``allocated_costs`` when the scope
  names a dimension) in its ``metric``; ``llm_teams`` names the teams :mod:`aifinops.guard`
  answers for against this budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from aifinops.model.metrics import CostMetric
from aifinops.model.scope import Scope

HUNDRED = Decimal(100)


class BudgetPeriod(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"
    CUSTOM = "custom"


def _percents(values: tuple[Decimal, ...]) -> tuple[Decimal, ...]:
    for value in values:
        if value <= 0:
            raise ValueError(f"a threshold is a percent of the amount above 0, not {value}")
    return tuple(sorted(set(values)))


Percents = Annotated[tuple[Decimal, ...], AfterValidator(_percents)]


class Budget(BaseModel):
    """One ``[[budgets]]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="Unique name; alerts and `aifinops guard` say it.")
    scope: Scope = Field(
        default_factory=Scope,
        description="The costs counted (docs/budgets.md#scope); empty: the whole bill.",
    )
    amount: Decimal = Field(gt=0, description="What the scope may spend in a period.")
    currency: str = Field(
        "USD",
        min_length=3,
        max_length=3,
        description="Currency of amount: the billing currency of the costs in scope.",
    )
    period: BudgetPeriod = Field(
        BudgetPeriod.MONTHLY, description="monthly, quarterly, yearly or custom."
    )
    start: date | None = Field(None, description="custom: first day of the period.")
    end: date | None = Field(None, description="custom: last day of the period (included).")
    start_month: int = Field(
        1, ge=1, le=12, description="quarterly/yearly: the month a (fiscal) year starts in."
    )
    metric: CostMetric | None = Field(
        None, description="billed, effective, list or contracted; default: report.metric."
    )
    thresholds: Percents = Field(
        (Decimal(50), Decimal(80), Decimal(100)),
        description="Percents of amount that alert when actual spend reaches them.",
    )
    forecast_thresholds: Percents = Field(
        (Decimal(100),),
        description="Percents of amount that alert when the forecast at period end reaches them.",
    )
    channels: tuple[str, ...] = Field(
        (), description="[notify] channels for this budget's alerts; empty: the default ones."
    )
    owner: str | None = Field(None, description="Who answers for it (named in alerts).")
    llm_keys: tuple[str, ...] = Field(
        (),
        description="LLM API keys (ids or globs): the budget counts their llm_usage cost and "
        "`aifinops guard --key` answers against it; no scope then.",
    )
    llm_teams: tuple[str, ...] = Field(
        (),
        description="Teams `aifinops guard --team` answers for against this budget (its scope's "
        "spend).",
    )

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.strip().upper()

    @field_validator("name", "owner")
    @classmethod
    def _stripped(cls, value: str | None) -> str | None:
        return value.strip() if value is not None else None

    @model_validator(mode="after")
    def _consistent(self) -> Budget:
        if not self.name:
            raise ValueError("name: give the budget a name")
        self._check_period()
        if self.llm_keys and not self.scope.empty:
            raise ValueError(
                "llm_keys budgets count the keys' llm_usage cost and take no scope: drop the "
                "scope, or use llm_teams with a scope"
            )
        if self.llm_keys and self.llm_teams:
            raise ValueError("give llm_keys or llm_teams, not both (make two budgets)")
        if self.llm_teams and self.scope.empty:
            raise ValueError(
                "llm_teams needs a scope, the costs counted for those teams, "
                'e.g. scope = { team = "research" }'
            )
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _named(cls, data: Any, handler: Any) -> Any:
        """Say which budget a problem is in: ``budget 'research': amount: ...``."""
        try:
            return handler(data)
        except ValidationError as exc:
            name = data.get("name") if isinstance(data, Mapping) else None
            label = f"budget {name!r}" if isinstance(name, str) and name else "budget"
            raise ValueError(f"{label}: {_problems(exc)}") from None

    def _check_period(self) -> None:
        custom = self.period is BudgetPeriod.CUSTOM
        if custom and (self.start is None or self.end is None):
            raise ValueError('period = "custom" needs start and end dates (end included)')
        if custom and self.start and self.end and self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        if not custom and (self.start is not None or self.end is not None):
            raise ValueError(f'start and end are for period = "custom", not {self.period.value!r}')
        fiscal = self.period in (BudgetPeriod.QUARTERLY, BudgetPeriod.YEARLY)
        if self.start_month != 1 and not fiscal:
            raise ValueError("start_month is for quarterly and yearly periods")

    @property
    def counts_llm_usage(self) -> bool:
        """True when the budget counts ``llm_usage`` cost of its ``llm_keys``."""
        return bool(self.llm_keys)

    @property
    def guarded(self) -> bool:
        """True when ``aifinops guard`` answers against this budget."""
        return bool(self.llm_keys or self.llm_teams)

    def describe_scope(self) -> str:
        if self.llm_keys:
            return "llm_keys=" + "|".join(self.llm_keys)
        return self.scope.describe()

    def period_of(self, day: date) -> tuple[date, date]:
        """The period ``[start, end)`` holding ``day`` (for custom: the budget's own dates)."""
        if self.period is BudgetPeriod.CUSTOM:
            assert self.start is not None and self.end is not None  # checked at validation
            return self.start, self.end + timedelta(days=1)
        if self.period is BudgetPeriod.MONTHLY:
            months, first = 1, 1
        elif self.period is BudgetPeriod.QUARTERLY:
            months, first = 3, self.start_month
        else:
            months, first = 12, self.start_month
        index = day.year * 12 + day.month - 1
        offset = (index - (first - 1)) % months
        start = _month(index - offset)
        return start, _month(index - offset + months)


def _month(index: int) -> date:
    """The first day of month number ``index`` (year * 12 + month - 1)."""
    return date(index // 12, index % 12 + 1, 1)


def _problems(exc: ValidationError) -> str:
    out = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        out.append(f"{where}: {message}" if where else message)
    return "; ".join(out)


def _unique(budgets: list[Budget]) -> list[Budget]:
    seen: set[str] = set()
    for budget in budgets:
        if budget.name.lower() in seen:
            raise ValueError(f"two budgets are named {budget.name!r}: names must be unique")
        seen.add(budget.name.lower())
    return budgets


#: The ``budgets`` setting: a list of :class:`Budget` with unique names.
Budgets = Annotated[list[Budget], AfterValidator(_unique)]
