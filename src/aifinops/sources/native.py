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

The helpers below the reader are what the converters share (typing a block, a DuckDB connection
for block SQL, exact products, per-distinct-value mappings, the service category lookup), so no
converter imports another.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from aifinops.errors import IngestError
from aifinops.model.focus import ColumnType, all_columns
from aifinops.model.schema_plan import DERIVED
from aifinops.sources import coded_text, convert
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
        self._block_sql = BlockSql()
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
        return self._block_sql(query, block)

    def close(self) -> None:
        if getattr(self, "_block_sql", None) is not None:
            self._block_sql.close()
        super().close()

    def _convert(self, raw: pa.RecordBatch, first_record: int, progress: float) -> Batch:
        errors: Errors = {}
        typed = typed_block(self, raw, errors)
        arrays = complete(self.to_focus(typed), raw.num_rows)
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
    filled from what the converter gave, the rest NULL. ``x_`` columns are kept as text.

    Text may be plain ``string`` or dictionary-encoded (:data:`coded_text.TEXT`): a converter
    that maps dictionaries keeps them, so the Parquet writers (convert, the ingest's staging)
    write them without decoding; readers of those files see plain text."""
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
    if target == pa.string() and pa.types.is_dictionary(value.type):
        return value if value.type == coded_text.TEXT else value.cast(coded_text.TEXT)
    return value if value.type == target else value.cast(target)


# -- helpers the native converters share ------------------------------------------------------


class BlockSql:
    """DuckDB SQL over an Arrow block (named ``block`` in the query), on a private connection
    opened at the first query (UTC, one thread: the blocks are small and the reader runs beside
    the writer)."""

    def __init__(self) -> None:
        self._con: duckdb.DuckDBPyConnection | None = None

    def __call__(self, query: str, block: pa.Table) -> pa.Table:
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
        if self._con is not None:
            self._con.close()
            self._con = None


class Typed(Protocol):
    """What :func:`typed_block` needs of a reader."""

    money: tuple[str, ...]
    times: tuple[str, ...]
    warnings: Counter[str]


def typed_block(
    reader: Typed,
    raw: pa.RecordBatch,
    errors: Errors,
    *,
    dates: tuple[str, ...] = (),
    parse_date: Callable[[pa.Array], convert.Converted] = convert.to_timestamp,
) -> pa.Table:
    """The raw block with money as exact decimals and times as UTC timestamps; a value that does
    not convert is recorded in ``errors`` under its native column name. ``dates`` are time
    columns in a provider's own format, read with ``parse_date``."""
    typed: dict[str, pa.Array] = {}
    for name, arr in zip(raw.schema.names, raw.columns, strict=True):
        if name in reader.money:
            result = convert.to_decimal(arr)
            if result.rounded:
                reader.warnings[f"{name}: values rounded to 18 decimal places"] += result.rounded
        elif name in reader.times:
            result = convert.to_timestamp(arr)
        elif name in dates:
            result = parse_date(arr)
        else:
            typed[name] = convert._as_text(arr)
            continue
        add_errors(errors, name, result.errors, arr)
        typed[name] = result.values
    return pa.table(typed)


def one_chunk(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """An array (a chunked one combined)."""
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def exact_product(a: pa.Array | pa.ChunkedArray, b: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``a * b`` for ``decimal128(38, 18)`` values, exact, rounded half-even to 18 places."""
    wide = pa.decimal256(37, 18)
    product = pc.multiply(pc.cast(a, wide), pc.cast(b, wide))
    rounded = pc.round(product, ndigits=18, round_mode="half_to_even")
    return one_chunk(pc.cast(rounded, convert.DECIMAL))


def map_unique(values: pa.Array | pa.ChunkedArray, fn: Callable[[str], str]) -> pa.Array:
    """``fn`` applied to each distinct text value (few in a billing column), nulls kept."""
    values = one_chunk(values)
    uniques = [u for u in pc.unique(values).to_pylist() if u is not None]
    if not uniques:
        return values
    mapped = pa.array([fn(u) for u in uniques], pa.string())
    positions = pc.index_in(values, value_set=pa.array(uniques, pa.string()))
    return one_chunk(pc.take(mapped, positions))


OTHER_SERVICE = ("Other", "Other (Other)")


def service_categories(
    keys: pa.Array | pa.ChunkedArray, services: Mapping[str, tuple[str, str]]
) -> dict[str, pa.Array]:
    """ServiceCategory and ServiceSubcategory of each key (``services``: key -> the pair);
    unknown and NULL keys are Other / Other (Other)."""
    found = [services.get(k or "", OTHER_SERVICE) for k in keys.to_pylist()]
    return {
        "ServiceCategory": pa.array([f[0] for f in found], pa.string()),
        "ServiceSubcategory": pa.array([f[1] for f in found], pa.string()),
    }
