"""Cloud GPU instance prices: on-demand and spot per instance-hour, where known, with their date.

Package data built by ``scripts/build_gpu_prices.py`` from the project's reference table
``pricing/gpu_instances.csv`` (see ``data/NOTICE.md``). One row per cloud, instance type and
region: AWS us-east-1 on-demand (no spot: AWS spot prices are dynamic and not in the source), GCP
on-demand and spot in three regions plus an older static list with preemptible prices, Azure
pay-as-you-go (no spot). A price the table lacks is ``None`` - unknown, never zero. Prices are
list snapshots in USD and go stale: each row says when and where it was taken.

GPU model names differ between clouds and inventories (``H100``, ``H100-80GB``,
``H100-SXM5-80GB``): :func:`same_gpu` takes a plain family name (``H100``) to mean every model of
the family (the name up to the first ``-``, space or parenthesis), and a qualified name
(``A100-80GB``) to mean that model (case-insensitive), or its family where nothing has that name.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources

CURRENCY = "USD"


@dataclass(frozen=True)
class GpuPrice:
    cloud: str
    instance_type: str
    region: str
    gpu_model: str
    gpu_count: Decimal
    on_demand: Decimal | None  # USD per instance-hour
    spot: Decimal | None  # USD per instance-hour (spot, or GCP preemptible)
    spot_kind: str  # "spot" | "preemptible" | ""
    as_of: str
    source: str

    @property
    def on_demand_per_gpu_hour(self) -> Decimal | None:
        return None if self.on_demand is None else self.on_demand / self.gpu_count

    @property
    def spot_per_gpu_hour(self) -> Decimal | None:
        return None if self.spot is None else self.spot / self.gpu_count

    def describe(self) -> str:
        return f"{self.cloud} {self.instance_type} ({self.region})"


def _price(text: str) -> Decimal | None:
    return Decimal(text) if text else None


@functools.cache
def gpu_prices() -> tuple[GpuPrice, ...]:
    """Every priced row, by cloud, instance type and region."""
    text = resources.files("aifinops.model").joinpath("data/gpu_prices.csv").read_text("utf-8")
    return tuple(
        GpuPrice(
            cloud=r["cloud"],
            instance_type=r["instance_type"],
            region=r["region"],
            gpu_model=r["gpu_model"],
            gpu_count=Decimal(r["gpu_count"]),
            on_demand=_price(r["on_demand_usd_per_hour"]),
            spot=_price(r["spot_usd_per_hour"]),
            spot_kind=r["spot_kind"],
            as_of=r["price_as_of"],
            source=r["price_source"],
        )
        for r in csv.DictReader(text.splitlines())
    )


def gpu_family(model: str) -> str:
    """``H100-SXM5-80GB`` -> ``H100``; ``A10 (1/6)`` -> ``A10``; upper case."""
    return re.split(r"[-\s(]", model.strip(), maxsplit=1)[0].upper()


def same_gpu(asked: str, models: Iterable[str]) -> set[str]:
    """The names in ``models`` that stand for the GPU ``asked`` for (see the module)."""
    names, wanted = set(models), asked.strip().lower()
    exact = {n for n in names if n.lower() == wanted}
    if exact and gpu_family(asked).lower() != wanted:
        return exact
    return {n for n in names if gpu_family(n) == gpu_family(asked)}


def matching(gpu: str) -> tuple[GpuPrice, ...]:
    """Rows of whole GPUs (no fractional shares) of ``gpu`` (see :func:`same_gpu`)."""
    whole = [p for p in gpu_prices() if p.gpu_count >= 1]
    models = same_gpu(gpu, (p.gpu_model for p in whole))
    return tuple(p for p in whole if p.gpu_model in models)


def known_models() -> list[str]:
    """The GPU models the price list knows, sorted."""
    return sorted({p.gpu_model for p in gpu_prices() if p.gpu_count >= 1})
