"""Query engines: an Ibis backend plus the small mapping where engines differ.

Analyses are Ibis expressions written once; what differs between DuckDB and Spark (tag access,
date buckets) lives here, not in ``if engine == ...`` branches. Ibis is imported only when a query
runs, so the CLI starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    import ibis.expr.types as ir
    import pyarrow as pa

    from aifinops.model.timewindow import Granularity

_TRUNCATE_UNITS = {"day": "D", "week": "W", "month": "M", "quarter": "Q", "year": "Y"}


class Engine:
    """A workspace's tables as Ibis expressions over one backend."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    @classmethod
    def from_duckdb(cls, con: duckdb.DuckDBPyConnection) -> Engine:
        import ibis

        return cls(ibis.duckdb.from_connection(con))

    def table(self, name: str) -> ir.Table:
        return self.backend.table(name)

    def has_table(self, name: str) -> bool:
        # Not list_tables(): with DuckDB 2.0 it calls a deprecated method (a warning, an error
        # under pytest); table() reads the one schema.
        from ibis.common.exceptions import TableNotFound

        try:
            self.backend.table(name)
        except TableNotFound:
            return False
        return True

    def execute(self, expr: ir.Table) -> pa.Table:
        """Run an expression; decimals stay exact (Arrow decimal128)."""
        return self.backend.to_pyarrow(expr)

    # -- derived tables ---------------------------------------------------------------------
    # Ibis 12.0.0 with sqlglot 30 renders ``DROP TABLE`` without the table's name, which breaks
    # ``create_table(overwrite=True)`` and ``drop_table``; these write the statements themselves.

    def create_table(self, name: str, expr: ir.Table, *, temp: bool = False) -> None:
        """Create (or replace) table ``name`` holding the rows of ``expr``."""
        self.backend._run_pre_execute_hooks(expr)  # registers in-memory tables
        sql = self.backend.compile(expr)
        kind = "TEMP TABLE" if temp else "TABLE"
        self.backend.raw_sql(f"CREATE OR REPLACE {kind} {_quote(name)} AS {sql}")

    def insert(self, name: str, expr: ir.Table) -> None:
        """Append the rows of ``expr`` (same column names) to table ``name``."""
        self.backend.insert(name, expr)

    def drop_table(self, name: str) -> None:
        self.backend.raw_sql(f"DROP TABLE IF EXISTS {_quote(name)}")

    # -- the engine mapping ------------------------------------------------------------------

    @staticmethod
    def tag(costs: ir.Table, key: str) -> ir.StringValue:
        """The value of tag ``key`` (exact key match) on each cost row."""
        return costs.x_TagsMap.get(key)

    @staticmethod
    def tag_keys(costs: ir.Table) -> ir.StringColumn:
        return costs.x_TagsMap.keys().unnest()

    @staticmethod
    def epoch_seconds(ts: ir.TimestampValue) -> ir.IntegerValue:
        """Whole seconds since the Unix epoch of a UTC timestamp. DuckDB's ``epoch()`` on the
        zoned value: Ibis's own ``epoch_seconds()`` casts to a naive timestamp first, which goes
        through the time zone library and costs ~6x more over millions of rows."""
        return _epoch(ts).floor().cast("int64")

    @staticmethod
    def bucket(date: ir.DateValue, granularity: Granularity) -> ir.DateValue:
        """The first day of the day/week/month/quarter/year bucket of ``date`` (weeks: Monday)."""
        return date.truncate(_TRUNCATE_UNITS[granularity.value])


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _epoch(ts: ir.TimestampValue) -> ir.FloatingValue:
    import ibis
    import ibis.expr.datatypes as dt

    def epoch(value: Any) -> Any:
        """DuckDB's epoch(): seconds since 1970-01-01 UTC."""

    signature = ((dt.Timestamp(timezone="UTC"),), dt.float64)
    builtin = ibis.udf.scalar.builtin(epoch, name="epoch", signature=signature)
    result: ir.FloatingValue = builtin(ts)
    return result
