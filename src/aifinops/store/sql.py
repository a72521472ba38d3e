"""The analysts' SQL door: read-only statements over the workspace."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from aifinops.errors import QueryError

_READ_ONLY = {
    duckdb.StatementType.SELECT,
    duckdb.StatementType.EXPLAIN,
}


def run_read_only(con: duckdb.DuckDBPyConnection, query: str) -> pa.Table:
    """Run one read-only statement (SELECT, WITH ... SELECT, EXPLAIN) and return its rows."""
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise QueryError(f"the SQL does not parse: {exc}") from None
    if len(statements) != 1:
        raise QueryError(f"give exactly one statement (got {len(statements)})")
    statement = statements[0]
    if statement.type not in _READ_ONLY:
        raise QueryError(
            f"only read-only queries are allowed here (got {statement.type.name})",
            hint="use SELECT ... FROM focus_data_table; change data with `aifinops ingest`",
        )
    try:
        return con.execute(query).to_arrow_table()
    except duckdb.Error as exc:
        raise QueryError(str(exc).strip()) from None
