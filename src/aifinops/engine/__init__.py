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

    def execute(self, expr: ir.Table) -> pa.Table:
        """Run an expression; decimals stay exact (Arrow decimal128)."""
        return self.backend.to_pyarrow(expr)

    # -- the engine mapping ------------------------------------------------------------------

    @staticmethod
    def tag(costs: ir.Table, key: str) -> ir.StringValue:
        """The value of tag ``key`` (exact key match) on each cost row."""
        return costs.x_TagsMap.get(key)

    @staticmethod
    def tag_keys(costs: ir.Table) -> ir.StringColumn:
        return costs.x_TagsMap.keys().unnest()

    @staticmethod
    def bucket(date: ir.DateValue, granularity: Granularity) -> ir.DateValue:
        """The first day of the day/week/month/quarter/year bucket of ``date`` (weeks: Monday)."""
        return date.truncate(_TRUNCATE_UNITS[granularity.value])
