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
from aifinops.sources.azure_sql import FOCUS_SQL
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
        out = self.sql(FOCUS_SQL, pa.table(canon))
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
