"""The Google Cloud billing export's columns -> FOCUS (what both GCP readers share).

:class:`GcpConversion` resolves the export's column names (``service.description`` or
``service_description``), types a block and maps it with one DuckDB query (:data:`_SQL`); the
labels are merged into Tags in Python, once per distinct combination. The money semantics are in
the :mod:`aifinops.sources.gcp` docstring and docs/sources/gcp.md.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from aifinops.sources import convert
from aifinops.sources.native import complete, map_unique, service_categories, typed_block
from aifinops.sources.tabular import Errors

#: canonical (BigQuery) name -> accepted column names (lower case; ``.`` or ``_`` between parts)
FIELDS = (
    "billing_account_id",
    "service.id",
    "service.description",
    "sku.id",
    "sku.description",
    "usage_start_time",
    "usage_end_time",
    "project.id",
    "project.number",
    "project.name",
    "project.labels",
    "project.ancestry_numbers",
    "labels",
    "system_labels",
    "tags",
    "location.location",
    "location.country",
    "location.region",
    "location.zone",
    "resource.name",
    "resource.global_name",
    "export_time",
    "cost",
    "cost_at_list",
    "currency",
    "currency_conversion_rate",
    "usage.amount",
    "usage.unit",
    "usage.amount_in_pricing_units",
    "usage.pricing_unit",
    "credits",
    "invoice.month",
    "invoice.publisher_type",
    "cost_type",
    "adjustment_info.id",
    "adjustment_info.description",
    "adjustment_info.mode",
    "adjustment_info.type",
    "transaction_type",
    "seller_name",
    "price.effective_price",
)
REQUIRED = ("billing_account_id", "cost", "currency", "usage_start_time", "invoice.month")
MONEY = (
    "cost",
    "cost_at_list",
    "currency_conversion_rate",
    "usage.amount",
    "usage.amount_in_pricing_units",
    "price.effective_price",
)
TIMES = ("usage_start_time", "usage_end_time", "export_time")
LABELS = ("project.labels", "labels", "system_labels", "tags")  # later ones win a clash

#: service.description -> (ServiceCategory, ServiceSubcategory)
SERVICES: dict[str, tuple[str, str]] = {
    "compute engine": ("Compute", "Virtual Machines"),
    "kubernetes engine": ("Compute", "Containers"),
    "cloud run": ("Compute", "Serverless Compute"),
    "cloud run functions": ("Compute", "Serverless Compute"),
    "cloud functions": ("Compute", "Serverless Compute"),
    "app engine": ("Web", "Application Platforms"),
    "cloud storage": ("Storage", "Object Storage"),
    "filestore": ("Storage", "File Storage"),
    "bigquery": ("Databases", "Data Warehouses"),
    "cloud sql": ("Databases", "Relational Databases"),
    "cloud spanner": ("Databases", "Relational Databases"),
    "alloydb for postgresql": ("Databases", "Relational Databases"),
    "cloud bigtable": ("Databases", "NoSQL Databases"),
    "firestore": ("Databases", "NoSQL Databases"),
    "cloud memorystore for redis": ("Databases", "Caching"),
    "vertex ai": ("AI and Machine Learning", "Machine Learning"),
    "gemini api": ("AI and Machine Learning", "Generative AI"),
    "generative language api": ("AI and Machine Learning", "Generative AI"),
    "cloud tpu": ("AI and Machine Learning", "AI Platforms"),
    "networking": ("Networking", "Network Connectivity"),
    "cloud dns": ("Networking", "Network Infrastructure"),
    "cloud cdn": ("Networking", "Content Delivery"),
    "cloud load balancing": ("Networking", "Network Infrastructure"),
    "cloud logging": ("Management and Governance", "Observability"),
    "cloud monitoring": ("Management and Governance", "Observability"),
    "support": ("Management and Governance", "Support"),
    "cloud pub/sub": ("Integration", "Messaging"),
    "dataflow": ("Analytics", "Streaming Analytics"),
    "cloud dataproc": ("Analytics", "Data Processing"),
    "secret manager": ("Security", "Secret Management"),
    "artifact registry": ("Developer Tools", "Source Code Management"),
}

X_COLUMNS = (
    "x_CostType",
    "x_ServiceId",
    "x_ProjectNumber",
    "x_ProjectAncestry",
    "x_Location",
    "x_Country",
    "x_InvoiceMonth",
    "x_PublisherType",
    "x_TransactionType",
    "x_CreditsTotal",
    "x_Credits",
    "x_CurrencyConversionRate",
    "x_ExportTime",
    "x_AdjustmentInfo",
)

_SQL = """
WITH b AS (
  SELECT *,
    CASE WHEN json_valid(credits) THEN credits END AS cj,
    coalesce(cost_type, 'regular') AS ct
  FROM block
), c AS (
  SELECT *,
    coalesce(list_sum(list_transform(json_extract_string(cj, '$[*].amount'),
      a -> a::DECIMAL(38, 18))), 0::DECIMAL(38, 18)) AS credit_total,
    list_filter(json_extract(cj, '$[*]'),
      x -> (x->>'type') LIKE 'COMMITTED_USAGE_DISCOUNT%')[1] AS cud
  FROM b
)
SELECT
  cost + credit_total AS BilledCost,
  cost + credit_total AS EffectiveCost,
  cost AS ContractedCost,
  coalesce(cost_at_list, cost) AS ListCost,
  billing_account_id AS BillingAccountId,
  'Billing Account' AS BillingAccountType,
  upper(currency) AS BillingCurrency,
  upper(currency) AS PricingCurrency,
  strptime("invoice.month" || '01', '%Y%m%d')::TIMESTAMPTZ AS BillingPeriodStart,
  strptime("invoice.month" || '01', '%Y%m%d')::TIMESTAMPTZ + INTERVAL 1 MONTH AS BillingPeriodEnd,
  usage_start_time AS ChargePeriodStart,
  coalesce(usage_end_time, usage_start_time) AS ChargePeriodEnd,
  CASE ct WHEN 'tax' THEN 'Tax'
    WHEN 'adjustment' THEN CASE WHEN cost < 0 THEN 'Credit' ELSE 'Adjustment' END
    WHEN 'rounding_error' THEN 'Adjustment' WHEN 'rounding error' THEN 'Adjustment'
    ELSE 'Usage' END AS ChargeCategory,
  CASE WHEN ct = 'adjustment' AND "adjustment_info.mode" IN
    ('PARTIAL_CORRECTION', 'COMPLETE_NEGATION', 'COMPLETE_NEGATION_WITH_REMONETIZATION')
    THEN 'Correction' END AS ChargeClass,
  coalesce("adjustment_info.description", "sku.description") AS ChargeDescription,
  CASE WHEN ct = 'regular' THEN 'Usage-Based' ELSE 'One-Time' END AS ChargeFrequency,
  cud->>'id' AS CommitmentDiscountId,
  coalesce(cud->>'full_name', cud->>'name') AS CommitmentDiscountName,
  CASE WHEN cud IS NULL THEN NULL WHEN (cud->>'type') LIKE '%DOLLAR_BASE' THEN 'Spend'
    ELSE 'Usage' END AS CommitmentDiscountCategory,
  CASE WHEN cud IS NOT NULL THEN 'Committed Use Discount' END AS CommitmentDiscountType,
  CASE WHEN cud IS NOT NULL AND ct = 'regular' THEN 'Used' END AS CommitmentDiscountStatus,
  CASE WHEN ct = 'regular' THEN "usage.amount" END AS ConsumedQuantity,
  CASE WHEN ct = 'regular' THEN "usage.unit" END AS ConsumedUnit,
  CASE WHEN ct = 'regular' THEN "usage.amount_in_pricing_units" END AS PricingQuantity,
  CASE WHEN ct = 'regular' AND "usage.amount_in_pricing_units" IS NOT NULL
    THEN "usage.pricing_unit" END AS PricingUnit,
  "price.effective_price" AS ContractedUnitPrice,
  CASE WHEN ct <> 'regular' THEN NULL WHEN cud IS NOT NULL THEN 'Committed'
    WHEN "sku.description" ILIKE '%spot%' OR "sku.description" ILIKE '%preemptible%'
    THEN 'Dynamic' ELSE 'Standard' END AS PricingCategory,
  CASE WHEN transaction_type LIKE 'THIRD_PARTY%' AND seller_name IS NOT NULL THEN seller_name
    ELSE 'Google' END AS InvoiceIssuerName,
  'Google Cloud' AS ProviderName,
  'Google Cloud' AS ServiceProviderName,
  'Google Cloud' AS HostProviderName,
  CASE WHEN "invoice.publisher_type" = 'MARKETPLACE'
    THEN coalesce(seller_name, "service.description") ELSE 'Google Cloud' END AS PublisherName,
  coalesce("service.description", 'Google Cloud') AS ServiceName,
  "location.region" AS RegionId,
  "location.region" AS RegionName,
  "location.zone" AS AvailabilityZone,
  coalesce("resource.global_name", "resource.name") AS ResourceId,
  "resource.name" AS ResourceName,
  CASE WHEN "resource.global_name" IS NOT NULL THEN
    nullif(regexp_extract("resource.global_name", '^//([^/]+)/', 1) || '/'
      || regexp_extract("resource.global_name", '/([^/]+)/[^/]+$', 1), '/')
    WHEN "resource.name" IS NOT NULL THEN "service.description" END AS ResourceType,
  "sku.id" AS SkuId,
  CASE WHEN "sku.id" IS NOT NULL THEN "sku.description" END AS SkuMeter,
  "project.id" AS SubAccountId,
  "project.name" AS SubAccountName,
  CASE WHEN "project.id" IS NOT NULL THEN 'Project' END AS SubAccountType,
  ct AS x_CostType,
  "service.id" AS x_ServiceId,
  "project.number" AS x_ProjectNumber,
  "project.ancestry_numbers" AS x_ProjectAncestry,
  "location.location" AS x_Location,
  "location.country" AS x_Country,
  "invoice.month" AS x_InvoiceMonth,
  "invoice.publisher_type" AS x_PublisherType,
  transaction_type AS x_TransactionType,
  credit_total::VARCHAR AS x_CreditsTotal,
  CASE WHEN cj IS NOT NULL AND json_array_length(cj) > 0 THEN cj END AS x_Credits,
  currency_conversion_rate::VARCHAR AS x_CurrencyConversionRate,
  strftime(export_time, '%Y-%m-%dT%H:%M:%S.%fZ') AS x_ExportTime,
  CASE WHEN "adjustment_info.id" IS NOT NULL THEN json_object('id', "adjustment_info.id",
    'description', "adjustment_info.description", 'mode', "adjustment_info.mode",
    'type', "adjustment_info.type")::VARCHAR END AS x_AdjustmentInfo,
  lower(coalesce("service.description", '')) AS service_key
FROM c
"""


_TIME_UNITS = {"second", "minute", "hour", "day", "month", "year"}


def gcp_unit(text: str) -> str:
    """Google's ``byte-seconds`` / ``gibibyte hour`` in FOCUS UnitFormat: a time after a hyphen
    is the plural, capitalised (``byte-Seconds``); other units stay as Google writes them."""
    unit, dash, time = text.rpartition("-")
    if dash and time.rstrip("s").lower() in _TIME_UNITS:
        return f"{unit}-{time.rstrip('s').capitalize()}s"
    return text


def gcp_time(arr: pa.Array) -> convert.Converted:
    """BigQuery's ``2024-03-01 00:00:00 UTC`` (and ISO 8601) as UTC timestamps."""
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = pc.replace_substring_regex(arr, r"\s+UTC$", "Z")
    return convert.to_timestamp(arr)


class GcpConversion:
    """What both GCP readers share: column names, typing and the FOCUS mapping."""

    describes = "a Google Cloud billing export (standard or detailed usage cost)"
    sql: Callable[[str, pa.Table], pa.Table]
    warnings: Counter[str]
    notes: list[str]
    money: tuple[str, ...]
    times: tuple[str, ...]

    def _name_account(self, name: str | None) -> None:
        self.account_name = name
        if not name:
            self.notes.append(
                "the billing export has no billing account name: BillingAccountName is the "
                "billing account id (-o billing_account_name=NAME sets it)"
            )

    def _resolve(self, header: list[str]) -> None:
        by_name = {h.lower(): h for h in header}
        self.names: dict[str, str | None] = {}
        for field in FIELDS:
            found = [by_name.get(a) for a in (field, field.replace(".", "_"))]
            self.names[field] = next((f for f in found if f is not None), None)
        self.money = tuple(n for f in MONEY if (n := self.names[f]))
        self.dates = tuple(n for f in TIMES if (n := self.names[f]))

    def convert_block(self, raw: pa.RecordBatch, errors: Errors) -> dict[str, pa.Array]:
        typed = typed_block(self, raw, errors, dates=self.dates, parse_date=gcp_time)
        self._check_required(typed, errors)
        arrays = self.gcp_focus(typed, errors, raw)
        return complete(arrays, raw.num_rows)

    def _check_required(self, typed: pa.Table, errors: Errors) -> None:
        for field in REQUIRED:
            native = self.names[field]
            if native is None:
                for i in range(typed.num_rows):
                    errors.setdefault(i, []).append((field, "missing value", None))
                continue
            for i in pc.indices_nonzero(pc.is_null(typed.column(native))).to_pylist():
                if not any(c == native for c, _, _ in errors.get(i, [])):
                    errors.setdefault(i, []).append((native, "missing value", None))

    def gcp_focus(
        self, block: pa.Table, errors: Errors, raw: pa.RecordBatch
    ) -> dict[str, pa.Array]:
        n = block.num_rows
        canon = {
            f: block.column(native) if native is not None else pa.nulls(n, _absent(f))
            for f, native in self.names.items()
        }
        table = pa.table(canon)
        self._check_credits(table, errors, raw)
        out = self.sql(_SQL, table)
        arrays = {name: out.column(name) for name in out.column_names}
        arrays.update(service_categories(arrays.pop("service_key"), SERVICES))
        arrays["Tags"] = merged_labels(table, self.names, errors, raw)
        name = self.account_name
        ids = arrays["BillingAccountId"]
        arrays["BillingAccountName"] = pa.repeat(name, n) if name else ids
        for name in ("ConsumedUnit", "PricingUnit"):
            arrays[name] = map_unique(arrays[name], gcp_unit)
        return arrays

    def _check_credits(self, table: pa.Table, errors: Errors, raw: pa.RecordBatch) -> None:
        native = self.names["credits"]
        if native is None:
            return
        indexed = pa.table(
            {"i": pa.array(range(table.num_rows), pa.int64()), "credits": table.column("credits")}
        )
        bad = self.sql(
            "SELECT i FROM block WHERE credits IS NOT NULL AND (NOT json_valid(credits) OR "
            "json_type(credits::JSON) <> 'ARRAY' OR list_bool_or(list_transform("
            "json_extract(credits, '$[*]'), c -> json_type(c) <> 'OBJECT' OR "
            "TRY_CAST(c->>'amount' AS DECIMAL(38, 18)) IS NULL))) ORDER BY i",
            indexed,
        ).column("i")
        column = raw.column(raw.schema.get_field_index(native))
        for i in bad.to_pylist():
            errors.setdefault(i, []).append(
                (native, "not a JSON array of credits with amounts", str(column[i].as_py()))
            )


def _absent(field: str) -> pa.DataType:
    if field in MONEY:
        return convert.DECIMAL
    return convert.TIMESTAMP if field in TIMES else pa.string()


def merged_labels(
    table: pa.Table, names: dict[str, str | None], errors: Errors, raw: pa.RecordBatch
) -> pa.Array:
    """``project.labels``, ``labels``, ``system_labels`` and ``tags`` (arrays of key/value
    records as JSON text) merged into one JSON object per row; a later one wins a clash."""
    present = [f for f in LABELS if names[f] is not None]
    n = table.num_rows
    if not present:
        return pa.nulls(n, pa.string())
    parts = [pc.fill_null(table.column(f), "") for f in present]
    joined = pc.binary_join_element_wise(*parts, "\x1f")
    uniques = pc.unique(joined).to_pylist()
    results = {u: _labels_object(u.split("\x1f"), present) for u in uniques}
    positions = pc.index_in(joined, value_set=pa.array(uniques, pa.string()))
    values = pa.array([results[u][0] for u in uniques], pa.string())
    out = pc.take(values, positions)
    for u, (_, problem) in results.items():
        if problem is None:
            continue
        field = problem
        native = names[field] or field
        column = raw.column(raw.schema.get_field_index(native))
        for i in pc.indices_nonzero(pc.equal(joined, u)).to_pylist():
            errors.setdefault(i, []).append(
                (native, "not a JSON array of key/value labels", str(column[i].as_py()))
            )
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def _labels_object(texts: list[str], fields: list[str]) -> tuple[str | None, str | None]:
    merged: dict[str, str] = {}
    for text, field in zip(texts, fields, strict=True):
        if not text:
            continue
        try:
            items = json.loads(text)
            for item in items:
                key = item["key"]
                if field == "tags" and item.get("namespace"):
                    key = f"{item['namespace']}/{key}"
                merged[str(key)] = "" if item.get("value") is None else str(item["value"])
        except (ValueError, TypeError, KeyError):
            return None, field
    return (json.dumps(merged, ensure_ascii=False, sort_keys=True) if merged else None), None
