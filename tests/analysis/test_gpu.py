"""GPU efficiency: idle and under-used GPU cost, by hand on small tables and on the demo."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aifinops import Workspace
from aifinops.analysis.gpu import GpuEfficiencyQuery
from aifinops.errors import QueryError
from aifinops.model.gpu_catalog import instance_type, name_pattern
from tests.cli.runner import run_cli
from tests.demo.build import demo_workspace

# Hand-made costs. box-a: AWS g5.12xlarge (4 x A10G, type found in the charge description), two
# hours on Saturday 2026-10-03 at $4.00 ($1.00 per GPU-hour). box-b: an on-prem server with
# x_GpuCount 2, one daily row of $48.00 on Monday 2026-10-05 ($1.00 per GPU-hour). box-c: GCP
# a2-highgpu-1g named in SkuPriceDetails, no telemetry. Not GPU machines or not usage: an m5.large,
# a tax row on box-a.
_COSTS = [
    # machine, start, end, cost, description, details, gpu count, gpu model, category, team
    ("box-a", "2026-10-03 00:00", "2026-10-03 01:00", "4.00",
     "$5.672 per On Demand Linux g5.12xlarge Instance Hour", None, None, None, "Usage", "alpha"),
    ("box-a", "2026-10-03 01:00", "2026-10-03 02:00", "4.00",
     "$5.672 per On Demand Linux g5.12xlarge Instance Hour", None, None, None, "Usage", "alpha"),
    ("box-a", "2026-10-03 01:00", "2026-10-03 02:00", "0.40",
     "g5.12xlarge sales tax", None, None, None, "Tax", "alpha"),
    ("box-b", "2026-10-05 00:00", "2026-10-06 00:00", "48.00",
     "On-premises GPU server box-b", None, "2", "L40S-48GB", "Usage", "beta"),
    ("box-c", "2026-10-05 00:00", "2026-10-05 01:00", "3.673385", "a2 instance running",
     '{"InstanceType":"a2-highgpu-1g","GpuCount":1}', None, None, "Usage", "alpha"),
    ("cpu-box", "2026-10-03 00:00", "2026-10-03 01:00", "0.096",
     "$0.096 per On Demand Linux m5.large Instance Hour", None, None, None, "Usage", "alpha"),
]  # fmt: skip

# (host, ts, gpu_index, util %). box-a 00h: GPUs at 0, 0, 2 (mean of 1 and 3), 80 -> 3 idle
# GPU-hours = $3.00. box-a 01h: 20, 40, 60, 100 -> under-used 20 and 40: (0.8 + 0.6) x $1 = $1.40.
# box-b 03h: 1, 1 -> 2 idle = $2.00; 13h: GPU 0 at 30 (GPU 1 silent) -> under-used 0.7 = $0.70.
_SAMPLES = [
    ("box-a", "2026-10-03 00:10", 0, 0.0), ("box-a", "2026-10-03 00:10", 1, 0.0),
    ("box-a", "2026-10-03 00:10", 2, 1.0), ("box-a", "2026-10-03 00:40", 2, 3.0),
    ("box-a", "2026-10-03 00:10", 3, 80.0),
    ("box-a", "2026-10-03 01:10", 0, 20.0), ("box-a", "2026-10-03 01:10", 1, 40.0),
    ("box-a", "2026-10-03 01:10", 2, 60.0), ("box-a", "2026-10-03 01:10", 3, 100.0),
    ("box-a", "2026-10-03 05:00", 0, 0.0),  # no bill in that hour: ignored
    ("box-b", "2026-10-05 03:15", 0, 1.0), ("box-b", "2026-10-05 03:15", 1, 1.0),
    ("box-b", "2026-10-05 13:15", 0, 30.0),
]  # fmt: skip


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace.init(tmp_path_factory.mktemp("gpu-small"))
    con = ws.connection
    assert small_is_empty(ws)
    for column in ("x_GpuCount", "x_GpuModel"):  # as the on-prem source's first load adds them
        con.execute(f"ALTER TABLE costs ADD COLUMN {column} VARCHAR")
    for record, (machine, start, end, cost, desc, details, n, model, cat, team) in enumerate(
        _COSTS
    ):
        con.execute(
            "INSERT INTO costs (x_IngestFileId, x_SourceRecord, ResourceName, ChargePeriodStart, "
            "ChargePeriodEnd, x_ChargeDate, BilledCost, EffectiveCost, BillingCurrency, "
            "ChargeDescription, SkuPriceDetails, x_GpuCount, x_GpuModel, ChargeCategory, Tags, "
            "x_TagsMap) VALUES (1, ?, ?, ?::TIMESTAMPTZ, ?::TIMESTAMPTZ, ?::DATE, ?, ?, 'USD', "
            "?, ?, ?, ?, ?, ?, MAP {'team': ?})",
            [
                *(record, machine, f"{start}:00Z", f"{end}:00Z", start[:10], cost, cost, desc),
                *(details, n, model, cat, f'{{"team": "{team}"}}', team),
            ],
        )
    for host, ts, index, util in _SAMPLES:
        con.execute(
            "INSERT INTO gpu_samples (ts, host, gpu_index, gpu_util_pct, source, x_IngestFileId) "
            "VALUES (?::TIMESTAMPTZ, ?, ?, ?, 'test', 2)",
            [f"{ts}:00Z", host, index, util],
        )
    return ws


def small_is_empty(ws: Workspace) -> bool:
    """An empty workspace (no x_GpuCount column yet) has no GPU machines, and says so."""
    rows: int = ws.gpu_efficiency().num_rows + ws.gpu_efficiency(pattern=True).num_rows
    return rows == 0


def _rows(table: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def test_idle_and_under_used_dollars_by_hand(small: Workspace) -> None:
    got = _rows(small.gpu_efficiency())
    assert [(r["tag:team"], r["machine"], r["instance_type"], r["gpu_model"]) for r in got] == [
        ("alpha", "box-a", "g5.12xlarge", "A10G"),
        ("beta", "box-b", None, "L40S-48GB"),
        ("alpha", "box-c", "a2-highgpu-1g", "A100-40GB"),
    ]
    a, b, c = got
    assert (a["cost"], a["idle_cost"], a["under_used_cost"]) == (
        Decimal("8.00"),
        Decimal("3.00"),
        Decimal("1.40"),
    )
    assert (a["gpu_hours"], a["telemetry_gpu_hours"], a["idle_gpu_hours"]) == (8, 8, 3)
    assert a["unknown_share"] == 0
    assert a["avg_util_pct"] == pytest.approx((0 + 0 + 2 + 80 + 20 + 40 + 60 + 100) / 8)
    assert (b["cost"], b["idle_cost"], b["under_used_cost"]) == (
        Decimal("48.00"),
        Decimal("2.00"),
        Decimal("0.70"),
    )
    assert (b["gpu_hours"], b["telemetry_gpu_hours"]) == (48, 3)
    assert b["unknown_share"] == pytest.approx(1 - 3 / 48)
    assert b["avg_util_pct"] == pytest.approx((1 + 1 + 30) / 3)
    # No telemetry: unknown, never idle.
    assert (c["cost"], c["idle_cost"], c["under_used_cost"]) == (
        Decimal("3.673385"),
        Decimal("0.00"),
        Decimal("0.00"),
    )
    assert (c["gpu_hours"], c["telemetry_gpu_hours"], c["unknown_share"]) == (1, 0, 1)
    assert c["avg_util_pct"] is None


def test_thresholds_and_rollups(small: Workspace) -> None:
    # busy from 25%: box-a's 20% GPU-hour is the only under-used one (0.8); box-b's 30% is busy.
    got = _rows(small.gpu_efficiency(["tag:team"], busy_from=25))
    assert [(r["tag:team"], r["idle_cost"], r["under_used_cost"], r["cost"]) for r in got] == [
        ("alpha", Decimal("3.00"), Decimal("0.80"), Decimal("11.673385")),
        ("beta", Decimal("2.00"), Decimal("0.00"), Decimal("48.00")),
    ]
    # idle below 1.5%: box-a's 2% GPU is under-used now (0.98).
    got = _rows(small.gpu_efficiency(["gpu_model"], idle_below=1.5))
    a10g = next(r for r in got if r["gpu_model"] == "A10G")
    assert (a10g["idle_cost"], a10g["under_used_cost"]) == (Decimal("2.00"), Decimal("2.38"))
    got = _rows(small.gpu_efficiency(["machine"], start="2026-10-04", end="2026-10-05"))
    assert [r["machine"] for r in got] == ["box-b", "box-c"]
    with pytest.raises(QueryError):
        GpuEfficiencyQuery(idle_below=60, busy_from=50)


def test_idle_pattern_by_day_type_and_hour_band(small: Workspace) -> None:
    got = _rows(small.gpu_efficiency(pattern=True))
    assert [
        tuple(
            r[k]
            for k in ("day_type", "hour_band", "telemetry_gpu_hours", "idle_gpu_hours", "idle_cost")
        )
        for r in got
    ] == [
        ("weekday", "00-06", 2, 2, Decimal("2.00")),
        ("weekday", "12-18", 1, 0, Decimal("0.00")),
        ("weekend", "00-06", 8, 3, Decimal("3.00")),
    ]


def test_catalog_finds_types_in_descriptions() -> None:
    import re

    pattern = re.compile(name_pattern().removeprefix("(?i)"), re.IGNORECASE)
    found = {
        text: (m.group(1) if (m := pattern.search(text)) else None)
        for text in (
            "$55.040000000 per On Demand Linux p5.48xlarge Instance Hour",
            "Standard_ND96isr_H100_v5 - Reservation - 1 Hour (ND96isr H100 v5, East US, 1 year)",
            "Commitment v1: a3-highgpu-8g in Iowa for 1 year",
            "ml.g5.2xlarge hosting",  # SageMaker: not an EC2 type
        )
    }
    assert list(found.values()) == [
        "p5.48xlarge",
        "Standard_ND96isr_H100_v5",
        "a3-highgpu-8g",
        None,
    ]
    p5 = instance_type("P5.48XLARGE")
    assert p5 is not None and (p5.gpu_model, p5.gpu_count) == ("H100", Decimal(8))
    nv = instance_type("Standard_NV6ads_A10_v5")
    assert nv is not None and nv.gpu_count == Decimal("0.167")
    assert instance_type("m5.large") is None


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    # on-prem costs, GPU telemetry (Prometheus), jobs, LLM usage ... beside the bills
    return demo_workspace(tmp_path_factory.mktemp("gpu-demo"), months=1)[0]


def test_demo_idle_boxes_top_the_report(demo: Workspace) -> None:
    span = demo.sql("SELECT min(ts)::DATE AS a, max(ts)::DATE AS b FROM gpu_samples").to_pylist()
    first, last = span[0]["a"], span[0]["b"]
    got = _rows(demo.gpu_efficiency(["machine"], start=str(first), end=str(last)))
    top = [r["machine"] for r in got[:2]]
    assert top[0] == "gpu-sandbox-old"  # 8 x A10G, forgotten, 0% busy
    idle_boxes = {
        r["machine"] for r in got if r["avg_util_pct"] is not None and r["avg_util_pct"] < 2
    }
    assert {"gpu-sandbox-old", "scratch-gpu-01", "instance-01"} <= idle_boxes
    for r in got:
        if r["machine"] in idle_boxes:  # every hour seen is idle: idle cost is the whole cost
            assert r["unknown_share"] == pytest.approx(0, abs=0.05)
            assert r["idle_cost"] >= r["cost"] * Decimal("0.9") > 0
        if r["machine"].startswith("p5-pretrain"):  # busy training: no waste to speak of
            assert r["avg_util_pct"] > 85
            assert r["idle_cost"] + r["under_used_cost"] < r["cost"] * Decimal("0.05")
    # Idle boxes rank above every busy machine.
    ranks = {r["machine"]: i for i, r in enumerate(got)}
    busiest = min(ranks[m] for m in ranks if m.startswith("p5-pretrain"))
    assert max(ranks[m] for m in idle_boxes) < busiest


def test_cli_report_gpu_efficiency(demo: Workspace, tmp_path: Path) -> None:
    demo.close()  # the CLI opens the store in another process
    done = run_cli(
        "report", "gpu-efficiency", "--by", "machine", "-f", "csv", "-w", demo.path, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("machine,BillingCurrency,gpu_hours,telemetry_gpu_hours")
    assert lines[1].startswith("gpu-sandbox-old,USD,")
    done = run_cli(
        "report", "gpu-efficiency", "--pattern", "-f", "json", "-w", demo.path, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert '"day_type"' in done.stdout and '"weekend"' in done.stdout
