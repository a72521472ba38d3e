"""The reading half every file source shares: CSV, CSV.gz and Parquet streamed in blocks.

A :class:`TabularReader` reads the header, streams the file as blocks of text columns (Arrow's
CSV reader; gzip inflated by ISA-L; Parquet a row group at a time), holds rejected records back
until the end so their line numbers can be exact, and re-reads a CSV carefully when a quoted
value spans lines (see :class:`StructuralRowsError`). A subclass says what the file must look
like (:meth:`TabularReader._setup`) and turns each block into rows of its table
(:meth:`TabularReader._convert`); :meth:`TabularReader._split` separates the good rows from the
rejected ones.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from isal import igzip

from aifinops.errors import IngestError
from aifinops.sources.base import Batch, Rejection
from aifinops.sources.files import FileFormat, detect_format

NULL_TEXT = ["", "NULL", "null"]
BLOCK_BYTES = 16 << 20
PARQUET_BATCH_ROWS = 128 * 1024
MAX_REJECTIONS = 100_000
MALFORMED = "malformed record: wrong number of fields (check quoting and delimiters)"

#: per row position in a block: (column, reason, offending value) for each problem found
Errors = dict[int, list[tuple[str, str, str | None]]]


class StructuralRowsError(Exception):
    """Raised when fast CSV parsing met malformed records; the file is re-read carefully."""


class TabularReader:
    """Reads one CSV / CSV.gz / Parquet file in blocks; subclasses convert the blocks.

    ``careful`` parses quoted values that span lines (slower); the ingest asks for it after
    :class:`StructuralRowsError`.
    """

    #: what the file is, for messages ("a FOCUS export", "an AWS CUR file", ...)
    describes = "a CSV, CSV.gz or Parquet file"
    #: the CSV field separator (a subclass may set it per file before the header is read)
    delimiter = ","
    #: bytes of CSV text per block (Arrow reads a few blocks ahead: smaller blocks, less memory)
    block_bytes = BLOCK_BYTES

    def __init__(self, path: Path, *, careful: bool = False) -> None:
        self.path = path
        self.format = detect_format(path)
        self.careful = careful
        self.version: str | None = None
        self.warnings: Counter[str] = Counter()
        self.notes: list[str] = []
        self.columns: tuple[str, ...] = ()
        self._malformed: list[str] = []
        self._rejections: list[Rejection] = []
        #: parsed-record numbers from which x_SourceRecord must be shifted by one more (careful
        #: CSV reads with malformed records only); see :func:`shifted`
        self.shift_thresholds: list[int] = []
        self._size = max(path.stat().st_size, 1)
        self._raw: IO[bytes] | None = None
        #: CSV lines before the first record (1: the header); a subclass reading headerless
        #: files sets 0 and names the columns in ``header``
        self.skip_lines = 1
        self.header = self._read_header()

    # -- for subclasses ----------------------------------------------------------------------

    def _convert(self, raw: pa.RecordBatch, first_record: int, progress: float) -> Batch:
        """One block of raw (text or Parquet-typed) columns -> rows of the table + rejections."""
        raise NotImplementedError

    def column_types(self) -> dict[str, pa.DataType]:
        """Arrow types for reading CSV columns (default: every column as text)."""
        return dict.fromkeys(self.header, pa.string())

    def _split(
        self,
        raw: pa.RecordBatch,
        arrays: dict[str, pa.Array],
        errors: Errors,
        first_record: int,
        progress: float,
    ) -> Batch:
        """The converted block as a table (with ``x_SourceRecord``), rejected rows taken out."""
        n = raw.num_rows
        records = pa.array(np.arange(first_record, first_record + n, dtype=np.int64))
        table = pa.table({**arrays, "x_SourceRecord": records})
        if not errors:
            return Batch(table, [], progress)
        bad = np.zeros(n, dtype=bool)
        bad[list(errors)] = True
        rejected = [
            rejection(raw, i, first_record + i, problems) for i, problems in sorted(errors.items())
        ]
        return Batch(table.filter(pa.array(~bad)), rejected, progress)

    # -- opening -----------------------------------------------------------------------------

    def _open_bytes(self) -> IO[bytes]:
        self._raw = self.path.open("rb")
        if self.format is FileFormat.CSV_GZ:
            # IGzipFile leaves the file it wraps open; close() closes both.
            return igzip.IGzipFile(fileobj=self._raw, mode="rb")  # type: ignore[no-untyped-call,return-value]
        return self._raw

    def _read_header(self) -> list[str]:
        if self.format is FileFormat.PARQUET:
            try:
                return list(pq.read_schema(self.path).names)
            except (pa.ArrowInvalid, OSError) as exc:
                raise IngestError(
                    f"not a readable Parquet file: {exc}", where=str(self.path)
                ) from None
        header = self._first_csv_row()
        if not header or all(not h.strip() for h in header):
            raise IngestError(
                "the first line is empty; a CSV header is expected", where=f"{self.path}:1"
            )
        return [h.strip() for h in header]

    def _first_csv_row(self) -> list[str]:
        """The fields of the file's first CSV record (empty for an empty file)."""
        text = io.TextIOWrapper(self._open_bytes(), encoding="utf-8-sig", newline="")
        try:
            return next(csv.reader(text, delimiter=self.delimiter), [])
        except (UnicodeDecodeError, EOFError, OSError, csv.Error) as exc:
            what, hint = read_failure(exc, self.describes)
            raise IngestError(what, where=str(self.path), hint=hint) from None
        finally:
            text.close()
            self.close()

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None

    # -- reading -----------------------------------------------------------------------------

    def batches(self) -> Iterator[Batch]:
        """Good rows batch by batch, then one last batch with every rejected record.

        Rejections are held back so their line numbers can be exact: when a CSV had any, a Python
        csv pass at the end finds the line each record starts on (values may span lines). A fast
        pass that meets a malformed record raises :class:`StructuralRowsError`, and the file is
        read again with ``careful=True``.
        """
        record = 1
        for raw, progress in self._raw_batches():
            batch = self._convert(raw, record, progress)
            record += raw.num_rows
            self._keep(batch.rejected)
            yield Batch(batch.table, [], progress)
        self.close()
        if self._malformed and not self.careful:
            raise StructuralRowsError(len(self._malformed))
        yield Batch(None, self._located(), 1.0)

    def _keep(self, rejected: list[Rejection]) -> None:
        self._rejections.extend(rejected)
        if len(self._rejections) + len(self._malformed) > MAX_REJECTIONS:
            raise IngestError(
                f"more than {MAX_REJECTIONS:,} unreadable records",
                where=str(self.path),
                hint=f"this does not look like {self.describes} of the expected shape; check "
                "the first quarantine reasons with a small sample of the file",
            )

    def _located(self) -> list[Rejection]:
        """Rejections with exact record and line numbers (a Python pass, only when needed)."""
        if self.format is FileFormat.PARQUET or not (self._rejections or self._malformed):
            return self._rejections
        # Which records the fast pass's rejections are depends on the malformed ones before them,
        # which only this pass finds: shift the wanted numbers as malformed records turn up.
        parsed = {r.record for r in self._rejections}
        starts, malformed = locate_records(
            self._open_bytes(),
            len(self.header),
            parsed,
            delimiter=self.delimiter,
            skip=self.skip_lines,
        )
        self.close()
        self.shift_thresholds = [r - j for j, (r, _, _) in enumerate(malformed)]
        shifts = self.shift_thresholds
        out = [replace(r, record=shifted(r.record, shifts)) for r in self._rejections]
        out = [replace(r, line=starts.get(r.record)) for r in out]
        out += [
            Rejection(record=r, column=None, reason=MALFORMED, value=None, raw={"line": t}, line=ln)
            for r, ln, t in malformed
        ]
        return sorted(out, key=lambda r: r.record)

    def _raw_batches(self) -> Iterator[tuple[pa.RecordBatch, float]]:
        if self.format is FileFormat.PARQUET:
            yield from self._parquet_batches()
        else:
            yield from self._csv_batches()

    def _parquet_batches(self) -> Iterator[tuple[pa.RecordBatch, float]]:
        pf = pq.ParquetFile(self.path)
        total = max(pf.metadata.num_rows, 1)
        done = 0
        for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            done += batch.num_rows
            yield batch, done / total

    def _csv_batches(self) -> Iterator[tuple[pa.RecordBatch, float]]:
        try:
            reader = pacsv.open_csv(
                self._open_bytes(),
                read_options=pacsv.ReadOptions(
                    block_size=self.block_bytes,
                    column_names=self.header,
                    skip_rows=self.skip_lines,
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=self.delimiter,
                    newlines_in_values=self.careful,
                    invalid_row_handler=self._on_malformed,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types=self.column_types(),
                    null_values=NULL_TEXT,
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                ),
            )
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                assert self._raw is not None
                yield batch, min(self._raw.tell() / self._size, 1.0)
        except (pa.ArrowInvalid, EOFError, OSError, UnicodeDecodeError) as exc:
            what, hint = read_failure(exc, self.describes)
            raise IngestError(what, where=str(self.path), hint=hint) from None

    def _on_malformed(self, row: Any) -> str:
        self._malformed.append(row.text)
        return "skip"


def shifted(parsed: int, thresholds: list[int]) -> int:
    """The record number of the ``parsed``-th well-formed record, given malformed ones before it."""
    return parsed + sum(1 for t in thresholds if t <= parsed)


def locate_records(
    stream: IO[bytes], width: int, wanted: set[int], *, delimiter: str = ",", skip: int = 1
) -> tuple[dict[int, int], list[tuple[int, int, str]]]:
    """Walk a CSV with Python's csv module: the malformed records, and the start line of each
    record in ``wanted`` given as a well-formed-record number (as the fast pass counted).

    Slow (pure Python) and only used when a file has unreadable records. Only the wanted start
    lines are kept, so memory stays small on a large file.
    """
    starts: dict[int, int] = {}
    malformed: list[tuple[int, int, str]] = []
    with io.TextIOWrapper(stream, encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text, delimiter=delimiter)
        for _ in range(skip):
            next(reader, None)
        previous_end = reader.line_num
        for record, fields in enumerate(reader, start=1):
            start = previous_end + 1
            previous_end = reader.line_num
            if len(fields) != width:
                malformed.append((record, start, delimiter.join(fields)))
            elif record - len(malformed) in wanted:
                starts[record] = start
    return starts, malformed


def rejection(
    raw: pa.RecordBatch, i: int, record: int, problems: list[tuple[str, str, str | None]]
) -> Rejection:
    """The rejection of row ``i`` of a raw block, with every raw value of the record."""
    values = {name: text_of(raw.column(k)[i].as_py()) for k, name in enumerate(raw.schema.names)}
    column, _, value = problems[0]
    reason = "; ".join(f"{c}: {r}" for c, r, _ in problems)
    return Rejection(record=record, column=column, reason=reason, value=value, raw=values)


def text_of(value: object) -> str | None:
    return None if value is None else str(value)


def add_errors(errors: Errors, column: str, found: dict[int, str], source: pa.Array) -> None:
    """Record ``found`` (position -> reason) for ``column``, with the offending raw values."""
    for i, reason in found.items():
        errors.setdefault(i, []).append((column, reason, text_of(source[i].as_py())))


def read_failure(exc: BaseException, describes: str) -> tuple[str, str]:
    """What went wrong reading a file, and what to do about it."""
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, EOFError) or "end-of-stream" in lowered or "truncated" in lowered:
        return (
            "the gzip stream ends early: the file is truncated or still being written",
            "download or copy the file again; check its size against the source",
        )
    if isinstance(exc, UnicodeDecodeError) or "utf8" in lowered or "utf-8" in lowered:
        return (
            "the file is not UTF-8 text",
            "re-export it as UTF-8, or convert it (e.g. iconv -f latin1 -t utf-8)",
        )
    if "gzip" in lowered or "compressed" in lowered:
        return f"the file is not valid gzip: {text}", "check that the file is a complete .gz"
    return f"cannot read the file: {text}", f"check that it is {describes}"
