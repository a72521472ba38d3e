"""Prometheus HTTP API exports (``aifinops ingest prometheus``) of DCGM metrics -> ``gpu_samples``.

A file holds the JSON response of ``/api/v1/query_range`` (``resultType: matrix``) or
``/api/v1/query`` (``resultType: vector``), or a JSON array of several such responses (one per
metric, say). Each result is one series: its ``metric`` labels name the DCGM metric
(``__name__``) and the GPU, exactly as dcgm-exporter wrote them, plus the labels Prometheus adds
(``instance``, ``job``), which are kept in ``labels``. Points of the same GPU and time pivot into
one row, across the series and responses of the file (and, through the load's merge, across
files). Mapping, sentinels and checks are those of :mod:`aifinops.sources.dcgm`.

A response is one JSON document, read whole: Prometheus caps a range query at 11,000 points per
series, so split long ranges into several queries (and files); the rows are handed on in bounded
batches. A bad point is quarantined with its result and point number; rows read counts stored
rows plus quarantined points.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aifinops.errors import IngestError
from aifinops.sources import gpu_common as gpu
from aifinops.sources.base import Batch, Rejection, SourceSpec, register

HINT = (
    "save the body of /api/v1/query_range or /api/v1/query (curl -s ... > file.json), or a "
    "JSON array of such bodies; see docs/sources/gpu-telemetry.md"
)


class PrometheusReader(gpu.SampleFile):
    """Reads one Prometheus API JSON export into ``gpu_samples`` batches."""

    describes = "a Prometheus HTTP API query response (JSON)"

    def __init__(
        self,
        path: Path,
        *,
        careful: bool = False,
        metric: str | None = None,
        host: str | None = None,
    ) -> None:
        super().__init__(path, host)
        self.metric = metric or None

    @property
    def format(self) -> str:
        return "prometheus-json"

    def _responses(self) -> list[dict[str, Any]]:
        try:
            with gpu.open_text(self.path) as stream:
                document = json.load(stream)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise IngestError(f"not JSON: {exc}", where=str(self.path), hint=HINT) from None
        responses = document if isinstance(document, list) else [document]
        for number, response in enumerate(responses, start=1):
            where = f"{self.path}: response {number}"
            if not isinstance(response, dict) or "data" not in response:
                if isinstance(response, dict) and response.get("status") == "error":
                    raise IngestError(
                        f"the query failed: {response.get('errorType')}: {response.get('error')}",
                        where=where,
                        hint="run the query again and save a successful response",
                    )
                raise IngestError("not a Prometheus API response", where=where, hint=HINT)
            kind = response["data"].get("resultType")
            if kind not in ("matrix", "vector"):
                raise IngestError(
                    f"resultType {kind!r}: only matrix (query_range) and vector (query) hold "
                    "series",
                    where=where,
                    hint=HINT,
                )
        return responses

    def batches(self) -> Iterator[Batch]:
        responses = self._responses()
        pivot = gpu.Pivot("prometheus", self.warnings)
        self._rejected: list[Rejection] = []
        self._record = self._points = 0
        for number, response in enumerate(responses, start=1):
            results = response["data"].get("result") or []
            # No batch is handed out before the end: the series of one GPU's metrics can come in
            # any order, so a row is complete only then (the document is in memory anyway).
            for index, series in enumerate(results, start=1):
                self._read_series(pivot, series, f"response {number}, result {index}")
        self.notes = [
            f"{self._points:,} points read from {len(responses)} response(s); one row per GPU "
            "(or MIG instance) and time"
        ]
        yield Batch(pivot.take(), self._rejected, 1.0)

    def _read_series(self, pivot: gpu.Pivot, series: Any, where: str) -> None:
        device, name = self._series(pivot, series, where)
        column, how = gpu.DCGM_METRICS.get(name, (None, None))
        # A matrix series has "values" (possibly none: a series with no point in the range); a
        # vector series has one "value".
        pairs = series["values"] if "values" in series else [series.get("value")]
        if column is None or how is None:
            self.warnings[f"metric not stored (no gpu_samples column): {name}"] += len(pairs)
            return
        for k, pair in enumerate(pairs, start=1):
            self._record += 1
            problem = self._point(pivot, device, column=column, how=how, pair=pair)
            if problem is None:
                self._points += 1
                continue
            raw: dict[str, str | None] = {
                "series": json.dumps(series.get("metric")),
                "point": json.dumps(pair),
            }
            reason = f"{where}, point {k}: {problem}"
            self._rejected.append(Rejection(self._record, name, reason, str(pair), raw))

    def _series(self, pivot: gpu.Pivot, series: Any, where: str) -> tuple[int | str, str]:
        """(the series' device id, or why it has none; its metric name)."""
        labels = series.get("metric") if isinstance(series, dict) else None
        if not isinstance(labels, dict):
            raise IngestError(f"{where} has no 'metric' labels", where=str(self.path), hint=HINT)
        name = labels.get("__name__") or self.metric
        if not name:
            raise IngestError(
                f"{where} has no __name__ label (the query changed the metric, e.g. rate() or "
                "sum())",
                where=str(self.path),
                hint="query the raw DCGM metric, or name it: -o metric=DCGM_FI_DEV_GPU_UTIL",
            )
        host = self.host or str(labels.get("instance", "")).rsplit(":", 1)[0] or None
        try:
            device = gpu.device_from_labels({str(k): str(v) for k, v in labels.items()}, host)
        except ValueError as exc:
            return f"malformed labels: {exc}", name
        if not device.identified:
            return "no gpu or UUID label: the series cannot be attributed to a GPU", name
        return pivot.device_id(device), name

    def _point(
        self,
        pivot: gpu.Pivot,
        device: int | str,
        *,
        column: int,
        how: gpu.Check,
        pair: Any,
    ) -> str | None:
        """Add one point; the reason when it cannot be stored."""
        if isinstance(device, str):
            return device
        if not isinstance(pair, list) or len(pair) != 2:
            return "not a [time, value] pair"
        try:
            ts_us = round(float(pair[0]) * 1_000_000)
            value = float(pair[1])
        except (TypeError, ValueError):
            return f"not a number: {pair!r}"
        text = str(pair[1])
        blank = gpu.sentinel(value, text) if value >= float(0x7FFFFFF0) else None
        if blank is not None:
            self.warnings[f"DCGM no-value sentinel read as NULL ({blank})"] += 1
            stored: float | None = None
        else:
            stored, why = gpu.check(value, how)
            if why is not None:
                return why
        pivot.add(device, ts_us, column, stored, self._record)
        return None


def open_prometheus(path: Path, careful: bool = False, **options: object) -> PrometheusReader:
    metric, host = options.get("metric"), options.get("host")
    return PrometheusReader(
        path,
        careful=careful,
        metric=None if metric is None else str(metric),
        host=None if host is None else str(host),
    )


SPEC = register(
    SourceSpec(
        name="prometheus",
        description="GPU telemetry: Prometheus HTTP API query/query_range JSON of DCGM metrics",
        formats=("prometheus-json",),
        table="gpu_samples",
        open=open_prometheus,
        options={
            "metric": "metric name for results without a __name__ label",
            "host": "host name for series without a Hostname/hostname label (default: the "
            "host part of the 'instance' label)",
        },
        after_load=gpu.merge_samples,
        export_hint="curl -s 'http://PROM:9090/api/v1/query_range?query=...' > export.json",
    )
)
