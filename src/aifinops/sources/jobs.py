"""Jobs (``aifinops ingest jobs``) -> ``jobs``: scheduler exports and ``aifinops run`` records.

Reads a CSV (or Parquet) with one job per row: job id, start, end, node, GPUs, status, labels.
Column names are matched loosely, so a Slurm ``sacct --parsable2`` export (``|``-separated) reads
as it is:

    sacct --allocations --parsable2 --starttime 2026-10-01 --endtime 2026-11-01 \\
      --format=JobID,JobName,User,Account,Partition,Start,End,NodeList,AllocTRES,State,ExitCode

``AllocTRES`` gives the GPU count (and model, for typed ``gres/gpu:a100=4``); ``ExitCode``
``2:0`` reads as 2; ``Unknown``/``None`` times are empty; the state's first word, lower-cased, is
the status (``CANCELLED by 1234`` -> ``cancelled``). Columns that no field claims (Account,
Partition, or ``team``, ``project`` in a CSV of your own) become labels. Scheduler times have no
offset and are in the cluster's time zone: say which with ``-o timezone=Europe/Berlin`` (default
UTC). A newer export of the same job id replaces the older row, so a job seen running in one
export and finished in the next ends up once, finished.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import pyarrow.compute as pc

from aifinops.errors import IngestError
from aifinops.sources.base import SourceSpec, register
from aifinops.sources.files import FileFormat
from aifinops.sources.mapped import Field, Kind, MappedReader, constant, to_integer
from aifinops.sources.tabular import Errors, add_errors

FIELDS = (
    Field("job_id", Kind.TEXT, ("jobid", "job", "id", "run_id"), required=True, mandatory=True),
    Field("name", Kind.TEXT, ("jobname", "job_name", "run_name")),
    Field("kind", Kind.TEXT, ("type", "job_type")),
    Field("start_time", Kind.TIMESTAMP, ("start", "started", "started_at", "begin"),
          required=True, mandatory=True),
    Field("end_time", Kind.TIMESTAMP, ("end", "ended", "ended_at", "finished_at", "finish")),
    Field("host", Kind.TEXT, ("node", "nodelist", "hostname", "nodes")),
    Field("gpu_count", Kind.INTEGER, ("gpus_count", "ngpus", "num_gpus", "gpu_num")),
    Field("gpus", Kind.TEXT, ("gpu_ids", "gpu_uuids", "gpu_list", "gpu")),
    Field("gpu_model", Kind.TEXT, ("gpu_type",)),
    Field("status", Kind.TEXT, ("state", "outcome", "result")),
    Field("exit_code", Kind.TEXT, ("exitcode", "exit_status", "returncode")),
    Field("user_name", Kind.TEXT, ("user", "username", "owner")),
    Field("command", Kind.TEXT, ("cmd", "submitline")),
    Field("metrics", Kind.TEXT, ("outcome_metrics", "results")),
)  # fmt: skip

#: Slurm's AllocTRES GPU entries: ``gres/gpu=4`` or ``gres/gpu:a100=4``.
_GRES_GPU = re.compile(r"gres/gpu(?::([^=,]+))?=(\d+)")


class JobsReader(MappedReader):
    describes = "a jobs CSV or Parquet file (job id, start, end, node, GPUs, status, labels)"
    fields = FIELDS
    extra_nulls = ("Unknown", "None", "N/A", "n/a")

    def __init__(
        self,
        path: Path,
        *,
        careful: bool = False,
        timezone: str | None = None,
        source: str | None = None,
    ) -> None:
        super().__init__(path, careful=careful)
        try:
            self.zone = ZoneInfo(timezone) if timezone else None
        except (ZoneInfoNotFoundError, ValueError):
            raise IngestError(
                f"unknown time zone {timezone!r}", hint="use an IANA name such as Europe/Berlin"
            ) from None
        self.tres = next((h for h in self.header if h.lower() == "alloctres"), None)
        if self.tres is not None:
            self.label_columns.pop(self.tres, None)
        kind = source or ("slurm" if self.tres or self.delimiter == "|" else "scheduler")
        self.constants["source"] = constant(kind, pa.string())
        extra = ["source", "gpu_count", "gpu_model"] if self.tres else ["source"]
        self.columns = tuple(dict.fromkeys((*self.columns, *extra)))

    def _read_header(self) -> list[str]:
        if self.format is not FileFormat.PARQUET:
            first = self._open_bytes().readline()
            self.close()
            if b"|" in first and b"," not in first:
                self.delimiter = "|"
        return super()._read_header()

    def refine(self, arrays: dict[str, pa.Array], errors: Errors, raw: pa.RecordBatch) -> None:
        if self.zone is not None:
            for column in ("start_time", "end_time"):
                if column in arrays:
                    wall = pc.cast(arrays[column], pa.timestamp("us"))
                    local = pc.assume_timezone(wall, str(self.zone), ambiguous="earliest",
                                               nonexistent="earliest")  # fmt: skip
                    arrays[column] = pc.cast(local, pa.timestamp("us", tz="UTC"))
        if "status" in arrays:
            first_word = pc.utf8_lower(pc.utf8_trim_whitespace(
                pc.replace_substring_regex(arrays["status"], r"\s.*$", "")))  # fmt: skip
            arrays["status"] = first_word
        if "exit_code" in arrays:
            self._exit_codes(arrays, errors, raw)
        else:
            arrays["exit_code"] = pa.nulls(raw.num_rows, pa.int32())
        if self.tres is not None:
            self._from_tres(arrays, raw)
        if "start_time" in arrays and "end_time" in arrays:
            backwards = pc.fill_null(pc.less(arrays["end_time"], arrays["start_time"]), False)
            if pc.any(backwards).as_py():
                column = self._file_column("end_time")
                found = dict.fromkeys(
                    pc.indices_nonzero(backwards).to_pylist(), "ends before start"
                )
                add_errors(errors, column, found, raw.column(raw.schema.get_field_index(column)))

    def _file_column(self, stored: str) -> str:
        return next(name for name, f in self.mapping.items() if f.column == stored)

    def _exit_codes(self, arrays: dict[str, pa.Array], errors: Errors, raw: pa.RecordBatch) -> None:
        # Slurm writes "exit:signal"; the exit status is the first part.
        head = pc.replace_substring_regex(arrays["exit_code"], r":.*$", "")
        values, found = to_integer(head)
        column = self._file_column("exit_code")
        add_errors(errors, column, found, raw.column(raw.schema.get_field_index(column)))
        arrays["exit_code"] = pc.cast(values, pa.int32())

    def _from_tres(self, arrays: dict[str, pa.Array], raw: pa.RecordBatch) -> None:
        assert self.tres is not None
        texts = raw.column(raw.schema.get_field_index(self.tres)).to_pylist()
        counts: list[int | None] = []
        models: list[str | None] = []
        for text in texts:
            found = _GRES_GPU.findall(text or "")
            typed = [(m, int(n)) for m, n in found if m]
            plain = [int(n) for m, n in found if not m]
            # Slurm lists both gres/gpu=4 and gres/gpu:a100=4 for the same GPUs.
            counts.append(max(plain) if plain else sum(n for _, n in typed) if typed else 0)
            models.append(",".join(sorted({m for m, _ in typed})) or None)
        if "gpu_count" not in arrays:
            arrays["gpu_count"] = pa.array(counts, pa.int64())
        if "gpu_model" not in arrays:
            arrays["gpu_model"] = pa.array(models, pa.string())


def open_jobs(path: Path, **options: Any) -> JobsReader:
    return JobsReader(path, **options)


SPEC = register(
    SourceSpec(
        name="jobs",
        description="jobs: scheduler exports (Slurm sacct, any CSV of job id, labels, start, "
        "end, node, GPUs) and the records `aifinops run` writes",
        formats=("csv", "csv.gz", "parquet", "sacct --parsable2"),
        table="jobs",
        open=open_jobs,
        replace_keys=("job_id", "source"),
        options={
            "timezone": "the time zone of times without an offset (IANA name; default UTC)",
            "source": "what the jobs come from (default: slurm for sacct output, else scheduler)",
        },
        export_hint="sacct --parsable2 (see docs/sources/jobs.md) or your scheduler's CSV",
    )
)
