"""Storage savings: lifecycle tiering of cold objects, retention of training checkpoints.

Both read the newest inventory of each bucket in ``storage_objects`` dated no later than the
day after the window (an inventory dated D lists the bucket at the start of D), and price a
GB-month (2^30 bytes) of each storage class with the bucket's own unit price from the bills
where ``costs`` has one (:func:`bill_prices`: a storage row of the bucket, priced
per GB-month, the newest before the window ends; ``ContractedUnitPrice``, else
``ListUnitPrice``), else the list price of ``model/data/storage_prices.csv`` (AWS S3 us-east-1,
Google Cloud Storage us-central1). A class or provider with neither is left out, never priced
at zero. Savings are per month already (GB x price per GB-month), rounded half-even to the cent.

``checkpoint-retention``
    Objects whose key matches ``[recommend_storage] checkpoint_pattern`` (groups ``run`` and
    ``step``) are checkpoints. In a run whose newest checkpoint is ``run_idle_days`` or more
    older than the inventory (a finished run), every checkpoint but the newest ``keep_last``
    steps and the best one is deleted. The best step comes from the metrics of the job whose
    labels (``run_labels``) name the run's folder (``best_metrics``: a path or a step); without
    one only the newest are kept, and the evidence says so (confidence medium, else high). One
    recommendation per bucket and run folder parent (``runs/<project>``).
``storage-tiering``
    The other objects (checkpoints that retention deletes are left out: the two do not overlap)
    not used for ``tiering`` days (last access where the inventory has it, else last
    modification) go to the cheapest class of ``tiering`` whose days they reach and that costs
    less than their class. Objects under the class's minimum billable size (128 KB for S3 IA and
    Glacier Instant Retrieval) stay. Saving = GB x (price now - price of the class) - the one-off
    lifecycle transition requests (objects / 1,000 x price) spread over ``amortise_months``.
    Retrievals are not subtracted (they are unknown): the evidence says what a read costs and
    how much reading cancels the saving. Target prices are list prices scaled by the bucket's
    discount (bill unit price / list unit price). Confidence: high when last access is known,
    medium when only last modification is (reads unknown), low for classes without instant
    access.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aifinops.analysis.recommend import Confidence, Recommendation, RecommendContext
from aifinops.analysis.recommend.buckets import (
    GbMonthPrice,
    Prices,
    bill_prices,
    cents,
    gb,
    latest_inventory,
    only_team,
    rate,
    settings_of,
)
from aifinops.analysis.recommend.checkpoints import checkpoint_objects
from aifinops.analysis.recommend.checkpoints import retention as checkpoint_retention
from aifinops.model.storage_prices import (
    StorageRecommendSettings,
    canonical_class,
    class_price,
    storage_prices,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.engine import Engine

__all__ = ["checkpoint_retention", "tiering"]

#: Objects smaller on average than this (KiB) are "small": classes with a minimum billable
#: object size (S3 Standard-IA, Glacier Instant Retrieval: 128 KB) would cost them more.
SMALL_KB = max(p.min_object_kb for p in storage_prices().values())

# -- tiering -------------------------------------------------------------------------------------


def tiering(engine: Engine, ctx: RecommendContext) -> list[Recommendation]:
    """Objects unused for long enough, moved to a cheaper class by a lifecycle rule."""
    s = settings_of(ctx)
    if not s.tiering:
        return []
    prices = Prices(bill_prices(engine, ctx))
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in engine.execute(_cold_objects(engine, ctx, s)).to_pylist():
        move = _move(s, prices, row)
        if move is not None:
            groups[(row["bucket"], move[0], move[1].currency)].append({**row, "_now": move[1]})
    found = []
    for (bucket, target_class, _), rows in sorted(groups.items()):
        rec = _tiering_recommendation(s, prices, bucket, target_class, rows)
        if rec.monthly_saving > 0:
            found.append(rec)
    return found


def _cold_objects(engine: Engine, ctx: RecommendContext, s: StorageRecommendSettings) -> ir.Table:
    """Bytes and objects per bucket, class, top-level prefix and how long unused (the largest
    ``tiering`` days reached), not counting checkpoints that retention deletes."""
    import ibis

    inventory = latest_inventory(engine, ctx)
    deleted = checkpoint_objects(engine, ctx, inventory)
    deleted = deleted.filter(deleted.delete).select("bucket", "key")
    objects = inventory.anti_join(deleted, ["bucket", "key"])
    used = ibis.coalesce(objects.last_accessed, objects.last_modified).date()
    bands = sorted(set(s.tiering.values()), reverse=True)
    band = ibis.cases(
        *[(used <= objects.inventory_date - ibis.interval(days=d), d) for d in bands],
        else_=None,
    )
    count = objects.objects.fill_null(1)
    objects = objects.mutate(
        band=band,
        accessed=objects.last_accessed.notnull(),
        small=objects.size_bytes < count * SMALL_KB * 1024,
        prefix=objects.key.re_extract(r"^([^/]*/)", 1),
        count=count,
    )
    objects = objects.filter(objects.band.notnull())
    keys = ["provider", "bucket", "storage_class", "prefix", "band", "accessed", "small"]
    return objects.group_by(keys).aggregate(
        bytes=objects.size_bytes.sum(),
        objects=objects["count"].sum(),
        oldest=objects.last_modified.min(),
        teams=objects.labels_map.get("team").collect(distinct=True),
    )


def _move(
    s: StorageRecommendSettings, prices: Prices, row: dict[str, Any]
) -> tuple[str, GbMonthPrice] | None:
    """The cheapest class of ``tiering`` the row qualifies for, and its price now."""
    now = prices.current(row["provider"], row["bucket"], row["storage_class"])
    if now is None:
        return None
    best: tuple[Decimal, str] | None = None
    for target_class, days in s.tiering.items():
        listed = class_price(row["provider"], target_class)
        if listed is None or days > row["band"] or now.currency != "USD":
            continue
        if row["small"] and listed.min_object_kb:
            continue
        price = listed.per_gb_month * prices.discount(row["bucket"])
        if price < now.price and (best is None or price < best[0]):
            best = (price, canonical_class(target_class))
    return None if best is None else (best[1], now)


def _tiering_recommendation(
    s: StorageRecommendSettings,
    prices: Prices,
    bucket: str,
    target_class: str,
    rows: list[dict[str, Any]],
) -> Recommendation:
    provider = rows[0]["provider"]
    target = class_price(provider, target_class)
    assert target is not None
    target_price = target.per_gb_month * prices.discount(bucket)
    size = sum((gb(r["bytes"]) for r in rows), Decimal(0))
    storage = sum((gb(r["bytes"]) * (r["_now"].price - target_price) for r in rows), Decimal(0))
    objects = sum(r["objects"] for r in rows)
    transition = Decimal(objects) / 1000 * target.transition_per_1000
    monthly = storage - transition / s.amortise_months
    accessed = sum((gb(r["bytes"]) for r in rows if r["accessed"]), Decimal(0))
    days = s.tiering[next(k for k in s.tiering if canonical_class(k) == target_class)]
    prefixes = sorted({r["prefix"] or "(root)" for r in rows})
    now = sorted(
        {f"{canonical_class(r['storage_class'])} {rate(r['_now'].price)} ({r['_now'].source})"
         for r in rows}
    )  # fmt: skip
    breakeven = (
        f"reading back more than {storage / size / target.retrieval_per_gb:.0%} of it a month "
        f"cancels the saving ({target.retrieval_per_gb} per GB read)"
        if target.retrieval_per_gb and size
        else "reads cost nothing extra"
    )
    evidence = (
        f"{objects:,} objects, {size:,.1f} GB not "
        + ("used" if accessed == size else "accessed (or, without access times, modified)")
        + f" for {days}+ days (oldest written {min(r['oldest'] for r in rows):%Y-%m-%d}); "
        f"{target_class} costs {rate(target_price)} per GB-month against "
        f"{'; '.join(now)}: {cents(storage):,} a month; transitions {cents(transition):,} "
        f"once ({target.transition_per_1000} per 1,000 objects) spread over "
        f"{s.amortise_months} months; {breakeven}; minimum {target.min_storage_days} days "
        f"per object ({target.source.split()[0]}, {target.as_of})"
    )
    confidence = (
        Confidence.LOW
        if not target.instant_access
        else Confidence.HIGH
        if accessed == size
        else Confidence.MEDIUM
    )
    return Recommendation(
        kind="storage-tiering",
        target=f"{bucket} -> {target_class}",
        action=f"Add a lifecycle rule to {bucket} moving objects under {', '.join(prefixes)} to "
        f"{target_class} {days} days after they were last used",
        monthly_saving=cents(monthly),
        currency=rows[0]["_now"].currency,
        confidence=confidence,
        evidence=evidence,
        team=only_team(rows),
        details={
            "bucket": bucket,
            "storage_class": target_class,
            "days": days,
            "prefixes": prefixes,
            "objects": objects,
            "gb": str(cents(size)),
            "gb_with_access_times": str(cents(accessed)),
            "storage_saving": str(cents(storage)),
            "transition_cost": str(cents(transition)),
        },
    )
