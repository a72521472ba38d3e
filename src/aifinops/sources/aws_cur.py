"""AWS Cost and Usage Reports -> FOCUS rows of ``costs`` (``aifinops ingest aws-cur``).

Reads the three shapes AWS delivers:

* the legacy CUR as CSV / CSV.gz (headers ``lineItem/UnblendedCost``, ``resourceTags/user:team``);
* the legacy CUR as Parquet (the same columns in snake case: ``line_item_unblended_cost``,
  ``resource_tags_user_team``);
* CUR 2.0 / Data Exports, CSV or Parquet (snake case, with ``product`` and ``resource_tags`` as
  maps - JSON text in CSV).

Only the columns the conversion needs are read (Arrow skips the rest while parsing). Each block is
typed (exact decimals, UTC times, checked per value), then one DuckDB query
(:func:`aifinops.sources.aws_cur_sql.focus_sql`) maps it to FOCUS; the service category comes
from ``data/aws_services.csv``. Money semantics are in the ``aws_cur_sql`` docstring and in
docs/sources/aws-cur.md.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from aifinops.errors import IngestError
from aifinops.sources import aws_cur_sql as q
from aifinops.sources import convert
from aifinops.sources.base import Batch, SourceSpec, register
from aifinops.sources.coded_text import (
    blank_to_null,
    choose,
    coded,
    constant,
    first_valid,
    lookup,
    map_words,
    rows_in,
    uniform,
)
from aifinops.sources.files import FileFormat
from aifinops.sources.native import NativeCostReader, complete
from aifinops.sources.readahead import prefetched
from aifinops.sources.tabular import (
    BLOCK_BYTES,
    NULL_TEXT,
    PARQUET_BATCH_ROWS,
    Errors,
    add_errors,
    read_failure,
)

#: (snake-case name, legacy CSV name) of the columns every CUR has
REQUIRED = (
    ("line_item_line_item_type", "lineItem/LineItemType"),
    ("line_item_unblended_cost", "lineItem/UnblendedCost"),
    ("line_item_usage_start_date", "lineItem/UsageStartDate"),
    ("line_item_usage_end_date", "lineItem/UsageEndDate"),
    ("line_item_usage_account_id", "lineItem/UsageAccountId"),
    ("line_item_product_code", "lineItem/ProductCode"),
    ("line_item_currency_code", "lineItem/CurrencyCode"),
    ("bill_payer_account_id", "bill/PayerAccountId"),
    ("bill_billing_period_start_date", "bill/BillingPeriodStartDate"),
    ("bill_billing_period_end_date", "bill/BillingPeriodEndDate"),
)
_WANTED = set(q.MONEY) | set(q.TIMES) | set(q.TEXT) | set(q.MAPS)
_TAG_PREFIXES = ("resourceTags/", "resource_tags_")
_DICTIONARY = pa.dictionary(pa.int32(), pa.string())


def snake(name: str) -> str:
    """A legacy CUR header in the snake case of CUR Parquet and CUR 2.0.

    ``lineItem/UnblendedCost`` -> ``line_item_unblended_cost``,
    ``reservation/ReservationARN`` -> ``reservation_reservation_a_r_n`` (AWS's own spelling).
    """
    text = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)
    text = re.sub(r"[/:]+_?", "_", text)
    return re.sub(r"_+", "_", text).strip("_")


def tag_key(column: str) -> str:
    """The tag a legacy tag column holds: ``user:`` dropped, ``aws:`` kept."""
    if column.startswith("resourceTags/"):
        key = column.removeprefix("resourceTags/")
        return key.removeprefix("user:")
    key = column.removeprefix("resource_tags_")
    if key.startswith("user_"):
        return key.removeprefix("user_")
    if key.startswith("aws_"):
        return "aws:" + key.removeprefix("aws_")
    return key


@cache
def service_table() -> tuple[pa.Array, pa.Array, pa.Array]:
    """AWS product code -> (ServiceCategory, ServiceSubcategory), from the shipped table."""
    text = resources.files("aifinops.sources").joinpath("data/aws_services.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    return (
        pa.array([r["product_code"] for r in rows]),
        pa.array([r["ServiceCategory"] for r in rows]),
        pa.array([r["ServiceSubcategory"] for r in rows]),
    )


class AwsCurReader(NativeCostReader):
    """Reads one AWS CUR file (legacy or 2.0; CSV, CSV.gz or Parquet)."""

    describes = "an AWS Cost and Usage Report (legacy CUR or CUR 2.0 / Data Exports)"
    money = q.MONEY
    times = q.TIMES

    def __init__(self, path: Path, *, careful: bool = False) -> None:
        super().__init__(path, careful=careful)
        self.columns = (*self.columns, *q.X_COLUMNS)
        self._sql: str | None = None
        self._unknown_codes: set[str] = set()
        flavour = "CUR 2.0 / Data Exports" if "resource_tags" in self._canon.values() else None
        legacy = any("/" in name for name in self.header)
        self.notes.append(
            f"read as {flavour or ('legacy CUR (CSV headers)' if legacy else 'legacy CUR')}"
        )

    # -- header ------------------------------------------------------------------------------

    def _read_header(self) -> list[str]:
        header = super()._read_header()
        canon = {name: snake(name) for name in header}
        self._tags = {n: tag_key(n) for n in header if n.startswith(_TAG_PREFIXES)}
        self._canon = {n: c for n, c in canon.items() if c in _WANTED or n in self._tags}
        have = set(canon.values())
        legacy = any(n.startswith("lineItem/") for n in header)
        self.required = tuple(
            (next(n for n, c in canon.items() if c == name) if name in have else old)
            if legacy
            else name
            for name, old in REQUIRED
        )
        return header

    # -- reading only the needed columns -----------------------------------------------------

    def _raw_batches(self) -> Iterator[tuple[pa.RecordBatch, float]]:
        wanted = list(self._canon)
        if self.format is FileFormat.PARQUET:
            schema = pq.read_schema(self.path)
            text = [n for n in wanted if pa.types.is_string(schema.field(n).type)]
            # Dictionary pages are read as they are (CUR columns repeat a few values a lot).
            pf = pq.ParquetFile(self.path, read_dictionary=text)
            total = max(pf.metadata.num_rows, 1)
            done = 0
            for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=wanted):
                done += batch.num_rows
                yield batch, done / total
            return
        # Parsing the CSV (in Arrow, without the GIL) overlaps with converting the previous block.
        yield from prefetched(self._csv_columns(wanted))

    def _csv_columns(self, wanted: list[str]) -> Iterator[tuple[pa.RecordBatch, float]]:
        try:
            reader = pacsv.open_csv(
                self._open_bytes(),
                read_options=pacsv.ReadOptions(
                    block_size=BLOCK_BYTES, column_names=self.header, skip_rows=1
                ),
                parse_options=pacsv.ParseOptions(
                    newlines_in_values=self.careful, invalid_row_handler=self._on_malformed
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(wanted, _DICTIONARY),
                    include_columns=wanted,
                    null_values=NULL_TEXT,
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                ),
            )
            for batch in reader:
                assert self._raw is not None
                yield batch, min(self._raw.tell() / self._size, 1.0)
        except (pa.ArrowInvalid, EOFError, OSError, UnicodeDecodeError) as exc:
            what, hint = read_failure(exc, self.describes)
            raise IngestError(what, where=str(self.path), hint=hint) from None

    # -- converting --------------------------------------------------------------------------

    def _convert(self, raw: pa.RecordBatch, first_record: int, progress: float) -> Batch:
        errors: Errors = {}
        typed: dict[str, Any] = {}
        for name, arr in zip(raw.schema.names, raw.columns, strict=True):
            canon = self._canon[name]
            if canon in q.MONEY and name not in self._tags:
                result = by_value(arr, convert.to_decimal)
                if result.rounded:
                    self.warnings[f"{name}: values rounded to 18 decimal places"] += result.rounded
                add_errors(errors, name, result.errors, arr)
                typed[canon] = result.values
            elif canon in q.TIMES and name not in self._tags:
                result = by_value(arr, convert.to_timestamp)
                add_errors(errors, name, result.errors, arr)
                typed[canon] = result.values
            elif canon in q.MAPS and pa.types.is_map(arr.type):
                typed[canon] = arr
            else:
                typed[name if name in self._tags else canon] = text(arr)
        block = pa.table(typed)
        self._check(block, errors)
        computed = self.sql(self._query(block), block)
        self._record_problems(computed.column("problem"), errors)
        arrays = {n: _array(computed.column(n)) for n in computed.column_names if n != "problem"}
        unused = (arrays.pop("x_UnusedCost"), arrays.pop("x_UnusedQuantity"))
        arrays.update(focus_columns(block, arrays.pop("x_MapProductName", None)))
        arrays.update(self._services(block.column("line_item_product_code")))
        rows = complete(arrays, raw.num_rows)
        batch = self._split(raw, rows, errors, first_record, progress)
        extra = unused_rows(rows, unused, set(errors), first_record)
        if extra is None or batch.table is None:
            return batch
        return Batch(pa.concat_tables([batch.table, extra]), batch.rejected, batch.progress)

    def _query(self, block: pa.Table) -> str:
        if self._sql is None:
            present = set(block.column_names)
            maps = {
                n for n in q.MAPS if n in present and pa.types.is_map(block.schema.field(n).type)
            }
            tags = q.tags_sql(present, maps, self._tags)
            self._sql = q.focus_sql(present, maps, tags)
        return self._sql

    def _native(self, canon: str) -> str:
        """The file's own name of a column (for messages)."""
        return next((n for n, c in self._canon.items() if c == canon), canon)

    def _check(self, block: pa.Table, errors: Errors) -> None:
        """Empty required values and line item types this converter does not know."""
        for name, _ in REQUIRED:
            column = block.column(name)
            if column.null_count:
                native = self._native(name)
                for i in pc.indices_nonzero(pc.is_null(column)).to_pylist():
                    if not any(c == native for c, _, _ in errors.get(i, [])):
                        errors.setdefault(i, []).append((native, "empty", None))
        kinds = block.column("line_item_line_item_type")
        known = pc.or_(rows_in(kinds, tuple(q.LINE_ITEM_TYPES)), pc.is_null(kinds))
        for i in pc.indices_nonzero(pc.invert(known)).to_pylist():
            value = kinds[i].as_py()
            reason = (
                f"unknown line item type {value!r} (known: {', '.join(q.LINE_ITEM_TYPES)}); "
                "it is not priced - report it so the converter learns it"
            )
            errors.setdefault(i, []).append(
                (self._native("line_item_line_item_type"), reason, value)
            )

    def _record_problems(self, problems: Any, errors: Errors) -> None:
        if problems.null_count == len(problems):
            return
        for i in pc.indices_nonzero(pc.is_valid(problems)).to_pylist():
            column, _, reason = str(problems[i].as_py()).partition("|")
            errors.setdefault(i, []).append((self._native(column), reason, None))

    def _services(self, codes: Any) -> dict[str, pa.Array]:
        """ServiceCategory and ServiceSubcategory per product code, looked up once per code."""
        known, categories, subcategories = service_table()
        encoded = coded(codes)
        words = encoded.dictionary
        index = pc.index_in(words, value_set=known)
        other = pc.fill_null(encoded.indices, len(words))  # a NULL code is Other too
        lookups = {
            "ServiceCategory": ("Other", categories),
            "ServiceSubcategory": ("Other (Other)", subcategories),
        }
        out = {
            name: pa.DictionaryArray.from_arrays(
                other,
                pa.concat_arrays(
                    [pc.fill_null(pc.take(found, index), default), pa.array([default])]
                ),
            )
            for name, (default, found) in lookups.items()
        }
        unknown = pc.is_null(index)
        missing = pc.fill_null(pc.take(unknown, encoded.indices), False)
        count = pc.sum(missing).as_py() or 0
        if count:
            self.warnings[
                "ServiceCategory: product codes not in the AWS service table are Other"
            ] += count
            new = set(pc.filter(words, unknown).to_pylist()) - self._unknown_codes
            if new:
                self._unknown_codes |= new
                self.notes.append(f"product codes mapped to Other: {', '.join(sorted(new))}")
        return out


def unused_rows(
    rows: dict[str, Any], unused: tuple[Any, Any], bad: set[int], first_record: int
) -> pa.Table | None:
    """The unused part of each recurring commitment fee, as a row of its own.

    FOCUS shows a commitment's fee as a Purchase (EffectiveCost 0) and what was not used of it as
    Usage with CommitmentDiscountStatus ``Unused`` (BilledCost 0). The row keeps the fee's
    record number (``x_SourceRecord``): one CUR record, two FOCUS rows.
    """
    fee = rows_in(rows["x_LineItemType"], q.RECURRING_FEES)
    if not pc.any(fee).as_py():
        return None
    positions = [i for i in pc.indices_nonzero(fee).to_pylist() if i not in bad]
    if not positions:
        return None
    take = pa.array(positions, pa.int64())
    table = pa.table({n: pc.take(v, take) for n, v in rows.items()})
    n = len(positions)
    cost, quantity = (pc.take(u.cast(convert.DECIMAL), take) for u in unused)
    zero = pa.repeat(pa.scalar(0, convert.DECIMAL), n)
    no_price = pa.nulls(n, convert.DECIMAL)
    plan = rows_in(table.column("x_LineItemType"), ("SavingsPlanRecurringFee",))
    unit = pc.if_else(plan, pa.scalar("USD"), table.column("PricingUnit").cast(pa.string()))
    changes = {
        "ChargeCategory": q.UNUSED.category,
        "ChargeFrequency": q.UNUSED.frequency,
        "CommitmentDiscountStatus": q.UNUSED.commitment,
        "PricingCategory": "Committed",
        "BilledCost": zero,
        "EffectiveCost": cost,
        "PricingCurrencyEffectiveCost": cost,
        "ListCost": zero,
        "ContractedCost": zero,
        "ListUnitPrice": no_price,
        "PricingCurrencyListUnitPrice": no_price,
        "ContractedUnitPrice": no_price,
        "PricingCurrencyContractedUnitPrice": no_price,
        "PricingQuantity": quantity,
        "PricingUnit": unit,
    }
    for name, change in changes.items():
        value = pa.repeat(pa.scalar(change), n) if isinstance(change, str) else change
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, value.cast(table.schema.field(name).type))
    records = np.asarray(positions, dtype=np.int64) + first_record
    return table.append_column("x_SourceRecord", pa.array(records))


def by_value(arr: Any, conversion: Callable[[Any], convert.Converted]) -> convert.Converted:
    """Convert each distinct value once (a CUR repeats few values a lot), then spread them.

    Errors and rounding counts are reported per row, as a direct conversion would.
    """
    if pa.types.is_timestamp(arr.type) and arr.type.tz is None:
        # A naive Parquet timestamp is UTC wall time: tagging it UTC keeps the values.
        return convert.Converted(pc.cast(pc.cast(arr, pa.timestamp("us")), convert.TIMESTAMP))
    if pa.types.is_timestamp(arr.type) or pa.types.is_decimal(arr.type):
        return conversion(arr)
    encoded = arr if pa.types.is_dictionary(arr.type) else pc.dictionary_encode(arr)
    result = conversion(encoded.dictionary)
    if result.rounded:
        return conversion(encoded.dictionary_decode())
    values = pc.take(result.values, encoded.indices)
    if not result.errors:
        return convert.Converted(values)
    bad = pa.array(list(result.errors), pa.int32())
    indices = encoded.indices
    rows = pc.indices_nonzero(pc.fill_null(pc.is_in(indices, value_set=bad), False))
    errors = {i: result.errors[indices[i].as_py()] for i in rows.to_pylist()}
    return convert.Converted(values, errors)


def text(arr: Any) -> Any:
    """Text as ``dictionary<int32, string>`` with empty values as NULL (AWS writes '' for "not
    applicable" in Parquet)."""
    return blank_to_null(arr)


def _array(column: Any) -> Any:
    """A one-chunk column as its array (``combine_chunks`` would copy it)."""
    if isinstance(column, pa.ChunkedArray) and column.num_chunks == 1:
        return column.chunk(0)
    return column


def _where(mask: Any, then: Any, otherwise: Any) -> Any:
    """``if_else`` of non-text columns that returns one side untouched when the mask is
    uniform (no copy)."""
    same = uniform(mask)
    if same is not None:
        return then if same else otherwise
    return pc.if_else(mask, then, otherwise)


def focus_columns(block: pa.Table, map_product_name: Any = None) -> dict[str, Any]:
    """The FOCUS columns that are lookups, copies or choices between native columns."""
    n = block.num_rows

    def col(name: str) -> Any:
        if name in block.column_names:
            return _array(block.column(name))
        kind = convert.DECIMAL if name in q.MONEY else pa.string()
        return pa.nulls(n, convert.TIMESTAMP if name in q.TIMES else kind)

    def word(value: str) -> Any:
        return constant(value, n)

    t = col("line_item_line_item_type")
    types = q.LINE_ITEM_TYPES
    category = lookup(t, {k: v.category for k, v in types.items()})
    usage_or_purchase = rows_in(category, ("Usage", "Purchase"))
    consuming = rows_in(t, q.CONSUMING)
    ri, sp = col("reservation_reservation_a_r_n"), col("savings_plan_savings_plan_a_r_n")
    commitment = first_valid(ri, sp)
    none = pa.nulls(n, pa.string())
    spot = rows_in(col("pricing_term"), ("Spot",))
    pricing = choose(usage_or_purchase, word("Standard"), none)
    pricing = choose(pc.and_(rows_in(t, ("Usage",)), spot), word("Dynamic"), pricing)
    pricing = choose(rows_in(t, q.COMMITTED), word("Committed"), pricing)
    correction = pc.or_(
        rows_in(t, tuple(k for k, v in types.items() if v.correction)),
        rows_in(col("bill_bill_type"), ("Refund",)),
    )
    early = pc.less(col("line_item_usage_start_date"), col("bill_billing_period_start_date"))
    correction = pc.or_(correction, pc.fill_null(early, False))
    service = first_valid(
        col("product_product_name"),
        map_product_name if map_product_name is not None else none,
        col("product_servicename"),
        col("line_item_product_code"),
    )
    legal = col("line_item_legal_entity")
    marketplace = rows_in(col("bill_billing_entity"), ("AWS Marketplace",))
    quantity, unit = col("line_item_usage_amount"), focus_unit(col("pricing_unit"))
    region = col("product_region_code")
    account, sub_account = col("bill_payer_account_id"), col("line_item_usage_account_id")
    no_quantity = pa.nulls(n, quantity.type)
    return {
        "BillingCurrency": col("line_item_currency_code"),
        "BillingAccountId": account,
        "BillingAccountName": first_valid(col("bill_payer_account_name"), account),
        "BillingAccountType": word("Billing Account"),
        "SubAccountId": sub_account,
        "SubAccountName": first_valid(col("line_item_usage_account_name"), sub_account),
        "SubAccountType": word("AWS Account"),
        "BillingPeriodStart": col("bill_billing_period_start_date"),
        "BillingPeriodEnd": col("bill_billing_period_end_date"),
        "ChargePeriodStart": col("line_item_usage_start_date"),
        "ChargePeriodEnd": col("line_item_usage_end_date"),
        "ChargeCategory": category,
        "ChargeClass": choose(correction, word("Correction"), none),
        "ChargeFrequency": lookup(t, {k: v.frequency for k, v in types.items()}),
        "ChargeDescription": col("line_item_line_item_description"),
        "PricingCategory": pricing,
        "PricingQuantity": _where(usage_or_purchase, quantity, no_quantity),
        "PricingUnit": choose(
            usage_or_purchase,
            choose(pc.is_valid(quantity), first_valid(unit, word("Units")), unit),
            none,
        ),
        "ConsumedQuantity": _where(consuming, quantity, no_quantity),
        "ConsumedUnit": choose(consuming, unit, none),
        "ListUnitPrice": col("pricing_public_on_demand_rate"),
        "CommitmentDiscountId": commitment,
        "CommitmentDiscountType": choose(
            pc.is_valid(ri),
            word("Reserved Instance"),
            choose(pc.is_valid(sp), word("Savings Plan"), none),
        ),
        "CommitmentDiscountCategory": choose(
            pc.is_valid(ri), word("Usage"), choose(pc.is_valid(sp), word("Spend"), none)
        ),
        "CommitmentDiscountStatus": choose(
            pc.is_valid(commitment),
            lookup(t, {k: v.commitment for k, v in types.items()}),
            none,
        ),
        "ProviderName": word("AWS"),
        "PublisherName": choose(
            marketplace, first_valid(legal, service), word("Amazon Web Services")
        ),
        "InvoiceIssuerName": first_valid(
            col("bill_invoicing_entity"), legal, word("Amazon Web Services")
        ),
        "InvoiceId": col("bill_invoice_id"),
        "ServiceName": service,
        "RegionId": region,
        "RegionName": choose(
            pc.is_valid(region), first_valid(col("product_location"), region), none
        ),
        "AvailabilityZone": col("line_item_availability_zone"),
        "ResourceId": col("line_item_resource_id"),
        "SkuId": col("product_sku"),
        "SkuMeter": choose(pc.is_valid(col("product_sku")), col("line_item_usage_type"), none),
        "SkuPriceId": first_valid(col("pricing_rate_code"), col("pricing_rate_id")),
        "x_LineItemType": t,
        "x_UsageType": col("line_item_usage_type"),
        "x_Operation": col("line_item_operation"),
        "x_ProductCode": col("line_item_product_code"),
        "x_ProductFamily": col("product_product_family"),
        "x_PricingTerm": col("pricing_term"),
        "x_PricingUnit": col("pricing_unit"),
        "x_BillType": col("bill_bill_type"),
        "x_BillingEntity": col("bill_billing_entity"),
        "x_LegalEntity": legal,
    }


#: AWS pricing units -> the FOCUS Unit Format (Hrs -> Hours, GB-Mo -> GB-Months ...)
UNIT_FIXES = (
    (r"^Lambda-GB-Seconds?$", "GB-Seconds"),
    (r"^Hrs$", "Hours"),
    (r"-Hrs$", "-Hours"),
    (r"-Mo$", "-Months"),
    (r"-Month$", "-Months"),
    (r"-Second$", "-Seconds"),
)


def focus_unit(units: Any) -> Any:
    """AWS's unit names in the FOCUS Unit Format; the original stays in ``x_PricingUnit``."""

    def fix(words: pa.Array) -> pa.Array:
        for pattern, replacement in UNIT_FIXES:
            words = pc.replace_substring_regex(words, pattern, replacement)
        return words

    return map_words(units, fix)


def open_aws_cur(path: Path, **options: Any) -> AwsCurReader:
    return AwsCurReader(path, **options)


SPEC = register(
    SourceSpec(
        name="aws-cur",
        description="AWS Cost and Usage Reports: legacy CUR (CSV, Parquet) and CUR 2.0 / Data "
        "Exports, converted to FOCUS",
        formats=("csv", "csv.gz", "parquet"),
        table="costs",
        open=open_aws_cur,
        replace_keys=("BillingAccountId", "BillingPeriodStart"),
        export_hint="AWS Billing > Data Exports (CUR 2.0) or legacy CUR (docs/sources/aws-cur.md)",
    )
)

__all__ = ["AwsCurReader", "snake", "tag_key"]
