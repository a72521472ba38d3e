"""The LLM guardrail: allow or deny a request for a team or API key against its budget, in memory.

A gateway builds one :class:`Guard`, asks :meth:`Guard.check` before each LLM request and tells
:meth:`Guard.record` what the request cost after it::

    from aifinops.guard import Guard

    guard = Guard("/srv/finops")          # reads the guard budgets' spend once
    decision = guard.check(team="research", key=api_key, cost=estimate)
    if not decision.allowed:
        return 429, decision.reason
    ...                                   # call the model
    guard.record(team="research", key=api_key, cost=actual_cost)

The guard answers for the budgets that name ``llm_keys`` (their spend: the keys' ``llm_usage``
cost) or ``llm_teams`` (their scope's costs); see docs/budgets.md#guard. At construction and on
:meth:`Guard.refresh` it reads each one's spend in its current period from the workspace (days
before the as-of day, up to the last day of data); :meth:`Guard.record` adds spend seen since,
by day. A refresh keeps what was recorded for days after the data's last day and drops the rest
(the data holds it now). With no fixed ``as_of``, the guard follows the clock: on the first
check after a budget's period ends it reloads by itself.

A request is denied when a budget it falls under has nothing left, or when its ``cost`` (an
estimate, in the budget's currency) is more than what is left. A team or key that no budget
names is allowed with the reason "no budget", or denied when ``[guard] no_budget = "deny"``.
Checks and records are thread-safe (one lock, held for microseconds); two concurrent requests
can both be allowed and together overshoot by at most their cost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from aifinops.errors import QueryError
from aifinops.output import money

if TYPE_CHECKING:
    from aifinops.analysis.guard_spend import BudgetSpend
    from aifinops.model.budgets import Budget
    from aifinops.workspace import Workspace

ZERO = Decimal(0)
NO_BUDGET = "no budget"
#: Keys looked up by glob are remembered; the memory is cleared past this many.
GLOB_CACHE = 100_000


@dataclass(frozen=True)
class Decision:
    """The answer for one request: allowed or not, why, and the budget that decided it with
    what it has left (before this request) in ``currency``."""

    allowed: bool
    reason: str
    budget: str | None = None
    remaining: Decimal | None = None
    currency: str | None = None


class _Slot:
    """One budget's live spend: the snapshot's plus what was recorded since, by day."""

    __slots__ = ("amount", "currency", "end", "name", "recorded", "spent", "start", "through")

    def __init__(self, item: BudgetSpend) -> None:
        self.name = item.budget.name
        self.amount = item.budget.amount
        self.currency = item.budget.currency
        self.start, self.end, self.through = item.start, item.end, item.through
        self.spent = item.spent
        self.recorded: dict[date, Decimal] = {}

    @property
    def last_day(self) -> str:
        return (self.end - timedelta(days=1)).isoformat()

    def record(self, day: date, cost: Decimal) -> None:
        if self.start <= day < self.end:
            self.recorded[day] = self.recorded.get(day, ZERO) + cost
            self.spent += cost

    def carry(self, old: _Slot) -> None:
        """Keep ``old``'s records of the same period for days the new snapshot does not hold."""
        if old.start != self.start:
            return
        for day, cost in old.recorded.items():
            if self.through is None or day > self.through:
                self.record(day, cost)


class Guard:
    """Allow/deny against LLM key and team budgets, answered in memory (see the module)."""

    def __init__(
        self,
        workspace: Workspace | str | Path,
        *,
        as_of: date | None = None,
        no_budget: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._workspace = workspace
        self._fixed = as_of
        self._clock = clock
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        self._deny_unknown = False
        self._no_budget_override = no_budget
        self._by_key: dict[str, tuple[_Slot, ...]] = {}
        self._globs: list[tuple[str, _Slot]] = []
        self._glob_cache: dict[str, tuple[_Slot, ...]] = {}
        self._by_team: dict[str, tuple[_Slot, ...]] = {}
        self._rollover = float("inf")
        self._budgets: list[Budget] = []
        self.snapshot: list[BudgetSpend] = []
        self.refresh()

    # -- answering -------------------------------------------------------------------------

    def check(
        self,
        *,
        team: str | None = None,
        key: str | None = None,
        cost: Decimal | float | str | None = None,
    ) -> Decision:
        """Whether a request for ``team`` and/or ``key`` costing ``cost`` (an estimate, in the
        budget's currency; None: 0) may go ahead."""
        if self._clock() >= self._rollover:
            self._roll()
        slots = self._slots(team, key)
        if not slots:
            return self._unknown(team, key)
        price = _decimal(cost)
        if price < 0:
            raise QueryError(f"a request's cost cannot be negative ({price})")
        with self._lock:
            return _decide(slots, price)

    def record(
        self,
        *,
        team: str | None = None,
        key: str | None = None,
        cost: Decimal | float | str,
        day: date | None = None,
    ) -> None:
        """Add a request's cost to every budget of ``team`` and ``key`` (``day``: today, or the
        fixed as-of day)."""
        price = _decimal(cost)
        slots = self._slots(team, key)
        when = day or self.today()
        with self._lock:
            for slot in slots:
                slot.record(when, price)

    def refresh(self) -> None:
        """Read the guard budgets' spend from the workspace again (the settings too, when the
        guard was given a path)."""
        with self._refreshing:
            self._refresh()

    def _roll(self) -> None:
        """A period ended: reload once (other threads wait for it, then go on)."""
        with self._refreshing:
            if self._clock() >= self._rollover:
                self._refresh()

    def _refresh(self) -> None:
        as_of = self.today()
        snapshot, no_budget = self._load(as_of)
        # A custom period that has ended or not begun is not in force: it answers nothing.
        snapshot = [item for item in snapshot if item.start <= as_of < item.end]
        slots = [_Slot(item) for item in snapshot]
        with self._lock:
            old = {slot.name: slot for slot in self._all_slots()}
            for slot in slots:
                if slot.name in old:
                    slot.carry(old[slot.name])
            self._index(snapshot, slots)
            self.snapshot = snapshot
            self._deny_unknown = (self._no_budget_override or no_budget) == "deny"
            changes = [slot.end for slot in slots] + _starts_after(self._budgets, as_of)
            self._rollover = float("inf") if self._fixed or not changes else _epoch(min(changes))

    def today(self) -> date:
        """The day the guard judges: the fixed as-of day, else today (UTC) by its clock."""
        return self._fixed or datetime.fromtimestamp(self._clock(), UTC).date()

    def remaining(self, budget: str) -> Decimal:
        """What ``budget`` has left now (its amount less spend and records)."""
        with self._lock:
            for slot in self._all_slots():
                if slot.name == budget:
                    return slot.amount - slot.spent
        raise QueryError(f"no guard budget named {budget!r}", hint="it needs llm_keys or llm_teams")

    # -- internals -------------------------------------------------------------------------

    def _load(self, as_of: date) -> tuple[list[BudgetSpend], str]:
        from aifinops.workspace import Workspace

        if isinstance(self._workspace, Workspace):
            return self._read(self._workspace, as_of)
        with Workspace(self._workspace, read_only=True) as ws:
            return self._read(ws, as_of)

    def _read(self, ws: Workspace, as_of: date) -> tuple[list[BudgetSpend], str]:
        from aifinops.analysis.guard_spend import guard_spend

        self._budgets = [budget for budget in ws.settings.budgets if budget.guarded]
        return guard_spend(ws.engine, ws.settings, as_of), ws.settings.guard.no_budget

    def _index(self, snapshot: list[BudgetSpend], slots: list[_Slot]) -> None:
        by_key: dict[str, list[_Slot]] = {}
        by_team: dict[str, list[_Slot]] = {}
        globs: list[tuple[str, _Slot]] = []
        for item, slot in zip(snapshot, slots, strict=True):
            for pattern in item.budget.llm_keys:
                if any(ch in pattern for ch in "*?["):
                    globs.append((pattern, slot))
                else:
                    by_key.setdefault(pattern, []).append(slot)
            for team in item.budget.llm_teams:
                by_team.setdefault(team.lower(), []).append(slot)
        self._by_key = {k: tuple(v) for k, v in by_key.items()}
        self._by_team = {k: tuple(v) for k, v in by_team.items()}
        self._globs = globs
        self._glob_cache = {}

    def _all_slots(self) -> Iterable[_Slot]:
        seen: dict[int, _Slot] = {}
        for group in (*self._by_key.values(), *self._by_team.values()):
            for slot in group:
                seen[id(slot)] = slot
        for _pattern, slot in self._globs:
            seen[id(slot)] = slot
        return seen.values()

    def _slots(self, team: str | None, key: str | None) -> tuple[_Slot, ...]:
        found: tuple[_Slot, ...] = ()
        if key is not None:
            found = self._by_key.get(key, ())
            if self._globs:
                found = _unique(found + self._globbed(key))
        if team is not None:
            by_team = self._by_team.get(team.lower(), ())
            found = _unique(found + by_team) if found else by_team
        return found

    def _globbed(self, key: str) -> tuple[_Slot, ...]:
        cached = self._glob_cache.get(key)
        if cached is None:
            import fnmatch

            cached = tuple(slot for p, slot in self._globs if fnmatch.fnmatchcase(key, p))
            if len(self._glob_cache) >= GLOB_CACHE:
                self._glob_cache.clear()
            self._glob_cache[key] = cached
        return cached

    def _unknown(self, team: str | None, key: str | None) -> Decision:
        if team is None and key is None:
            raise QueryError("a guard check needs a team or a key")
        who = " and ".join(
            f"{what} {value!r}" for what, value in (("team", team), ("key", key)) if value
        )
        if self._deny_unknown:
            return Decision(False, f"{NO_BUDGET} for {who} (guard.no_budget = deny)")
        return Decision(True, f"{NO_BUDGET} for {who}")


def _decide(slots: tuple[_Slot, ...], cost: Decimal) -> Decision:
    """Deny on the first budget with nothing left or less than ``cost``; else allow, naming the
    budget with the least left."""
    tightest: _Slot | None = None
    for slot in slots:
        left = slot.amount - slot.spent
        if left <= 0:
            return Decision(False, _spent(slot, left), slot.name, left, slot.currency)
        if cost > left:
            reason = (
                f"the request's cost {money(cost)} {slot.currency} is more than budget "
                f"{slot.name!r} has left ({money(left)} {slot.currency})"
            )
            return Decision(False, reason, slot.name, left, slot.currency)
        if tightest is None or left < tightest.amount - tightest.spent:
            tightest = slot
    assert tightest is not None  # slots is not empty
    left = tightest.amount - tightest.spent
    reason = (
        f"within budget {tightest.name!r}: {money(left)} {tightest.currency} left of "
        f"{money(tightest.amount)} to {tightest.last_day}"
    )
    return Decision(True, reason, tightest.name, left, tightest.currency)


def _spent(slot: _Slot, left: Decimal) -> str:
    return (
        f"budget {slot.name!r} is spent: {money(slot.spent)} of {money(slot.amount)} "
        f"{slot.currency} ({money(-left)} over) in the period to {slot.last_day}"
    )


def _unique(slots: tuple[_Slot, ...]) -> tuple[_Slot, ...]:
    return tuple({id(s): s for s in slots}.values())


def _decimal(value: Decimal | float | str | None) -> Decimal:
    if value is None:
        return ZERO
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except ArithmeticError:
        number = Decimal("NaN")
    if not number.is_finite():
        raise QueryError(f"cost {value!r} is not a number", hint="pass a Decimal, e.g. 0.25")
    return number


def _starts_after(budgets: Iterable[Budget], day: date) -> list[date]:
    """When budgets not yet in force (custom periods to come) start."""
    starts = (budget.period_of(day)[0] for budget in budgets)
    return [start for start in starts if start > day]


def _epoch(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
