"""What the GPU telemetry sources share: the ``gpu_samples`` columns, the metric map, value
checks, a pivot of metric samples into one row per GPU (or MIG instance) and time, and the merge
that keeps re-exported samples from counting twice.

Sources: :mod:`aifinops.sources.dcgm` (dcgm-exporter text), :mod:`aifinops.sources.prometheus`
(Prometheus HTTP API JSON) and :mod:`aifinops.sources.nvidia_smi` (``nvidia-smi`` CSV).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple

import numpy as np
import pyarrow as pa
from isal import igzip

from aifinops.errors import IngestError
from aifinops.sources.base import Rejection
from aifinops.sources.files import GZIP_MAGIC

if TYPE_CHECKING:
    import duckdb


class Check(Enum):
    """How a metric's value is checked (and converted) before it is stored."""

    PERCENT = "a percentage (0..100)"
    RATIO = "a ratio (0..1)"
    NON_NEGATIVE = "not negative"
    ANY = "a number"
    MILLIJOULES = "an energy counter in mJ (stored in J)"


#: Identity and attribute columns of ``gpu_samples`` (text, except ``gpu_index``).
DEVICE_COLUMNS = (
    "host",
    "gpu_index",
    "gpu_uuid",
    "gpu_model",
    "mig_profile",
    "mig_instance",
    "namespace",
    "pod",
    "container",
    "job_id",
    "labels",
)

#: Value columns (DOUBLE) and how each is checked.
VALUE_COLUMNS: dict[str, Check] = {
    "gpu_util_pct": Check.PERCENT,
    "mem_copy_util_pct": Check.PERCENT,
    "sm_active": Check.RATIO,
    "sm_occupancy": Check.RATIO,
    "tensor_active": Check.RATIO,
    "dram_active": Check.RATIO,
    "gr_engine_active": Check.RATIO,
    "fb_used_mib": Check.NON_NEGATIVE,
    "fb_free_mib": Check.NON_NEGATIVE,
    "fb_total_mib": Check.NON_NEGATIVE,
    "fb_reserved_mib": Check.NON_NEGATIVE,
    "power_w": Check.NON_NEGATIVE,
    "power_limit_w": Check.NON_NEGATIVE,
    "energy_j": Check.MILLIJOULES,
    "temperature_c": Check.ANY,
    "memory_temp_c": Check.ANY,
    "sm_clock_mhz": Check.NON_NEGATIVE,
    "mem_clock_mhz": Check.NON_NEGATIVE,
}
VALUES = tuple(VALUE_COLUMNS)
REPEATED = "a metric repeated for the same GPU and time (the later value kept)"

#: The columns a GPU telemetry batch carries, in order.
BATCH_COLUMNS = ("ts", *DEVICE_COLUMNS, *VALUES, "source", "x_SourceRecord")

#: What identifies one sample in ``gpu_samples``: a GPU (or MIG instance) at a time.
SAMPLE_KEY = ("ts", "host", "gpu_uuid", "gpu_index", "mig_instance")

SCHEMA = pa.schema(
    [
        pa.field("ts", pa.timestamp("us", tz="UTC")),
        *(pa.field(c, pa.int32() if c == "gpu_index" else pa.string()) for c in DEVICE_COLUMNS),
        *(pa.field(c, pa.float64()) for c in VALUES),
        pa.field("source", pa.string()),
        pa.field("x_SourceRecord", pa.int64()),
    ]
)

# DCGM field names (dcgm-exporter 2.x+ and 1.x compatibility names) -> column.
_DCGM = {
    "gpu_util_pct": ("DCGM_FI_DEV_GPU_UTIL", "dcgm_gpu_utilization"),
    "mem_copy_util_pct": ("DCGM_FI_DEV_MEM_COPY_UTIL", "dcgm_mem_copy_utilization"),
    "sm_active": ("DCGM_FI_PROF_SM_ACTIVE", "dcgm_fi_prof_sm_active"),
    "sm_occupancy": ("DCGM_FI_PROF_SM_OCCUPANCY", "dcgm_fi_prof_sm_occupancy"),
    "tensor_active": ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "dcgm_fi_prof_pipe_tensor_active"),
    "dram_active": ("DCGM_FI_PROF_DRAM_ACTIVE", "dcgm_fi_prof_dram_active"),
    "gr_engine_active": ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "dcgm_fi_prof_gr_engine_active"),
    "fb_used_mib": ("DCGM_FI_DEV_FB_USED", "dcgm_fb_used"),
    "fb_free_mib": ("DCGM_FI_DEV_FB_FREE", "dcgm_fb_free"),
    "fb_total_mib": ("DCGM_FI_DEV_FB_TOTAL",),
    "fb_reserved_mib": ("DCGM_FI_DEV_FB_RESERVED",),
    "power_w": ("DCGM_FI_DEV_POWER_USAGE", "dcgm_power_usage"),
    "power_limit_w": ("DCGM_FI_DEV_POWER_MGMT_LIMIT",),
    "energy_j": ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "dcgm_total_energy_consumption"),
    "temperature_c": ("DCGM_FI_DEV_GPU_TEMP", "dcgm_gpu_temp"),
    "memory_temp_c": ("DCGM_FI_DEV_MEMORY_TEMP", "dcgm_memory_temp"),
    "sm_clock_mhz": ("DCGM_FI_DEV_SM_CLOCK", "dcgm_sm_clock"),
    "mem_clock_mhz": ("DCGM_FI_DEV_MEM_CLOCK", "dcgm_memory_clock"),
}
#: metric name -> (value column position, check)
DCGM_METRICS: dict[str, tuple[int, Check]] = {
    name: (VALUES.index(column), VALUE_COLUMNS[column])
    for column, names in _DCGM.items()
    for name in names
}

# dcgm-exporter labels -> device columns (both spellings of the host label).
LABEL_COLUMNS = {
    "Hostname": "host",
    "hostname": "host",
    "gpu": "gpu_index",
    "UUID": "gpu_uuid",
    "uuid": "gpu_uuid",
    "modelName": "gpu_model",
    "GPU_I_PROFILE": "mig_profile",
    "GPU_I_ID": "mig_instance",
    "namespace": "namespace",
    "pod": "pod",
    "container": "container",
    "hpc_job": "job_id",
}

# DCGM's "no value" sentinels (dcgm_structs.h / dcgmvalue.py): BLANK, NOT_FOUND, NOT_SUPPORTED,
# NOT_PERMISSIONED for int32 (0x7ffffff0 + 0..3), int64 (0x7ffffffffffffff0 + 0..3) and fp64
# (2**47 + 0..3). DCGM treats any value >= the BLANK base of its type as blank.
_SENTINEL_NAMES = ("BLANK", "NOT_FOUND", "NOT_SUPPORTED", "NOT_PERMISSIONED")
SENTINELS: dict[float, str] = {}
for _base, _kind in ((0x7FFFFFF0, "INT32"), (0x7FFFFFFFFFFFFFF0, "INT64"), (2**47, "FP64")):
    for _k, _what in enumerate(_SENTINEL_NAMES):
        SENTINELS.setdefault(float(_base + _k), f"DCGM_{_kind}_{_what}")
#: Every int64 sentinel reads as the same float (2**63); anything at or above it is blank.
INT64_BLANK_FLOAT = float(0x7FFFFFFFFFFFFFF0)


def sentinel(value: float, text: str = "") -> str | None:
    """The DCGM sentinel ``value`` (written as ``text``) is, by name; None for a real value."""
    if value >= INT64_BLANK_FLOAT:
        offset = int(text) - 0x7FFFFFFFFFFFFFF0 if text.isdigit() else -1
        what = _SENTINEL_NAMES[offset] if 0 <= offset < len(_SENTINEL_NAMES) else "BLANK family"
        return f"DCGM_INT64_{what}"
    return SENTINELS.get(value)


def check(value: float, how: Check) -> tuple[float | None, str | None]:
    """(the value to store, None) or (None, why it is rejected)."""
    if math.isnan(value) or math.isinf(value):
        return None, f"not a finite number (expected {how.value})"
    if how is Check.ANY:
        return value, None
    if value < 0:
        return None, f"negative value (expected {how.value})"
    if how is Check.PERCENT and value > 100:
        return None, f"above 100 (expected {how.value})"
    if how is Check.RATIO and value > 1.0 + 1e-9:
        return None, f"above 1 (expected {how.value})"
    if how is Check.MILLIJOULES:
        return value / 1000.0, None
    return value, None


class Device(NamedTuple):
    """One GPU or MIG instance as a series names it (the device columns, labels as JSON)."""

    host: str | None
    gpu_index: int | None
    gpu_uuid: str | None
    gpu_model: str | None
    mig_profile: str | None
    mig_instance: str | None
    namespace: str | None
    pod: str | None
    container: str | None
    job_id: str | None
    labels: str

    @property
    def identified(self) -> bool:
        return self.gpu_uuid is not None or self.gpu_index is not None


def device_from_labels(labels: dict[str, str], host: str | None = None) -> Device:
    """The device a series' labels name. Mapped labels fill columns; the rest go to ``labels``.

    An empty label value is an absent label (Prometheus semantics). Raises ValueError when
    ``gpu`` is not an integer.
    """
    values: dict[str, str] = {}
    rest: dict[str, str] = {}
    for name, value in labels.items():
        if value == "" or name == "__name__":
            continue
        column = LABEL_COLUMNS.get(name)
        if column is None or column in values:
            rest[name] = value
        else:
            values[column] = value
    index = values.get("gpu_index")
    return Device(
        host=values.get("host", host),
        gpu_index=None if index is None else int(index),
        gpu_uuid=values.get("gpu_uuid"),
        gpu_model=values.get("gpu_model"),
        mig_profile=values.get("mig_profile"),
        mig_instance=values.get("mig_instance"),
        namespace=values.get("namespace"),
        pod=values.get("pod"),
        container=values.get("container"),
        job_id=values.get("job_id"),
        labels=json.dumps(dict(sorted(rest.items())), ensure_ascii=False),
    )


class SampleFile:
    """What a reader of one telemetry file into ``gpu_samples`` batches starts with (dcgm
    scrapes, Prometheus exports): the reader attributes, the host option, nothing held open."""

    def __init__(self, path: Path, host: str | None) -> None:
        self.path = path
        self.version: str | None = None
        self.warnings: Counter[str] = Counter()
        self.notes: list[str] = []
        self.columns: tuple[str, ...] = BATCH_COLUMNS
        self.host = host or None

    def close(self) -> None:
        """Nothing is held open between calls to ``batches``."""


#: A value not (yet) known in a pivot row; stored as NULL.
MISSING = math.nan


class Pivot:
    """Metric samples -> one row per (device, time). Rows are handed out in bounded batches.

    A row is started by the first sample of its device and time and remembers that sample's
    record (line) number as its ``x_SourceRecord``. A later sample of the same metric, device and
    time replaces the earlier one (counted as a warning). Values not known are NaN (checked
    values are never NaN) and become NULL in the table.
    """

    def __init__(self, source: str, warnings: Counter[str]) -> None:
        self.source = source
        self.warnings = warnings
        self.devices: dict[Device, int] = {}
        self._device_list: list[Device] = []
        self.rows: dict[tuple[int, int], list[float]] = {}
        self.records: dict[tuple[int, int], int] = {}
        self._width = len(VALUES)
        #: the latest time a row was started for (see :meth:`take_settled`)
        self.latest: int | None = None

    def device_id(self, device: Device) -> int:
        found = self.devices.get(device)
        if found is None:
            found = self.devices[device] = len(self._device_list)
            self._device_list.append(device)
        return found

    def row(self, device: int, ts_us: int, record: int) -> list[float]:
        key = (device, ts_us)
        values = self.rows.get(key)
        if values is None:
            values = self.rows[key] = [MISSING] * self._width
            self.records[key] = record
            if self.latest is None or ts_us > self.latest:
                self.latest = ts_us
        return values

    def add(self, device: int, ts_us: int, column: int, value: float | None, record: int) -> None:
        values = self.row(device, ts_us, record)
        if values[column] == values[column]:  # not NaN: known already
            self.warnings[REPEATED] += 1
        values[column] = MISSING if value is None else value

    def __len__(self) -> int:
        return len(self.rows)

    def take_settled(self) -> pa.Table | None:
        """The rows of times before the latest one seen (a time-ordered stream, such as
        scrapes, adds no more samples to them); the latest time's rows stay, so a row is never
        handed out in two parts."""
        if self.latest is None:
            return None
        held = {k: v for k, v in self.rows.items() if k[1] >= self.latest}
        held_records = {k: self.records[k] for k in held}
        for key in held:
            del self.rows[key]
            del self.records[key]
        table = self.take()
        self.rows, self.records = held, held_records
        return table

    def take(self) -> pa.Table | None:
        """The rows gathered so far as a table (None when there are none); starts afresh.

        Vectorised: device columns are taken from a table of the distinct devices, values go
        through one 2-D float array (NaN -> NULL).
        """
        if not self.rows:
            return None
        keys = list(self.rows)
        ids = pa.array([d for d, _ in keys], pa.int32())
        columns: dict[str, pa.Array] = {
            "ts": pa.array([t for _, t in keys], pa.int64()).cast(pa.timestamp("us", tz="UTC"))
        }
        devices = self._device_table().take(ids)
        for name in DEVICE_COLUMNS:
            columns[name] = devices.column(name).combine_chunks()
        grid = np.array(list(self.rows.values()), dtype=np.float64).reshape(len(keys), -1)
        for position, name in enumerate(VALUES):
            columns[name] = pa.array(grid[:, position], pa.float64(), from_pandas=True)
        columns["source"] = pa.array([self.source] * len(keys), pa.string())
        columns["x_SourceRecord"] = pa.array([self.records[k] for k in keys], pa.int64())
        self.rows = {}
        self.records = {}
        return pa.table(columns, schema=SCHEMA)

    def _device_table(self) -> pa.Table:
        by_column = list(zip(*self._device_list, strict=True))
        return pa.table(
            {
                name: pa.array(values, pa.int32() if name == "gpu_index" else pa.string())
                for name, values in zip(DEVICE_COLUMNS, by_column, strict=True)
            }
        )


def sample_rejection(
    line: int, column: str | None, reason: str, value: str | None, raw: dict[str, str | None]
) -> Rejection:
    return Rejection(record=line, column=column, reason=reason, value=value, raw=raw, line=line)


def parse_time(text: str, where: str) -> int:
    """A time as microseconds since the epoch: ISO 8601 (naive = UTC) or Unix seconds."""
    text = text.strip()
    try:
        return round(float(text) * 1_000_000)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise IngestError(
            f"not a time: {text!r}",
            where=where,
            hint="use ISO 8601 (2026-11-23T13:55:00Z) or Unix seconds",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return round(when.timestamp() * 1_000_000)


def open_text(path: Path) -> IO[bytes]:
    """The file's bytes, gzip inflated when it starts with the gzip magic."""
    with path.open("rb") as head:
        gzipped = head.read(2) == GZIP_MAGIC
    if gzipped:
        return igzip.IGzipFile(str(path), mode="rb")  # type: ignore[no-untyped-call,return-value]
    return path.open("rb")


def lines(stream: IO[bytes], size: int, chunk: int = 8 << 20) -> Iterator[tuple[list[str], float]]:
    """The stream's lines in chunks (each chunk's lines decoded at once), with progress."""
    tail = b""
    done = 0
    while True:
        block = stream.read(chunk)
        if not block:
            break
        done += len(block)
        block = tail + block
        cut = block.rfind(b"\n") + 1
        tail = block[cut:]
        if cut:
            yield _decode(block[:cut]).split("\n")[:-1], min(done / size, 1.0)
    if tail:
        yield [_decode(tail)], 1.0


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise IngestError(
            "the file is not UTF-8 text", hint="re-capture it, or convert it to UTF-8"
        ) from None


# -- idempotency: samples of the same GPU and time merge --------------------------------------


def merge_samples(con: duckdb.DuckDBPyConnection, file_ids: list[int]) -> list[str] | None:
    """After a load: rows of the same GPU and time (``SAMPLE_KEY``) become one row.

    Re-exported or overlapping files therefore never count a sample twice. The merged row takes,
    column by column, the value of the latest file that has one (latest load, then later file,
    then later line), so a newer export replaces older values while a file holding other metrics
    of the same samples (a Prometheus export of one metric, say) fills the columns it brings.
    ``ingest_log.rows_superseded`` counts the rows each file lost; a file of an earlier load
    whose rows were merged is marked ``superseded_by_load``.
    """
    ids = ", ".join(str(int(i)) for i in file_ids)
    keys = ", ".join(SAMPLE_KEY)
    found = con.execute(
        f"SELECT min(ts), max(ts) FROM gpu_samples WHERE x_IngestFileId IN ({ids})"
    ).fetchone()
    if found is None or found[0] is None:
        return None
    # Every statement is limited to the load's time span: DuckDB skips the row groups outside
    # it (min/max per row group), so the merge costs the span, not the table.
    span = f"t.ts BETWEEN '{found[0].isoformat()}'::TIMESTAMPTZ AND '{found[1].isoformat()}'"
    span += "::TIMESTAMPTZ"
    match = " AND ".join(f"t.{k} IS NOT DISTINCT FROM c.{k}" for k in SAMPLE_KEY)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE gpu_clash AS SELECT {keys} FROM gpu_samples t "
        f"WHERE {span} GROUP BY ALL HAVING count(*) > 1 AND bool_or(x_IngestFileId IN ({ids}))"
    )
    try:
        row = con.execute("SELECT count(*) FROM gpu_clash").fetchone()
        if row is None or row[0] == 0:
            return None
        lost = _merge_clashes(con, ids, span, match)
        return [
            f"{lost:,} row(s) merged into rows of the same GPU and time (overlapping or "
            "re-exported samples; see docs/sources/gpu-telemetry.md)"
        ]
    finally:
        con.execute("DROP TABLE IF EXISTS gpu_clash")
        con.execute("DROP TABLE IF EXISTS gpu_merged")


def _merge_clashes(con: duckdb.DuckDBPyConnection, ids: str, span: str, match: str) -> int:
    order = "x_IngestFileId * 10000000000 + coalesce(x_SourceRecord, 0)"
    other = [c for c in BATCH_COLUMNS if c not in SAMPLE_KEY and c != "x_SourceRecord"]
    picks = [f"arg_max({c}, o) FILTER (WHERE {c} IS NOT NULL) AS {c}" for c in other]
    picks += ["arg_max(labels_map, o) FILTER (WHERE labels IS NOT NULL) AS labels_map"]
    picks += ["arg_max(x_SourceRecord, o) AS x_SourceRecord"]
    picks += ["max(x_IngestFileId) AS x_IngestFileId"]
    keys = ", ".join(SAMPLE_KEY)
    clashing = f"FROM (SELECT * FROM gpu_samples t WHERE {span}) t SEMI JOIN gpu_clash c ON {match}"
    # the order computed once per row, not once per aggregate (measured 0.36 s -> 0.23 s)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE gpu_merged AS SELECT {keys}, {', '.join(picks)} "
        f"FROM (SELECT t.*, {order} AS o {clashing}) GROUP BY {keys}"
    )
    before = dict(con.execute(f"SELECT x_IngestFileId, count(*) {clashing} GROUP BY 1").fetchall())
    per_file = "SELECT x_IngestFileId, count(*) FROM gpu_merged GROUP BY 1"
    kept = dict(con.execute(per_file).fetchall())
    con.execute(
        f"DELETE FROM gpu_samples t WHERE {span} "
        f"AND EXISTS (SELECT 1 FROM gpu_clash c WHERE {match})"
    )
    con.execute("INSERT INTO gpu_samples BY NAME SELECT * FROM gpu_merged")
    found = con.execute(f"SELECT max(load_id) FROM ingest_log WHERE file_id IN ({ids})").fetchone()
    load_id = None if found is None else found[0]
    this_load = {int(i) for i in ids.split(", ")}
    total = 0
    for file_id, rows in before.items():
        lost = rows - kept.get(file_id, 0)
        total += lost
        if lost == 0:
            continue
        if file_id in this_load:
            con.execute(
                "UPDATE ingest_log SET rows_superseded = rows_superseded + ? WHERE file_id = ?",
                [lost, file_id],
            )
        else:
            con.execute(
                "UPDATE ingest_log SET rows_superseded = rows_superseded + ?, "
                "superseded_by_load = ? WHERE file_id = ?",
                [lost, load_id, file_id],
            )
    return total
