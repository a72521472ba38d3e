"""Hand-made inputs for the recommendation tests: hourly FOCUS rows, Prometheus range exports of
DCGM metrics and scheduler jobs, written as the files the real sources read."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import FOCUS_12_HEADER

HEADER = [
    *FOCUS_12_HEADER,
    "ResourceName", "RegionId", "PricingCategory", "SkuPriceDetails", "CommitmentDiscountId",
    "CommitmentDiscountName", "CommitmentDiscountStatus", "CommitmentDiscountType",
    "CommitmentDiscountCategory",
]  # fmt: skip
T0 = datetime(2026, 10, 1, tzinfo=UTC)  # a Thursday
HOURS = 14 * 24


def at(hour: int) -> datetime:
    return T0 + timedelta(hours=hour)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def cost_row(
    machine: str,
    hour: int,
    cost: str,
    *,
    itype: str | None = None,
    provider: str = "AWS",
    region: str = "us-east-1",
    category: str = "Standard",
    service_category: str = "Compute",
    tags: str = "{}",
    hours: int = 1,
    contracted: str | None = None,
    commitment: tuple[str, str] | None = None,  # (id, status)
) -> dict[str, str]:
    """One usage row of ``machine`` from ``hour`` (after T0) for ``hours``; ``cost`` is billed
    and effective (0 billed under a commitment)."""
    start, end = at(hour), at(hour + hours)
    month = T0.strftime("%Y-%m-01T00:00:00Z")
    row = {
        "BilledCost": "0" if commitment else cost, "BillingAccountId": "111111111111",
        "BillingAccountName": "Example", "BillingCurrency": "USD",
        "BillingPeriodEnd": "2026-11-01T00:00:00Z", "BillingPeriodStart": month,
        "ChargeCategory": "Usage", "ChargeClass": "", "ChargeDescription": f"{machine} usage",
        "ChargeFrequency": "Usage-Based", "ChargePeriodEnd": _iso(end),
        "ChargePeriodStart": _iso(start), "ContractedCost": contracted or cost,
        "EffectiveCost": cost, "InvoiceIssuerName": provider, "ListCost": contracted or cost,
        "ProviderName": provider, "PublisherName": provider, "ServiceCategory": service_category,
        "ServiceName": f"{provider} compute", "ResourceId": f"id-{machine}", "Tags": tags,
        "PricingQuantity": str(hours), "PricingUnit": "Hours", "ResourceName": machine,
        "RegionId": region, "PricingCategory": category,
        "SkuPriceDetails": json.dumps({"InstanceType": itype}) if itype else "",
    }  # fmt: skip
    if commitment:
        row |= {
            "CommitmentDiscountId": commitment[0], "CommitmentDiscountName": commitment[0],
            "CommitmentDiscountStatus": commitment[1], "CommitmentDiscountType": "Savings Plan",
            "CommitmentDiscountCategory": "Spend",
        }  # fmt: skip
    return row


def write_costs(path: Path, rows: Iterable[dict[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HEADER, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


#: utilisation (percent) of a GPU in an hour after T0
Util = Callable[[int], float]


def gpu_series(
    host: str, gpu: int, hours: Iterable[int], util: Util, *, memory_mib: float, total_mib: float
) -> list[dict[str, object]]:
    """Prometheus matrix results for one GPU: GPU_UTIL, FB_USED and FB_FREE, one point an hour."""
    labels = {"Hostname": host, "gpu": str(gpu), "UUID": f"GPU-{host}-{gpu}",
              "modelName": "NVIDIA test", "instance": f"{host}:9400", "job": "dcgm"}  # fmt: skip
    hours = list(hours)
    stamps = [int(at(h).timestamp()) for h in hours]
    values = {
        "DCGM_FI_DEV_GPU_UTIL": [util(h) for h in hours],
        "DCGM_FI_DEV_FB_USED": [memory_mib for _ in hours],
        "DCGM_FI_DEV_FB_FREE": [total_mib - memory_mib for _ in hours],
    }
    return [
        {"metric": {"__name__": name, **labels},
         "values": [[t, f"{v:g}"] for t, v in zip(stamps, series, strict=True)]}
        for name, series in values.items()
    ]  # fmt: skip


def write_prometheus(path: Path, results: list[dict[str, object]]) -> Path:
    body = {"status": "success", "data": {"resultType": "matrix", "result": results}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


def weekend(hour: int) -> bool:
    return at(hour).weekday() >= 5
