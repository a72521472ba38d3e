"""On-premises GPU clusters: the inventory and what an hour of each server costs.

Pure domain (no I/O). The inventory lives in ``aifinops.toml`` under ``[onprem]`` (see
docs/sources/onprem.md); :mod:`aifinops.sources.onprem` turns it into hourly FOCUS rows.

An hour of a server costs the sum of:

* **amortisation**: purchase price spread evenly over every hour from the purchase (or
  in-service) date to the same date ``amortisation_years`` later (calendar hours, so leap years
  count); nothing once it is paid off;
* **energy**: ``power_kw`` (average draw at the wall) x the cluster's PUE x the electricity price
  per kWh;
* **space, operations, support**: the cluster's monthly amounts spread over the hours of that
  month and over its servers in proportion to their GPU counts (servers not in service that
  month take no share).

All of it is exact decimal arithmetic; per-hour amounts keep 18 decimal places, the precision of
the store.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, localcontext

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

HOUR = timedelta(hours=1)
_PLACES = Decimal(1).scaleb(-18)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class Node(_Model):
    """One server (or ``count`` identical ones, named ``<name>-01`` ...)."""

    name: str = Field(min_length=1, description="Server name (the FOCUS ResourceName).")
    count: int = Field(1, ge=1, description="Identical servers described by this entry.")
    gpu_model: str = Field(min_length=1, description="GPU model, e.g. H100-SXM5-80GB.")
    gpus: int = Field(gt=0, description="GPUs per server.")
    purchase_price: Decimal = Field(ge=0, description="Price paid per server.")
    purchase_date: date = Field(description="When it went into service (amortisation start).")
    amortisation_years: int = Field(4, gt=0, description="Years over which the price is spread.")
    power_kw: Decimal = Field(ge=0, description="Average power draw per server at the wall, kW.")
    retired: date | None = Field(None, description="Out of service from this day (no more rows).")
    tags: dict[str, str] = Field(default_factory=dict, description="Tags for its cost rows.")

    @model_validator(mode="after")
    def _retired_after_purchase(self) -> Node:
        if self.retired is not None and self.retired <= self.purchase_date:
            raise ValueError("retired must be after purchase_date")
        return self

    def names(self) -> list[str]:
        if self.count == 1:
            return [self.name]
        width = max(2, len(str(self.count)))
        return [f"{self.name}-{i:0{width}d}" for i in range(1, self.count + 1)]


class Cluster(_Model):
    """A site or cluster: its servers and what running them costs besides the hardware."""

    name: str = Field(min_length=1, description="Cluster name (the FOCUS billing account).")
    location: str | None = Field(None, description="Where it is (the FOCUS RegionName).")
    currency: str = Field("USD", min_length=3, max_length=3, description="ISO 4217 currency.")
    electricity_price_per_kwh: Decimal = Field(ge=0, description="Electricity price per kWh.")
    pue: Decimal = Field(Decimal("1.4"), ge=1, description="Power usage effectiveness (>= 1).")
    space_per_month: Decimal = Field(Decimal(0), ge=0, description="Rack space / colocation.")
    operations_per_month: Decimal = Field(Decimal(0), ge=0, description="Staff and operations.")
    support_per_month: Decimal = Field(Decimal(0), ge=0, description="Support contracts.")
    tags: dict[str, str] = Field(default_factory=dict, description="Tags for all its rows.")
    nodes: list[Node] = Field(min_length=1, description="The servers.")

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class OnPremInventory(_Model):
    """The ``[onprem]`` section: every on-premises cluster."""

    clusters: list[Cluster] = Field(default_factory=list, description="The clusters.")

    @model_validator(mode="after")
    def _unique_names(self) -> OnPremInventory:
        seen: set[str] = set()
        for cluster in self.clusters:
            if cluster.name in seen:
                raise ValueError(f"two clusters are named {cluster.name!r}")
            seen.add(cluster.name)
            names = [n for node in cluster.nodes for n in node.names()]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"cluster {cluster.name!r}: servers named twice: {dupes}")
        return self


@dataclass(frozen=True)
class Server:
    """One server of a cluster, expanded from a :class:`Node` entry."""

    cluster: Cluster
    node: Node
    name: str

    @property
    def start(self) -> datetime:
        return _midnight(self.node.purchase_date)

    @property
    def paid_off(self) -> datetime:
        d = self.node.purchase_date
        years = self.node.amortisation_years
        try:
            return _midnight(d.replace(year=d.year + years))
        except ValueError:  # 29 February -> 1 March
            return _midnight(date(d.year + years, 3, 1))

    @property
    def end(self) -> datetime | None:
        return _midnight(self.node.retired) if self.node.retired else None

    def in_service(self, hour: datetime) -> bool:
        return hour >= self.start and (self.end is None or hour < self.end)


@dataclass(frozen=True)
class HourlyCost:
    """What one hour of a server costs, by component (exact, 18 decimal places)."""

    amortisation: Decimal
    energy: Decimal
    space: Decimal
    operations: Decimal
    support: Decimal
    energy_kwh: Decimal

    @property
    def total(self) -> Decimal:
        return self.amortisation + self.energy + self.space + self.operations + self.support


def servers(cluster: Cluster) -> list[Server]:
    return [Server(cluster, node, name) for node in cluster.nodes for name in node.names()]


def month_start(when: datetime) -> datetime:
    return datetime(when.year, when.month, 1, tzinfo=UTC)


def next_month(when: datetime) -> datetime:
    return datetime(when.year + when.month // 12, when.month % 12 + 1, 1, tzinfo=UTC)


def hourly_cost(server: Server, month: datetime, sharing: list[Server]) -> HourlyCost:
    """The cost of one in-service hour of ``server`` in ``month`` (a month start, UTC), the
    monthly amounts shared with the servers of ``sharing`` in service at some time that month.

    Amortisation is counted only for hours before the server is paid off; the caller asks
    :func:`amortisation_per_hour` and zeroes hours after ``paid_off``.
    """
    cluster = server.cluster
    kwh = server.node.power_kw * cluster.pue
    days = calendar.monthrange(month.year, month.month)[1]
    hours = Decimal(days * 24)
    total_gpus = sum(s.node.gpus for s in sharing)
    with localcontext(prec=60):
        share = Decimal(server.node.gpus) / Decimal(total_gpus) if total_gpus else Decimal(0)
        return HourlyCost(
            amortisation=amortisation_per_hour(server),
            energy=_q(kwh * cluster.electricity_price_per_kwh),
            space=_q(cluster.space_per_month * share / hours),
            operations=_q(cluster.operations_per_month * share / hours),
            support=_q(cluster.support_per_month * share / hours),
            energy_kwh=_q(kwh),
        )


def amortisation_per_hour(server: Server) -> Decimal:
    hours = Decimal(int((server.paid_off - server.start) / HOUR))
    with localcontext(prec=60):
        return _q(server.node.purchase_price / hours)


def in_service_during(cluster: Cluster, start: datetime, end: datetime) -> list[Server]:
    """The servers of ``cluster`` in service at some hour of [start, end)."""
    return [s for s in servers(cluster) if s.start < end and (s.end is None or s.end > start)]


def _q(value: Decimal) -> Decimal:
    with localcontext(prec=60):
        return value.quantize(_PLACES)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
