"""Policies read from YAML files: checked against the generated schema, then semantically
(filters that apply to the resource kind, fields that exist, channels and executors that are
configured, one name per policy), every problem with its ``file:line``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aifinops.errors import ConfigError
from aifinops.policy import registry
from aifinops.policy.model import Duration
from aifinops.policy.schema import COMBINATORS, schema_problems
from aifinops.policy.source import Document, Lines, read

if TYPE_CHECKING:
    from aifinops.config import Settings

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """Something wrong in a policy file: where (``file:line``), what, and what to do."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class Policy:
    """One policy of a file, built from its data."""

    name: str
    resource: str
    description: str
    window: Duration
    query: dict[str, Any]
    filters: list[registry.Filter]
    actions: list[registry.Action]
    mode: str
    lines: Lines
    path: Path_
    data: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def kind(self) -> type[registry.ResourceKind]:
        found = registry.resource_kinds.get(self.resource)
        assert found is not None  # the schema allows registered kinds only
        return found

    @property
    def file(self) -> str:
        return self.lines.file

    def where(self, path: Sequence[str | int] = ()) -> str:
        return self.lines.where((*self.path, *path))


class PolicyErrors(ConfigError):
    """Policy files that do not validate: every problem, each with its ``file:line``."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        super().__init__(
            f"{count} problem{'s' * (count != 1)} in the policies:\n"
            + "\n".join(f"  {p}" for p in self.problems),
            hint="fix them (`aifinops policy validate FILE` checks without running; "
            "docs/policies.md lists every field)",
        )


def make_filter(data: dict[str, Any], path: Path_) -> registry.Filter:
    name = next((c for c in COMBINATORS if c in data), None) or str(data["type"])
    cls = registry.filters.get(name)
    assert cls is not None  # the schema allows registered filters only
    return cls(data, path)


def make_action(data: dict[str, Any], path: Path_) -> registry.Action:
    cls = registry.actions.get(str(data["type"]))
    assert cls is not None
    return cls(data, path)


def _build(document: Document, index: int, data: dict[str, Any]) -> Policy:
    path: Path_ = ("policies", index)
    kind = registry.resource_kinds.get(data["resource"])
    assert kind is not None
    return Policy(
        name=data["name"],
        resource=data["resource"],
        description=data.get("description", ""),
        window=Duration.parse(data.get("window", kind.default_window)),
        query=dict(data.get("query") or {}),
        filters=[
            make_filter(f, (*path, "filters", i)) for i, f in enumerate(data.get("filters") or [])
        ],
        actions=[
            make_action(a, (*path, "actions", i)) for i, a in enumerate(data.get("actions") or [])
        ],
        mode=data.get("mode", "pull"),
        lines=document.lines,
        path=path,
        data=data,
    )


def load(paths: Iterable[Path], settings: Settings | None = None) -> list[Policy]:
    """Every policy of ``paths``; raises :class:`PolicyErrors` listing all problems."""
    policies, problems = check(paths, settings)
    if problems:
        raise PolicyErrors(problems)
    return policies


def check(
    paths: Iterable[Path], settings: Settings | None = None
) -> tuple[list[Policy], list[Problem]]:
    """The policies that could be built, and every problem found (schema, then semantics)."""
    registry.loaded()
    policies: list[Policy] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            document = read(path)
        except ConfigError as exc:
            problems.append(Problem(exc.where or str(path), exc.what))
            continue
        found = [Problem(w, m) for w, m in schema_problems(document)]
        problems += found
        if found:
            continue
        for index, data in enumerate(document.data["policies"]):
            try:
                policy = _build(document, index, data)
            except ValueError as exc:  # a duration
                problems.append(Problem(document.lines.where(("policies", index)), str(exc)))
                continue
            problems += semantic_problems(policy, settings)
            policies.append(policy)
    problems += _duplicates(policies)
    return policies, problems


def _duplicates(policies: list[Policy]) -> list[Problem]:
    seen: dict[str, Policy] = {}
    out = []
    for policy in policies:
        first = seen.setdefault(policy.name, policy)
        if first is not policy:
            out.append(
                Problem(
                    policy.where(("name",)),
                    f"policy name {policy.name!r} is used twice (first at {first.where()}): "
                    "marks and idempotency keys are per name, give each policy its own",
                )
            )
    return out


def semantic_problems(policy: Policy, settings: Settings | None) -> list[Problem]:
    """What the schema cannot see: filters and fields of the resource kind, durations,
    regular expressions, templates, channel and executor names."""
    kind = policy.kind
    found: list[tuple[Path_, str]] = []
    for f in _all_filters(policy.filters):
        found += f.problems(kind)
    for action in policy.actions:
        found += action.problems(kind, settings)
    return [Problem(policy.lines.where(path), message) for path, message in found]


def _all_filters(filters: list[registry.Filter]) -> list[registry.Filter]:
    out = []
    for f in filters:
        out.append(f)
        out += _all_filters(f.children())
    return out
