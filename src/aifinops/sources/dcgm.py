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

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from aifinops.errors import IngestError
from aifinops.sources import gpu_common as gpu
from aifinops.sources.base import Batch, Rejection, SourceSpec, register
from aifinops.sources.tabular import MAX_REJECTIONS

#: Rows held before a batch is handed on (memory stays bounded on any file size).
FLUSH_ROWS = 65_536
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|\Z)')
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}
_SCRAPED_AT = re.compile(r"#\s*scraped_at\s*[:=]?\s*(\S+)\s*\Z")
#: The lowest DCGM sentinel (DCGM_INT32_BLANK); only values at or above it are looked up.
_SENTINEL_FLOOR = float(0x7FFFFFF0)
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


class DcgmReader:
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
        self.path = path
        self.version: str | None = None
        self.warnings: Counter[str] = Counter()
        self.notes: list[str] = []
        self.columns: tuple[str, ...] = gpu.BATCH_COLUMNS
        self.host = host or None
        self.scraped_at_option = scraped_at
        self._fixed_us = self._fixed_time(scraped_at)
        self._size = max(path.stat().st_size, 1)
        with gpu.open_text(path) as stream:
            if not stream.read(1):
                raise IngestError("the file is empty", where=str(path), hint="leave it out")

    @property
    def format(self) -> str:
        return "prometheus-text"

    def close(self) -> None:
        """Nothing is held open between calls to :meth:`batches`."""

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
                        yield Batch(parse.pivot.take(), [], progress)
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

    @property
    def time_sources(self) -> str:
        return ", ".join(sorted(self.used)) or "no samples"

    def chunk(self, lines: list[str]) -> None:  # noqa: PLR0912, PLR0915
        # The hot loop (every sample line passes here): kept in one function, with locals, for
        # speed; the rare cases call out.
        metrics = gpu.DCGM_METRICS
        devices = self.devices
        pivot = self.pivot
        line_no = self.line
        for line in lines:
            line_no += 1
            if not line or line[0] == "#" or line.isspace():
                if line.startswith("# scraped_at") or line.startswith("#scraped_at"):
                    self.line = line_no
                    self._scrape_comment(line)
                continue
            brace = line.find("{")
            if brace >= 0:
                close = line.rfind("}")
                name, labels, rest = line[:brace], line[brace + 1 : close], line[close + 1 :]
                parts = rest.split() if close > brace else []
            else:
                name, *parts = line.split()
                labels = ""
            entry = metrics.get(name)
            if entry is None or not 1 <= len(parts) <= 2:
                self.line = line_no
                self._other(line, name, parts)
                continue
            device = devices.get(labels)
            if device is None:
                device = devices[labels] = self._device(labels)
            try:
                value = float(parts[0])
            except ValueError:
                self._reject(line_no, name, "not a number", parts[0], line)
                continue
            if len(parts) == 2:
                ts_us = self._sample_time(parts[1], line_no, line)
                if ts_us is None:
                    continue
            elif self.scrape_us is None:
                self.line = line_no
                raise self._no_time()
            else:
                ts_us = self.scrape_us
            if device.__class__ is str:
                self._reject(line_no, name, str(device), parts[0], line)
                continue
            self.samples += 1
            column, how = entry
            if value >= _SENTINEL_FLOOR and (blank := gpu.sentinel(value, parts[0])) is not None:
                self.reader.warnings[f"DCGM no-value sentinel read as NULL ({blank})"] += 1
                pivot.add(device, ts_us, column, None, line_no)  # type: ignore[arg-type]
                continue
            stored, why = gpu.check(value, how)
            if why is not None:
                self.samples -= 1
                self._reject(line_no, name, why, parts[0], line)
                continue
            pivot.add(device, ts_us, column, stored, line_no)  # type: ignore[arg-type]
        self.line = line_no
        self._note_time_source()

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
