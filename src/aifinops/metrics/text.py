"""The Prometheus text exposition format 0.0.4: metric families, samples, escaping.

Every family is a gauge (a store's point-in-time answer, never a counter). Values are written
from their exact form: money as a decimal rounded half-even to the cent, ratios to 6 places,
counts as integers; a value that is not known is left out, never written as 0 or NaN.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from aifinops.analysis.common import OTHER

CENT = Decimal("0.01")
RATIO = Decimal("0.000001")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = tuple[tuple[str, str], ...]


@dataclass
class Family:
    """One metric family: its name, help text and samples (labels -> value text)."""

    name: str
    help: str
    samples: dict[Labels, str] = field(default_factory=dict)

    def add(self, value: str | None, /, **labels: str) -> None:
        if value is not None:
            self.samples[tuple(labels.items())] = value


def render(families: Iterable[Family], comments: Iterable[str] = ()) -> str:
    """The exposition text: ``# HELP`` and ``# TYPE gauge`` for each family, then its samples."""
    lines = [f"# {_escape_help(c)}" for c in comments]
    for f in families:
        lines += [f"# HELP {f.name} {_escape_help(f.help)}", f"# TYPE {f.name} gauge"]
        lines += [f"{f.name}{_labels(labels)} {value}" for labels, value in f.samples.items()]
    return "\n".join(lines) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in labels) + "}"


def escape_label(value: str) -> str:
    r"""A label value: ``\`` -> ``\\``, ``"`` -> ``\"``, newline -> ``\n``."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def money(value: Decimal | None) -> str | None:
    """Money for dashboards: rounded half-even to the cent (exact figures are in the reports)."""
    if value is None:
        return None
    return str(value.quantize(CENT, rounding=ROUND_HALF_EVEN))


def ratio(numerator: Decimal | int | None, denominator: Decimal | int | None) -> str | None:
    """numerator / denominator to 6 places; None when either is unknown or the divisor is 0."""
    if numerator is None or not denominator:
        return None
    return str((Decimal(numerator) / Decimal(denominator)).quantize(RATIO, ROUND_HALF_EVEN))


def day_timestamp(day: date | datetime | None) -> str | None:
    """Unix seconds of a day's midnight (UTC) or of a moment."""
    if day is None:
        return None
    moment = day if isinstance(day, datetime) else datetime(day.year, day.month, day.day)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    stamp = Decimal(str(moment.timestamp()))
    return str(int(stamp)) if stamp == int(stamp) else str(stamp)


Key = tuple[str, ...]
Sums = dict[str, Decimal]


def top_n(
    rows: Mapping[tuple[Key, str], Sums], n: int, rank_by: str
) -> dict[tuple[Key, str], Sums]:
    """Keep the ``n`` keys whose ``rank_by`` is largest (summed over currencies; ties by key);
    every other key's sums are added exactly into ``((other), ...)`` per currency. Largest
    first, (other) last."""
    totals: dict[Key, Decimal] = {}
    for (key, _currency), sums in rows.items():
        totals[key] = totals.get(key, Decimal(0)) + sums.get(rank_by, Decimal(0))
    order = sorted(totals, key=lambda k: (-totals[k], k))
    place = {k: min(i, n) for i, k in enumerate(order)}  # every other key shares place n
    out: dict[tuple[Key, str], Sums] = {}
    for (key, currency), sums in sorted(rows.items(), key=lambda r: (place[r[0][0]], r[0][1])):
        target = (key if place[key] < n else (OTHER,) * len(key), currency)
        into = out.setdefault(target, {})
        for name, amount in sums.items():
            into[name] = into.get(name, Decimal(0)) + amount
    return out
