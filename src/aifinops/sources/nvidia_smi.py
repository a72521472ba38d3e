"""``nvidia-smi --query-gpu=... --format=csv`` (``aifinops ingest nvidia-smi``) -> ``gpu_samples``.

One CSV row is one GPU at one time. The header names the fields, with units in brackets
(``utilization.gpu [%]``, ``memory.used [MiB]``); values carry the unit unless the capture used
``--format=csv,nounits`` (``97 %``, ``11125 MiB``, ``433.78 W``, ``1980 MHz``); both read. A value
in brackets (``[N/A]``, ``[Not Supported]``, ``[Requested functionality has been deprecated]``,
``[Unknown Error]`` ...) or ``N/A`` is no value: NULL, counted per field as a warning.

``timestamp`` is the machine's local time (``2026/07/14 09:00:44.579``) without a zone: it is read
as UTC unless ``-o timezone=Europe/Paris`` says otherwise (a note says which). Without a
``timestamp`` field, ``-o scraped_at=`` gives the time. ``hostname`` (recent drivers) or
``-o host=`` gives the host. Fields without a column are not stored (a note lists them); a few
descriptive ones (driver_version, pci.bus_id, serial, pstate, compute_mode, mig.mode.current) go
to ``labels``.

Per-process rows (``--query-compute-apps``, ``--query-accounted-apps``) are not GPU samples: such
a file is refused with a pointer to the ``nvidia-smi-apps`` source (``gpu_processes``).
:class:`NvidiaSmiCsv` holds what both nvidia-smi CSV sources share.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from aifinops.errors import IngestError
from aifinops.sources import gpu_common as gpu
from aifinops.sources.base import Batch, SourceSpec, register
from aifinops.sources.tabular import Errors, TabularReader, add_errors

#: nvidia-smi field (first found wins) -> value column
VALUE_FIELDS: dict[str, tuple[str, ...]] = {
    "gpu_util_pct": ("utilization.gpu",),
    "mem_copy_util_pct": ("utilization.memory",),
    "fb_used_mib": ("memory.used",),
    "fb_free_mib": ("memory.free",),
    "fb_total_mib": ("memory.total",),
    "fb_reserved_mib": ("memory.reserved",),
    "power_w": ("power.draw", "power.draw.average", "power.draw.instant"),
    "power_limit_w": ("enforced.power.limit", "power.limit"),
    "temperature_c": ("temperature.gpu",),
    "memory_temp_c": ("temperature.memory",),
    "sm_clock_mhz": ("clocks.current.sm", "clocks.sm"),
    "mem_clock_mhz": ("clocks.current.memory", "clocks.mem"),
}
TEXT_FIELDS = {"host": "hostname", "gpu_uuid": "uuid", "gpu_model": "name"}
LABEL_FIELDS = (
    "driver_version",
    "pci.bus_id",
    "serial",
    "pstate",
    "compute_mode",
    "mig.mode.current",
)
APPS_FIELDS = {"pid", "process_name", "used_gpu_memory", "used_memory", "gpu_utilization"}
_UNIT = re.compile(r"\s*\[[^\]]*\]\s*\Z")
_NUMBER = r"^-?[0-9]+(\.[0-9]+)?$"
_VALUE_UNIT = r"\s*(%|MiB|W|MHz|C|us|ms)$"


def field_name(header: str) -> str:
    """``memory.used [MiB]`` -> ``memory.used``."""
    return _UNIT.sub("", header).strip()


class NvidiaSmiCsv(TabularReader):
    """What the nvidia-smi CSV sources share: fields by name (units dropped), the time and host
    options, bracketed values as NULL, local timestamps, repeated header lines, units in values."""

    def __init__(
        self,
        path: Path,
        *,
        careful: bool = False,
        timezone: str | None = None,
        host: str | None = None,
        scraped_at: str | None = None,
    ) -> None:
        super().__init__(path, careful=careful)
        self.fields = {field_name(h): h for h in self.header}
        self.timezone = timezone or "UTC"
        self.host = host or None
        self.fixed_us = gpu.parse_time(scraped_at, "option scraped_at") if scraped_at else None

    def _need_time(self, query: str) -> None:
        """Refuse a file whose rows would have no time (``query``: the nvidia-smi switch)."""
        if "timestamp" not in self.fields and self.fixed_us is None:
            raise IngestError(
                "no timestamp field, and no -o scraped_at=TIME",
                where=f"{self.path}:1",
                hint=f"add timestamp to {query}=..., or give -o scraped_at=2026-11-23T13:55:00Z",
            )

    def _text(self, column: pa.Array) -> pa.Array:
        """Trimmed text; bracketed and N/A values as NULL."""
        trimmed = pc.utf8_trim_whitespace(column)
        missing = pc.or_(pc.match_substring_regex(trimmed, r"^\[.*\]$"), pc.equal(trimmed, "N/A"))
        return pc.if_else(pc.fill_null(missing, False), None, trimmed)

    def _times(
        self, text: dict[str, pa.Array], n: int, errors: Errors, raw: pa.RecordBatch
    ) -> pa.Array:
        if "timestamp" not in text:
            return pa.array([self.fixed_us] * n, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
        stamp = text["timestamp"]
        iso = pc.replace_substring(pc.replace_substring(stamp, "/", "-"), " ", "T")
        parsed = [self._time(v) for v in iso.to_pylist()]
        bad = {i: self._why_not_time(stamp[i].as_py()) for i, v in enumerate(parsed) if v is None}
        add_errors(errors, "timestamp", bad, raw.column(self.fields["timestamp"]))
        naive = pa.array(parsed, pa.timestamp("us"))
        return pc.assume_timezone(naive, self.timezone).cast(pa.timestamp("us", tz="UTC"))

    @staticmethod
    def _time(text: str | None) -> datetime | None:
        try:
            return None if text is None else datetime.fromisoformat(text)
        except ValueError:
            return None

    @staticmethod
    def _why_not_time(text: str | None) -> str:
        return "not a time (expected YYYY/MM/DD HH:MM:SS.mmm)"

    def _repeated_headers(self, raw: pa.RecordBatch, errors: Errors) -> None:
        """A header line again (files concatenated, or a logger that repeats it): one reason."""
        first = self.header[0]
        values = pc.utf8_trim_whitespace(raw.column(first)).to_pylist()
        for i, value in enumerate(values):
            if value == first:
                errors[i] = [(first, "a repeated CSV header line (not a sample)", value)]

    def _labels(self, text: dict[str, pa.Array], n: int, names: tuple[str, ...]) -> pa.Array:
        """The fields ``names`` that have a value, as a JSON object per row."""
        present = [f for f in names if f in text]
        columns = [text[f].to_pylist() for f in present]
        out = []
        for i in range(n):
            pairs = {f: c[i] for f, c in zip(present, columns, strict=True) if c[i] is not None}
            out.append(json.dumps(pairs, ensure_ascii=False))
        return pa.array(out, pa.string())

    def _number(
        self,
        name: str,
        how: gpu.Check,
        *,
        text: dict[str, pa.Array],
        errors: Errors,
        raw: pa.RecordBatch,
    ) -> pa.Array:
        """Field ``name`` as numbers (unit dropped); NULLs counted, bad values recorded."""
        values = pc.replace_substring_regex(text[name], _VALUE_UNIT, "")
        numeric = pc.fill_null(pc.match_substring_regex(values, _NUMBER), True)
        nulls = pc.sum(pc.is_null(text[name])).as_py() or 0
        if nulls:
            self.warnings[f"no value ([N/A], [Not Supported] ...) read as NULL: {name}"] += nulls
        number = pc.cast(pc.if_else(numeric, values, None), pa.float64())
        found: dict[int, str] = {}
        for i, (ok, value) in enumerate(zip(numeric.to_pylist(), number.to_pylist(), strict=True)):
            if not ok:
                found[i] = "not a number"
            elif value is not None and (why := gpu.check(value, how)[1]) is not None:
                found[i] = why
        add_errors(errors, self.fields[name], found, raw.column(self.fields[name]))
        return number


class NvidiaSmiReader(NvidiaSmiCsv):
    describes = "nvidia-smi --query-gpu=... --format=csv output"

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
        if APPS_FIELDS & set(self.fields):
            raise IngestError(
                "this is a per-process nvidia-smi file (--query-compute-apps or "
                "--query-accounted-apps); gpu_samples holds one row per GPU and time",
                where=str(path),
                hint="ingest it with: aifinops ingest nvidia-smi-apps FILE (-> gpu_processes; "
                "docs/sources/gpu-telemetry.md, 'Per-process rows')",
            )
        if not ({"uuid", "index"} & set(self.fields)):
            raise IngestError(
                "neither uuid nor index among the fields: the rows cannot name their GPU",
                where=f"{path}:1",
                hint="add uuid (and index) to --query-gpu=...",
            )
        self._need_time("--query-gpu")
        self.columns = gpu.BATCH_COLUMNS
        used = {"timestamp", "index", *TEXT_FIELDS.values(), *LABEL_FIELDS}
        used |= {f for names in VALUE_FIELDS.values() for f in names}
        skipped = sorted(set(self.fields) - used)
        self.notes = [f"times read as {self.timezone} (nvidia-smi writes the machine's local time)"]
        if skipped:
            self.notes.append(f"{len(skipped)} field(s) not stored: {', '.join(skipped[:12])}")

    def _convert(self, raw: pa.RecordBatch, first_record: int, progress: float) -> Batch:
        n = raw.num_rows
        errors: Errors = {}
        text = {name: self._text(raw.column(header)) for name, header in self.fields.items()}
        arrays: dict[str, pa.Array] = {"ts": self._times(text, n, errors, raw)}
        arrays["host"] = text.get("hostname", pa.nulls(n, pa.string()))
        if self.host is not None:
            arrays["host"] = pc.fill_null(arrays["host"], self.host)
        arrays["gpu_index"] = self._index(text, n, errors, raw)
        for column, name in TEXT_FIELDS.items():
            if column != "host":
                arrays[column] = text.get(name, pa.nulls(n, pa.string()))
        for column in ("mig_profile", "mig_instance", "namespace", "pod", "container", "job_id"):
            arrays[column] = pa.nulls(n, pa.string())
        arrays["labels"] = self._labels(text, n, LABEL_FIELDS)
        for column, how in gpu.VALUE_COLUMNS.items():
            arrays[column] = self._value(column, how, text=text, n=n, errors=errors, raw=raw)
        arrays["source"] = pa.array(["nvidia-smi"] * n, pa.string())
        self._repeated_headers(raw, errors)
        return self._split(raw, arrays, errors, first_record, progress)

    def _index(
        self, text: dict[str, pa.Array], n: int, errors: Errors, raw: pa.RecordBatch
    ) -> pa.Array:
        if "index" not in text:
            return pa.nulls(n, pa.int32())
        values = text["index"]
        ok = pc.fill_null(pc.match_substring_regex(values, r"^[0-9]+$"), True)
        bad = {i: "not a GPU index" for i, good in enumerate(ok.to_pylist()) if not good}
        add_errors(errors, "index", bad, raw.column(self.fields["index"]))
        return pc.cast(pc.if_else(ok, values, None), pa.int32())

    def _value(
        self,
        column: str,
        how: gpu.Check,
        *,
        text: dict[str, pa.Array],
        n: int,
        errors: Errors,
        raw: pa.RecordBatch,
    ) -> pa.Array:
        name = next((f for f in VALUE_FIELDS.get(column, ()) if f in text), None)
        if name is None:
            return pa.nulls(n, pa.float64())
        return self._number(name, how, text=text, errors=errors, raw=raw)


#: The options of both nvidia-smi CSV sources: name -> help.
OPTIONS = {
    "timezone": "time zone of the timestamp field (nvidia-smi writes local time; "
    "default UTC), e.g. Europe/Paris",
    "host": "host name when the file has no hostname field (or it is [N/A])",
    "scraped_at": "time of the rows when the file has no timestamp field",
}


def time_options(options: dict[str, object]) -> dict[str, str | None]:
    """The ``-o`` values of :data:`OPTIONS` as text (None when not given)."""
    return {name: None if options.get(name) is None else str(options[name]) for name in OPTIONS}


def open_nvidia_smi(path: Path, careful: bool = False, **options: object) -> NvidiaSmiReader:
    return NvidiaSmiReader(path, careful=careful, **time_options(options))


SPEC = register(
    SourceSpec(
        name="nvidia-smi",
        description="GPU telemetry: nvidia-smi --query-gpu=... --format=csv output",
        formats=("csv", "csv.gz"),
        table="gpu_samples",
        open=open_nvidia_smi,
        options=OPTIONS,
        after_load=gpu.merge_samples,
        export_hint="nvidia-smi --query-gpu=timestamp,hostname,index,uuid,name,... "
        "--format=csv -l 15 > gpus.csv",
    )
)
