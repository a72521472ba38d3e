"""Opening the workspace database: one place sets the connection up (UTC, threads, memory)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from aifinops.errors import AifinopsError, WorkspaceBusyError
from aifinops.store import schema


def connect(
    path: Path | str,
    *,
    read_only: bool = False,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open (and, when writable, migrate) the workspace database at ``path``.

    Every connection works in UTC so day buckets never follow the process time zone.
    """
    config: dict[str, str | bool | int | float | list[str]] = {}
    if threads:
        config["threads"] = threads
    if memory_limit:
        config["memory_limit"] = memory_limit
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WorkspaceBusyError(
                "the workspace database is in use by another aifinops process",
                where=str(path),
                hint="wait for the other command (an ingest or `serve`) to finish, then retry",
            ) from None
        raise AifinopsError(f"cannot open the workspace database: {exc}", where=str(path)) from None
    # Set after connecting: the ICU extension that owns TimeZone loads on first use.
    con.execute("SET TimeZone = 'UTC'")
    if not read_only:
        migrate(con)
    return con


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
    ).fetchone()
    if not exists or not exists[0]:
        return 0
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Apply the migrations this database has not had, each in its own transaction."""
    current = schema_version(con)
    if current > schema.SCHEMA_VERSION:
        raise AifinopsError(
            f"the workspace was written by a newer aifinops (schema {current}, this version "
            f"knows {schema.SCHEMA_VERSION})",
            hint="upgrade aifinops",
        )
    for number, statements in schema.pending_migrations(current):
        con.execute("BEGIN")
        for statement in statements:
            con.execute(statement)
        con.execute("DELETE FROM meta WHERE key = 'schema_version'")
        con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(number)])
        con.execute("COMMIT")


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
        "ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [r[0] for r in rows]
