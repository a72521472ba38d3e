"""Azure cost details (EA and MCA; actual and amortized) -> FOCUS rows of ``costs``.

Follows Microsoft's own conversion ("Convert Cost Management data to FOCUS", FinOps toolkit,
and its ``ConvertTo-FinOpsSchema``): keep every row of the *amortized* dataset, and from the
*actual* dataset only the commitment (reservation, savings plan) purchases and refunds. On an
amortized row that a commitment covers, BilledCost is 0 (the cash went out with the purchase) and
EffectiveCost is the amortized cost; a commitment purchase has EffectiveCost 0 (it is spread over
the usage, and the unused part is shown by ``UnusedReservation``/``UnusedSavingsPlan`` rows,
CommitmentDiscountStatus ``Unused``).

A file is one dataset (``-o dataset=actual|amortized``; by default the file name or its rows
say which). Rows carry ``x_CostDataset``, which is part of the replace keys, so a newer actual
file replaces only actual rows and a newer amortized file only amortized rows. After each load,
:func:`combine_datasets` keeps, for every billing account and period that has both datasets,
only the commitment purchases and refunds of the actual one: actual and amortized files give
the same totals whichever order or load they come in. See ``docs/sources/azure.md``.

Column names differ between EA and MCA and between schema versions (``Cost`` /
``CostInBillingCurrency`` / ``PreTaxCost``, ``BillingCurrency`` / ``BillingCurrencyCode``,
``benefitId`` / ``BenefitId``, ``MM/DD/YYYY`` or ISO dates): :data:`ALIASES` lists the names each
fact goes by, matched ignoring case.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from aifinops.errors import IngestError
from aifinops.sources import convert
from aifinops.sources.azure_datasets import combine_datasets
from aifinops.sources.base import Batch, SourceSpec, register
from aifinops.sources.files import FileFormat
from aifinops.sources.native import (
    NativeCostReader,
    complete,
    exact_product,
    map_unique,
    one_chunk,
    service_categories,
    typed_block,
)
from aifinops.sources.tabular import Errors

#: canonical name -> the native column names it goes by (lower case, first found wins)
ALIASES: dict[str, tuple[str, ...]] = {
    "cost": ("costinbillingcurrency", "cost", "pretaxcost"),
    "currency": ("billingcurrencycode", "billingcurrency", "currency"),
    "date": ("date", "usagedate"),
    "bp_start": ("billingperiodstartdate",),
    "bp_end": ("billingperiodenddate",),
    "account_id": ("billingaccountid",),
    "account_name": ("billingaccountname",),
    "profile_id": ("billingprofileid",),
    "profile_name": ("billingprofilename",),
    "sub_id": ("subscriptionid", "subscriptionguid"),
    "sub_name": ("subscriptionname",),
    "resource_id": ("resourceid", "instancename"),
    "resource_name": ("resourcename",),
    "resource_group": ("resourcegroup", "resourcegroupname"),
    "location": ("resourcelocation", "location", "resourcelocationnormalized"),
    "zone": ("availabilityzone",),
    "product": ("productname", "product"),
    "product_id": ("productid",),
    "part_number": ("partnumber",),
    "quantity": ("quantity",),
    "unit_price": ("unitprice",),
    "effective_price": ("effectiveprice",),
    "payg_price": ("paygprice",),
    "payg_cost": ("paygcostinbillingcurrency",),
    "cost_usd": ("costinusd",),
    "charge_type": ("chargetype",),
    "pricing_model": ("pricingmodel",),
    "frequency": ("frequency",),
    "benefit_id": ("benefitid",),
    "benefit_name": ("benefitname",),
    "reservation_id": ("reservationid",),
    "reservation_name": ("reservationname",),
    "product_order_id": ("productorderid",),
    "meter_id": ("meterid",),
    "meter_name": ("metername",),
    "meter_category": ("metercategory",),
    "meter_subcategory": ("metersubcategory",),
    "meter_region": ("meterregion",),
    "unit": ("unitofmeasure",),
    "consumed_service": ("consumedservice",),
    "publisher_name": ("publishername",),
    "publisher_type": ("publishertype",),
    "invoice_id": ("invoiceid",),
    "invoice_section": ("invoicesectionname", "invoicesection"),
    "cost_center": ("costcenter",),
    "tags": ("tags",),
    "additional_info": ("additionalinfo",),
    "partner_name": ("partnername",),
}
REQUIRED = ("cost", "currency", "date", "bp_start", "account_id", "charge_type", "quantity")
MONEY = ("cost", "quantity", "unit_price", "effective_price", "payg_price", "payg_cost", "cost_usd")
DATES = ("date", "bp_start", "bp_end")

ACTUAL, AMORTIZED = "ActualCost", "AmortizedCost"
DATASETS = {"actual": ACTUAL, "amortized": AMORTIZED}

#: MeterCategory -> (ServiceCategory, ServiceSubcategory); others are Other / Other (Other)
SERVICES: dict[str, tuple[str, str]] = {
    "virtual machines": ("Compute", "Virtual Machines"),
    "virtual machines licenses": ("Compute", "Virtual Machines"),
    "cloud services": ("Compute", "Other (Compute)"),
    "container instances": ("Compute", "Containers"),
    "azure kubernetes service": ("Compute", "Containers"),
    "container registry": ("Compute", "Containers"),
    "functions": ("Compute", "Serverless Compute"),
    "azure app service": ("Web", "Application Platforms"),
    "storage": ("Storage", "Storage Platforms"),
    "backup": ("Storage", "Backup Storage"),
    "azure netapp files": ("Storage", "File Storage"),
    "bandwidth": ("Networking", "Network Connectivity"),
    "virtual network": ("Networking", "Network Infrastructure"),
    "load balancer": ("Networking", "Network Infrastructure"),
    "vpn gateway": ("Networking", "Network Connectivity"),
    "expressroute": ("Networking", "Network Connectivity"),
    "content delivery network": ("Networking", "Content Delivery"),
    "azure front door service": ("Networking", "Content Delivery"),
    "azure dns": ("Networking", "Network Infrastructure"),
    "azure firewall": ("Networking", "Network Security"),
    "application gateway": ("Networking", "Application Networking"),
    "sql database": ("Databases", "Relational Databases"),
    "sql managed instance": ("Databases", "Relational Databases"),
    "azure database for mysql": ("Databases", "Relational Databases"),
    "azure database for postgresql": ("Databases", "Relational Databases"),
    "azure cosmos db": ("Databases", "NoSQL Databases"),
    "redis cache": ("Databases", "Caching"),
    "azure synapse analytics": ("Databases", "Data Warehouses"),
    "azure databricks": ("Analytics", "Data Processing"),
    "azure data factory v2": ("Integration", "Workflow Orchestration"),
    "log analytics": ("Management and Governance", "Observability"),
    "azure monitor": ("Management and Governance", "Observability"),
    "advanced threat protection": ("Security", "Threat Detection and Response"),
    "advanced data security": ("Security", "Threat Detection and Response"),
    "microsoft defender for cloud": ("Security", "Threat Detection and Response"),
    "key vault": ("Security", "Secret Management"),
    "cognitive services": ("AI and Machine Learning", "AI Platforms"),
    "azure openai service": ("AI and Machine Learning", "Generative AI"),
    "azure machine learning": ("AI and Machine Learning", "Machine Learning"),
    "service bus": ("Integration", "Messaging"),
    "event hubs": ("Integration", "Messaging"),
    "logic apps": ("Integration", "Workflow Orchestration"),
    "api management": ("Integration", "API Management"),
}

#: x_ columns this converter adds (native facts FOCUS has no column for)
X_COLUMNS = (
    "x_CostDataset",
    "x_AccountType",
    "x_ChargeType",
    "x_PricingModel",
    "x_BillingProfileId",
    "x_BillingProfileName",
    "x_ResourceGroupName",
    "x_MeterCategory",
    "x_MeterSubCategory",
    "x_MeterRegion",
    "x_EffectiveUnitPrice",
    "x_CostInUsd",
    "x_InvoiceSectionName",
    "x_CostCenter",
    "x_PublisherType",
    "x_AdditionalInfo",
    "x_PricingUnitDescription",
    "x_SourceChanges",
)

_SQL = """
WITH b AS (
  SELECT *,
    coalesce(charge_type IN ('Purchase', 'Refund')
      AND pricing_model IN ('Reservation', 'SavingsPlan'), false) AS commitment_purchase,
    coalesce(charge_type IN ('UnusedReservation', 'UnusedSavingsPlan')
      OR (charge_type = 'Usage' AND pricing_model IN ('Reservation', 'SavingsPlan')), false)
      AS commitment_usage,
    coalesce(nullif(benefit_id, ''), CASE WHEN nullif(reservation_id, '') IS NOT NULL THEN
      '/providers/Microsoft.Capacity/reservationOrders/' || coalesce(product_order_id, '')
      || '/reservations/' || reservation_id END) AS commitment_id,
    profile_id IS NOT NULL AND profile_id <> account_id AS mca,
    CASE WHEN coalesce(payg_price, 0) = 0 AND coalesce(unit_price, 0) <> 0 THEN unit_price
      ELSE payg_price END AS list_price,
    coalesce(nullif(tags, ''), NULL) AS tag_text,
    coalesce(unit_price < 0, false) AS flipped
  FROM block
), p AS (
  SELECT * REPLACE (
    CASE WHEN flipped THEN -unit_price ELSE unit_price END AS unit_price,
    CASE WHEN flipped THEN -quantity ELSE quantity END AS quantity,
    CASE WHEN flipped THEN -list_price ELSE list_price END AS list_price)
  FROM b
)
SELECT
  CASE WHEN commitment_usage THEN 0::DECIMAL(38, 18) ELSE cost END AS BilledCost,
  CASE WHEN commitment_purchase THEN 0::DECIMAL(38, 18) ELSE cost END AS EffectiveCost,
  CASE WHEN mca THEN profile_id ELSE account_id END AS BillingAccountId,
  CASE WHEN mca THEN coalesce(profile_name, account_name) ELSE account_name END
    AS BillingAccountName,
  CASE WHEN mca THEN 'Billing Profile' ELSE 'Billing Account' END AS BillingAccountType,
  CASE WHEN mca THEN 'MCA' ELSE 'EA' END AS x_AccountType,
  upper(currency) AS BillingCurrency,
  bp_start AS BillingPeriodStart,
  CASE WHEN bp_end IS NULL THEN bp_start + INTERVAL 1 MONTH
    WHEN bp_end = date_trunc('day', bp_end) THEN bp_end + INTERVAL 1 DAY
    ELSE bp_end END AS BillingPeriodEnd,
  date AS ChargePeriodStart,
  date + INTERVAL 1 DAY AS ChargePeriodEnd,
  CASE WHEN charge_type IN ('Usage', 'Purchase', 'Credit', 'Tax') THEN charge_type
    WHEN charge_type IN ('UnusedReservation', 'UnusedSavingsPlan') THEN 'Usage'
    WHEN charge_type = 'Refund' THEN 'Purchase'
    ELSE 'Adjustment' END AS ChargeCategory,
  CASE WHEN charge_type = 'Refund' THEN 'Correction' END AS ChargeClass,
  coalesce(product, meter_name) AS ChargeDescription,
  CASE WHEN frequency = 'OneTime' THEN 'One-Time' WHEN frequency = 'Recurring' THEN 'Recurring'
    WHEN frequency = 'UsageBased' THEN 'Usage-Based'
    WHEN charge_type LIKE '%Usage%' OR charge_type LIKE 'Unused%' THEN 'Usage-Based'
    ELSE 'One-Time' END AS ChargeFrequency,
  commitment_id AS CommitmentDiscountId,
  CASE WHEN commitment_id IS NOT NULL THEN coalesce(benefit_name, reservation_name) END
    AS CommitmentDiscountName,
  CASE WHEN commitment_id IS NULL THEN NULL
    WHEN lower(commitment_id) LIKE '%/microsoft.capacity/%' THEN 'Usage'
    WHEN lower(commitment_id) LIKE '%/microsoft.billingbenefits/%' THEN 'Spend'
    WHEN pricing_model = 'SavingsPlan' THEN 'Spend' ELSE 'Usage' END
    AS CommitmentDiscountCategory,
  CASE WHEN commitment_id IS NULL THEN NULL
    WHEN lower(commitment_id) LIKE '%/microsoft.billingbenefits/%'
      OR pricing_model = 'SavingsPlan' THEN 'Savings Plan' ELSE 'Reservation' END
    AS CommitmentDiscountType,
  CASE WHEN commitment_id IS NULL THEN NULL
    WHEN charge_type IN ('UnusedReservation', 'UnusedSavingsPlan') THEN 'Unused'
    WHEN charge_type = 'Usage' AND pricing_model IN ('Reservation', 'SavingsPlan') THEN 'Used'
    END AS CommitmentDiscountStatus,
  CASE WHEN charge_type = 'Usage' THEN quantity END AS ConsumedQuantity,
  CASE WHEN charge_type = 'Usage' THEN unit END AS ConsumedUnit,
  CASE WHEN charge_type IN ('Usage', 'Purchase', 'Refund') OR charge_type LIKE 'Unused%'
    THEN quantity END AS PricingQuantity,
  CASE WHEN charge_type IN ('Usage', 'Purchase', 'Refund') OR charge_type LIKE 'Unused%'
    THEN coalesce(nullif(unit, ''), '1') END AS PricingUnit,
  unit AS x_PricingUnitDescription,
  list_price AS ListUnitPrice,
  unit_price AS ContractedUnitPrice,
  CASE WHEN pricing_model = 'Spot' THEN 'Dynamic'
    WHEN pricing_model IN ('Reservation', 'SavingsPlan') THEN 'Committed'
    WHEN charge_type IN ('Usage', 'Purchase', 'Refund') THEN 'Standard'
    WHEN charge_type LIKE 'Unused%' THEN 'Committed' END AS PricingCategory,
  currency AS PricingCurrency,
  coalesce(partner_name, 'Microsoft') AS InvoiceIssuerName,
  'Microsoft' AS ProviderName,
  'Microsoft' AS ServiceProviderName,
  'Microsoft' AS HostProviderName,
  coalesce(nullif(publisher_name, ''), 'Microsoft') AS PublisherName,
  invoice_id AS InvoiceId,
  coalesce(nullif(meter_category, ''), nullif(consumed_service, ''), nullif(meter_name, ''),
    'Microsoft Azure') AS ServiceName,
  nullif(lower(replace(location, ' ', '')), '') AS RegionId,
  nullif(location, '') AS RegionName,
  nullif(zone, '') AS AvailabilityZone,
  nullif(resource_id, '') AS ResourceId,
  coalesce(nullif(resource_name, ''),
    nullif(regexp_extract(resource_id, '[^/]+$'), '')) AS ResourceName,
  nullif(regexp_extract(lower(resource_id), '/providers/([^/]+/[^/]+)', 1), '') AS ResourceType,
  coalesce(product_id, part_number) AS SkuId,
  meter_id AS SkuPriceId,
  CASE WHEN coalesce(product_id, part_number) IS NOT NULL THEN meter_name END AS SkuMeter,
  sub_id AS SubAccountId,
  sub_name AS SubAccountName,
  CASE WHEN sub_id IS NOT NULL THEN 'Subscription' END AS SubAccountType,
  CASE WHEN tag_text IS NULL THEN NULL WHEN starts_with(ltrim(tag_text), '{') THEN tag_text
    ELSE '{' || tag_text || '}' END AS Tags,
  charge_type AS x_ChargeType,
  pricing_model AS x_PricingModel,
  profile_id AS x_BillingProfileId,
  profile_name AS x_BillingProfileName,
  resource_group AS x_ResourceGroupName,
  meter_category AS x_MeterCategory,
  meter_subcategory AS x_MeterSubCategory,
  meter_region AS x_MeterRegion,
  effective_price::VARCHAR AS x_EffectiveUnitPrice,
  cost_usd::VARCHAR AS x_CostInUsd,
  invoice_section AS x_InvoiceSectionName,
  cost_center AS x_CostCenter,
  publisher_type AS x_PublisherType,
  additional_info AS x_AdditionalInfo,
  nullif(concat_ws(',',
    CASE WHEN coalesce(payg_price, 0) = 0 AND coalesce(unit_price, 0) <> 0
      THEN 'ListUnitPriceFromContracted' END,
    CASE WHEN flipped THEN 'NegativeUnitPriceAsNegativeQuantity' END), '') AS x_SourceChanges,
  lower(coalesce(meter_category, '')) AS service_key,
  payg_cost
FROM p
"""


class AzureCostReader(NativeCostReader):
    """One Azure cost details file (EA or MCA, actual or amortized, CSV/CSV.gz/Parquet)."""

    describes = "an Azure cost details file (EA or MCA, actual or amortized)"

    def __init__(self, path: Path, *, dataset: str = "auto", careful: bool = False) -> None:
        super().__init__(path, careful=careful)
        lower = {h.lower(): h for h in self.header}
        self.names: dict[str, str | None] = {
            canon: next((lower[a] for a in aliases if a in lower), None)
            for canon, aliases in ALIASES.items()
        }
        missing = [ALIASES[c][0] for c in REQUIRED if self.names[c] is None]
        if missing:
            raise IngestError(
                f"missing column(s) of {self.describes}: {', '.join(missing)}",
                where=str(path),
                hint="export 'Cost and usage details' (actual or amortized) with all columns",
            )
        self.money = tuple(n for c in MONEY if (n := self.names[c]))
        self.dates = tuple(n for c in DATES if (n := self.names[c]))
        self.dataset = self._which_dataset(dataset)
        self.version = f"azure-{self.dataset}"
        self.columns = (*self.columns, *X_COLUMNS)

    # -- which dataset -------------------------------------------------------------------------

    def _which_dataset(self, option: str) -> str:
        wanted = option.strip().lower()
        if wanted in DATASETS:
            return DATASETS[wanted]
        if wanted != "auto":
            raise IngestError(
                f"unknown dataset {option!r}",
                where=str(self.path),
                hint="use -o dataset=actual, -o dataset=amortized or leave it out (auto)",
            )
        name = self.path.name.lower()
        if "amortized" in name or "amortised" in name:
            return AMORTIZED
        if "actual" in name:
            return ACTUAL
        return self._dataset_from_rows()

    def _dataset_from_rows(self) -> str:
        """Actual when the file has commitment purchases, amortized when it has commitment
        usage with a cost or unused commitment rows (one scan of three columns)."""
        n = self.names
        col = {k: '"' + str(n[k]).replace('"', '""') + '"' for k in ("charge_type", "cost")}
        model = n["pricing_model"]
        pm = '"' + model.replace('"', '""') + '"' if model else "NULL"
        source = _scan_source(self.path, self.format, self.delimiter)
        with duckdb.connect() as con:
            actual, amortized = con.execute(
                f"SELECT count(*) FILTER (WHERE {col['charge_type']} IN ('Purchase', 'Refund') "
                f"AND {pm} IN ('Reservation', 'SavingsPlan')), "
                f"count(*) FILTER (WHERE {col['charge_type']} LIKE 'Unused%' OR "
                f"({col['charge_type']} = 'Usage' AND {pm} IN ('Reservation', 'SavingsPlan') "
                f"AND TRY_CAST({col['cost']} AS DOUBLE) <> 0)) FROM {source}"
            ).fetchone() or (0, 0)
        if actual and amortized:
            raise IngestError(
                "the file has both commitment purchases (actual cost) and amortized commitment "
                "usage (amortized cost)",
                where=str(self.path),
                hint="say which dataset it is with -o dataset=actual or -o dataset=amortized",
            )
        if amortized:
            self.notes.append("read as the amortized cost dataset (it has amortized commitments)")
            return AMORTIZED
        why = "it has commitment purchases" if actual else "it has no commitment rows"
        self.notes.append(f"read as the actual cost dataset ({why}; -o dataset= overrides)")
        return ACTUAL

    # -- converting ----------------------------------------------------------------------------

    def _convert(self, raw: pa.RecordBatch, first_record: int, progress: float) -> Batch:
        errors: Errors = {}
        typed = typed_block(self, raw, errors, dates=self.dates, parse_date=azure_dates)
        arrays = self.to_focus(typed)
        check_tags(self, arrays["Tags"], self.names["tags"] or "Tags", errors, raw)
        return self._split(raw, complete(arrays, raw.num_rows), errors, first_record, progress)

    def to_focus(self, block: pa.Table) -> dict[str, pa.Array]:
        n = len(block)
        canon = {
            c: block.column(native) if native is not None else pa.nulls(n, _absent_type(c))
            for c, native in self.names.items()
        }
        out = self.sql(_SQL, pa.table(canon))
        arrays = {name: out.column(name) for name in out.column_names}
        arrays["x_CostDataset"] = pa.repeat(self.dataset, n)
        quantity = arrays["PricingQuantity"]
        # Rows without a quantity (adjustments) cost what they are billed at any price.
        billed = arrays["BilledCost"]
        arrays["ListCost"] = pc.coalesce(
            arrays.pop("payg_cost"), exact_product(arrays["ListUnitPrice"], quantity), billed
        )
        contracted = exact_product(arrays["ContractedUnitPrice"], quantity)
        arrays["ContractedCost"] = pc.coalesce(contracted, billed)
        for name in ("PricingUnit", "ConsumedUnit"):
            arrays[name] = unit_format(arrays[name])
        arrays.update(service_categories(arrays.pop("service_key"), SERVICES))
        return arrays


_UNIT = re.compile(r"^\s*(\d+)\s*([KM]?)\s*(.*?)\s*$")
#: the FOCUS UnitFormat, simplified: a unit, a unit per time, or a count of units
_UNIT_FORMAT = re.compile(
    r"^([0-9]+ )?[A-Za-z][A-Za-z0-9]*( [A-Za-z][A-Za-z0-9]*)*"
    r"(-(Years|Months|Days|Hours|Minutes|Seconds)|/(Year|Month|Day|Hour|Minute|Second))?$"
)


def azure_unit(text: str) -> str:
    """Azure's UnitOfMeasure (``1 Hour``, ``10K``, ``1 /Month``, ``100 GB/Month``) in FOCUS
    UnitFormat where it can be said exactly (``1 Hour``, ``10000 Units``, ``Units/Month``); the
    block size stays in the unit, so quantities and prices are not rescaled. Otherwise as given.
    """
    match = _UNIT.match(text)
    if match is None:
        return text
    count = int(match[1]) * {"": 1, "K": 1000, "M": 1_000_000}[match[2]]
    unit = match[3] or "Units"
    if unit.startswith("/"):
        unit = "Units" + unit
    candidate = unit if "/" in unit and count == 1 else f"{count} {unit}"
    return candidate if _UNIT_FORMAT.match(candidate) else text


def unit_format(units: pa.Array | pa.ChunkedArray) -> pa.Array:
    return map_unique(units, azure_unit)


def _absent_type(canonical: str) -> pa.DataType:
    if canonical in MONEY:
        return convert.DECIMAL
    return convert.TIMESTAMP if canonical in DATES else pa.string()


def azure_dates(arr: pa.Array) -> convert.Converted:
    """``MM/DD/YYYY`` (older EA exports) or ISO 8601 dates, as UTC timestamps."""
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return convert.to_timestamp(arr)  # typed (Parquet exports)
    text = convert._as_text(arr)
    us = pc.strptime(text, format="%m/%d/%Y", unit="us", error_is_null=True)
    us = pc.cast(pc.assume_timezone(us, "UTC"), convert.TIMESTAMP)
    if us.null_count == text.null_count:
        return convert.Converted(us)
    rest = convert.to_timestamp(pc.if_else(pc.is_null(us), text, pa.scalar(None, pa.string())))
    return convert.Converted(pc.coalesce(us, rest.values), rest.errors)


def check_tags(
    reader: NativeCostReader,
    tags: pa.Array | pa.ChunkedArray,
    native: str,
    errors: Errors,
    raw: pa.RecordBatch,
) -> None:
    """Record rows whose Tags are not a JSON object (under the native column name)."""
    tags = one_chunk(tags)
    if tags.null_count == len(tags):
        return
    block = pa.table({"i": pa.array(range(len(tags)), pa.int64()), "v": tags})
    bad = reader.sql(
        "SELECT i FROM block WHERE v IS NOT NULL AND "
        "(NOT json_valid(v) OR json_type(v::JSON) <> 'OBJECT')",
        block,
    ).column("i")
    position = raw.schema.get_field_index(native)
    for i in bad.to_pylist():
        value = raw.column(position)[i].as_py() if position >= 0 else tags[i].as_py()
        errors.setdefault(i, []).append((native, "tags are not a JSON object", value))


def _scan_source(path: Path, fmt: FileFormat, delimiter: str) -> str:
    quoted = "'" + str(path).replace("'", "''") + "'"
    if fmt is FileFormat.PARQUET:
        return f"read_parquet({quoted})"
    sep = delimiter.replace("'", "''")
    return f"read_csv({quoted}, all_varchar = true, header = true, delim = '{sep}')"


def open_azure(path: Path, **options: Any) -> AzureCostReader:
    return AzureCostReader(path, **options)


SPEC = register(
    SourceSpec(
        name="azure",
        description="Azure cost details (EA and MCA; actual and amortized) converted to FOCUS",
        formats=("csv", "csv.gz", "parquet"),
        table="costs",
        open=open_azure,
        replace_keys=("BillingAccountId", "BillingPeriodStart", "x_CostDataset"),
        options={
            "dataset": "actual, amortized or auto (default: from the file name, else its rows); "
            "give both datasets of a month for BilledCost and EffectiveCost to be complete"
        },
        after_load=combine_datasets,
        export_hint="Cost Management exports 'Cost and usage details (actual)' and '(amortized)' "
        "(docs/sources/azure.md)",
    )
)
