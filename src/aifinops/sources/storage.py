"""Storage inventories (``aifinops ingest storage``) -> ``storage_objects``.

Reads the S3 Inventory CSV layout (and Parquet inventories, and any CSV with the same columns and
a header): bucket, key, size, last modified, storage class, plus optional last access, an object
count (for prefix roll-ups) and ``tag:<name>`` columns.

S3 Inventory CSV files have no header: their columns are listed in the ``fileSchema`` of the
``manifest.json`` delivered beside them. The reader finds that manifest (in the file's folder or up
to three folders above, listing the file) or takes one with ``-o manifest=PATH``; ``-o
fields=Bucket,Key,Size,...`` names the columns instead. Keys in S3 Inventory CSV are URL-encoded
and are decoded. The inventory date comes from the manifest's ``creationTimestamp``, an
``inventory_date`` column, or ``-o date=YYYY-MM-DD`` (there is no silent default).

A newer inventory of the same bucket for the same date replaces the older one.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pyarrow as pa
import pyarrow.compute as pc

from aifinops.errors import IngestError
from aifinops.sources.base import SourceSpec, register
from aifinops.sources.files import FileFormat
from aifinops.sources.mapped import Field, Kind, MappedReader, constant, key
from aifinops.sources.tabular import Errors, add_errors

FIELDS = (
    Field("inventory_date", Kind.DATE, ("snapshot_date", "inventory")),
    Field("provider", Kind.TEXT, ("cloud",)),
    Field("bucket", Kind.TEXT, ("bucket_name", "container"), required=True, mandatory=True),
    Field("key", Kind.TEXT, ("object", "object_key", "path", "prefix", "name"), required=True,
          mandatory=True),
    Field("size_bytes", Kind.INTEGER, ("size", "bytes", "content_length"), required=True,
          mandatory=True),
    Field("last_modified", Kind.TIMESTAMP, ("last_modified_date", "modified", "mtime")),
    Field("storage_class", Kind.TEXT, ("class", "tier", "access_tier")),
    Field("last_accessed", Kind.TIMESTAMP, ("last_access", "last_access_date",
                                            "last_accessed_date", "atime")),
    Field("objects", Kind.INTEGER, ("object_count", "count")),
)  # fmt: skip


class StorageReader(MappedReader):
    describes = "a storage inventory (S3 Inventory CSV layout or a CSV/Parquet with a header)"
    fields = FIELDS
    labels_from_other_columns = False

    def __init__(
        self,
        path: Path,
        *,
        careful: bool = False,
        manifest: str | None = None,
        fields: str | None = None,
        date: str | None = None,
        provider: str | None = None,
    ) -> None:
        self._manifest = _load_manifest(Path(manifest)) if manifest else None
        self._fields = [f.strip() for f in fields.split(",")] if fields else None
        self._decode_keys = False
        super().__init__(path, careful=careful)
        when = _inventory_date(date, self._manifest)
        has_date_column = "inventory_date" in {f.column for f in self.mapping.values()}
        if when is None and not has_date_column:
            raise IngestError(
                "the inventory date is unknown",
                where=str(path),
                hint="pass -o date=YYYY-MM-DD (the day the inventory was taken), keep the S3 "
                "manifest.json beside the data files, or add an inventory_date column",
            )
        if when is not None:
            self.constants["inventory_date"] = constant(when, pa.date32())
        if provider or self._manifest is not None:
            self.constants["provider"] = constant(provider or "aws", pa.string())
        self.columns = tuple(dict.fromkeys((*self.columns, *self.constants)))
        if self._decode_keys:
            self.notes.append("object keys URL-decoded (S3 Inventory CSV encodes them)")

    def _read_header(self) -> list[str]:
        if self.format is FileFormat.PARQUET:
            return super()._read_header()
        first = self._first_csv_row()
        if self._fields is None and _looks_like_header(first):
            return [h.strip() for h in first]
        # No header: S3 Inventory CSV. Column names come from the manifest or -o fields.
        names = self._fields
        if names is None:
            self._manifest = self._manifest or _find_manifest(self.path)
            if self._manifest is None:
                raise IngestError(
                    "the file has no header and no S3 Inventory manifest.json lists it",
                    where=f"{self.path}:1",
                    hint="keep the manifest.json of the inventory beside (or above) the data "
                    "files, pass -o manifest=PATH, or name the columns with -o fields=Bucket,"
                    "Key,Size,LastModifiedDate,StorageClass",
                )
            names = [n.strip() for n in str(self._manifest.get("fileSchema", "")).split(",")]
        if len(names) != len(first):
            raise IngestError(
                f"the schema names {len(names)} columns but the first record has {len(first)}",
                where=f"{self.path}:1",
                hint="check that the manifest (or -o fields) belongs to this inventory",
            )
        self.skip_lines = 0
        self._decode_keys = True
        return names

    def refine(self, arrays: dict[str, pa.Array], errors: Errors, raw: pa.RecordBatch) -> None:
        if self._decode_keys and "key" in arrays:
            keys = arrays["key"].to_pylist()
            arrays["key"] = pa.array(
                [None if k is None else unquote_plus(k) for k in keys], pa.string()
            )
        size = arrays["size_bytes"]
        negative = pc.fill_null(pc.less(size, 0), False)
        if pc.any(negative).as_py():
            column = next(n for n, f in self.mapping.items() if f.column == "size_bytes")
            found = dict.fromkeys(pc.indices_nonzero(negative).to_pylist(), "negative size")
            add_errors(errors, column, found, raw.column(raw.schema.get_field_index(column)))


def _looks_like_header(row: list[str]) -> bool:
    names = {key(c) for c in row}
    return {"bucket", "key"} <= names or {"bucketname", "key"} <= names


def _load_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise IngestError(f"cannot read the inventory manifest: {exc}", where=str(path)) from None
    if not isinstance(manifest, dict) or "fileSchema" not in manifest:
        raise IngestError(
            "not an S3 Inventory manifest (no fileSchema)",
            where=str(path),
            hint="give the manifest.json delivered with the inventory",
        )
    return manifest


def _find_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest.json in the file's folder or up to three above that lists this file."""
    folder = path.parent
    for _ in range(4):
        candidate = folder / "manifest.json"
        if candidate.is_file():
            manifest = _load_manifest(candidate)
            listed = {Path(str(f.get("key", ""))).name for f in manifest.get("files", [])}
            if not listed or path.name in listed:
                return manifest
        folder = folder.parent
    return None


def _inventory_date(option: str | None, manifest: dict[str, Any] | None) -> dt.date | None:
    if option:
        try:
            return dt.date.fromisoformat(option)
        except ValueError:
            raise IngestError(f"-o date={option!r} is not a date", hint="use YYYY-MM-DD") from None
    if manifest and manifest.get("creationTimestamp"):
        millis = int(str(manifest["creationTimestamp"]))
        return dt.datetime.fromtimestamp(millis / 1000, dt.UTC).date()
    return None


def open_storage(path: Path, **options: Any) -> StorageReader:
    return StorageReader(path, **options)


SPEC = register(
    SourceSpec(
        name="storage",
        description="object storage inventories: S3 Inventory CSV (with manifest.json), or "
        "CSV/Parquet with bucket, key, size, last modified, storage class, last access",
        formats=("csv", "csv.gz", "parquet"),
        table="storage_objects",
        open=open_storage,
        replace_keys=("inventory_date", "bucket"),
        options={
            "date": "the day the inventory was taken (YYYY-MM-DD), when no manifest says it",
            "manifest": "the S3 Inventory manifest.json that describes the files",
            "fields": "the column names of a headerless CSV, comma-separated",
            "provider": "the cloud the bucket is in (aws, azure, gcp ...)",
        },
        export_hint="S3 Inventory (CSV) configured on the bucket; see docs/sources/storage.md",
    )
)
