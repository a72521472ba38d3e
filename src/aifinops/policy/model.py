"""What policies are made of: resources with named fields, durations, verdicts.

Pure values; no I/O. A :class:`Resource` is one thing a policy judges (a GPU machine, a job, a
storage prefix ...): its ``data`` holds every field its kind declares (:class:`FieldSpec`), with
money as exact ``Decimal`` and unknown values as None (never 0).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from aifinops.model.timewindow import Window

#: field types (what the ``value`` filter compares a field as)
TYPES = ("string", "number", "money", "integer", "date", "boolean", "list", "map")
_DURATION = re.compile(r"^\s*(\d+)\s*(h|d|w)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class FieldSpec:
    """A field of a resource kind: its name, type (:data:`TYPES`) and meaning."""

    name: str
    type: str
    description: str


#: fields every resource kind has
COMMON_FIELDS = (
    FieldSpec("id", "string", "What identifies it (a cloud resource id, a job id, a URL)."),
    FieldSpec("name", "string", "Its name as people know it."),
    FieldSpec("owner", "string", "Who to tell: the `owner` tag or label (any letter case)."),
    FieldSpec("team", "string", "The `team` tag or label (any letter case)."),
    FieldSpec("tags", "map", "Tags or labels, key -> value (`tags.KEY` in a value filter)."),
)


@dataclass
class Resource:
    """One thing a policy judges. ``data`` has every field of its kind (None = unknown)."""

    kind: str
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def name(self) -> str:
        return str(self.data.get("name") or self.data["id"])

    @property
    def owner(self) -> str | None:
        value = self.data.get("owner")
        return str(value) if value else None

    def tag(self, key: str) -> str | None:
        """The tag ``key`` in any letter case (None when absent)."""
        tags = self.data.get("tags") or {}
        if key in tags:
            return str(tags[key])
        lower = key.lower()
        return next((str(v) for k, v in tags.items() if k.lower() == lower), None)

    def get(self, key: str) -> tuple[bool, Any]:
        """(present, value) of a field or ``tags.KEY`` / ``tag:KEY``."""
        for prefix in ("tags.", "tag:"):
            if key.startswith(prefix):
                value = self.tag(key[len(prefix) :])
                return value is not None, value
        if key not in self.data:
            return False, None
        value = self.data[key]
        return value is not None, value


def as_dict(value: Any) -> dict[str, str]:
    """A MAP value as Arrow returns it (a list of (key, value) pairs, or a dict) -> dict."""
    if not value:
        return {}
    pairs = value.items() if isinstance(value, dict) else value
    return {str(k): str(v) for k, v in pairs if v is not None}


def tag_any_case(tags: dict[str, str], key: str) -> str | None:
    lower = key.lower()
    return next((v for k, v in tags.items() if k.lower() == lower and v), None)


@dataclass(frozen=True)
class Duration:
    """Whole days: ``24h``, ``2d``, ``1w`` (policies judge per UTC day)."""

    days: int

    @classmethod
    def parse(cls, text: object) -> Duration:
        found = _DURATION.match(str(text))
        if not found:
            raise ValueError(f"{text!r} is not a duration: write 24h, 7d or 2w")
        count, unit = int(found[1]), found[2].lower()
        if count <= 0:
            raise ValueError(f"{text!r}: a duration is at least one day")
        if unit == "h":
            if count % 24:
                raise ValueError(f"{text!r}: use whole days (24h, 48h, 2d): data is judged per day")
            return cls(count // 24)
        return cls(count * (7 if unit == "w" else 1))

    def ending(self, end: date) -> Window:
        """The window of these days ending (exclusive) at ``end``."""
        return Window(end - timedelta(days=self.days), end)

    def __str__(self) -> str:
        return f"{self.days}d"


@dataclass(frozen=True)
class Verdict:
    """Whether a resource passed one filter, and why, in words."""

    matched: bool
    reason: str


@dataclass
class Decision:
    """A policy's judgement of one resource: matched or not, with every filter's reason."""

    policy: str
    resource: Resource
    matched: bool
    reasons: list[str] = field(default_factory=list)


def compare(op: str, actual: Any, expected: Any) -> bool:
    """``actual OP expected`` for the value filter's operators (``actual`` not None)."""
    if op in ("glob", "regex"):
        text = str(actual)
        if op == "glob":
            return fnmatch.fnmatchcase(text.lower(), str(expected).lower())
        return re.search(str(expected), text) is not None
    if op in ("in", "not-in"):
        options = [_same(actual, e) for e in expected]
        found = any(_equal(actual, o) for o in options)
        return found if op == "in" else not found
    other = _same(actual, expected)
    if op == "eq":
        return _equal(actual, other)
    if op == "ne":
        return not _equal(actual, other)
    result: bool = {
        "gt": lambda: actual > other,
        "ge": lambda: actual >= other,
        "lt": lambda: actual < other,
        "le": lambda: actual <= other,
    }[op]()
    return result


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str) and isinstance(expected, str):
        return actual.lower() == expected.lower()
    return bool(actual == expected)


def _same(actual: Any, expected: Any) -> Any:
    """``expected`` as the type of ``actual`` (YAML numbers, dates and booleans as written)."""
    if isinstance(actual, bool):
        return expected if isinstance(expected, bool) else str(expected).lower() == "true"
    if isinstance(actual, Decimal):
        return Decimal(str(expected))
    if isinstance(actual, int | float):
        return float(expected) if isinstance(actual, float) else Decimal(str(expected))
    if isinstance(actual, date):
        return date.fromisoformat(str(expected)[:10])
    if isinstance(actual, list):
        return expected
    return str(expected)
