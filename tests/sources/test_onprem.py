"""On-prem GPU clusters: the inventory in aifinops.toml -> hourly FOCUS rows, costed exactly."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from aifinops import Workspace
from aifinops.errors import IngestError
from tests.cli.runner import run_cli

# Chosen so the hand computation is short: node a amortises 8760 over 2026 (8760 hours) = 1 an
# hour and draws 2 kW x PUE 1.5 = 3 kWh an hour at 0.20 = 0.60; nodes b-1, b-2 amortise 17520
# over the year from 1 February = 2 an hour and draw 1.5 kWh = 0.30 an hour.
INVENTORY = """
[[onprem.clusters]]
name = "dc1"
location = "eu-central"
currency = "EUR"
electricity_price_per_kwh = 0.20
pue = 1.5
space_per_month = 1440
operations_per_month = 720
tags = { owner = "platform" }

[[onprem.clusters.nodes]]
name = "a"
gpu_model = "H100-SXM5-80GB"
gpus = 8
purchase_price = 8760
purchase_date = 2026-01-01
amortisation_years = 1
power_kw = 2
tags = { team = "research" }

[[onprem.clusters.nodes]]
name = "b"
count = 2
gpu_model = "L40S"
gpus = 4
purchase_price = 17520
purchase_date = 2026-02-01
amortisation_years = 1
power_kw = 1
"""


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace.init(tmp_path / "ws")
    with (workspace.path / "aifinops.toml").open("a") as fh:
        fh.write(INVENTORY)
    workspace.close()
    return Workspace(tmp_path / "ws")


def one(ws: Workspace, sql: str) -> object:
    return ws.sql(sql).column(0)[0].as_py()


def test_hourly_rows_per_server_with_exact_components(ws: Workspace) -> None:
    summary = ws.ingest([], source="onprem", options={"start": "2026-01", "end": "2026-03"})
    # January: a only (744 h). February: a, b-01, b-02 (672 h each).
    assert summary.rows_ingested == 744 + 3 * 672
    rows = ws.sql(
        "SELECT ResourceId, BillingPeriodStart, min(ChargePeriodStart), count(*), "
        "any_value(x_AmortisationCost), any_value(x_EnergyCost), any_value(x_SpaceCost), "
        "any_value(x_OperationsCost), any_value(BilledCost), any_value(x_GpuCount) "
        "FROM costs GROUP BY ALL ORDER BY 2, 1"
    ).to_pylist()
    got = [tuple(r.values()) for r in rows]
    jan, feb = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    assert got == [
        ("dc1/a", jan, jan, 744, "1", "0.6",
         "1.935483870967741935", "0.967741935483870968", Decimal("4.503225806451612903"), "8"),
        ("dc1/a", feb, feb, 672, "1", "0.6",
         "1.071428571428571429", "0.535714285714285714", Decimal("3.207142857142857143"), "8"),
        ("dc1/b-01", feb, feb, 672, "2", "0.3",
         "0.535714285714285714", "0.267857142857142857", Decimal("3.103571428571428571"), "4"),
        ("dc1/b-02", feb, feb, 672, "2", "0.3",
         "0.535714285714285714", "0.267857142857142857", Decimal("3.103571428571428571"), "4"),
    ]  # fmt: skip
    # The monthly amounts are spread without losing a cent.
    for month in ("2026-01-01", "2026-02-01"):
        space = one(
            ws,
            "SELECT sum(CAST(x_SpaceCost AS DECIMAL(38,18))) FROM costs "
            f"WHERE BillingPeriodStart = '{month}'",
        )
        assert round(Decimal(str(space)), 2) == Decimal("1440.00")
    assert one(ws, "SELECT sum(BilledCost) = sum(EffectiveCost) FROM costs") is True
    tags = one(ws, "SELECT Tags FROM costs WHERE ResourceId = 'dc1/a' LIMIT 1")
    assert tags == '{"owner": "platform", "team": "research"}'
    fixed = ws.sql(
        "SELECT DISTINCT ServiceProviderName, HostProviderName, ProviderName, BillingAccountId, "
        "BillingCurrency, ServiceCategory, ChargeCategory, PricingUnit, RegionName FROM costs"
    ).to_pylist()
    assert [tuple(r.values()) for r in fixed] == [
        ("On-Premises", "On-Premises", "On-Premises", "onprem:dc1", "EUR", "Compute", "Usage",
         "Hours", "eu-central"),
    ]  # fmt: skip


def test_amortisation_stops_when_paid_off_and_rows_stop_when_retired(tmp_path: Path) -> None:
    path = tmp_path / "inv.toml"
    path.write_text(INVENTORY.replace("count = 2\n", "count = 2\nretired = 2027-01-01\n"))
    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest([path], source="onprem", options={"start": "2026-12-31", "end": "2027-01-02"})
        rows = ws.sql(
            "SELECT ResourceId, ChargePeriodStart >= '2027-01-01' AS after, count(*), "
            "min(x_AmortisationCost), max(x_AmortisationCost) FROM costs GROUP BY ALL ORDER BY 1, 2"
        ).to_pylist()
    assert [tuple(r.values()) for r in rows] == [
        ("dc1/a", False, 24, "1", "1"),
        ("dc1/a", True, 24, "0", "0"),
        ("dc1/b-01", False, 24, "2", "2"),
        ("dc1/b-02", False, 24, "2", "2"),
    ]


def test_a_later_run_replaces_the_months_it_covers_and_the_same_run_is_skipped(
    ws: Workspace,
) -> None:
    ws.ingest([], source="onprem", options={"start": "2026-01", "end": "2026-02-15"})
    again = ws.ingest([], source="onprem", options={"start": "2026-01", "end": "2026-02-15"})
    assert again.files[0].status == "skipped"
    later = ws.ingest([], source="onprem", options={"start": "2026-01", "end": "2026-03"})
    assert later.rows_replaced == 744 + 3 * 14 * 24
    assert one(ws, "SELECT count(*) FROM costs") == 744 + 3 * 672


def test_an_invalid_inventory_names_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "inv.toml"
    path.write_text(INVENTORY.replace("gpus = 4", "gpus = 0"))
    with (
        Workspace.init(tmp_path / "ws") as ws,
        pytest.raises(
            IngestError, match=r"onprem\.clusters\[0\]\.nodes\[1\]\.gpus: Input should be greater"
        ),
    ):
        ws.ingest([path], source="onprem", options={"end": "2026-03"})


def test_the_cli_reads_the_workspace_settings_by_default(ws: Workspace, tmp_path: Path) -> None:
    ws.close()
    result = run_cli(
        "ingest", "onprem", "-o", "start=2026-02", "-o", "end=2026-02-02", "-w", ws.path,
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "72" in result.stdout  # 3 servers x 24 hours
    with Workspace(ws.path, read_only=True) as again:
        assert one(again, "SELECT count(DISTINCT ResourceId) FROM costs") == 3
