"""On-premises GPU clusters (``aifinops ingest onprem``): the inventory -> hourly FOCUS rows.

Reads the ``[onprem]`` section of a TOML file (by default the workspace's ``aifinops.toml``;
see :mod:`aifinops.model.onprem` for the cost model and docs/sources/onprem.md for the
settings) and writes one ``costs`` row per server per hour in service, so on-prem $/GPU-hour
sits beside cloud $/GPU-hour:

* ServiceProviderName and HostProviderName ``On-Premises``; BillingAccountId
  ``onprem:<cluster>``; ResourceId ``<cluster>/<server>``; ResourceType ``GPU Server``;
* BilledCost = EffectiveCost = ListCost = ContractedCost = the hour's cost (an owned server has
  no invoice: its amortised cost is what it costs);
* ConsumedQuantity 1 hour; ``x_GpuCount`` and ``x_GpuModel`` say what the hour bought;
* the components as ``x_AmortisationCost``, ``x_EnergyCost``, ``x_SpaceCost``,
  ``x_OperationsCost``, ``x_SupportCost`` and the energy as ``x_EnergyKwh``.

The period is ``-o start=YYYY-MM[-DD]`` (default: the first month a server was in service) to
``-o end=YYYY-MM[-DD]`` (exclusive; default: today, 00:00 UTC). The load's identity is the
inventory plus the period, so running it again tomorrow loads again, and the months it covers
replace the earlier rows of the same cluster and month.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import ValidationError

from aifinops.errors import IngestError
from aifinops.model import onprem as model
from aifinops.sources import convert
from aifinops.sources.base import Batch, SourceSpec, register
from aifinops.sources.native import complete, focus_columns

PROVIDER = "On-Premises"
COMPONENTS = {
    "x_AmortisationCost": "amortisation",
    "x_EnergyCost": "energy",
    "x_SpaceCost": "space",
    "x_OperationsCost": "operations",
    "x_SupportCost": "support",
    "x_EnergyKwh": "energy_kwh",
}
EXTRA = (*COMPONENTS, "x_GpuCount", "x_GpuModel")
_TEXT = pa.string()


class OnPremReader:
    """Hourly FOCUS rows from an on-prem inventory (see the module docstring)."""

    format = "toml"

    def __init__(
        self,
        path: Path,
        *,
        careful: bool = False,
        start: str | None = None,
        end: str | None = None,
    ) -> None:
        del careful  # not a CSV: nothing to read carefully
        self.path = path
        self.version: str | None = None
        self.warnings: Counter[str] = Counter()
        self.notes: list[str] = []
        self.columns: tuple[str, ...] = (*focus_columns(), *EXTRA)
        section = _onprem_section(path)
        try:
            self.inventory = model.OnPremInventory.model_validate(section)
        except ValidationError as exc:
            raise IngestError(
                _explain(exc), where=str(path), hint="see docs/sources/onprem.md"
            ) from None
        if not self.inventory.clusters:
            raise IngestError(
                "the [onprem] section has no clusters",
                where=str(path),
                hint="add [[onprem.clusters]] with their [[onprem.clusters.nodes]]",
            )
        first = min(s.start for c in self.inventory.clusters for s in model.servers(c))
        self.start = _when(start, "start") if start else model.month_start(first)
        today = datetime.now(UTC).date()
        self.end = _when(end, "end") if end else datetime(today.year, today.month, today.day,
                                                          tzinfo=UTC)  # fmt: skip
        if self.end <= self.start:
            raise IngestError(
                f"the period is empty: end {self.end:%Y-%m-%d} is not after start "
                f"{self.start:%Y-%m-%d}",
                hint="pass -o start=YYYY-MM-DD -o end=YYYY-MM-DD (end exclusive)",
            )
        canonical = json.dumps(section, sort_keys=True, default=str)
        period = f"{self.start.isoformat()}/{self.end.isoformat()}"
        #: the load's identity (``ingest_log.sha256``): the inventory and the period
        self.digest = hashlib.sha256(f"{canonical}\n{period}".encode()).hexdigest()
        self.notes.append(f"hours from {self.start:%Y-%m-%d} to {self.end:%Y-%m-%d} (UTC)")

    def close(self) -> None:
        pass

    def batches(self) -> Iterator[Batch]:
        months = []
        month = model.month_start(self.start)
        while month < self.end:
            months.append(month)
            month = model.next_month(month)
        total = max(len(months) * len(self.inventory.clusters), 1)
        record = 1
        done = 0
        for cluster in self.inventory.clusters:
            for month in months:
                table = self._month(cluster, month, record)
                done += 1
                if table is not None:
                    record += table.num_rows
                    yield Batch(table, [], done / total)
        yield Batch(None, [], 1.0)

    def _month(self, cluster: model.Cluster, month: datetime, record: int) -> pa.Table | None:
        month_end = model.next_month(month)
        sharing = model.in_service_during(cluster, month, month_end)
        parts = []
        for server in sharing:
            first = max(month, self.start, server.start)
            last = min(month_end, self.end, *([server.end] if server.end else []))
            if last <= first:
                continue
            parts.append(self._server_hours(server, month, first, last, sharing))
        if not parts:
            return None
        table = pa.concat_tables(parts)
        records = pa.array(np.arange(record, record + table.num_rows, dtype=np.int64))
        return table.append_column("x_SourceRecord", records)

    def _server_hours(
        self,
        server: model.Server,
        month: datetime,
        first: datetime,
        last: datetime,
        sharing: list[model.Server],
    ) -> pa.Table:
        cluster, node = server.cluster, server.node
        hours = np.arange(
            np.datetime64(first.replace(tzinfo=None), "h"),
            np.datetime64(last.replace(tzinfo=None), "h"),
            dtype="datetime64[h]",
        )
        n = len(hours)
        starts = pa.array(hours.astype("datetime64[us]"), pa.timestamp("us")).cast(
            convert.TIMESTAMP
        )
        ends = pa.array((hours + 1).astype("datetime64[us]"), pa.timestamp("us")).cast(
            convert.TIMESTAMP
        )
        cost = model.hourly_cost(server, month, sharing)
        # Two kinds of hour: still amortising, or paid off.
        paid_off = hours >= np.datetime64(server.paid_off.replace(tzinfo=None), "h")
        which = pa.array(paid_off.astype(np.int8))

        def pick(amortising: Decimal, after: Decimal) -> pa.Array:
            return pa.array([amortising, after], convert.DECIMAL).take(which)

        zero = Decimal(0)
        total = pick(cost.total, cost.total - cost.amortisation)
        tags = json.dumps({**cluster.tags, **node.tags}, sort_keys=True, ensure_ascii=False)
        gpus = f"{node.gpus} x {node.gpu_model}"

        def same(value: object, type_: pa.DataType = _TEXT) -> pa.Array:
            return pa.array([value], type_).take(np.zeros(n, dtype=np.int32))

        month_start = pa.scalar(month, convert.TIMESTAMP)
        arrays: dict[str, pa.Array] = {
            "BillingAccountId": same(f"onprem:{cluster.name}"),
            "BillingAccountName": same(cluster.name),
            "BillingAccountType": same("On-Premises Cluster"),
            "SubAccountId": same(f"onprem:{cluster.name}"),
            "SubAccountName": same(cluster.name),
            "SubAccountType": same("On-Premises Cluster"),
            "BillingCurrency": same(cluster.currency),
            "BillingPeriodStart": same(month_start.as_py(), convert.TIMESTAMP),
            "BillingPeriodEnd": same(model.next_month(month), convert.TIMESTAMP),
            "ChargePeriodStart": starts,
            "ChargePeriodEnd": ends,
            "ChargeCategory": same("Usage"),
            "ChargeFrequency": same("Usage-Based"),
            "ChargeDescription": same(f"On-premises GPU server {server.name} ({gpus})"),
            "BilledCost": total,
            "EffectiveCost": total,
            "ListCost": total,
            "ContractedCost": total,
            "ListUnitPrice": total,
            "ContractedUnitPrice": total,
            "PricingQuantity": same(Decimal(1), convert.DECIMAL),
            "PricingUnit": same("Hours"),
            "ConsumedQuantity": same(Decimal(1), convert.DECIMAL),
            "ConsumedUnit": same("Hours"),
            "PricingCategory": same("Standard"),
            "ServiceProviderName": same(PROVIDER),
            "HostProviderName": same(PROVIDER),
            "InvoiceIssuerName": same(PROVIDER),
            "ServiceCategory": same("Compute"),
            "ServiceSubcategory": same("Other (Compute)"),
            "ServiceName": same("On-Premises GPU Cluster"),
            "RegionId": same(cluster.location),
            "RegionName": same(cluster.location),
            "ResourceId": same(f"{cluster.name}/{server.name}"),
            "ResourceName": same(server.name),
            "ResourceType": same("GPU Server"),
            "SkuId": same(f"onprem:{node.gpu_model}:{node.gpus}"),
            "Tags": same(tags),
            "x_GpuCount": same(str(node.gpus)),
            "x_GpuModel": same(node.gpu_model),
        }
        for column, part in COMPONENTS.items():
            value: Decimal = getattr(cost, part)
            after = zero if part == "amortisation" else value
            # x_ columns are text: exact, without trailing zeros.
            arrays[column] = pa.array([_plain(value), _plain(after)]).take(which)
        return pa.table(complete(arrays, n))


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _utc(hours: np.ndarray[Any, np.dtype[np.datetime64]]) -> pa.Array:
    return pa.array(hours.astype("datetime64[us]"), pa.timestamp("us")).cast(convert.TIMESTAMP)


def _onprem_section(path: Path) -> dict[str, Any]:
    try:
        document = tomllib.loads(path.read_text("utf-8"), parse_float=Decimal)
    except (OSError, UnicodeDecodeError) as exc:
        raise IngestError(f"cannot read the file: {exc}", where=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise IngestError(f"not valid TOML: {exc}", where=str(path)) from None
    section = document.get("onprem")
    if not isinstance(section, dict):
        raise IngestError(
            "no [onprem] section",
            where=str(path),
            hint="describe the clusters under [[onprem.clusters]] (see docs/sources/onprem.md)",
        )
    return section


def _explain(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = "onprem"
        for part in error["loc"]:
            where += f"[{part}]" if isinstance(part, int) else f".{part}"
        problems.append(f"{where}: {error['msg']}")
    return "invalid on-prem inventory: " + "; ".join(problems)


def _when(text: str, name: str) -> datetime:
    try:
        day = date.fromisoformat(text + "-01" if len(text) == 7 else text)
    except ValueError:
        raise IngestError(
            f"-o {name}={text!r} is not a date", hint="use YYYY-MM or YYYY-MM-DD"
        ) from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def open_onprem(path: Path, **options: Any) -> OnPremReader:
    return OnPremReader(path, **options)


SPEC = register(
    SourceSpec(
        name="onprem",
        description="on-premises GPU clusters: the [onprem] inventory in aifinops.toml -> "
        "hourly FOCUS rows (amortisation, energy, space, operations, support)",
        formats=("toml",),
        table="costs",
        open=open_onprem,
        replace_keys=("BillingAccountId", "BillingPeriodStart"),
        options={
            "start": "first day (YYYY-MM or YYYY-MM-DD; default: the first month in service)",
            "end": "day after the last (exclusive; default: today)",
        },
        export_hint="describe the clusters in aifinops.toml [onprem] (docs/sources/onprem.md)",
        default_paths=("aifinops.toml",),
    )
)
