"""Files on disk: Parquet, CSV and gzipped CSV sinks, and a month writer that splits parts.

Output is byte-for-byte reproducible: Parquet carries no timestamps, gzip headers get
``mtime=0`` and no file name. A month may plant unreadable rows (text formats only): copies of
real rows with one field corrupted, written after the first rows of the file and recorded with
their line numbers so tests and the ingest quarantine can be checked against them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

import isal.isal_zlib
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from aifinops.demo.encode import Target
from aifinops.demo.encode import encode as encode_block
from aifinops.demo.encode import schema as file_schema
from aifinops.demo.flavours import FLAVOURS
from aifinops.demo.ledger import LineSums, Priced

EXTENSIONS = {"parquet": ".parquet", "csv": ".csv", "csv.gz": ".csv.gz"}

# (column, corrupted value, why a reader must reject it)
BAD_FIELDS = (
    ("BilledCost", "12,34", "decimal comma in BilledCost"),
    ("ChargePeriodStart", "2026-02-30T25:00:00Z", "impossible date in ChargePeriodStart"),
    ("EffectiveCost", "USD 17.20", "currency text in EffectiveCost"),
)
_HEAD_ROWS = 1000  # planted rows go after this many real rows (or after all, if fewer)


class Sink(Protocol):
    def write(self, table: pa.Table) -> None: ...
    def write_bad(self, table: pa.Table) -> None: ...
    def close(self) -> None: ...


class ParquetSink:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._writer = pq.ParquetWriter(path, schema, compression="snappy", store_schema=False)

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table, row_group_size=max(1, table.num_rows))

    def write_bad(self, table: pa.Table) -> None:  # pragma: no cover - planted in text only
        raise TypeError("unreadable rows cannot be written to Parquet")

    def close(self) -> None:
        self._writer.close()


class _Gzip:
    """A write-only gzip stream (ISA-L, header with mtime 0 and no file name)."""

    closed = False  # pyarrow checks this before writing to a Python file object

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._deflate = isal.isal_zlib.compressobj(2, isal.isal_zlib.DEFLATED, 31)

    def write(self, data: bytes) -> int:
        self._out.write(self._deflate.compress(data))
        return len(data)

    def close(self) -> None:
        self._out.write(self._deflate.flush())
        self._out.close()
        self.closed = True


class CsvSink:
    """CSV text streamed to the file (or through gzip) a batch at a time."""

    def __init__(self, path: Path, gzipped: bool) -> None:
        raw = path.open("wb")
        self._out: BinaryIO | _Gzip = _Gzip(raw) if gzipped else raw
        self._header = True

    def write(self, table: pa.Table) -> None:
        options = pcsv.WriteOptions(include_header=self._header, quoting_style="needed")
        pcsv.write_csv(table, self._out, options)
        self._header = False

    def write_bad(self, table: pa.Table) -> None:
        self.write(table)

    def close(self) -> None:
        self._out.close()


def clear_previous(root: Path, slug: str) -> None:
    """Delete files an earlier run wrote under ``root/<slug>/<YYYY-MM>/`` (and only those)."""
    prefix = FLAVOURS[slug].file_name.split("{", 1)[0]
    for month in sorted((root / slug).glob("[0-9][0-9][0-9][0-9]-[0-9][0-9]")):
        for extension in EXTENSIONS.values():
            for old in sorted(month.glob(f"{prefix}*{extension}")):
                old.unlink()


@dataclass
class Part:
    """One written file and what went into it."""

    path: Path
    sums: LineSums
    rows: int = 0
    bad_lines: list[int] = field(default_factory=list)


def bad_rows(head: pa.Table) -> pa.Table:
    """Copies of the first rows of ``head`` with one field each made unreadable."""
    rows = head.slice(0, len(BAD_FIELDS)).to_pylist()
    for row, (column, value, _) in zip(rows, BAD_FIELDS, strict=False):
        row[column] = value
    text = pa.schema([pa.field(name, pa.string()) for name in head.column_names])
    return pa.Table.from_pylist([{k: _text(v) for k, v in r.items()} for r in rows], schema=text)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


class MonthWriter:
    """Writes one provider's month as parts of at most ``file_rows`` rows (checked per chunk)."""

    def __init__(
        self,
        folder: Path,
        *,
        slug: str,
        fmt: str,
        target: Target,
        plant_bad_rows: bool,
        file_rows: int,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.slug, self.fmt, self.target = folder, slug, fmt, target
        self.schema = file_schema(target.layout, target.encoder)
        self.pending_bad = plant_bad_rows and fmt != "parquet"
        self.file_rows = file_rows
        self.parts: list[Part] = []
        self._sink: Sink | None = None

    def write(self, chunk: list[Priced]) -> None:
        part, sink = self._part()
        names = self.target.layout.names
        batches = []
        for priced in chunk:
            columns = encode_block(priced, self.target, part.rows)
            batches.append(pa.record_batch([columns[n] for n in names], schema=self.schema))
            part.rows += len(priced)
            part.sums.add(priced)
        table = pa.Table.from_batches(batches, schema=self.schema)
        if self.pending_bad and table.num_rows:
            self._plant(part, sink, table)
        else:
            sink.write(table)

    def _plant(self, part: Part, sink: Sink, table: pa.Table) -> None:
        head = table.slice(0, _HEAD_ROWS)
        sink.write(head)
        bad = bad_rows(head)
        sink.write_bad(bad)
        sink.write(table.slice(_HEAD_ROWS))
        first = part.rows - table.num_rows + head.num_rows + 2  # header is line 1
        part.bad_lines = list(range(first, first + bad.num_rows))
        part.rows += bad.num_rows
        self.pending_bad = False

    def _part(self) -> tuple[Part, Sink]:
        if self.parts and self._sink and self.parts[-1].rows < self.file_rows:
            return self.parts[-1], self._sink
        self.close()
        index = len(self.parts)
        stem = FLAVOURS[self.slug].file_name.format(one=index + 1, zero=index)
        path = self.folder / f"{stem}{EXTENSIONS[self.fmt]}"
        self.parts.append(Part(path, LineSums(len(self.target.arrays.cdq))))
        sink: Sink
        if self.fmt == "parquet":
            sink = ParquetSink(path, self.schema)
        else:
            sink = CsvSink(path, gzipped=self.fmt == "csv.gz")
        self._sink = sink
        return self.parts[-1], sink

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None
