"""A scope: the costs a budget, forecast, anomaly check, policy or guard looks at.

Pure domain (no I/O); :mod:`aifinops.analysis.scope` applies a scope to the workspace.

A scope is a flat mapping, in ``aifinops.toml`` or on the command line (``--scope KEY=VALUE``,
repeatable)::

    scope = { team = "research", services = ["Amazon Elastic Compute Cloud", "Amazon S3*"] }
    scope = { "tag:env" = "prod", providers = "AWS" }

Keys are the cost-row match fields of allocation rules (``accounts``, ``resources``,
``services``, ``providers``, ``regions``, ``categories``, ``charge_categories``), ``tag:KEY``,
or the name of an allocation dimension (``team``, ``project``, ``model``, ``environment``,
``cost_centre`` or one of the workspace's own). Values are case-insensitive globs on the whole
value; a key with several values matches when any of them does; every key must match.

Where the rows come from:

* a scope naming an allocation dimension reads ``allocated_costs`` (run ``aifinops allocate``),
  so a team's scope is what the team is accountable for: its direct costs, its GPU workload
  shares and its shares of shared pools;
* any other scope reads the bill (``costs``) as ingested;
* ``tag:KEY`` needs the bill, so it cannot be mixed with a dimension.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aifinops.errors import ConfigError
from aifinops.model.allocation import MATCH_COLUMNS

TAG_PREFIX = "tag:"
#: Where a scope's rows come from.
BILL, ALLOCATED = "costs", "allocated_costs"
#: Match fields -> the ``allocated_costs`` columns each is read from (it carries fewer columns).
ALLOCATED_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("SubAccountId", "SubAccountName"),
    "resources": ("ResourceId", "ResourceName"),
    "services": ("ServiceName",),
    "providers": ("provider",),
    "regions": ("RegionId",),
    "categories": ("ServiceCategory",),
    "charge_categories": ("ChargeCategory",),
}


class Scope(BaseModel):
    """Which cost rows count. Empty: the whole bill."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    match: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="Match field -> value globs (any may match)."
    )
    tags: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="Tag key -> value globs."
    )
    dimensions: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="Allocation dimension -> value globs."
    )

    @model_validator(mode="before")
    @classmethod
    def _flat(cls, data: Any) -> Any:
        """Accept the flat form ``{team = "research", "tag:env" = "prod", services = [...]}``."""
        if not isinstance(data, Mapping) or set(data) <= {"match", "tags", "dimensions"}:
            return data
        return _split(data)

    @classmethod
    def parse(cls, items: Iterable[str]) -> Scope:
        """The command-line form: ``KEY=VALUE`` items; a key given twice matches either value."""
        flat: dict[str, list[str]] = {}
        for item in items:
            key, sep, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not key or not value:
                raise ConfigError(
                    f"scope item {item!r} is not KEY=VALUE",
                    hint="e.g. --scope team=research --scope services='Amazon S3'",
                )
            flat.setdefault(key, []).append(value)
        return cls.model_validate(flat)

    @property
    def empty(self) -> bool:
        return not (self.match or self.tags or self.dimensions)

    @property
    def source(self) -> str:
        """The table this scope reads: ``allocated_costs`` when it names a dimension."""
        return ALLOCATED if self.dimensions else BILL

    def items(self) -> list[tuple[str, tuple[str, ...]]]:
        """Every key and its values, in the flat spelling, sorted."""
        out = [*self.match.items(), *self.dimensions.items()]
        out += [(TAG_PREFIX + key, values) for key, values in self.tags.items()]
        return sorted(out)

    def describe(self) -> str:
        """``team=research, services=Amazon S3|Amazon EC2``; ``all costs`` when empty."""
        if self.empty:
            return "all costs"
        return ", ".join(f"{key}={'|'.join(values)}" for key, values in self.items())

    def check(self, dimensions: Iterable[str]) -> None:
        """Raise :class:`ConfigError` for keys that are neither match fields nor ``dimensions``."""
        import difflib

        known = set(dimensions)
        for name in self.dimensions:
            if name not in known:
                choices = sorted({*known, *MATCH_COLUMNS})
                close = difflib.get_close_matches(name, choices, n=3)
                raise ConfigError(
                    f"scope key {name!r} is not a match field or an allocation dimension",
                    hint=(
                        f"did you mean {', '.join(close)}?"
                        if close
                        else f"use tag:KEY or one of {', '.join(choices)}"
                    ),
                )
        if self.dimensions and self.tags:
            raise ConfigError(
                "a scope cannot mix tag: keys with allocation dimensions "
                f"({', '.join(sorted(self.dimensions))})",
                hint="dimensions read allocated_costs, which keeps dimension values, not tags; "
                "define a dimension from the tag in [allocation.dimensions] instead",
            )


def _split(data: Mapping[str, Any]) -> dict[str, dict[str, tuple[str, ...]]]:
    out: dict[str, dict[str, tuple[str, ...]]] = {"match": {}, "tags": {}, "dimensions": {}}
    for raw_key, raw in data.items():
        key = str(raw_key).strip()
        values = (raw,) if isinstance(raw, str) else tuple(raw) if isinstance(raw, list) else None
        if not values or not all(isinstance(v, str) and v.strip() for v in values):
            raise ValueError(f"scope key {key!r} needs a text value or a list of them")
        cleaned = tuple(v.strip() for v in values)
        if key.lower().startswith(TAG_PREFIX):
            tag = key[len(TAG_PREFIX) :].strip()
            if not tag:
                raise ValueError("tag: needs a key, e.g. tag:env")
            out["tags"][tag] = cleaned
        elif key in MATCH_COLUMNS:
            out["match"][key] = cleaned
        else:
            out["dimensions"][key] = cleaned
    return out
