"""Google Cloud billing export to BigQuery (standard and detailed usage cost) -> FOCUS ``costs``.

Two shapes of the same table are read:

* **CSV / CSV.gz / Parquet**, flattened as a query writes it: nested fields as
  ``service.description`` (or ``service_description``), the repeated records ``credits``,
  ``labels``, ``project.labels``, ``system_labels`` and ``tags`` as JSON text
  (``TO_JSON_STRING(credits)``);
* **JSON lines** (``bq extract --destination_format NEWLINE_DELIMITED_JSON``, plain or gzip):
  nested records as objects, repeated records as arrays, NULL fields left out. Read a few
  megabytes at a time (memory stays bounded); a line that is not a JSON object is quarantined
  with its line number.

Money follows Google's invoice: the invoice total of a month is ``SUM(cost) + SUM(credits.amount)``
(credits are negative), so a row's BilledCost is its cost plus its credits (sustained and
committed use discounts, free tier, promotions, reseller margins, ...), ContractedCost its cost
before credits, ListCost ``cost_at_list`` where the export has it. Google bills committed use
fees as they accrue (daily rows), so nothing is prepaid and EffectiveCost = BilledCost; the
committed use discount shows as CommitmentDiscount* columns on the rows its credit covers.
``cost_type`` gives the ChargeCategory (regular -> Usage, tax -> Tax, adjustment -> Credit or
Adjustment, rounding_error -> Adjustment). The mapping is in :mod:`aifinops.sources.gcp_focus`;
see ``docs/sources/gcp.md``.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.json as pajson
from isal import igzip

from aifinops.errors import IngestError
from aifinops.sources.base import Batch, Rejection, SourceSpec, register
from aifinops.sources.files import GZIP_MAGIC
from aifinops.sources.gcp_focus import REQUIRED, X_COLUMNS, GcpConversion
from aifinops.sources.native import BlockSql, NativeCostReader, focus_columns
from aifinops.sources.tabular import MAX_REJECTIONS, Errors, rejection


class GcpCsvReader(GcpConversion, NativeCostReader):
    """The billing export flattened to CSV, CSV.gz or Parquet."""

    def __init__(
        self, path: Path, *, billing_account_name: str | None = None, careful: bool = False
    ) -> None:
        NativeCostReader.__init__(self, path, careful=careful)
        self._name_account(billing_account_name)
        self._resolve(self.header)
        missing = [f for f in REQUIRED if self.names[f] is None]
        if missing:
            raise IngestError(
                f"missing column(s) of {self.describes}: {', '.join(missing)}",
                where=str(path),
                hint="export the billing table with these fields (nested ones flattened as "
                "service.description, repeated ones with TO_JSON_STRING)",
            )
        self.version = "gcp-billing-export"
        self.columns = (*self.columns, *X_COLUMNS)

    def _convert(self, raw: pa.RecordBatch, first_record: int, progress: float) -> Batch:
        errors: Errors = {}
        arrays = self.convert_block(raw, errors)
        return self._split(raw, arrays, errors, first_record, progress)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# -- JSON lines ---------------------------------------------------------------------------------

JSON_BLOCK_BYTES = 4 << 20


class GcpJsonReader(GcpConversion):
    """The billing export as newline-delimited JSON (as BigQuery writes it), plain or gzip."""

    def __init__(
        self, path: Path, *, billing_account_name: str | None = None, careful: bool = False
    ) -> None:
        self.path = path
        self.version: str | None = "gcp-billing-export"
        self.warnings: Counter[str] = Counter()
        self.notes: list[str] = []
        self._name_account(billing_account_name)
        self.columns: tuple[str, ...] = (*focus_columns(), *X_COLUMNS)
        self.times: tuple[str, ...] = ()
        self._block_sql = BlockSql()
        self._file: IO[bytes] | None = None
        with path.open("rb") as fh:
            self._gzip = fh.read(2) == GZIP_MAGIC
        self._check_first_line()

    @property
    def format(self) -> str:
        return "jsonl.gz" if self._gzip else "jsonl"

    def _open(self) -> IO[bytes]:
        self._file = self.path.open("rb")
        if self._gzip:
            return igzip.IGzipFile(fileobj=self._file, mode="rb")  # type: ignore[no-untyped-call,return-value]
        return self._file

    def _check_first_line(self) -> None:
        stream = self._open()
        try:
            first = next((ln for ln in stream if ln.strip()), b"")
        except (OSError, EOFError) as exc:
            raise IngestError(f"cannot read the file: {exc}", where=str(self.path)) from None
        finally:
            self.close()
        try:
            ok = isinstance(json.loads(first), dict) if first else False
        except ValueError:
            ok = False
        if not ok:
            raise IngestError(
                f"the first line is not a JSON object; this is not {self.describes} as JSON lines",
                where=f"{self.path}:1",
                hint="export the table with --destination_format NEWLINE_DELIMITED_JSON",
            )

    def sql(self, query: str, block: pa.Table) -> pa.Table:
        return self._block_sql(query, block)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._block_sql.close()

    def batches(self) -> Iterator[Batch]:
        rejected: list[Rejection] = []
        record = 1
        size = max(self.path.stat().st_size, 1)
        for lines, line_numbers in self._chunks():
            good, good_lines, bad = _parse(lines, line_numbers, record)
            rejected.extend(bad)
            if good is not None and good.num_rows:
                raw = _flatten(good, self.sql)
                self._resolve(raw.schema.names)
                errors: Errors = {}
                arrays = self.convert_block(raw, errors)
                records = [
                    record + k for k, ok in enumerate(_ok_mask(len(lines), bad, record)) if ok
                ]
                table = pa.table({**arrays, "x_SourceRecord": pa.array(records, pa.int64())})
                keep = [i not in errors for i in range(raw.num_rows)]
                for i, problems in sorted(errors.items()):
                    r = rejection(raw, i, records[i], problems)
                    rejected.append(
                        Rejection(r.record, r.column, r.reason, r.value, r.raw, good_lines[i])
                    )
                if len(rejected) > MAX_REJECTIONS:
                    raise IngestError(
                        f"more than {MAX_REJECTIONS:,} unreadable records", where=str(self.path)
                    )
                yield Batch(table.filter(pa.array(keep)), [], self._progress(size))
            record += len(lines)
        self.close()
        yield Batch(None, sorted(rejected, key=lambda r: r.record), 1.0)

    def _progress(self, size: int) -> float:
        return min(self._file.tell() / size, 1.0) if self._file is not None else 1.0

    def _chunks(self) -> Iterator[tuple[list[bytes], list[int]]]:
        """Non-blank lines, a few MB at a time, with their line numbers (1-based)."""
        stream = self._open()
        lines: list[bytes] = []
        numbers: list[int] = []
        held = 0
        try:
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                lines.append(line)
                numbers.append(number)
                held += len(line)
                if held >= JSON_BLOCK_BYTES:
                    yield lines, numbers
                    lines, numbers, held = [], [], 0
        except (OSError, EOFError) as exc:
            raise IngestError(
                f"cannot read the file: {exc}",
                where=str(self.path),
                hint="the gzip stream may be truncated; copy the file again",
            ) from None
        if lines:
            yield lines, numbers


def _ok_mask(count: int, bad: list[Rejection], first_record: int) -> list[bool]:
    mask = [True] * count
    for r in bad:
        mask[r.record - first_record] = False
    return mask


def _parse(
    lines: list[bytes], numbers: list[int], first_record: int
) -> tuple[pa.Table | None, list[int], list[Rejection]]:
    """The lines as an Arrow table (fast path), or, when some line is bad, the good ones and a
    rejection per bad line."""
    try:
        return _read_json(b"".join(_terminated(lines))), numbers, []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    good: list[bytes] = []
    good_numbers: list[int] = []
    bad: list[Rejection] = []
    for k, (line, number) in enumerate(zip(lines, numbers, strict=True)):
        text = line.decode("utf-8", errors="replace").strip()
        try:
            ok = isinstance(json.loads(text), dict)
            reason = "not a JSON object"
        except ValueError as exc:
            ok, reason = False, f"not valid JSON: {exc}"
        if ok:
            good.append(line)
            good_numbers.append(number)
        else:
            raw: dict[str, str | None] = {"line": text[:2000]}
            bad.append(Rejection(first_record + k, None, reason, None, raw, number))
    if not good:
        return None, [], bad
    try:
        return _read_json(b"".join(_terminated(good))), good_numbers, bad
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # A field whose type changes between lines ("cost": "twelve"): every value as text,
        # so the conversion can name the bad one.
        return _text_table(good), good_numbers, bad


def _text_table(lines: list[bytes]) -> pa.Table:
    """Lines of JSON objects as a table of text columns (numbers as written), nested records
    flattened to ``parent.child`` and repeated ones as JSON text. The slow path."""
    rows = [_flat(json.loads(line, parse_float=str, parse_int=str)) for line in lines]
    names = list(dict.fromkeys(k for row in rows for k in row))
    return pa.table({n: pa.array([row.get(n) for row in rows], pa.string()) for n in names})


def _flat(record: dict[str, Any], prefix: str = "") -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, f"{name}."))
        elif isinstance(value, list):
            out[name] = json.dumps(value, ensure_ascii=False)
        else:
            out[name] = None if value is None else str(value)
    return out


def _terminated(lines: list[bytes]) -> Iterator[bytes]:
    for line in lines:
        yield line if line.endswith(b"\n") else line + b"\n"


def _read_json(data: bytes) -> pa.Table:
    return pajson.read_json(
        io.BytesIO(data), read_options=pajson.ReadOptions(block_size=max(len(data), 1 << 20))
    )


def _flatten(table: pa.Table, sql: Callable[[str, pa.Table], pa.Table]) -> pa.RecordBatch:
    """Nested records as ``parent.child`` columns; repeated records (lists) as JSON text."""
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    lists = [f.name for f in table.schema if pa.types.is_list(f.type)]
    if lists:
        select = ", ".join(f"to_json({_quote(n)})::VARCHAR AS {_quote(n)}" for n in lists)
        as_json = sql(f"SELECT {select} FROM block", table.select(lists))
        for name in lists:
            table = table.set_column(table.schema.get_field_index(name), name, as_json.column(name))
    return (
        table.combine_chunks().to_batches()[0] if table.num_rows else pa.RecordBatch.from_pylist([])
    )


def open_gcp(path: Path, **options: Any) -> GcpCsvReader | GcpJsonReader:
    if _looks_like_json(path):
        return GcpJsonReader(path, **options)
    return GcpCsvReader(path, **options)


def _looks_like_json(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(2)
    opener = igzip.open if head == GZIP_MAGIC else open
    with opener(path, "rb") as fh:
        start = fh.read(4096).lstrip()
    return start.startswith((b"{", b"["))


SPEC = register(
    SourceSpec(
        name="gcp",
        description="Google Cloud billing export (standard or detailed usage cost) converted "
        "to FOCUS",
        formats=("csv", "csv.gz", "parquet", "jsonl", "jsonl.gz"),
        table="costs",
        open=open_gcp,
        replace_keys=("BillingAccountId", "BillingPeriodStart"),
        options={
            "billing_account_name": "the billing account's display name (the export has "
            "none; default: its id)"
        },
        export_hint="BigQuery billing export table, extracted as JSON lines or flattened CSV "
        "(docs/sources/gcp.md)",
    )
)
