"""Convert files of any ``costs`` source straight into one FOCUS file, without a workspace.

``convert_files("aws-cur", [path], Path("out.parquet"))`` streams each file through its source's
reader and appends the good rows, shaped as a FOCUS 1.2 or 1.4 dataset (the export's columns in
specification order, then the source's ``x_`` columns), to a Parquet or CSV writer: memory stays
at one block whatever the file size. Rows a reader rejects are never dropped silently: they are
counted per file and written, with file, record, line, column, reason and raw values, to
``<out stem>.rejected.csv`` beside the output (rows read = written + rejected).

A CSV whose quoted values span lines is found out only at the end of the fast pass; the
conversion then starts again with that file read carefully (as the ingest does).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from aifinops import sources
from aifinops.errors import AifinopsError
from aifinops.model.focus import ColumnType, FocusVersion, export_columns
from aifinops.sources.base import Rejection, SourceReader
from aifinops.sources.convert import DECIMAL, TIMESTAMP
from aifinops.sources.files import expand, folder_suffixes
from aifinops.sources.readahead import prefetched
from aifinops.sources.tabular import StructuralRowsError
from aifinops.store.export import EXPORT_VERSIONS
from aifinops.store.schema import INTERNAL_COLUMNS

OUT_FORMATS = (".parquet", ".csv")
#: Parquet compression of converted files (see bench/RESULTS.md for the measured choice)
PARQUET_COMPRESSION = "zstd"
REJECTED_HEADER = ("file", "record", "line", "column", "reason", "value", "raw")


@dataclass
class ConvertedFile:
    path: Path
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    first_rejections: list[Rejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class ConvertSummary:
    out: Path
    version: str
    files: list[ConvertedFile]
    rejected_path: Path | None
    warnings: Counter[str] = field(default_factory=Counter)

    @property
    def rows_written(self) -> int:
        return sum(f.rows_written for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)


#: called with (file, fraction of it read) as the conversion goes
OnProgress = Callable[[Path, float], None]


def rejected_path_for(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(out.suffix) + ".rejected.csv")


def convert_files(
    source: str,
    paths: list[str | Path],
    out: Path,
    *,
    version: str = "1.2",
    options: dict[str, Any] | None = None,
    on_progress: OnProgress | None = None,
) -> ConvertSummary:
    """Convert ``paths`` (files, folders or globs) of ``source`` into the FOCUS file ``out``."""
    spec = _costs_source(source)
    focus_version = FocusVersion.parse(version)
    if focus_version not in EXPORT_VERSIONS:
        raise AifinopsError(
            f"FOCUS {version} is not written", hint="use --focus-version 1.2 or 1.4"
        )
    if out.suffix.lower() not in OUT_FORMATS:
        raise AifinopsError(
            f"cannot tell the output format of {out.name}", hint="name it *.parquet or *.csv"
        )
    files = expand(paths, folder_suffixes(spec.formats))
    careful: set[Path] = set()
    while True:
        try:
            return _convert(
                spec,
                files,
                out,
                version=focus_version,
                options=options or {},
                careful=careful,
                on_progress=on_progress,
            )
        except _Careful as again:
            careful.add(again.path)


class _Careful(Exception):
    def __init__(self, path: Path) -> None:
        self.path = path


def _costs_source(name: str) -> sources.SourceSpec:
    spec = sources.source(name)
    if spec is None or spec.table != "costs":
        names = sorted(n for n, s in sources.registered().items() if s.table == "costs")
        raise AifinopsError(
            f"{name!r} is not a cost source", hint=f"convert reads one of: {', '.join(names)}"
        )
    return spec


def _convert(
    spec: sources.SourceSpec,
    files: list[Path],
    out: Path,
    *,
    version: FocusVersion,
    options: dict[str, Any],
    careful: set[Path],
    on_progress: OnProgress | None,
) -> ConvertSummary:
    readers = [spec.open(p, careful=p in careful, **options) for p in files]
    columns = _output_columns(version, readers)
    out.parent.mkdir(parents=True, exist_ok=True)
    rejected_path = rejected_path_for(out)
    rejected_path.unlink(missing_ok=True)
    summary = ConvertSummary(out, version.value, [], None)
    with _Writer(out, columns) as writer, _RejectedWriter(rejected_path) as rejected:
        for path, reader in zip(files, readers, strict=True):
            done = ConvertedFile(path)
            summary.files.append(done)
            try:
                for batch in prefetched(reader.batches()):
                    if batch.table is not None:
                        writer.write(batch.table)
                        done.rows_written += batch.table.num_rows
                    done.rows_rejected += len(batch.rejected)
                    done.first_rejections += batch.rejected[: 5 - len(done.first_rejections)]
                    rejected.write(path, batch.rejected)
                    if on_progress:
                        on_progress(path, batch.progress)
            except StructuralRowsError:
                raise _Careful(path) from None
            finally:
                reader.close()
            done.rows_read = done.rows_written + done.rows_rejected
            done.notes = list(reader.notes)
            summary.warnings.update(reader.warnings)
    summary.rejected_path = rejected_path if rejected_path.exists() else None
    return summary


_TYPES = {
    ColumnType.DECIMAL: DECIMAL,
    ColumnType.DATETIME: TIMESTAMP,
    ColumnType.STRING: pa.string(),
    ColumnType.JSON: pa.string(),
}


def _output_columns(version: FocusVersion, readers: list[SourceReader]) -> dict[str, pa.DataType]:
    focus = {c.name: _TYPES[c.type] for c in export_columns(version)}
    extensions = {
        name: pa.string()
        for reader in readers
        for name in reader.columns
        if name.startswith("x_") and name not in INTERNAL_COLUMNS and name not in focus
    }
    return {**focus, **extensions}


class _Writer:
    """Appends batches shaped as the output's columns to a Parquet or CSV file.

    Parquet: a text column that arrives dictionary-encoded (see ``sources.coded_text``) in the
    first batch is written as dictionary and indices, as it is; the file is written without
    Arrow's schema, so readers see plain text either way.
    """

    def __init__(self, out: Path, columns: dict[str, pa.DataType]) -> None:
        self.out = out
        self.csv = out.suffix.lower() == ".csv"
        self.columns = columns
        self.schema = pa.schema([(n, pa.string() if self.csv else t) for n, t in columns.items()])
        self._writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
        if self.csv:
            self._writer = pacsv.CSVWriter(str(out), self.schema)

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._writer is None:
            self._open(self.schema)
        assert self._writer is not None
        self._writer.close()

    def _open(self, schema: pa.Schema) -> None:
        self.schema = schema
        # Statistics on the times (what readers filter a cost file on): on text and amounts
        # they cost a third of the writing (bench/RESULTS.md).
        stats = [f.name for f in schema if pa.types.is_timestamp(f.type)]
        self._writer = pq.ParquetWriter(
            str(self.out),
            schema,
            compression=PARQUET_COMPRESSION,
            write_statistics=stats,
            store_schema=False,
        )

    def write(self, table: pa.Table) -> None:
        arrays = [self._column(table, n, t) for n, t in self.columns.items()]
        if self._writer is None:
            self._open(pa.schema([(n, a.type) for n, a in zip(self.columns, arrays, strict=True)]))
        arrays = [
            a if a.type == f.type else a.cast(f.type)
            for a, f in zip(arrays, self.schema, strict=True)
        ]
        assert self._writer is not None
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))

    def _column(self, table: pa.Table, name: str, kind: pa.DataType) -> Any:
        if name not in table.column_names:
            return pa.nulls(table.num_rows, pa.string() if self.csv else kind)
        column = table.column(name)
        if not self.csv and pa.types.is_dictionary(column.type) and kind == pa.string():
            return column
        if column.type != kind:
            column = column.cast(kind)
        if not self.csv:
            return column
        return text(column)


def text(column: Any) -> Any:
    """A column as the export writes it in CSV: ISO 8601 UTC times, decimals without trailing
    zeros (``0`` for zero)."""
    if pa.types.is_timestamp(column.type):
        seconds = pc.cast(column, pa.timestamp("s", tz="UTC"), safe=False)
        return pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%SZ")
    if pa.types.is_decimal(column.type):
        raw = pc.cast(column, pa.string())
        trimmed = pc.replace_substring_regex(raw, r"\.?0+$", "")
        return pc.if_else(pc.equal(column, pa.scalar(0, column.type)), "0", trimmed)
    return column if pa.types.is_string(column.type) else pc.cast(column, pa.string())


class _RejectedWriter:
    """``<out>.rejected.csv``, created at the first rejected row."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: Any = None
        self._csv: Any = None

    def __enter__(self) -> _RejectedWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()

    def write(self, path: Path, rejected: list[Rejection]) -> None:
        if not rejected:
            return
        if self._file is None:
            self._file = self.path.open("w", encoding="utf-8", newline="")
            self._csv = csv.writer(self._file)
            self._csv.writerow(REJECTED_HEADER)
        for r in rejected:
            raw = json.dumps(r.raw, ensure_ascii=False)
            self._csv.writerow([str(path), r.record, r.line, r.column, r.reason, r.value, raw])


__all__ = ["ConvertSummary", "ConvertedFile", "convert_files", "rejected_path_for"]
