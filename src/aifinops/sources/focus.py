"""FOCUS Cost and Usage files (CSV, CSV.gz, Parquet; FOCUS 1.0 to 1.4) -> rows of ``costs``.

The reader streams: CSV is parsed in blocks by Arrow (gzip inflated by ISA-L), Parquet is read a
row group at a time, so memory stays bounded whatever the file size. Each block is converted to
the stored shape (see :mod:`aifinops.model.schema_plan`) with exact decimals and UTC times; rows
that cannot be read become :class:`Rejection` records with their raw values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aifinops.errors import IngestError
from aifinops.model.enums import ChargeCategory, ChargeClass
from aifinops.model.focus import ColumnType, FocusColumn, FocusVersion, all_columns, columns
from aifinops.model.schema_plan import SUB_ACCOUNT_TYPES, SchemaPlan, plan
from aifinops.sources import convert
from aifinops.sources.base import Batch, SourceSpec, register
from aifinops.sources.tabular import Errors, TabularReader, add_errors

#: Enumerated columns whose value decides how a cost is counted: an unknown value is an error.
#: Other enumerated columns keep an unknown value and count a warning.
STRICT_ENUMS = {"ChargeCategory": ChargeCategory, "ChargeClass": ChargeClass}


def _focus_columns() -> dict[str, FocusColumn]:
    return {c.name: c for c in all_columns()}


class FocusReader(TabularReader):
    """Reads one FOCUS file. ``careful`` parses quoted values that span lines (slower)."""

    describes = "a FOCUS CSV, CSV.gz or Parquet file"

    def __init__(
        self,
        path: Path,
        *,
        focus_version: str | None = None,
        careful: bool = False,
    ) -> None:
        self._json: duckdb.DuckDBPyConnection | None = None  # opened on the first JSON check
        super().__init__(path, careful=careful)
        wanted = FocusVersion.parse(focus_version) if focus_version else None
        try:
            self.plan: SchemaPlan = plan(self.header, wanted)
        except Exception as exc:
            raise IngestError(str(exc), where=str(path)) from None
        self.version = self.plan.version.value
        self.columns = (
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
        super().close()

    # -- converting ------------------------------------------------------------------------

    def _convert(self, raw: pa.RecordBatch, first_record: int, progress: float) -> Batch:
        arrays: dict[str, pa.Array] = {}
        errors: Errors = {}
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

    def _convert_column(self, name: str, arr: pa.Array, errors: Errors) -> pa.Array:
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
        add_errors(errors, name, result.errors, arr)
        return result.values

    def _convert_text(
        self,
        col: FocusColumn,
        arr: pa.Array,
        errors: Errors,
    ) -> pa.Array:
        text = convert._as_text(arr)
        if not col.allowed_values:
            return text
        fixed, repaired, unknown = convert.enum_repairs(text, col.allowed_values)
        if repaired:
            self.warnings[f"{col.name}: values in the wrong case or spacing repaired"] += repaired
        if unknown and col.name in STRICT_ENUMS:
            add_errors(errors, col.name, unknown, text)
        elif unknown:
            self.warnings[f"{col.name}: values not allowed by FOCUS kept as they are"] += len(
                unknown
            )
        return fixed

    def _check_required(self, arrays: dict[str, pa.Array], errors: Errors) -> None:
        for name in self._required:
            missing = pc.indices_nonzero(pc.is_null(arrays[name])).to_pylist()
            for i in missing:
                if not any(c == name for c, _, _ in errors.get(i, [])):
                    errors.setdefault(i, []).append((name, "missing mandatory value", None))

    def _check_json(self, arrays: dict[str, pa.Array], errors: Errors) -> None:
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


def open_focus(path: Path, **options: Any) -> FocusReader:
    return FocusReader(path, **options)


SPEC = register(
    SourceSpec(
        name="focus",
        description="FOCUS 1.0-1.4 Cost and Usage exports (AWS, Azure, GCP, OCI, any provider)",
        formats=("csv", "csv.gz", "parquet"),
        table="costs",
        open=open_focus,
        replace_keys=("BillingAccountId", "BillingPeriodStart"),
        options={"focus_version": "read as this FOCUS version (1.0-1.4) instead of detecting it"},
        export_hint="the provider's FOCUS export (see docs/sources/focus.md)",
    )
)
