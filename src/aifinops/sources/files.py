"""Finding input files (paths, folders, globs) and recognising their format by content."""

from __future__ import annotations

import glob
import hashlib
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

from aifinops.errors import IngestError

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
_ZIP_MAGIC = b"PK\x03\x04"
_KNOWN_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".gz", ".tsv")
#: File name endings a folder is searched for, by the format names sources declare.
_FORMAT_SUFFIXES = {
    # Not .txt: export folders hold README and LICENSE .txt files.
    "csv": (".csv", ".tsv"),
    "sacct --parsable2": (".txt", ".psv"),
    "csv.gz": (".csv.gz", ".gz"),
    "parquet": (".parquet",),
    "json": (".json",),
    "jsonl": (".jsonl", ".ndjson"),
    "jsonl.gz": (".jsonl.gz", ".ndjson.gz"),
    "prometheus-text": (".prom", ".metrics"),
    "prometheus-text.gz": (".prom.gz", ".metrics.gz"),
    "prometheus-json": (".json",),
    "toml": (".toml",),
}


def folder_suffixes(formats: Iterable[str]) -> tuple[str, ...]:
    """The file name endings to pick up in folders for a source reading ``formats``."""
    found = [s for f in formats for s in _FORMAT_SUFFIXES.get(f, ())]
    return tuple(dict.fromkeys(found)) or _KNOWN_SUFFIXES


class FileFormat(StrEnum):
    CSV = "csv"
    CSV_GZ = "csv.gz"
    PARQUET = "parquet"


def expand(paths: Iterable[str | Path], suffixes: tuple[str, ...] = _KNOWN_SUFFIXES) -> list[Path]:
    """Files named by ``paths``: files as given, folders searched recursively, globs expanded.

    Folders contribute files whose names end with one of ``suffixes`` (by default the CSV and
    Parquet ones; see :func:`folder_suffixes`); hidden files are skipped. The result is sorted
    and has no duplicates.
    """
    found: dict[Path, None] = {}
    for item in paths:
        text = str(item)
        # Path.glob cannot take an absolute pattern, so the glob module it is.
        magic = glob.has_magic(text) and not Path(text).exists()
        matches = sorted(glob.glob(text, recursive=True)) if magic else [text]  # noqa: PTH207
        if not matches:
            raise IngestError(f"no files match {text!r}", hint="check the pattern and quote it")
        for match in matches:
            for path in _files_under(Path(match), suffixes):
                found[path.resolve()] = None
    return sorted(found)


def _files_under(path: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if path.is_dir():
        return sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
            and p.name.lower().endswith(suffixes)
        )
    if not path.exists():
        raise IngestError("no such file or folder", where=str(path))
    return [path]


def detect_format(path: Path) -> FileFormat:
    """The format of ``path`` from its first bytes (the suffix can lie)."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    if not head:
        raise IngestError(
            "the file is empty (not even a header)",
            where=str(path),
            hint="re-export it, or leave it out",
        )
    if head.startswith(GZIP_MAGIC):
        return FileFormat.CSV_GZ
    if head.startswith(PARQUET_MAGIC):
        return FileFormat.PARQUET
    if head.startswith(_ZIP_MAGIC):
        raise IngestError(
            "this is a ZIP archive, not CSV or Parquet",
            where=str(path),
            hint="unzip it and ingest the files inside",
        )
    if b"\x00" in head:
        raise IngestError(
            "this is a binary file, not CSV, CSV.gz or Parquet",
            where=str(path),
            hint="ingest FOCUS exports as CSV, gzip-compressed CSV or Parquet",
        )
    return FileFormat.CSV


def sha256(path: Path, chunk: int = 8 << 20) -> str:
    """Content hash of a file (the ingest ledger's identity of a file)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
