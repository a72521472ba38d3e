"""The buckets of ``storage_objects``: each one's newest inventory, and what a GB-month costs.

A GB-month (2^30 bytes for a month, as AWS and Google bill it) of a storage class in a bucket is
priced at the bucket's own unit price from the bills where ``costs`` has one (a row of the
bucket priced per GB-month, the newest before the window ends: ``ContractedUnitPrice``, else
``ListUnitPrice``; its class read from the charge description), else at the list price of
``model/data/storage_prices.csv``. A class with neither has no price (None), never zero.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from aifinops.analysis.recommend import CENT, RecommendContext
from aifinops.model.storage_prices import (
    GB,
    StorageRecommendSettings,
    canonical_class,
    canonical_provider,
    class_price,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.engine import Engine

_GB_MONTH = r"(?i)^\s*gi?b\s*[-/ ]\s*mo"
#: words in a bill's charge description / meter -> the storage class it prices (first match)
_CLASS_WORDS = (
    ("deep archive", "DEEP_ARCHIVE"),
    ("instant retrieval", "GLACIER_IR"),
    ("glacier", "GLACIER"),
    ("one zone", "ONEZONE_IA"),
    ("infrequent", "STANDARD_IA"),
    ("standard-ia", "STANDARD_IA"),
    ("intelligent", "INTELLIGENT_TIERING"),
    ("reduced redundancy", "REDUCED_REDUNDANCY"),
    ("nearline", "NEARLINE"),
    ("coldline", "COLDLINE"),
    ("archive", "ARCHIVE"),
)


def settings_of(ctx: RecommendContext) -> StorageRecommendSettings:
    return (
        ctx.settings.recommend_storage if ctx.settings is not None else StorageRecommendSettings()
    )


def latest_inventory(engine: Engine, ctx: RecommendContext) -> ir.Table:
    """Each bucket's newest inventory taken by the day after the window (an inventory dated D
    lists the bucket as it was at the start of D, the end of the window's last day)."""
    import ibis

    objects = engine.table("storage_objects")
    if ctx.window.end is not None:
        objects = objects.filter(objects.inventory_date <= ctx.window.end)
    newest = objects.inventory_date.max().over(ibis.window(group_by=objects.bucket))
    return objects.filter(objects.inventory_date == newest)


# -- prices ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GbMonthPrice:
    """What a GB-month of one class costs in one bucket, and where that figure comes from."""

    price: Decimal
    currency: str
    discount: Decimal  # bill unit price / list unit price (1 for list prices)
    source: str


def bill_prices(engine: Engine, ctx: RecommendContext) -> dict[tuple[str, str], GbMonthPrice]:
    """(bucket, storage class) -> the bucket's newest storage unit price in the bills."""
    costs = engine.table("costs")
    costs = costs.filter(costs.PricingUnit.re_search(_GB_MONTH).fill_null(False))
    if ctx.window.end is not None:
        costs = costs.filter(costs.x_ChargeDate < ctx.window.end)
    keys = ["ResourceId", "ResourceName", "ChargeDescription", "SkuMeter", "BillingCurrency",
            "ListUnitPrice", "ContractedUnitPrice"]  # fmt: skip
    rows = engine.execute(costs.group_by(keys).aggregate(day=costs.x_ChargeDate.max())).to_pylist()
    out: dict[tuple[str, str], tuple[date, GbMonthPrice]] = {}
    for row in rows:
        price = row["ContractedUnitPrice"] if row["ContractedUnitPrice"] is not None else None
        price = price if price is not None else row["ListUnitPrice"]
        bucket = _bucket_of(row["ResourceId"], row["ResourceName"])
        if price is None or bucket is None:
            continue
        described = f"{row['ChargeDescription'] or ''} {row['SkuMeter'] or ''}".lower()
        storage_class = next((c for word, c in _CLASS_WORDS if word in described), "STANDARD")
        listed = row["ListUnitPrice"]
        found = GbMonthPrice(
            price=price,
            currency=row["BillingCurrency"] or "USD",
            discount=price / listed if listed else Decimal(1),
            source=f"the bill's unit price on {row['day']}",
        )
        key = (bucket, storage_class)
        if key not in out or out[key][0] < row["day"]:
            out[key] = (row["day"], found)
    return {key: value for key, (_, value) in out.items()}


def _bucket_of(resource_id: str | None, name: str | None) -> str | None:
    """The bucket a cost row is about: ``arn:aws:s3:::b``, ``//storage.googleapis.com/.../b``,
    else the resource name."""
    if resource_id:
        found = re.search(r"(?:arn:aws:s3:::|/buckets/)([^/]+)$", resource_id)
        if found:
            return found.group(1)
    return name or None


class Prices:
    """GB-month prices per bucket and class: the bill's, else the list's."""

    def __init__(self, bills: dict[tuple[str, str], GbMonthPrice]) -> None:
        self.bills = bills

    def current(self, provider: str | None, bucket: str, storage_class: str) -> GbMonthPrice | None:
        storage_class = canonical_class(storage_class)
        billed = self.bills.get((bucket, storage_class))
        if billed is not None:
            return billed
        listed = class_price(provider, storage_class)
        if listed is None:
            return None
        source = f"list price {listed.region}, {listed.source.split()[0]} ({listed.as_of})"
        return GbMonthPrice(listed.per_gb_month, "USD", Decimal(1), source)

    def discount(self, bucket: str) -> Decimal:
        """The bucket's bill / list ratio (the same discount is assumed for other classes)."""
        ratios = [p.discount for (b, _), p in self.bills.items() if b == bucket]
        return min(ratios) if ratios else Decimal(1)


def gb(size_bytes: int | Decimal) -> Decimal:
    return Decimal(size_bytes) / GB


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, ROUND_HALF_EVEN)


def url(provider: str | None, bucket: str, path: str = "") -> str:
    """``s3://bucket/path`` or ``gs://bucket/path`` (``bucket/path`` for other providers)."""
    scheme = {"aws": "s3://", "gcp": "gs://"}.get(canonical_provider(provider) or "", "")
    return f"{scheme}{bucket}/{path}"


def only_team(rows: Iterable[dict[str, Any]]) -> str | None:
    """The ``team`` label the objects behind a recommendation share, if they share one."""
    teams = {team for row in rows for team in row["teams"] or ()}
    return teams.pop() if len(teams) == 1 else None


def rate(value: Decimal) -> str:
    """A unit price as written, without trailing zeros (0.021, not 0.021000000000000000)."""
    return f"{value.normalize():f}"
