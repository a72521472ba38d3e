"""Oracle Cloud (OCI) cost reports (``reports/cost-csv``) -> FOCUS rows of ``costs``.

The cost report is OCI's native, hourly cost export: ``lineItem/...``, ``product/...``,
``usage/...``, ``cost/...`` columns and one ``tags/<namespace>.<key>`` column per tag. Money:
``cost/myCost`` is what the line costs you (billed quantity at your unit price); OCI has no
upfront commitments in this report (Universal Credits are drawn down as usage is billed), so
BilledCost = EffectiveCost = ContractedCost = ``cost/myCost``. The report has no list price:
ListCost is the contracted cost, flagged in ``x_SourceChanges``. Corrections
(``lineItem/isCorrection``) keep their sign and get ChargeClass ``Correction``; overage columns
are kept as ``x_`` columns. Tax, promotions and invoice adjustments are not in cost reports.
Each report file adds up with the others of its month: the replace key is the report's name
(``x_ReportFile``), not the billing period. See ``docs/sources/oci.md``.

Departures from ``focus_converters`` (the FinOps Foundation's converter): BilledCost is
``cost/myCost`` (it maps ``cost/myCostOverage``, which is empty unless there is overage), the
billing account is the tenancy (it uses the subscription) and the sub account the compartment
(it uses the tenancy).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from aifinops.sources import convert
from aifinops.sources.base import Batch, SourceSpec, register
from aifinops.sources.native import (
    NativeCostReader,
    complete,
    map_unique,
    service_categories,
    typed_block,
)
from aifinops.sources.tabular import Errors

REQUIRED = (
    "lineItem/tenantId",
    "lineItem/intervalUsageStart",
    "product/service",
    "cost/myCost",
    "cost/currencyCode",
)
OPTIONAL = (
    "lineItem/referenceNo",
    "lineItem/intervalUsageEnd",
    "lineItem/isCorrection",
    "lineItem/backreferenceNo",
    "product/compartmentId",
    "product/compartmentName",
    "product/region",
    "product/availabilityDomain",
    "product/resourceId",
    "product/Description",
    "usage/billedQuantity",
    "usage/consumedQuantity",
    "usage/billedQuantityOverage",
    "cost/subscriptionId",
    "cost/productSku",
    "cost/unitPrice",
    "cost/unitPriceOverage",
    "cost/myCostOverage",
    "cost/billingUnitReadable",
    "cost/skuUnitDescription",
    "cost/overageFlag",
)
MONEY = (
    "cost/myCost",
    "cost/unitPrice",
    "cost/unitPriceOverage",
    "cost/myCostOverage",
    "usage/billedQuantity",
    "usage/consumedQuantity",
    "usage/billedQuantityOverage",
)
TIMES = ("lineItem/intervalUsageStart", "lineItem/intervalUsageEnd")

#: product/service -> (ServiceCategory, ServiceSubcategory)
SERVICES: dict[str, tuple[str, str]] = {
    "COMPUTE": ("Compute", "Virtual Machines"),
    "CONTAINER_ENGINE": ("Compute", "Containers"),
    "FUNCTIONS": ("Compute", "Serverless Compute"),
    "BLOCK_STORAGE": ("Storage", "Block Storage"),
    "OBJECTSTORE": ("Storage", "Object Storage"),
    "FILE_STORAGE": ("Storage", "File Storage"),
    "DATABASE": ("Databases", "Relational Databases"),
    "MYSQL": ("Databases", "Relational Databases"),
    "NOSQL": ("Databases", "NoSQL Databases"),
    "NETWORK": ("Networking", "Network Connectivity"),
    "LOAD_BALANCER": ("Networking", "Network Infrastructure"),
    "TELEMETRY": ("Management and Governance", "Observability"),
    "LOGGING": ("Management and Governance", "Observability"),
    "ORACLE_STREAMING_SERVICE": ("Integration", "Messaging"),
    "GENERATIVE_AI": ("AI and Machine Learning", "Generative AI"),
    "DATA_SCIENCE": ("AI and Machine Learning", "Machine Learning"),
    "VAULT": ("Security", "Secret Management"),
}

X_COLUMNS = (
    "x_ReportFile",
    "x_SubscriptionId",
    "x_ReferenceNo",
    "x_BackreferenceNo",
    "x_OverageFlag",
    "x_CostOverage",
    "x_BilledQuantityOverage",
    "x_UnitPriceOverage",
    "x_BillingUnitReadable",
    "x_SourceChanges",
)

_SQL = """
SELECT
  "cost/myCost" AS BilledCost,
  "cost/myCost" AS EffectiveCost,
  "cost/myCost" AS ContractedCost,
  "cost/myCost" AS ListCost,
  "lineItem/tenantId" AS BillingAccountId,
  'Tenancy' AS BillingAccountType,
  upper("cost/currencyCode") AS BillingCurrency,
  upper("cost/currencyCode") AS PricingCurrency,
  date_trunc('month', "lineItem/intervalUsageStart") AS BillingPeriodStart,
  date_trunc('month', "lineItem/intervalUsageStart") + INTERVAL 1 MONTH AS BillingPeriodEnd,
  "lineItem/intervalUsageStart" AS ChargePeriodStart,
  coalesce("lineItem/intervalUsageEnd", "lineItem/intervalUsageStart" + INTERVAL 1 HOUR)
    AS ChargePeriodEnd,
  'Usage' AS ChargeCategory,
  CASE WHEN lower("lineItem/isCorrection") = 'true' THEN 'Correction' END AS ChargeClass,
  coalesce("product/Description", "product/service") AS ChargeDescription,
  'Usage-Based' AS ChargeFrequency,
  coalesce("usage/consumedQuantity", "usage/billedQuantity") AS ConsumedQuantity,
  "cost/skuUnitDescription" AS ConsumedUnit,
  "usage/billedQuantity" AS PricingQuantity,
  CASE WHEN "usage/billedQuantity" IS NOT NULL THEN "cost/skuUnitDescription" END AS PricingUnit,
  "cost/unitPrice" AS ContractedUnitPrice,
  "cost/unitPrice" AS ListUnitPrice,
  'Standard' AS PricingCategory,
  'Oracle' AS InvoiceIssuerName,
  'Oracle' AS ProviderName,
  'Oracle' AS ServiceProviderName,
  'Oracle' AS HostProviderName,
  'Oracle' AS PublisherName,
  "product/service" AS ServiceName,
  "product/region" AS RegionId,
  "product/region" AS RegionName,
  nullif("product/availabilityDomain", '') AS AvailabilityZone,
  "product/resourceId" AS ResourceId,
  CASE WHEN starts_with("product/resourceId", 'ocid1.')
    THEN split_part("product/resourceId", '.', 2)
    WHEN "product/resourceId" IS NOT NULL THEN "product/service" END AS ResourceType,
  "cost/productSku" AS SkuId,
  CASE WHEN "cost/productSku" IS NOT NULL THEN "product/Description" END AS SkuMeter,
  "cost/productSku" AS SkuPriceId,
  coalesce("product/compartmentId", "lineItem/tenantId") AS SubAccountId,
  "product/compartmentName" AS SubAccountName,
  'Compartment' AS SubAccountType,
  "cost/subscriptionId" AS x_SubscriptionId,
  "lineItem/referenceNo" AS x_ReferenceNo,
  "lineItem/backreferenceNo" AS x_BackreferenceNo,
  "cost/overageFlag" AS x_OverageFlag,
  "cost/myCostOverage"::VARCHAR AS x_CostOverage,
  "usage/billedQuantityOverage"::VARCHAR AS x_BilledQuantityOverage,
  "cost/unitPriceOverage"::VARCHAR AS x_UnitPriceOverage,
  "cost/billingUnitReadable" AS x_BillingUnitReadable,
  'ListCostFromContracted' AS x_SourceChanges
FROM block
"""


def oci_time(arr: pa.Array) -> convert.Converted:
    """OCI's ``2023-11-13T10:00Z`` (no seconds) and ISO 8601 times, as UTC timestamps."""
    text = convert._as_text(arr)
    return convert.to_timestamp(pc.replace_substring_regex(text, r"T(\d{2}:\d{2})Z$", r"T\1:00Z"))


class OciCostReader(NativeCostReader):
    """One OCI cost report (CSV or CSV.gz, as OCI writes them to its bucket)."""

    describes = "an OCI cost report (reports/cost-csv)"
    required = REQUIRED

    def __init__(
        self, path: Path, *, billing_account_name: str | None = None, careful: bool = False
    ) -> None:
        super().__init__(path, careful=careful)
        self.account_name = billing_account_name
        if not billing_account_name:
            self.notes.append(
                "the cost report has no tenancy name: BillingAccountName is the tenancy OCID "
                "(-o billing_account_name=NAME sets it)"
            )
        self.money = tuple(c for c in MONEY if c in self.header)
        self.tags = [h for h in self.header if h.startswith("tags/")]
        self.version = "oci-cost-report"
        self.columns = (*self.columns, *X_COLUMNS)

    def _convert(self, raw: pa.RecordBatch, first_record: int, progress: float) -> Batch:
        errors: Errors = {}
        dates = tuple(t for t in TIMES if t in self.header)
        typed = typed_block(self, raw, errors, dates=dates, parse_date=oci_time)
        arrays = complete(self.to_focus(typed), raw.num_rows)
        return self._split(raw, arrays, errors, first_record, progress)

    def to_focus(self, block: pa.Table) -> dict[str, pa.Array]:
        n = block.num_rows
        canon = {}
        for name in (*REQUIRED, *OPTIONAL):
            if name in block.column_names:
                canon[name] = block.column(name)
            else:
                kind = convert.DECIMAL if name in MONEY else pa.string()
                canon[name] = pa.nulls(n, convert.TIMESTAMP if name in TIMES else kind)
        out = self.sql(_SQL, pa.table(canon))
        arrays = {name: out.column(name) for name in out.column_names}
        arrays.update(service_categories(out.column("ServiceName"), SERVICES))
        for unit in ("ConsumedUnit", "PricingUnit"):
            arrays[unit] = map_unique(arrays[unit], oci_unit)
        arrays["Tags"] = self._tags(block)
        arrays["x_ReportFile"] = pa.repeat(report_name(self.path), n)
        ids = arrays["BillingAccountId"]
        account = self.account_name
        arrays["BillingAccountName"] = pa.repeat(account, n) if account else ids
        return arrays

    def _tags(self, block: pa.Table) -> pa.Array:
        """The ``tags/<namespace>.<key>`` columns as one JSON object per row (empty ones left
        out; NULL when a row has none)."""
        n = block.num_rows
        if not self.tags:
            return pa.nulls(n, pa.string())
        columns = [block.column(t).to_pylist() for t in self.tags]
        keys = [t.removeprefix("tags/") for t in self.tags]
        out: list[str | None] = []
        for i in range(n):
            found = {k: c[i] for k, c in zip(keys, columns, strict=True) if c[i]}
            out.append(json.dumps(found, ensure_ascii=False) if found else None)
        return pa.array(out, pa.string())


def report_name(path: Path) -> str:
    """The report's name (``reports_cost-csv_0000000030000269``), whatever it was saved as."""
    name = path.name
    for suffix in (".gz", ".csv"):
        name = name.removesuffix(suffix)
    return name


_UNIT_WORDS = {"per hour": "/Hour", "per month": "/Month"}


def oci_unit(text: str) -> str:
    """OCI's unit descriptions in FOCUS UnitFormat where a rewrite is exact (``GPU Per Hour`` ->
    ``GPU/Hour``, ``10,000 Transactions`` -> ``10000 Transactions``); others as given."""
    lowered = text.lower()
    for words, rate in _UNIT_WORDS.items():
        if lowered.endswith(" " + words):
            return text[: -len(words) - 1] + rate
    return text.replace(",", "") if text[:1].isdigit() else text


def open_oci(path: Path, **options: Any) -> OciCostReader:
    return OciCostReader(path, **options)


SPEC = register(
    SourceSpec(
        name="oci",
        description="Oracle Cloud (OCI) cost reports converted to FOCUS",
        formats=("csv", "csv.gz"),
        table="costs",
        open=open_oci,
        # OCI writes a month as many immutable report files (a few hours each); a load replaces
        # only the rows of the same report, so the files of a month add up.
        replace_keys=("x_ReportFile",),
        options={
            "billing_account_name": "the tenancy's name (the report has none; default: "
            "the tenancy OCID)"
        },
        export_hint="the cost reports OCI writes to its reports bucket "
        "(oci os object bulk-download -ns bling --prefix reports/cost-csv; docs/sources/oci.md)",
    )
)
