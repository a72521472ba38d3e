"""dcgm-exporter scrapes (``aifinops ingest dcgm``): Prometheus text exposition -> ``gpu_samples``.

A file holds one or many scrapes of dcgm-exporter's ``/metrics`` (plain or gzip). Each sample line
``NAME{labels} VALUE [TIMESTAMP]`` is one metric of one GPU (or MIG instance); the metrics of the
same device and time pivot into one row. The time of a sample is, in this order:

1. its own timestamp (milliseconds since the epoch, as Prometheus writes them; a value with a
   decimal point is read as seconds, as OpenMetrics writes them);
2. the last ``# scraped_at <time>`` comment above it (ISO 8601 or Unix seconds; write one before
   each scrape you save, see docs/sources/gpu-telemetry.md);
3. the ``scraped_at`` option: a time, or ``mtime`` for the file's modification time (a note says
   so in the summary).

Without any of them the file is refused, naming the line: a sample is never timed "now".

DCGM's no-value sentinels (``9223372036854775794`` ...) read as NULL and are counted as warnings.
Metrics without a column are counted (``metric not stored``), never an error. A line that is not
a sample, a bad value (not a number, a negative or over-100 utilisation, a ratio above 1) or a
mapped metric without GPU labels goes to quarantine with its line number; the row of its GPU keeps
the other metrics. Rows read therefore counts stored rows plus quarantined sample lines.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from aifinops.errors import IngestError
from aifinops.sources import gpu_common as gpu
from aifinops.sources.base import Batch, Rejection, SourceSpec, register
from aifinops.sources.files import GZIP_MAGIC
from aifinops.sources.tabular import MAX_REJECTIONS

#: Rows held before a batch is handed on (memory stays bounded on any file size).
FLUSH_ROWS = 65_536
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|\Z)')
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}
_SCRAPED_AT = re.compile(r"#\s*scraped_at\s*[:=]?\s*(\S+)\s*\Z")
#: The lowest DCGM sentinel (DCGM_INT32_BLANK); only values at or above it are looked up.
_SENTINEL_FLOOR = float(0x7FFFFFF0)
REPEATED = gpu.REPEATED


def _fast_range(how: gpu.Check) -> tuple[float, float, float]:
    """(low, high, scale): values in [low, high] need no further check; stored times scale."""
    below_sentinels = _SENTINEL_FLOOR - 1
    return {
        gpu.Check.PERCENT: (0.0, 100.0, 1.0),
        gpu.Check.RATIO: (0.0, 1.0, 1.0),
        gpu.Check.NON_NEGATIVE: (0.0, below_sentinels, 1.0),
        gpu.Check.ANY: (-below_sentinels, below_sentinels, 1.0),
        # an int64 counter: only the int64 sentinels (>= 2**63) apply; 2**47 is far above any
        # energy a GPU reaches (1.4e11 J)
        gpu.Check.MILLIJOULES: (0.0, float(2**47) - 1, 0.001),
    }[how]


#: metric name -> (value column position, low, high, scale) for the inline check
FAST_METRICS = {
    name: (column, *_fast_range(how)) for name, (column, how) in gpu.DCGM_METRICS.items()
}
NOT_A_SAMPLE = "not a Prometheus sample line (expected NAME{labels} VALUE [TIMESTAMP])"
NO_DEVICE = "no gpu or UUID label: the sample cannot be attributed to a GPU"


def parse_labels(text: str) -> dict[str, str]:
    """``a="1",b="x\\"y"`` -> {"a": "1", "b": 'x"y'}; ValueError when it is not label syntax."""
    labels: dict[str, str] = {}
    position = 0
    text = text.rstrip().rstrip(",") if text.strip() else ""
    while position < len(text):
        found = _LABEL.match(text, position)
        if found is None:
            raise ValueError(f"bad label syntax at {text[position : position + 30]!r}")
        value = found.group(2)
        if "\\" in value:
            value = re.sub(r"\\[\\\"n]", lambda m: _ESCAPES[m.group(0)], value)
        labels[found.group(1)] = value
        position = found.end()
    return labels


class DcgmReader(gpu.SampleFile):
    """Reads one file of dcgm-exporter scrapes into ``gpu_samples`` batches."""

    describes = "dcgm-exporter metrics (Prometheus text exposition)"

    def __init__(
        self,
        path: Path,
        *,
        careful: bool = False,
        scraped_at: str | None = None,
        host: str | None = None,
    ) -> None:
        super().__init__(path, host)
        self.scraped_at_option = scraped_at
        self._fixed_us = self._fixed_time(scraped_at)
        self._size = max(path.stat().st_size, 1)
        with gpu.open_text(path) as stream:
            if not stream.read(1):
                raise IngestError("the file is empty", where=str(path), hint="leave it out")

    @property
    def format(self) -> str:
        with self.path.open("rb") as head:
            gzipped = head.read(2) == GZIP_MAGIC
        return "prometheus-text.gz" if gzipped else "prometheus-text"

    def _fixed_time(self, option: str | None) -> int | None:
        if not option:
            return None
        if option == "mtime":
            return round(self.path.stat().st_mtime * 1_000_000)
        return gpu.parse_time(option, "option scraped_at")

    def batches(self) -> Iterator[Batch]:
        """Rows in batches of at most about :data:`FLUSH_ROWS`, then the rejections."""
        parse = _Parse(self)
        with gpu.open_text(self.path) as stream:
            try:
                for chunk, progress in gpu.lines(stream, self._size):
                    parse.chunk(chunk)
                    if len(parse.pivot) >= FLUSH_ROWS:
                        parse.current = {}
                        yield Batch(parse.pivot.take_settled(), [], progress)
            except IngestError as exc:
                exc.where = exc.where or str(self.path)
                raise
        self._summarise(parse)
        yield Batch(parse.pivot.take(), parse.rejected, 1.0)

    def _summarise(self, parse: _Parse) -> None:
        for name, count in parse.unmapped.items():
            self.warnings[f"metric not stored (no gpu_samples column): {name}"] += count
        self.notes = [
            f"{parse.samples:,} metric samples read; one row per GPU (or MIG instance) and time",
            f"times: {parse.time_sources}",
        ]


class _Parse:
    """The state of one pass over a file (scrape time, devices, rows, rejections)."""

    def __init__(self, reader: DcgmReader) -> None:
        self.reader = reader
        self.pivot = gpu.Pivot("dcgm", reader.warnings)
        self.rejected: list[Rejection] = []
        self.unmapped: Counter[str] = Counter()
        self.scrape_us = reader._fixed_us
        self.fixed = reader._fixed_us is not None
        self.used: set[str] = set()
        self.line = 0
        self.samples = 0
        self.devices: dict[str, int | str] = {}  # label text -> device id, or why not
        #: label text -> device id, for the devices read without trouble (the hot loop's cache)
        self.known: dict[str, int] = {}
        #: device id -> its row in the current scrape (samples without their own timestamp)
        self.current: dict[int, list[float]] = {}

    @property
    def time_sources(self) -> str:
        return ", ".join(sorted(self.used)) or "no samples"

    def chunk(self, lines: list[str]) -> None:
        """Read a chunk of lines. The hot loop (every sample line passes here) handles only the
        common case: a sample without its own timestamp, of a mapped metric, of a device already
        known, with a plain value. Everything else goes to :meth:`_line`."""
        metrics = FAST_METRICS
        known = self.known
        current = self.current
        rows, records = self.pivot.rows, self.pivot.records
        warnings = self.reader.warnings
        width = len(gpu.VALUES)
        scrape_us = self.scrape_us
        line_no = self.line
        samples = 0
        for line in lines:
            line_no += 1
            brace = line.find("{")
            if brace > 0 and scrape_us is not None:
                close = line.rfind("}")
                device = known.get(line[brace + 1 : close])
                entry = metrics.get(line[:brace])
                if device is not None and entry is not None:
                    column, low, high, scale = entry
                    try:
                        value = float(line[close + 1 :])  # fails on "VALUE TIMESTAMP"
                    except ValueError:
                        value = math.nan
                    if low <= value <= high:
                        values = current.get(device)
                        if values is None:
                            key = (device, scrape_us)
                            values = rows.get(key)
                            if values is None:
                                values = rows[key] = [gpu.MISSING] * width
                                records[key] = line_no
                            current[device] = values
                        elif values[column] == values[column]:  # not NaN: seen already
                            warnings[REPEATED] += 1
                        values[column] = value * scale
                        samples += 1
                        continue
            self.samples += samples
            samples = 0
            self._line(line, line_no)
            current = self.current
            scrape_us = self.scrape_us
        self.line = line_no
        self.samples += samples
        self._note_time_source()

    def _line(self, line: str, line_no: int) -> None:  # noqa: PLR0912
        """Any line the hot loop does not handle: comments, new devices, timestamps, odd
        values, rejections. A new row of a sample without its own timestamp joins ``current``.
        """
        self.line = line_no
        brace = line.find("{")
        if brace > 0 and line[0] != "#":
            close = line.rfind("}")
            name = line[:brace]
            labels = line[brace + 1 : close]
            parts = line[close + 1 :].split() if close > brace else []
        elif not line or line[0] == "#" or line.isspace():
            if line.lstrip("# \t").startswith("scraped_at"):
                self._scrape_comment(line)
            return
        else:
            name, *parts = line.split()
            labels = ""
        if name not in gpu.DCGM_METRICS or not 0 < len(parts) < 3:
            self._other(line, name, parts)
            return
        device = self.devices.get(labels)
        if device is None:
            device = self.devices[labels] = self._device(labels)
        if isinstance(device, str):
            self._reject(line_no, name, device, parts[0], line)
            return
        try:
            value = float(parts[0])
        except ValueError:
            self._reject(line_no, name, "not a number", parts[0], line)
            return
        if len(parts) == 2:
            ts_us = self._sample_time(parts[1], line_no, line)
            if ts_us is None:
                return
        elif self.scrape_us is None:
            raise self._no_time()
        else:
            ts_us = self.scrape_us
        column, low, high, scale = FAST_METRICS[name]
        if low <= value <= high:
            stored: float | None = value * scale
        else:
            ok, stored = self._unusual(value, parts[0], name, line_no, line)
            if not ok:
                return
        values = self.pivot.row(device, ts_us, line_no)
        if len(parts) == 1:
            self.known[labels] = device
            self.current[device] = values
        if values[column] == values[column]:  # not NaN: seen already
            self.reader.warnings[REPEATED] += 1
        values[column] = gpu.MISSING if stored is None else stored
        self.samples += 1

    def _unusual(
        self, value: float, text: str, name: str, line_no: int, line: str
    ) -> tuple[bool, float | None]:
        """A value outside the metric's plain range: a DCGM sentinel (NULL), or checked."""
        if value >= _SENTINEL_FLOOR and (blank := gpu.sentinel(value, text)) is not None:
            self.reader.warnings[f"DCGM no-value sentinel read as NULL ({blank})"] += 1
            return True, None
        stored, why = gpu.check(value, gpu.DCGM_METRICS[name][1])
        if why is not None:
            self._reject(line_no, name, why, text, line)
            return False, None
        return True, stored

    def _note_time_source(self) -> None:
        if self.scrape_us is not None and self.samples:
            if self.fixed:
                self.used.add(_describe_option(self.reader))
            else:
                self.used.add("'# scraped_at' comments")

    def _scrape_comment(self, line: str) -> None:
        found = _SCRAPED_AT.match(line.strip())
        if found is None:
            raise IngestError(
                f"a '# scraped_at' comment without a time: {line.strip()!r}",
                where=f"{self.reader.path}:{self.line}",
                hint="write '# scraped_at 2026-11-23T13:55:00Z' (ISO 8601 or Unix seconds)",
            )
        self._note_time_source()
        self.current = {}
        self.scrape_us = gpu.parse_time(found.group(1), f"{self.reader.path}:{self.line}")
        self.fixed = False

    def _device(self, labels: str) -> int | str:
        try:
            device = gpu.device_from_labels(parse_labels(labels), self.reader.host)
        except ValueError as exc:
            return f"malformed labels: {exc}"
        if not device.identified:
            return NO_DEVICE
        return self.pivot.device_id(device)

    def _sample_time(self, text: str, line_no: int, line: str) -> int | None:
        try:
            if "." in text or "e" in text.lower():
                us = round(float(text) * 1_000_000)
            else:
                us = int(text) * 1000
        except ValueError:
            self._reject(line_no, "timestamp", "not a timestamp (milliseconds)", text, line)
            return None
        self.used.add("per-sample timestamps")
        return us

    def _other(self, line: str, name: str, parts: list[str]) -> None:
        """A line with a metric that has no column, or that is not a sample at all."""
        if _NAME.match(name) and 1 <= len(parts) <= 2:
            self.unmapped[name] += 1
            return
        self._reject(self.line, None, NOT_A_SAMPLE, line[:200], line)

    def _reject(self, line_no: int, column: str | None, reason: str, value: str, line: str) -> None:
        self.rejected.append(gpu.sample_rejection(line_no, column, reason, value, {"line": line}))
        if len(self.rejected) > MAX_REJECTIONS:
            raise IngestError(
                f"more than {MAX_REJECTIONS:,} unreadable lines",
                where=str(self.reader.path),
                hint="this does not look like dcgm-exporter output; check the first quarantine "
                "reasons with a small sample of the file",
            )

    def _no_time(self) -> IngestError:
        return IngestError(
            "a sample without a timestamp, and no '# scraped_at' comment above it",
            where=f"{self.reader.path}:{self.line}",
            hint="write '# scraped_at <ISO time>' before each saved scrape, or give the time: "
            "-o scraped_at=2026-11-23T13:55:00Z, or -o scraped_at=mtime (the file's "
            "modification time)",
        )


def _describe_option(reader: DcgmReader) -> str:
    if reader.scraped_at_option == "mtime":
        return "the file's modification time (option scraped_at=mtime)"
    return f"option scraped_at={reader.scraped_at_option}"


def open_dcgm(path: Path, careful: bool = False, **options: object) -> DcgmReader:
    scraped_at = options.get("scraped_at")
    host = options.get("host")
    return DcgmReader(
        path,
        careful=careful,
        scraped_at=None if scraped_at is None else str(scraped_at),
        host=None if host is None else str(host),
    )


OPTIONS = {
    "scraped_at": "time of samples that have no timestamp and no '# scraped_at' comment: "
    "ISO 8601, Unix seconds, or 'mtime' (the file's modification time)",
    "host": "host name for series without a Hostname/hostname label",
}

SPEC = register(
    SourceSpec(
        name="dcgm",
        description="GPU telemetry: dcgm-exporter /metrics scrapes (Prometheus text)",
        formats=("prometheus-text", "prometheus-text.gz"),
        table="gpu_samples",
        open=open_dcgm,
        options=OPTIONS,
        after_load=gpu.merge_samples,
        export_hint="curl -s http://NODE:9400/metrics saved with a '# scraped_at' line per scrape",
    )
)
