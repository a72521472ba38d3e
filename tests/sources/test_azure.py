"""`ingest azure`: EA and MCA cost details, actual and amortized, -> FOCUS rows of ``costs``.

Inputs (see ``tests/data/azure/README.md``): the finops-toolkit EA fixtures (real-looking rows,
older EA schema) and an MCA month built from Microsoft's documented MCA columns, since no public
MCA sample exists. Expected totals are computed from the files with ``csv`` and ``Decimal``,
independently of aifinops.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest

from aifinops import Workspace
from aifinops.errors import IngestError
from aifinops.model.focus import all_columns
from aifinops.store.schema import INTERNAL_COLUMNS
from tests.validator import needs_validator, validate

DATA = Path(__file__).resolve().parents[1] / "data" / "azure"
EA_ACTUAL = DATA / "finops-toolkit_EA_ActualCost_Small.csv"
EA_AMORTIZED = DATA / "finops-toolkit_EA_AmortizedCost_Small.csv"
EA_EMPTY = DATA / "finops-toolkit_EA_NoRows.csv"
MCA_ACTUAL = DATA / "mca_2024-03_actual.csv"
MCA_AMORTIZED = DATA / "mca_2024-03_amortized.csv"
ROOT = Path(__file__).resolve().parents[2]


# -- helpers shared with the GCP and OCI tests ------------------------------------------------


def stored_rows(ws: Workspace, where: str = "TRUE") -> list[dict[str, str]]:
    """The stored rows as text, FOCUS columns with a value in some row plus the ``x_`` columns,
    in a stable order (dataset, record number)."""
    hidden = set(INTERNAL_COLUMNS) - {"x_SourceRecord"}
    table = ws.sql(f"SELECT * FROM costs WHERE {where}")
    names = [n for n in table.column_names if n not in hidden]
    focus = {c.name for c in all_columns()}
    keep = [
        n
        for n in names
        if not (n in focus and table.column(n).null_count == len(table)) or n.startswith("x_")
    ]
    rows = [{n: _text(r[n]) for n in keep} for r in table.select(keep).to_pylist()]
    return sorted(rows, key=lambda r: (r.get("x_CostDataset", ""), int(r["x_SourceRecord"])))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def check_golden(rows: list[dict[str, str]], expected: Path) -> None:
    """Compare ``rows`` exactly with the checked-in CSV (``AIFINOPS_UPDATE_GOLDEN=1`` rewrites
    it; review the diff)."""
    if os.environ.get("AIFINOPS_UPDATE_GOLDEN"):
        expected.parent.mkdir(parents=True, exist_ok=True)
        with expected.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    with expected.open(newline="", encoding="utf-8") as fh:
        golden = list(csv.DictReader(fh))
    assert len(rows) == len(golden)
    for got, want in zip(rows, golden, strict=True):
        assert got == want, f"record {got.get('x_SourceRecord')} differs from {expected.name}"


def native_totals(
    path: Path, money: str, period: str, *, places: int | None = 18
) -> dict[str, Decimal]:
    """The provider's own total of ``money`` per billing period value, from the file. Each value
    is rounded half-even to ``places`` (the store keeps 18 decimal places)."""
    step = None if places is None else Decimal(1).scaleb(-places)
    totals: dict[str, Decimal] = defaultdict(Decimal)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            value = Decimal(row[money] or "0")
            if step is not None:
                value = value.quantize(step, rounding=ROUND_HALF_EVEN)
            totals[row[period]] += value
    return dict(totals)


def cents(totals: dict[str, Decimal]) -> dict[str, Decimal]:
    return {k: v.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN) for k, v in totals.items()}


def stored_totals(ws: Workspace, metric: str) -> dict[str, Decimal]:
    rows = ws.sql(
        f"SELECT strftime(BillingPeriodStart, '%Y-%m-%d') AS p, sum({metric}) AS s "
        "FROM costs GROUP BY 1"
    ).to_pylist()
    return {r["p"]: r["s"] for r in rows}


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.init(tmp_path / "ws")


def _ea_period(text: str) -> str:
    month, _, year = text.split("/")
    return f"{year}-{month}-01"


# -- golden files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "golden"),
    [
        ([EA_ACTUAL], "ea_actual.csv"),
        ([EA_AMORTIZED], "ea_amortized.csv"),
        ([MCA_ACTUAL, MCA_AMORTIZED], "mca_combined.csv"),
    ],
)
def test_golden(ws: Workspace, files: list[Path], golden: str) -> None:
    summary = ws.ingest(files, source="azure")
    assert summary.rows_quarantined == 0
    check_golden(stored_rows(ws), DATA / "expected" / golden)


# -- money ------------------------------------------------------------------------------------


def test_ea_files_reconcile_with_their_own_totals(ws: Workspace) -> None:
    ws.ingest([EA_ACTUAL], source="azure")
    actual = native_totals(EA_ACTUAL, "Cost", "BillingPeriodStartDate")
    assert stored_totals(ws, "BilledCost") == {_ea_period(k): v for k, v in actual.items()}
    assert stored_totals(ws, "BilledCost") == {"2023-09-01": Decimal("8.545007786741936800")}


def test_ea_amortized_effective_cost_is_the_amortized_total(ws: Workspace) -> None:
    ws.ingest([EA_AMORTIZED], source="azure")
    amortized = native_totals(EA_AMORTIZED, "Cost", "BillingPeriodStartDate")
    assert stored_totals(ws, "EffectiveCost") == {_ea_period(k): v for k, v in amortized.items()}
    raw = native_totals(EA_AMORTIZED, "Cost", "BillingPeriodStartDate", places=None)
    assert cents(stored_totals(ws, "EffectiveCost")) == {
        _ea_period(k): v for k, v in cents(raw).items()
    }
    covered = ws.sql(
        "SELECT BilledCost, EffectiveCost, CommitmentDiscountStatus, CommitmentDiscountType "
        "FROM costs WHERE CommitmentDiscountId IS NOT NULL ORDER BY EffectiveCost"
    ).to_pylist()
    assert [(r["BilledCost"], r["CommitmentDiscountStatus"]) for r in covered] == [
        (Decimal(0), "Used"),
        (Decimal(0), "Used"),
    ]
    assert [r["CommitmentDiscountType"] for r in covered] == ["Savings Plan", "Reservation"]


ORDERS = {
    "one load": [[MCA_ACTUAL, MCA_AMORTIZED]],
    "actual first": [[MCA_ACTUAL], [MCA_AMORTIZED]],
    "amortized first": [[MCA_AMORTIZED], [MCA_ACTUAL]],
}


@pytest.mark.parametrize("order", list(ORDERS))
def test_actual_and_amortized_combine_in_any_order(ws: Workspace, order: str) -> None:
    for load in ORDERS[order]:
        ws.ingest(load, source="azure")
    billed = native_totals(MCA_ACTUAL, "costInBillingCurrency", "billingPeriodStartDate")
    effective = native_totals(MCA_AMORTIZED, "costInBillingCurrency", "billingPeriodStartDate")
    assert billed == {"2024-03-01": Decimal("316.81")}
    assert effective == {"2024-03-01": Decimal("326.81")}
    assert stored_totals(ws, "BilledCost") == billed
    assert stored_totals(ws, "EffectiveCost") == effective
    kept = ws.sql("SELECT x_ChargeType FROM costs WHERE x_CostDataset = 'ActualCost'")
    assert sorted(kept.column("x_ChargeType").to_pylist()) == ["Purchase", "Purchase", "Refund"]
    log = ws.sql("SELECT sum(rows_read) r, sum(rows_superseded) s FROM ingest_log").to_pylist()
    assert log == [{"r": 17, "s": 6}]  # 9 + 8 read; the 6 actual non-commitment rows dropped


def test_a_newer_amortized_file_keeps_the_purchases(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest([MCA_ACTUAL, MCA_AMORTIZED], source="azure")
    newer = tmp_path / "mca_2024-03_amortized_v2.csv"
    newer.write_text(MCA_AMORTIZED.read_text().replace("4.8,5.2", "4.9,5.3"))
    ws.ingest([newer], source="azure")
    assert stored_totals(ws, "EffectiveCost") == {"2024-03-01": Decimal("326.91")}
    assert stored_totals(ws, "BilledCost") == {"2024-03-01": Decimal("316.91")}
    again = tmp_path / "mca_2024-03_actual_v2.csv"
    again.write_text(MCA_ACTUAL.read_text() + "\n")
    ws.ingest([again], source="azure")
    assert stored_totals(ws, "BilledCost") == {"2024-03-01": Decimal("316.91")}


def _mca(ws: Workspace, charge_type: str, **where: str) -> dict[str, Any]:
    extra = "".join(f" AND {k} = '{v}'" for k, v in where.items())
    rows = ws.sql(f"SELECT * FROM costs WHERE x_ChargeType = '{charge_type}'{extra}").to_pylist()
    assert len(rows) == 1, rows
    return rows[0]


def test_mca_money_semantics(ws: Workspace) -> None:
    ws.ingest([MCA_ACTUAL, MCA_AMORTIZED], source="azure")
    on_demand = _mca(ws, "Usage", x_PricingModel="OnDemand")
    assert on_demand["BilledCost"] == on_demand["EffectiveCost"] == Decimal("4.8")
    assert on_demand["ListCost"] == Decimal("6.0")  # paygCostInBillingCurrency
    assert on_demand["ContractedCost"] == Decimal("4.8")  # unitPrice x quantity
    assert on_demand["PricingCategory"] == "Standard"
    assert on_demand["Tags"] == '{"team":"research","project":"llm"}'
    assert on_demand["BillingAccountId"] == "AB12-CD34-EF5-GH6"  # MCA: the billing profile
    assert on_demand["BillingAccountType"] == "Billing Profile"
    ri_purchase = _mca(ws, "Purchase", x_PricingModel="Reservation")
    assert (ri_purchase["BilledCost"], ri_purchase["EffectiveCost"]) == (Decimal(73), Decimal(0))
    assert ri_purchase["ChargeFrequency"] == "Recurring"
    used = _mca(ws, "Usage", x_PricingModel="Reservation")
    assert (used["BilledCost"], used["EffectiveCost"]) == (Decimal(0), Decimal("2.4"))
    assert used["CommitmentDiscountStatus"] == "Used"
    assert used["CommitmentDiscountCategory"] == "Usage"
    assert used["PricingCategory"] == "Committed"
    unused = _mca(ws, "UnusedReservation")
    assert (unused["BilledCost"], unused["EffectiveCost"]) == (Decimal(0), Decimal("70.6"))
    assert unused["CommitmentDiscountStatus"] == "Unused"
    assert unused["ChargeCategory"] == "Usage" and unused["ConsumedQuantity"] is None
    sp_unused = _mca(ws, "UnusedSavingsPlan")
    assert sp_unused["CommitmentDiscountCategory"] == "Spend"
    refund = _mca(ws, "Refund")
    assert (refund["ChargeCategory"], refund["ChargeClass"]) == ("Purchase", "Correction")
    assert (refund["BilledCost"], refund["EffectiveCost"]) == (Decimal(-10), Decimal(0))
    marketplace = _mca(ws, "Purchase", x_PublisherType="Marketplace")
    assert marketplace["PublisherName"] == "Contoso Software Ltd"
    assert marketplace["BilledCost"] == marketplace["EffectiveCost"] == Decimal(99)
    support = _mca(ws, "Purchase", x_MeterCategory="Azure Support")
    assert support["EffectiveCost"] == Decimal(100)  # not a commitment: not amortized away
    rounding = _mca(ws, "RoundingAdjustment")
    assert rounding["ChargeCategory"] == "Adjustment" and rounding["BilledCost"] == Decimal("0.01")


def test_list_price_falls_back_to_the_contracted_price(ws: Workspace) -> None:
    ws.ingest([EA_AMORTIZED], source="azure")
    row = ws.sql(
        "SELECT ListUnitPrice, ContractedUnitPrice, ListCost, x_SourceChanges FROM costs "
        "WHERE x_PricingModel = 'Reservation'"
    ).to_pylist()[0]
    # EA leaves PayGPrice 0 on reservation usage; Microsoft's hubs use the unit price then
    assert row["ListUnitPrice"] == row["ContractedUnitPrice"] == Decimal("0.146")
    assert row["ListCost"] == Decimal("1.168")
    assert row["x_SourceChanges"] == "ListUnitPriceFromContracted"


# -- which dataset ----------------------------------------------------------------------------


def test_dataset_is_detected_from_the_rows(ws: Workspace, tmp_path: Path) -> None:
    actual = shutil.copy(MCA_ACTUAL, tmp_path / "export-a.csv")
    amortized = shutil.copy(MCA_AMORTIZED, tmp_path / "export-b.csv")
    summary = ws.ingest([actual, amortized], source="azure")
    assert [f.focus_version for f in summary.files] == ["azure-ActualCost", "azure-AmortizedCost"]
    assert any("commitment purchases" in n for n in summary.files[0].notes)
    assert stored_totals(ws, "BilledCost") == {"2024-03-01": Decimal("316.81")}


def test_dataset_option_overrides_and_is_checked(ws: Workspace, tmp_path: Path) -> None:
    plain = shutil.copy(EA_EMPTY, tmp_path / "detail.csv")
    summary = ws.ingest([plain], source="azure", options={"dataset": "amortized"})
    assert summary.files[0].focus_version == "azure-AmortizedCost"
    with pytest.raises(IngestError, match="unknown dataset 'cash'"):
        ws.ingest([EA_ACTUAL], source="azure", options={"dataset": "cash"})


def test_a_file_with_both_kinds_of_commitment_rows_needs_the_option(
    ws: Workspace, tmp_path: Path
) -> None:
    lines = MCA_AMORTIZED.read_text().splitlines()
    purchase = next(x for x in MCA_ACTUAL.read_text().splitlines() if ",Purchase,EUR" in x)
    mixed = tmp_path / "detail.csv"
    mixed.write_text("\n".join([*lines, purchase]) + "\n")
    with pytest.raises(IngestError, match="-o dataset=actual or -o dataset=amortized"):
        ws.ingest([mixed], source="azure")


def test_no_commitment_rows_reads_as_actual_with_a_note(ws: Workspace, tmp_path: Path) -> None:
    lines = EA_ACTUAL.read_text(encoding="utf-8-sig").splitlines()
    plain = tmp_path / "detail.csv"
    plain.write_text("\n".join([lines[0], *lines[2:]]) + "\n")  # without the RI purchase
    summary = ws.ingest([plain], source="azure")
    assert summary.files[0].focus_version == "azure-ActualCost"
    assert any("no commitment rows" in n for n in summary.files[0].notes)


# -- bad input --------------------------------------------------------------------------------


def test_bad_rows_are_quarantined_with_native_column_and_line(
    ws: Workspace, tmp_path: Path
) -> None:
    lines = EA_ACTUAL.read_text(encoding="utf-8-sig").splitlines()
    bad = tmp_path / "Detail_actual.csv"
    lines[2] = lines[2].replace(",0.00004,", ",4e-5x,")  # Cost
    lines[5] = lines[5].replace("09/04/2023", "2023-13-45", 1)  # Date
    tagged = next(i for i, x in enumerate(lines) if i > 5 and '"""CostCenter"": ' in x)
    lines[tagged] = lines[tagged].replace('"""CostCenter"": ', '"""CostCenter"" ', 1)
    bad.write_text("\n".join(lines) + "\n")
    summary = ws.ingest([bad], source="azure")
    result = summary.files[0]
    assert (result.rows_read, result.rows_ingested, result.rows_quarantined) == (11, 8, 3)
    got = ws.sql("SELECT line, column_name, reason FROM quarantine ORDER BY line").to_pylist()
    expected = [(3, "Cost"), (6, "Date"), (tagged + 1, "Tags")]
    assert [(r["line"], r["column_name"]) for r in got] == expected
    assert "not a number" in got[0]["reason"]


def test_missing_columns_are_named(ws: Workspace, tmp_path: Path) -> None:
    bad = tmp_path / "detail.csv"
    bad.write_text("Date,Quantity,ChargeType\n09/01/2023,1,Usage\n")
    with pytest.raises(IngestError, match="costinbillingcurrency, billingcurrencycode"):
        ws.ingest([bad], source="azure")


def test_header_only_file_loads_nothing(ws: Workspace) -> None:
    summary = ws.ingest([EA_EMPTY], source="azure")
    assert summary.rows_read == 0


# -- the official validator -------------------------------------------------------------------


@pytest.mark.validator
@needs_validator
def test_converted_rows_pass_the_official_validator(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest([EA_ACTUAL, EA_AMORTIZED], source="azure")
    ws.ingest([MCA_ACTUAL, MCA_AMORTIZED], source="azure")
    (path,) = ws.export_focus(tmp_path / "out", version="1.2")
    result = validate(path)
    assert not result.unexpected_failures(), result.summary(allow_defects=True)


def test_a_load_says_which_dataset_is_still_missing(ws: Workspace) -> None:
    summary = ws.ingest([MCA_AMORTIZED], source="azure")
    assert summary.files[0].notes == [
        "AB12-CD34-EF5-GH6 2024-03: actual cost file not loaded yet: BilledCost lacks the "
        "reservation and savings plan purchases"
    ]
    summary = ws.ingest([MCA_ACTUAL], source="azure")
    assert not any("not loaded yet" in n for n in summary.files[0].notes)


def test_parquet_exports_with_typed_columns(ws: Workspace, tmp_path: Path) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    actual, amortized = tmp_path / "actual.parquet", tmp_path / "amortized.parquet"
    for src, dst in ((MCA_ACTUAL, actual), (MCA_AMORTIZED, amortized)):
        table = pacsv.read_csv(src)  # numbers as doubles, dates as dates: typed like an export
        assert table.schema.field("date").type == "date32[day]"
        pq.write_table(table, dst)
    ws.ingest([actual, amortized], source="azure")
    assert stored_totals(ws, "BilledCost") == {"2024-03-01": Decimal("316.81")}
    assert stored_totals(ws, "EffectiveCost") == {"2024-03-01": Decimal("326.81")}


def test_newer_ea_column_names(ws: Workspace, tmp_path: Path) -> None:
    """EA exports since 2021 name the columns as below (and may write ISO dates); same rows."""
    header, *rows = EA_ACTUAL.read_text(encoding="utf-8-sig").splitlines()
    renames = {"Cost": "CostInBillingCurrency", "BillingCurrency": "BillingCurrencyCode"}
    renames |= {"Product": "ProductName", "benefitId": "BenefitId", "benefitName": "BenefitName"}
    newer = tmp_path / "Detail_actual.csv"
    names = [renames.get(h, h) for h in header.split(",")]
    newer.write_text(
        "\n".join([",".join(names), *[r.replace("09/04/2023", "2023-09-04") for r in rows]]) + "\n"
    )
    ws.ingest([newer], source="azure")
    old = Workspace.init(tmp_path / "old")
    old.ingest([EA_ACTUAL], source="azure")
    assert stored_rows(ws) == stored_rows(old)
