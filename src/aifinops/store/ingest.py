"""Ingest: files -> ``costs`` (and friends), idempotent, atomic, nothing silently dropped.

One call to :meth:`Ingestor.run` is one *load*: its files are the parts of one delivery of
exports and go in together, in one transaction, or not at all.

* **Idempotent.** A file whose content hash is in ``ingest_log`` is skipped.
* **Replace.** Each source names the columns that identify what a load delivers (for cost
  exports: BillingAccountId and BillingPeriodStart). Rows of earlier loads with the same values
  are deleted in the same transaction: a newer export of a billing period replaces the older one.
  Files of the same load add up (multi-part exports).
* **Atomic.** Any failure (a truncated gzip, a file missing mandatory columns, a kill) leaves the
  store as it was before the call.
* **Quarantine.** Unreadable records go to ``quarantine`` with file, line, column, reason and
  their raw values; rows read == rows ingested + rows quarantined, per file.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import duckdb
import pyarrow as pa

from aifinops.errors import IngestError
from aifinops.sources import base as sources
from aifinops.sources.base import Rejection, SourceReader
from aifinops.sources.files import expand, folder_suffixes, sha256
from aifinops.sources.tabular import StructuralRowsError
from aifinops.store import schema, staging
from aifinops.store.db import table_columns


@dataclass
class FileResult:
    """What happened to one file."""

    path: Path
    status: str  # "ingested" | "skipped"
    reason: str = ""
    file_id: int | None = None
    format: str = ""
    focus_version: str | None = None
    rows_read: int = 0
    rows_ingested: int = 0
    rows_quarantined: int = 0
    warnings: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    first_rejections: list[Rejection] = field(default_factory=list)


@dataclass
class IngestSummary:
    """What one ingest call did."""

    load_id: int | None
    files: list[FileResult]
    rows_replaced: int = 0
    replaced_files: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0
    #: the columns whose values decided what was replaced (the source's replace keys)
    replace_keys: tuple[str, ...] = ()

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_ingested(self) -> int:
        return sum(f.rows_ingested for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def warnings(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for f in self.files:
            total.update(f.warnings)
        return total


class Progress(Protocol):
    """Receives progress; the CLI draws bars with it, the library stays silent."""

    def start(self, files: Sequence[Path]) -> None: ...

    def advance(self, path: Path, fraction: float, rows: int) -> None: ...

    def done(self, result: FileResult) -> None: ...


class SilentProgress:
    def start(self, files: Sequence[Path]) -> None:
        pass

    def advance(self, path: Path, fraction: float, rows: int) -> None:
        pass

    def done(self, result: FileResult) -> None:
        pass


class Ingestor:
    """Loads files into the store through one connection (the single writer)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        progress: Progress | None = None,
        *,
        stage_dir: Path | None = None,
    ) -> None:
        self.con = con
        self.progress: Progress = progress or SilentProgress()
        #: where converted rows are staged as Parquet (see :mod:`aifinops.store.staging`);
        #: the system temporary folder when None
        self.stage_dir = stage_dir

    def run(
        self,
        paths: Iterable[str | Path],
        *,
        source: str = "focus",
        strict: bool = False,
        force: bool = False,
        options: dict[str, object] | None = None,
    ) -> IngestSummary:
        spec = _source(source)
        _check_options(spec, options or {})
        files = expand(paths, folder_suffixes(spec.formats))
        if not files:
            raise IngestError("no input files found", hint="give files, folders or globs")
        started = time.perf_counter()
        self.progress.start(files)
        readers = self._open(spec, files, options or {})
        with staging.load_settings(self.con):
            self.con.execute("BEGIN TRANSACTION")
            try:
                summary = self._load(spec, readers, force=force, options=options or {})
                if strict and summary.rows_quarantined:
                    raise IngestError(
                        _strict_message(summary),
                        hint="fix the rows, or run without "
                        "--strict to load the good rows and quarantine the rest",
                    )
                self.con.execute("COMMIT")
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
        summary.seconds = time.perf_counter() - started
        return summary

    def _open(
        self, spec: sources.SourceSpec, files: list[Path], options: dict[str, object]
    ) -> dict[Path, SourceReader]:
        """Open a reader per file (its header is read and checked) and add the extension columns
        the files bring, before the load's transaction.

        DuckDB 1.5 cannot add a column to a table that has uncommitted rows in the same
        transaction ("Row group prev allocated size ..."), so schema changes come first. A new,
        empty ``x_`` column left behind by a load that later fails is harmless.
        """
        known = set(table_columns(self.con, spec.table))
        readers: dict[Path, SourceReader] = {}
        for path in files:
            readers[path] = reader = spec.open(path, **options)
            reader.close()  # holds no file while the others open; batches() opens it again
            for name in reader.columns:
                if name not in known:
                    self.con.execute(
                        f"ALTER TABLE {spec.table} ADD COLUMN {schema.quote(name)} VARCHAR"
                    )
                    known.add(name)
        return readers

    # -- one load ----------------------------------------------------------------------------

    def _load(
        self,
        spec: sources.SourceSpec,
        readers: dict[Path, SourceReader],
        *,
        force: bool,
        options: dict[str, object],
    ) -> IngestSummary:
        load_id = self._next_id("load_id")
        results: list[FileResult] = []
        seen: dict[str, Path] = {}
        wanted: list[_Wanted] = []
        next_file_id = self._next_id("file_id")
        for path, reader in readers.items():
            # A source whose output is not a function of the file alone (the on-prem inventory
            # and its period) gives its own identity.
            digest = getattr(reader, "digest", None) or sha256(path)
            skip = self._skip_reason(digest, seen, force)
            seen.setdefault(digest, path)
            if skip:
                result = FileResult(path, "skipped", skip)
                self.progress.done(result)
            else:
                result = FileResult(path, "ingested", file_id=next_file_id)
                wanted.append(_Wanted(path, digest, result, reader))
                next_file_id += 1
            results.append(result)
        if wanted:
            self._load_files(spec, wanted, load_id, options)
        summary = IngestSummary(load_id, results, replace_keys=spec.replace_keys)
        ids = [r.file_id for r in results if r.file_id is not None]
        if ids and spec.replace_keys:
            summary.replaced_files = self._replace(spec, ids, load_id)
            summary.rows_replaced = sum(summary.replaced_files.values())
        if ids and spec.after_load is not None:
            notes = spec.after_load(self.con, ids)
            if notes:  # what the step found across the load's files goes on its last file
                next(r for r in reversed(results) if r.file_id is not None).notes.extend(notes)
        return summary

    def _skip_reason(self, digest: str, seen: dict[str, Path], force: bool) -> str:
        if digest in seen:
            return f"same content as {seen[digest]}"
        if force:
            return ""
        row = self.con.execute(
            "SELECT file_id, path, ingested_at, superseded_by_load FROM ingest_log "
            "WHERE sha256 = ? ORDER BY file_id DESC LIMIT 1",
            [digest],
        ).fetchone()
        if row is None or row[3] is not None:
            # Never seen, or its rows were since replaced by a newer export: loading it again
            # is a re-delivery, and the latest delivery wins.
            return ""
        when = row[2].strftime("%Y-%m-%d %H:%M UTC")
        return f"already ingested as file {row[0]} on {when} (use --force to load it again)"

    def _load_files(
        self,
        spec: sources.SourceSpec,
        wanted: list[_Wanted],
        load_id: int,
        options: dict[str, object],
    ) -> None:
        """Insert what a background thread reads and stages, one file after another.

        The thread runs ahead across file boundaries, so the next file is read while this one
        is inserted. Only this (the calling) thread touches the database.
        """
        if self.stage_dir is not None:
            self.stage_dir.mkdir(parents=True, exist_ok=True)
            staging.clean(self.stage_dir)
        prefix = staging.FOLDER_PREFIX
        with tempfile.TemporaryDirectory(prefix=prefix, dir=self.stage_dir) as tmp:
            events = _read_files(spec, wanted, options, Path(tmp))
            for event in staging.ahead(events, heavy=_is_staged_file):
                item = wanted[event.index]
                result = item.result
                assert result.file_id is not None
                if isinstance(event, _Opened):
                    result.format = str(event.reader.format)
                    result.focus_version = event.reader.version
                elif isinstance(event, _Restart):
                    # A quoted value spans lines, or records are malformed: the file is being
                    # read again, carefully; what was inserted from the fast read goes.
                    self.con.execute(
                        f"DELETE FROM {spec.table} WHERE x_IngestFileId = ?", [result.file_id]
                    )
                    self.con.execute("DELETE FROM quarantine WHERE file_id = ?", [result.file_id])
                    result.rows_ingested = result.rows_quarantined = 0
                    result.first_rejections = []
                elif isinstance(event, _Staged):
                    self._take(spec, item, event.stage)
                else:
                    self._finish(spec, item, event.reader, load_id)

    def _take(self, spec: sources.SourceSpec, item: _Wanted, stage: staging.Stage) -> None:
        result = item.result
        assert result.file_id is not None
        if stage.path is not None:
            version = result.focus_version if spec.name == "focus" else None
            self._insert(spec.table, stage, result.file_id, version)
            stage.path.unlink()
        self._quarantine(item.path, result.file_id, stage.rejected)
        result.rows_ingested += stage.rows
        result.rows_quarantined += len(stage.rejected)
        result.first_rejections.extend(stage.rejected[: 5 - len(result.first_rejections)])
        self.progress.advance(item.path, stage.progress, result.rows_ingested)

    def _finish(
        self, spec: sources.SourceSpec, item: _Wanted, reader: SourceReader, load_id: int
    ) -> None:
        result = item.result
        assert result.file_id is not None
        self._shift_records(spec.table, result.file_id, getattr(reader, "shift_thresholds", []))
        result.rows_read = result.rows_ingested + result.rows_quarantined
        result.warnings = reader.warnings
        result.notes = reader.notes
        self._log(result, item.digest, load_id, spec.name)
        self.progress.done(result)

    # -- writing -----------------------------------------------------------------------------

    def _insert(self, table: str, stage: staging.Stage, file_id: int, version: str | None) -> None:
        """Insert one staged file; its extension columns exist already (see ``_open``)."""
        extra = [f"{file_id} AS x_IngestFileId", *schema.derived_columns(table, stage.columns)]
        if table == "costs":
            extra.append(f"'{version}' AS x_FocusVersion" if version else "NULL AS x_FocusVersion")
        self.con.execute(
            f"INSERT INTO {table} BY NAME SELECT *, {', '.join(extra)} FROM read_parquet(?)",
            [str(stage.path)],
        )

    def _quarantine(self, path: Path, file_id: int, rejected: list[Rejection]) -> None:
        if not rejected:
            return
        rows = pa.table(
            {
                "file_id": [file_id] * len(rejected),
                "path": [str(path)] * len(rejected),
                "line": [r.line for r in rejected],
                "record": [r.record for r in rejected],
                "column_name": [r.column for r in rejected],
                "reason": [r.reason for r in rejected],
                "value": [r.value for r in rejected],
                "raw": [json.dumps(r.raw, ensure_ascii=False) for r in rejected],
            }
        )
        self.con.register("quarantine_batch", rows)
        try:
            self.con.execute("INSERT INTO quarantine BY NAME SELECT * FROM quarantine_batch")
        finally:
            self.con.unregister("quarantine_batch")

    def _shift_records(self, table: str, file_id: int, thresholds: list[int]) -> None:
        for threshold in sorted(thresholds, reverse=True):
            self.con.execute(
                f"UPDATE {table} SET x_SourceRecord = x_SourceRecord + 1 "
                "WHERE x_IngestFileId = ? AND x_SourceRecord >= ?",
                [file_id, threshold],
            )

    def _log(self, result: FileResult, digest: str, load_id: int, source: str) -> None:
        self.con.execute(
            "INSERT INTO ingest_log (file_id, load_id, source, path, sha256, size_bytes, format, "
            "focus_version, rows_read, rows_ingested, rows_quarantined, warnings, ingested_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                result.file_id,
                load_id,
                source,
                str(result.path),
                digest,
                result.path.stat().st_size,
                result.format,
                result.focus_version,
                result.rows_read,
                result.rows_ingested,
                result.rows_quarantined,
                json.dumps(dict(result.warnings)),
                datetime.now(UTC),
            ],
        )

    def _replace(
        self, spec: sources.SourceSpec, file_ids: list[int], load_id: int
    ) -> dict[int, int]:
        """Delete earlier rows with the keys this load brought; per-file counts of rows deleted."""
        table = spec.table
        keys = [schema.quote(k) for k in spec.replace_keys]
        ids = ", ".join(str(i) for i in file_ids)
        # IS NOT DISTINCT FROM: a key that is NULL (an export without a billing account id,
        # say) still identifies what the load delivers.
        match = " AND ".join(f"k.{k} IS NOT DISTINCT FROM t.{k}" for k in keys)
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE load_keys AS SELECT DISTINCT {', '.join(keys)} "
            f"FROM {table} WHERE x_IngestFileId IN ({ids})"
        )
        older = (
            f"FROM {table} t WHERE t.x_IngestFileId NOT IN ({ids}) "
            f"AND EXISTS (SELECT 1 FROM load_keys k WHERE {match})"
        )
        counts = dict(
            self.con.execute(f"SELECT t.x_IngestFileId, count(*) {older} GROUP BY 1").fetchall()
        )
        if counts:
            self.con.execute(
                f"DELETE FROM {table} t WHERE t.x_IngestFileId NOT IN ({ids}) "
                f"AND EXISTS (SELECT 1 FROM load_keys k WHERE {match})"
            )
            for file_id, rows in counts.items():
                self.con.execute(
                    "UPDATE ingest_log SET rows_superseded = rows_superseded + ?, "
                    "superseded_by_load = ? WHERE file_id = ?",
                    [rows, load_id, file_id],
                )
        self.con.execute("DROP TABLE load_keys")
        return {int(k): int(v) for k, v in counts.items()}

    def _next_id(self, column: str) -> int:
        row = self.con.execute(f"SELECT coalesce(max({column}), 0) + 1 FROM ingest_log").fetchone()
        assert row is not None
        return int(row[0])


@dataclass
class _Wanted:
    """A file this load reads, and what happened to it so far."""

    path: Path
    digest: str
    result: FileResult
    reader: SourceReader  # opened by ``Ingestor._open``: header read, nothing streamed yet


@dataclass
class _Opened:
    index: int
    reader: SourceReader


@dataclass
class _Staged:
    index: int
    stage: staging.Stage


@dataclass
class _Restart:
    index: int


@dataclass
class _Done:
    index: int
    reader: SourceReader


_Event = _Opened | _Staged | _Restart | _Done


def _is_staged_file(event: _Event) -> bool:
    return isinstance(event, _Staged) and event.stage.path is not None


def _read_files(
    spec: sources.SourceSpec, wanted: list[_Wanted], options: dict[str, object], folder: Path
) -> Iterator[_Event]:
    """Open, read and stage each file in turn (runs in the background thread)."""
    for index, item in enumerate(wanted):
        reader = item.reader
        yield _Opened(index, reader)
        try:
            for stage in staging.stages(reader.batches(), folder, f"file{index}"):
                yield _Staged(index, stage)
        except StructuralRowsError:
            reader.close()
            yield _Restart(index)
            reader = spec.open(item.path, careful=True, **options)
            for stage in staging.stages(reader.batches(), folder, f"file{index}-careful"):
                yield _Staged(index, stage)
        finally:
            reader.close()
        yield _Done(index, reader)


def _source(name: str) -> sources.SourceSpec:
    import aifinops.sources

    found = aifinops.sources.source(name)
    if found is None:
        known = ", ".join(sorted(aifinops.sources.MODULES))
        raise IngestError(f"unknown source {name!r}", hint=f"known sources: {known}")
    return found


def _check_options(spec: sources.SourceSpec, options: dict[str, object]) -> None:
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        known = ", ".join(sorted(spec.options)) or "none"
        raise IngestError(
            f"source {spec.name!r} takes no option {', '.join(map(repr, unknown))}",
            hint=f"its options: {known}",
        )


def _strict_message(summary: IngestSummary) -> str:
    lines = [f"--strict: {summary.rows_quarantined:,} unreadable row(s); nothing was ingested"]
    for result in summary.files:
        for r in result.first_rejections:
            lines.append(f"  {result.path}:{r.line or r.record}: {r.reason}")
    return "\n".join(lines)
