"""A showback / chargeback statement as one self-contained HTML page: no scripts, no fonts, no
links to fetch; the charts are inline SVG, so the page can be mailed or archived as it is."""

from __future__ import annotations

import html
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aifinops import output
from aifinops.analysis.showback import LINES

if TYPE_CHECKING:
    import pyarrow as pa

#: statement line -> (label, colour)
STYLE = {
    "direct": ("Direct", "#4e79a7"),
    "gpu_workloads": ("GPU workloads", "#59a14f"),
    "idle_gpu": ("Idle GPUs", "#e15759"),
    "shared": ("Shared costs", "#f28e2b"),
}
_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}h3{font-size:1rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}
th,td{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.legend span{display:inline-block;margin-right:1rem}
.legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}
.note{color:#666;font-size:.9rem}
"""


def money(value: Decimal | None, currency: str = "") -> str:
    """An amount to the cent (:func:`aifinops.output.money`), with its currency."""
    return f"{output.money(value)} {currency}".strip() if value is not None else "—"


def page(statement: pa.Table, detail: pa.Table, *, title: str, dimension: str, metric: str) -> str:
    """The statement page: per month, a stacked bar per value and the statement table; then
    each value's largest items."""
    rows = statement.to_pylist()
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p class='note'>{_e(metric)}, allocated by {_e(dimension)}. Every month's lines add "
        "up to that month's total cost.</p>",
        _legend(),
    ]
    if not rows:
        parts.append("<p>No allocated cost in this window.</p>")
    months: dict[tuple[Any, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        months[(row["period"], row["BillingCurrency"])].append(row)
    for (period, currency), items in months.items():
        parts.append(f"<h2>{_e(str(period)[:7])} ({_e(currency)})</h2>")
        parts.append(_chart(items, dimension))
        parts.append(_table(items, dimension, currency))
    parts.append(_details(detail.to_pylist(), dimension))
    parts.append("</body></html>")
    return "\n".join(parts)


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _legend() -> str:
    keys = "".join(f"<span><i style='background:{c}'></i>{_e(n)}</span>" for n, c in STYLE.values())
    return f"<p class='legend'>{keys}</p>"


def _chart(items: list[dict[str, Any]], dimension: str) -> str:
    """Horizontal stacked bars, one per value; negative lines (credits) are left out of the bar
    and shown in the table."""
    width, label_w, bar_h = 900, 180, 22
    biggest = max((sum(max(Decimal(0), r[k] or 0) for k in LINES) for r in items), default=0)
    scale = (width - label_w - 10) / float(biggest) if biggest else 0.0
    height = bar_h * len(items) + 10
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"role='img' aria-label='cost by {_e(dimension)}'>"
    ]
    for i, row in enumerate(items):
        y = 5 + i * bar_h
        name = _e(str(row[dimension]))
        out.append(f"<text x='0' y='{y + 15}' font-size='12'>{name}</text>")
        x = float(label_w)
        for key, (label, colour) in STYLE.items():
            amount = max(Decimal(0), row[key] or Decimal(0))
            w = float(amount) * scale
            if w > 0:
                tip = f"{name}: {_e(label)} {money(amount)}"
                out.append(
                    f"<rect x='{x:.1f}' y='{y}' width='{w:.1f}' height='{bar_h - 6}' "
                    f"fill='{colour}'><title>{tip}</title></rect>"
                )
                x += w
    out.append("</svg>")
    return "".join(out)


def _table(items: list[dict[str, Any]], dimension: str, currency: str) -> str:
    head = "".join(f"<th class='n'>{_e(label)}</th>" for label, _ in STYLE.values())
    out = [
        f"<table><tr><th>{_e(dimension)}</th>{head}<th class='n'>Total</th>"
        "<th class='n'>Share</th><th class='n'>GPU-hours</th></tr>"
    ]
    for row in items:
        cells = "".join(f"<td class='n'>{money(row[k])}</td>" for k in STYLE)
        share = "—" if row["share"] is None else f"{row['share'] * 100:.1f}%"
        gpu = "—" if not row["gpu_hours"] else f"{row['gpu_hours']:,.1f}"
        out.append(
            f"<tr><td>{_e(str(row[dimension]))}</td>{cells}"
            f"<td class='n'><b>{money(row['total'], currency)}</b></td>"
            f"<td class='n'>{share}</td><td class='n'>{gpu}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)


def _details(rows: list[dict[str, Any]], dimension: str, top: int = 10) -> str:
    """Each value's largest items (services, pools) over the whole window."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[(str(row[dimension]), row["BillingCurrency"])].append(row)
    if not grouped:
        return ""
    item = next(k for k in rows[0] if k not in (dimension, "allocation", "BillingCurrency", "cost"))
    out = [f"<h2>Largest items per {_e(dimension)}</h2>"]
    for (value, currency), items in grouped.items():
        out.append(f"<h3>{_e(value)} ({_e(currency)})</h3><table>")
        out.append(f"<tr><th>{_e(item)}</th><th>allocation</th><th class='n'>cost</th></tr>")
        for row in items[:top]:
            out.append(
                f"<tr><td>{_e(str(row[item]))}</td><td>{_e(row['allocation'])}</td>"
                f"<td class='n'>{money(row['cost'], currency)}</td></tr>"
            )
        if len(items) > top:
            rest = sum((r["cost"] for r in items[top:]), Decimal(0))
            out.append(
                f"<tr><td>{len(items) - top} more</td><td></td>"
                f"<td class='n'>{money(rest, currency)}</td></tr>"
            )
        out.append("</table>")
    return "".join(out)
