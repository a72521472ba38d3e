"""Writing the store back out as FOCUS (1.2 or 1.4), Parquet or CSV.

Exports carry the version's columns in specification order plus the ``x_`` columns that came from
sources; the store's own bookkeeping columns (``x_IngestFileId`` ...) are left out. In CSV, times
are ISO 8601 UTC (``2026-10-01T00:00:00Z``) and decimals are written without trailing zeros.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from aifinops.errors import AifinopsError
from aifinops.model.focus import ColumnType, FocusVersion, export_columns
from aifinops.store.db import table_columns
from aifinops.store.schema import INTERNAL_COLUMNS, quote

EXPORT_VERSIONS = (FocusVersion.V1_2, FocusVersion.V1_4)


def _csv_expression(name: str, kind: ColumnType | None) -> str:
    q = quote(name)
    if kind is ColumnType.DATETIME:
        return f"strftime({q}, '%Y-%m-%dT%H:%M:%SZ') AS {q}"
    if kind is ColumnType.DECIMAL:
        trimmed = f"rtrim(rtrim(CAST({q} AS VARCHAR), '0'), '.')"
        return f"CASE WHEN {q} = 0 THEN '0' ELSE {trimmed} END AS {q}"
    return q


def select_sql(con: duckdb.DuckDBPyConnection, version: FocusVersion, *, text: bool) -> str:
    """The SELECT that shapes ``costs`` as a FOCUS ``version`` dataset."""
    focus = export_columns(version)
    names = {c.name for c in focus}
    extensions = [
        c
        for c in table_columns(con, "costs")
        if c.startswith("x_") and c not in INTERNAL_COLUMNS and c not in names
    ]
    parts = [_csv_expression(c.name, c.type) if text else quote(c.name) for c in focus]
    parts += [quote(c) for c in extensions]
    order = "ORDER BY BillingPeriodStart, ChargePeriodStart, x_IngestFileId, x_SourceRecord"
    return f"SELECT {', '.join(parts)} FROM costs {order}"


def export_focus(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    *,
    version: FocusVersion,
    formats: tuple[str, ...] = ("parquet",),
) -> list[Path]:
    """Write ``costs`` as FOCUS ``version`` files into ``out_dir``; return the paths."""
    if version not in EXPORT_VERSIONS:
        raise AifinopsError(
            f"exports are written as FOCUS {' or '.join(v.value for v in EXPORT_VERSIONS)}",
            hint="use --focus-version 1.2 or 1.4",
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"focus-{version.value}-cost-and-usage"
    written = []
    for fmt in formats:
        path = out_dir / f"{stem}.{fmt}"
        if fmt == "parquet":
            sql = select_sql(con, version, text=False)
            options = "FORMAT parquet, COMPRESSION zstd"
        elif fmt == "csv":
            sql = select_sql(con, version, text=True)
            options = "FORMAT csv, HEADER true"
        else:
            raise AifinopsError(f"unknown export format {fmt!r}", hint="use parquet or csv")
        literal = str(path).replace("'", "''")
        con.execute(f"COPY ({sql}) TO '{literal}' ({options})")
        written.append(path)
    return written
