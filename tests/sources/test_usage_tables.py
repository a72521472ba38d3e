"""Business metrics, storage inventories and scheduler job exports into their tables."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from aifinops import Workspace
from aifinops.errors import IngestError

DATA = Path(__file__).parent.parent / "data"


def rows(ws: Workspace, sql: str) -> list[tuple[object, ...]]:
    return [tuple(r.values()) for r in ws.sql(sql).to_pylist()]


# -- business metrics ---------------------------------------------------------------------------


def test_metrics_rows_dimensions_and_bad_rows(workspace: Workspace) -> None:
    summary = workspace.ingest([DATA / "metrics/revenue.csv"], source="metrics")
    assert (summary.rows_read, summary.rows_ingested, summary.rows_quarantined) == (6, 4, 2)
    got = rows(
        workspace,
        "SELECT period_start, period_end, metric, value, unit, labels, labels_map['team'] "
        "FROM business_metrics ORDER BY x_SourceRecord",
    )
    assert got == [
        (date(2026, 10, 1), date(2026, 10, 2), "revenue", Decimal("1250.40"), "USD",
         '{"product": "assistant", "team": "search"}', "search"),
        (date(2026, 10, 1), date(2026, 10, 2), "revenue", Decimal("310.10"), "USD",
         '{"team": "vision"}', "vision"),
        (date(2026, 10, 1), date(2026, 10, 2), "requests", Decimal("182000"), "requests",
         '{"product": "assistant", "team": "search"}', "search"),
        (date(2026, 10, 2), date(2026, 10, 3), "revenue", Decimal("1302.99"), "USD",
         '{"product": "assistant", "team": "search"}', "search"),
    ]  # fmt: skip
    reasons = rows(workspace, "SELECT line, column_name, reason FROM quarantine ORDER BY line")
    assert reasons == [
        (6, "value", "value: not a number: 'not-a-number'"),
        (7, "date", "date: missing value"),
    ]


def test_a_newer_metrics_file_replaces_the_same_period_metric_and_dimensions(
    workspace: Workspace, tmp_path: Path
) -> None:
    first = tmp_path / "a.csv"
    first.write_text("date,metric,value,team\n2026-10-01,revenue,100,search\n"
                     "2026-10-01,revenue,50,vision\n2026-10-01,users,7,\n")  # fmt: skip
    second = tmp_path / "b.csv"
    second.write_text(
        "date,metric,value,team\n2026-10-01,revenue,120,search\n2026-10-01,users,9,\n"
    )
    workspace.ingest([first], source="metrics")
    summary = workspace.ingest([second], source="metrics")
    assert summary.rows_replaced == 2
    got = rows(workspace, "SELECT metric, labels, value FROM business_metrics ORDER BY 1, 2")
    assert got == [
        ("revenue", '{"team": "search"}', Decimal("120")),
        ("revenue", '{"team": "vision"}', Decimal("50")),
        ("users", "{}", Decimal("9")),
    ]


def test_metrics_file_without_a_value_column_is_rejected(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "m.csv"
    path.write_text("date,metric,amount_usd\n2026-10-01,revenue,1\n")
    with pytest.raises(IngestError, match=r"missing column\(s\).*value"):
        workspace.ingest([path], source="metrics")
    assert rows(workspace, "SELECT count(*) FROM ingest_log") == [(0,)]


# -- storage inventories ------------------------------------------------------------------------


def test_s3_inventory_with_manifest_decodes_keys_and_takes_the_date(
    workspace: Workspace,
) -> None:
    folder = DATA / "storage/inventory/2026-11-20T01-00Z"
    summary = workspace.ingest([folder / "inventory-part-0.csv.gz"], source="storage")
    assert (summary.rows_ingested, summary.rows_quarantined) == (3, 1)
    got = rows(
        workspace,
        "SELECT inventory_date, provider, bucket, key, size_bytes, last_modified, storage_class "
        "FROM storage_objects ORDER BY x_SourceRecord",
    )
    assert got[1] == (
        date(2026, 11, 20), "aws", "ml-checkpoints",
        "runs/llama-ft-7b/step=2000/model final.safetensors", 14_500_000_000,
        datetime(2026, 3, 4, 10, tzinfo=UTC), "STANDARD",
    )  # fmt: skip
    assert [g[3] for g in got] == [
        "runs/llama-ft-7b/step-1000/model.safetensors",
        "runs/llama-ft-7b/step=2000/model final.safetensors",
        "datasets/tokenized/shard-0001.bin",
    ]
    assert rows(workspace, "SELECT line, reason FROM quarantine") == [(4, "Size: negative size")]


def test_headerless_inventory_without_manifest_needs_a_schema(
    workspace: Workspace, tmp_path: Path
) -> None:
    data = tmp_path / "part.csv.gz"
    shutil.copy(DATA / "storage/inventory/2026-11-20T01-00Z/inventory-part-0.csv.gz", data)
    with pytest.raises(IngestError, match="no header and no S3 Inventory manifest"):
        workspace.ingest([data], source="storage")
    fields = "Bucket,Key,Size,LastModifiedDate,StorageClass,ETag"
    with pytest.raises(IngestError, match="inventory date is unknown"):
        workspace.ingest([data], source="storage", options={"fields": fields})
    summary = workspace.ingest(
        [data], source="storage", options={"fields": fields, "date": "2026-11-21"}
    )
    assert summary.rows_ingested == 3
    assert rows(workspace, "SELECT DISTINCT inventory_date, provider FROM storage_objects") == [
        (date(2026, 11, 21), None)
    ]


def test_inventory_with_header_last_access_and_tags(workspace: Workspace) -> None:
    workspace.ingest(
        [DATA / "storage/with_header.csv"], source="storage", options={"date": "2026-11-20"}
    )
    got = rows(
        workspace,
        "SELECT key, last_accessed, labels, labels_map['team'] FROM storage_objects "
        "ORDER BY x_SourceRecord",
    )
    assert got == [
        ("checkpoints/run-17/step-500.pt", datetime(2026, 5, 2, tzinfo=UTC),
         '{"project": "llm", "team": "research"}', "research"),
        ("checkpoints/run-17/step-1000.pt", None, '{"project": "llm", "team": "research"}',
         "research"),
        ("eval/results.json", datetime(2026, 11, 19, tzinfo=UTC), '{"team": "platform"}',
         "platform"),
    ]  # fmt: skip


def test_a_new_inventory_of_the_bucket_for_the_same_day_replaces_it(
    workspace: Workspace, tmp_path: Path
) -> None:
    a = tmp_path / "a.csv"
    a.write_text("bucket,key,size\nb1,x,10\nb1,y,20\nb2,z,5\n")
    b = tmp_path / "b.csv"
    b.write_text("bucket,key,size\nb1,x,11\n")
    workspace.ingest([a], source="storage", options={"date": "2026-11-20"})
    workspace.ingest([b], source="storage", options={"date": "2026-11-20"})
    workspace.ingest([a], source="storage", options={"date": "2026-11-21"})
    got = rows(
        workspace,
        "SELECT inventory_date, bucket, sum(size_bytes) FROM storage_objects GROUP BY 1, 2 "
        "ORDER BY 1, 2",
    )
    assert got == [
        (date(2026, 11, 20), "b1", 11),
        (date(2026, 11, 20), "b2", 5),
        (date(2026, 11, 21), "b1", 30),
        (date(2026, 11, 21), "b2", 5),
    ]


# -- jobs ---------------------------------------------------------------------------------------


def test_slurm_sacct_export(workspace: Workspace) -> None:
    summary = workspace.ingest(
        [DATA / "jobs/sacct.txt"], source="jobs", options={"timezone": "Europe/Berlin"}
    )
    assert (summary.rows_ingested, summary.rows_quarantined) == (3, 1)
    got = rows(
        workspace,
        "SELECT job_id, name, start_time, end_time, host, gpu_count, gpu_model, status, "
        "exit_code, user_name, labels, source FROM jobs ORDER BY job_id",
    )
    assert got == [
        ("4101", "pretrain-7b", datetime(2026, 10, 1, 6, tzinfo=UTC),
         datetime(2026, 10, 2, 18, tzinfo=UTC), "gpu-node-01", 8, "a100", "completed", 0,
         "alice", '{"Account": "research", "Partition": "gpu"}', "slurm"),
        ("4102", "finetune-sweep", datetime(2026, 10, 2, 7, 30, tzinfo=UTC),
         datetime(2026, 10, 2, 8, 15, tzinfo=UTC), "gpu-node-02", 2, None, "failed", 1, "bob",
         '{"Account": "product", "Partition": "gpu"}', "slurm"),
        ("4103", "eval", datetime(2026, 10, 2, 23, tzinfo=UTC), None, "gpu-node-03", 1, None,
         "running", 0, "carol", '{"Account": "research", "Partition": "gpu"}', "slurm"),
    ]  # fmt: skip
    assert rows(workspace, "SELECT line, reason FROM quarantine") == [(5, "End: ends before start")]


def test_a_later_export_of_a_running_job_replaces_it(workspace: Workspace, tmp_path: Path) -> None:
    running = tmp_path / "a.csv"
    running.write_text("job_id,start,end,status,gpus_count,team\n"
                       "j1,2026-10-01T00:00:00Z,,running,4,research\n")  # fmt: skip
    done = tmp_path / "b.csv"
    header = "job_id,start,end,status,gpus_count,team\n"
    done.write_text(header + "j1,2026-10-01T00:00:00Z,2026-10-01T05:00:00Z,completed,4,research\n")
    workspace.ingest([running], source="jobs")
    workspace.ingest([done], source="jobs")
    assert rows(workspace, "SELECT job_id, status, end_time, labels_map['team'] FROM jobs") == [
        ("j1", "completed", datetime(2026, 10, 1, 5, tzinfo=UTC), "research")
    ]


def test_unknown_time_zone_is_a_clear_error(workspace: Workspace) -> None:
    with pytest.raises(IngestError, match="unknown time zone"):
        workspace.ingest(
            [DATA / "jobs/sacct.txt"], source="jobs", options={"timezone": "Mars/Base"}
        )


def test_an_option_the_source_does_not_take_is_refused(workspace: Workspace) -> None:
    with pytest.raises(IngestError, match="takes no option 'colour'"):
        workspace.ingest([DATA / "jobs/sacct.txt"], source="jobs", options={"colour": "red"})


def test_usage_status_counts_each_table(workspace: Workspace) -> None:
    workspace.ingest([DATA / "metrics/revenue.csv"], source="metrics")
    got = {r["table_name"]: r for r in workspace.usage_status().to_pylist()}
    assert got["business_metrics"]["rows"] == 4
    assert (got["business_metrics"]["first_day"], got["business_metrics"]["last_day"]) == (
        date(2026, 10, 1),
        date(2026, 10, 2),
    )
    assert got["jobs"]["rows"] == 0
