"""`ingest oci`: OCI cost reports -> FOCUS rows of ``costs``.

Inputs (see ``tests/data/oci/README.md``): 13 real records of the cost report in the FinOps
Foundation's converter tests (MIT), and a file BUILT from Oracle's documented cost report
columns for what the real one lacks (overage, a correction, a second month). Expected totals
are computed from the files with ``csv`` and ``Decimal``, independently of aifinops.
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

import pytest

from aifinops import Workspace
from aifinops.errors import IngestError
from aifinops.sources.oci import oci_unit
from tests.sources.test_azure import (
    check_golden,
    stored_rows,
    stored_totals,
)
from tests.validator import needs_validator, validate

DATA = Path(__file__).resolve().parents[1] / "data" / "oci"
REAL = DATA / "reports_cost-csv_0000000030000269_selected.csv"
BUILT = DATA / "oci_documented_2023-12.csv"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.init(tmp_path / "ws")


def my_cost_per_month(*paths: Path) -> dict[str, Decimal]:
    """The report's own total (``cost/myCost``) per calendar month of the usage (UTC)."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for path in paths:
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                month = row["lineItem/intervalUsageStart"][:7]
                totals[f"{month}-01"] += Decimal(row["cost/myCost"])
    return dict(totals)


@pytest.mark.parametrize(("path", "golden"), [(REAL, "real.csv"), (BUILT, "documented.csv")])
def test_golden(ws: Workspace, path: Path, golden: str) -> None:
    summary = ws.ingest([path], source="oci")
    assert summary.rows_quarantined == 0
    check_golden(stored_rows(ws), DATA / "expected" / golden)


def test_totals_reconcile_per_billing_period(ws: Workspace) -> None:
    ws.ingest([REAL, BUILT], source="oci")
    expected = my_cost_per_month(REAL, BUILT)
    assert expected["2023-11-01"] == Decimal("0.078566893636255917")
    assert stored_totals(ws, "BilledCost") == expected
    assert stored_totals(ws, "EffectiveCost") == expected
    assert stored_totals(ws, "ContractedCost") == expected


def _row(ws: Workspace, reference: str) -> dict[str, Any]:
    (row,) = ws.sql(f"SELECT * FROM costs WHERE x_ReferenceNo = '{reference}'").to_pylist()
    return row


def test_money_and_columns(ws: Workspace) -> None:
    ws.ingest([REAL, BUILT], source="oci")
    tiny = _row(ws, "58354fa014bd633a21510107aaceed95")  # cost/myCost 6.266090E-12
    assert tiny["BilledCost"] == Decimal("6.266090E-12")
    apex = _row(ws, "7108a1f83bdbad70487bf0cf99cbe260")
    assert apex["ContractedUnitPrice"] == Decimal("0.14717133")
    assert apex["PricingQuantity"] == Decimal("0.083333333333")
    assert apex["BillingAccountId"].startswith("ocid1.tenancy.oc1..")
    assert apex["x_SubscriptionId"].startswith("ocid1.organizationssubscription.")
    assert (apex["ServiceCategory"], apex["ResourceType"]) == ("Databases", "autonomousdatabase")
    assert str(apex["ChargePeriodStart"]) == "2023-11-13 10:00:00+00:00"  # "2023-11-13T10:00Z"
    assert json.loads(apex["Tags"])["Valtest.Cat"] == "boots"
    assert apex["x_SourceChanges"] == "ListCostFromContracted"
    other = _row(ws, "1dbf262046c0689aeaac16c2d9bb78d5")
    assert other["SubAccountName"] == "redbullhol"
    assert json.loads(other["Tags"])["DevRel\\redbull-analytics-hol-4cb4.release"] == "1.0"
    correction = _row(ws, "a1000000000000000000000000000003")
    assert (correction["ChargeClass"], correction["BilledCost"]) == ("Correction", Decimal(-4))
    assert correction["x_BackreferenceNo"] == "a1000000000000000000000000000001"
    overage = _row(ws, "a1000000000000000000000000000002")
    assert (overage["x_OverageFlag"], overage["BilledCost"]) == ("true", Decimal(25))
    assert overage["x_CostOverage"] == "25.000000000000000000"
    genai = _row(ws, "a1000000000000000000000000000004")
    assert genai["ServiceSubcategory"] == "Generative AI"
    assert genai["PricingUnit"] == "10000 Transactions"


def test_units() -> None:
    assert oci_unit("GPU Per Hour") == "GPU/Hour"
    assert oci_unit("10,000 Transactions") == "10000 Transactions"
    assert oci_unit("GB Months") == "GB Months"


def test_report_files_of_a_month_add_up(ws: Workspace, tmp_path: Path) -> None:
    lines = REAL.read_text().splitlines()
    first = tmp_path / "reports_cost-csv_0000000030000268.csv"
    second = tmp_path / "reports_cost-csv_0000000030000269.csv.gz"
    first.write_text("\n".join(lines[:7]) + "\n")
    second.write_bytes(gzip.compress(("\n".join([lines[0], *lines[7:]]) + "\n").encode()))
    ws.ingest([first], source="oci")
    ws.ingest([second], source="oci")
    assert stored_totals(ws, "BilledCost") == my_cost_per_month(REAL)
    # a re-delivered report (same name, new content) replaces only its own rows
    again = tmp_path / "again" / "reports_cost-csv_0000000030000268.csv"
    again.parent.mkdir()
    again.write_text("\n".join(lines[:2]) + "\n")
    summary = ws.ingest([again], source="oci")
    assert summary.rows_replaced == 6
    assert ws.sql("SELECT count(*) n FROM costs").to_pylist() == [{"n": 1 + 7}]


def test_bad_rows_are_quarantined_with_native_column_and_line(
    ws: Workspace, tmp_path: Path
) -> None:
    lines = REAL.read_text().splitlines()
    lines[2] = lines[2].replace(",2.323760000E-9,", ",2.3x,")
    lines[4] = lines[4].replace("2023-11-13T10:00Z", "13/11/2023 10:00", 1)
    bad = tmp_path / "report.csv"
    bad.write_text("\n".join(lines) + "\n")
    summary = ws.ingest([bad], source="oci")
    assert (summary.rows_read, summary.rows_ingested, summary.rows_quarantined) == (13, 11, 2)
    got = ws.sql("SELECT line, column_name FROM quarantine ORDER BY line").to_pylist()
    assert got == [
        {"line": 3, "column_name": "cost/myCost"},
        {"line": 5, "column_name": "lineItem/intervalUsageStart"},
    ]


def test_missing_columns_are_named(ws: Workspace, tmp_path: Path) -> None:
    bad = tmp_path / "report.csv"
    shutil.copy(REAL, bad)
    bad.write_text(REAL.read_text().replace("cost/myCost,", "cost/yourCost,", 1))
    with pytest.raises(IngestError, match="cost/myCost"):
        ws.ingest([bad], source="oci")


@pytest.mark.validator
@needs_validator
def test_converted_rows_pass_the_official_validator(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest([REAL, BUILT], source="oci")
    (path,) = ws.export_focus(tmp_path / "out", version="1.2")
    result = validate(path)
    assert not result.unexpected_failures(), result.summary(allow_defects=True)


def test_tenancy_name_option(ws: Workspace) -> None:
    summary = ws.ingest([REAL], source="oci")
    assert any("no tenancy name" in n for n in summary.files[0].notes)
    names = ws.sql("SELECT DISTINCT BillingAccountName FROM costs").column(0).to_pylist()
    assert names == [ws.sql("SELECT any_value(BillingAccountId) FROM costs").column(0)[0].as_py()]
    ws.ingest([REAL], source="oci", force=True, options={"billing_account_name": "platformpm"})
    names = ws.sql("SELECT DISTINCT BillingAccountName FROM costs").column(0).to_pylist()
    assert names == ["platformpm"]
