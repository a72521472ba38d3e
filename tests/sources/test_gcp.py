"""`ingest gcp`: the BigQuery billing export as JSON lines and as flattened CSV -> FOCUS rows.

No real public GCP billing export exists: the input files are BUILT from Google's documented
schema of the standard/detailed usage cost export (see ``tests/data/gcp/README.md``). Expected
totals are computed from the JSON with ``json`` and ``Decimal`` following Google's invoice query
(``SUM(cost) + SUM(credits.amount)`` per ``invoice.month``), independently of aifinops.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aifinops import Workspace
from aifinops.errors import IngestError
from aifinops.sources import gcp
from tests.sources.test_azure import (
    check_golden,
    stored_rows,
    stored_totals,
)
from tests.validator import needs_validator, validate

DATA = Path(__file__).resolve().parents[1] / "data" / "gcp"
JSONL = DATA / "billing_export_2024-03.jsonl"
CSV = DATA / "billing_export_2024-03.csv"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.init(tmp_path / "ws")


def invoice_totals(path: Path) -> dict[str, Decimal]:
    """Google's invoice logic over the JSON lines: cost plus credits, per invoice month."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for line in path.read_text().splitlines():
        row = json.loads(line, parse_float=Decimal)
        month = row["invoice"]["month"]
        totals[f"{month[:4]}-{month[4:]}-01"] += row["cost"] + sum(
            (c["amount"] for c in row.get("credits", [])), Decimal(0)
        )
    return dict(totals)


def _row(ws: Workspace, text: str, category: str = "Usage") -> dict[str, Any]:
    rows = ws.sql(
        f"SELECT * FROM costs WHERE ChargeDescription = '{text}' AND ChargeCategory = "
        f"'{category}' AND x_InvoiceMonth = '202403'"
    )
    (row,) = rows.to_pylist()
    return row


def test_golden_jsonl(ws: Workspace) -> None:
    summary = ws.ingest([JSONL], source="gcp")
    assert (summary.rows_read, summary.rows_quarantined) == (13, 0)
    check_golden(stored_rows(ws), DATA / "expected" / "billing_export_2024-03.csv")


def test_csv_and_jsonl_give_the_same_rows(tmp_path: Path) -> None:
    with Workspace.init(tmp_path / "a") as a, Workspace.init(tmp_path / "b") as b:
        a.ingest([JSONL], source="gcp")
        b.ingest([CSV], source="gcp")
        rows_a, rows_b = stored_rows(a), stored_rows(b)
        for rows in (rows_a, rows_b):  # the same credits; key order and nulls differ
            for row in rows:
                credits = json.loads(row["x_Credits"] or "[]")
                row["x_Credits"] = [{k: v for k, v in c.items() if v is not None} for c in credits]
        assert rows_a == rows_b


@pytest.mark.parametrize("path", [JSONL, CSV], ids=["jsonl", "csv"])
def test_billed_cost_is_cost_plus_credits_per_invoice_month(ws: Workspace, path: Path) -> None:
    ws.ingest([path], source="gcp")
    expected = invoice_totals(JSONL)
    assert expected == {"2024-03-01": Decimal("658.884674"), "2024-02-01": Decimal("0.4")}
    assert stored_totals(ws, "BilledCost") == expected
    assert stored_totals(ws, "EffectiveCost") == expected
    before_credits = ws.sql("SELECT sum(ContractedCost) s FROM costs").to_pylist()[0]["s"]
    assert before_credits == Decimal("667.651082") + Decimal("0.4")


def test_credits(ws: Workspace) -> None:
    ws.ingest([JSONL], source="gcp")
    sud = _row(ws, "N1 Predefined Instance Core running in Americas")
    assert (sud["ContractedCost"], sud["BilledCost"]) == (Decimal("3.2"), Decimal("2.7"))
    assert sud["x_CreditsTotal"] == "-0.500000000000000000"
    assert json.loads(sud["x_Credits"])[0]["type"] == "SUSTAINED_USAGE_DISCOUNT"
    cud = _row(ws, "Nvidia Tesla A100 GPU running in Americas")
    assert cud["BilledCost"] == cud["EffectiveCost"] == Decimal(0)
    assert cud["CommitmentDiscountId"].endswith("/commitments/a100-1y")
    assert (cud["CommitmentDiscountStatus"], cud["CommitmentDiscountCategory"]) == ("Used", "Usage")
    assert cud["PricingCategory"] == "Committed"
    fee = _row(ws, "Commitment v1: A2 GPU in Americas for 1 Year")
    assert fee["BilledCost"] == fee["EffectiveCost"] == Decimal("1.848362")
    free = _row(ws, "Standard Storage US Multi-region")
    assert (free["BilledCost"], free["ListCost"]) == (Decimal(0), Decimal("0.026"))
    promo = _row(ws, "Gemini 1.5 Pro Input Text")
    assert promo["BilledCost"] == Decimal("2.5")
    resold = _row(ws, "Analysis")
    assert resold["BilledCost"] == Decimal("5.9375")
    assert resold["InvoiceIssuerName"] == "Cloudy Reseller GmbH"
    spot = _row(ws, "Spot Preemptible Nvidia L4 GPU running in Americas")
    assert spot["PricingCategory"] == "Dynamic"


def test_cost_types_and_marketplace(ws: Workspace) -> None:
    ws.ingest([JSONL], source="gcp")
    tax = _row(ws, "Tax", "Tax")
    assert (tax["ChargeCategory"], tax["BilledCost"]) == ("Tax", Decimal("49.67"))
    assert tax["SubAccountId"] is None
    correction = _row(ws, "Usage correction for 2024-02 outage", "Credit")
    assert (correction["ChargeCategory"], correction["ChargeClass"]) == ("Credit", "Correction")
    assert json.loads(correction["x_AdjustmentInfo"])["type"] == "USAGE_CORRECTION"
    rounding = _row(ws, "Rounding error", "Adjustment")
    assert rounding["ChargeCategory"] == "Adjustment"
    market = _row(ws, "Contoso Vector DB Pro plan")
    assert (market["PublisherName"], market["InvoiceIssuerName"]) == ("Contoso Ltd", "Google")
    support = _row(ws, "Enhanced Support")
    assert (support["ServiceCategory"], support["ServiceSubcategory"]) == (
        "Management and Governance",
        "Support",
    )


def test_labels_become_tags(ws: Workspace) -> None:
    ws.ingest([JSONL], source="gcp")
    row = _row(ws, "N1 Predefined Instance Core running in Americas")
    # project labels, then resource labels (which win a clash: team), then system labels
    assert json.loads(row["Tags"]) == {
        "env": "prod",
        "team": "research",
        "job": "pretrain-7b",
        "compute.googleapis.com/machine_spec": "n1-standard-8",
    }
    assert row["SubAccountId"] == "ml-prod-4471" and row["SubAccountType"] == "Project"
    assert row["x_ProjectNumber"] == "804419826543"


def test_gzip_jsonl_and_small_blocks(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packed = tmp_path / "export.json.gz"
    packed.write_bytes(gzip.compress(JSONL.read_bytes()))
    monkeypatch.setattr(gcp, "JSON_BLOCK_BYTES", 2000)  # several blocks of a few lines
    summary = ws.ingest([packed], source="gcp")
    assert summary.files[0].format == "jsonl.gz"
    assert stored_totals(ws, "BilledCost") == invoice_totals(JSONL)
    records = ws.sql("SELECT x_SourceRecord FROM costs ORDER BY 1").column(0).to_pylist()
    assert records == list(range(1, 14))


def test_bad_lines_are_quarantined_by_line_number(ws: Workspace, tmp_path: Path) -> None:
    lines = JSONL.read_text().splitlines()
    lines.insert(2, "")  # a blank line: skipped, but lines keep counting
    lines[4] = lines[4][:50]  # line 5: cut off
    lines[6] = lines[6].replace('"cost": ', '"cost": "twelve", "x": ', 1)  # line 7: bad cost
    lines[5] = lines[5].replace('"credits": [', '"credits": [7, ', 1)  # line 6: bad credit
    bad = tmp_path / "export.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    summary = ws.ingest([bad], source="gcp")
    result = summary.files[0]
    assert (result.rows_read, result.rows_ingested, result.rows_quarantined) == (13, 10, 3)
    got = ws.sql("SELECT line, column_name, reason FROM quarantine ORDER BY line").to_pylist()
    assert [(r["line"], r["column_name"]) for r in got] == [
        (5, None),
        (6, "credits"),
        (7, "cost"),
    ]
    assert got[0]["reason"].startswith("not valid JSON")


def test_bad_credits_in_csv_are_quarantined(ws: Workspace, tmp_path: Path) -> None:
    lines = CSV.read_text().splitlines()
    lines[2] = lines[2].replace('"[{""name"":', '"[{oops', 1)
    assert "oops" in lines[2]
    bad = tmp_path / "export.csv"
    bad.write_text("\n".join(lines) + "\n")
    ws.ingest([bad], source="gcp")
    got = ws.sql("SELECT line, column_name FROM quarantine").to_pylist()
    assert got == [{"line": 3, "column_name": "credits"}]


def test_not_a_billing_export(ws: Workspace, tmp_path: Path) -> None:
    csv_file = tmp_path / "x.csv"
    csv_file.write_text("cost,currency\n1,USD\n")
    with pytest.raises(IngestError, match=r"billing_account_id, usage_start_time, invoice\.month"):
        ws.ingest([csv_file], source="gcp")
    json_file = tmp_path / "x.jsonl"
    json_file.write_text('["not", "an", "object"]\n')
    with pytest.raises(IngestError, match="not a JSON object"):
        ws.ingest([json_file], source="gcp")


@pytest.mark.validator
@needs_validator
def test_converted_rows_pass_the_official_validator(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest([JSONL], source="gcp")
    (path,) = ws.export_focus(tmp_path / "out", version="1.2")
    result = validate(path)
    assert not result.unexpected_failures(), result.summary(allow_defects=True)


def test_billing_account_name_option(ws: Workspace) -> None:
    ws.ingest([JSONL], source="gcp", options={"billing_account_name": "Research Org"})
    names = ws.sql("SELECT DISTINCT BillingAccountName FROM costs").column(0).to_pylist()
    assert names == ["Research Org"]


def test_csv_columns_may_use_underscores(ws: Workspace, tmp_path: Path) -> None:
    header, *rest = CSV.read_text().splitlines()
    flat = tmp_path / "flat.csv"
    flat.write_text("\n".join([header.replace(".", "_"), *rest]) + "\n")
    ws.ingest([flat], source="gcp")
    assert stored_totals(ws, "BilledCost") == invoice_totals(JSONL)
    engine = ws.sql("SELECT count(*) n FROM costs WHERE ServiceName = 'Compute Engine'")
    assert engine.to_pylist() == [{"n": 6}]
