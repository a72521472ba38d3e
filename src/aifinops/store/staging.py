"""Staging converted rows as Parquet, read by a second thread while DuckDB inserts.

Why not insert the reader's Arrow tables directly? Two measured reasons (DuckDB 1.5.6, 2 cores):

* Inside an open transaction DuckDB keeps a reference to every Arrow buffer it inserted until the
  transaction commits, so a 2M-row load held 2 GB of Arrow memory and peaked at 3.5 GB RSS.
  Rows read back from a Parquet file are copied into DuckDB's own, buffer-managed memory instead.
* DuckDB parallelises an insert over row groups; staged files of 122,880-row row groups (DuckDB's
  row-group size) let both cores write, where one Arrow batch kept one core busy.

A few DuckDB settings change for the length of a load (see :data:`LOAD_SETTINGS`).

The reader (parse, exact conversion, checks) and the Parquet writer run in a background thread,
one stage ahead of the insert, so reading and writing overlap. Both release the GIL.
"""

from __future__ import annotations

import queue
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from aifinops.sources.base import Batch, Rejection

#: Prefix of the per-load staging folders (left behind only by a killed process).
FOLDER_PREFIX = "aifinops-ingest-"
#: DuckDB's row-group size; staged files are written in row groups of exactly this many rows.
ROW_GROUP_ROWS = 122_880
#: Rows per staged file: a row group per core for a parallel insert, and little enough that the
#: Arrow batches waiting to be written stay near 300 MB. Measured at 10M rows: 2 row groups
#: peaked at 1.8 GB RSS, 4 at 2.3 GB, 8 at 2.4 GB, all at the same speed.
STAGE_ROWS = 2 * ROW_GROUP_ROWS

T = TypeVar("T")


@dataclass
class Stage:
    """What the background thread hands over: a staged file, rejections, progress."""

    path: Path | None  # a Parquet file of good rows to insert, or None
    rows: int  # rows in ``path``
    rejected: list[Rejection] = field(default_factory=list)
    progress: float = 0.0
    columns: tuple[str, ...] = ()  # the columns of ``path``


def stages(
    batches: Iterator[Batch], folder: Path, name: str, stage_rows: int | None = None
) -> Iterator[Stage]:
    """Group the reader's batches into staged Parquet files of about ``stage_rows`` rows.

    Files are named ``<name>-<n>.parquet`` in ``folder``; ``name`` must be unique among the
    stages that may exist at the same time.

    A batch whose schema differs from the pending ones (a column's type may vary between a
    file's row groups) closes the pending file first, so each staged file has one schema.
    """
    stage_rows = stage_rows or STAGE_ROWS
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    schema: pa.Schema | None = None
    count = 0
    progress = 0.0

    def flush() -> Stage:
        nonlocal pending, pending_rows, schema, count
        path = folder / f"{name}-{count:06d}.parquet"
        count += 1
        # Dictionary-encoded text (aws-cur) gets one dictionary per column, so the Parquet
        # writer writes it as it is instead of decoding the row groups that span batches.
        table = pa.Table.from_batches(pending, schema=schema).unify_dictionaries()
        pq.write_table(table, path, row_group_size=ROW_GROUP_ROWS, compression="snappy")
        stage = Stage(path, table.num_rows, [], progress, tuple(table.column_names))
        pending, pending_rows, schema = [], 0, None
        return stage

    for batch in batches:
        progress = batch.progress
        table = batch.table
        if table is not None and table.num_rows:
            if schema is not None and not table.schema.equals(schema):
                yield flush()
            schema = table.schema
            pending.extend(table.to_batches())
            pending_rows += table.num_rows
            if pending_rows >= stage_rows:
                yield flush()
        yield Stage(None, 0, batch.rejected, progress)
    if pending:
        yield flush()


#: DuckDB settings for the length of a load, and why (measured on 10M demo rows, 2 cores):
#: the external file cache kept every staged file's pages after the file was deleted; returning
#: freed memory to the system sooner took the CSV.gz peak from 2.2 GB to 1.9 GB RSS.
LOAD_SETTINGS = {
    "enable_external_file_cache": "false",
    "allocator_flush_threshold": "'32MB'",
    "allocator_background_threads": "true",
}


@contextmanager
def load_settings(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Apply :data:`LOAD_SETTINGS` while a load runs, then restore the previous values."""
    before = {}
    for name, value in LOAD_SETTINGS.items():
        row = con.execute("SELECT current_setting(?)", [name]).fetchone()
        before[name] = None if row is None else row[0]
        con.execute(f"SET {name} = {value}")
    try:
        yield
    finally:
        for name, old in before.items():
            if old is None:
                con.execute(f"RESET {name}")
            else:
                con.execute(f"SET {name} = {_literal(old)}")


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def clean(folder: Path) -> None:
    """Remove staging folders a killed ingest left in ``folder``.

    Only one process writes to a workspace at a time (DuckDB's lock), so when an ingest starts
    every staging folder there is stale.
    """
    for stale in folder.glob(f"{FOLDER_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)


def ahead(
    items: Iterator[T], *, heavy: Callable[[T], bool] = lambda _: True, depth: int = 1
) -> Iterator[T]:
    """Run ``items`` in a background thread, ahead of the consumer.

    At most ``depth`` *heavy* items (staged files: disk and memory) wait unconsumed; light
    items (progress, rejections) never hold the producer back. An exception in the producer
    is raised in the consumer, at the point it would have been reached. If the consumer stops
    early, the producer is told to stop and is waited for.
    """
    box: queue.SimpleQueue[tuple[str, object]] = queue.SimpleQueue()
    slots = threading.Semaphore(depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if heavy(item):
                    while not slots.acquire(timeout=0.1):
                        if stop.is_set():
                            return
                if stop.is_set():
                    return
                box.put(("item", item))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            box.put(("error", exc))
        else:
            box.put(("end", None))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="aifinops-reader", daemon=True)
    worker.start()
    previous_heavy = False
    try:
        while True:
            if previous_heavy:
                slots.release()  # the consumer is done with it
            kind, value = box.get()
            if kind == "end":
                return
            if kind == "error":
                assert isinstance(value, BaseException)
                raise value
            item: T = value  # type: ignore[assignment]
            previous_heavy = heavy(item)
            yield item
    finally:
        stop.set()
        worker.join()
