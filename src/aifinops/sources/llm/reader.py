"""The reader every LLM usage source shares: records in, batches of priced ``llm_usage`` out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from aifinops.errors import IngestError
from aifinops.model.prices import Catalog
from aifinops.sources.base import Batch
from aifinops.sources.llm.common import (
    COLUMNS,
    ROWS_PER_BATCH,
    Record,
    Rows,
    price_rules,
    unknown_note,
    vendor_note,
)

#: options every LLM source takes (name -> help)
COMMON_OPTIONS = {
    "prices": "the [prices] settings of aifinops.toml (the workspace passes them; "
    "not a CLI option)",
    "tolerance": "relative difference between priced and vendor cost that the summary notes "
    "(default 0.01 = 1%)",
}


@dataclass
class Bad:
    """A record that could not be read: the field, why, the value."""

    field: str
    reason: str
    value: object = None


@dataclass
class Item:
    """One record of a file: where it is and what was read."""

    number: int
    line: int | None
    where: str  # JSON path of the record ("data[0].results[3]"), "" for CSV rows
    raw: Mapping[str, object]
    parsed: Record | Bad


class UsageReader:
    """A :class:`~aifinops.sources.base.SourceReader` over :meth:`items`, which subclasses
    implement; it checks, prices and batches the records."""

    source = ""

    def __init__(
        self,
        path: Path,
        *,
        careful: bool = False,
        prices: object = None,
        tolerance: object = None,
        **options: object,
    ) -> None:
        del careful  # records are read one at a time: there is no fast path to fall back from
        self.path = path
        self.options = options
        self.version: str | None = None
        self.warnings: Counter[str] = Counter()
        self.notes: list[str] = []
        self.columns: tuple[str, ...] = tuple(COLUMNS)
        self.catalog = Catalog(price_rules(prices))
        self.tolerance = _tolerance(tolerance)
        self._format = self._detect()

    @property
    def format(self) -> str:
        return self._format

    def _detect(self) -> str:
        raise NotImplementedError

    def items(self) -> Iterator[Item]:
        raise NotImplementedError

    def batches(self) -> Iterator[Batch]:
        unknown: Counter[str] = Counter()
        rows = Rows(self.source, self.catalog, unknown)
        self.notes.clear()
        for item in self.items():
            add_item(rows, item)
            if len(rows) >= ROWS_PER_BATCH:
                yield rows.batch(self.progress())
        ours, vendor = rows.vendor_totals
        yield rows.batch(1.0)
        self.notes.extend(unknown_note(unknown))
        if vendor or ours:
            self.notes.extend(vendor_note(ours, vendor, self.tolerance))

    def progress(self) -> float:
        return 0.0

    def close(self) -> None:
        pass

    def option(self, name: str, default: str | None = None) -> str | None:
        value = self.options.get(name, default)
        return None if value is None else str(value)


def _tolerance(value: object) -> Decimal:
    if value is None:
        return Decimal("0.01")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise IngestError(
            f"option tolerance={value!r} is not a number", hint="e.g. -o tolerance=0.02"
        ) from None
    if number < 0:
        raise IngestError("option tolerance must not be negative", hint="e.g. -o tolerance=0.02")
    return number


class BucketReader(UsageReader):
    """Exports of a usage/cost API: pages ``{"data": [bucket, ...]}`` whose buckets hold
    ``results``. A file is one page, a JSON array of pages, or one page per line (JSON Lines)."""

    def _detect(self) -> str:
        from aifinops.sources.llm.common import first_char, is_json_lines

        if first_char(self.path) not in "{[":
            raise IngestError(
                "not a JSON export (it does not start with { or [)",
                where=str(self.path),
                hint=f"give the JSON pages the API returned (docs/sources/llm.md, {self.source})",
            )
        return "jsonl" if is_json_lines(self.path) else "json"

    def pages(self) -> Iterator[tuple[str, int | None, object]]:
        """(JSON path prefix, line, page) for each page of the file."""
        from aifinops.sources.llm.common import json_lines, load_json

        if self._format == "jsonl":
            for line, page in json_lines(self.path):
                yield "", line, page
            return
        document = load_json(self.path)
        if isinstance(document, list):
            for index, page in enumerate(document):
                yield f"[{index}].", None, page
        else:
            yield "", None, document

    def items(self) -> Iterator[Item]:
        number = 0
        for prefix, line, page in self.pages():
            buckets = page.get("data") if isinstance(page, dict) else None
            if not isinstance(buckets, list):
                raise IngestError(
                    f"{prefix or 'the document'} has no 'data' list of buckets",
                    where=f"{self.path}:{line}" if line else str(self.path),
                    hint="give the JSON pages the API returned, unchanged",
                )
            for b, bucket in enumerate(buckets):
                results = bucket.get("results") if isinstance(bucket, dict) else None
                for r, result in enumerate(results if isinstance(results, list) else []):
                    number += 1
                    where = f"{prefix}data[{b}].results[{r}]"
                    raw = result if isinstance(result, dict) else {"value": result}
                    parsed = self.read(bucket, result) if isinstance(result, dict) else None
                    yield Item(number, line, where, raw, parsed or Bad("", "not an object"))

    def read(self, bucket: dict[str, object], result: dict[str, object]) -> Record | Bad:
        raise NotImplementedError


def add_item(rows: Rows, item: Item) -> None:
    """An item into ``rows``: its record, or its rejection with the field that is bad."""
    if isinstance(item.parsed, Bad):
        bad = item.parsed
        where = f"{item.where}.{bad.field}" if item.where else bad.field
        rows.reject(item.number, item.line, where, bad.reason, bad.value, item.raw)
    else:
        rows.add(item.parsed, item.number, item.line, item.where, item.raw)
