"""Checkpoint retention: keep the newest checkpoints and the best per finished run.

See :mod:`aifinops.analysis.recommend.storage` for the method.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aifinops.analysis.recommend import Confidence, Recommendation, RecommendContext
from aifinops.analysis.recommend.buckets import (
    Prices,
    bill_prices,
    cents,
    gb,
    latest_inventory,
    only_team,
    rate,
    settings_of,
    url,
)
from aifinops.model.storage_prices import StorageRecommendSettings, canonical_class

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.engine import Engine

_SEP = "\x1f"


def checkpoint_objects(
    engine: Engine, ctx: RecommendContext, inventory: ir.Table | None = None
) -> ir.Table:
    """The newest inventory's checkpoint objects with their ``run``, ``step``, ``rank`` (0 =
    newest step of the run), ``finished`` run, ``best`` step and whether to ``delete`` them."""
    import ibis

    s = settings_of(ctx)
    pattern = s.pattern
    objects = inventory if inventory is not None else latest_inventory(engine, ctx)
    objects = objects.filter(objects.key.re_search(pattern.portable))
    run = objects.key.re_extract(pattern.portable, pattern.run_group)
    step = objects.key.re_extract(pattern.portable, pattern.step_group).cast("int64")
    objects = objects.mutate(run=run, step=step)
    per_run = ibis.window(group_by=[objects.bucket, objects.run])
    rank = ibis.dense_rank().over(
        ibis.window(group_by=[objects.bucket, objects.run], order_by=objects.step.desc())
    )
    newest = objects.last_modified.max().over(per_run)
    cutoff = objects.inventory_date - ibis.interval(days=s.run_idle_days)
    objects = objects.mutate(rank=rank, finished=newest.date() <= cutoff)
    best = _best_steps(engine, ctx)
    in_bucket = objects.bucket.concat(_SEP, objects.run, _SEP, objects.step.cast("string"))
    anywhere = objects.run.concat(_SEP, objects.step.cast("string"))
    is_best = in_bucket.isin(best[0] or [""]) | anywhere.isin(best[1] or [""])
    objects = objects.mutate(best=is_best)
    keep = (objects["rank"] < s.keep_last) | objects.best
    return objects.mutate(delete=objects.finished.fill_null(False) & ~keep)


def _best_steps(engine: Engine, ctx: RecommendContext) -> tuple[list[str], list[str]]:
    """Best checkpoints named by job metrics: ``bucket|run|step`` keys, and ``run|step`` keys
    of jobs whose folder names no bucket."""
    import ibis

    s = settings_of(ctx)
    if not s.run_labels:
        return [], []
    jobs = engine.table("jobs")
    folders = [jobs.labels_map.get(k).nullif("") for k in s.run_labels]
    folder = folders[0] if len(folders) == 1 else ibis.coalesce(*folders)
    jobs = jobs.mutate(folder=folder)
    jobs = jobs.filter(jobs.metrics.notnull(), jobs.folder.notnull())
    with_bucket, without = [], []
    for row in engine.execute(jobs.select("folder", "metrics")).to_pylist():
        step = _best_step(row["metrics"], s)
        if step is None:
            continue
        bucket, run = _folder(row["folder"])
        if bucket:
            with_bucket.append(f"{bucket}{_SEP}{run}{_SEP}{step}")
        else:
            without.append(f"{run}{_SEP}{step}")
    return with_bucket, without


def _best_step(metrics: str, s: StorageRecommendSettings) -> int | None:
    try:
        values = json.loads(metrics)
    except json.JSONDecodeError:
        return None
    if not isinstance(values, dict):
        return None
    for key in s.best_metrics:
        value = values.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip():
            text = value.strip()
            return int(text) if text.isdigit() else s.pattern.step_of(text)
    return None


def _folder(text: str) -> tuple[str | None, str]:
    """``s3://bucket/runs/x/`` -> (bucket, ``runs/x``); ``runs/x`` -> (None, ``runs/x``)."""
    found = re.match(r"^[a-z0-9]+://([^/]+)/?(.*)$", text.strip())
    if found:
        return found.group(1), found.group(2).strip("/")
    return None, text.strip().strip("/")


def retention(engine: Engine, ctx: RecommendContext) -> list[Recommendation]:
    """Keep the newest checkpoints and the best per finished run; delete the rest."""
    s = settings_of(ctx)
    ckpt = checkpoint_objects(engine, ctx)
    per_run = ckpt.group_by(["provider", "bucket", "run", "storage_class", "inventory_date"])
    rows = engine.execute(
        per_run.aggregate(
            checkpoints=ckpt.step.nunique(),
            deleted=ckpt.step.nunique(where=ckpt.delete),
            bytes=ckpt.size_bytes.sum(where=ckpt.delete),
            finished=ckpt.finished.fill_null(False).any(),
            best=ckpt.best.any(),
            kept=ckpt.step.collect(where=~ckpt.delete, distinct=True),
            teams=ckpt.labels_map.get("team").collect(distinct=True),
        )
    ).to_pylist()
    prices = Prices(bill_prices(engine, ctx))
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["bucket"], row["run"].rpartition("/")[0] or row["run"])].append(row)
    found = []
    for (bucket, parent), runs in sorted(groups.items()):
        found.extend(_retention(s, prices, bucket, parent, runs))
    return found


def _retention(
    s: StorageRecommendSettings,
    prices: Prices,
    bucket: str,
    parent: str,
    rows: list[dict[str, Any]],
) -> list[Recommendation]:
    """The recommendations (one per currency) for the runs under one folder."""
    by_currency: dict[str, list[tuple[dict[str, Any], Decimal]]] = defaultdict(list)
    unpriced = Decimal(0)
    for row in rows:
        if not row["deleted"] or not row["bytes"]:
            continue
        price = prices.current(row["provider"], bucket, row["storage_class"])
        if price is None:
            unpriced += gb(row["bytes"])
            continue
        source = f"{canonical_class(row['storage_class'])} {rate(price.price)} per GB-month "
        by_currency[price.currency].append(({**row, "_source": source + f"({price.source})"},
                                            price.price))  # fmt: skip
    out = []
    for currency, priced in sorted(by_currency.items()):
        monthly = sum((gb(r["bytes"]) * price for r, price in priced), Decimal(0))
        if cents(monthly) > 0:
            deleting = [r for r, _ in priced]
            out.append(
                _retention_recommendation(
                    s, bucket, parent, rows, deleting,
                    currency=currency, monthly=monthly, unpriced=unpriced,
                )
            )  # fmt: skip
    return out


def _retention_recommendation(
    s: StorageRecommendSettings,
    bucket: str,
    parent: str,
    rows: list[dict[str, Any]],
    deleting: list[dict[str, Any]],
    *,
    currency: str,
    monthly: Decimal,
    unpriced: Decimal,
) -> Recommendation:
    size = sum((gb(r["bytes"]) for r in deleting), Decimal(0))
    checkpoints = sum(r["deleted"] for r in deleting)
    runs = sorted({r["run"] for r in deleting})
    with_best = len({r["run"] for r in rows if r["best"]} & set(runs))
    best = (
        "no job metrics name a best checkpoint: only the newest are kept, so check that none "
        "of the deleted ones is the one to keep"
        if not with_best
        else f"the best checkpoint (job metrics) is kept in {with_best} of them"
        + ("" if with_best == len(runs) else "; in the others only the newest are kept")
    )
    finished = len({r["run"] for r in rows if r["finished"]})
    evidence = (
        f"{url(rows[0]['provider'], bucket, parent)}/: {len({r['run'] for r in rows})} runs, "
        f"{finished} finished (no new checkpoint for {s.run_idle_days}+ days); in {len(runs)} "
        f"of them {checkpoints} checkpoints ({size:,.1f} GB) are older than the newest "
        f"{s.keep_last}; {best}; priced at {'; '.join(sorted({r['_source'] for r in deleting}))}"
        + (f"; {unpriced:,.1f} GB in classes without a price left out" if unpriced else "")
    )
    return Recommendation(
        kind="checkpoint-retention",
        target=f"{bucket}/{parent}/",
        action=f"Delete {checkpoints} old checkpoints of {len(runs)} finished runs under "
        f"{bucket}/{parent}/, keeping the newest {s.keep_last} (and the best) per run",
        monthly_saving=cents(monthly),
        currency=currency,
        confidence=Confidence.HIGH if with_best == len(runs) else Confidence.MEDIUM,
        evidence=evidence,
        team=only_team(deleting),
        details={
            "bucket": bucket,
            "prefix": f"{parent}/",
            "gb": str(cents(size)),
            "checkpoints_deleted": checkpoints,
            "runs_kept_steps": {
                run: sorted({step for r in rows if r["run"] == run for step in r["kept"] or ()})
                for run in runs
            },
        },
    )
