"""Kestrel AI, Inc.: the fictional AI company whose cloud bills the demo writes.

Everything here is data. Teams own projects and models; pools of identical resources run on a
schedule in one cloud account; metered pools (buckets, token meters, network) accrue daily; a few
charges come once a month. ``scale`` multiplies every pool's size, so a benchmark company is the
same company with more resources rather than repeated rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from aifinops.demo.anomalies import Planted
from aifinops.demo.timeline import Mask, Timeline
from aifinops.model.focus import FocusVersion

DOMAIN = "kestrel-ai.example"


class TagStyle(StrEnum):
    """How a resource's tags are written; everything but CANONICAL is planted messiness."""

    CANONICAL = "canonical"
    TEAM_TITLE = "Team"  # key spelled `Team`
    TEAM_UPPER = "TEAM"  # key spelled `TEAM`
    PROJECT_NAME = "project_name"  # `project_name` instead of `project`
    VALUE_CASE = "value-case"  # `Research` / `Prod` instead of `research` / `prod`
    PARTIAL = "partial"  # team and env only
    KUBERNETES = "kubernetes"  # node-pool tags only: no team (untagged for allocation)
    NAME_ONLY = "name-only"  # a Name tag and nothing else (untagged for allocation)
    NONE = "none"  # no tags at all


UNTAGGED_STYLES = frozenset({TagStyle.KUBERNETES, TagStyle.NAME_ONLY, TagStyle.NONE})


@dataclass(frozen=True)
class Team:
    name: str
    cost_center: str
    owner: str  # e-mail of the team's budget owner


TEAMS = {
    t.name: t
    for t in (
        Team("research", "CC-1100", f"a.mensah@{DOMAIN}"),
        Team("training-platform", "CC-1200", f"j.lindqvist@{DOMAIN}"),
        Team("inference", "CC-1300", f"p.raman@{DOMAIN}"),
        Team("search", "CC-1400", f"m.oduya@{DOMAIN}"),
        Team("data-platform", "CC-1500", f"s.keller@{DOMAIN}"),
        Team("product-ml", "CC-1600", f"l.moreau@{DOMAIN}"),
        Team("platform", "CC-1000", f"d.okafor@{DOMAIN}"),
    )
}


@dataclass(frozen=True)
class Owner:
    """The allocation labels a resource should carry."""

    team: str
    project: str
    env: str
    model: str | None = None


@dataclass(frozen=True)
class Provider:
    slug: str  # folder name
    name: str  # ProviderName, DemoFile.provider
    cloud: str  # key in gpu_prices.csv
    version: FocusVersion
    fmt: str  # "parquet" | "csv.gz" | "csv"
    billing_account_id: str
    billing_account_name: str
    billing_account_type: str
    sub_account_type: str
    region: tuple[str, str]  # RegionId, RegionName
    zones: tuple[str, ...]
    contract_discount: Decimal  # negotiated discount off list: ContractedUnitPrice
    tax_rate: Decimal
    tax_on: frozenset[str]  # line groups the tax is levied on
    empty_tags: str | None  # what an untagged row's Tags holds


@dataclass(frozen=True)
class Account:
    key: str
    provider: str
    id: str
    name: str
    messy: tuple[str, ...] = ()  # planted messiness labels


@dataclass(frozen=True)
class Schedule:
    """When a pool's resources run, as fractions of the timeline or days of the last month."""

    start: float = 0.0
    end: float = 1.0
    jitter: int = 0  # each resource starts up to this many hours late
    mask: Mask = Mask.ALL
    last_month_days: tuple[int, int] | None = None  # [first, last) day of the final month


ALWAYS = Schedule()


@dataclass(frozen=True)
class InstancePool:
    """Identical GPU machines billed per hour."""

    key: str
    provider: str
    account: str
    sku: str
    count: int
    owner: Owner | None
    name: str  # resource-name prefix
    schedule: Schedule = ALWAYS
    styles: tuple[TagStyle, ...] = (TagStyle.CANONICAL,)
    commitment: str | None = None
    sud_credit: Decimal | None = None  # GCP sustained-use style credit, fraction of list
    service: str = "vm"  # "vm" | "sagemaker"


@dataclass(frozen=True)
class MeterPool:
    """Metered usage accrued per day: buckets, token meters, network."""

    key: str
    provider: str
    account: str
    product: str  # key of pricebook.PRODUCTS
    count: int
    daily: float  # mean PricingQuantity per line per day in the first month
    owner: Owner | None
    name: str | None  # resource-name prefix; None for charges without a resource
    growth: float = 0.0  # relative growth per month
    weekend: float = 1.0  # Saturday/Sunday multiplier
    sigma: float = 0.1  # day-to-day log-normal noise
    styles: tuple[TagStyle, ...] = (TagStyle.CANONICAL,)
    messy: tuple[str, ...] = ()  # planted messiness labels


@dataclass(frozen=True)
class Commitment:
    """A savings plan, reservation or committed-use discount covering whole pools."""

    key: str
    provider: str
    account: str
    id: str
    name: str
    type: str  # CommitmentDiscountType
    category: str  # "Spend" | "Usage"
    rate: Decimal  # committed price as a fraction of list
    payment: str  # "partial-upfront" | "all-upfront" | "monthly"
    recurring: Decimal = Decimal(1)  # share of the rate billed monthly (partial upfront)
    term_hours: int = 8760


@dataclass(frozen=True)
class MonthlyCharge:
    key: str
    provider: str
    account: str
    kind: str  # "support" | "subscription" | "credit" | "tax"
    amount: Decimal = Decimal(0)  # subscription fee or credit amount; support/tax are computed
    description: str = ""
    service: tuple[str, str, str] = ("", "", "")  # ServiceName, ServiceCategory, Subcategory
    publisher: str | None = None


@dataclass(frozen=True)
class Company:
    providers: dict[str, Provider]
    accounts: dict[str, Account]
    instances: tuple[InstancePool, ...]
    meters: tuple[MeterPool, ...]
    commitments: dict[str, Commitment]
    monthly: tuple[MonthlyCharge, ...]
    scale: float = 1.0
    seed: int = 42
    planted: tuple[Planted, ...] = ()  # planted anomalies (aifinops.demo.anomalies)

    def count(self, pool: InstancePool | MeterPool) -> int:
        """A pool's size at this company's scale.

        A meter without resources (tokens through one API, network egress) does not multiply: a
        bigger company sends more through it (``volume``) rather than opening more meters.
        """
        if isinstance(pool, MeterPool) and pool.name is None:
            return pool.count
        # Each pool rounds at its own phase, so totals grow smoothly with scale; scale 1 is exact.
        phase = stable_int(pool.key) % 1000 / 1000
        return int(pool.count * self.scale + phase)

    def volume(self, pool: MeterPool) -> float:
        return self.scale if pool.name is None else 1.0

    def rng(self, *parts: str | int) -> np.random.Generator:
        """A random stream owned by ``parts`` (stable across runs and scales)."""
        return np.random.default_rng([self.seed, *(stable_int(str(p)) for p in parts)])


def stable_int(text: str) -> int:
    """A process-independent hash (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def intervals(
    company: Company, pool: InstancePool, timeline: Timeline
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Start and end timeline hours of each resource of ``pool``."""
    n = company.count(pool)
    schedule = pool.schedule
    if schedule.last_month_days:
        first, last = schedule.last_month_days
        month = timeline.last
        start = month.hour0 + (first - 1) * 24
        end = min(month.hour1, month.hour0 + (last - 1) * 24)
    else:
        start = round(schedule.start * timeline.hours)
        end = round(schedule.end * timeline.hours)
    delay = company.rng(pool.key, "jitter").integers(0, schedule.jitter + 1, n)
    starts = np.minimum(start + delay, end).astype(np.int64)
    return starts, np.full(n, end, dtype=np.int64)
