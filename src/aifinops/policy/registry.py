"""The registries: resource kinds, filters and actions, each a small class registered by name.

Each class carries its own JSON Schema fragment (``schema``) and a docstring whose first paragraph
says what it does and which holds a YAML example; :mod:`aifinops.policy.schema` builds the policy
schema from them and :mod:`aifinops.policy.reference` the documentation.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from aifinops.policy.model import COMMON_FIELDS, Decision, FieldSpec, Resource, Verdict

if TYPE_CHECKING:
    from aifinops.model.timewindow import Window
    from aifinops.policy.context import PolicyContext
    from aifinops.policy.policies import Policy
    from aifinops.policy.runner import Outcome, Run

T = TypeVar("T")


class Registry(Generic[T]):
    """Classes by name, in the order they were registered."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(cls: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.what} {name!r} is registered twice")
            setattr(cls, "name", name)  # noqa: B010 - T is a class with a `name` ClassVar
            self._items[name] = cls
            return cls

        return add

    def get(self, name: str) -> T | None:
        return self._items.get(name)

    def names(self) -> list[str]:
        return list(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        return iter(self._items.items())


class ResourceKind:
    """A kind of resource: its fields, how to load them and which measures it offers.

    ``measures``: ``cost`` (a ``cost`` field), ``cost-window`` (cost over any window: the
    ``cost`` filter's ``window`` and ``spend-growth``), ``utilisation`` and ``idle-hours``
    (GPU telemetry), ``age`` (an ``age_days`` field), ``budget`` (budget state).
    """

    name: ClassVar[str] = ""
    fields: ClassVar[tuple[FieldSpec, ...]] = ()
    query_schema: ClassVar[dict[str, Any]] = {}
    measures: ClassVar[frozenset[str]] = frozenset()
    default_window: ClassVar[str] = "30d"
    #: fields besides id and name that executors are given (they name the resource)
    identity: ClassVar[tuple[str, ...]] = ()
    #: the table whose freshness ends this kind's windows
    cost_table: ClassVar[str] = "costs"

    @classmethod
    def all_fields(cls) -> tuple[FieldSpec, ...]:
        return COMMON_FIELDS + cls.fields

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in cls.all_fields()}

    def load(self, ctx: PolicyContext, policy: Policy) -> list[Resource]:
        raise NotImplementedError

    def cost(self, ctx: PolicyContext, policy: Policy, window: Window) -> dict[str, Decimal]:
        """Cost per resource id over ``window`` (kinds with the ``cost-window`` measure)."""
        raise NotImplementedError(f"{self.name} has no cost over a window")

    def utilisation(
        self, ctx: PolicyContext, policy: Policy, window: Window, idle_below: float
    ) -> dict[str, dict[str, Any]]:
        """Per resource id: ``utilisation_pct``, ``idle_hours``, ``coverage_pct`` ... over
        ``window`` (kinds with the ``utilisation`` measure)."""
        raise NotImplementedError(f"{self.name} has no utilisation")


class Filter:
    """A test of one resource. ``needs``: the measure a resource kind must offer (None: any)."""

    name: ClassVar[str] = ""
    schema: ClassVar[dict[str, Any]] = {"properties": {}}
    needs: ClassVar[str | None] = None

    def __init__(self, data: dict[str, Any], path: tuple[str | int, ...]) -> None:
        self.data = data
        self.path = path

    def check(self, ctx: PolicyContext, policy: Policy, resource: Resource) -> Verdict:
        raise NotImplementedError

    def problems(self, kind: type[ResourceKind]) -> list[tuple[tuple[str | int, ...], str]]:
        """What is wrong with this filter on ``kind`` beyond the schema: (path, message)."""
        if self.needs and self.needs not in kind.measures:
            able = [n for n, k in resource_kinds.items() if self.needs in k.measures]
            return [
                (
                    self.path,
                    f"filter {self.name} does not apply to resource {kind.name}: it applies to "
                    f"{', '.join(able)}",
                )
            ]
        return []

    def children(self) -> list[Filter]:
        return []


class Action:
    """Something done with a matched resource (planned in a dry run)."""

    name: ClassVar[str] = ""
    schema: ClassVar[dict[str, Any]] = {"properties": {}}

    def __init__(self, data: dict[str, Any], path: tuple[str | int, ...]) -> None:
        self.data = data
        self.path = path

    def apply(self, run: Run, decision: Decision, period: str | None = None) -> list[Outcome]:
        """Do it (or plan it, in a dry run); ``period`` overrides the action's own (a mark's
        deferred actions run once per marking)."""
        raise NotImplementedError

    def problems(
        self, kind: type[ResourceKind], run_settings: Any
    ) -> list[tuple[tuple[str | int, ...], str]]:
        return []


def summary(cls: type) -> str:
    """The first paragraph of a class's docstring, on one line."""
    doc = inspect.getdoc(cls) or ""
    return " ".join(doc.split("\n\n")[0].split())


def example(cls: type) -> str:
    """The YAML example in a class's docstring (the indented block after ``Example::``)."""
    doc = inspect.getdoc(cls) or ""
    _, found, rest = doc.partition("Example::")
    if not found:
        return ""
    lines = []
    for line in rest.splitlines()[1:]:
        if line.strip() and not line.startswith("    "):
            break
        lines.append(line[4:])
    return "\n".join(lines).strip("\n")


resource_kinds: Registry[type[ResourceKind]] = Registry("resource")
filters: Registry[type[Filter]] = Registry("filter")
actions: Registry[type[Action]] = Registry("action")


def loaded() -> None:
    """Import the modules that register every kind, filter and action."""
    import aifinops.policy.actions
    import aifinops.policy.combinators
    import aifinops.policy.filters
    import aifinops.policy.resources  # noqa: F401
