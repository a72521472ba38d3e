"""Carbon and energy: kWh and kg CO2e worked out by hand from small inputs ingested through the
real sources (FOCUS, dcgm scrapes, the on-prem inventory, a jobs CSV), and on the demo."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest

from aifinops import Workspace
from aifinops.analysis.carbon import CarbonView, carbon_report
from aifinops.config import Settings, load_settings
from aifinops.errors import QueryError
from aifinops.model.gpu_prices import gpu_prices
from aifinops.model.metrics import CostMetric
from tests.cli.runner import output, run_cli
from tests.conftest import FOCUS_12_HEADER, focus_row, write_focus_csv
from tests.demo.build import demo_workspace

AWS_US_EAST_1 = 415.755  # g/kWh, ccf-coefficients grid-emissions-factors-aws.csv (EPA)
AWS_PUE, GCP_PUE_US_CENTRAL1, GCP_PUE = 1.135, 1.11, 1.1  # CCF constants
US_OR = 165.544  # g/kWh: CodeCarbon's eGRID 2023 Oregon, 364.963 lb/MWh x 0.45359237
A10G = (18.0, 150.0)  # idle (CCF min watts), max (TDP) W
A100_SXM = (46.0, 400.0)
L40S = (40.0, 350.0)  # idle = 350 x 0.1144 (median CCF min/max ratio)

# Costs. box-a: AWS g5.12xlarge (4 x A10G) in us-east-1, two hours on 2026-10-03 at $5.672.
# box-c: GCP a2-highgpu-1g (1 x A100 40GB SXM4) in us-central1, one hour, no telemetry.
# box-d: AWS g5.xlarge (1 x A10G) in a region no table knows, one hour, no telemetry.
# box-b (on-prem, from the inventory below): 2 x L40S for the 24 hours of 2026-10-05.
HEADER = [*FOCUS_12_HEADER, "RegionId", "ResourceName", "SkuPriceDetails"]
_COSTS = [
    # machine, provider, region, hour start, cost, description, team
    ("box-a", "AWS", "us-east-1", "2026-10-03T00", "5.672",
     "$5.672 per On Demand Linux g5.12xlarge Instance Hour", "alpha"),
    ("box-a", "AWS", "us-east-1", "2026-10-03T01", "5.672",
     "$5.672 per On Demand Linux g5.12xlarge Instance Hour", "alpha"),
    ("box-c", "Google Cloud", "us-central1", "2026-10-03T00", "3.673385",
     "a2-highgpu-1g running in Americas", "beta"),
    ("box-d", "AWS", "mars-1", "2026-10-03T00", "1.006",
     "$1.006 per On Demand Linux g5.xlarge Instance Hour", "beta"),
]  # fmt: skip

ONPREM = """
[[onprem.clusters]]
name = "dc1"
location = "Hillsboro"
electricity_price_per_kwh = 0.10
pue = 1.25

[[onprem.clusters.nodes]]
name = "box-b"
gpu_model = "L40S-48GB"
gpus = 2
purchase_price = 48000
purchase_date = 2026-01-01
power_kw = 1.2
tags = { team = "gamma" }
"""

# dcgm scrapes of box-a (energy in mJ, as DCGM exports it). GPU 0: counter 1,000 kJ at 00:00,
# +360 kJ per half hour to 01:00, reset to 50 kJ at 01:30 (that interval is unknown), 410 kJ at
# 02:00: 200 W in hour 0 (3600 s) and in hour 1 (the 01:30-02:00 interval). GPU 1: 0 at 00:15,
# 270 kJ at 00:45, 630 kJ at 01:15 (the interval crosses 01:00: 180 kJ each side), 900 kJ at
# 01:45: 450 kJ over 2700 s = 166.667 W in each hour. GPU 2: power, 100 and 120 W in hour 0, 90 W
# in hour 1 (its two counter readings are too far apart to use). GPU 3: utilisation only, 25% in
# hour 0, nothing in hour 1.
_ENERGY = {
    0: [("00:00", 1_000_000), ("00:30", 1_360_000), ("01:00", 1_720_000), ("01:30", 50_000),
        ("02:00", 410_000)],
    1: [("00:15", 0), ("00:45", 270_000), ("01:15", 630_000), ("01:45", 900_000)],
    2: [("00:05", 0), ("01:55", 6_600_000)],  # 1 h 50 min apart: too long an interval, unused
}  # fmt: skip
_POWER = {2: [("00:10", 100.0), ("00:40", 120.0), ("01:10", 90.0)]}
_UTIL = {3: [("00:20", 25.0)]}

JOBS = """job_id,name,kind,start_time,end_time,host,gpu_count,gpus,gpu_model,team
j1,named,training,2026-10-03T00:30:00Z,2026-10-03T01:30:00Z,box-a,,"0, GPU-00000001",,alpha
j2,shared,training,2026-10-03T00:00:00Z,2026-10-03T02:00:00Z,box-a,2,,,alpha
j3,onprem,experiment,2026-10-05T06:00:00Z,2026-10-05T12:00:00Z,box-b,1,,,gamma
j4,ghost,experiment,2026-10-05T00:00:00Z,2026-10-05T01:00:00Z,ghost,1,,H100,gamma
"""


def _scrapes() -> str:
    samples: dict[str, list[str]] = {}
    uuid = "GPU-0000000{}"
    for metric, series, scale in (
        ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", _ENERGY, 1000),
        ("DCGM_FI_DEV_POWER_USAGE", _POWER, 1),
        ("DCGM_FI_DEV_GPU_UTIL", _UTIL, 1),
    ):
        for gpu, points in series.items():
            labels = f'gpu="{gpu}",UUID="{uuid.format(gpu)}",Hostname="box-a"'
            for at, value in points:
                samples.setdefault(at, []).append(f"{metric}{{{labels}}} {value * scale}")
    return "".join(
        f"# scraped_at 2026-10-03T{at}:00Z\n" + "\n".join(lines) + "\n"
        for at, lines in sorted(samples.items())
    )


def _focus_rows() -> list[dict[str, str]]:
    rows = []
    for machine, provider, region, hour, cost, description, team in _COSTS:
        row = focus_row(period="2026-10", cost=cost, resource=machine, tags=f'{{"team": "{team}"}}')
        end = f"{hour[:-2]}{int(hour[-2:]) + 1:02d}"
        row |= {
            "ChargePeriodStart": f"{hour}:00:00Z",
            "ChargePeriodEnd": f"{end}:00:00Z",
            "ChargeDescription": description,
            "ProviderName": provider,
            "InvoiceIssuerName": provider,
            "PublisherName": provider,
            "RegionId": region,
            "ResourceName": machine,
            "SkuPriceDetails": "",
        }
        if machine == "box-c":
            row["SkuPriceDetails"] = '{"InstanceType": "a2-highgpu-1g"}'
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    folder = tmp_path_factory.mktemp("carbon")
    carbon = '\n[carbon]\ngrid_intensity = { "dc1" = "US-OR" }\n'
    (folder / "aifinops.toml").write_text(ONPREM + carbon)
    ws = Workspace.init(folder)
    inputs = folder / "in"
    write_focus_csv(inputs / "bill.csv", _focus_rows(), HEADER)
    (inputs / "box-a.prom").write_text(_scrapes())
    (inputs / "jobs.csv").write_text(JOBS)
    loads: list[tuple[list[Path], str, dict[str, object]]] = [
        ([inputs / "bill.csv"], "focus", {}),
        ([inputs / "box-a.prom"], "dcgm", {}),
        ([inputs / "jobs.csv"], "jobs", {}),
        ([], "onprem", {"start": "2026-10-05", "end": "2026-10-06"}),
    ]
    for paths, source, options in loads:
        summary = ws.ingest(paths, source=source, options=options, strict=True)
        assert summary.rows_quarantined == 0
    return ws


def _rows(table: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def _by(rows: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {r[key]: r for r in rows}


def _watts(power: tuple[float, float], util: float) -> float:
    idle, top = power
    return idle + util * (top - idle)


# box-a, Wh by method over its two billed hours (GPU 3's hour 1 has no telemetry: 50%).
BOX_A = {
    "measured": 200 + 200 + 450_000 / 2700 * 2,
    "power": 110 + 90,
    "modelled": _watts(A10G, 0.25) + _watts(A10G, 0.5),
}


def test_energy_by_method_pue_and_grid_by_hand(small: Workspace) -> None:
    got = _by(_rows(small.carbon(["machine"], period="2026-10")), "machine")
    a = got["box-a"]
    wh = sum(BOX_A.values())
    assert a["gpu_hours"] == 8
    assert a["gpu_kwh"] == pytest.approx(wh / 1000, abs=5e-4)
    assert a["kwh"] == pytest.approx(wh / 1000 * AWS_PUE, abs=5e-4)
    kg = wh / 1000 * AWS_PUE * AWS_US_EAST_1 / 1000
    assert a["kgco2e"] == pytest.approx(kg, abs=5e-4)
    assert a["cost"] == Decimal("11.344")
    for method, value in BOX_A.items():
        assert a[f"{method}_share"] == pytest.approx(value / wh, abs=1e-6)
    assert a["kgco2e_per_1000"] == pytest.approx(kg / 11.344 * 1000, rel=1e-5)
    assert a["kgco2e_per_gpu_hour"] == pytest.approx(kg / 8, rel=1e-5)
    assert (a["unknown_share"], a["unknowns"]) == (0, None)
    # box-c: one GPU-hour without telemetry, modelled at 50% of an A100 SXM4 (46-400 W).
    c = got["box-c"]
    c_kwh = _watts(A100_SXM, 0.5) / 1000 * GCP_PUE_US_CENTRAL1
    assert (c["gpu_kwh"], c["modelled_share"]) == (0.223, 1)
    assert c["kgco2e"] == pytest.approx(c_kwh * 479 / 1000, abs=5e-4)
    # box-b: on-prem, 48 GPU-hours modelled at 50%, the cluster's PUE, the [carbon] place.
    b = got["box-b"]
    b_kwh = 48 * _watts(L40S, 0.5) / 1000
    assert b["gpu_kwh"] == pytest.approx(b_kwh, abs=5e-4)
    assert b["kwh"] == pytest.approx(b_kwh * 1.25, abs=5e-4)
    assert b["kgco2e"] == pytest.approx(b_kwh * 1.25 * US_OR / 1000, abs=5e-4)


def test_unknown_region_is_reported_never_zero(small: Workspace) -> None:
    got = _by(_rows(small.carbon(["machine"], period="2026-10")), "machine")
    d = got["box-d"]
    assert d["gpu_kwh"] == pytest.approx(_watts(A10G, 0.5) / 1000, abs=5e-4)
    assert d["kwh"] == pytest.approx(_watts(A10G, 0.5) / 1000 * AWS_PUE, abs=5e-4)
    assert (d["kgco2e"], d["kgco2e_per_1000"], d["unknown_share"]) == (None, None, 1)
    assert d["unknowns"] == "no grid intensity for aws/mars-1"
    # Rolled up with box-a, the ratios are over what is known; the unknown share says the rest.
    aws = _by(_rows(small.carbon(["ProviderName"], period="2026-10")), "ProviderName")["AWS"]
    assert aws["cost"] == Decimal("12.350")
    assert aws["kgco2e"] == pytest.approx(got["box-a"]["kgco2e"], abs=1e-3)
    assert aws["kgco2e_per_1000"] == pytest.approx(got["box-a"]["kgco2e_per_1000"], rel=1e-4)
    assert aws["unknown_share"] == pytest.approx(1 / 9)


def _with(ws: Workspace, settings: Settings, view: str = "costs") -> dict[Any, dict[str, Any]]:
    """The report by machine (jobs: by job) under other settings."""
    window = ws.window("2026-10")
    by = ("job_id",) if view == "jobs" else ("machine",)
    table = carbon_report(
        ws.engine,
        CarbonView.parse(view),
        by,
        metric=CostMetric.EFFECTIVE,
        window=window,
        settings=settings.carbon,
        onprem=settings.onprem,
    )
    return _by(_rows(table), by[0])


def test_onprem_without_a_place_is_unknown(small: Workspace) -> None:
    settings = load_settings(small.path)
    settings.carbon.grid_intensity.clear()
    settings.onprem.clusters.clear()
    got = _with(small, settings)
    b = got["box-b"]
    assert (b["kwh"], b["kgco2e"], b["unknown_share"]) == (None, None, 1)
    assert b["unknowns"] == "no PUE for dc1 (on-prem); no grid intensity for dc1 (on-prem)"
    assert b["gpu_kwh"] == pytest.approx(48 * _watts(L40S, 0.5) / 1000, abs=5e-4)


def test_overrides_and_assumed_utilisation(small: Workspace) -> None:
    settings = load_settings(small.path)
    settings.carbon.pue["aws"] = Decimal("1.5")
    settings.carbon.grid_intensity["aws/mars-1"] = Decimal(100)
    settings.carbon.assumed_utilisation_pct = 0
    got = _with(small, settings)
    assert got["box-d"]["kgco2e"] == pytest.approx(18 / 1000 * 1.5 * 100 / 1000, abs=5e-4)
    # box-a's one unseen GPU-hour now draws idle watts.
    wh = BOX_A["measured"] + BOX_A["power"] + _watts(A10G, 0.25) + A10G[0]
    assert got["box-a"]["kwh"] == pytest.approx(wh / 1000 * 1.5, abs=5e-4)


def test_window_outside_telemetry_models_everything(small: Workspace) -> None:
    got = _rows(small.carbon(["machine"], start="2026-10-05", end="2026-10-05"))
    assert [r["machine"] for r in got] == ["box-b"]


def test_jobs_joined_to_their_host_and_time(small: Workspace) -> None:
    got = _by(_rows(small.carbon(view="jobs", period="2026-10")), "job_id")
    gpu1 = 450_000 / 2700  # W in each hour
    j1 = got["j1"]  # GPU 0 (by index) and GPU 1 (by UUID), half of each hour
    assert j1["gpu_hours"] == pytest.approx(2)  # from the two GPUs it names
    assert j1["gpu_kwh"] == pytest.approx((100 + 100 + gpu1) / 1000, abs=5e-4)
    assert (j1["measured_share"], j1["unknown_share"]) == (1, 0)
    j2 = got["j2"]  # 2 of 4 GPUs seen in hour 0, 2 of 3 in hour 1
    hour0 = 200 + gpu1 + 110 + _watts(A10G, 0.25)
    hour1 = 200 + gpu1 + 90
    j2_wh = hour0 / 2 + hour1 * 2 / 3
    assert j2["gpu_kwh"] == pytest.approx(j2_wh / 1000, abs=5e-4)
    assert j2["kgco2e"] == pytest.approx(j2_wh / 1000 * AWS_PUE * AWS_US_EAST_1 / 1000, abs=5e-4)
    assert j2["modelled_share"] == pytest.approx(_watts(A10G, 0.25) / 2 / j2_wh, abs=1e-6)
    j3 = got["j3"]  # on-prem, no telemetry: 6 GPU-hours modelled, dc1's PUE and place
    j3_kwh = 6 * _watts(L40S, 0.5) / 1000
    assert j3["gpu_kwh"] == pytest.approx(j3_kwh, abs=5e-4)
    assert j3["kgco2e"] == pytest.approx(j3_kwh * 1.25 * US_OR / 1000, abs=5e-4)
    j4 = got["j4"]  # a host without cost rows: the job's own GPU model, no place
    assert j4["gpu_kwh"] == pytest.approx(_watts((80.1, 700.0), 0.5) / 1000, abs=5e-4)
    assert (j4["kgco2e"], j4["unknown_share"]) == (None, 1)
    assert "host ghost (no GPU cost rows)" in j4["unknowns"]
    teams = _by(_rows(small.carbon(["label:team"], view="jobs", period="2026-10")), "label:team")
    assert teams["alpha"]["jobs"] == 2
    assert teams["alpha"]["gpu_kwh"] == pytest.approx(j1["gpu_kwh"] + j2["gpu_kwh"], abs=1e-3)


def _price(instance_type: str, region: str) -> Decimal:
    found = [p for p in gpu_prices() if (p.instance_type, p.region) == (instance_type, region)]
    assert found and found[0].on_demand is not None
    return found[0].on_demand


def test_lower_carbon_region(small: Workspace) -> None:
    got = _by(_rows(small.carbon(view="regions", period="2026-10")), "instance_type")
    c = got["a2-highgpu-1g"]
    month = 30 / 31
    gpu_kwh = _watts(A100_SXM, 0.5) / 1000
    # The price list has it in us-central1 and europe-west4: PUE x g = 1.11 x 479 and 1.07 x 474;
    # europe-west4 emits less (its higher price is the cost of the move).
    assert (c["region"], c["suggested_region"], c["suggested_g_per_kwh"]) == (
        "us-central1",
        "europe-west4",
        474,
    )
    saved = gpu_kwh * (1.11 * 479 - 1.07 * 474) / 1000 * month
    assert c["kgco2e_saved_per_month"] == pytest.approx(saved, abs=5e-4)
    here, there = _price("a2-highgpu-1g", "us-central1"), _price("a2-highgpu-1g", "europe-west4")
    expected = ((there - here) * Decimal(repr(month))).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
    assert expected > 0
    assert c["price_difference_per_month"] == expected
    # The provider's lowest: europe-west6 (29 g/kWh, PUE 1.1), availability unknown.
    assert (c["lowest_region"], c["lowest_g_per_kwh"]) == ("europe-west6", 29)
    lowest = gpu_kwh * (1.11 * 479 - GCP_PUE * 29) / 1000 * month
    assert c["lowest_kgco2e_saved_per_month"] == pytest.approx(lowest, abs=5e-4)
    assert "availability in europe-west6 unknown" in c["note"]
    # box-d's region is unknown: no saving is claimed.
    d = got["g5.xlarge"]
    assert (d["kgco2e_per_month"], d["kgco2e_saved_per_month"]) == (None, None)
    assert "no PUE or grid intensity for mars-1" in d["note"]
    assert "box-b" not in got and None not in got  # on-prem servers do not move regions


def test_bad_input_is_a_clear_error(small: Workspace) -> None:
    with pytest.raises(QueryError, match="unknown carbon view"):
        small.carbon(view="planets")
    with pytest.raises(QueryError, match="unknown job dimension 'team'"):
        small.carbon(["team"], view="jobs")


def test_cli(small: Workspace, tmp_path: Path) -> None:
    small.close()  # the CLI opens the store in another process
    where = ("-w", small.path)
    done = run_cli("report", "carbon", *where, "--by", "machine", "-f", "csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("machine,BillingCurrency,gpu_hours,gpu_kwh,kwh,kgco2e,cost,")
    assert any(line.startswith("box-d,USD,1.0,0.084,") for line in lines)
    done = run_cli("report", "carbon", *where, "--jobs", "--regions", cwd=tmp_path)
    assert done.returncode == 2
    assert "two different views" in output(done)
    done = run_cli("report", "carbon", *where, "--jobs", "-f", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert '"job_id": "j1"' in done.stdout and '"measured_share": 1' in done.stdout
    done = run_cli("report", "carbon", *where, "--regions", "-p", "2026-10", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "GPU energy and emissions (regions), 2026-10-01 to 2026-10-31" in done.stdout


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return demo_workspace(tmp_path_factory.mktemp("carbon-demo"), months=1)[0]


def test_demo_cost_matches_the_gpu_report_and_onprem_is_unknown(demo: Workspace) -> None:
    got = _rows(demo.carbon(["ServiceProviderName"]))
    gpu = _rows(demo.gpu_efficiency(["ServiceProviderName"]))
    assert sum(r["cost"] for r in got) == sum(r["cost"] for r in gpu)
    assert sum(r["gpu_hours"] for r in got) == pytest.approx(sum(r["gpu_hours"] for r in gpu))
    by = _by(got, "ServiceProviderName")
    assert by["On-Premises"]["kgco2e"] is None and by["On-Premises"]["unknown_share"] == 1
    clouds = [r for r in got if r["ServiceProviderName"] != "On-Premises"]
    assert clouds and all(r["kgco2e"] and r["unknown_share"] == 0 for r in clouds)
    assert all(r["power_share"] > 0 for r in clouds)  # the demo's telemetry has power samples
