"""Strategy analyses on a small workspace built through the real sources, worked by hand; the
demo; the CLI."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from aifinops import Workspace
from aifinops.analysis import strategy as s
from aifinops.analysis import strategy_data as data
from aifinops.analysis import strategy_finetune as ft
from aifinops.errors import AifinopsError, QueryError
from aifinops.model.onprem import OnPremInventory
from aifinops.model.timewindow import Window
from tests.cli.runner import output, run_cli
from tests.conftest import FOCUS_12_HEADER, focus_row, write_focus_csv
from tests.demo.build import demo_workspace

F = Fraction
WHEN = datetime(2026, 11, 1, tzinfo=UTC)

# Cloud H100 usage on 2026-10-01 (hourly FOCUS rows):
# - gpu-a, p5.48xlarge (8 x H100), 00-04h, on demand at list: 55.04 an hour;
# - gpu-b, a3-highgpu-8g (8 x H100-80GB), 02h, committed: list 88.00, effective 55.44 (37% off);
# - gpu-c, a3-highgpu-1g (1 x H100-80GB), 00h, spot: list 11.06, effective 4.00.
# GPUs held per hour: 9, 8, 16, 8 -> peak 16, average 41 / 4 over 4 hours.
_CLOUD = [
    # machine, description, hour, list, effective, pricing category, commitment
    ("gpu-a", "$55.04 per On Demand Linux p5.48xlarge Instance Hour", 0, "55.04", "55.04",
     "Standard", ""),
    ("gpu-a", "$55.04 per On Demand Linux p5.48xlarge Instance Hour", 1, "55.04", "55.04",
     "Standard", ""),
    ("gpu-a", "$55.04 per On Demand Linux p5.48xlarge Instance Hour", 2, "55.04", "55.04",
     "Standard", ""),
    ("gpu-a", "$55.04 per On Demand Linux p5.48xlarge Instance Hour", 3, "55.04", "55.04",
     "Standard", ""),
    ("gpu-b", "a3-highgpu-8g running", 2, "88.00", "55.44", "Committed", "cud-1"),
    ("gpu-c", "a3-highgpu-1g running", 0, "11.06", "4.00", "Dynamic", ""),
    # a type the price list has no price for: 16 Trainium2 chips at 40.00 an hour, 2.50 a chip
    ("trn-a", "trn2.48xlarge running", 5, "40.00", "40.00", "Standard", ""),
]  # fmt: skip
_EXTRA = ["PricingCategory", "CommitmentDiscountId", "CommitmentDiscountType",
          "CommitmentDiscountStatus", "CommitmentDiscountCategory", "ResourceName"]  # fmt: skip

# Two on-prem H100 servers costed for 2026-10-01 by the onprem source: 87,600 over 1 year
# (2026-03-01 to 2027-03-01: 8,760 hours) = 10.00 an hour; 5 kW x PUE 1.5 x 0.20 = 1.50; support
# 1,488 a month shared by 16 GPUs over October's 744 hours = 1.00 a server-hour. 12.50 in all.
_OBSERVED_ONPREM = """\
[[onprem.clusters]]
name = "lab"
currency = "USD"
electricity_price_per_kwh = 0.2
pue = 1.5
support_per_month = 1488

[[onprem.clusters.nodes]]
name = "h100"
count = 2
gpu_model = "H100-SXM5-80GB"
gpus = 8
purchase_price = 87600
purchase_date = 2026-03-01
amortisation_years = 1
power_kw = 5
"""
# A site to plan with: 350,400 over 4 years = 10.00 an hour; energy 1.50; space 3,650 a month
# shared by 16 GPUs = 1,825 a server-month = 2.50 an hour (730 hours). 14.00 a server-hour.
_PLANNED = {
    "clusters": [{
        "name": "plan", "electricity_price_per_kwh": "0.2", "pue": "1.5",
        "space_per_month": "3650",
        "nodes": [{"name": "dgx", "count": 2, "gpu_model": "H100-SXM5-80GB", "gpus": 8,
                   "purchase_price": "350400", "purchase_date": "2027-01-01",
                   "amortisation_years": 4, "power_kw": "5"}],
    }]
}  # fmt: skip
_PLANNED_TOML = """\
[[onprem.clusters]]
name = "plan"
electricity_price_per_kwh = 0.2
pue = 1.5
space_per_month = 3650

[[onprem.clusters.nodes]]
name = "dgx"
count = 2
gpu_model = "H100-SXM5-80GB"
gpus = 8
purchase_price = 350400
purchase_date = 2027-01-01
amortisation_years = 4
power_kw = 5
"""


def _focus_rows() -> list[dict[str, str]]:
    rows = []
    for machine, description, hour, listed, paid, category, commitment in _CLOUD:
        row = focus_row(period="2026-10", day=1, cost=paid, resource=machine)
        row |= {
            "ChargePeriodStart": f"2026-10-01T{hour:02d}:00:00Z",
            "ChargePeriodEnd": f"2026-10-01T{hour + 1:02d}:00:00Z",
            "ListCost": listed, "ContractedCost": listed, "ChargeDescription": description,
            "ResourceName": machine, "PricingCategory": category,
            "CommitmentDiscountId": commitment,
            "CommitmentDiscountType": "Committed Use Discount" if commitment else "",
            "CommitmentDiscountStatus": "Used" if commitment else "",
            "CommitmentDiscountCategory": "Usage" if commitment else "",
        }  # fmt: skip
        rows.append(row)
    return rows


def _llm_file(path: Path) -> Path:
    """Three gpt-4.1 requests through LiteLLM: 3,000 prompt tokens (1,000 from the cache), 500
    output, on 2026-10-01, -15 and -30."""
    usage = {"prompt_tokens": 3000, "completion_tokens": 500,
             "prompt_tokens_details": {"cached_tokens": 1000}}  # fmt: skip
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        head = "request_id,startTime,endTime,model,custom_llm_provider,prompt_tokens"
        out.writerow([*head.split(","), "completion_tokens", "total_tokens", "metadata"])
        for i, day in enumerate(("01", "15", "30")):
            out.writerow([f"r{i}", f"2026-10-{day} 10:00:00+00:00", f"2026-10-{day} 10:00:01+00:00",
                          "gpt-4.1-2025-04-14", "openai", 3000, 500, 3500,
                          json.dumps({"usage_object": usage})])  # fmt: skip
    return path


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("strategy")
    inputs = root / "in"
    inputs.mkdir()
    with Workspace.init(root / "ws") as ws:
        cloud = write_focus_csv(inputs / "cloud.csv", _focus_rows(), FOCUS_12_HEADER + _EXTRA)
        ws.ingest([cloud], source="focus")
        (inputs / "onprem.toml").write_text(_OBSERVED_ONPREM)
        options = {"start": "2026-10-01", "end": "2026-10-02"}
        ws.ingest([inputs / "onprem.toml"], source="onprem", options=options)
        jobs = inputs / "jobs.csv"  # 8 GPUs of gpu-a for 2 hours: 16 GPU-hours at 6.88
        jobs.write_text(
            "job_id,name,kind,start,end,node,gpu_count,gpu_model,status\n"
            "ft-1,finetune-7b,fine-tune,2026-10-01T00:00:00Z,2026-10-01T02:00:00Z,gpu-a,8,H100,"
            "completed\n"
            "run-2,no-end,fine-tune,2026-10-01T00:00:00Z,,gpu-a,8,H100,running\n"
        )
        ws.ingest([jobs], source="jobs")
        ws.ingest([_llm_file(inputs / "litellm.csv")], source="litellm")
        (root / "planned.toml").write_text(_PLANNED_TOML)
        yield ws


def _rows(result: s.StrategyResult) -> dict[str, dict[str, Any]]:
    return {r["option"]: r for r in result.table.to_pylist()}


def _notes(result: s.StrategyResult) -> dict[str, tuple[str, str]]:
    return {r["assumption"]: (r["value"], r["source"]) for r in result.assumptions.to_pylist()}


def _d(value: Fraction, places: int) -> Decimal:
    """``value`` rounded half-even to ``places``, as the result tables hold it."""
    return Decimal(f"{round(value * 10**places)}E-{places}")


# -- what the bills say --------------------------------------------------------------------------


def test_gpu_usage_in_the_bills(small: Workspace) -> None:
    usage = data.GpuUsage.read(small.engine, "H100", Window())
    assert usage.demand is not None
    assert (usage.demand.peak, usage.demand.average, usage.demand.hours) == (16, F(41, 4), 4)
    assert usage.demand.first == datetime(2026, 10, 1, tzinfo=UTC)
    assert usage.demand.models == ("H100", "H100-80GB")
    assert usage.list_rate is not None and usage.list_rate[0] == F(688, 100)  # 4 x 55.04 / 32
    assert usage.committed_discount is not None
    assert usage.committed_discount[0] == 37  # 1 - 55.44 / 88.00
    assert usage.spot_rate is not None and usage.spot_rate[0] == 4
    # a qualified name keeps to its model: only gpu-b and gpu-c
    narrow = data.GpuUsage.read(small.engine, "H100-80GB", Window())
    assert narrow.demand is not None and narrow.demand.peak == 8 and narrow.list_rate is None
    assert data.GpuUsage.read(small.engine, "L4", Window()).demand is None


def test_onprem_cost_per_server_hour_from_the_bills(small: Workspace) -> None:
    found = data.observed_onprem(small.engine, "H100", Window())
    assert found is not None
    rate, currency, where = found
    assert (rate.gpus_per_server, rate.amortisation, rate.energy, rate.overhead) == (
        8, F(10), F(3, 2), F(1),
    )  # fmt: skip
    assert currency == "USD" and "onprem:lab" in where and "48.00 server-hours (all dates)" in where
    assert data.observed_onprem(small.engine, "A100", Window()) is None


# -- cloud vs on-prem ----------------------------------------------------------------------------


def test_cloud_vs_onprem_all_from_the_workspace(small: Workspace) -> None:
    # Observed: peak 16, average 41/4 (utilisation 41/64); on-prem 12.50 a server-hour from the
    # bills -> 2 servers = 25.00 an hour; on-demand from the catalog: p5.48xlarge 55.04 / 8 = 6.88.
    result = s.cloud_vs_onprem(small.engine, OnPremInventory(), s.CloudVsOnPremQuery(gpu="H100"))
    rows = _rows(result)
    assert list(rows) == [
        "on-prem", "cloud on-demand", "cloud spot", "committed 1y", "committed 3y",
        "committed (your discount)", "cloud as billed now",
    ]  # fmt: skip
    hours = 3 * 8760  # the default horizon
    onprem = rows["on-prem"]
    assert onprem["gpus_paid"] == 16 and onprem["price_per_gpu_hour"] == Decimal("1.5625")
    assert onprem["cost_per_used_gpu_hour"] == _d(F(25) / F(41, 4), 6)  # 2.439024
    assert onprem["monthly_cost"] == Decimal("18250.00")  # 25 x 730
    assert onprem["total_cost"] == Decimal(25 * hours)
    assert onprem["on_prem_cheaper"] is None
    od = rows["cloud on-demand"]
    assert od["gpus_paid"] == Decimal("10.25") and od["price_per_gpu_hour"] == Decimal("6.88")
    assert od["monthly_cost"] == _d(F(41, 4) * F(688, 100) * 730, 2)  # 51,479.60
    assert od["total_cost"] == _d(F(41, 4) * F(688, 100) * hours, 2)
    # on-prem cheaper above 25 / (16 x 6.88) = 22.71%
    assert od["break_even_utilisation_pct"] == _d(F(25) / (16 * F(688, 100)) * 100, 2)
    assert od["on_prem_cheaper"] == "above 22.71% utilisation"
    assert "p5.48xlarge" in od["price_source"]
    spot = rows["cloud spot"]  # the cheapest H100 spot: a3-megagpu-8g us-east4, 8 GPUs
    per_gpu = F("23.2752366027397") / 8
    assert spot["price_per_gpu_hour"] == _d(per_gpu, 6)
    assert spot["break_even_utilisation_pct"] == _d(F(25) / (16 * per_gpu) * 100, 2)
    one = rows["committed 1y"]  # 6.88 less 37% = 4.3344 for 16 GPUs held
    assert one["price_per_gpu_hour"] == Decimal("4.3344")
    assert one["monthly_cost"] == _d(16 * F(43344, 10_000) * 730, 2)
    assert one["cost_per_used_gpu_hour"] == _d(16 * F(43344, 10_000) / F(41, 4), 6)
    assert one["on_prem_cheaper"] == "at any utilisation"
    assert one["break_even_utilisation_pct"] is None
    assert rows["committed 3y"]["price_per_gpu_hour"] == Decimal("3.096")
    assert rows["committed (your discount)"]["price_per_gpu_hour"] == Decimal("4.3344")
    # what the H100 GPU-hours cost as billed: (4 x 55.04 + 55.44 + 4.00) / (32 + 8 + 1)
    now = rows["cloud as billed now"]
    assert now["price_per_gpu_hour"] == _d(F(27960, 100) / 41, 6)
    assert now["break_even_utilisation_pct"] == _d(F(25) / (16 * F(27960, 4100)) * 100, 2)
    notes = _notes(result)
    assert notes["your cloud cost per GPU-hour now"][1] == (
        "effective cost of cloud H100/H100-80GB (all dates), 41.00 GPU-hours"
    )
    assert notes["GPUs needed (peak)"][0] == "16"
    assert notes["GPUs needed (peak)"][1].startswith("observed: cloud H100/H100-80GB")
    assert notes["utilisation"][0] == "64.06%"  # 41 / 64
    assert notes["on-prem amortisation per server-hour"][0] == "10.000000 USD"
    assert notes["on-prem amortisation per server-hour"][1].startswith("observed in the bills")
    assert notes["1-year commitment discount"][1].startswith("default: Google")
    assert notes["your commitment discount"] == (
        "37.00%", "observed: 1 - effective / list cost of committed H100/H100-80GB (all dates)",
    )  # fmt: skip
    assert any("Cheapest over the horizon without spot: on-prem" in v for v in result.verdict)
    assert any("interruptible" in v for v in result.verdict)


def test_cloud_vs_onprem_from_the_inventory(small: Workspace) -> None:
    # [onprem] in the settings: 14.00 a server-hour; 16 GPUs at 50% for 1 year: 2 servers =
    # 28.00 an hour; on-demand 8 busy GPUs x 6.88 = 55.04; break-even 28 / 110.08 = 25.44%.
    inventory = OnPremInventory.model_validate(_PLANNED)
    query = s.CloudVsOnPremQuery(
        gpu="H100",
        demand=s.DemandInput(gpus=16, utilisation_pct=Decimal(50), years=Decimal(1)),
        cloud=s.CloudInput(cloud="aws", commit_3y_discount_pct=Decimal(60)),
    )
    result = s.cloud_vs_onprem(small.engine, inventory, query)
    rows = _rows(result)
    assert rows["on-prem"]["total_cost"] == Decimal(28 * 8760)
    assert rows["on-prem"]["cost_per_used_gpu_hour"] == Decimal("3.5")  # 28 / 8
    assert rows["cloud on-demand"]["total_cost"] == _d(8 * F(688, 100) * 8760, 2)
    assert rows["cloud on-demand"]["break_even_utilisation_pct"] == Decimal("25.44")
    # AWS has no spot price in the catalog, and the bills' spot is GCP's: unknown, not zero
    spot = rows["cloud spot"]
    assert spot["price_per_gpu_hour"] is None and spot["total_cost"] is None
    assert spot["on_prem_cheaper"] == "unknown (no price)"
    # 3 years at 60% off 6.88 = 2.752 for 16 GPUs = 44.032 an hour; 2 years owed past 1
    three = rows["committed 3y"]
    assert three["price_per_gpu_hour"] == Decimal("2.752")
    assert three["owed_after_horizon"] == _d(2 * 8760 * 16 * F(2752, 1000), 2)
    notes = _notes(result)
    source = "[onprem] plan/dgx (H100-SXM5-80GB) in aifinops.toml"
    assert notes["on-prem server price"] == ("350400 USD", source)
    assert notes["on-prem space per server-month"] == ("1825 USD", source)
    assert notes["on-prem PUE"] == ("1.5", source)
    assert notes["3-year commitment discount"] == ("60%", "--commit-3y-discount")
    assert any("unknown (no price)" in v for v in result.verdict)
    assert any("leaves the rest owed" in v for v in result.verdict)


def test_an_inventory_file_and_options_over_it(small: Workspace) -> None:
    # --server-price 175,200 over 4 years = 5.00 an hour: 9.00 a server-hour, 2 servers = 18.00
    query = s.CloudVsOnPremQuery(
        gpu="H100",
        demand=s.DemandInput(gpus=16, hours_per_day=Decimal(12), days_per_week=Decimal(5)),
        onprem=s.OnPremInput(inventory=small.path.parent / "planned.toml",
                             server_price=Decimal(175_200)),
    )  # fmt: skip
    result = s.cloud_vs_onprem(small.engine, OnPremInventory(), query)
    rows = _rows(result)
    assert rows["on-prem"]["monthly_cost"] == Decimal(18 * 730)
    # 12 hours on 5 days: 60 / 168 of the hours; 16 x 5/14 busy GPUs
    assert rows["cloud on-demand"]["gpus_paid"] == _d(16 * F(5, 14), 2)
    notes = _notes(result)
    assert notes["on-prem server price"] == ("175200 USD", "--server-price")
    assert notes["on-prem power per server, kW"][1].endswith("planned.toml")
    assert notes["utilisation"][0] == "35.71%"


def test_options_alone_and_the_defaults_they_lean_on(small: Workspace) -> None:
    onprem = s.OnPremInput(
        gpus_per_server=8, server_price=Decimal(350_400), power_kw=Decimal(5),
        electricity_price=Decimal("0.2"), space_per_month=Decimal(0),
        operations_per_month=Decimal(365), support_per_month=Decimal(0),
    )  # fmt: skip
    query = s.CloudVsOnPremQuery(
        gpu="H100",
        demand=s.DemandInput(gpus=8, avg_gpus=Decimal(4)),
        onprem=onprem,
        cloud=s.CloudInput(on_demand_price=Decimal(5), spot_price=Decimal(1)),
    )
    result = s.cloud_vs_onprem(small.engine, OnPremInventory(), query)
    # 10.00 amortisation (4 years by default) + 5 x 1.4 (default PUE) x 0.2 = 1.40 + 0.50
    rows = _rows(result)
    assert rows["on-prem"]["price_per_gpu_hour"] == _d(F(119, 10) / 8, 6)
    assert rows["cloud on-demand"]["break_even_utilisation_pct"] == _d(F(119, 10) / 40 * 100, 2)
    assert rows["cloud spot"]["on_prem_cheaper"] == "never"  # 11.90 > 8 x 1.00
    notes = _notes(result)
    assert notes["on-prem amortisation years"] == ("4", "default of the [onprem] model")
    assert notes["on-prem PUE"] == ("1.4", "default of the [onprem] model")
    assert notes["on-demand price per GPU-hour"] == ("5.000000 USD", "--on-demand-price")


def test_prices_from_the_bills_where_the_catalog_has_none(small: Workspace) -> None:
    # trn2.48xlarge has no price in the list: its list cost in the bills, 40.00 / 16 = 2.50
    onprem = s.OnPremInput(
        gpus_per_server=16, server_price=Decimal(0), power_kw=Decimal(0),
        electricity_price=Decimal(0), space_per_month=Decimal(730),
        operations_per_month=Decimal(0), support_per_month=Decimal(0),
    )  # fmt: skip
    query = s.CloudVsOnPremQuery(gpu="trainium2", onprem=onprem)
    result = s.cloud_vs_onprem(small.engine, OnPremInventory(), query)
    rows = _rows(result)
    assert rows["cloud on-demand"]["price_per_gpu_hour"] == Decimal("2.5")
    assert rows["cloud spot"]["price_per_gpu_hour"] is None
    # 1.00 an hour for the server against 16 x 2.50 used: above 2.5% utilisation
    assert rows["cloud on-demand"]["break_even_utilisation_pct"] == Decimal("2.5")
    notes = _notes(result)
    assert notes["on-demand price per GPU-hour"][1].startswith("observed list price in your bills")
    # narrowed to a cloud, the bills' rates are no fallback: the GCP spot rate stays out of AWS
    narrowed = s.CloudVsOnPremQuery("H100", s.DemandInput(gpus=8, utilisation_pct=Decimal(9)),
                                    onprem=onprem, cloud=s.CloudInput(cloud="aws"))  # fmt: skip
    assert (
        _rows(s.cloud_vs_onprem(small.engine, OnPremInventory(), narrowed))["cloud spot"][
            "price_per_gpu_hour"
        ]
        is None
    )
    oci = s.CloudVsOnPremQuery("H100", cloud=s.CloudInput(cloud="oci"))
    with pytest.raises(QueryError, match="no on-demand price for this GPU with oci"):
        s.cloud_vs_onprem(small.engine, OnPremInventory(), oci)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: s.CloudVsOnPremQuery(gpu="L4"), "no cloud usage of L4"),
        (lambda: s.CloudVsOnPremQuery(gpu=" "), "no GPU model given"),
        (lambda: s.CloudVsOnPremQuery("H100", s.DemandInput(gpus=8)), "how much the GPUs"),
        (lambda: s.CloudVsOnPremQuery("H100", s.DemandInput(
            gpus=8, utilisation_pct=Decimal(50), avg_gpus=Decimal(2))), "not several"),
        (lambda: s.CloudVsOnPremQuery("H100", s.DemandInput(
            gpus=8, utilisation_pct=Decimal(120))), "at most 100%"),
        (lambda: s.CloudVsOnPremQuery("H100", s.DemandInput(
            gpus=8, days_per_week=Decimal(5))), "--days-per-week needs --hours-per-day"),
        (lambda: s.CloudVsOnPremQuery("H100", onprem=s.OnPremInput(server_price=Decimal(1))),
         "give --gpus-per-server, --power-kw, --electricity-price, --space-per-month"),
        (lambda: s.CloudVsOnPremQuery("A100", s.DemandInput(
            gpus=8, utilisation_pct=Decimal(50))), "no on-prem assumptions for A100"),
        (lambda: s.CloudVsOnPremQuery("H100", cloud=s.CloudInput(
            commit_1y_discount_pct=Decimal(100))), "commitment discount"),
    ],
)  # fmt: skip
def test_bad_cloud_vs_onprem_input(
    small: Workspace, build: Callable[[], s.CloudVsOnPremQuery], message: str
) -> None:
    with pytest.raises(AifinopsError, match=message):
        s.cloud_vs_onprem(small.engine, OnPremInventory(), build())


def test_on_prem_in_another_currency_needs_cloud_prices_in_it(small: Workspace) -> None:
    planned = json.loads(json.dumps(_PLANNED))
    planned["clusters"][0]["currency"] = "EUR"
    inventory = OnPremInventory.model_validate(planned)
    demand = s.DemandInput(gpus=8, utilisation_pct=Decimal(50))
    with pytest.raises(QueryError, match="on-prem costs are in EUR"):
        s.cloud_vs_onprem(small.engine, inventory, s.CloudVsOnPremQuery("H100", demand))
    query = s.CloudVsOnPremQuery("H100", demand, cloud=s.CloudInput(on_demand_price=Decimal(6)))
    result = s.cloud_vs_onprem(small.engine, inventory, query)
    assert set(result.table.column("currency").to_pylist()) == {"EUR"}
    assert _rows(result)["cloud spot"]["price_per_gpu_hour"] is None


def test_an_inventory_file_without_the_gpu(small: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "other.toml"
    path.write_text(_PLANNED_TOML.replace("H100-SXM5-80GB", "L40S-48GB"))
    query = s.CloudVsOnPremQuery("H100", onprem=s.OnPremInput(inventory=path))
    with pytest.raises(QueryError, match="no H100 servers") as caught:
        s.cloud_vs_onprem(small.engine, OnPremInventory(), query)
    assert "L40S-48GB" in str(caught.value)
    path.write_text("[workspace]\n")
    with pytest.raises(AifinopsError, match=r"no \[onprem\] section"):
        s.cloud_vs_onprem(small.engine, OnPremInventory(), query)


# -- fine-tune vs API ----------------------------------------------------------------------------

_SERVING = ft.ServingInput(gpu_price=Decimal(2), requests_per_hour=Decimal(1000))


def test_finetune_vs_api_by_hand(small: Workspace) -> None:
    # Training: job ft-1, 16 GPU-hours on gpu-a at its 6.88 a GPU-hour = 110.08, over 12 months.
    # Serving: 1 GPU at 2.00 = 1,460 a month for 730,000 requests. API: gpt-4.1 list (2 / 0.5 /
    # 8 per million) for the observed shape 3,000 in (1,000 cached), 500 out = 0.0085 a request.
    # Break-even: (110.08 / 12 + 1,460) / 0.0085 = 220,376,000 / 1,275 = 172,843.92...
    query = ft.FineTuneVsApiQuery(
        training=ft.TrainingInput(jobs=("finetune-7b",)),
        serving=_SERVING,
        api=ft.ApiInput("openai/gpt-4.1"),
        volumes=(100_000, 172_844, 730_000, 730_001),
    )
    result = ft.finetune_vs_api(small.engine, small.settings.prices, query, when=WHEN)
    rows = {r["requests_per_month"]: r for r in result.table.to_pylist()}
    monthly = F(11008, 1200) + 1460
    low = rows[100_000]
    assert (low["replicas"], low["serving_gpus"]) == (1, 1)
    assert low["self_hosted_monthly"] == _d(monthly, 2)  # 1,469.17
    assert low["api_monthly"] == Decimal("850.00")
    assert low["self_hosted_per_request"] == _d(monthly / 100_000, 8)
    assert low["api_per_request"] == Decimal("0.0085")
    assert (low["cheaper"], low["self_hosting_saves"]) == ("API", _d(850 - monthly, 2))
    assert rows[172_844]["cheaper"] == "self-hosted"
    assert rows[172_844]["note"] == "break-even; cheaper from here on"
    assert rows[730_000]["replicas"] == 1 and rows[730_000]["note"] == "1 replica(s) full"
    assert rows[730_001]["replicas"] == 2 and rows[730_001]["note"] == "2 replicas"
    assert rows[730_001]["self_hosted_monthly"] == _d(monthly + 1460, 2)
    notes = _notes(result)
    assert notes["training job ft-1"][0] == "110.08 USD"
    assert "16.00 GPU-hours x 6.880000 per GPU-hour" in notes["training job ft-1"][1]
    assert notes["input tokens per request"][0] == "3000"
    assert notes["cached tokens per request"][0] == "1000"
    assert notes["output tokens per request"][1].startswith("observed: average of 3 requests")
    assert notes["API output per 1M tokens"][0] == "8 USD"
    assert notes["API cost per request"][0] == "0.00850000 USD"
    assert notes["training a month"][0] == "9.17 USD"  # 110.08 / 12
    assert notes["serving a month, fixed"][0] == "1460.00 USD"
    assert "172,844 requests a month" in result.verdict[1]
    # 3 requests over 30 days (2026-10-01 to -30) = 3.04 a month -> 3: the API is cheaper
    assert result.verdict[-1].startswith("At your volume now (3 requests a month) the API")


def test_finetune_default_volumes_and_stated_shape(small: Workspace) -> None:
    # Stated shape: 1,000 in, 200 out, nothing cached: (1,000 x 2 + 200 x 8) / 1M = 0.0036.
    # Training 0; serving 1,460 a month: break-even 1,460 / 0.0036 = 405,555.56 -> 405,556; one
    # replica serves 730,000; with two (2,920) the API is cheaper until 2,920 / 0.0036 =
    # 811,111.11 -> 811,112, and from there on self-hosting stays cheaper.
    query = ft.FineTuneVsApiQuery(
        training=ft.TrainingInput(cost=Decimal(0)),
        serving=_SERVING,
        api=ft.ApiInput("openai/gpt-4.1", input_tokens=1000, output_tokens=200),
        window=Window(datetime(2026, 9, 1).date(), datetime(2026, 10, 1).date()),
    )
    result = ft.finetune_vs_api(small.engine, small.settings.prices, query, when=WHEN)
    volumes = result.table.column("requests_per_month").to_pylist()
    assert volumes == [
        50_000, 100_000, 200_000, 405_556, 500_000, 730_000, 730_001, 811_112, 1_000_000,
        2_000_000,
    ]  # fmt: skip
    rows = {r["requests_per_month"]: r for r in result.table.to_pylist()}
    assert rows[405_556]["note"] == "break-even" and rows[405_556]["cheaper"] == "self-hosted"
    assert rows[730_001]["cheaper"] == "API"
    assert rows[811_112]["note"] == "cheaper from here on"
    assert "cheaper only between capacity steps" in result.verdict[2]
    notes = _notes(result)
    assert notes["cached tokens per request"] == ("0", "none stated (all input uncached)")
    assert "requests per month now" not in notes  # no usage in September


def test_finetune_never_breaks_even(small: Workspace) -> None:
    # A replica at 10.00 an hour (7,300 a month) serving 100 requests an hour (73,000 a month)
    # whose API cost is 73,000 x 0.0085 = 620.50: never.
    query = ft.FineTuneVsApiQuery(
        training=ft.TrainingInput(gpu_hours=Decimal(10), gpu_price=Decimal(3)),
        serving=ft.ServingInput(gpu_price=Decimal(10), requests_per_hour=Decimal(100)),
        api=ft.ApiInput("openai/gpt-4.1"),
    )
    result = ft.finetune_vs_api(small.engine, small.settings.prices, query, when=WHEN)
    assert set(result.table.column("cheaper").to_pylist()) == {"API"}
    assert "never costs less" in result.verdict[1] and "620.50 USD" in result.verdict[1]
    assert _notes(result)["training cost"] == (
        "30.00 USD", "--training-gpu-hours 10 x --training-gpu-price 3",
    )  # fmt: skip


def test_finetune_serving_priced_from_the_catalog_and_throughput(small: Workspace) -> None:
    # L40S: the cheapest on-demand per GPU is g6e.xlarge, 1.861 an hour; 1,500 output tokens a
    # second / 500 per request = 10,800 requests an hour.
    query = ft.FineTuneVsApiQuery(
        training=ft.TrainingInput(cost=Decimal(1200)),
        serving=ft.ServingInput(gpu="L40S", tokens_per_second=Decimal(1500), peak_factor=2),
        api=ft.ApiInput("openai/gpt-4.1"),
        months=Decimal(6),
    )
    result = ft.finetune_vs_api(small.engine, small.settings.prices, query, when=WHEN)
    notes = _notes(result)
    assert notes["serving price per GPU-hour"][0] == "1.861000 USD"
    assert "g6e.xlarge" in notes["serving price per GPU-hour"][1]
    assert notes["requests per hour per replica"][0] == "10800.00"
    # (1,200 / 6 + 1.861 x 730) / 0.0085
    first = (F(200) + F(1861, 1000) * 730) / F(85, 10_000)
    assert f"from {-(-first.numerator // first.denominator):,} requests" in result.verdict[1]
    # a peak twice the average: a replica serves 10,800 x 730 / 2 = 3,942,000 a month
    assert "3,942,000 requests a month" in result.verdict[0]


@pytest.mark.parametrize(
    ("training", "serving", "api", "message"),
    [
        (ft.TrainingInput(), _SERVING, ft.ApiInput("openai/gpt-4.1"), "one way"),
        (ft.TrainingInput(cost=Decimal(1), jobs=("ft-1",)), _SERVING,
         ft.ApiInput("openai/gpt-4.1"), "one way"),
        (ft.TrainingInput(gpu_hours=Decimal(1)), _SERVING, ft.ApiInput("openai/gpt-4.1"),
         "go together"),
        (ft.TrainingInput(jobs=("nope",)), _SERVING, ft.ApiInput("openai/gpt-4.1"),
         "no job with id or name 'nope'"),
        (ft.TrainingInput(jobs=("run-2",)), _SERVING, ft.ApiInput("openai/gpt-4.1"),
         "no end, GPU count or host"),
        (ft.TrainingInput(cost=Decimal(1)), _SERVING, ft.ApiInput("gpt-4.1"), "needs a provider"),
        (ft.TrainingInput(cost=Decimal(1)), _SERVING, ft.ApiInput("openai/no-such-model"),
         "no price for openai/no-such-model"),
        (ft.TrainingInput(cost=Decimal(1)), _SERVING, ft.ApiInput("anthropic/claude-sonnet-4-5"),
         "no request shape"),
        (ft.TrainingInput(cost=Decimal(1)), ft.ServingInput(requests_per_hour=Decimal(1)),
         ft.ApiInput("openai/gpt-4.1"), "no serving price"),
        (ft.TrainingInput(cost=Decimal(1)), ft.ServingInput(gpu_price=Decimal(1)),
         ft.ApiInput("openai/gpt-4.1"), "serving capacity one way"),
        (ft.TrainingInput(cost=Decimal(1)), ft.ServingInput(gpu="TPU", requests_per_hour=1),
         ft.ApiInput("openai/gpt-4.1"), "no on-demand USD price for TPU"),
        (ft.TrainingInput(cost=Decimal(-1)), _SERVING, ft.ApiInput("openai/gpt-4.1"),
         "training cost must be >= 0"),
    ],
)  # fmt: skip
def test_bad_finetune_input(
    small: Workspace,
    training: ft.TrainingInput,
    serving: ft.ServingInput,
    api: ft.ApiInput,
    message: str,
) -> None:
    query = ft.FineTuneVsApiQuery(training=training, serving=serving, api=api)
    with pytest.raises(QueryError, match=message):
        ft.finetune_vs_api(small.engine, small.settings.prices, query, when=WHEN)


# -- the demo -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    ws, _ = demo_workspace(tmp_path_factory.mktemp("strategy-demo"), months=1)
    with ws:
        yield ws


def test_demo_h100(demo: Workspace) -> None:
    result = demo.cloud_vs_onprem(s.CloudVsOnPremQuery(gpu="H100"))
    rows = _rows(result)
    notes = _notes(result)
    # the company's own DGX servers, costed from the bills, and its 37% commitments
    assert notes["on-prem GPUs per server"] == ("8", notes["on-prem GPUs per server"][1])
    assert "kestrel-colo-1 H100-SXM5-80GB" in notes["on-prem GPUs per server"][1]
    assert notes["your commitment discount"][0] == "37.00%"
    assert rows["on-prem"]["cost_per_used_gpu_hour"] < rows["cloud on-demand"]["price_per_gpu_hour"]
    assert 0 < rows["cloud on-demand"]["break_even_utilisation_pct"] < 100


def test_demo_finetune(demo: Workspace) -> None:
    query = ft.FineTuneVsApiQuery(
        training=ft.TrainingInput(jobs=("llm-7b-finetune-0001",)),
        serving=ft.ServingInput(gpu="L40S", tokens_per_second=Decimal(1500)),
        api=ft.ApiInput("openai/gpt-4.1"),
    )
    result = demo.finetune_vs_api(query, when=WHEN)
    notes = _notes(result)
    assert notes["input tokens per request"][1].startswith("observed: average of")
    assert "p4d-finetune-01" in notes["training job kj-000001"][1]
    assert any(r == "your volume now" for r in result.table.column("note").to_pylist())


# -- the CLI --------------------------------------------------------------------------------------


def test_cli_cloud_vs_onprem(small: Workspace, tmp_path: Path) -> None:
    small.close()  # the CLI opens the store in another process
    args = ["strategy", "cloud-vs-onprem", "--gpu", "H100", "-w", small.path]
    done = run_cli(*args, "--gpus", "16", "--utilisation", "50%", "--years", "1", "-f", "csv",
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, output(done)
    got = list(csv.DictReader(done.stdout.splitlines()))
    assert [r["option"] for r in got][:2] == ["on-prem", "cloud on-demand"]
    # observed on-prem 25.00 an hour; 8 busy GPUs x 6.88 on demand: 25 / 110.08 = 22.71%
    assert got[0]["monthly_cost"] == "18250"
    assert got[1]["break_even_utilisation_pct"] == "22.71"
    done = run_cli(*args, "--assumptions", "-f", "json", cwd=tmp_path)
    assert done.returncode == 0, output(done)
    assert {"assumption": "GPUs needed (peak)", "value": "16"}.items() <= json.loads(done.stdout)[
        2
    ].items()
    done = run_cli(*args, "--gpus", "16", "--utilisation", "50", cwd=tmp_path)
    assert done.returncode == 0, output(done)
    assert "assumptions" in done.stdout and "H100: on-prem against cloud" in done.stdout
    assert "On-prem against cloud on-demand: cheaper above 22.71% utilisation." in done.stdout
    parquet = tmp_path / "out.parquet"
    done = run_cli(*args, "-f", "parquet", "-o", parquet, cwd=tmp_path)
    assert done.returncode == 0 and parquet.stat().st_size > 0


def test_cli_finetune_vs_api(small: Workspace, tmp_path: Path) -> None:
    small.close()
    done = run_cli(
        "strategy", "finetune-vs-api", "--api-model", "openai/gpt-4.1", "--training-job", "ft-1",
        "--serving-gpu-price", "2", "--requests-per-hour", "1000", "--volumes", "1e5,172844",
        "-f", "json", "-w", small.path, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, output(done)
    got = json.loads(done.stdout)
    assert [r["requests_per_month"] for r in got] == [100_000, 172_844]
    assert got[0]["api_monthly"] == 850 and got[1]["cheaper"] == "self-hosted"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cloud-vs-onprem", "--gpu", "H100", "--years", "abc"], "'abc' is not a number"),
        (["cloud-vs-onprem", "--gpu", "H100", "--gpus", "8"], "say how much the GPUs are used"),
        (["finetune-vs-api", "--api-model", "openai/gpt-4.1", "--training-cost", "1",
          "--serving-gpu-price", "1", "--requests-per-hour", "1", "--volumes", "0"],
         "whole numbers of requests"),
        (["finetune-vs-api", "--api-model", "gpt-4.1", "--training-cost", "1"],
         "needs a provider"),
    ],
)  # fmt: skip
def test_cli_bad_input(small: Workspace, tmp_path: Path, args: list[str], message: str) -> None:
    small.close()
    done = run_cli("strategy", *args, "-w", small.path, cwd=tmp_path)
    assert done.returncode == 2
    assert message in output(done)
    assert "Traceback" not in output(done)
