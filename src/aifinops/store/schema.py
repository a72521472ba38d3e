"""The workspace schema (DuckDB DDL) and its migrations.

``costs`` holds the FOCUS 1.4 Cost and Usage columns plus the 1.2 names deprecated in 1.3, money as
``DECIMAL(38,18)`` (exact; 20 integer digits), times as ``TIMESTAMPTZ`` in UTC, and these columns of
our own:

* ``x_IngestFileId``, ``x_SourceRecord``: the ingested file (``ingest_log.file_id``) and record
  number (1 = first data row) each row came from;
* ``x_ChargeDate``: the UTC date of ``ChargePeriodStart``, for day/week/month buckets;
* ``x_TagsMap``: ``Tags`` parsed into a ``MAP(VARCHAR, VARCHAR)`` (tag access is a map lookup, which
  is 1.6x faster than JSON access and portable to Spark);
* ``x_FocusVersion``: the FOCUS version of the source file.

Columns of a source file that are not FOCUS columns are added as ``x_<name> VARCHAR`` when first
seen. Migrations are numbered; ``meta.schema_version`` says which have run.
"""

from __future__ import annotations

from collections.abc import Iterable

from aifinops.model.focus import ColumnType, FocusColumn, all_columns

MONEY = "DECIMAL(38,18)"
SQL_TYPES = {
    ColumnType.STRING: "VARCHAR",
    ColumnType.DECIMAL: MONEY,
    ColumnType.DATETIME: "TIMESTAMPTZ",
    ColumnType.JSON: "VARCHAR",
}

#: Our own columns on ``costs``; exports leave them out.
INTERNAL_COLUMNS: dict[str, str] = {
    "x_IngestFileId": "INTEGER NOT NULL",
    "x_SourceRecord": "BIGINT",
    "x_ChargeDate": "DATE",
    "x_TagsMap": "MAP(VARCHAR, VARCHAR)",
    "x_FocusVersion": "VARCHAR",
}

#: Internal columns hidden from ``focus_data_table`` (the analysts' FOCUS view).
HIDDEN_IN_VIEW = ("x_IngestFileId", "x_SourceRecord", "x_TagsMap")


def quote(name: str) -> str:
    """A SQL identifier, double-quoted."""
    return '"' + name.replace('"', '""') + '"'


def json_map(column: str) -> str:
    """SQL reading a JSON object column as ``MAP(VARCHAR, VARCHAR)`` (NULL when it is not one)."""
    return (
        f"TRY_CAST(json_transform({quote(column)}, '\"MAP(VARCHAR, VARCHAR)\"') "
        "AS MAP(VARCHAR, VARCHAR))"
    )


def sql_type(col: FocusColumn) -> str:
    return SQL_TYPES[col.type]


def _costs_ddl() -> str:
    cols = [f"{quote(c.name)} {sql_type(c)}" for c in all_columns()]
    cols += [f"{quote(n)} {t}" for n, t in INTERNAL_COLUMNS.items()]
    return "CREATE TABLE costs (\n  " + ",\n  ".join(cols) + "\n)"


def view_ddl() -> str:
    hidden = ", ".join(quote(c) for c in HIDDEN_IN_VIEW)
    return f"CREATE OR REPLACE VIEW focus_data_table AS SELECT * EXCLUDE ({hidden}) FROM costs"


_LEDGER = """
CREATE TABLE ingest_log (
  file_id INTEGER NOT NULL,
  load_id INTEGER NOT NULL,
  source VARCHAR NOT NULL,
  path VARCHAR NOT NULL,
  sha256 VARCHAR NOT NULL,
  size_bytes BIGINT NOT NULL,
  format VARCHAR NOT NULL,
  focus_version VARCHAR,
  rows_read BIGINT NOT NULL,
  rows_ingested BIGINT NOT NULL,
  rows_quarantined BIGINT NOT NULL,
  rows_superseded BIGINT NOT NULL DEFAULT 0,
  warnings VARCHAR,
  ingested_at TIMESTAMPTZ NOT NULL,
  superseded_by_load INTEGER
)"""

_QUARANTINE = """
CREATE TABLE quarantine (
  file_id INTEGER NOT NULL,
  path VARCHAR NOT NULL,
  line BIGINT,
  record BIGINT,
  column_name VARCHAR,
  reason VARCHAR NOT NULL,
  value VARCHAR,
  raw VARCHAR
)"""

#: Every table an ingest fills carries the ingested file and the record number each row came from.
_FILE_COLUMNS = """
  x_IngestFileId INTEGER NOT NULL,
  x_SourceRecord BIGINT"""

# Usage tables (ARCHITECTURE.md "The spine"). Labels are kept as the JSON object they arrive as
# (``labels``) and as a MAP for lookups (``labels_map``, filled on insert: see DERIVED).

#: One GPU (or MIG instance) at one time: what it did and who ran on it. Filled by the
#: ``dcgm``, ``prometheus`` and ``nvidia-smi`` sources (see docs/sources/gpu-telemetry.md); one
#: row per (ts, host, gpu_uuid, gpu_index, mig_instance): re-exported samples merge into it.
#: ``*_active`` / ``sm_occupancy`` are DCGM profiling ratios (0..1); ``energy_j`` is the
#: device's energy counter since boot (joules; use differences).
_GPU_SAMPLES = f"""
CREATE TABLE gpu_samples (
  ts TIMESTAMPTZ NOT NULL,
  host VARCHAR,
  gpu_index INTEGER,
  gpu_uuid VARCHAR,
  gpu_model VARCHAR,
  mig_profile VARCHAR,
  mig_instance VARCHAR,
  gpu_util_pct DOUBLE,
  sm_active DOUBLE,
  sm_occupancy DOUBLE,
  tensor_active DOUBLE,
  dram_active DOUBLE,
  gr_engine_active DOUBLE,
  mem_copy_util_pct DOUBLE,
  fb_used_mib DOUBLE,
  fb_free_mib DOUBLE,
  fb_total_mib DOUBLE,
  fb_reserved_mib DOUBLE,
  power_w DOUBLE,
  power_limit_w DOUBLE,
  energy_j DOUBLE,
  temperature_c DOUBLE,
  memory_temp_c DOUBLE,
  sm_clock_mhz DOUBLE,
  mem_clock_mhz DOUBLE,
  namespace VARCHAR,
  pod VARCHAR,
  container VARCHAR,
  job_id VARCHAR,
  labels VARCHAR,
  labels_map MAP(VARCHAR, VARCHAR),
  source VARCHAR NOT NULL,{_FILE_COLUMNS}
)"""

#: One process on one GPU in one nvidia-smi snapshot (``nvidia-smi-apps`` source; see
#: docs/sources/gpu-telemetry.md, "Per-process rows"). ``kind`` is ``running``
#: (``--query-compute-apps``: ``used_memory_mib`` now) or ``accounted`` (``--query-accounted-apps``:
#: utilisation, peak memory and active time of the process so far; cumulative, so take the latest
#: snapshot of a pid, never a sum). One row per (ts, host, gpu_uuid, pid, kind) across files and
#: loads: the latest file wins. Under MIG, ``gpu_uuid`` is the parent GPU. Joined to ``jobs`` by
#: host + pid + time.
_GPU_PROCESSES = f"""
CREATE TABLE gpu_processes (
  ts TIMESTAMPTZ NOT NULL,
  host VARCHAR,
  gpu_uuid VARCHAR,
  gpu_model VARCHAR,
  gpu_bus_id VARCHAR,
  pid BIGINT NOT NULL,
  process_name VARCHAR,
  kind VARCHAR NOT NULL,
  used_memory_mib DOUBLE,
  gpu_util_pct DOUBLE,
  mem_util_pct DOUBLE,
  max_memory_mib DOUBLE,
  run_time_ms BIGINT,
  labels VARCHAR,
  labels_map MAP(VARCHAR, VARCHAR),
  source VARCHAR NOT NULL,{_FILE_COLUMNS}
)"""

#: One LLM request, or one usage bucket of an export, with its tokens by kind and its price.
#: Token kinds are disjoint except ``reasoning_tokens``, which is part of ``output_tokens``.
#: ``record_type`` is ``usage`` (tokens, priced: ``cost``, ``list_cost``) or ``cost`` (the
#: vendor's own cost report: ``vendor_cost`` only). See docs/sources/llm.md.
_LLM_USAGE = f"""
CREATE TABLE llm_usage (
  start_time TIMESTAMPTZ NOT NULL,
  end_time TIMESTAMPTZ,
  record_type VARCHAR NOT NULL,
  provider VARCHAR NOT NULL,
  model VARCHAR,
  request_id VARCHAR,
  requests BIGINT,
  uncached_input_tokens BIGINT,
  cache_read_tokens BIGINT,
  cache_write_5m_tokens BIGINT,
  cache_write_1h_tokens BIGINT,
  output_tokens BIGINT,
  reasoning_tokens BIGINT,
  organization_id VARCHAR,
  project_id VARCHAR,
  workspace_id VARCHAR,
  api_key_id VARCHAR,
  user_id VARCHAR,
  service_tier VARCHAR,
  batch BOOLEAN,
  cost {MONEY},
  list_cost {MONEY},
  currency VARCHAR,
  price_source VARCHAR,
  vendor_cost {MONEY},
  vendor_list_cost {MONEY},
  vendor_currency VARCHAR,
  line_item VARCHAR,
  labels VARCHAR,
  labels_map MAP(VARCHAR, VARCHAR),
  source VARCHAR NOT NULL,{_FILE_COLUMNS}
)"""

#: A training run, fine-tune, experiment, batch job or deployment: when, where, who, outcome.
_JOBS = f"""
CREATE TABLE jobs (
  job_id VARCHAR NOT NULL,
  name VARCHAR,
  kind VARCHAR,
  start_time TIMESTAMPTZ NOT NULL,
  end_time TIMESTAMPTZ,
  host VARCHAR,
  gpu_count INTEGER,
  gpus VARCHAR,
  gpu_model VARCHAR,
  status VARCHAR,
  exit_code INTEGER,
  user_name VARCHAR,
  command VARCHAR,
  metrics VARCHAR,
  labels VARCHAR,
  labels_map MAP(VARCHAR, VARCHAR),
  source VARCHAR NOT NULL,{_FILE_COLUMNS}
)"""

#: A value metric over a period (revenue, requests served, active users), with dimensions.
_BUSINESS_METRICS = f"""
CREATE TABLE business_metrics (
  period_start DATE NOT NULL,
  period_end DATE,
  metric VARCHAR NOT NULL,
  value {MONEY} NOT NULL,
  unit VARCHAR,
  labels VARCHAR,
  labels_map MAP(VARCHAR, VARCHAR),{_FILE_COLUMNS}
)"""

#: An object (or prefix) in object storage, from an inventory taken at ``inventory_date``.
_STORAGE_OBJECTS = f"""
CREATE TABLE storage_objects (
  inventory_date DATE NOT NULL,
  provider VARCHAR,
  bucket VARCHAR NOT NULL,
  key VARCHAR NOT NULL,
  size_bytes BIGINT NOT NULL,
  last_modified TIMESTAMPTZ,
  storage_class VARCHAR,
  last_accessed TIMESTAMPTZ,
  objects BIGINT,
  labels VARCHAR,
  labels_map MAP(VARCHAR, VARCHAR),{_FILE_COLUMNS}
)"""

#: The usage tables beside ``costs`` and the time column each is read by (for ``status``).
USAGE_TABLES = {
    "gpu_samples": "ts",
    "gpu_processes": "ts",
    "llm_usage": "start_time",
    "jobs": "start_time",
    "business_metrics": "period_start",
    "storage_objects": "inventory_date",
}

#: Columns filled on insert from others in the same row (table -> column -> SQL), when the
#: staged rows have the column the expression reads.
DERIVED: dict[str, dict[str, tuple[str, str]]] = {
    "costs": {
        "x_ChargeDate": ("ChargePeriodStart", "CAST(ChargePeriodStart AS DATE)"),
        "x_TagsMap": ("Tags", json_map("Tags")),
    },
    **{
        table: {"labels_map": ("labels", json_map("labels"))}
        for table in (
            "gpu_samples",
            "gpu_processes",
            "llm_usage",
            "jobs",
            "business_metrics",
            "storage_objects",
        )
    },
}


def derived_columns(table: str, present: Iterable[str]) -> list[str]:
    """``expression AS column`` for the columns of ``table`` filled on insert (NULL when the
    rows lack the column the expression reads)."""
    have = set(present)
    return [
        f"{expression if needs in have else 'NULL'} AS {quote(column)}"
        for column, (needs, expression) in DERIVED.get(table, {}).items()
    ]


MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE meta (key VARCHAR NOT NULL, value VARCHAR)",
        _costs_ddl(),
        _LEDGER,
        _QUARANTINE,
        view_ddl(),
    ),
    (_GPU_SAMPLES, _LLM_USAGE, _JOBS, _BUSINESS_METRICS, _STORAGE_OBJECTS, _GPU_PROCESSES),
)

SCHEMA_VERSION = len(MIGRATIONS)


def pending_migrations(current: int) -> Iterable[tuple[int, tuple[str, ...]]]:
    for number, statements in enumerate(MIGRATIONS, start=1):
        if number > current:
            yield number, statements
