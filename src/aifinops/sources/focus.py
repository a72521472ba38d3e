"""FOCUS Cost and Usage files (CSV, CSV.gz, Parquet; FOCUS 1.0 to 1.4) -> rows of ``costs``.

The reader streams: CSV is parsed in blocks by Arrow (gzip inflated by ISA-L), Parquet is read a
row group at a time, so memory stays bounded whatever the file size. Each block is converted to
the stored shape (see :mod:`aifinops.model.schema_plan`) with exact decimals and UTC times; rows
that cannot be read become :class:`Rejection` records with their raw values.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from isal import igzip

from aifinops.errors import IngestError
from aifinops.model.enums import ChargeCategory, ChargeClass
from aifinops.model.focus import ColumnType, FocusColumn, FocusVersion, all_columns, columns
from aifinops.model.schema_plan import SUB_ACCOUNT_TYPES, SchemaPlan, plan
from aifinops.sources import convert
from aifinops.sources.base import Batch, Rejection, SourceSpec, register
from aifinops.sources.files import FileFormat, detect_format

NULL_TEXT = ["", "NULL", "null"]
BLOCK_BYTES = 16 << 20
PARQUET_BATCH_ROWS = 128 * 1024
MAX_REJECTIONS = 100_000
MALFORMED = "malformed record: wrong number of fields (check quoting and delimiters)"
#: Enumerated columns whose value decides how a cost is counted: an unknown value is an error.
#: Other enumerated columns keep an unknown value and count a warning.
STRICT_ENUMS = {"ChargeCategory": ChargeCategory, "ChargeClass": ChargeClass}


class StructuralRowsError(Exception):
    """Raised when fast CSV parsing met malformed records; the file is re-read carefully."""


def _focus_columns() -> dict[str, FocusColumn]:
    return {c.name: c for c in all_columns()}


class FocusReader:
    """Reads one FOCUS file. ``careful`` parses quoted values that span lines (slower)."""

    def __init__(
        self,
        path: Path,
        *,
        focus_version: str | None = None,
        careful: bool = False,
    ) -> None:
        self.path = path
        self.format = detect_format(path)
        self.careful = careful
        self.warnings: Counter[str] = Counter()
        self.notes: list[str] = []
        self._malformed: list[str] = []
        self._rejections: list[Rejection] = []
        #: parsed-record numbers from which x_SourceRecord must be shifted by one more (careful
        #: CSV reads with malformed records only); see :func:`_shifted`
        self.shift_thresholds: list[int] = []
        self._size = max(path.stat().st_size, 1)
        self._raw: IO[bytes] | None = None
        self._json: duckdb.DuckDBPyConnection | None = None  # opened on the first JSON check
        header = self._read_header()
        wanted = FocusVersion.parse(focus_version) if focus_version else None
        try:
            self.plan: SchemaPlan = plan(header, wanted)
        except Exception as exc:
            raise IngestError(str(exc), where=str(path)) from None
        self.header = header
        self.version: str | None = self.plan.version.value
        self.columns: tuple[str, ...] = (
            *self.plan.renames.values(),
            *self.plan.derived,
            *self.plan.computed,
        )
        self._check_plan()
        self._types = _focus_columns()
        self._required = [
            c.name
            for c in columns(self.plan.version)
            if c.is_mandatory(self.plan.version) and not c.nullable
        ]

    # -- opening ---------------------------------------------------------------------------

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
        text = io.TextIOWrapper(self._open_bytes(), encoding="utf-8-sig", newline="")
        try:
            header = next(csv.reader(text), None)
        except (UnicodeDecodeError, EOFError, OSError, csv.Error) as exc:
            what, hint = _read_failure(exc)
            raise IngestError(what, where=str(self.path), hint=hint) from None
        finally:
            text.close()
            self.close()
        if not header or all(not h.strip() for h in header):
            raise IngestError(
                "the first line is empty; a CSV header is expected", where=f"{self.path}:1"
            )
        return [h.strip() for h in header]

    def _check_plan(self) -> None:
        p = self.plan
        if p.missing_mandatory:
            raise IngestError(
                f"missing mandatory FOCUS {p.version} column(s): {', '.join(p.missing_mandatory)}",
                where=str(self.path),
                hint="export the data with all mandatory columns, or pass --focus-version if "
                "the version was detected wrongly",
            )
        for name in p.case_repaired:
            self.warnings[f"column {name!r} read as {p.renames[name]!r} (case repaired)"] += 1
        for src, dst in p.extension_columns.items():
            if src != dst:
                self.notes.append(f"column {src!r} is not a FOCUS column; kept as {dst!r}")
        for dst, src in p.derived.items():
            self.notes.append(f"{dst} filled from {src}")
        for dst in p.computed:
            self.notes.append(f"{dst} computed (the file's version has no such column)")

    def close(self) -> None:
        if self._json is not None:
            self._json.close()
            self._json = None
        if self._raw is not None:
            self._raw.close()
            self._raw = None

    # -- reading ---------------------------------------------------------------------------

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
                hint="this does not look like a FOCUS export of the expected shape; check the "
                "first quarantine reasons with a small sample of the file",
            )

    def _located(self) -> list[Rejection]:
        """Rejections with exact record and line numbers (a Python pass, only when needed)."""
        if self.format is FileFormat.PARQUET or not (self._rejections or self._malformed):
            return self._rejections
        # Which records the fast pass's rejections are depends on the malformed ones before them,
        # which only this pass finds: shift the wanted numbers as malformed records turn up.
        parsed = {r.record for r in self._rejections}
        starts, malformed = locate_records(self._open_bytes(), len(self.header), parsed)
        self.close()
        self.shift_thresholds = [r - j for j, (r, _, _) in enumerate(malformed)]
        shifts = self.shift_thresholds
        out = [replace(r, record=_shifted(r.record, shifts)) for r in self._rejections]
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
                    block_size=BLOCK_BYTES, column_names=self.header, skip_rows=1
                ),
                parse_options=pacsv.ParseOptions(
                    newlines_in_values=self.careful, invalid_row_handler=self._on_malformed
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(self.header, pa.string()),
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
            what, hint = _read_failure(exc)
            raise IngestError(what, where=str(self.path), hint=hint) from None

    def _on_malformed(self, row: Any) -> str:
        self._malformed.append(row.text)
        return "skip"

    # -- converting ------------------------------------------------------------------------

    def _convert(self, raw: pa.RecordBatch, first_record: int, progress: float) -> Batch:
        arrays: dict[str, pa.Array] = {}
        errors: dict[int, list[tuple[str, str, str | None]]] = {}
        for name, arr in zip(raw.schema.names, raw.columns, strict=True):
            target = self.plan.renames[name]
            arrays[target] = self._convert_column(target, arr, errors)
        for dst, src in self.plan.derived.items():
            arrays[dst] = arrays[src]
        for dst in self.plan.computed:
            arrays[dst] = _compute(dst, arrays)
        self._check_required(arrays, errors)
        self._check_json(arrays, errors)
        return self._split(raw, arrays, errors, first_record, progress)

    def _convert_column(
        self, name: str, arr: pa.Array, errors: dict[int, list[tuple[str, str, str | None]]]
    ) -> pa.Array:
        col = self._types.get(name)
        if col is None:
            return convert._as_text(arr)
        if col.type is ColumnType.DECIMAL:
            result = convert.to_decimal(arr)
            if result.rounded:
                self.warnings[f"{name}: values rounded to 18 decimal places"] += result.rounded
        elif col.type is ColumnType.DATETIME:
            result = convert.to_timestamp(arr)
        else:
            return self._convert_text(col, arr, errors)
        _add_errors(errors, name, result.errors, arr)
        return result.values

    def _convert_text(
        self,
        col: FocusColumn,
        arr: pa.Array,
        errors: dict[int, list[tuple[str, str, str | None]]],
    ) -> pa.Array:
        text = convert._as_text(arr)
        if not col.allowed_values:
            return text
        fixed, repaired, unknown = convert.enum_repairs(text, col.allowed_values)
        if repaired:
            self.warnings[f"{col.name}: values in the wrong case or spacing repaired"] += repaired
        if unknown and col.name in STRICT_ENUMS:
            _add_errors(errors, col.name, unknown, text)
        elif unknown:
            self.warnings[f"{col.name}: values not allowed by FOCUS kept as they are"] += len(
                unknown
            )
        return fixed

    def _check_required(
        self, arrays: dict[str, pa.Array], errors: dict[int, list[tuple[str, str, str | None]]]
    ) -> None:
        for name in self._required:
            missing = pc.indices_nonzero(pc.is_null(arrays[name])).to_pylist()
            for i in missing:
                if not any(c == name for c, _, _ in errors.get(i, [])):
                    errors.setdefault(i, []).append((name, "missing mandatory value", None))

    def _check_json(
        self, arrays: dict[str, pa.Array], errors: dict[int, list[tuple[str, str, str | None]]]
    ) -> None:
        names = [n for n, c in self._types.items() if c.type is ColumnType.JSON and n in arrays]
        for name in names:
            arr = arrays[name]
            if arr.null_count == len(arr):
                continue
            if self._json is None:
                self._json = duckdb.connect()
            self._json.register("json_column", pa.table({"i": np.arange(len(arr)), "v": arr}))
            object_only = "OR json_type(v) <> 'OBJECT'" if name == "Tags" else ""
            bad = self._json.execute(
                "SELECT i, v FROM json_column "
                f"WHERE v IS NOT NULL AND (NOT json_valid(v) {object_only})"
            ).fetchall()
            self._json.unregister("json_column")
            for i, value in bad:
                reason = "not valid JSON" if name != "Tags" else "not a JSON object"
                errors.setdefault(int(i), []).append((name, reason, value))

    def _split(
        self,
        raw: pa.RecordBatch,
        arrays: dict[str, pa.Array],
        errors: dict[int, list[tuple[str, str, str | None]]],
        first_record: int,
        progress: float,
    ) -> Batch:
        n = raw.num_rows
        records = pa.array(np.arange(first_record, first_record + n, dtype=np.int64))
        table = pa.table({**arrays, "x_SourceRecord": records})
        if not errors:
            return Batch(table, [], progress)
        bad = np.zeros(n, dtype=bool)
        bad[list(errors)] = True
        rejected = [
            _rejection(raw, i, first_record + i, problems) for i, problems in sorted(errors.items())
        ]
        return Batch(table.filter(pa.array(~bad)), rejected, progress)


def _compute(name: str, arrays: dict[str, pa.Array]) -> pa.Array:
    """A column the file's version lacks, computed from the ones it has (see COMPUTED)."""
    if name == "ServiceSubcategory":
        return pc.binary_join_element_wise("Other (", arrays["ServiceCategory"], ")", "")
    if name == "BillingAccountType":
        ids = arrays["BillingAccountId"]
        return pc.if_else(pc.is_null(ids), pa.scalar(None, pa.string()), "Billing Account")
    provider = arrays.get("ServiceProviderName", arrays.get("ProviderName"))
    ids = arrays["SubAccountId"]
    if provider is None:
        return pa.nulls(len(ids), pa.string())
    lowered = pc.utf8_lower(provider)
    kind = pa.nulls(len(ids), pa.string())
    for prefix, label in SUB_ACCOUNT_TYPES.items():
        kind = pc.if_else(pc.fill_null(pc.starts_with(lowered, prefix), False), label, kind)
    return pc.if_else(pc.is_null(ids), pa.scalar(None, pa.string()), kind)


def _shifted(parsed: int, thresholds: list[int]) -> int:
    """The record number of the ``parsed``-th well-formed record, given malformed ones before it."""
    return parsed + sum(1 for t in thresholds if t <= parsed)


def locate_records(
    stream: IO[bytes], width: int, wanted: set[int]
) -> tuple[dict[int, int], list[tuple[int, int, str]]]:
    """Walk a CSV with Python's csv module: the malformed records, and the start line of each
    record in ``wanted`` given as a well-formed-record number (as the fast pass counted).

    Slow (pure Python) and only used when a file has unreadable records. Only the wanted start
    lines are kept, so memory stays small on a large file.
    """
    starts: dict[int, int] = {}
    malformed: list[tuple[int, int, str]] = []
    with io.TextIOWrapper(stream, encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text)
        next(reader, None)
        previous_end = reader.line_num
        for record, fields in enumerate(reader, start=1):
            start = previous_end + 1
            previous_end = reader.line_num
            if len(fields) != width:
                malformed.append((record, start, ",".join(fields)))
            elif record - len(malformed) in wanted:
                starts[record] = start
    return starts, malformed


def _rejection(
    raw: pa.RecordBatch, i: int, record: int, problems: list[tuple[str, str, str | None]]
) -> Rejection:
    values = {name: _text(raw.column(k)[i].as_py()) for k, name in enumerate(raw.schema.names)}
    column, _, value = problems[0]
    reason = "; ".join(f"{c}: {r}" for c, r, _ in problems)
    return Rejection(record=record, column=column, reason=reason, value=value, raw=values)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _add_errors(
    errors: dict[int, list[tuple[str, str, str | None]]],
    column: str,
    found: dict[int, str],
    source: pa.Array,
) -> None:
    for i, reason in found.items():
        errors.setdefault(i, []).append((column, reason, _text(source[i].as_py())))


def _read_failure(exc: BaseException) -> tuple[str, str]:
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
    return f"cannot read the file: {text}", "check that it is a FOCUS CSV, CSV.gz or Parquet file"


def open_focus(path: Path, **options: Any) -> FocusReader:
    return FocusReader(path, **options)


SPEC = register(
    SourceSpec(
        name="focus",
        description="FOCUS 1.0-1.4 Cost and Usage exports (AWS, Azure, GCP, OCI, any provider)",
        formats=("csv", "csv.gz", "parquet"),
        table="costs",
        open=open_focus,
    )
)
