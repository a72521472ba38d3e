"""CSV / Parquet files whose columns map by name onto a store table (metrics, storage, jobs).

A :class:`MappedReader` declares its :class:`Field` s: the stored column, the header names that
mean it (matched case-insensitively, ignoring spaces, dashes, dots and underscores), its kind
and whether the file must have it. Columns the fields do not claim become labels (a JSON object
in ``labels``) when the reader keeps them, so ``date,metric,value,team,region`` files need no
configuration. Values that do not convert reject their record, naming the file's column.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aifinops.errors import IngestError
from aifinops.sources import convert
from aifinops.sources.base import Batch
from aifinops.sources.tabular import Errors, TabularReader, add_errors


class Kind(StrEnum):
    TEXT = "text"
    DECIMAL = "decimal"
    INTEGER = "integer"
    TIMESTAMP = "timestamp"
    DATE = "date"


@dataclass(frozen=True)
class Field:
    """A stored column and the file columns that can fill it."""

    column: str
    kind: Kind
    names: tuple[str, ...]
    required: bool = False  # the file must have the column
    mandatory: bool = False  # every record must have a value

    def matches(self, header: str) -> bool:
        return key(header) in {key(n) for n in (self.column, *self.names)}


def key(name: str) -> str:
    """A header name compared loosely: ``Last Modified Date`` == ``last_modified_date``."""
    return re.sub(r"[\s_.\-/]+", "", name).lower()


class MappedReader(TabularReader):
    """A file whose columns map onto ``fields``; see the module docstring."""

    fields: tuple[Field, ...] = ()
    #: file columns not claimed by a field go into ``labels`` (else they are ignored, noted)
    labels_from_other_columns = True
    #: header prefixes that mark a label column explicitly (``label:team``, ``tag:team``)
    label_prefixes: tuple[str, ...] = ("label:", "labels.", "tag:", "tags.")
    #: columns added to every row: stored column -> Arrow array factory (rows -> array)
    constants: dict[str, Callable[[int], pa.Array]]
    #: texts read as "no value" in mapped columns, besides the empty string and NULL
    extra_nulls: tuple[str, ...] = ()

    def __init__(self, path: Path, *, careful: bool = False) -> None:
        super().__init__(path, careful=careful)
        self.constants = {}
        self.mapping: dict[str, Field] = {}
        self.label_columns: dict[str, str] = {}
        for name in self.header:
            field = next((f for f in self.fields if f.matches(name)), None)
            if field is not None and field.column not in {f.column for f in self.mapping.values()}:
                self.mapping[name] = field
            elif prefix := next(
                (p for p in self.label_prefixes if name.lower().startswith(p)), None
            ):
                self.label_columns[name] = name[len(prefix) :]
            elif self.labels_from_other_columns:
                self.label_columns[name] = name
            else:
                self.notes.append(f"column {name!r} is not read")
        missing = [f for f in self.fields if f.required and f not in self.mapping.values()]
        if missing:
            wanted = "; ".join(f"{f.column} (any of: {', '.join(f.names)})" for f in missing)
            raise IngestError(
                f"missing column(s) of {self.describes}: {wanted}",
                where=str(path),
                hint=f"the header has: {', '.join(self.header)}",
            )
        self.columns = (
            *(f.column for f in self.mapping.values()),
            *(("labels",) if self.label_columns else ()),
        )

    def _convert(self, raw: pa.RecordBatch, first_record: int, progress: float) -> Batch:
        errors: Errors = {}
        arrays: dict[str, pa.Array] = {}
        for name, column in zip(raw.schema.names, raw.columns, strict=True):
            field = self.mapping.get(name)
            if field is None:
                continue
            arr = self._without_extra_nulls(column)
            values, found = convert_kind(field.kind, arr)
            add_errors(errors, name, found, arr)
            if field.mandatory:
                missing = pc.indices_nonzero(pc.is_null(arr)).to_pylist()
                add_errors(errors, name, dict.fromkeys(missing, "missing value"), arr)
            arrays[field.column] = values
        if self.label_columns:
            arrays["labels"] = labels_json(raw, self.label_columns)
        for column, make in self.constants.items():
            arrays[column] = make(raw.num_rows)
        self.refine(arrays, errors, raw)
        return self._split(raw, arrays, errors, first_record, progress)

    def _without_extra_nulls(self, arr: pa.Array) -> pa.Array:
        if not self.extra_nulls:
            return arr
        text = convert._as_text(arr)
        known = pc.fill_null(
            pc.is_in(text, value_set=pa.array(self.extra_nulls, pa.string())), False
        )
        return pc.if_else(known, pa.scalar(None, pa.string()), text)

    def refine(self, arrays: dict[str, pa.Array], errors: Errors, raw: pa.RecordBatch) -> None:
        """A subclass's last say over a converted block (derive columns, check values)."""


def convert_kind(kind: Kind, arr: pa.Array) -> tuple[pa.Array, dict[int, str]]:
    """Values of ``kind`` from ``arr`` and the positions that failed, with why."""
    if kind is Kind.DECIMAL:
        result = convert.to_decimal(arr)
        return result.values, result.errors
    if kind is Kind.TIMESTAMP:
        result = convert.to_timestamp(arr)
        return result.values, result.errors
    if kind is Kind.DATE:
        result = convert.to_timestamp(arr)
        return pc.cast(result.values, pa.date32()), result.errors
    if kind is Kind.INTEGER:
        return to_integer(arr)
    return convert._as_text(arr), {}


def to_integer(arr: pa.Array) -> tuple[pa.Array, dict[int, str]]:
    """Whole numbers (``12``, ``12.0``) as int64; anything else is an error."""
    text = pc.utf8_trim_whitespace(convert._as_text(arr))
    try:
        return pc.cast(text, pa.int64()), {}
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    values: list[int | None] = []
    errors: dict[int, str] = {}
    for i, raw in enumerate(text.to_pylist()):
        number = None
        if raw is not None:
            try:
                parsed = float(raw)
                if parsed.is_integer():
                    number = int(parsed)
                else:
                    errors[i] = f"not a whole number: {raw!r}"
            except ValueError:
                errors[i] = f"not a number: {raw!r}"
        values.append(number)
    return pa.array(values, pa.int64()), errors


def labels_json(raw: pa.RecordBatch, columns: dict[str, str]) -> pa.Array:
    """A JSON object per row from the label columns (file column -> label name); empty values
    are left out; a row with no labels gets ``{}``."""
    texts = {
        label: convert._as_text(raw.column(raw.schema.get_field_index(name))).to_pylist()
        for name, label in columns.items()
    }
    rows = []
    for i in range(raw.num_rows):
        pairs = {k: v[i] for k, v in texts.items() if v[i] not in (None, "")}
        rows.append(json.dumps(dict(sorted(pairs.items())), ensure_ascii=False))
    return pa.array(rows, pa.string())


def constant(value: object, type_: pa.DataType) -> Callable[[int], pa.Array]:
    """An array factory repeating ``value`` (for :attr:`MappedReader.constants`)."""
    return lambda n: pa.array(np.repeat(np.array([value], dtype=object), n), type_)
