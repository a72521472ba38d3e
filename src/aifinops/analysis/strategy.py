"""Strategy questions answered from stated assumptions and the workspace's own data.

``cloud_vs_onprem``: what a GPU demand costs on servers you own against cloud on-demand, spot and
committed prices, per used GPU-hour, per month and over the horizon, with the utilisation above
which owning is cheaper (arithmetic in :mod:`aifinops.model.strategy`). The result types and
helpers here serve :mod:`aifinops.analysis.strategy_finetune` too (a fine-tuned, self-hosted model
against an API); what both read from the workspace is in :mod:`aifinops.analysis.strategy_data`.

Each input comes from, in this order: the option the user gave; the workspace (the ``[onprem]``
inventory or ``--inventory`` file, the user's own bills: observed on-prem cost per server-hour,
observed commitment discount, observed GPU demand, jobs, LLM usage); the shipped catalogs (cloud
GPU prices, genai-prices); a stated default. Every input used is listed with its source in the
result's ``assumptions``; an input with no source is an error that says which option to give, and
an unknown price (spot where no table has one) is reported as unknown, never as zero.

Money is exact (fractions) and rounded half-even only in the result tables: totals to the cent,
prices per GPU-hour to 6 places, per request to 8. Amounts derived from the bills with GPU-hours
(observed rates, a job's estimated cost) are estimates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from aifinops.analysis import strategy_data as data
from aifinops.errors import QueryError
from aifinops.model import strategy as m
from aifinops.model.gpu_prices import CURRENCY, GpuPrice
from aifinops.model.timewindow import Window

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow as pa

    from aifinops.engine import Engine
    from aifinops.model.onprem import OnPremInventory

#: the committed discounts used when neither the user nor the bills give one (percent off
#: on-demand) and where they come from
COMMIT_DEFAULTS = {1: Decimal(37), 3: Decimal(55)}
COMMIT_DEFAULT_SOURCE = (
    "default: Google Compute Engine's published resource-based committed use discount "
    "(37% for 1 year, 55% for 3 years); AWS and Azure GPU rates differ - give your own"
)
DEFAULT_YEARS = Decimal(3)
#: decimal places in the result tables
PLACES = {"money": 2, "per_gpu_hour": 6, "per_request": 8, "pct": 2, "gpus": 2}


@dataclass
class Assumptions:
    """What each input was and where it came from."""

    rows: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, name: str, value: object, source: str) -> None:
        self.rows.append((name, text(value), source))

    def table(self) -> pa.Table:
        import pyarrow as pa

        names, values, sources = zip(*self.rows, strict=True) if self.rows else ((), (), ())
        return pa.table(
            {"assumption": list(names), "value": list(values), "source": list(sources)},
            schema=pa.schema([("assumption", pa.string()), ("value", pa.string()),
                              ("source", pa.string())]),
        )  # fmt: skip


@dataclass(frozen=True)
class StrategyResult:
    """The answer (``table``), the inputs it rests on, the verdict in words, and a title."""

    table: pa.Table
    assumptions: pa.Table
    verdict: tuple[str, ...]
    title: str = ""


# -- cloud vs on-prem ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DemandInput:
    """GPUs needed at the peak and how much they are used (one of utilisation, average GPUs or
    a schedule); unset: observed from the bills."""

    gpus: int | None = None
    utilisation_pct: Decimal | None = None
    avg_gpus: Decimal | None = None
    hours_per_day: Decimal | None = None
    days_per_week: Decimal | None = None
    years: Decimal = DEFAULT_YEARS


@dataclass(frozen=True)
class OnPremInput:
    """On-prem assumptions; unset fields come from the inventory (or the bills)."""

    inventory: Path | None = None
    gpus_per_server: int | None = None
    server_price: Decimal | None = None
    amortisation_years: Decimal | None = None
    power_kw: Decimal | None = None
    pue: Decimal | None = None
    electricity_price: Decimal | None = None
    space_per_month: Decimal | None = None  # per server
    operations_per_month: Decimal | None = None  # per server
    support_per_month: Decimal | None = None  # per server


@dataclass(frozen=True)
class CloudInput:
    """Which cloud prices to compare with; prices per GPU-hour override the catalog."""

    cloud: str | None = None
    region: str | None = None
    instance_type: str | None = None
    on_demand_price: Decimal | None = None
    spot_price: Decimal | None = None
    commit_1y_discount_pct: Decimal | None = None
    commit_3y_discount_pct: Decimal | None = None


@dataclass(frozen=True)
class CloudVsOnPremQuery:
    gpu: str
    demand: DemandInput = field(default_factory=DemandInput)
    onprem: OnPremInput = field(default_factory=OnPremInput)
    cloud: CloudInput = field(default_factory=CloudInput)
    window: Window = field(default_factory=Window)

    def __post_init__(self) -> None:
        if not self.gpu.strip():
            raise QueryError("no GPU model given", where="--gpu", hint="e.g. --gpu H100")


def cloud_vs_onprem(
    engine: Engine, inventory: OnPremInventory, query: CloudVsOnPremQuery
) -> StrategyResult:
    """Every option priced for the demand, with on-prem's break-even against each."""
    notes = Assumptions()
    notes.add("GPU model", query.gpu, "--gpu")
    usage = data.GpuUsage.read(engine, query.gpu, query.window)
    demand = _demand(query.demand, usage, notes)
    rate, currency = _onprem_rate(engine, inventory, query, notes)
    offers = _offers(query, usage, currency, notes)
    onprem = m.onprem_option(demand, rate)
    options = [onprem] + [m.cloud_option(demand, o, onprem.per_hour or Fraction(0)) for o in offers]
    table = _options_table(demand, options, currency, {o.option: s for o, s in offers.items()})
    verdict = tuple(_onprem_verdict(query.gpu, demand, options, currency))
    title = f"{query.gpu}: on-prem against cloud, {currency}"
    return StrategyResult(table, notes.table(), verdict, title)


def _demand(given: DemandInput, usage: data.GpuUsage, notes: Assumptions) -> m.Demand:
    years = m.fraction(given.years)
    default = given.years == DEFAULT_YEARS
    notes.add(
        "horizon", f"{given.years} years", f"default {DEFAULT_YEARS}" if default else "--years"
    )
    stated = [v is not None for v in (given.utilisation_pct, given.avg_gpus, given.hours_per_day)]
    if sum(stated) > 1:
        raise QueryError(
            "give one of --utilisation, --avg-gpus or --hours-per-day, not several",
            hint="they all say how much of the peak's GPU-hours are used",
        )
    if given.days_per_week is not None and given.hours_per_day is None:
        raise QueryError("--days-per-week needs --hours-per-day", where="--days-per-week")
    if given.gpus is None:
        return _observed_demand(given, usage, years, notes, any(stated))
    notes.add("GPUs needed (peak)", given.gpus, "--gpus")
    return _stated_demand(given, given.gpus, years, notes)


def _stated_demand(given: DemandInput, gpus: int, years: Fraction, notes: Assumptions) -> m.Demand:
    if given.avg_gpus is not None:
        notes.add("average GPUs busy", given.avg_gpus, "--avg-gpus")
        demand = m.Demand.from_average(gpus, m.fraction(given.avg_gpus), years)
        source = "average GPUs busy / GPUs needed"
    elif given.hours_per_day is not None:
        stated_days = given.days_per_week is not None
        days = given.days_per_week if given.days_per_week is not None else Decimal(7)
        notes.add("busy hours per day", given.hours_per_day, "--hours-per-day")
        notes.add("busy days per week", days, "--days-per-week" if stated_days else "default 7")
        demand = m.Demand.from_schedule(
            gpus, m.fraction(given.hours_per_day), m.fraction(days), years
        )
        source = "busy hours a week / 168"
    elif given.utilisation_pct is not None:
        demand = m.Demand(gpus, m.fraction(given.utilisation_pct) / 100, years)
        source = "--utilisation"
    else:
        raise QueryError(
            "say how much the GPUs are used",
            hint="give --utilisation PCT, --avg-gpus N or --hours-per-day H "
            "(or leave out --gpus to use the demand observed in the bills)",
        )
    notes.add("utilisation", pct(demand.utilisation), source)
    return demand


def _observed_demand(
    given: DemandInput, usage: data.GpuUsage, years: Fraction, notes: Assumptions, stated: bool
) -> m.Demand:
    profile = usage.demand
    if profile is None:
        raise QueryError(
            f"no cloud usage of {usage.gpu} GPUs in the bills to take the demand from",
            hint="state it: --gpus N and --utilisation PCT (or --avg-gpus, --hours-per-day)",
        )
    if stated:
        notes.add("GPUs needed (peak)", profile.peak, f"observed: {profile.describe()}")
        return _stated_demand(given, profile.peak, years, notes)
    source = f"observed: {profile.describe()}"
    notes.add("GPUs needed (peak)", profile.peak, source)
    notes.add("average GPUs held", num(profile.average, 2), source)
    demand = m.Demand.from_average(profile.peak, profile.average, years)
    notes.add("utilisation", pct(demand.utilisation), "average / peak GPUs held")
    return demand


def _onprem_rate(
    engine: Engine, inventory: OnPremInventory, query: CloudVsOnPremQuery, notes: Assumptions
) -> tuple[m.OnPremRate, str]:
    given = query.onprem
    source, found = data.inventory_node(inventory, given.inventory, query.gpu)
    stated = any(getattr(given, name) is not None for name in data.SERVER_FIELDS)
    if found is not None or stated:
        server, currency = _server(given, found, source, notes)
        return server.rate(), currency
    observed = data.observed_onprem(engine, query.gpu, query.window)
    if observed is None:
        raise QueryError(
            f"no on-prem assumptions for {query.gpu}: the [onprem] inventory has no such GPU and "
            "the bills have no on-prem rows of it",
            hint="give --inventory FILE (an [onprem] section as for `aifinops ingest onprem`) or "
            "--gpus-per-server, --server-price, --power-kw, --electricity-price, "
            "--space-per-month, --operations-per-month, --support-per-month",
        )
    rate, currency, where = observed
    described = f"observed in the bills: {where}"
    notes.add("on-prem GPUs per server", rate.gpus_per_server, described)
    for name in ("amortisation", "energy", "overhead"):
        value = num(getattr(rate, name), 6)
        notes.add(f"on-prem {name} per server-hour", f"{value} {currency}", described)
    return rate, currency


def _server(
    given: OnPremInput, found: data.InventoryNode | None, source: str, notes: Assumptions
) -> tuple[m.Server, str]:
    """A server from the options, else the inventory entry, else the [onprem] model defaults."""
    inventory = found.values() if found is not None else {}
    currency = found.currency if found is not None else CURRENCY
    values: dict[str, Any] = {}
    missing = []
    for name, flag in data.SERVER_FIELDS.items():
        if getattr(given, name) is not None:
            values[name], origin = getattr(given, name), flag
        elif name in inventory:
            values[name], origin = inventory[name], source
        elif name in data.MODEL_DEFAULTS:
            values[name], origin = data.MODEL_DEFAULTS[name], data.DEFAULT_SOURCES[name]
        else:
            missing.append(flag)
            continue
        label, money = data.SERVER_LABELS[name]
        shown = f"{text(values[name])} {currency}" if money else values[name]
        notes.add(label, shown, origin)
    if missing:
        raise QueryError(
            f"on-prem assumptions incomplete: give {', '.join(missing)}",
            hint="or --inventory FILE with an [onprem] section holding this GPU "
            "(space, operations and support are per server and month; 0 is allowed)",
        )
    overhead = sum((m.fraction(values[k]) for k in data.OVERHEADS), Fraction(0))
    server = m.Server(
        gpus=int(values["gpus_per_server"]),
        purchase_price=m.fraction(values["server_price"]),
        amortisation_years=m.fraction(values["amortisation_years"]),
        power_kw=m.fraction(values["power_kw"]),
        pue=m.fraction(values["pue"]),
        electricity_per_kwh=m.fraction(values["electricity_price"]),
        overhead_per_month=overhead,
    )
    return server, currency


def _offers(
    query: CloudVsOnPremQuery, usage: data.GpuUsage, currency: str, notes: Assumptions
) -> dict[m.Offer, str]:
    cloud = query.cloud
    rows = data.catalog_rows(query.gpu, cloud.cloud, cloud.region, cloud.instance_type)
    on_demand, od_source = _on_demand(cloud, rows, usage, currency)
    notes.add("on-demand price per GPU-hour", money_text(on_demand, 6, currency), od_source)
    spot, spot_source = _spot(cloud, rows, usage, currency)
    notes.add("spot price per GPU-hour", money_text(spot, 6, currency), spot_source)
    offers = {
        m.Offer("cloud on-demand", on_demand, m.Billing.PER_USE): od_source,
        m.Offer("cloud spot", spot, m.Billing.PER_USE): spot_source,
    }
    for years, given in ((1, cloud.commit_1y_discount_pct), (3, cloud.commit_3y_discount_pct)):
        discount = given if given is not None else COMMIT_DEFAULTS[years]
        origin = f"--commit-{years}y-discount" if given is not None else COMMIT_DEFAULT_SOURCE
        notes.add(f"{years}-year commitment discount", f"{discount}%", origin)
        offers[_committed(f"committed {years}y", on_demand, discount, Fraction(years))] = (
            f"on-demand less {discount}% ({origin.split(':')[0]})"
        )
    if usage.committed_discount is not None:
        observed, where = usage.committed_discount
        usable = 0 <= observed < 100  # effective above list says more about the data
        shown = f"{num(observed, 2)}%" + ("" if usable else " (not used: outside 0-100%)")
        notes.add("your commitment discount", shown, f"observed: {where}")
        if usable:
            offer = _committed("committed (your discount)", on_demand, observed, None)
            offers[offer] = f"on-demand less {num(observed, 2)}% (observed in your bills)"
    if usage.billed_rate is not None and usage.currency == currency and not _narrowed(cloud):
        rate, where = usage.billed_rate
        notes.add("your cloud cost per GPU-hour now", money_text(rate, 6, currency), where)
        offers[m.Offer("cloud as billed now", rate, m.Billing.PER_USE)] = f"observed: {where}"
    return offers


def _committed(
    option: str, on_demand: Fraction | None, discount_pct: Decimal | Fraction, term: Fraction | None
) -> m.Offer:
    pct = m.fraction(discount_pct)
    if not 0 <= pct < 100:
        raise QueryError(
            f"a commitment discount must be in [0, 100), not {float(pct):g}%",
            where=f"--commit-{term}y-discount" if term else None,
            hint="a percentage off the on-demand price, e.g. 37",
        )
    price = None if on_demand is None else on_demand * (100 - pct) / 100
    return m.Offer(option, price, m.Billing.HELD, term)


def _on_demand(
    cloud: CloudInput, rows: tuple[GpuPrice, ...], usage: data.GpuUsage, currency: str
) -> tuple[Fraction | None, str]:
    if cloud.on_demand_price is not None:
        return m.fraction(cloud.on_demand_price), "--on-demand-price"
    best = data.cheapest(rows, "on_demand") if currency == CURRENCY else None
    if best is not None:
        return best
    if usage.list_rate is not None and usage.currency == currency and not _narrowed(cloud):
        rate, where = usage.list_rate
        return rate, f"observed list price in your bills: {where}"
    _unpriced(cloud, rows, currency)
    return None, "unknown"


def _spot(
    cloud: CloudInput, rows: tuple[GpuPrice, ...], usage: data.GpuUsage, currency: str
) -> tuple[Fraction | None, str]:
    if cloud.spot_price is not None:
        return m.fraction(cloud.spot_price), "--spot-price"
    best = data.cheapest(rows, "spot") if currency == CURRENCY else None
    if best is not None:
        return best
    if usage.spot_rate is not None and usage.currency == currency and not _narrowed(cloud):
        rate, where = usage.spot_rate
        return rate, f"observed spot cost in your bills: {where}"
    return None, "unknown: no spot price in the catalog or your bills for this GPU; --spot-price"


def _narrowed(cloud: CloudInput) -> bool:
    """Catalog prices narrowed to a cloud, region or type: the bills' rates (any of them) are
    no fallback then."""
    return any((cloud.cloud, cloud.region, cloud.instance_type))


def _unpriced(cloud: CloudInput, rows: tuple[GpuPrice, ...], currency: str) -> None:
    if currency != CURRENCY:
        raise QueryError(
            f"on-prem costs are in {currency} and the catalog's cloud prices in {CURRENCY}",
            hint=f"give --on-demand-price (and --spot-price) per GPU-hour in {currency}",
        )
    filters = [f for f in (cloud.cloud, cloud.region, cloud.instance_type) if f]
    raise QueryError(
        "no on-demand price for this GPU" + (f" with {', '.join(filters)}" if filters else ""),
        hint="give --on-demand-price per GPU-hour"
        + ("" if rows else f" (the catalog knows {', '.join(data.known_models())})"),
    )


_HEADS = {
    "option": "string", "billing": "string", "gpus_paid": "gpus", "price_per_gpu_hour":
    "per_gpu_hour", "cost_per_used_gpu_hour": "per_gpu_hour", "monthly_cost": "money",
    "total_cost": "money", "owed_after_horizon": "money", "break_even_utilisation_pct": "pct",
    "on_prem_cheaper": "string", "currency": "string", "price_source": "string",
}  # fmt: skip


def _options_table(
    demand: m.Demand, options: list[m.OptionCost], currency: str, sources: dict[str, str]
) -> pa.Table:
    rows = [
        {
            "option": o.option,
            "billing": o.billing.value,
            "gpus_paid": o.gpus_paid,
            "price_per_gpu_hour": o.per_gpu_hour,
            "cost_per_used_gpu_hour": o.per_used_gpu_hour(demand),
            "monthly_cost": o.monthly(),
            "total_cost": o.total(demand),
            "owed_after_horizon": o.owed_after_horizon,
            "break_even_utilisation_pct": _break_even_pct(o.break_even),
            "on_prem_cheaper": _cheaper_text(o.break_even),
            "currency": currency,
            "price_source": sources.get(o.option, _onprem_source(o)),
        }
        for o in options
    ]
    return to_table(rows, _HEADS)


def _onprem_source(option: m.OptionCost) -> str:
    return f"{option.servers} servers of the on-prem assumptions (see assumptions)"


def _break_even_pct(value: m.BreakEven | None) -> Fraction | None:
    if value is None or value.utilisation is None or value.cheaper is not m.Cheaper.ABOVE:
        return None
    return value.utilisation * 100


def _cheaper_text(value: m.BreakEven | None) -> str | None:
    if value is None:
        return None
    if value.cheaper is m.Cheaper.ABOVE and value.utilisation is not None:
        return f"above {pct(value.utilisation)} utilisation"
    return {
        m.Cheaper.ANY: "at any utilisation",
        m.Cheaper.NEVER: "never",
        m.Cheaper.UNKNOWN: "unknown (no price)",
        m.Cheaper.ABOVE: "",
    }[value.cheaper]


def _onprem_verdict(
    gpu: str, demand: m.Demand, options: list[m.OptionCost], currency: str
) -> list[str]:
    onprem, clouds = options[0], options[1:]
    per_used = onprem.per_used_gpu_hour(demand) or Fraction(0)
    lines = [
        f"{demand.gpus} x {gpu} at {pct(demand.utilisation)} utilisation over "
        f"{num(demand.years, 2)} years: on-prem ({onprem.servers} servers) costs "
        f"{num(per_used, 4)} {currency} per used GPU-hour, "
        f"{amount(onprem.per_hour or Fraction(0), currency)} an hour in all."
    ]
    lines += [_cheapest(demand, options, spot=True), _cheapest(demand, options, spot=False)]
    for o in clouds:
        if o.break_even is None:
            continue
        if o.break_even.cheaper is m.Cheaper.UNKNOWN:
            lines.append(f"On-prem against {o.option}: unknown (no price).")
        elif o.billing is m.Billing.HELD:
            which = "cheaper" if o.break_even.cheaper is m.Cheaper.ANY else "dearer"
            lines.append(
                f"On-prem against {o.option}: {which} at any utilisation (both are paid "
                "whether used or not)."
            )
        else:
            lines.append(f"On-prem against {o.option}: cheaper {_cheaper_text(o.break_even)}.")
    if any(o.option == "cloud spot" and o.per_hour is not None for o in clouds):
        lines.append(
            "Spot capacity can be reclaimed at short notice: fit for interruptible, "
            "checkpointed work only, and not always available."
        )
    if any(o.owed_after_horizon for o in clouds):
        lines.append("A commitment term longer than the horizon leaves the rest owed (shown).")
    return [line for line in lines if line]


def _cheapest(demand: m.Demand, options: list[m.OptionCost], *, spot: bool) -> str:
    priced = [o for o in options if o.per_hour is not None and (spot or o.option != "cloud spot")]
    if not priced or (not spot and len(priced) == len(options)):
        return ""  # no prices, or no spot price to leave out
    best = min(priced, key=lambda o: (o.per_hour or 0) * demand.hours + o.owed_after_horizon)
    return f"Cheapest over the horizon{'' if spot else ' without spot'}: {best.option}."


# -- helpers -------------------------------------------------------------------------------------


def to_table(rows: list[dict[str, Any]], heads: dict[str, str]) -> pa.Table:
    """Rows as Arrow: Fractions rounded half-even to the places of their kind, as decimals."""
    import pyarrow as pa

    columns: dict[str, pa.Array] = {}
    for name, kind in heads.items():
        values = [r[name] for r in rows]
        if kind == "string":
            columns[name] = pa.array(values, pa.string())
        elif kind == "int":
            columns[name] = pa.array(values, pa.int64())
        else:
            places = PLACES[kind]
            cells = [None if v is None else m.rounded(Fraction(v), places) for v in values]
            columns[name] = pa.array(cells, pa.decimal128(38, places))
    return pa.table(columns)


#: columns a terminal table leaves out (the sources are in the assumptions; CSV, JSON and Parquet
#: have them all)
TERMINAL_OMITS = (
    "billing", "currency", "price_source", "break_even_utilisation_pct", "api_per_request",
)  # fmt: skip


def for_terminal(table: pa.Table) -> pa.Table:
    """Fewer columns (no sources, no currency, the break-even as text only, no owed amounts when
    there are none) and decimals finer than cents as text with all their places but trailing
    zeros (a terminal table shows decimals as money, in cents)."""
    import pyarrow as pa

    omit = [c for c in TERMINAL_OMITS if c in table.column_names]
    if "owed_after_horizon" in table.column_names and not any(
        table.column("owed_after_horizon").to_pylist()
    ):
        omit.append("owed_after_horizon")
    table = table.drop_columns(omit)
    for at, column in enumerate(table.schema):
        if pa.types.is_decimal(column.type) and column.type.scale > 2:
            values = table.column(at).to_pylist()
            text = [None if v is None else format(v.normalize(), "f") for v in values]
            table = table.set_column(at, column.name, pa.array(text, pa.string()))
    return table


def amount(value: Fraction, currency: str) -> str:
    """Money for a sentence: ``1,358.53 USD``."""
    return f"{m.rounded(value, 2):,} {currency}"


def pct(share: Fraction) -> str:
    return f"{m.rounded(share * 100, 2)}%"


def num(value: Fraction | Decimal, places: int) -> str:
    return str(m.rounded(Fraction(value), places))


def money_text(value: Fraction | None, places: int, currency: str) -> str:
    return "unknown" if value is None else f"{m.rounded(value, places)} {currency}"


def text(value: object) -> str:
    """An assumption's value as text: numbers without trailing zeros (fractions to 6 places)."""
    if isinstance(value, Fraction):
        value = m.rounded(value, 6)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)
