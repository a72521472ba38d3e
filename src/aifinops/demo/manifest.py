"""The manifest's ``expected`` block: exact totals and the planted messiness, counted.

Amounts are exact decimal strings with ten places. Every figure excludes the deliberately
unreadable rows, which a correct ingest quarantines.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aifinops.demo.company import Account, Provider
from aifinops.demo.flavours import FLAVOURS
from aifinops.demo.ledger import METRICS, LineSums
from aifinops.demo.lines import Catalog
from aifinops.demo.money import amount_text, to_decimal
from aifinops.demo.timeline import Month
from aifinops.demo.writers import BAD_FIELDS, Part

_MESSY_PREFIXES = ("tags:", "usage-based", "null-text", "account-")


def _totals(sums: LineSums) -> dict[str, int]:
    return {metric: sums.total(metric) for metric in METRICS}


def _text(totals: dict[str, int]) -> dict[str, str]:
    return {metric: amount_text(totals[metric]) for metric in METRICS}


class ManifestBuilder:
    def __init__(self, root: Path, accounts: Iterable[Account]) -> None:
        self.root = root
        self.accounts = tuple(accounts)
        self.files: list[dict[str, Any]] = []
        self.by_file: dict[str, dict[str, Any]] = {}
        self.by_provider: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(METRICS, 0))
        self.by_month: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
        self.labels: dict[str, int] = defaultdict(int)
        self.untagged: dict[str, int] = defaultdict(int)
        self.bad: list[dict[str, Any]] = []
        self.label_files: dict[str, set[str]] = defaultdict(set)
        self.naive_rows = 0
        self.naive_files: list[str] = []
        self.extra_columns: dict[str, list[str]] = defaultdict(list)

    def add_month(
        self, provider: Provider, month: Month, catalog: Catalog, parts: list[Part]
    ) -> None:
        labels = sorted(
            {g for line in catalog.lines for g in line.groups if g.startswith(_MESSY_PREFIXES)}
        )
        masks = {label: catalog.lines_in(label) for label in labels}
        untagged = catalog.lines_in("untagged")
        monthly = self.by_month[month.label].setdefault(provider.name, dict.fromkeys(METRICS, 0))
        for part in parts:
            relative = part.path.relative_to(self.root).as_posix()
            totals = _totals(part.sums)
            self._file(provider, month, part, relative, totals)
            for metric in METRICS:
                self.by_provider[provider.name][metric] += totals[metric]
                monthly[metric] += totals[metric]
            for label, mask in masks.items():
                rows = part.sums.count(mask)
                if rows:
                    self.labels[label] += rows
                    self.label_files[label].add(relative)
            self.untagged[provider.name] += part.sums.total("EffectiveCost", untagged)
            for column in FLAVOURS[provider.slug].extra_columns:
                self.extra_columns[column].append(relative)
            if provider.fmt != "parquet" and FLAVOURS[provider.slug].naive_billing_period:
                self.naive_rows += part.rows - len(part.bad_lines)
                self.naive_files.append(relative)

    def _file(
        self, provider: Provider, month: Month, part: Part, relative: str, totals: dict[str, int]
    ) -> None:
        self.files.append(
            {
                "path": part.path,
                "provider": provider.name,
                "focus_version": provider.version.value,
                "billing_account_id": provider.billing_account_id,
                "billing_period_start": month.start,
                "rows": part.rows,
                "bad_rows": len(part.bad_lines),
            }
        )
        self.by_file[relative] = _text(totals) | {
            "rows": part.rows,
            "bad_rows": len(part.bad_lines),
        }
        for line, (column, value, reason) in zip(part.bad_lines, BAD_FIELDS, strict=False):
            self.bad.append(
                {"file": relative, "line": line, "column": column, "value": value, "reason": reason}
            )

    def expected(self, parameters: dict[str, Any]) -> dict[str, Any]:
        return {
            "parameters": parameters,
            "by_provider": {p: _text(t) for p, t in self.by_provider.items()},
            "by_file": self.by_file,
            "by_month": {m: {p: _text(t) for p, t in v.items()} for m, v in self.by_month.items()},
            "bad_rows": len(self.bad),
            "messiness": self.messiness(),
        }

    def messiness(self) -> dict[str, Any]:
        effective = sum(t["EffectiveCost"] for t in self.by_provider.values())
        untagged = sum(self.untagged.values())
        share = to_decimal(untagged) / to_decimal(effective) if effective else 0
        tag_rows = {
            k.removeprefix("tags:"): v
            for k, v in sorted(self.labels.items())
            if k.startswith("tags:")
        }
        return {
            "bad_rows": self.bad,
            "tag_styles": {
                "rows": tag_rows,
                "about": "Team/TEAM: team key misspelled; project_name: project key renamed; "
                "value-case: Research/Prod values; partial: team and env only; kubernetes: "
                "node-pool tags only; none: no tags on a resource that has an owner",
            },
            "untagged": {
                "about": "rows with no team tag under any spelling "
                "(including commitment fees, unused commitment, support, tax and credits)",
                "EffectiveCost": {p: amount_text(v) for p, v in sorted(self.untagged.items())},
                "share_of_EffectiveCost": f"{share:.4f}",
            },
            "charge_frequency_wrong_case": self._label("usage-based", value="Usage-based"),
            "null_text": self._label(
                "null-text", value="NULL", columns=["AvailabilityZone", "ResourceName"]
            ),
            "account_id_leading_zero": self._label(
                "account-leading-zero", values=self._accounts("account-leading-zero")
            ),
            "account_id_numeric": self._label(
                "account-numeric", values=self._accounts("account-numeric")
            ),
            "extra_columns": dict(self.extra_columns),
            "naive_timestamps": {
                "columns": ["BillingPeriodStart", "BillingPeriodEnd"],
                "format": "YYYY-MM-DD HH:MM:SS (no T, no Z)",
                "rows": self.naive_rows,
                "files": self.naive_files,
            },
        }

    def _accounts(self, label: str) -> list[str]:
        return sorted(a.id for a in self.accounts if label in a.messy)

    def _label(self, label: str, **about: Any) -> dict[str, Any]:
        return about | {
            "rows": self.labels.get(label, 0),
            "files": sorted(self.label_files.get(label, ())),
        }
