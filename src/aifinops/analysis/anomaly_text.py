"""Anomalies in words: one-line summaries, cause lines and the alert each one raises."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from aifinops.output import money

if TYPE_CHECKING:
    import pyarrow as pa

    from aifinops.analysis.anomalies import Anomaly
    from aifinops.analysis.anomaly_causes import Cause
    from aifinops.analysis.anomaly_explain import Explanation
    from aifinops.notify import Alert

CAUSES_IN_ALERT = 6


def signed(value: Decimal) -> str:
    text = money(value)
    return text if text.startswith("-") else f"+{text}"


def percent(value: float | None) -> str:
    return "new" if value is None else f"{value:+.0%}"


def event_text(a: Anomaly) -> str:
    """``level shift, 16 days (ended 2026-10-25)``, ``spike, still going on 2026-10-31``."""
    if a.kind == "recurring change":
        return "recurring and one-time charges unlike the same day a month before"
    if a.ongoing:
        return f"{a.kind}, {a.days} day(s), still on through {a.through}"
    return f"{a.kind}, {a.days} day(s)"


def summary(a: Anomaly) -> str:
    return (
        f"{a.day} {a.scope}: {money(a.actual)} {a.currency}, expected {money(a.expected)} "
        f"({signed(a.impact)}, {percent(a.relative)}); {event_text(a)}; "
        f"{signed(a.total_impact)} {a.currency} in all"
    )


def cause_text(cause: Cause) -> str:
    return f"{cause.dimension} {cause.value} {signed(cause.impact)} ({cause.share:.0%})"


def alert(a: Anomaly) -> Alert:
    from aifinops.notify import Alert, Severity

    severity = Severity.CRITICAL if a.ongoing and a.kind != "spike" else Severity.WARNING
    causes = [cause_text(c) for c in a.causes[:CAUSES_IN_ALERT]]
    lines = [summary(a)]
    if causes:
        lines.append("top causes: " + "; ".join(causes))
    if a.views:
        seen = "; ".join(f"{v.scope} {signed(v.impact)}" for v in a.views)
        lines.append(f"also seen in: {seen}")
    fields = {
        "day": a.day.isoformat(),
        "scope": a.scope,
        "kind": a.kind,
        "charges": a.basis,
        "actual": money(a.actual),
        "expected": money(a.expected),
        "impact": signed(a.impact),
        "change": percent(a.relative),
        "days": str(a.days),
        "total_impact": signed(a.total_impact),
        "score": "—" if a.score is None else f"{a.score:.1f}",
        "data_through": a.through.isoformat(),
    }
    if causes:
        fields["top_cause"] = causes[0]
    return Alert(
        key=Alert.make_key("anomaly", a.currency, a.basis, a.scope, a.day.isoformat()),
        kind="anomaly",
        severity=severity,
        title=f"Cost anomaly in {a.scope} on {a.day}: {signed(a.impact)} {a.currency} "
        f"({percent(a.relative)}, {a.kind})",
        text="\n".join(lines),
        fields=fields,
        scope=a.scope,
        amount=a.total_impact,
        currency=a.currency,
        owner=a.owner,
    )


def _tenths(value: float) -> Decimal:
    return Decimal(repr(round(value, 1)))


def compact_causes(causes: Sequence[Cause], *, limit: int = 6) -> list[str]:
    """One item per dimension: its top value, and how many more values share the rest."""
    by_dimension: dict[str, list[Cause]] = {}
    for cause in causes:
        by_dimension.setdefault(cause.dimension, []).append(cause)
    out = []
    for name, items in list(by_dimension.items())[:limit]:
        head = items[0]
        text = f"{name} {head.value} {signed(head.impact)} ({head.share:.0%})"
        if len(items) > 1:
            rest = sum(c.share for c in items[1:])
            text += f" +{len(items) - 1} more ({rest:.0%})"
        out.append(text)
    return out


def anomalies_table(anomalies: Sequence[Anomaly]) -> pa.Table:
    """One row per anomaly: what, when, how much, the top causes and the other views."""
    import pyarrow as pa

    rows = [
        {
            "day": a.day,
            "scope": a.scope,
            "kind": a.kind,
            "charges": a.basis,
            "currency": a.currency,
            "actual": a.actual,
            "expected": a.expected,
            "impact": a.impact,
            "change_pct": None if a.relative is None else _tenths(a.relative * 100),
            "score": None if a.score is None else round(a.score, 1),
            "days": a.days,
            "ongoing": a.ongoing,
            "total_impact": a.total_impact,
            "top_causes": "; ".join(compact_causes(a.causes)),
            "also_seen_in": "; ".join(f"{v.scope} {signed(v.impact)}" for v in a.views),
        }
        for a in anomalies
    ]
    if not rows:
        return pa.table({name: pa.array([], pa.string()) for name in _COLUMNS})
    return pa.Table.from_pylist(rows)


_COLUMNS = ("day", "scope", "kind", "charges", "currency", "actual", "expected", "impact",
            "change_pct", "score", "days", "ongoing", "total_impact", "top_causes",
            "also_seen_in")  # fmt: skip


LEADING = ("day", "scope", "currency", "charges")


def explanation_table(items: Sequence[Explanation], *, top: int) -> pa.Table:
    """Per explanation and drill dimension, the ``top`` values by the size of their part."""
    import pyarrow as pa

    rows = [
        {
            "day": item.day,
            "scope": item.scope,
            "currency": item.currency,
            "charges": item.basis,
            "dimension": c.dimension,
            "value": c.value,
            "actual": c.actual,
            "expected": c.expected,
            "impact": c.impact,
            "share_pct": _tenths(c.share * 100),
        }
        for item in items
        for causes in item.drill.values()
        for c in sorted(causes, key=lambda c: -abs(c.impact))[:top]
    ]
    if not rows:
        names = (*LEADING, "dimension", "value", "actual", "expected", "impact", "share_pct")
        return pa.table({name: pa.array([], pa.string()) for name in names})
    return pa.Table.from_pylist(rows)
