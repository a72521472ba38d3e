"""Strategy arithmetic: owning GPUs against renting them, self-hosting a model against an API.

Pure and exact: every amount is a :class:`~fractions.Fraction` (prices in, results out), rounded
half-even only when shown (:func:`rounded`). A year is 8,760 hours and a month 730 (a year / 12).

**Cloud vs on-prem.** A :class:`Demand` is ``gpus`` needed at the peak, the share of their hours
actually used (``utilisation``: average GPUs busy / ``gpus``) and a horizon in years.

* *On-prem* owns whole servers: ``ceil(gpus / gpus_per_server)`` of them, paid every hour of the
  horizon whether busy or not (:class:`OnPremRate`: amortisation + energy + overhead per
  server-hour; hardware is replaced when amortised, so the rate holds for any horizon).
* *Pay per use* (cloud on-demand, spot) pays only the GPU-hours used: ``gpus x utilisation``.
* *Held* (a 1- or 3-year commitment) pays for ``gpus`` every hour, used or not; a term longer than
  the horizon leaves the rest of the term owed (:attr:`OptionCost.owed_after_horizon`).

The cost per *used* GPU-hour is an option's cost / the GPU-hours used. On-prem is cheaper than a
pay-per-use price ``p`` when ``F < gpus x u x p`` (``F``: on-prem cost per hour), so above the
break-even utilisation ``u* = F / (gpus x p)``; ``u* >= 1`` means never. Against a held commitment
both are paid whether used or not, so utilisation does not decide: on-prem is cheaper at any
utilisation or at none.

**Fine-tune vs API.** Self-hosting costs the training (spread over the horizon's months) plus the
serving replicas, each ``gpus_per_replica`` GPUs running every hour; a replica serves
``requests_per_hour x 730 / peak_factor`` requests a month, and more requests need another replica
(a step). The API costs a fixed amount per request. :func:`volume_break_even` finds the first
monthly volume at which self-hosting costs no more than the API and the volume from which it stays
so; volumes are rates (requests per month), treated as continuous.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from aifinops.errors import QueryError
from aifinops.model.prices import MILLION, Rates

HOURS_PER_YEAR = 8760
HOURS_PER_MONTH = Fraction(HOURS_PER_YEAR, 12)  # 730
MONTHS_PER_YEAR = 12


def rounded(value: Fraction, places: int) -> Decimal:
    """``value`` rounded half-even to ``places`` decimals (exact: from an integer and a scale)."""
    units = round(value * 10**places)  # round() of a Fraction rounds half to even
    return Decimal(f"{units}E-{places}")  # from text: exact, whatever the context


def fraction(value: Decimal | int | str | Fraction) -> Fraction:
    return value if isinstance(value, Fraction) else Fraction(str(value))


def _positive(value: Fraction, name: str, *, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise QueryError(f"{name} must be {bound}, not {float(value):g}", where=name)


# -- cloud vs on-prem -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Demand:
    """GPUs needed at the peak, the used share of their hours, and the horizon in years."""

    gpus: int
    utilisation: Fraction
    years: Fraction

    def __post_init__(self) -> None:
        if self.gpus < 1:
            raise QueryError(f"--gpus must be at least 1, not {self.gpus}", where="--gpus")
        if not 0 < self.utilisation <= 1:
            raise QueryError(
                f"utilisation must be above 0% and at most 100%, not {float(self.utilisation):.2%}",
                where="--utilisation",
                hint="the average GPUs busy cannot exceed the GPUs needed at the peak",
            )
        _positive(self.years, "--years")

    @classmethod
    def from_average(cls, gpus: int, average: Fraction, years: Fraction) -> Demand:
        """``average`` GPUs busy on average out of ``gpus`` at the peak."""
        _positive(average, "--avg-gpus")
        if average > gpus:
            raise QueryError(
                f"--avg-gpus {float(average):g} is more than --gpus {gpus}",
                where="--avg-gpus",
                hint="--gpus is the peak: the average cannot exceed it",
            )
        return cls(gpus, Fraction(average) / gpus, years)

    @classmethod
    def from_schedule(
        cls, gpus: int, hours_per_day: Fraction, days_per_week: Fraction, years: Fraction
    ) -> Demand:
        """All ``gpus`` busy ``hours_per_day`` on ``days_per_week``, idle the rest of the week."""
        if not 0 < hours_per_day <= 24:
            raise QueryError("--hours-per-day must be in (0, 24]", where="--hours-per-day")
        if not 0 < days_per_week <= 7:
            raise QueryError("--days-per-week must be in (0, 7]", where="--days-per-week")
        return cls(gpus, hours_per_day * days_per_week / (24 * 7), years)

    @property
    def hours(self) -> Fraction:
        return self.years * HOURS_PER_YEAR

    @property
    def average_gpus(self) -> Fraction:
        return self.gpus * self.utilisation

    @property
    def used_gpu_hours(self) -> Fraction:
        """GPU-hours used over the horizon."""
        return self.average_gpus * self.hours


@dataclass(frozen=True)
class OnPremRate:
    """What an hour of one owned server costs, by component."""

    gpus_per_server: int
    amortisation: Fraction
    energy: Fraction
    overhead: Fraction  # space + operations + support

    def __post_init__(self) -> None:
        if self.gpus_per_server < 1:
            raise QueryError("GPUs per server must be at least 1", where="--gpus-per-server")
        for name in ("amortisation", "energy", "overhead"):
            _positive(getattr(self, name), f"on-prem {name} per hour", allow_zero=True)

    @property
    def per_server_hour(self) -> Fraction:
        return self.amortisation + self.energy + self.overhead

    @property
    def per_gpu_hour(self) -> Fraction:
        return self.per_server_hour / self.gpus_per_server


@dataclass(frozen=True)
class Server:
    """A server to buy: price, GPUs, amortisation, power, and its share of the site's overhead."""

    gpus: int
    purchase_price: Fraction
    amortisation_years: Fraction
    power_kw: Fraction
    pue: Fraction
    electricity_per_kwh: Fraction
    overhead_per_month: Fraction  # space + operations + support for this server

    def __post_init__(self) -> None:
        _positive(self.purchase_price, "--server-price", allow_zero=True)
        _positive(self.amortisation_years, "--amortisation-years")
        _positive(self.power_kw, "--power-kw", allow_zero=True)
        if self.pue < 1:
            raise QueryError(f"--pue must be >= 1, not {float(self.pue):g}", where="--pue")
        _positive(self.electricity_per_kwh, "--electricity-price", allow_zero=True)
        _positive(self.overhead_per_month, "on-prem overhead per month", allow_zero=True)

    def rate(self) -> OnPremRate:
        return OnPremRate(
            gpus_per_server=self.gpus,
            amortisation=self.purchase_price / (self.amortisation_years * HOURS_PER_YEAR),
            energy=self.power_kw * self.pue * self.electricity_per_kwh,
            overhead=self.overhead_per_month / HOURS_PER_MONTH,
        )


class Billing(StrEnum):
    OWNED = "owned"  # servers bought: paid every hour
    PER_USE = "per use"  # GPU-hours used
    HELD = "held"  # GPUs held every hour of the term (a commitment)


@dataclass(frozen=True)
class Offer:
    """A cloud price per GPU-hour (``None``: unknown) and how it is billed."""

    option: str
    per_gpu_hour: Fraction | None
    billing: Billing
    term_years: Fraction | None = None

    def __post_init__(self) -> None:
        if self.billing is Billing.OWNED:
            raise QueryError("a cloud offer is billed per use or held, not owned")
        if self.per_gpu_hour is not None:
            _positive(self.per_gpu_hour, f"{self.option} price per GPU-hour")


class Cheaper(StrEnum):
    ABOVE = "above"  # on-prem cheaper above the break-even utilisation
    ANY = "any"  # at any utilisation
    NEVER = "never"  # at no utilisation up to 100%
    UNKNOWN = "unknown"  # the cloud price is unknown


@dataclass(frozen=True)
class BreakEven:
    cheaper: Cheaper
    utilisation: Fraction | None = None  # the break-even, where one exists (may be >= 1)


@dataclass(frozen=True)
class OptionCost:
    """One option priced for a demand; amounts ``None`` where the price is unknown."""

    option: str
    billing: Billing
    gpus_paid: Fraction  # GPUs paid for on average
    per_gpu_hour: Fraction | None  # per GPU-hour paid
    per_hour: Fraction | None
    servers: int | None = None
    owed_after_horizon: Fraction = Fraction(0)
    break_even: BreakEven | None = None  # on-prem against this option (None for on-prem)

    def monthly(self) -> Fraction | None:
        return None if self.per_hour is None else self.per_hour * HOURS_PER_MONTH

    def total(self, demand: Demand) -> Fraction | None:
        return None if self.per_hour is None else self.per_hour * demand.hours

    def per_used_gpu_hour(self, demand: Demand) -> Fraction | None:
        return None if self.per_hour is None else self.per_hour / demand.average_gpus


def onprem_option(demand: Demand, rate: OnPremRate) -> OptionCost:
    """Whole servers for the peak, paid every hour."""
    servers = math.ceil(Fraction(demand.gpus, rate.gpus_per_server))
    return OptionCost(
        option="on-prem",
        billing=Billing.OWNED,
        gpus_paid=Fraction(servers * rate.gpus_per_server),
        per_gpu_hour=rate.per_gpu_hour,
        per_hour=servers * rate.per_server_hour,
        servers=servers,
    )


def cloud_option(demand: Demand, offer: Offer, onprem_per_hour: Fraction) -> OptionCost:
    """``offer`` priced for ``demand``, with on-prem's break-even against it."""
    paid = demand.average_gpus if offer.billing is Billing.PER_USE else Fraction(demand.gpus)
    price = offer.per_gpu_hour
    return OptionCost(
        option=offer.option,
        billing=offer.billing,
        gpus_paid=paid,
        per_gpu_hour=price,
        per_hour=None if price is None else paid * price,
        owed_after_horizon=_owed(demand, offer),
        break_even=break_even(onprem_per_hour, demand.gpus, offer),
    )


def _owed(demand: Demand, offer: Offer) -> Fraction:
    """What a commitment term still costs after the horizon ends (0 when it fits)."""
    if offer.billing is not Billing.HELD or offer.term_years is None or offer.per_gpu_hour is None:
        return Fraction(0)
    terms = math.ceil(demand.years / offer.term_years)
    extra_years = terms * offer.term_years - demand.years
    return extra_years * HOURS_PER_YEAR * demand.gpus * offer.per_gpu_hour


def break_even(onprem_per_hour: Fraction, gpus: int, offer: Offer) -> BreakEven:
    """The utilisation of ``gpus`` above which on-prem (``onprem_per_hour``) is cheaper."""
    price = offer.per_gpu_hour
    if price is None:
        return BreakEven(Cheaper.UNKNOWN)
    cloud_full = gpus * price  # the cloud's cost per hour with every GPU busy
    if offer.billing is Billing.HELD:
        return BreakEven(Cheaper.ANY if onprem_per_hour < cloud_full else Cheaper.NEVER)
    if onprem_per_hour == 0:
        return BreakEven(Cheaper.ANY, Fraction(0))
    level = onprem_per_hour / cloud_full
    return BreakEven(Cheaper.ABOVE if level < 1 else Cheaper.NEVER, level)


# -- fine-tune vs API -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestShape:
    """Tokens of one request: prompt (of which ``cached`` read from the API's cache), output."""

    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0

    def __post_init__(self) -> None:
        if self.input_tokens < 0 or self.output_tokens < 0 or self.cached_tokens < 0:
            raise QueryError("token counts must be >= 0", where="--input-tokens/--output-tokens")
        if self.input_tokens + self.output_tokens == 0:
            raise QueryError(
                "a request needs tokens", hint="give --input-tokens and/or --output-tokens"
            )
        if self.cached_tokens > self.input_tokens:
            raise QueryError(
                f"--cached-tokens {self.cached_tokens} is more than --input-tokens "
                f"{self.input_tokens}",
                where="--cached-tokens",
                hint="cached tokens are the part of the prompt read from the cache",
            )


def api_cost_per_request(rates: Rates, shape: RequestShape) -> Fraction:
    """Uncached input, cache-read input and output tokens at ``rates`` (per million)."""
    uncached = shape.input_tokens - shape.cached_tokens
    total = (
        uncached * fraction(rates.input)
        + shape.cached_tokens * fraction(rates.cache_read)
        + shape.output_tokens * fraction(rates.output)
    )
    return total / int(MILLION)


@dataclass(frozen=True)
class ServingPlan:
    """Replicas of ``gpus_per_replica`` GPUs at ``gpu_hour_price``, each serving up to
    ``requests_per_hour``; ``peak_factor``: the busiest hour's traffic / the average hour's."""

    gpus_per_replica: int
    gpu_hour_price: Fraction
    requests_per_hour: Fraction
    min_replicas: int = 1
    peak_factor: Fraction = Fraction(1)

    def __post_init__(self) -> None:
        if self.gpus_per_replica < 1:
            raise QueryError("--serving-gpus must be at least 1", where="--serving-gpus")
        _positive(self.gpu_hour_price, "--serving-gpu-price")
        _positive(self.requests_per_hour, "serving capacity (requests per hour)")
        if self.min_replicas < 1:
            raise QueryError("--min-replicas must be at least 1", where="--min-replicas")
        if self.peak_factor < 1:
            raise QueryError("--peak-factor must be >= 1", where="--peak-factor")

    @property
    def replica_monthly(self) -> Fraction:
        return self.gpus_per_replica * self.gpu_hour_price * HOURS_PER_MONTH

    @property
    def requests_per_replica_month(self) -> Fraction:
        return self.requests_per_hour * HOURS_PER_MONTH / self.peak_factor

    def replicas(self, requests_per_month: Fraction) -> int:
        needed = math.ceil(Fraction(requests_per_month) / self.requests_per_replica_month)
        return max(self.min_replicas, needed)


@dataclass(frozen=True)
class Bound:
    """A volume (requests per month) and whether it belongs to the range it bounds."""

    volume: Fraction
    included: bool

    def whole(self) -> int:
        """The first whole number of requests per month in the range."""
        return math.ceil(self.volume) if self.included else math.floor(self.volume) + 1


@dataclass(frozen=True)
class VolumeBreakEven:
    first: Bound | None  # the lowest volume at which self-hosting costs no more than the API
    stays_from: Bound | None  # from here on, self-hosting costs no more at every volume


@dataclass(frozen=True)
class FineTuneCase:
    training_cost: Fraction
    horizon_months: Fraction
    serving: ServingPlan
    api_per_request: Fraction

    def __post_init__(self) -> None:
        _positive(self.training_cost, "training cost", allow_zero=True)
        _positive(self.horizon_months, "--months")
        _positive(self.api_per_request, "API cost per request", allow_zero=True)

    @property
    def training_monthly(self) -> Fraction:
        return self.training_cost / self.horizon_months

    def self_hosted_monthly(self, volume: Fraction) -> Fraction:
        return self.training_monthly + self.serving.replicas(volume) * self.serving.replica_monthly

    def api_monthly(self, volume: Fraction) -> Fraction:
        return volume * self.api_per_request


def volume_break_even(case: FineTuneCase) -> VolumeBreakEven:
    """Where self-hosting starts to cost no more than the API, and where it stays so.

    Step ``r`` (``r`` replicas) covers volumes ``((r-1)k, rk]`` (the first step from 0), ``k``
    the requests a replica serves a month; in it self-hosting costs ``T + rS`` and is no dearer
    from ``b_r = (T + rS) / a``. With ``S >= a k`` each extra replica costs at least what the API
    charges for the requests it adds, so only the first step can break even and nothing stays.
    """
    a, k = case.api_per_request, case.serving.requests_per_replica_month
    t, s, m = case.training_monthly, case.serving.replica_monthly, case.serving.min_replicas
    if a == 0:
        return VolumeBreakEven(None, None)
    margin = a * k - s  # what a full extra replica saves against the API
    first_step = m if margin <= 0 else max(m, math.ceil(t / margin))
    first = _cheaper_from(case, first_step)
    if margin <= 0 or first is None:
        return VolumeBreakEven(first, None)
    whole_from = max(m + 1, math.ceil((t + a * k) / margin))  # steps wholly cheaper from here
    previous = whole_from - 1
    stays = _cheaper_from(case, previous) or Bound(previous * k, included=False)
    return VolumeBreakEven(first, stays)


def _cheaper_from(case: FineTuneCase, r: int) -> Bound | None:
    """The start of the volumes of step ``r`` where self-hosting is no dearer (None: none)."""
    k, m = case.serving.requests_per_replica_month, case.serving.min_replicas
    low = Fraction(0) if r == m else (r - 1) * k
    high = r * k
    start = (case.training_monthly + r * case.serving.replica_monthly) / case.api_per_request
    if start > high:
        return None
    return Bound(start, included=True) if start > low else Bound(low, included=False)


def volume_grid(reference: Fraction, extra: list[int]) -> list[int]:
    """Volumes for a table: 1-2-5 steps from a tenth of ``reference`` to ten times it, plus
    ``extra`` (break-even points)."""
    low, high = max(Fraction(1), reference / 10), max(Fraction(10), reference * 10)
    exponent = len(str(math.floor(low))) - 1
    grid: set[int] = set()
    while 10**exponent <= high:
        grid |= {m * 10**exponent for m in (1, 2, 5) if low <= m * 10**exponent <= high}
        exponent += 1
    return sorted(grid | {v for v in extra if v > 0})
