"""The carbon model: grid intensity, PUE, GPU power and the settings that override them."""

from __future__ import annotations

import importlib.util
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from aifinops.config import load_settings
from aifinops.errors import ConfigError
from aifinops.model.carbon import (
    CarbonFactors,
    CarbonSettings,
    factors_for,
    gpu_power,
    provider_key,
    provider_pue,
    provider_regions,
    region_intensity,
    zone_intensity,
)
from aifinops.model.onprem import OnPremInventory

NODE = {"name": "n", "gpu_model": "L4", "gpus": 1, "purchase_price": 1,
        "purchase_date": "2026-01-01", "power_kw": 1}  # fmt: skip
ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "reference" / "carbon"


@pytest.mark.parametrize(
    ("name", "key"),
    [("AWS", "aws"), ("Microsoft", "azure"), ("Google Cloud", "gcp"), ("Oracle", "oci"),
     ("On-Premises", "onprem"), ("CoreWeave", "coreweave"), ("", None), (None, None)],
)  # fmt: skip
def test_provider_keys(name: str | None, key: str | None) -> None:
    assert provider_key(name) == key


def test_grid_intensity_prefers_ccf_coefficients() -> None:
    # ccf-coefficients (EPA): 0.000415755 t/kWh; CCF's older npm constants say 365.1278.
    us_east_1 = region_intensity("aws", "us-east-1")
    assert us_east_1 is not None and us_east_1.g_per_kwh == Decimal("415.755")
    assert "grid-emissions-factors-aws.csv" in us_east_1.source
    # Azure display names and region ids are one region.
    assert region_intensity("azure", "East US 2") == region_intensity("azure", "eastus2")
    # A malformed upstream value ("000077") is not guessed: no other source has Finland Central.
    assert region_intensity("azure", "finlandcentral") is None
    # ... while Germany West Central's malformed row falls back to CCF's constants.
    germany = region_intensity("azure", "germanywestcentral")
    assert germany is not None and germany.g_per_kwh == Decimal("338.66")
    # GCP regions the CCF tables lack come from CodeCarbon (Google's figures).
    berlin = region_intensity("gcp", "europe-west10")
    assert berlin is not None and berlin.g_per_kwh == 345 and "codecarbon" in berlin.source
    assert region_intensity("aws", "mars-1") is None
    assert region_intensity(None, "us-east-1") is None


def test_provider_regions_lowest_first() -> None:
    regions = provider_regions("aws")
    assert regions[0].key == "aws/eu-north-1" and regions[0].g_per_kwh == 8
    assert [g.g_per_kwh for g in regions] == sorted(g.g_per_kwh for g in regions)
    assert provider_regions("nowhere") == ()


def test_zones() -> None:
    usa, oregon = zone_intensity("USA"), zone_intensity("us-or")
    assert usa is not None and usa.g_per_kwh == Decimal("369.473")
    # eGRID 2023 Oregon: 364.963 lb/MWh x 0.45359237 g/lb per kWh.
    assert oregon is not None and oregon.g_per_kwh == Decimal("165.544")
    assert zone_intensity("Germany") == zone_intensity("DEU")
    assert zone_intensity("Atlantis") is None


def test_pue() -> None:
    assert provider_pue("aws", "us-east-1").value == Decimal("1.135")  # type: ignore[union-attr]
    assert provider_pue("azure", None).value == Decimal("1.185")  # type: ignore[union-attr]
    assert provider_pue("gcp", "us-central1").value == Decimal("1.11")  # type: ignore[union-attr]
    assert provider_pue("gcp", "us-west1").value == Decimal("1.1")  # type: ignore[union-attr]
    assert provider_pue("oci", "us-ashburn-1") is None


@pytest.mark.parametrize(
    ("name", "variant", "idle", "top"),
    [
        ("H100-80GB", "SXM5 80GB", "80.1", "700"),
        ("NVIDIA H100 80GB HBM3", "SXM5 80GB", "80.1", "700"),
        ("H100-NVL-94GB", "NVL 94GB", "45.8", "400"),
        ("A100-80GB-PCIe", "PCIe 40/80GB", "28.6", "250"),
        ("A100-40GB", "SXM4 80GB", "46", "400"),
        ("NVIDIA A10G", "24GB (AWS-only A10 variant)", "18", "150"),
        ("L40S-48GB", "PCIe 48GB", "40", "350"),
        ("NVIDIA L4", "PCIe 24GB", "8.2", "72"),
        ("V100-32GB", "SXM2 32GB", "35", "300"),
        ("Tesla T4", "PCIe 16GB", "8", "70"),
    ],
)
def test_gpu_power_models(name: str, variant: str, idle: str, top: str) -> None:
    power = gpu_power(name)
    assert power is not None
    assert (power.variant, power.idle_w, power.max_w) == (variant, Decimal(idle), Decimal(top))


@pytest.mark.parametrize("name", ["A10 (1/6)", "trainium", "GB200", "", None])
def test_gpus_without_a_power_model(name: str | None) -> None:
    assert gpu_power(name) is None


def test_linear_power_model() -> None:
    a100 = gpu_power("A100")
    assert a100 is not None
    assert (a100.watts(0), a100.watts(0.5), a100.watts(1)) == (46, 46 + 0.5 * 354, 400)


def test_factors_resolve_clusters_regions_and_overrides() -> None:
    inventory = OnPremInventory.model_validate(
        {
            "clusters": [
                {
                    "name": "dc1",
                    "electricity_price_per_kwh": "0.1",
                    "pue": "1.3",
                    "nodes": [NODE],
                }
            ]
        }
    )
    settings = CarbonSettings(
        grid_intensity={"dc1": "US-OR", "oci/us-ashburn-1": 380},
        pue={"oci": Decimal("1.2"), "aws/us-east-1": Decimal("1.5")},
    )
    factors = factors_for(settings, inventory)
    dc1 = factors.site("onprem", "Hillsboro", "dc1")
    assert dc1.pue is not None and dc1.pue.value == Decimal("1.3") and "[onprem]" in dc1.pue.source
    assert dc1.grid is not None and dc1.grid.g_per_kwh == Decimal("165.544")
    oci = factors.site("oci", "us-ashburn-1", None)
    assert oci.pue is not None and oci.pue.value == Decimal("1.2")
    assert oci.grid is not None and oci.grid.g_per_kwh == 380
    aws = factors.site("aws", "us-east-1", None)
    assert aws.pue is not None and aws.pue.value == Decimal("1.5")
    assert aws.grid is not None and aws.grid.g_per_kwh == Decimal("415.755")
    # An on-prem cluster the settings do not place: unknown, never a cloud region's figure.
    other = CarbonFactors().site("onprem", "us-east-1", "dc2")
    assert (other.pue, other.grid, other.unknown) == (None, None, ("PUE", "grid intensity"))


def test_settings_are_checked() -> None:
    assert CarbonSettings(grid_intensity={"dc1": "12.5"}).grid_intensity == {"dc1": Decimal("12.5")}
    with pytest.raises(ValidationError, match="unknown place 'Atlantis'"):
        CarbonSettings(grid_intensity={"dc1": "Atlantis"})
    with pytest.raises(ValidationError, match="cannot be negative"):
        CarbonSettings(grid_intensity={"dc1": -1})
    with pytest.raises(ValidationError, match="PUE is at least 1"):
        CarbonSettings(pue={"dc1": Decimal("0.9")})
    with pytest.raises(ValidationError):
        CarbonSettings(assumed_utilisation_pct=101)


@pytest.mark.skipif(not REFERENCE.exists(), reason="the shared reference folder is not here")
def test_shipped_tables_are_what_the_build_script_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location(
        "build", ROOT / "scripts" / "build_carbon_tables.py"
    )
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "build", build)
    spec.loader.exec_module(build)
    shipped = build.OUT
    monkeypatch.setattr(build, "OUT", tmp_path)
    (tmp_path / "gpu_specs.csv").write_bytes((shipped / "gpu_specs.csv").read_bytes())
    build.main()
    for name in ("carbon_grid_intensity.csv", "carbon_zone_intensity.csv", "carbon_pue.csv"):
        assert (tmp_path / name).read_text() == (shipped / name).read_text(), name
    assert (tmp_path / "gpu_power.csv").read_text() == (shipped / "gpu_power.csv").read_text()


def test_a_bad_place_in_aifinops_toml_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "aifinops.toml").write_text('[carbon]\ngrid_intensity = { "dc1" = "Atlantis" }\n')
    with pytest.raises(ConfigError, match=r"carbon\.grid_intensity.*unknown place 'Atlantis'"):
        load_settings(tmp_path)
