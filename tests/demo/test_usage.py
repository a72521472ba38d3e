"""The demo's usage and value data: every source loads, and it agrees with the bills."""

from __future__ import annotations

from pathlib import Path

import pytest

from aifinops import Workspace
from aifinops.demo.generator import DemoOptions, sized_company
from aifinops.demo.timeline import Timeline
from aifinops.demo.usage import write_usage
from aifinops.sources import registered
from tests.demo.build import demo_workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    workspace, loads = demo_workspace(tmp_path_factory.mktemp("demo-usage"), months=2)
    for item, summary in loads:
        assert summary.rows_quarantined == 0, item
        assert summary.rows_ingested == item.rows, item
        table = registered()[item.source].table
        file_id = summary.files[0].file_id
        stored = workspace.sql(f"SELECT count(*) FROM {table} WHERE x_IngestFileId = {file_id}")
        assert stored.column(0)[0].as_py() == item.rows, item
    return workspace


def one(ws: Workspace, sql: str) -> object:
    return ws.sql(sql).column(0)[0].as_py()


def test_every_job_runs_on_a_billed_machine_in_billed_hours(ws: Workspace) -> None:
    assert one(ws, "SELECT count(*) FROM jobs") > 100
    unbilled = ws.sql(
        """
        WITH billed AS (
          SELECT DISTINCT ResourceName, ChargePeriodStart FROM costs
          WHERE ChargeCategory = 'Usage' AND ChargePeriodEnd - ChargePeriodStart = INTERVAL 1 HOUR)
        SELECT j.job_id, j.host,
               date_diff('hour', j.start_time, j.end_time) AS hours,
               count(b.ChargePeriodStart) AS billed
        FROM jobs j LEFT JOIN billed b ON b.ResourceName = j.host
          AND b.ChargePeriodStart >= j.start_time AND b.ChargePeriodStart < j.end_time
        GROUP BY ALL
        HAVING count(b.ChargePeriodStart) <> date_diff('hour', j.start_time, j.end_time)
        """
    ).to_pylist()
    assert unbilled == []
    teams = {
        r["t"] for r in ws.sql("SELECT DISTINCT labels_map['team'] AS t FROM jobs").to_pylist()
    }
    assert {"research", "training-platform", "product-ml"} <= teams


def test_onprem_sits_beside_the_clouds(ws: Workspace) -> None:
    rows = ws.sql(
        "SELECT ResourceName, count(*) AS hours, any_value(x_GpuCount) AS gpus FROM costs "
        "WHERE ServiceProviderName = 'On-Premises' GROUP BY 1 ORDER BY 1"
    ).to_pylist()
    assert len(rows) == 10
    assert {r["hours"] for r in rows} == {(31 + 30) * 24}  # September and October
    assert {r["gpus"] for r in rows} == {"8", "4"}


def test_revenue_per_product_every_day(ws: Workspace) -> None:
    got = ws.sql(
        "SELECT labels_map['product'] AS product, count(*) AS days, min(value) > 0 AS positive "
        "FROM business_metrics WHERE metric = 'revenue' GROUP BY 1 ORDER BY 1"
    ).to_pylist()
    assert [(r["product"], r["days"], r["positive"]) for r in got] == [
        ("chat-assistant", 61, True),
        ("fraud-scoring", 61, True),
        ("semantic-search", 61, True),
        ("support-bot", 61, True),
    ]


def test_the_checkpoint_bucket_holds_stale_checkpoints(ws: Workspace) -> None:
    stale = one(
        ws,
        "SELECT sum(size_bytes) FROM storage_objects "
        "WHERE last_modified < inventory_date - INTERVAL 60 DAY",
    )
    total = one(ws, "SELECT sum(size_bytes) FROM storage_objects")
    assert 0.2 < float(stale) / float(total) < 0.9  # type: ignore[arg-type]
    assert one(ws, "SELECT count(*) FROM storage_objects WHERE key LIKE '%step=%'") == one(
        ws, "SELECT count(*) FROM storage_objects"
    )


def test_same_seed_same_usage_files(tmp_path: Path) -> None:
    timeline = Timeline.ending(DemoOptions().end_month, 1)
    company = sized_company(7, None, timeline)
    a = write_usage(tmp_path / "a", company, timeline)
    b = write_usage(tmp_path / "b", company, timeline)
    for x, y in zip(a, b, strict=True):
        assert x.path.read_bytes() == y.path.read_bytes()


def test_gpu_telemetry_only_in_billed_hours_and_idle_boxes_look_idle(ws: Workspace) -> None:
    assert one(ws, "SELECT count(*) FROM gpu_samples") > 10_000
    unbilled = one(
        ws,
        """
        SELECT count(*) FROM gpu_samples g ANTI JOIN (
          SELECT DISTINCT ResourceName, ChargePeriodStart FROM costs
          WHERE ChargeCategory = 'Usage') b
        ON b.ResourceName = g.host AND b.ChargePeriodStart = g.ts
        """,
    )
    assert unbilled == 0
    busy = ws.sql(
        "SELECT host LIKE 'p5-pretrain%' AS training, avg(gpu_util_pct) AS util FROM gpu_samples "
        "WHERE host LIKE 'p5-pretrain%' OR host LIKE 'scratch-gpu%' GROUP BY 1 ORDER BY 1"
    ).to_pylist()
    assert [r["training"] for r in busy] == [False, True]
    assert busy[0]["util"] < 2
    assert busy[1]["util"] > 85


def test_llm_usage_is_priced_and_its_cost_rows_add_up(ws: Workspace) -> None:
    usage = ws.sql(
        "SELECT source, count(*) AS n, count(cost) AS priced FROM llm_usage "
        "WHERE record_type = 'usage' GROUP BY 1 ORDER BY 1"
    ).to_pylist()
    assert [r["source"] for r in usage] == ["anthropic-usage", "litellm", "openai-usage"]
    assert all(r["n"] == r["priced"] for r in usage)
    assert one(ws, "SELECT sum(cost) FROM llm_usage") == one(
        ws, "SELECT sum(BilledCost) FROM costs WHERE x_LlmSource IS NOT NULL"
    )
    # The gateway's requests are summed per hour and key, not a cost row per request.
    assert one(ws, "SELECT count(*) FROM costs WHERE x_LlmSource = 'litellm'") < 7 * 24 * 20
