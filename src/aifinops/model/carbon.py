"""Carbon and energy facts: grid intensity, PUE, GPU power; where each figure comes from.

Pure domain (no I/O but the package's own data files). Tables built by
``scripts/build_carbon_tables.py`` from the project's reference folder (sources and licences in
``data/NOTICE.md``):

* grid carbon intensity in g CO2e per kWh per cloud region (Cloud Carbon Footprint first, then
  CodeCarbon and mlco2) and per place (countries by ISO 3166 alpha-3 code, US states as
  ``US-XX``, grid zones such as ``US-CAL-CISO``) for on-prem clusters;
* PUE per cloud provider (CCF; GCP per region where Google publishes it);
* idle and maximum watts per GPU model: the linear model CCF uses,
  ``watts = idle + utilisation x (max - idle)``.

:class:`CarbonFactors` resolves the PUE and grid intensity of a place a GPU ran in: a cloud
region, or an on-prem cluster (PUE from its ``[onprem]`` entry, intensity from ``[carbon]``
settings), with the workspace's ``[carbon]`` overrides first. Unknown stays unknown (``None``):
nothing is taken as zero.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aifinops.model.onprem import OnPremInventory

#: CCF's fallback utilisation where none is measured: the projected average server utilisation
#: of hyperscale data centres in 2020 (CCF methodology, "Compute", and its constants'
#: ``AVG_CPU_UTILIZATION_2020``), which CCF applies to GPUs too.
ASSUMED_UTILISATION_PCT = Decimal(50)
ONPREM = "onprem"

_PROVIDERS = {
    "aws": "aws",
    "amazon": "aws",
    "amazon web services": "aws",
    "microsoft": "azure",
    "azure": "azure",
    "microsoft azure": "azure",
    "google": "gcp",
    "google cloud": "gcp",
    "google cloud platform": "gcp",
    "gcp": "gcp",
    "oracle": "oci",
    "oracle cloud infrastructure": "oci",
    "oci": "oci",
    "on-premises": ONPREM,
    "on-prem": ONPREM,
    "onprem": ONPREM,
}


def provider_key(name: str | None) -> str | None:
    """The short key of a FOCUS provider name (``AWS`` -> ``aws``, ``Microsoft`` -> ``azure``,
    ``Google Cloud`` -> ``gcp``, ``On-Premises`` -> ``onprem``); other names lower-cased."""
    if name is None or not name.strip():
        return None
    text = name.strip().lower()
    return _PROVIDERS.get(text, text)


def region_key(provider: str | None, region: str | None) -> str | None:
    """A region id as the tables hold it: Azure's without spaces, lower case (``East US 2`` and
    ``eastus2`` are one region); others as given, lower case."""
    if region is None or not region.strip():
        return None
    text = region.strip().lower()
    return text.replace(" ", "") if provider == "azure" else text


def _read(name: str) -> list[dict[str, str]]:
    text = resources.files("aifinops.model").joinpath(f"data/{name}").read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


@dataclass(frozen=True)
class GridIntensity:
    """g CO2e per kWh of a cloud region or a place, and where the figure comes from."""

    key: str  # "aws/us-east-1", a zone code ("USA", "US-OR") or "setting"
    g_per_kwh: Decimal
    source: str
    location: str = ""


@functools.cache
def _regions() -> dict[tuple[str, str], GridIntensity]:
    return {
        (r["provider"], r["region"].lower()): GridIntensity(
            key=f"{r['provider']}/{r['region']}",
            g_per_kwh=Decimal(r["g_co2e_per_kwh"]),
            source=r["source"],
            location=r["location"],
        )
        for r in _read("carbon_grid_intensity.csv")
    }


def region_intensity(provider: str | None, region: str | None) -> GridIntensity | None:
    """The grid intensity of a cloud region (``provider`` as :func:`provider_key` gives it)."""
    key = region_key(provider, region)
    if provider is None or key is None:
        return None
    return _regions().get((provider, key))


def provider_regions(provider: str) -> tuple[GridIntensity, ...]:
    """Every region of ``provider`` with a known intensity, the lowest first."""
    found = [g for (p, _), g in _regions().items() if p == provider]
    return tuple(sorted(found, key=lambda g: (g.g_per_kwh, g.key)))


@functools.cache
def _zones() -> dict[str, GridIntensity]:
    zones: dict[str, GridIntensity] = {}
    for r in _read("carbon_zone_intensity.csv"):
        zone = GridIntensity(
            key=r["zone"],
            g_per_kwh=Decimal(r["g_co2e_per_kwh"]),
            source=f"{r['source']} ({r['year']})",
            location=r["name"],
        )
        zones[r["zone"].upper()] = zone
        zones.setdefault(r["name"].upper(), zone)
    return zones


def zone_intensity(code: str) -> GridIntensity | None:
    """The grid intensity of a country (ISO 3166 alpha-3 code or English name), a US state
    (``US-OR``) or a grid zone (``US-CAL-CISO``, ``DE``...), case-insensitive."""
    return _zones().get(code.strip().upper())


@dataclass(frozen=True)
class Pue:
    value: Decimal
    source: str


@functools.cache
def _pues() -> dict[tuple[str, str], Pue]:
    return {
        (r["provider"], r["region"].lower()): Pue(Decimal(r["pue"]), r["source"])
        for r in _read("carbon_pue.csv")
    }


def provider_pue(provider: str | None, region: str | None) -> Pue | None:
    """A cloud provider's PUE for ``region`` (its regional figure where published, else its
    fleet average)."""
    if provider is None:
        return None
    table = _pues()
    return table.get((provider, region_key(provider, region) or "")) or table.get((provider, ""))


@dataclass(frozen=True)
class GpuPower:
    """Idle and full-load watts of one GPU, and where they come from."""

    gpu: str
    variant: str
    idle_w: Decimal
    max_w: Decimal
    source: str

    def watts(self, utilisation: float) -> float:
        """Modelled draw at ``utilisation`` (0..1): idle + utilisation x (max - idle)."""
        return float(self.idle_w) + utilisation * float(self.max_w - self.idle_w)


@functools.cache
def gpu_powers() -> tuple[GpuPower, ...]:
    return tuple(
        GpuPower(r["gpu"], r["variant"], Decimal(r["idle_w"]), Decimal(r["max_w"]), r["source"])
        for r in _read("gpu_power.csv")
    )


#: hints in a GPU's name that pick a variant of its family, and the text the variant holds
_VARIANT_HINTS = (("PCIE", "PCIE"), ("NVL", "NVL"), ("SXM", "SXM"))


@functools.cache
def gpu_power(name: str | None) -> GpuPower | None:
    """The power model of a GPU named as a bill, the catalog or a driver names it
    (``H100-80GB``, ``NVIDIA H100 80GB HBM3``, ``A100-80GB-PCIe``, ``L40S-48GB``), or None.

    The family is the longest known family name standing alone in ``name`` (``L4`` is not read
    in ``L40S``, ``A10`` is not ``A10G``); the variant is the one whose description shares a form
    factor (PCIe, NVL, SXM) or a memory size with ``name``, else the family's first (the
    SXM / largest part for A100 and H100).
    """
    if not name:
        return None
    text = name.upper()
    families = sorted({p.gpu for p in gpu_powers()}, key=lambda f: (-len(f), f))
    family = next((f for f in families if re.search(rf"(?<![A-Z0-9]){f}(?![A-Z0-9])", text)), None)
    if family is None:
        return None
    variants = [p for p in gpu_powers() if p.gpu == family]
    for hint, held in _VARIANT_HINTS:
        if hint in text:
            matched = [v for v in variants if held in v.variant.upper()]
            if matched:
                variants = matched
                break
    memory = re.search(r"(\d+)\s*GB", text)
    if memory:
        sized = [v for v in variants if re.search(rf"\b{memory.group(1)}\s*GB", v.variant.upper())]
        variants = sized or variants
    return variants[0]


@dataclass(frozen=True)
class Site:
    """The PUE and grid intensity of where a machine ran; ``None`` where unknown."""

    pue: Pue | None
    grid: GridIntensity | None

    @property
    def unknown(self) -> tuple[str, ...]:
        return tuple(n for n, v in (("PUE", self.pue), ("grid intensity", self.grid)) if v is None)


class CarbonFactors:
    """PUE and grid intensity per place, with the workspace's overrides first.

    ``grid`` and ``pue`` are the ``[carbon]`` settings, keyed by on-prem cluster name,
    ``provider/region`` (``oci/us-ashburn-1``) or, for ``pue``, a provider (``aws``); a grid value
    is g CO2e/kWh or a place code for :func:`zone_intensity`. ``onprem_pue`` is the PUE of each
    ``[onprem]`` cluster.
    """

    def __init__(
        self,
        grid: Mapping[str, Decimal | str] | None = None,
        pue: Mapping[str, Decimal] | None = None,
        onprem_pue: Mapping[str, Decimal] | None = None,
    ) -> None:
        self.grid = {k.lower(): v for k, v in (grid or {}).items()}
        self.pue = {k.lower(): v for k, v in (pue or {}).items()}
        self.onprem_pue = {k.lower(): v for k, v in (onprem_pue or {}).items()}

    def site(self, provider: str | None, region: str | None, cluster: str | None) -> Site:
        return Site(self._pue(provider, region, cluster), self._grid(provider, region, cluster))

    def _keys(self, provider: str | None, region: str | None, cluster: str | None) -> list[str]:
        keys = []
        if provider == ONPREM and cluster:
            keys.append(cluster.lower())
        if provider and region:
            keys.append(f"{provider}/{region_key(provider, region)}")
        return keys

    def _grid(
        self, provider: str | None, region: str | None, cluster: str | None
    ) -> GridIntensity | None:
        for key in self._keys(provider, region, cluster):
            if key in self.grid:
                return grid_setting(key, self.grid[key])
        return None if provider == ONPREM else region_intensity(provider, region)

    def _pue(self, provider: str | None, region: str | None, cluster: str | None) -> Pue | None:
        for key in [*self._keys(provider, region, cluster), provider or ""]:
            if key in self.pue:
                return Pue(self.pue[key], f"[carbon] pue {key!r}")
        if provider == ONPREM:
            value = self.onprem_pue.get((cluster or "").lower())
            return Pue(value, f"[onprem] cluster {cluster!r}") if value is not None else None
        return provider_pue(provider, region)


def grid_setting(key: str, value: Decimal | str) -> GridIntensity:
    """A ``[carbon] grid_intensity`` value: g CO2e/kWh, or a place code (see
    :func:`zone_intensity`); an unknown code is an error naming the setting."""
    if isinstance(value, Decimal):
        return GridIntensity(key, value, f"[carbon] grid_intensity {key!r}")
    zone = zone_intensity(value)
    if zone is None:
        raise ValueError(
            f"[carbon] grid_intensity {key!r}: unknown place {value!r} (use g CO2e/kWh, an ISO "
            "3166 alpha-3 country code such as DEU, a US state such as US-OR, or a grid zone)"
        )
    return GridIntensity(zone.key, zone.g_per_kwh, zone.source, zone.location)


class CarbonSettings(BaseModel):
    """The ``[carbon]`` section: what the tables cannot know about where GPUs run."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    grid_intensity: dict[str, Decimal | str] = Field(
        {},
        description='Grid carbon intensity by on-prem cluster name or "provider/region" (adds '
        "or overrides a cloud region): g CO2e per kWh, or a place code: an ISO 3166 alpha-3 "
        'country (DEU), a US state (US-OR) or a grid zone, e.g. { "dc1" = "US-OR" }; see '
        "docs/carbon.md.",
    )
    pue: dict[str, Decimal] = Field(
        {},
        description='PUE overrides by on-prem cluster name, "provider/region" or provider '
        "(aws, azure, gcp, oci ...); on-prem clusters otherwise use their [onprem] pue.",
    )
    assumed_utilisation_pct: int = Field(
        int(ASSUMED_UTILISATION_PCT),
        ge=0,
        le=100,
        description="GPU utilisation (percent) assumed for billed GPU-hours without telemetry "
        "(default: Cloud Carbon Footprint's 50).",
    )

    @field_validator("grid_intensity")
    @classmethod
    def _known_places(cls, value: dict[str, Decimal | str]) -> dict[str, Decimal | str]:
        out: dict[str, Decimal | str] = {}
        for key, given in value.items():
            number = isinstance(given, str) and re.fullmatch(r"\s*\d+(\.\d*)?\s*", given)
            item = Decimal(given.strip()) if number and isinstance(given, str) else given
            if isinstance(item, Decimal) and item < 0:
                raise ValueError(f"{key!r}: a grid intensity cannot be negative")
            grid_setting(key, item)  # an unknown place code is an error here
            out[key] = item
        return out

    @field_validator("pue")
    @classmethod
    def _at_least_one(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        low = sorted(k for k, v in value.items() if v < 1)
        if low:
            raise ValueError(f"PUE is at least 1 (total facility power / IT power): {low}")
        return value


def factors_for(
    settings: CarbonSettings, inventory: OnPremInventory | None = None
) -> CarbonFactors:
    """The :class:`CarbonFactors` of a workspace: its ``[carbon]`` settings and the PUE of each
    ``[onprem]`` cluster."""
    clusters = inventory.clusters if inventory is not None else []
    return CarbonFactors(settings.grid_intensity, settings.pue, {c.name: c.pue for c in clusters})
