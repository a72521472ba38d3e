"""Storage recommendations (tiering, checkpoint retention) by hand through the real sources (a
storage listing, FOCUS bills, a jobs export), and on the demo's S3 Inventory."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aifinops import Workspace
from aifinops.analysis.recommend import (
    Confidence,
    Recommendation,
    RecommendContext,
    recommend,
    storage,
)
from aifinops.model.storage_prices import (
    CHECKPOINT_PATTERN,
    CheckpointPattern,
    StorageRecommendSettings,
    check_pattern,
)
from aifinops.model.timewindow import Window
from tests.conftest import FOCUS_12_HEADER, focus_row, write_focus_csv
from tests.demo.build import demo_workspace

GIB = 2**30
WINDOW = Window(date(2026, 10, 22), date(2026, 11, 21))
INVENTORY = [
    # bucket, key, GiB, last modified, class, last access, provider
    # run-a finished in August: steps 100..400; job metrics name step 100 the best.
    *[("ml-ckpt", f"exp/run-a/checkpoint-{s}/model.bin", 100, f"2026-08-0{i}", "STANDARD", "",
       "aws") for i, s in enumerate((100, 200, 300, 400), start=1)],
    # run-b is still writing (newest checkpoint two days before the inventory).
    *[("ml-ckpt", f"exp/run-b/step={s}/model.bin", 4, f"2026-11-1{s}", "STANDARD", "", "aws")
      for s in (6, 7, 8)],
    # run-c finished in September: two files per checkpoint, no job names its best.
    *[("ml-ckpt", f"exp/run-c/checkpoint-{s}/{name}", size, f"2026-09-0{s // 5}", "STANDARD",
       "", "aws") for s in (5, 10, 15) for name, size in (("model.bin", 20), ("optim.pt", 60))],
    # read five days ago: not cold although written in January
    ("ml-ckpt", "datasets/shard-1.bin", 50, "2026-01-01", "STANDARD", "2026-11-15", "aws"),
    # not read since June: cold by its access time
    ("ml-ckpt", "archive/old.tar", 10, "2026-01-01", "STANDARD", "2026-06-01", "aws"),
    # too small for Standard-IA / Glacier Instant Retrieval (128 KB minimum)
    ("ml-ckpt", "logs/app.log", 0, "2026-01-01", "STANDARD", "", "aws"),
    # a class with no price anywhere: left alone
    ("ml-ckpt", "tiered/blob.bin", 10, "2026-01-01", "INTELLIGENT_TIERING", "", "aws"),
    # Google Cloud Storage, no bills: list prices; every object has an access time
    ("gcs-data", "features/part-1.parquet", 200, "2026-01-01", "STANDARD", "2026-07-01", "gcp"),
    ("gcs-data", "ckpt/run-z/ckpt-1/model.bin", 10, "2026-10-25", "STANDARD", "2026-11-19",
     "gcp"),
    *[("gcs-data", f"ckpt/run-z/ckpt-{s}/model.bin", 10, "2026-11-01", "STANDARD", "2026-11-19",
       "gcp") for s in (2, 3)],
    # Azure: no prices in the bills or the table, never priced at zero
    *[("az-blob", f"runs/r/checkpoint-{s}/m.bin", 100, f"2026-01-0{s}", "Hot", "", "azure")
      for s in (1, 2, 3)],
]  # fmt: skip


def _write_inventory(path: Path) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["bucket", "key", "size", "last_modified", "storage_class",
                         "last_access", "provider", "tag:team"])  # fmt: skip
        for bucket, key, gib, modified, klass, accessed, provider in INVENTORY:
            size = gib * GIB if gib else 1024
            team = "data" if bucket == "gcs-data" else ""  # a team tag on the GCS objects
            used = f"{accessed}T00:00:00Z" if accessed else ""
            writer.writerow(
                [bucket, key, size, f"{modified}T00:00:00Z", klass, used, provider, team]
            )
    return path


def _bill(day: int, period: str, contracted: str, listed: str = "0.023") -> dict[str, str]:
    row = focus_row(period=period, day=day, cost="1.00", service="Amazon Simple Storage Service",
                    resource="arn:aws:s3:::ml-ckpt")  # fmt: skip
    return {
        **row,
        "ServiceCategory": "Storage",
        "PricingUnit": "GB-Months",
        "ChargeDescription": f"${listed} per GB - first 50 TB / month of storage used",
        "ListUnitPrice": listed,
        "ContractedUnitPrice": contracted,
    }


@pytest.fixture(scope="module")
def buckets(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("storage")
    ws = Workspace.init(root / "ws")
    inventory = _write_inventory(root / "inventory.csv")
    summary = ws.ingest([inventory], source="storage", strict=True, options={"date": "2026-11-20"})
    assert summary.rows_ingested == len(INVENTORY)
    # The bucket's storage price: 10% off list on 2026-11-10; older and later rows do not count.
    header = [*FOCUS_12_HEADER, "ListUnitPrice", "ContractedUnitPrice"]
    bills = [_bill(1, "2026-10", "0.023"), _bill(10, "2026-11", "0.0207"),
             _bill(1, "2026-12", "0.001")]  # fmt: skip
    ws.ingest([write_focus_csv(root / "bills.csv", bills, header)], strict=True)
    jobs = root / "jobs.csv"
    jobs.write_text(
        "job_id,start_time,end_time,metrics,checkpoint_dir\n"
        'j-a,2026-07-31T00:00:00Z,2026-08-05T00:00:00Z,"{""best_model_checkpoint"": '
        '""exp/run-a/checkpoint-100""}",s3://ml-ckpt/exp/run-a/\n'
        'j-x,2026-07-31T00:00:00Z,2026-08-05T00:00:00Z,"{""eval_loss"": 0.2}",s3://ml-ckpt/exp/run-c\n'
    )
    ws.ingest([jobs], source="jobs", strict=True)
    return ws


def _context(ws: Workspace, **storage_settings: Any) -> RecommendContext:
    settings = ws.settings.model_copy(
        update={"recommend_storage": StorageRecommendSettings(**storage_settings)}
    )
    return RecommendContext(window=WINDOW, settings=settings)


def _summary(recs: list[Recommendation]) -> list[tuple[str, str, Decimal, str, Confidence]]:
    return sorted((r.kind, r.target, r.monthly_saving, r.currency, r.confidence) for r in recs)


def test_checkpoint_retention_by_hand(buckets: Workspace) -> None:
    recs = storage.checkpoint_retention(buckets.engine, _context(buckets))
    # ml-ckpt/exp/: run-a keeps 400, 300 (newest two) and 100 (the job's best): deletes step
    # 200 (100 GiB); run-c keeps 15, 10: deletes step 5 (20 + 60 GiB); run-b is still running.
    # 180 GiB x 0.0207 (the bill's contracted price) = 3.726 -> 3.73; run-c's best is unknown:
    # medium. gcs-data/ckpt/: run-z (newest 19 days old) deletes ckpt-1: 10 GiB x 0.02 (list).
    # az-blob has no price: nothing.
    assert _summary(recs) == [
        ("checkpoint-retention", "gcs-data/ckpt/", Decimal("0.20"), "USD", Confidence.MEDIUM),
        ("checkpoint-retention", "ml-ckpt/exp/", Decimal("3.73"), "USD", Confidence.MEDIUM),
    ]
    exp = next(r for r in recs if r.target == "ml-ckpt/exp/")
    assert exp.details == {
        "bucket": "ml-ckpt",
        "prefix": "exp/",
        "gb": "180.00",
        "checkpoints_deleted": 2,
        "runs_kept_steps": {"exp/run-a": [100, 300, 400], "exp/run-c": [10, 15]},
    }
    assert exp.evidence.startswith("s3://ml-ckpt/exp/: 3 runs, 2 finished")
    assert "the best checkpoint (job metrics) is kept in 1 of them" in exp.evidence
    assert "STANDARD 0.0207 per GB-month (the bill's unit price on 2026-11-10)" in exp.evidence
    gcs = next(r for r in recs if r.target == "gcs-data/ckpt/")
    assert (exp.team, gcs.team) == (None, "data")
    assert gcs.evidence.startswith("gs://gcs-data/ckpt/")
    assert "no job metrics name a best checkpoint" in gcs.evidence


def test_retention_settings(buckets: Workspace) -> None:
    # Keep one: run-a also deletes 300 (the best, 100, stays), run-c deletes 10: 100 + 80 more
    # GiB = 360 x 0.0207 = 7.452 -> 7.45; run-z deletes ckpt-2 too: 0.40.
    keep_one = storage.checkpoint_retention(buckets.engine, _context(buckets, keep_last=1))
    assert [r.monthly_saving for r in sorted(keep_one, key=lambda r: r.target)] == [
        Decimal("0.40"),
        Decimal("7.45"),
    ]
    # Runs count as finished after 30 idle days: run-z (19 days) is left alone.
    patient = storage.checkpoint_retention(buckets.engine, _context(buckets, run_idle_days=30))
    assert [r.target for r in patient] == ["ml-ckpt/exp/"]
    # A window that ends before the inventory was taken has no inventory to learn from.
    before = RecommendContext(window=Window(date(2026, 10, 1), date(2026, 11, 19)))
    assert storage.checkpoint_retention(buckets.engine, before) == []
    assert storage.tiering(buckets.engine, before) == []
    # Another pattern: only step=N folders are checkpoints (run-b's, still running): nothing.
    custom = r"^(?P<run>.+)/step=(?P<step>\d+)/"
    assert (
        storage.checkpoint_retention(buckets.engine, _context(buckets, checkpoint_pattern=custom))
        == []
    )


def test_tiering_by_hand(buckets: Workspace) -> None:
    recs = storage.tiering(buckets.engine, _context(buckets))
    # ml-ckpt pays 0.0207 (0.9 x list): targets at 0.9 x list. Checkpoints retention deletes
    # are left out.
    # - GLACIER_IR (0.004 x 0.9 = 0.0036), unused 90+ days: run-a's kept 100, 300, 400 (300
    #   GiB, August) + archive/old.tar (10 GiB, read in June) = 310 GiB x 0.0171 = 5.301;
    #   4 objects x 0.02 / 1,000 = 0.00008 once, / 12 -> 5.30; not all have access times:
    #   medium.
    # - STANDARD_IA (0.0125 x 0.9 = 0.01125), 30-89 days: run-c's kept 10, 15 (160 GiB,
    #   September) x 0.00945 = 1.512 - 0.04 / 1,000 / 12 -> 1.51.
    # - gcs-data: features/ read in July (200 GiB): COLDLINE 0.004 against 0.02 list = 3.20;
    #   ckpt-1 is deleted and ckpt-2, 3 were read yesterday. Access times known: high.
    # Not recommended: the dataset read five days ago, the 1 KiB log (too small), the
    # Intelligent-Tiering blob (no price), run-b (recent), az-blob (no prices).
    assert _summary(recs) == [
        ("storage-tiering", "gcs-data -> COLDLINE", Decimal("3.20"), "USD", Confidence.HIGH),
        ("storage-tiering", "ml-ckpt -> GLACIER_IR", Decimal("5.30"), "USD", Confidence.MEDIUM),
        ("storage-tiering", "ml-ckpt -> STANDARD_IA", Decimal("1.51"), "USD", Confidence.MEDIUM),
    ]
    glacier = next(r for r in recs if r.target == "ml-ckpt -> GLACIER_IR")
    assert glacier.details == {
        "bucket": "ml-ckpt",
        "storage_class": "GLACIER_IR",
        "days": 90,
        "prefixes": ["archive/", "exp/"],
        "objects": 4,
        "gb": "310.00",
        "gb_with_access_times": "10.00",
        "storage_saving": "5.30",
        "transition_cost": "0.00",
    }
    # 0.0171 saved per GB-month against 0.03 per GB read: 57% read back a month cancels it.
    assert "reading back more than 57% of it a month cancels the saving" in glacier.evidence
    assert "GLACIER_IR costs 0.0036 per GB-month against STANDARD 0.0207" in glacier.evidence
    assert [r.team for r in sorted(recs, key=lambda r: r.target)] == ["data", None, None]


def test_tiering_rules_are_settings(buckets: Workspace) -> None:
    # Only Deep Archive after 180 days: archive/old.tar (June, 172 days) does not qualify;
    # run-a's (August) neither: nothing on S3. GCS has no DEEP_ARCHIVE class: nothing.
    deep = storage.tiering(buckets.engine, _context(buckets, tiering={"DEEP_ARCHIVE": 180}))
    assert deep == []
    # Glacier Flexible Retrieval after 90 days: hours to read back: low confidence.
    flexible = storage.tiering(buckets.engine, _context(buckets, tiering={"GLACIER": 90}))
    assert [(r.target, r.confidence) for r in flexible] == [("ml-ckpt -> GLACIER", Confidence.LOW)]


def test_checkpoint_pattern_is_checked() -> None:
    pattern = CheckpointPattern(CHECKPOINT_PATTERN)
    cases = {
        "runs/p/run-001/step=1000/model.safetensors": ("runs/p/run-001", 1000),
        "out/checkpoint-500/global_step500/mp_rank_00.pt": ("out", 500),
        "logs/version_0/checkpoints/epoch=3-step=1000.ckpt": ("logs/version_0/checkpoints", 1000),
        "checkpoints/run-17/step-500.pt": ("checkpoints/run-17", 500),
    }
    for key, (run, step) in cases.items():
        found = pattern.compiled.search(key)
        assert found is not None and (found["run"], int(found["step"])) == (run, step)
    assert pattern.compiled.search("data/step-by-step/notes.md") is None
    with pytest.raises(ValueError, match="named groups"):
        check_pattern(r"^(.+)/checkpoint-(\d+)/")
    with pytest.raises(ValueError, match="look-around"):
        check_pattern(r"^(?P<run>.+)/(?=ckpt)ckpt-(?P<step>\d+)")
    with pytest.raises(ValueError):
        StorageRecommendSettings(checkpoint_pattern="(")


def test_registered(buckets: Workspace) -> None:
    found = recommend(
        buckets.engine, _context(buckets), ["storage-tiering", "checkpoint-retention"]
    )
    assert [r.monthly_saving for r in found] == [
        Decimal("5.30"), Decimal("3.73"), Decimal("3.20"), Decimal("1.51"), Decimal("0.20")
    ]  # fmt: skip


# -- the demo --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws, _ = demo_workspace(tmp_path_factory.mktemp("demo"), months=1)
    return ws


def test_the_demo_finds_stale_checkpoints_of_finished_runs(demo: Workspace) -> None:
    ctx = RecommendContext(
        window=Window(date(2026, 10, 3), date(2026, 11, 2)), settings=demo.settings
    )
    recs = storage.checkpoint_retention(demo.engine, ctx)
    assert {r.target for r in recs} == {
        f"kestrel-checkpoints/runs/{p}/"
        for p in ("llm-7b-pretrain", "llm-7b-finetune", "llm-13b-ablation", "rlhf-experiments")
    }
    # The bill prices the checkpoint bucket at 0.021 per GB-month (S3 over 500 TB).
    for rec in recs:
        exact = Decimal(rec.details["gb"]) * Decimal("0.021")  # GB rounded to the cent
        assert abs(rec.monthly_saving - exact) <= Decimal("0.01")
        assert rec.confidence == Confidence.MEDIUM  # no job names a best checkpoint
        assert "no job metrics name a best checkpoint" in rec.evidence
    # Runs that wrote a checkpoint in the last 7 days keep everything.
    recent = demo.connection.execute(
        "SELECT DISTINCT regexp_extract(key, '^(runs/[^/]+/run-\\d+)/', 1) FROM storage_objects "
        "GROUP BY ALL HAVING max(last_modified) >= TIMESTAMPTZ '2026-10-26 00:00:00+00'"
    ).fetchall()
    kept = {run for rec in recs for run in rec.details["runs_kept_steps"]}
    assert recent and not kept & {run for (run,) in recent}
