"""``budget``: the ``[[budgets]]`` of ``aifinops.toml`` with their status as on the run's day
(:func:`aifinops.analysis.budgets.budget_status`: spend so far, forecast at period end,
thresholds crossed, state)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from aifinops.policy.model import FieldSpec, Resource
from aifinops.policy.registry import ResourceKind, resource_kinds

if TYPE_CHECKING:
    from aifinops.analysis.budgets import BudgetStatus
    from aifinops.policy.context import PolicyContext
    from aifinops.policy.policies import Policy


@resource_kinds.register("budget")
class Budget(ResourceKind):
    """Budgets (``[[budgets]]`` in aifinops.toml; docs/budgets.md) in their current period as on
    the run's day. ``query.names`` keeps only some.

    Example::

        resource: budget
        query:
          names: [research-monthly]
    """

    fields = (
        FieldSpec("scope", "string", "What it counts (its scope, or its LLM keys)."),
        FieldSpec("period_start", "date", "First day of the current period."),
        FieldSpec("period_end", "date", "Last day of the current period."),
        FieldSpec("amount", "money", "The budget for the period."),
        FieldSpec("currency", "string", "Its currency."),
        FieldSpec("cost", "money", "Spend so far in the period (actual)."),
        FieldSpec("used_pct", "number", "Actual spend as a percent of the amount."),
        FieldSpec("forecast_expected", "money", "Forecast spend at the period's end (estimate)."),
        FieldSpec("forecast_pct", "number", "That as a percent of the amount."),
        FieldSpec("thresholds_crossed", "list", "Thresholds (percent) actual spend has reached."),
        FieldSpec("forecast_thresholds_crossed", "list", "Forecast thresholds (percent) reached."),
        FieldSpec("state", "string", "ok, warning or over."),
        FieldSpec("days_left", "integer", "Days left in the period."),
        FieldSpec("through", "date", "Last day of data counted."),
        FieldSpec("channels", "list", "The budget's own [notify] channels."),
    )
    query_schema: ClassVar[dict[str, Any]] = {
        "names": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Only these budgets (default: all).",
        }
    }
    identity = ("scope",)
    measures = frozenset({"cost", "budget"})
    default_window = "1d"

    def load(self, ctx: PolicyContext, policy: Policy) -> list[Resource]:
        from aifinops.analysis.budgets import budget_status

        names = policy.query.get("names")
        found = budget_status(ctx.engine, ctx.workspace.settings, as_of=ctx.as_of, names=names)
        return [_resource(s) for s in found]


def _resource(s: BudgetStatus) -> Resource:
    budget = s.budget
    data: dict[str, Any] = {
        "id": s.name,
        "name": s.name,
        "owner": budget.owner,
        "team": _team(s),
        "tags": {},
        "scope": _scope_text(s),
        "period_start": s.start,
        "period_end": s.end.fromordinal(s.end.toordinal() - 1),
        "amount": s.amount,
        "currency": s.currency,
        "cost": s.actual,
        "used_pct": float(s.used_pct),
        "forecast_expected": s.expected,
        "forecast_pct": None if s.forecast_pct is None else float(s.forecast_pct),
        "thresholds_crossed": [float(c) for c in s.crossed],
        "forecast_thresholds_crossed": [float(c) for c in s.forecast_crossed],
        "state": s.state.value,
        "days_left": s.days_left,
        "through": s.through,
        "channels": list(budget.channels),
    }
    return Resource("budget", data)


def _scope_text(s: BudgetStatus) -> str:
    keys = getattr(s.budget, "llm_keys", ())
    if keys:
        return "llm keys " + ", ".join(keys)
    flat = [f"{k}={'|'.join(v)}" for k, v in s.scope.match.items()]
    flat += [f"tag:{k}={'|'.join(v)}" for k, v in s.scope.tags.items()]
    flat += [f"{k}={'|'.join(v)}" for k, v in s.scope.dimensions.items()]
    return ", ".join(flat) or "all costs"


def _team(s: BudgetStatus) -> str | None:
    teams = s.scope.dimensions.get("team", ())
    return teams[0] if len(teams) == 1 else None
