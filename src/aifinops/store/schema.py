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

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE meta (key VARCHAR NOT NULL, value VARCHAR)",
        _costs_ddl(),
        _LEDGER,
        _QUARANTINE,
        view_ddl(),
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)


def pending_migrations(current: int) -> Iterable[tuple[int, tuple[str, ...]]]:
    for number, statements in enumerate(MIGRATIONS, start=1):
        if number > current:
            yield number, statements
