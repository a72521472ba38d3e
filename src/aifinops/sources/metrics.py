"""Business metrics (``aifinops ingest metrics``): CSV/Parquet of date, metric, value, dimensions.

One row is a value of a metric over a period: revenue for a day, requests served in a week,
active users in a month. Columns:

* ``date`` (or ``period_start``, ``day``): the first day of the period;
* ``period_end`` (optional): the first day after it; empty means one day;
* ``metric`` (or ``name``): e.g. ``revenue``, ``requests``, ``active_users``;
* ``value``: an exact decimal;
* ``unit`` (optional): ``USD``, ``requests`` ...;
* every other column is a dimension label (``team``, ``product``, ``region`` ...), stored in
  ``labels`` so unit costs can be cut by the same labels as costs.

A newer file with the same (period, metric, labels) replaces the older values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from aifinops.sources.base import SourceSpec, register
from aifinops.sources.mapped import Field, Kind, MappedReader
from aifinops.sources.tabular import Errors, add_errors


class MetricsReader(MappedReader):
    describes = "a business metrics CSV or Parquet file (date, metric, value, dimensions)"
    fields = (
        Field(
            "period_start", Kind.DATE, ("date", "day", "period", "start"), required=True,
            mandatory=True,
        ),
        Field("period_end", Kind.DATE, ("end", "end_date")),
        Field("metric", Kind.TEXT, ("name", "metric_name", "kpi"), required=True, mandatory=True),
        Field("value", Kind.DECIMAL, ("amount", "metric_value"), required=True, mandatory=True),
        Field("unit", Kind.TEXT, ("units", "currency")),
    )  # fmt: skip

    def __init__(self, path: Path, *, careful: bool = False) -> None:
        super().__init__(path, careful=careful)
        if "labels" not in self.columns:
            self.columns = (*self.columns, "labels")

    def refine(self, arrays: dict[str, pa.Array], errors: Errors, raw: pa.RecordBatch) -> None:
        n = raw.num_rows
        if "labels" not in arrays:
            # Labels take part in the replace key: "no dimensions" must compare equal.
            arrays["labels"] = pa.array(["{}"] * n, pa.string())
        start = arrays["period_start"]
        next_day = pc.add(pc.cast(start, pa.int32()), pa.scalar(1, pa.int32())).view(pa.date32())
        end = arrays.get("period_end")
        if end is None:
            arrays["period_end"] = next_day
            return
        arrays["period_end"] = pc.if_else(pc.is_null(end), next_day, end)
        bad = pc.fill_null(pc.less_equal(arrays["period_end"], start), False)
        column = next(name for name, f in self.mapping.items() if f.column == "period_end")
        found = dict.fromkeys(pc.indices_nonzero(bad).to_pylist(), "period_end is not after date")
        add_errors(errors, column, found, raw.column(raw.schema.get_field_index(column)))


def open_metrics(path: Path, **options: Any) -> MetricsReader:
    return MetricsReader(path, **options)


SPEC = register(
    SourceSpec(
        name="metrics",
        description="business metrics (revenue, requests, users) per period with dimensions",
        formats=("csv", "csv.gz", "parquet"),
        table="business_metrics",
        open=open_metrics,
        replace_keys=("period_start", "period_end", "metric", "labels"),
        export_hint="a CSV of date, metric, value and dimension columns from your BI tool",
    )
)
