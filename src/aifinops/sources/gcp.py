"""Google Cloud billing export to BigQuery (standard and detailed usage cost) -> FOCUS ``costs``.

Two shapes of the same table are read:

* **CSV / CSV.gz / Parquet**, flattened as a query writes it: nested fields as
  ``service.description`` (or ``service_description``), the repeated records ``credits``,
  ``labels``, ``project.labels``, ``system_labels`` and ``tags`` as JSON text
  (``TO_JSON_STRING(credits)``);
* **JSON lines** (``bq extract --destination_format NEWLINE_DELIMITED_JSON``, plain or gzip):
  nested records as objects, repeated records as arrays, NULL fields left out. Read a few
  megabytes at a time (memory stays bounded); a line that is not a JSON object is quarantined
  with its line number.

Money follows Google's invoice: the invoice total of a month is ``SUM(cost) + SUM(credits.amount)``
(credits are negative), so a row's BilledCost is its cost plus its credits (sustained and
committed use discounts, free tier, promotions, reseller margins, ...), ContractedCost its cost
before credits, ListCost ``cost_at_list`` where the export has it. Google bills committed use
fees as they accrue (daily rows), so nothing is prepaid and EffectiveCost = BilledCost; the
committed use discount shows as CommitmentDiscount* columns on the rows its credit covers.
``cost_type`` gives the ChargeCategory (regular -> Usage, tax -> Tax, adjustment -> Credit or
Adjustment, rounding_error -> Adjustment). See ``docs/sources/gcp.md``.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
from isal import igzip

from aifinops.errors import IngestError
from aifinops.sources import convert
from aifinops.sources.azure import map_unique, typed_block
from aifinops.sources.base import Batch, Rejection, SourceSpec, register
from aifinops.sources.files import GZIP_MAGIC
from aifinops.sources.native import NativeCostReader, complete, focus_columns
from aifinops.sources.tabular import MAX_REJECTIONS, Errors, rejection

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


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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
        keys = arrays.pop("service_key").to_pylist()
        found = [SERVICES.get(k, ("Other", "Other (Other)")) for k in keys]
        arrays["ServiceCategory"] = pa.array([f[0] for f in found], pa.string())
        arrays["ServiceSubcategory"] = pa.array([f[1] for f in found], pa.string())
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


class GcpCsvReader(GcpConversion, NativeCostReader):
    """The billing export flattened to CSV, CSV.gz or Parquet."""

    def __init__(
        self, path: Path, *, billing_account_name: str | None = None, careful: bool = False
    ) -> None:
        NativeCostReader.__init__(self, path, careful=careful)
        self._name_account(billing_account_name)
        self._resolve(self.header)
        missing = [f for f in REQUIRED if self.names[f] is None]
        if missing:
            raise IngestError(
                f"missing column(s) of {self.describes}: {', '.join(missing)}",
                where=str(path),
                hint="export the billing table with these fields (nested ones flattened as "
                "service.description, repeated ones with TO_JSON_STRING)",
            )
        self.version = "gcp-billing-export"
        self.columns = (*self.columns, *X_COLUMNS)

    def _convert(self, raw: pa.RecordBatch, first_record: int, progress: float) -> Batch:
        errors: Errors = {}
        arrays = self.convert_block(raw, errors)
        return self._split(raw, arrays, errors, first_record, progress)


# -- JSON lines ---------------------------------------------------------------------------------

JSON_BLOCK_BYTES = 4 << 20


class GcpJsonReader(GcpConversion):
    """The billing export as newline-delimited JSON (as BigQuery writes it), plain or gzip."""

    def __init__(
        self, path: Path, *, billing_account_name: str | None = None, careful: bool = False
    ) -> None:
        self.path = path
        self.version: str | None = "gcp-billing-export"
        self.warnings: Counter[str] = Counter()
        self.notes: list[str] = []
        self._name_account(billing_account_name)
        self.columns: tuple[str, ...] = (*focus_columns(), *X_COLUMNS)
        self.times: tuple[str, ...] = ()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._file: IO[bytes] | None = None
        with path.open("rb") as fh:
            self._gzip = fh.read(2) == GZIP_MAGIC
        self._check_first_line()

    @property
    def format(self) -> str:
        return "jsonl.gz" if self._gzip else "jsonl"

    def _open(self) -> IO[bytes]:
        self._file = self.path.open("rb")
        if self._gzip:
            return igzip.IGzipFile(fileobj=self._file, mode="rb")  # type: ignore[no-untyped-call,return-value]
        return self._file

    def _check_first_line(self) -> None:
        stream = self._open()
        try:
            first = next((ln for ln in stream if ln.strip()), b"")
        except (OSError, EOFError) as exc:
            raise IngestError(f"cannot read the file: {exc}", where=str(self.path)) from None
        finally:
            self.close()
        try:
            ok = isinstance(json.loads(first), dict) if first else False
        except ValueError:
            ok = False
        if not ok:
            raise IngestError(
                f"the first line is not a JSON object; this is not {self.describes} as JSON lines",
                where=f"{self.path}:1",
                hint="export the table with --destination_format NEWLINE_DELIMITED_JSON",
            )

    def sql(self, query: str, block: pa.Table) -> pa.Table:
        if self._con is None:
            self._con = duckdb.connect()
            self._con.execute("SET TimeZone = 'UTC'")
            self._con.execute("SET threads = 1")
        self._con.register("block", block)
        try:
            return self._con.execute(query).to_arrow_table()
        finally:
            self._con.unregister("block")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._con is not None:
            self._con.close()
            self._con = None

    def batches(self) -> Iterator[Batch]:
        rejected: list[Rejection] = []
        record = 1
        size = max(self.path.stat().st_size, 1)
        for lines, line_numbers in self._chunks():
            good, good_lines, bad = _parse(lines, line_numbers, record)
            rejected.extend(bad)
            if good is not None and good.num_rows:
                raw = _flatten(good, self.sql)
                self._resolve(raw.schema.names)
                errors: Errors = {}
                arrays = self.convert_block(raw, errors)
                records = [
                    record + k for k, ok in enumerate(_ok_mask(len(lines), bad, record)) if ok
                ]
                table = pa.table({**arrays, "x_SourceRecord": pa.array(records, pa.int64())})
                keep = [i not in errors for i in range(raw.num_rows)]
                for i, problems in sorted(errors.items()):
                    r = rejection(raw, i, records[i], problems)
                    rejected.append(
                        Rejection(r.record, r.column, r.reason, r.value, r.raw, good_lines[i])
                    )
                if len(rejected) > MAX_REJECTIONS:
                    raise IngestError(
                        f"more than {MAX_REJECTIONS:,} unreadable records", where=str(self.path)
                    )
                yield Batch(table.filter(pa.array(keep)), [], self._progress(size))
            record += len(lines)
        self.close()
        yield Batch(None, sorted(rejected, key=lambda r: r.record), 1.0)

    def _progress(self, size: int) -> float:
        return min(self._file.tell() / size, 1.0) if self._file is not None else 1.0

    def _chunks(self) -> Iterator[tuple[list[bytes], list[int]]]:
        """Non-blank lines, a few MB at a time, with their line numbers (1-based)."""
        stream = self._open()
        lines: list[bytes] = []
        numbers: list[int] = []
        held = 0
        try:
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                lines.append(line)
                numbers.append(number)
                held += len(line)
                if held >= JSON_BLOCK_BYTES:
                    yield lines, numbers
                    lines, numbers, held = [], [], 0
        except (OSError, EOFError) as exc:
            raise IngestError(
                f"cannot read the file: {exc}",
                where=str(self.path),
                hint="the gzip stream may be truncated; copy the file again",
            ) from None
        if lines:
            yield lines, numbers


def _ok_mask(count: int, bad: list[Rejection], first_record: int) -> list[bool]:
    mask = [True] * count
    for r in bad:
        mask[r.record - first_record] = False
    return mask


def _parse(
    lines: list[bytes], numbers: list[int], first_record: int
) -> tuple[pa.Table | None, list[int], list[Rejection]]:
    """The lines as an Arrow table (fast path), or, when some line is bad, the good ones and a
    rejection per bad line."""
    try:
        return _read_json(b"".join(_terminated(lines))), numbers, []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    good: list[bytes] = []
    good_numbers: list[int] = []
    bad: list[Rejection] = []
    for k, (line, number) in enumerate(zip(lines, numbers, strict=True)):
        text = line.decode("utf-8", errors="replace").strip()
        try:
            ok = isinstance(json.loads(text), dict)
            reason = "not a JSON object"
        except ValueError as exc:
            ok, reason = False, f"not valid JSON: {exc}"
        if ok:
            good.append(line)
            good_numbers.append(number)
        else:
            raw: dict[str, str | None] = {"line": text[:2000]}
            bad.append(Rejection(first_record + k, None, reason, None, raw, number))
    if not good:
        return None, [], bad
    try:
        return _read_json(b"".join(_terminated(good))), good_numbers, bad
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # A field whose type changes between lines ("cost": "twelve"): every value as text,
        # so the conversion can name the bad one.
        return _text_table(good), good_numbers, bad


def _text_table(lines: list[bytes]) -> pa.Table:
    """Lines of JSON objects as a table of text columns (numbers as written), nested records
    flattened to ``parent.child`` and repeated ones as JSON text. The slow path."""
    rows = [_flat(json.loads(line, parse_float=str, parse_int=str)) for line in lines]
    names = list(dict.fromkeys(k for row in rows for k in row))
    return pa.table({n: pa.array([row.get(n) for row in rows], pa.string()) for n in names})


def _flat(record: dict[str, Any], prefix: str = "") -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, f"{name}."))
        elif isinstance(value, list):
            out[name] = json.dumps(value, ensure_ascii=False)
        else:
            out[name] = None if value is None else str(value)
    return out


def _terminated(lines: list[bytes]) -> Iterator[bytes]:
    for line in lines:
        yield line if line.endswith(b"\n") else line + b"\n"


def _read_json(data: bytes) -> pa.Table:
    return pajson.read_json(
        io.BytesIO(data), read_options=pajson.ReadOptions(block_size=max(len(data), 1 << 20))
    )


def _flatten(table: pa.Table, sql: Callable[[str, pa.Table], pa.Table]) -> pa.RecordBatch:
    """Nested records as ``parent.child`` columns; repeated records (lists) as JSON text."""
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    lists = [f.name for f in table.schema if pa.types.is_list(f.type)]
    if lists:
        select = ", ".join(f"to_json({_quote(n)})::VARCHAR AS {_quote(n)}" for n in lists)
        as_json = sql(f"SELECT {select} FROM block", table.select(lists))
        for name in lists:
            table = table.set_column(table.schema.get_field_index(name), name, as_json.column(name))
    return (
        table.combine_chunks().to_batches()[0] if table.num_rows else pa.RecordBatch.from_pylist([])
    )


def open_gcp(path: Path, **options: Any) -> GcpCsvReader | GcpJsonReader:
    if _looks_like_json(path):
        return GcpJsonReader(path, **options)
    return GcpCsvReader(path, **options)


def _looks_like_json(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(2)
    opener = igzip.open if head == GZIP_MAGIC else open
    with opener(path, "rb") as fh:
        start = fh.read(4096).lstrip()
    return start.startswith((b"{", b"["))


SPEC = register(
    SourceSpec(
        name="gcp",
        description="Google Cloud billing export (standard or detailed usage cost) converted "
        "to FOCUS",
        formats=("csv", "csv.gz", "parquet", "jsonl", "jsonl.gz"),
        table="costs",
        open=open_gcp,
        replace_keys=("BillingAccountId", "BillingPeriodStart"),
        options={
            "billing_account_name": "the billing account's display name (the export has "
            "none; default: its id)"
        },
        export_hint="BigQuery billing export table, extracted as JSON lines or flattened CSV "
        "(docs/sources/gcp.md)",
    )
)
