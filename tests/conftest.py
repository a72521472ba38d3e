"""Shared fixtures: small FOCUS files written on the fly, and fresh workspaces."""

from __future__ import annotations

import csv
import gzip
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path

import pytest

from aifinops import Workspace

FOCUS_12_HEADER = [
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass",
    "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
    "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost", "ProviderName",
    "PublisherName", "ServiceCategory", "ServiceName", "ResourceId", "Tags", "PricingQuantity",
    "PricingUnit",
]  # fmt: skip


def focus_row(
    *,
    account: str = "111111111111",
    period: str = "2026-10",
    day: int = 1,
    cost: str = "1.25",
    service: str = "Amazon Elastic Compute Cloud",
    resource: str = "i-0001",
    tags: str = '{"team": "research"}',
    category: str = "Usage",
) -> dict[str, str]:
    """One valid FOCUS 1.2 row (only the columns of FOCUS_12_HEADER)."""
    year, month = (int(p) for p in period.split("-"))
    start = f"{year:04d}-{month:02d}-01T00:00:00Z"
    nxt = f"{year + (month == 12):04d}-{month % 12 + 1:02d}-01T00:00:00Z"
    day_start = f"{year:04d}-{month:02d}-{day:02d}T00:00:00Z"
    day_end = f"{year:04d}-{month:02d}-{day:02d}T01:00:00Z"
    return {
        "BilledCost": cost, "BillingAccountId": account, "BillingAccountName": "Example Corp",
        "BillingCurrency": "USD", "BillingPeriodEnd": nxt, "BillingPeriodStart": start,
        "ChargeCategory": category, "ChargeClass": "", "ChargeDescription": "usage",
        "ChargeFrequency": "Usage-Based", "ChargePeriodEnd": day_end,
        "ChargePeriodStart": day_start, "ContractedCost": cost, "EffectiveCost": cost,
        "InvoiceIssuerName": "AWS", "ListCost": cost, "ProviderName": "AWS",
        "PublisherName": "AWS", "ServiceCategory": "Compute", "ServiceName": service,
        "ResourceId": resource, "Tags": tags, "PricingQuantity": "1", "PricingUnit": "Hours",
    }  # fmt: skip


def write_focus_csv(
    path: Path, rows: Iterable[dict[str, str]], header: list[str] | None = None
) -> Path:
    header = header or FOCUS_12_HEADER
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", newline="", encoding="utf-8") as fh:  # type: ignore[operator]
        writer = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def total(ws: Workspace, column: str = "BilledCost") -> Decimal:
    value = ws.sql(f"SELECT coalesce(sum({column}), 0) FROM costs").column(0)[0].as_py()
    return Decimal(value)


def count(ws: Workspace, table: str = "costs") -> int:
    return int(ws.sql(f"SELECT count(*) FROM {table}").column(0)[0].as_py())


@pytest.fixture
def workspace(tmp_path: Path) -> Iterable[Workspace]:
    with Workspace.init(tmp_path / "ws") as ws:
        yield ws


@pytest.fixture
def focus_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a FOCUS CSV: ``focus_file("a.csv", rows)``."""

    def make(name: str, rows: Iterable[dict[str, str]], header: list[str] | None = None) -> Path:
        return write_focus_csv(tmp_path / "in" / name, rows, header)

    return make
