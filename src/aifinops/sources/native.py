"""What the native billing converters (AWS CUR, Azure cost details, GCP, OCI) share.

A :class:`NativeCostReader` reads a provider's own export with :class:`TabularReader` and turns
each block into FOCUS rows of ``costs``:

1. the header must hold the converter's ``required`` columns (else the file is rejected with a
   message naming the missing ones);
2. the native money columns are read as exact decimals and the time columns as UTC timestamps;
   a value that does not convert rejects the record, naming the *native* column;
3. :meth:`NativeCostReader.to_focus` maps the typed block to FOCUS columns (Arrow compute, or
   SQL over the block with :meth:`NativeCostReader.sql`);
4. :func:`complete` fills the stored columns that are copies of others (the 1.2 names 1.3
   deprecated, the pricing-currency columns), so a converted row looks like an ingested 1.4 row.

Subclasses set ``required``, ``money``, ``times`` and ``describes``, and implement ``to_focus``.
A converter that emits ``x_`` columns adds their names to ``self.columns`` in its ``__init__``
(after ``super().__init__``), so the ingest creates them before its transaction.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from aifinops.errors import IngestError
from aifinops.model.focus import ColumnType, all_columns
from aifinops.model.schema_plan import DERIVED
from aifinops.sources import convert
from aifinops.sources.base import Batch
from aifinops.sources.tabular import Errors, TabularReader, add_errors


class NativeCostReader(TabularReader):
    """A provider's native billing export -> FOCUS rows (see the module docstring)."""

    #: native columns the file must have
    required: tuple[str, ...] = ()
    #: native columns read as exact decimals / as UTC timestamps (when the file has them)
    money: tuple[str, ...] = ()
    times: tuple[str, ...] = ()

    def __init__(self, path: Path, *, careful: bool = False) -> None:
        self._con: duckdb.DuckDBPyConnection | None = None
        super().__init__(path, careful=careful)
        missing = [c for c in self.required if c not in self.header]
        if missing:
            raise IngestError(
                f"missing column(s) of {self.describes}: {', '.join(missing)}",
                where=str(path),
                hint="check that the file is the export this source reads "
                "(`aifinops sources` lists them) and that it was exported with all columns",
            )
        self.columns = tuple(focus_columns())

    def to_focus(self, block: pa.Table) -> dict[str, pa.Array]:
        """FOCUS column -> values, for the rows of ``block`` (typed native columns)."""
        raise NotImplementedError

    def sql(self, query: str, block: pa.Table) -> pa.Table:
        """Run DuckDB SQL over ``block`` (named ``block`` in the query) on a private connection."""
        if self._con is None:
            self._con = duckdb.connect()
            self._con.execute("SET TimeZone = 'UTC'")
            self._con.execute("SET threads = 1")
        self._con.register("block", block)
        try:
            return self._con.execute(query).to_arrow_table()
        finally:
            self._con.unregister("block")

    def close(self) -> None:
        if getattr(self, "_con", None) is not None:
            assert self._con is not None
            self._con.close()
            self._con = None
        super().close()

    def _convert(self, raw: pa.RecordBatch, first_record: int, progress: float) -> Batch:
        errors: Errors = {}
        typed: dict[str, pa.Array] = {}
        for name, arr in zip(raw.schema.names, raw.columns, strict=True):
            if name in self.money:
                result = convert.to_decimal(arr)
                if result.rounded:
                    self.warnings[f"{name}: values rounded to 18 decimal places"] += result.rounded
            elif name in self.times:
                result = convert.to_timestamp(arr)
            else:
                typed[name] = convert._as_text(arr)
                continue
            add_errors(errors, name, result.errors, arr)
            typed[name] = result.values
        arrays = complete(self.to_focus(pa.table(typed)), raw.num_rows)
        return self._split(raw, arrays, errors, first_record, progress)


def focus_columns() -> list[str]:
    """The stored FOCUS columns of ``costs``, in order."""
    return [c.name for c in all_columns()]


_TYPES = {
    ColumnType.DECIMAL: convert.DECIMAL,
    ColumnType.DATETIME: convert.TIMESTAMP,
    ColumnType.STRING: pa.string(),
    ColumnType.JSON: pa.string(),
}


def complete(arrays: dict[str, pa.Array], rows: int) -> dict[str, pa.Array]:
    """Every stored FOCUS column, typed as stored: the copies (see ``schema_plan.DERIVED``)
    filled from what the converter gave, the rest NULL. ``x_`` columns are kept as text."""
    out: dict[str, pa.Array] = {}
    for col in all_columns():
        value = arrays.get(col.name)
        if value is None:
            value = next((arrays[s] for s in DERIVED.get(col.name, ()) if s in arrays), None)
        target = _TYPES[col.type]
        out[col.name] = pa.nulls(rows, target) if value is None else _cast(value, target)
    for name, value in arrays.items():
        if name.startswith("x_"):
            out[name] = _cast(value, pa.string())
        elif name not in out:
            raise ValueError(f"{name!r} is not a FOCUS column (prefix it x_)")
    return out


def _cast(value: pa.Array | pa.ChunkedArray, target: pa.DataType) -> pa.Array:
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    return value if value.type == target else value.cast(target)
