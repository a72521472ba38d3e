"""AWS CUR -> FOCUS (``aws-cur``): the real sample, hand-made commitment fixtures, CUR 2.0.

Data (tests/data/aws_cur/README.md):

* ``sample-anonymous-aws-export-dataset.csv``: the real anonymised legacy CUR of the FinOps
  Foundation's focus_converters (MIT), 1,281 rows, Usage and Tax only.
* ``commitments-legacy.csv``: hand-made from AWS's documented legacy CUR columns (the CUR data
  dictionary: lineItem/, bill/, pricing/, reservation/, savingsPlan/, resourceTags/), because
  the real sample has no RI, Savings Plan, credit, refund, support or marketplace line. The
  numbers are chosen so each commitment adds up the way AWS builds them (see
  ``test_amortised_totals_reconcile``).
* CUR 2.0 / Data Exports has no public sample: :func:`cur2_table` builds one from the fixture
  with the CUR 2.0 column names AWS documents (snake case ``line_item_...``, ``product`` and
  ``resource_tags`` as maps, ``bill_payer_account_name`` and ``line_item_usage_account_name``).
"""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from aifinops import Workspace
from aifinops.errors import IngestError
from aifinops.model.focus import all_columns
from aifinops.sources.aws_cur import AwsCurReader, service_table, snake, tag_key
from aifinops.sources.aws_cur_sql import MONEY
from aifinops.sources.base import Rejection
from tests.validator import needs_validator, validate

DATA = Path(__file__).resolve().parents[1] / "data" / "aws_cur"
SAMPLE = DATA / "sample-anonymous-aws-export-dataset.csv"
FIXTURE = DATA / "commitments-legacy.csv"
BAD = DATA / "bad-rows.csv"
GOLDEN = DATA / "commitments-legacy.expected.csv"
ROOT = Path(__file__).resolve().parents[2]
GOLDEN_COLUMNS = [
    "x_LineItemType",
    "ChargeCategory",
    "ChargeClass",
    "ChargeFrequency",
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ConsumedQuantity",
    "CommitmentDiscountId",
    "CommitmentDiscountType",
    "CommitmentDiscountCategory",
    "CommitmentDiscountStatus",
    "ServiceName",
    "ServiceCategory",
    "ServiceSubcategory",
    "PublisherName",
    "InvoiceIssuerName",
    "RegionId",
    "ResourceId",
    "ResourceType",
    "SkuPriceId",
    "Tags",
    "BillingPeriodStart",
    "ChargePeriodStart",
]


def read(path: Path) -> tuple[pa.Table, list[Rejection], AwsCurReader]:
    reader = AwsCurReader(path)
    tables, rejected = [], []
    for batch in reader.batches():
        if batch.table is not None:
            tables.append(batch.table)
        rejected += batch.rejected
    return pa.concat_tables(tables), rejected, reader


def native_totals(path: Path, column: str = "lineItem/UnblendedCost") -> dict[str, Decimal]:
    """The provider's own total per billing period, summed from the file with Decimal."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            period = row["bill/BillingPeriodStartDate"][:10]
            totals[period] += Decimal(row[column] or "0")
    return dict(totals)


def focus_totals(table: pa.Table, column: str) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    starts = table.column("BillingPeriodStart").to_pylist()
    for start, value in zip(starts, table.column(column).to_pylist(), strict=True):
        totals[start.date().isoformat()] += value
    return dict(totals)


def rows_by_id(table: pa.Table) -> dict[str, dict[str, Any]]:
    """Fixture rows keyed by their identity/LineItemId; the unused part of a recurring
    commitment fee (a second row of the same record) as ``<id>/unused``."""
    with FIXTURE.open(encoding="utf-8", newline="") as f:
        ids = [r["identity/LineItemId"] for r in csv.DictReader(f)]
    rows: dict[str, dict[str, Any]] = {}
    for row in table.to_pylist():
        key = ids[row["x_SourceRecord"] - 1]
        rows[key + "/unused" if key in rows else key] = row
    assert len(rows) == table.num_rows
    return rows


# -- the real sample ---------------------------------------------------------------------------


def test_the_real_sample_converts_every_row_and_reconciles_to_the_cent() -> None:
    table, rejected, reader = read(SAMPLE)
    assert (table.num_rows, rejected) == (1281, [])
    assert focus_totals(table, "BilledCost") == native_totals(SAMPLE)
    assert sum(native_totals(SAMPLE).values()) == Decimal("1.6823086974")
    assert focus_totals(table, "EffectiveCost") == native_totals(SAMPLE)  # no commitments
    assert "read as legacy CUR (CSV headers)" in reader.notes
    kinds = dict(zip(*pc.value_counts(table.column("ChargeCategory")).flatten(), strict=True))
    assert {k.as_py(): v.as_py() for k, v in kinds.items()} == {"Usage": 1269, "Tax": 12}


def test_sample_columns_are_mapped_from_the_native_ones() -> None:
    table, _, _ = read(SAMPLE)
    row = table.slice(20, 1).to_pylist()[0]
    with SAMPLE.open(encoding="utf-8", newline="") as f:
        native = list(csv.DictReader(f))[20]
    assert row["BillingAccountId"] == native["bill/PayerAccountId"]
    assert row["SubAccountId"] == native["lineItem/UsageAccountId"]
    assert row["ServiceName"] == native["product/ProductName"]
    assert row["SkuId"] == native["product/sku"]
    assert row["SkuPriceId"] == native["pricing/RateCode"]
    assert row["x_UsageType"] == native["lineItem/UsageType"]
    assert row["x_Operation"] == native["lineItem/Operation"]
    assert row["ListCost"] == Decimal(native["pricing/publicOnDemandCost"])
    assert row["InvoiceIssuerName"] == "Amazon Web Services Canada, Inc."
    assert row["ProviderName"] == "AWS"
    assert row["BillingPeriodStart"].isoformat() == "2023-11-01T00:00:00+00:00"


# -- money semantics on the fixtures ---------------------------------------------------------


def test_billed_cost_is_cash_and_reconciles_per_billing_period() -> None:
    table, rejected, _ = read(FIXTURE)
    assert rejected == []
    assert focus_totals(table, "BilledCost") == native_totals(FIXTURE)
    assert native_totals(FIXTURE) == {
        "2026-01-01": Decimal("1402.84"),
        "2026-02-01": Decimal("7.00"),
    }
    rows = rows_by_id(table)
    # Savings Plan covered usage is paid by the plan's fees: 0 billed, as AWS's FOCUS export;
    # the negation lines that cancel it in the CUR are 0 too.
    for key in ("sp-usage-ec2", "sp-usage-lambda", "sp-negation-ec2", "sp-negation-lambda"):
        assert rows[key]["BilledCost"] == 0, key
    assert rows["ri-purchase"]["BilledCost"] == Decimal("876")
    assert rows["ri-fee"]["BilledCost"] == Decimal("36.5")


def test_effective_cost_is_amortised_per_line_item_type() -> None:
    rows = rows_by_id(read(FIXTURE)[0])
    expected = {
        "ri-purchase": "0",  # upfront fee: amortised into the rows below, not counted twice
        "ri-fee": "0",  # the recurring fee is a Purchase: amortised into the rows below
        "ri-fee/unused": "10.95",  # unused amortised upfront 7.30 + unused recurring fee 3.65
        "ri-usage": "98.55",  # reservation/EffectiveCost
        "sp-purchase": "0",
        "sp-fee": "0",
        "sp-fee/unused": "5",  # unused commitment: TotalCommitmentToDate 75 - UsedCommitment 70
        "sp-usage-ec2": "45",  # savingsPlan/SavingsPlanEffectiveCost
        "sp-usage-lambda": "25",
        "sp-negation-ec2": "0",
        "s3-usage": "10",
        "tax": "12.34",
        "credit": "-20",
        "refund": "-5",
        "support": "100",
        "marketplace": "42",
        "edp": "-3",
    }
    assert {k: rows[k]["EffectiveCost"] for k in expected} == {
        k: Decimal(v) for k, v in expected.items()
    }


def test_amortised_totals_reconcile() -> None:
    """The identity: sum(EffectiveCost) = sum(lineItem/UnblendedCost)
    - upfront commitment purchases (Fee of a reservation, SavingsPlanUpfrontFee)
    + the upfront amortised into the period (reservation/AmortizedUpfrontFeeForBillingPeriod on
      RIFee lines, savingsPlan/AmortizedUpfrontCommitmentForBillingPeriod on recurring fees),
    per billing period. It holds because AWS splits each commitment's period cost (amortised
    upfront + recurring fee) exactly into covered usage and the unused part."""
    table, _, _ = read(FIXTURE)
    expected: dict[str, Decimal] = defaultdict(Decimal)
    with FIXTURE.open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            period = r["bill/BillingPeriodStartDate"][:10]
            kind = r["lineItem/LineItemType"]
            cost = Decimal(r["lineItem/UnblendedCost"])
            upfront = kind == "SavingsPlanUpfrontFee" or (
                kind == "Fee" and r["reservation/ReservationARN"]
            )
            expected[period] += Decimal(0) if upfront else cost
            if kind == "RIFee":
                expected[period] += Decimal(r["reservation/AmortizedUpfrontFeeForBillingPeriod"])
            if kind == "SavingsPlanRecurringFee":
                column = "savingsPlan/AmortizedUpfrontCommitmentForBillingPeriod"
                expected[period] += Decimal(r[column])
    assert focus_totals(table, "EffectiveCost") == dict(expected)
    assert expected == {"2026-01-01": Decimal("324.84"), "2026-02-01": Decimal("7.00")}


def test_commitments_are_shown_as_focus_requires() -> None:
    rows = rows_by_id(read(FIXTURE)[0])
    ri, sp = rows["ri-usage"], rows["sp-fee"]
    assert (ri["CommitmentDiscountType"], ri["CommitmentDiscountCategory"]) == (
        "Reserved Instance",
        "Usage",
    )
    assert (
        ri["CommitmentDiscountId"]
        == "arn:aws:ec2:us-east-1:111111111111:reserved-instances/aaaa-1111"
    )
    assert (sp["CommitmentDiscountType"], sp["CommitmentDiscountCategory"]) == (
        "Savings Plan",
        "Spend",
    )
    # unused commitment: a Usage row with status Unused; used: status Used; purchases: no status
    for key, category, status in [
        ("ri-fee", "Purchase", None),
        ("ri-fee/unused", "Usage", "Unused"),
        ("sp-fee", "Purchase", None),
        ("sp-fee/unused", "Usage", "Unused"),
        ("ri-usage", "Usage", "Used"),
        ("sp-usage-ec2", "Usage", "Used"),
        ("ri-purchase", "Purchase", None),
        ("sp-purchase", "Purchase", None),
        ("s3-usage", "Usage", None),
    ]:
        assert (rows[key]["ChargeCategory"], rows[key]["CommitmentDiscountStatus"]) == (
            category,
            status,
        ), key
    # a recurring fee: billed on the Purchase row, its unused part on the Unused row
    fee, unused = rows["ri-fee"], rows["ri-fee/unused"]
    assert (fee["ChargeFrequency"], fee["BilledCost"], fee["EffectiveCost"]) == (
        "Recurring",
        Decimal("36.5"),
        0,
    )
    assert (unused["BilledCost"], unused["PricingQuantity"], unused["PricingUnit"]) == (
        0,
        Decimal("74.4"),
        "Hours",
    )
    assert rows["sp-fee/unused"]["PricingQuantity"] == Decimal(5)
    assert rows["sp-fee/unused"]["PricingUnit"] == "USD"
    assert rows["ri-usage"]["PricingCategory"] == "Committed"
    assert rows["spot-usage"]["PricingCategory"] == "Dynamic"
    assert rows["s3-usage"]["PricingCategory"] == "Standard"
    # list and contracted cost of covered usage are the on-demand equivalent
    assert rows["ri-usage"]["ListCost"] == Decimal("128.5632")
    assert rows["ri-usage"]["ContractedCost"] == Decimal("128.5632")
    assert rows["spot-usage"]["ListCost"] == Decimal("12.24")
    assert rows["spot-usage"]["ContractedCost"] == Decimal("4")


def test_credits_refunds_tax_support_and_marketplace() -> None:
    rows = rows_by_id(read(FIXTURE)[0])
    assert (rows["credit"]["ChargeCategory"], rows["credit"]["ChargeClass"]) == ("Credit", None)
    assert (rows["refund"]["ChargeCategory"], rows["refund"]["ChargeClass"]) == (
        "Credit",
        "Correction",
    )
    assert rows["tax"]["ChargeCategory"] == "Tax"
    assert rows["tax"]["PricingQuantity"] is None
    assert rows["edp"]["ChargeCategory"] == "Credit"
    support = rows["support"]
    assert (support["ChargeCategory"], support["ServiceSubcategory"]) == ("Purchase", "Support")
    market = rows["marketplace"]
    assert market["PublisherName"] == "Acme Corp"
    assert market["InvoiceIssuerName"] == "Amazon Web Services, Inc."
    assert market["x_BillingEntity"] == "AWS Marketplace"
    assert (market["ServiceCategory"], market["ServiceSubcategory"]) == ("Other", "Other (Other)")
    assert rows["s3-usage"]["PublisherName"] == "Amazon Web Services"


def test_tags_drop_user_prefix_and_keep_aws_prefix() -> None:
    rows = rows_by_id(read(FIXTURE)[0])
    assert json.loads(rows["s3-usage"]["Tags"]) == {
        "team": "ml",
        "aws:createdBy": "IAMUser:AIDA:alice",
    }
    assert rows["tax"]["Tags"] is None
    assert tag_key("resourceTags/user:cost-center") == "cost-center"
    assert tag_key("resource_tags_user_team") == "team"
    assert tag_key("resource_tags_aws_created_by") == "aws:created_by"


def test_units_follow_the_focus_unit_format_and_keep_the_aws_unit() -> None:
    rows = rows_by_id(read(FIXTURE)[0])
    assert (rows["ri-fee"]["PricingUnit"], rows["ri-fee"]["x_PricingUnit"]) == ("Hours", "Hrs")
    assert rows["s3-usage"]["PricingUnit"] == "GB-Months"
    assert rows["sp-usage-lambda"]["PricingUnit"] == "GB-Seconds"


def test_golden_rows() -> None:
    """The fixture's FOCUS rows, compared exactly with the checked-in expected file."""
    table = read(FIXTURE)[0].select(GOLDEN_COLUMNS)
    got = [[_text(v) for v in row.values()] for row in table.to_pylist()]
    with GOLDEN.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == GOLDEN_COLUMNS
        expected = list(reader)
    assert got == expected


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[no-any-return]
    return str(value)


# -- the other shapes of the report ------------------------------------------------------------


def legacy_parquet_table() -> pa.Table:
    """The fixture as the legacy CUR in Parquet: snake-case names, money DOUBLE, times typed."""
    raw = pacsv.read_csv(FIXTURE, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    columns = {}
    for name, original in zip(raw.column_names, raw.columns, strict=True):
        column = original
        if pa.types.is_integer(column.type):
            column = column.cast(pa.float64() if snake(name) in MONEY else pa.string())
        if pa.types.is_null(column.type):
            column = column.cast(pa.string())
        columns[snake(name)] = column
    return pa.table(columns)


def cur2_table() -> pa.Table:
    """The fixture as CUR 2.0 (AWS's documented Data Exports columns): ``product`` and
    ``resource_tags`` are maps; the account names CUR 2.0 adds are filled."""
    table = legacy_parquet_table()
    tag_columns = [c for c in table.column_names if c.startswith("resource_tags_")]
    tags = []
    for row in table.select(tag_columns).to_pylist():
        tags.append([(k.removeprefix("resource_tags_"), v) for k, v in row.items() if v])
    names = table.column("product_product_name").to_pylist()
    table = table.drop_columns([*tag_columns, "product_product_name"])
    map_type = pa.map_(pa.string(), pa.string())
    table = table.append_column("resource_tags", pa.array(tags, map_type))
    table = table.append_column(
        "product", pa.array([[("product_name", n)] for n in names], map_type)
    )
    table = table.append_column("bill_payer_account_name", pa.array(["Payer Co"] * len(names)))
    return table.append_column(
        "line_item_usage_account_name", pa.array(["ml-research"] * len(names))
    )


def write_cur2_csv(table: pa.Table, path: Path) -> Path:
    """CUR 2.0 as CSV: the map columns are JSON text, as Data Exports writes them."""
    columns = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        columns[name] = (
            pa.array([json.dumps(dict(v)) if v else None for v in column.to_pylist()])
            if pa.types.is_map(column.type)
            else column
        )
    pacsv.write_csv(pa.table(columns), path)
    return path


def _comparable(table: pa.Table, tags: bool) -> pa.Table:
    skip = {"BillingAccountName", "SubAccountName"} | (set() if tags else {"Tags"})
    return table.select([c.name for c in all_columns() if c.name not in skip])


@pytest.mark.parametrize("shape", ["legacy-parquet", "cur2-parquet", "cur2-csv", "legacy-csv-gz"])
def test_every_shape_of_the_report_gives_the_same_rows(tmp_path: Path, shape: str) -> None:
    path = tmp_path / f"{shape}.{'csv.gz' if shape.endswith('gz') else shape.split('-')[1]}"
    if shape == "legacy-parquet":
        pq.write_table(legacy_parquet_table(), path)
    elif shape == "cur2-parquet":
        pq.write_table(cur2_table(), path)
    elif shape == "cur2-csv":
        write_cur2_csv(cur2_table(), path)
    else:
        with FIXTURE.open("rb") as f, gzip.open(path, "wb") as out:
            shutil.copyfileobj(f, out)
    # Parquet and CUR 2.0 column names are lower snake case: a tag key's case is lost there
    # (aws:createdBy -> aws:created_by), so Tags are compared on their own below.
    same_tags = shape == "legacy-csv-gz"
    expected = _comparable(read(FIXTURE)[0], same_tags)
    table, rejected, reader = read(path)
    assert rejected == []
    assert _comparable(table, same_tags).equals(expected), shape
    s3 = json.loads(table.column("Tags")[9].as_py())
    assert s3 == {
        "team": "ml",
        ("aws:createdBy" if same_tags else "aws:created_by"): "IAMUser:AIDA:alice",
    }
    if shape.startswith("cur2"):
        assert "read as CUR 2.0 / Data Exports" in reader.notes
        assert set(table.column("BillingAccountName").to_pylist()) == {"Payer Co"}
        assert set(table.column("SubAccountName").to_pylist()) == {"ml-research"}


# -- bad input ---------------------------------------------------------------------------------


def test_bad_rows_are_rejected_with_file_line_column_and_reason() -> None:
    table, rejected, _ = read(BAD)
    assert table.num_rows == 1
    assert table.num_rows + len(rejected) == 6
    got = {(r.line, r.column): r.reason for r in rejected}
    assert got[(3, "lineItem/LineItemType")].startswith(
        "lineItem/LineItemType: unknown line item type 'FutureChargeKind'"
    )
    assert got[(4, "lineItem/UnblendedCost")] == "lineItem/UnblendedCost: not a number: '12,5'"
    assert got[(5, "lineItem/UsageStartDate")].startswith("lineItem/UsageStartDate: not an ISO")
    assert got[(6, "bill/PayerAccountId")] == "bill/PayerAccountId: empty"
    assert got[(7, "reservation/EffectiveCost")] == (
        "reservation/EffectiveCost: empty on RI-covered usage (DiscountedUsage)"
    )
    # the raw values of the columns the converter reads travel with each rejection
    assert [r.raw["lineItem/UnblendedCost"] for r in rejected] == [
        "2.00",
        "12,5",
        "3.00",
        "4.00",
        "0",
    ]


def test_a_file_without_the_cur_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cur.csv"
    path.write_text("lineItem/LineItemType,lineItem/UnblendedCost\nUsage,1\n")
    with pytest.raises(IngestError, match=r"lineItem/UsageStartDate.*bill/PayerAccountId"):
        AwsCurReader(path)


def test_the_service_table_uses_focus_subcategories_under_their_category() -> None:
    parents = {}
    reference = ROOT / "tests/data/reference/focus_1.4_servicesubcategory_parents.csv"
    with reference.open(encoding="utf-8") as f:
        parents = {r["ServiceSubcategory"]: r["ServiceCategory"] for r in csv.DictReader(f)}
    codes, categories, subcategories = service_table()
    for code, category, sub in zip(codes, categories, subcategories, strict=True):
        assert parents.get(sub.as_py()) == category.as_py(), code
    assert len(set(codes.to_pylist())) == len(codes)


# -- the workspace -----------------------------------------------------------------------------


def test_ingest_reconciles_and_a_newer_export_replaces_the_period(tmp_path: Path) -> None:
    with Workspace.init(tmp_path / "ws") as ws:
        first = ws.ingest([FIXTURE], source="aws-cur")
        # 18 records; the two recurring commitment fees each add their unused part as a row
        assert (first.rows_read, first.rows_ingested, first.rows_quarantined) == (20, 20, 0)
        billed = ws.sql(
            "SELECT strftime(BillingPeriodStart, '%Y-%m-%d') AS p, sum(BilledCost) AS s "
            "FROM costs GROUP BY 1 ORDER BY 1"
        ).to_pylist()
        assert {r["p"]: r["s"] for r in billed} == native_totals(FIXTURE)
        again = ws.ingest([FIXTURE], source="aws-cur")
        assert again.rows_ingested == 0
        newer = tmp_path / "newer.csv"
        newer.write_bytes(FIXTURE.read_bytes().replace(b"12.34", b"12.35"))
        ws.ingest([newer], source="aws-cur")
        assert ws.sql("SELECT count(*) AS n FROM costs").to_pylist() == [{"n": 20}]
        tax = ws.sql("SELECT BilledCost FROM costs WHERE x_LineItemType = 'Tax'").to_pylist()
        assert tax == [{"BilledCost": Decimal("12.35")}]


def test_bad_rows_are_quarantined_by_the_ingest(tmp_path: Path) -> None:
    with Workspace.init(tmp_path / "ws") as ws:
        summary = ws.ingest([BAD], source="aws-cur")
        assert (summary.rows_read, summary.rows_ingested, summary.rows_quarantined) == (6, 1, 5)


# -- the official validator --------------------------------------------------------------------


@pytest.mark.validator
@needs_validator
def test_the_converted_sample_passes_the_official_validator(tmp_path: Path) -> None:
    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest([SAMPLE, FIXTURE], source="aws-cur")
        (path,) = ws.export_focus(tmp_path, version="1.2")
    result = validate(path)
    unexpected = {r.rule_id for r in result.unexpected_failures()}
    assert not unexpected, result.summary(allow_defects=True)
