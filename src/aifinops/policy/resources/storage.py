"""``storage-prefix``: folders of object storage from ``storage_objects`` (each bucket's newest
inventory by the run's day), with their size, age, monthly cost and checkpoints.

A prefix is a key's first ``depth`` folders (``runs/llm-7b/run-003/`` at depth 3). Its monthly
cost prices each storage class's GB-months at the bucket's own unit price in the bills, else the
list price (:class:`aifinops.analysis.recommend.buckets.Prices`); a class with no price leaves the
cost unknown (None), never 0. Checkpoints are the objects the checkpoint pattern matches
(``[recommend_storage] checkpoint_pattern``); ``deletable_*`` are those checkpoint retention
would delete (all but the newest and the best of each finished run,
:func:`~aifinops.analysis.recommend.checkpoints.checkpoint_objects`).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from aifinops.analysis.recommend import RecommendContext
from aifinops.analysis.recommend.buckets import Prices, bill_prices, cents, gb, latest_inventory
from aifinops.analysis.recommend.buckets import url as bucket_url
from aifinops.model.allocation import glob_regex
from aifinops.model.timewindow import Window
from aifinops.policy.model import FieldSpec, Resource
from aifinops.policy.registry import ResourceKind, resource_kinds
from aifinops.policy.resources.gpu import days_between

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.policy.context import PolicyContext
    from aifinops.policy.policies import Policy

DEPTH = 3


@resource_kinds.register("storage-prefix")
class StoragePrefix(ResourceKind):
    """Object storage folders (bucket + the first ``depth`` folders of each key) in each
    bucket's newest inventory: size, objects, last write, monthly cost, checkpoints.

    Example::

        resource: storage-prefix
        query:
          depth: 3
          buckets: ["*-checkpoints"]
    """

    fields = (
        FieldSpec("provider", "string", "aws, gcp, azure ... (from the inventory)."),
        FieldSpec("bucket", "string", "Bucket name."),
        FieldSpec("prefix", "string", "The folder inside the bucket, ending in /."),
        FieldSpec("url", "string", "s3://bucket/prefix (gs:// on Google Cloud)."),
        FieldSpec("objects", "integer", "Objects under the prefix."),
        FieldSpec("bytes", "integer", "Bytes under the prefix."),
        FieldSpec("gb", "number", "GiB under the prefix (2^30 bytes)."),
        FieldSpec("storage_classes", "list", "Storage classes used."),
        FieldSpec("last_modified", "date", "Newest object's last write."),
        FieldSpec("oldest_modified", "date", "Oldest object's last write."),
        FieldSpec("last_accessed", "date", "Latest access, where the inventory has it."),
        FieldSpec("cost", "money", "Monthly storage cost (GB-months priced; None if unpriced)."),
        FieldSpec("currency", "string", "Currency of the cost."),
        FieldSpec("checkpoints", "integer", "Checkpoint objects under the prefix."),
        FieldSpec("deletable_checkpoints", "integer", "Checkpoints retention would delete."),
        FieldSpec("deletable_bytes", "integer", "Their bytes."),
        FieldSpec("inventory_date", "date", "Date of the inventory read."),
        FieldSpec("age_days", "integer", "Days since the newest object was written."),
    )
    query_schema: ClassVar[dict[str, Any]] = {
        "depth": {"type": "integer", "minimum": 1, "description": "Folders in a prefix (3)."},
        "buckets": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Only buckets matching these globs.",
        },
        "checkpoints": {
            "type": "boolean",
            "description": "Only prefixes holding checkpoints.",
        },
    }
    identity = ("provider", "bucket", "prefix", "url")
    measures = frozenset({"cost", "age"})
    default_window = "1d"
    cost_table = "storage_objects"

    def load(self, ctx: PolicyContext, policy: Policy) -> list[Resource]:
        if not ctx.engine.has_table("storage_objects"):
            return []
        rctx = RecommendContext(
            window=Window(None, ctx.as_of),
            metric=ctx.workspace.settings.report.metric,
            today=ctx.as_of,
            settings=ctx.workspace.settings,
        )
        objects = latest_inventory(ctx.engine, rctx)
        objects = _only_buckets(objects, policy.query.get("buckets") or [])
        depth = int(policy.query.get("depth", DEPTH))
        parts = self._parts(ctx, objects, depth)
        ckpt = self._checkpoints(ctx, rctx, objects, depth)
        prices = Prices(bill_prices(ctx.engine, rctx))
        out = []
        for (bucket, prefix), rows in sorted(parts.items()):
            found = _resource(bucket, prefix, rows, ckpt.get((bucket, prefix), {}), prices, ctx)
            if found.data["checkpoints"] or not policy.query.get("checkpoints"):
                out.append(found)
        return out

    def _parts(
        self, ctx: PolicyContext, objects: ir.Table, depth: int
    ) -> dict[tuple[str, str], list[dict[str, Any]]]:
        o = objects.mutate(prefix=_prefix(objects.key, depth))
        g = o.group_by(
            ["bucket", "prefix", "provider", "storage_class", "inventory_date"]
        ).aggregate(
            objects=o.objects.fill_null(1).sum(),
            bytes=o.size_bytes.sum(),
            newest=o.last_modified.max(),
            oldest=o.last_modified.min(),
            accessed=o.last_accessed.max(),
            teams=o.labels_map.get("team").collect(distinct=True),
            owners=o.labels_map.get("owner").collect(distinct=True),
        )
        out: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for r in ctx.engine.execute(g).to_pylist():
            out[(r["bucket"], r["prefix"])].append(r)
        return out

    def _checkpoints(
        self, ctx: PolicyContext, rctx: RecommendContext, objects: ir.Table, depth: int
    ) -> dict[tuple[str, str], dict[str, Any]]:
        from aifinops.analysis.recommend.checkpoints import checkpoint_objects

        c = checkpoint_objects(ctx.engine, rctx, objects)
        c = c.mutate(prefix=_prefix(c.key, depth))
        g = c.group_by(["bucket", "prefix"]).aggregate(
            checkpoints=c.count(),
            deletable=c.delete.sum(),
            deletable_bytes=c.size_bytes.sum(where=c.delete),
        )
        return {(r["bucket"], r["prefix"]): r for r in ctx.engine.execute(g).to_pylist()}


def _prefix(key: ir.StringValue, depth: int) -> ir.StringValue:
    """The first ``depth`` folders of ``key`` (fewer where it has fewer; '' at the top)."""
    return key.re_extract(f"^((?:[^/]*/){{0,{depth}}})", 1)


def _only_buckets(objects: ir.Table, globs: list[str]) -> ir.Table:
    if not globs:
        return objects
    import functools
    import operator

    tests = [objects.bucket.re_search(glob_regex(g)) for g in globs]
    return objects.filter(functools.reduce(operator.or_, tests))


def _resource(  # noqa: PLR0917 - the parts of one prefix, each named at the one call
    bucket: str,
    prefix: str,
    rows: list[dict[str, Any]],
    ckpt: dict[str, Any],
    prices: Prices,
    ctx: PolicyContext,
) -> Resource:
    provider = rows[0]["provider"]
    size = sum(int(r["bytes"] or 0) for r in rows)
    cost, currency = _monthly(provider, bucket, rows, prices)
    newest = max(r["newest"] for r in rows if r["newest"] is not None)
    accessed = [r["accessed"] for r in rows if r["accessed"] is not None]
    teams = {t for r in rows for t in r["teams"] or () if t}
    owners = {t for r in rows for t in r["owners"] or () if t}
    return Resource(
        "storage-prefix",
        {
            "id": bucket_url(provider, bucket, prefix),
            "name": f"{bucket}/{prefix}",
            "owner": owners.pop() if len(owners) == 1 else None,
            "team": teams.pop() if len(teams) == 1 else None,
            "tags": {},
            "provider": provider,
            "bucket": bucket,
            "prefix": prefix,
            "url": bucket_url(provider, bucket, prefix),
            "objects": sum(int(r["objects"] or 0) for r in rows),
            "bytes": size,
            "gb": float(round(gb(size), 3)),
            "storage_classes": sorted({r["storage_class"] or "" for r in rows}),
            "last_modified": newest.date(),
            "oldest_modified": min(r["oldest"] for r in rows if r["oldest"]).date(),
            "last_accessed": max(accessed).date() if accessed else None,
            "cost": cost,
            "currency": currency,
            "checkpoints": int(ckpt.get("checkpoints") or 0),
            "deletable_checkpoints": int(ckpt.get("deletable") or 0),
            "deletable_bytes": int(ckpt.get("deletable_bytes") or 0),
            "inventory_date": rows[0]["inventory_date"],
            "age_days": days_between(newest, ctx.as_of),
        },
    )


def _monthly(
    provider: str | None, bucket: str, rows: list[dict[str, Any]], prices: Prices
) -> tuple[Decimal | None, str | None]:
    """GB-months of each class at its price; None if any class has no price or currencies mix."""
    total, currencies = Decimal(0), set()
    for r in rows:
        price = prices.current(provider, bucket, r["storage_class"] or "STANDARD")
        if price is None:
            return None, None
        total += gb(int(r["bytes"] or 0)) * price.price
        currencies.add(price.currency)
    if len(currencies) != 1:
        return None, None
    return cents(total), currencies.pop()
