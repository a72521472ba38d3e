"""What a policy run reads through: the workspace, the day it judges as of, and a cache so a
measure (utilisation over the last day, cost over last week) is computed once per run for every
resource at once, not once per resource."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from aifinops.model.timewindow import Window
from aifinops.policy.model import Duration

if TYPE_CHECKING:
    from decimal import Decimal

    from aifinops.engine import Engine
    from aifinops.policy.policies import Policy
    from aifinops.policy.registry import ResourceKind
    from aifinops.workspace import Workspace

T = TypeVar("T")

#: table -> the date or timestamp column giving how fresh its data is
FRESHNESS = {
    "costs": "x_ChargeDate",
    "gpu_samples": "ts",
    "llm_usage": "start_time",
    "jobs": "start_time",
    "storage_objects": "inventory_date",
}


@dataclass
class PolicyContext:
    """One run's view of the workspace as on ``as_of`` (days before it count; it is excluded)."""

    workspace: Workspace
    as_of: date
    cache: dict[Any, Any] = field(default_factory=dict)

    @property
    def engine(self) -> Engine:
        return self.workspace.engine

    def once(self, key: Any, make: Callable[[], T]) -> T:
        if key not in self.cache:
            self.cache[key] = make()
        value: T = self.cache[key]
        return value

    def last_day(self, table: str) -> date | None:
        """The last day ``table`` has data for (None: empty or missing)."""
        return self.once(("last-day", table), lambda: self._last_day(table))

    def _last_day(self, table: str) -> date | None:
        from aifinops.analysis.common import last_day

        if not self.engine.has_table(table):
            return None
        return last_day(self.engine, self.engine.table(table), FRESHNESS[table], self.as_of)

    def end(self, table: str) -> date:
        """Where windows end (exclusive): ``as_of``, or the day after ``table``'s last data when
        the data stops earlier (real data lags: a window is never judged on days not in yet)."""
        last = self.last_day(table)
        return self.as_of if last is None else min(self.as_of, last + timedelta(days=1))

    def kind(self, policy: Policy) -> ResourceKind:
        """The resource kind of ``policy`` (one object per run: it may keep what it loaded)."""
        return self.once(("kind", policy.resource), policy.kind)

    def cost(self, policy: Policy, window: Window) -> dict[str, Decimal]:
        """Cost per resource id of ``policy``'s kind and query over ``window`` (once a run)."""
        kind = self.kind(policy)
        key = ("cost", policy.resource, _frozen(policy.query), window)
        return self.once(key, lambda: kind.cost(self, policy, window))

    def utilisation(
        self, policy: Policy, window: Window, idle_below: float
    ) -> dict[str, dict[str, Any]]:
        """Utilisation figures per resource id over ``window`` (once a run)."""
        kind = self.kind(policy)
        key = ("utilisation", policy.resource, _frozen(policy.query), window, idle_below)
        return self.once(key, lambda: kind.utilisation(self, policy, window, idle_below))

    def window(self, policy: Policy, table: str, duration: Duration | None = None) -> Window:
        """``duration`` (default: the policy's ``window``) ending at :meth:`end`."""
        return (duration or policy.window).ending(self.end(table))


def _frozen(query: dict[str, Any]) -> str:
    import json

    return json.dumps(query, sort_keys=True, default=str)
