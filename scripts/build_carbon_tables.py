"""Build the carbon and energy tables shipped in the package from ../shared/reference/.

Run from the repository root: ``python scripts/build_carbon_tables.py``. The outputs in
``src/aifinops/model/data/`` are committed; this script documents how they were made (sources and
licences in ``model/data/NOTICE.md``):

* ``carbon_grid_intensity.csv``: grid carbon intensity (g CO2e per kWh) per cloud region. For
  each (provider, region) the first source that has it wins:

  1. Cloud Carbon Footprint's ``ccf-coefficients`` grid emission factors (AWS, Azure, GCP; Azure
     display names turned into region ids: ``East US 2`` -> ``eastus2``). Rows whose value is not
     a number with a decimal point (two Azure rows read ``000077`` and ``000402``) are left out,
     not guessed: the next source gives those regions;
  2. CCF's estimation constants (the npm packages' region factors; GCP's plain grid factors, not
     the ones net of Google's carbon-free energy);
  3. CodeCarbon's cloud region table (GCP only);
  4. mlco2/impact's region table (AWS, Azure, GCP and a few other clouds).

* ``carbon_zone_intensity.csv``: grid intensity of places, for on-prem clusters: countries by
  ISO 3166 alpha-3 code (CodeCarbon's global energy mix), US states as ``US-XX`` (CodeCarbon's
  EPA eGRID 2023 table, lb/MWh converted to g/kWh) and the grid zones of mlco2's yearly averages
  (per zone the latest year with data for at least 80% of its hours, else the year with the most;
  a code already given by CodeCarbon keeps CodeCarbon's value).
* ``carbon_pue.csv``: PUE per provider (CCF: AWS 1.135, Azure 1.185, GCP 1.1) and GCP's regional
  trailing-twelve-month PUEs (CCF).
* ``gpu_power.csv``: idle and maximum watts per GPU model (see :func:`gpu_power`).
"""

from __future__ import annotations

import csv
import json
import re
import statistics
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT.parent / "shared" / "reference"
CARBON = REF / "carbon"
OUT = ROOT / "src" / "aifinops" / "model" / "data"

CCF_COMMIT = "b0032d928c787cf76cecd7d1d611c5b46f366e29"
MLCO2_COMMIT = "d0d3ee5a71ea222ac344a94900642ed2ce649af4"
CODECARBON = "codecarbon 3.3.2"
#: FOCUS-facing provider keys of the reference tables' cloud names
PROVIDERS = {"aws": "aws", "azure": "azure", "gcp": "gcp"}
#: names in CCF's region factors that are not regions a machine runs in: Azure geographies, staging
#: and early-access regions, legacy aliases; GCP multi-regions
NOT_REGIONS = re.compile(
    r"^(?:asia|asiapacific|australia|brazil|canada|europe|france|germany|india|japan|korea|"
    r"norway|southafrica|switzerland|uae|uk|unitedstates|apeast|apsoutheast|usnorth|us|eur4|"
    r"nam4|asia1)$|(?:stage|euap)$"
)
LB_PER_MWH_TO_G_PER_KWH = Decimal("0.45359237")  # 1 lb = 453.59237 g; 1 MWh = 1000 kWh
_NUMBER = re.compile(r"^\d*\.\d+(?:[eE]-?\d+)?$|^\d+\.\d*$")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def _g(tonnes_per_kwh: str) -> str | None:
    """g/kWh from metric tonnes per kWh, exact; None for a value that is not a plain number."""
    text = tonnes_per_kwh.strip()
    if not _NUMBER.match(text):
        return None
    return _plain(Decimal(text) * 1_000_000)


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def _azure_id(display: str) -> str:
    return display.replace(" ", "").lower()


def grid_intensity() -> list[dict[str, str]]:
    found: dict[tuple[str, str], dict[str, str]] = {}

    def add(provider: str, region: str, g: str | None, location: str, source: str) -> None:
        if g is None or not region or region.lower() == "unknown" or NOT_REGIONS.search(region):
            return
        key = (provider, region)
        if key not in found:
            found[key] = {
                "provider": provider,
                "region": region,
                "location": location,
                "g_co2e_per_kwh": g,
                "source": source,
            }

    for cloud in ("aws", "azure", "gcp"):
        path = CARBON / "ccf-coefficients" / f"grid-emissions-factors-{cloud}.csv"
        for row in _rows(path):
            region = _azure_id(row["Region"]) if cloud == "azure" else row["Region"].strip()
            location = row.get("Country") or row.get("Location") or ""
            add(
                cloud,
                region,
                _g(row["CO2e (metric ton/kWh)"]),
                location.strip(),
                f"ccf-coefficients@{CCF_COMMIT[:7]} data/{path.name} ({row['Source'].strip()})",
            )
    constants = json.loads((CARBON / "ccf_cloud_constants.json").read_text("utf-8"))
    for cloud, key in (
        ("aws", "emission_factors_t_per_kwh"),
        ("azure", "emission_factors_t_per_kwh"),
        ("gcp", "emission_factors_t_per_kwh_grid"),
    ):
        for region, value in constants[cloud][key].items():
            source = "CCF estimation constants (ccf_cloud_constants.json)"
            add(cloud, region.lower() if cloud == "azure" else region, _g(repr(value)), "", source)
    for row in _rows(CARBON / "codecarbon" / "cloud_impact.csv"):
        if row["provider"] == "gcp":
            place = ", ".join(p for p in (row["city"], row["country_name"]) if p)
            add("gcp", row["region"], row["impact"], place, f"{CODECARBON} cloud/impact.csv")
    for row in _rows(CARBON / "mlco2" / "impact.csv"):
        provider = PROVIDERS.get(row["provider"], row["provider"])
        place = ", ".join(p for p in (row["city"], row["country"]) if p)
        add(provider, row["region"], row["impact"], place, f"mlco2/impact@{MLCO2_COMMIT[:7]}")
    return sorted(found.values(), key=lambda r: (r["provider"], r["region"]))


def zone_intensity() -> list[dict[str, str]]:
    zones: dict[str, dict[str, str]] = {}
    mix = json.loads((CARBON / "codecarbon" / "global_energy_mix.json").read_text("utf-8"))
    for code, row in mix.items():
        zones[code.upper()] = {
            "zone": code.upper(),
            "name": row["country_name"],
            "g_co2e_per_kwh": _plain(Decimal(str(row["carbon_intensity"]))),
            "year": str(row["year"]),
            "source": f"{CODECARBON} global_energy_mix.json",
        }
    usa = json.loads((CARBON / "codecarbon" / "2023_usa_emissions.json").read_text("utf-8"))
    year = str(usa["_source"]["year"])
    for name, row in usa.items():
        if name.startswith("_") or name == "usa":
            continue
        code = f"US-{row['regionCode']}"
        g = Decimal(str(row["emissions"])) * LB_PER_MWH_TO_G_PER_KWH
        zones[code] = {
            "zone": code,
            "name": f"{name.title()} (US)",
            "g_co2e_per_kwh": _plain(g.quantize(Decimal("0.001"))),
            "year": year,
            "source": f"{CODECARBON} 2023_usa_emissions.json (EPA eGRID2023)",
        }
    latest: dict[str, dict[str, str]] = {}
    for row in _rows(CARBON / "mlco2" / "2021-10-27yearly_averages.csv"):
        if not row["carbon_intensity_avg"]:
            continue
        seen = latest.get(row["zone_key"])
        if seen is None or _zone_year_rank(row) > _zone_year_rank(seen):
            latest[row["zone_key"]] = row
    for code, row in latest.items():
        zones.setdefault(
            code.upper(),
            {
                "zone": code.upper(),
                "name": f"{row['Zone Name']} ({row['Country']})",
                "g_co2e_per_kwh": _plain(
                    Decimal(row["carbon_intensity_avg"]).quantize(Decimal("0.001"))
                ),
                "year": row["year"],
                "source": f"mlco2/impact@{MLCO2_COMMIT[:7]} 2021-10-27yearly_averages.csv",
            },
        )
    return sorted(zones.values(), key=lambda r: r["zone"])


def _zone_year_rank(row: dict[str, str]) -> tuple[bool, int, int]:
    """The year to keep of a zone: the latest with data for at least 80% of its hours, else the
    one with the most hours of data."""
    hours = int(row["no_hours_with_data"])
    full = hours >= 7008
    return (full, int(row["year"]) if full else hours, int(row["year"]))


def pue() -> list[dict[str, str]]:
    constants = json.loads((CARBON / "ccf_cloud_constants.json").read_text("utf-8"))
    source = "CCF estimation constants (ccf_cloud_constants.json)"
    rows = [
        {"provider": cloud, "region": "", "pue": repr(constants[cloud]["constants"]["PUE_AVG"])}
        for cloud in ("aws", "azure", "gcp")
    ]
    regional = constants["gcp"]["constants"]["PUE_TRAILING_TWELVE_MONTH"]
    rows += [{"provider": "gcp", "region": r, "pue": repr(v)} for r, v in regional.items()]
    return [{**row, "source": source} for row in rows]


def gpu_power() -> list[dict[str, str]]:
    """Per GPU model of the GPU catalog's specs: ``max_w`` is the board power (TDP) and
    ``idle_w`` CCF's minimum watts where CCF lists the GPU; elsewhere ``idle_w`` is the TDP times
    the median of CCF's min/max ratios over the GPUs it lists (CCF derives every GPU's minimum
    from the same ratio, Teads' measured idle share)."""
    constants = json.loads((CARBON / "ccf_cloud_constants.json").read_text("utf-8"))
    c = constants["aws"]["constants"]
    ratios = [
        Decimal(repr(c["MIN_WATTS_BY_COMPUTE_PROCESSOR"][name])) / Decimal(repr(max_w))
        for name, max_w in c["MAX_WATTS_BY_COMPUTE_PROCESSOR"].items()
        if name.startswith(("Nvidia", "AMD Radeon"))
    ]
    ratio = statistics.median(ratios).quantize(Decimal("0.0001"))
    out = []
    for row in _rows(OUT / "gpu_specs.csv"):
        tdp = Decimal(row["tdp_watts"])
        if row["ccf_min_watts"]:
            idle, how = Decimal(row["ccf_min_watts"]), "CCF min watts"
        else:
            idle = (tdp * ratio).quantize(Decimal("0.1"))
            how = f"TDP x {ratio} (median CCF min/max ratio)"
        out.append(
            {
                "gpu": row["gpu"],
                "variant": row["variant"],
                "idle_w": _plain(idle),
                "max_w": _plain(tdp),
                "source": f"max: TDP (gpu_specs.csv); idle: {how}",
            }
        )
    return out


def _write(name: str, rows: list[dict[str, str]]) -> None:
    with (OUT / name).open("w", newline="", encoding="utf-8") as fh:
        out = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        out.writeheader()
        out.writerows(rows)


def main() -> None:
    _write("carbon_grid_intensity.csv", grid_intensity())
    _write("carbon_zone_intensity.csv", zone_intensity())
    _write("carbon_pue.csv", pue())
    _write("gpu_power.csv", gpu_power())


if __name__ == "__main__":
    main()
