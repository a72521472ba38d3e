"""``nvidia-smi --query-compute-apps=...`` / ``--query-accounted-apps=... --format=csv``
(``aifinops ingest nvidia-smi-apps``) -> ``gpu_processes``.

One CSV row is one process on one GPU in one snapshot. The file's kind is told by its header:

* ``running`` (``--query-compute-apps``): the processes with a compute context now, with
  ``process_name`` and ``used_gpu_memory``;
* ``accounted`` (``--query-accounted-apps``, accounting mode on): every process the driver's
  accounting buffer holds, running or ended, with its ``gpu_utilization`` / ``mem_utilization``
  over its life so far, ``max_memory_usage`` and ``time`` (active ms). These are cumulative:
  each snapshot repeats the ended processes, so the latest snapshot of a pid is what it used.

What both nvidia-smi CSV sources share (units in values or not, ``[N/A]`` as NULL, local
``timestamp`` with ``-o timezone=``, ``-o scraped_at=``, repeated header lines) is in
:class:`aifinops.sources.nvidia_smi.NvidiaSmiCsv`. Neither query has a hostname field: the host
is ``-o host=``. Under MIG, nvidia-smi names the parent GPU (``gpu_uuid`` ``GPU-...``).

One row per (ts, host, gpu_uuid, pid, kind): a repeat of a key inside one file is quarantined,
and after a load, rows of earlier files (this load's or earlier loads') with a key the load
brought are deleted (the latest file wins; :func:`merge_processes`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from aifinops.errors import IngestError
from aifinops.sources import gpu_common as gpu
from aifinops.sources.base import Batch, SourceSpec, register
from aifinops.sources.nvidia_smi import OPTIONS, NvidiaSmiCsv, time_options
from aifinops.sources.tabular import Errors, add_errors

if TYPE_CHECKING:
    import duckdb

TABLE = "gpu_processes"
RUNNING = "running"
ACCOUNTED = "accounted"
QUERY = {RUNNING: "--query-compute-apps", ACCOUNTED: "--query-accounted-apps"}

#: Value column -> (file kind, nvidia-smi field names (both spellings it takes), check).
VALUE_FIELDS: dict[str, tuple[str, tuple[str, ...], gpu.Check]] = {
    "used_memory_mib": (RUNNING, ("used_gpu_memory", "used_memory"), gpu.Check.NON_NEGATIVE),
    "gpu_util_pct": (ACCOUNTED, ("gpu_utilization", "gpu_util"), gpu.Check.PERCENT),
    "mem_util_pct": (ACCOUNTED, ("mem_utilization", "mem_util"), gpu.Check.PERCENT),
    "max_memory_mib": (ACCOUNTED, ("max_memory_usage",), gpu.Check.NON_NEGATIVE),
    "run_time_ms": (ACCOUNTED, ("time",), gpu.Check.NON_NEGATIVE),
}
#: Fields only a file of that kind has (how the kind is told from the header).
KIND_FIELDS: dict[str, set[str]] = {
    RUNNING: {"process_name", "name", "used_gpu_memory", "used_memory"},
    ACCOUNTED: {"vgpu_instance"}
    | {f for kind, names, _ in VALUE_FIELDS.values() if kind == ACCOUNTED for f in names},
}
TEXT_FIELDS = {"gpu_uuid": "gpu_uuid", "gpu_model": "gpu_name", "gpu_bus_id": "gpu_bus_id"}
PROCESS_NAME = ("process_name", "name")
LABEL_FIELDS = ("gpu_serial", "vgpu_instance")

#: What identifies a row of ``gpu_processes``.
KEY = ("ts", "host", "gpu_uuid", "pid", "kind")
BATCH_COLUMNS = (
    "ts",
    "host",
    *TEXT_FIELDS,
    "pid",
    "process_name",
    "kind",
    *VALUE_FIELDS,
    "labels",
    "source",
    "x_SourceRecord",
)


class NvidiaSmiAppsReader(NvidiaSmiCsv):
    describes = "nvidia-smi --query-compute-apps / --query-accounted-apps --format=csv output"

    def __init__(
        self,
        path: Path,
        *,
        careful: bool = False,
        timezone: str | None = None,
        host: str | None = None,
        scraped_at: str | None = None,
    ) -> None:
        super().__init__(path, careful=careful, timezone=timezone, host=host, scraped_at=scraped_at)
        self.kind = self._kind()
        if "gpu_uuid" not in self.fields:
            raise IngestError(
                "no gpu_uuid field: the rows cannot name their GPU",
                where=f"{path}:1",
                hint=f"add gpu_uuid to {QUERY[self.kind]}=...",
            )
        self._need_time(QUERY[self.kind])
        self.columns = BATCH_COLUMNS
        self._seen: dict[tuple[object, ...], int] = {}
        used = {"timestamp", "pid", *TEXT_FIELDS.values(), *LABEL_FIELDS, *KIND_FIELDS[self.kind]}
        skipped = sorted(set(self.fields) - used)
        self.notes = [
            f"{QUERY[self.kind]} file: rows of kind {self.kind!r}",
            f"times read as {self.timezone} (nvidia-smi writes the machine's local time)",
        ]
        if self.host is None:
            self.notes.append("no host (nvidia-smi writes none here): give -o host=NAME")
        if skipped:
            self.notes.append(f"{len(skipped)} field(s) not stored: {', '.join(skipped[:12])}")

    def _kind(self) -> str:
        """``running`` or ``accounted``, from the fields the header names."""
        fields = set(self.fields)
        if "pid" not in fields:
            raise IngestError(
                "no pid field: not a --query-compute-apps or --query-accounted-apps file",
                where=f"{self.path}:1",
                hint="--query-gpu output goes to: aifinops ingest nvidia-smi FILE; "
                "otherwise add pid to the query",
            )
        kinds = [kind for kind, names in KIND_FIELDS.items() if names & fields]
        if len(kinds) != 1:
            found = "fields of both" if kinds else "none of the fields of"
            raise IngestError(
                f"{found} --query-compute-apps (process_name, used_gpu_memory) and "
                "--query-accounted-apps (gpu_utilization, mem_utilization, max_memory_usage, "
                "time): cannot tell which nvidia-smi query wrote this file",
                where=f"{self.path}:1",
                hint="capture each query to its own file, with the fields in "
                "docs/sources/gpu-telemetry.md ('Per-process rows')",
            )
        return kinds[0]

    def batches(self) -> Iterator[Batch]:
        self._seen = {}  # a careful re-read starts the file again
        yield from super().batches()

    def _convert(self, raw: pa.RecordBatch, first_record: int, progress: float) -> Batch:
        n = raw.num_rows
        errors: Errors = {}
        text = {name: self._text(raw.column(header)) for name, header in self.fields.items()}
        nulls = pa.nulls(n, pa.string())
        arrays: dict[str, pa.Array] = {"ts": self._times(text, n, errors, raw)}
        arrays["host"] = pa.array([self.host] * n, pa.string())
        for column, name in TEXT_FIELDS.items():
            arrays[column] = text.get(name, nulls)
        arrays["pid"] = self._pid(text["pid"], errors, raw)
        arrays["process_name"] = next((text[f] for f in PROCESS_NAME if f in text), nulls)
        arrays["kind"] = pa.array([self.kind] * n, pa.string())
        for column, (kind, names, how) in VALUE_FIELDS.items():
            field = next((f for f in names if f in text), None)
            if kind != self.kind or field is None:
                arrays[column] = pa.nulls(n, pa.float64())
            else:
                arrays[column] = self._number(field, how, text=text, errors=errors, raw=raw)
        arrays["run_time_ms"] = self._milliseconds(arrays["run_time_ms"], errors, raw)
        arrays["labels"] = self._labels(text, n, LABEL_FIELDS)
        arrays["source"] = pa.array(["nvidia-smi-apps"] * n, pa.string())
        self._repeated_headers(raw, errors)
        self._repeated_keys(arrays, errors, first_record, raw)
        return self._split(raw, arrays, errors, first_record, progress)

    def _pid(self, values: pa.Array, errors: Errors, raw: pa.RecordBatch) -> pa.Array:
        ok = pc.fill_null(pc.match_substring_regex(values, r"^[0-9]+$"), False)
        found = {
            i: "not a process id" if value is not None else "no process id ([N/A] or empty)"
            for i, (good, value) in enumerate(zip(ok.to_pylist(), values.to_pylist(), strict=True))
            if not good
        }
        add_errors(errors, self.fields["pid"], found, raw.column(self.fields["pid"]))
        return pc.cast(pc.if_else(ok, values, None), pa.int64())

    def _milliseconds(self, values: pa.Array, errors: Errors, raw: pa.RecordBatch) -> pa.Array:
        """``time`` is whole milliseconds; a fraction is a bad value, not something to round."""
        whole = pc.fill_null(pc.equal(pc.floor(values), values), True)
        if "time" in self.fields:
            bad = {
                i: "not a whole number of ms" for i, ok in enumerate(whole.to_pylist()) if not ok
            }
            add_errors(errors, self.fields["time"], bad, raw.column(self.fields["time"]))
        return pc.cast(pc.if_else(whole, values, None), pa.int64())

    def _repeated_keys(
        self, arrays: dict[str, pa.Array], errors: Errors, first_record: int, raw: pa.RecordBatch
    ) -> None:
        """A second row of the same time, GPU and pid in the file is quarantined: the table
        holds one row per key, and which of the two is right cannot be told."""
        keys = zip(
            arrays["ts"].to_pylist(),
            arrays["gpu_uuid"].to_pylist(),
            arrays["pid"].to_pylist(),
            strict=True,
        )
        for i, key in enumerate(keys):
            if i in errors:
                continue
            earlier = self._seen.setdefault(key, first_record + i)
            if earlier != first_record + i:
                # nvidia-smi writes no value over two lines: line = record + header lines
                why = f"the same time, GPU and pid as line {earlier + self.skip_lines}"
                errors[i] = [(self.fields["pid"], why, raw.column(self.fields["pid"])[i].as_py())]


def merge_processes(con: duckdb.DuckDBPyConnection, file_ids: list[int]) -> list[str] | None:
    """After a load: rows of earlier files with a key (:data:`KEY`) that the load's rows have
    are deleted, so the latest file wins and a re-exported or overlapping snapshot never counts
    twice. Files are ordered by ``file_id`` (later load, then later file of a load). Only the
    load's time span is looked at (DuckDB skips row groups outside it).
    ``ingest_log.rows_superseded`` counts the rows each file lost; a file of an earlier load that
    lost rows is marked ``superseded_by_load`` (delivering it again loads it again).
    """
    ids = ", ".join(str(int(i)) for i in file_ids)
    span = con.execute(
        f"SELECT min(ts), max(ts) FROM {TABLE} WHERE x_IngestFileId IN ({ids})"
    ).fetchone()
    if span is None or span[0] is None:
        return None
    match = " AND ".join(f"n.{k} IS NOT DISTINCT FROM t.{k}" for k in KEY)
    lost = (
        f"FROM {TABLE} t WHERE t.ts BETWEEN $lo AND $hi AND EXISTS (SELECT 1 FROM {TABLE} n "
        f"WHERE n.ts BETWEEN $lo AND $hi AND n.x_IngestFileId IN ({ids}) "
        f"AND n.x_IngestFileId > t.x_IngestFileId AND {match})"
    )
    bounds = {"lo": span[0], "hi": span[1]}
    counts = dict(
        con.execute(f"SELECT x_IngestFileId, count(*) {lost} GROUP BY 1", bounds).fetchall()
    )
    if not counts:
        return None
    con.execute(f"DELETE {lost}", bounds)
    found = con.execute(f"SELECT max(load_id) FROM ingest_log WHERE file_id IN ({ids})").fetchone()
    load_id = None if found is None else found[0]
    for file_id, rows in counts.items():
        earlier = file_id not in file_ids
        con.execute(
            "UPDATE ingest_log SET rows_superseded = rows_superseded + ?, "
            "superseded_by_load = CASE WHEN ? THEN ? ELSE superseded_by_load END "
            "WHERE file_id = ?",
            [rows, earlier, load_id, file_id],
        )
    return [
        f"{sum(counts.values()):,} earlier row(s) of the same time, GPU, pid and kind replaced "
        "(re-exported snapshots; see docs/sources/gpu-telemetry.md)"
    ]


def open_nvidia_smi_apps(
    path: Path, careful: bool = False, **options: object
) -> NvidiaSmiAppsReader:
    return NvidiaSmiAppsReader(path, careful=careful, **time_options(options))


SPEC = register(
    SourceSpec(
        name="nvidia-smi-apps",
        description="GPU processes: nvidia-smi --query-compute-apps / --query-accounted-apps "
        "--format=csv output",
        formats=("csv", "csv.gz"),
        table=TABLE,
        open=open_nvidia_smi_apps,
        options=OPTIONS,
        after_load=merge_processes,
        export_hint="nvidia-smi --query-compute-apps=timestamp,gpu_uuid,gpu_name,gpu_bus_id,pid,"
        "process_name,used_gpu_memory --format=csv -l 15 > apps.csv",
    )
)
