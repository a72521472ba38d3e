"""FOCUS Cost and Usage columns for versions 1.0 to 1.4, shipped as data in the package.

The table ``data/focus_columns.csv`` is built by ``scripts/build_focus_tables.py`` from the FOCUS
specification (CC-BY-4.0, FinOps Foundation; see ``data/NOTICE.md``). Requirement levels for 1.0 to
1.2 come from the 1.2 specification and for 1.3 and 1.4 from the 1.4 data model; a column belongs
to a version when it was introduced at or before it. ProviderName and PublisherName, deprecated in
1.3, are kept in the store so that 1.2 exports stay complete.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources

from aifinops.errors import AifinopsError


class FocusVersion(StrEnum):
    """A FOCUS specification version that aifinops reads."""

    V1_0 = "1.0"
    V1_1 = "1.1"
    V1_2 = "1.2"
    V1_3 = "1.3"
    V1_4 = "1.4"

    @classmethod
    def parse(cls, text: str) -> FocusVersion:
        cleaned = text.strip().lower().removeprefix("v").removeprefix("focus").strip()
        cleaned = {"1": "1.0"}.get(cleaned, cleaned)
        for member in cls:
            if member.value == cleaned or member.value.replace(".", "") == cleaned:
                return member
        raise AifinopsError(
            f"unknown FOCUS version {text!r}",
            hint=f"use one of {', '.join(m.value for m in cls)}",
        )

    @property
    def key(self) -> tuple[int, int]:
        major, minor = self.value.split(".")
        return int(major), int(minor)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, FocusVersion):
            return NotImplemented
        return self.key < other.key

    def __le__(self, other: object) -> bool:
        if not isinstance(other, FocusVersion):
            return NotImplemented
        return self.key <= other.key


LATEST = FocusVersion.V1_4


class ColumnType(StrEnum):
    """The FOCUS data type of a column."""

    STRING = "String"
    DECIMAL = "Decimal"
    DATETIME = "Date/Time"
    JSON = "JSON"


class Requirement(StrEnum):
    MANDATORY = "Mandatory"
    CONDITIONAL = "Conditional"
    RECOMMENDED = "Recommended"
    OPTIONAL = "Optional"


def _version(text: str) -> FocusVersion:
    # Columns from the 0.5 preview entered 1.0 unchanged.
    return FocusVersion.V1_0 if text in ("0.5", "") else FocusVersion.parse(text)


@dataclass(frozen=True)
class FocusColumn:
    """One column of the FOCUS Cost and Usage dataset."""

    name: str
    type: ColumnType
    introduced: FocusVersion
    deprecated: FocusVersion | None
    requirement_until_1_2: Requirement | None
    requirement_from_1_3: Requirement | None
    nullable: bool
    allowed_values: tuple[str, ...]

    def in_version(self, version: FocusVersion) -> bool:
        return self.introduced <= version

    def requirement(self, version: FocusVersion) -> Requirement | None:
        if not self.in_version(version):
            return None
        if self.deprecated is not None and self.deprecated <= version:
            return Requirement.OPTIONAL
        if version <= FocusVersion.V1_2:
            return self.requirement_until_1_2
        return self.requirement_from_1_3 or self.requirement_until_1_2

    def is_mandatory(self, version: FocusVersion) -> bool:
        return self.requirement(version) is Requirement.MANDATORY


def _requirement(text: str) -> Requirement | None:
    return Requirement(text) if text else None


@functools.cache
def all_columns() -> tuple[FocusColumn, ...]:
    """Every Cost and Usage column of FOCUS 1.0 to 1.4, in the specification's name order."""
    text = resources.files("aifinops.model").joinpath("data/focus_columns.csv").read_text("utf-8")
    return tuple(
        FocusColumn(
            name=row["name"],
            type=ColumnType(row["type"]),
            introduced=_version(row["introduced"]),
            deprecated=FocusVersion.parse(row["deprecated"]) if row["deprecated"] else None,
            requirement_until_1_2=_requirement(row["requirement_1_2"]),
            requirement_from_1_3=_requirement(row["requirement_1_4"]),
            nullable=row["nullable"] == "true",
            allowed_values=tuple(v for v in row["allowed_values"].split("|") if v),
        )
        for row in csv.DictReader(text.splitlines())
    )


@functools.cache
def column(name: str) -> FocusColumn:
    for col in all_columns():
        if col.name == name:
            return col
    raise KeyError(name)


@functools.cache
def columns(version: FocusVersion) -> tuple[FocusColumn, ...]:
    """The columns of one version's Cost and Usage dataset (deprecated columns included)."""
    return tuple(c for c in all_columns() if c.in_version(version))


@functools.cache
def export_columns(version: FocusVersion) -> tuple[FocusColumn, ...]:
    """The columns written by an export in ``version``: deprecated ones only where still current."""
    return tuple(c for c in columns(version) if c.deprecated is None or version < c.deprecated)


def mandatory_columns(version: FocusVersion) -> tuple[str, ...]:
    return tuple(c.name for c in columns(version) if c.is_mandatory(version))
