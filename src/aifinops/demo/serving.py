"""The demo company's self-hosted inference: tokens its own chat model served (demo data).

Kestrel AI serves its chat assistant with its own model, ``kestrel-7b-chat``, on the GPU machines
its bills already charge for (``g5-chat-*``, ``g2-serve-*``, ``nd-h100-serve`` and the on-prem
L40S nodes, tagged ``model = kestrel-7b-chat`` / ``project = chat-assistant``). The serving
gateway counts the tokens: ``write_serving`` writes, beside the business metrics, a daily
``input_tokens_served`` and ``output_tokens_served`` per served model
(``usage/metrics/tokens-served.csv``, source ``metrics``), derived from the requests served that
``revenue-and-requests.csv`` already holds, so the two files agree: tokens = requests x tokens
per request, which varies a little from day to day around the means in :data:`SERVED`.
``aifinops demo`` writes and ingests it after the other usage files.
"""

from __future__ import annotations

import csv
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aifinops.demo.usage import UsageFile


@dataclass(frozen=True)
class Served:
    """A product served by a self-hosted model, and its mean tokens per request."""

    product: str
    model: str
    project: str
    team: str
    input_per_request: int
    output_per_request: int


SERVED = (Served("chat-assistant", "kestrel-7b-chat", "chat-assistant", "inference", 1400, 320),)
FILE = "tokens-served.csv"


def write_serving(out_dir: Path, usage: list[UsageFile], seed: int = 42) -> UsageFile:
    """Daily tokens served per self-hosted model, from the requests in the business metrics."""
    metrics = next(f for f in usage if f.source == "metrics")
    requests = _requests(metrics.path)
    path = out_dir / "usage" / "metrics" / FILE
    rows: list[dict[str, object]] = []
    for served in SERVED:
        rng = np.random.default_rng([seed, zlib.crc32(served.model.encode())])
        for day, count in sorted(requests.get(served.product, {}).items()):
            base = {
                "date": day,
                "unit": "tokens",
                "model": served.model,
                "project": served.project,
                "product": served.product,
                "team": served.team,
            }
            for metric, mean in (
                ("input_tokens_served", served.input_per_request),
                ("output_tokens_served", served.output_per_request),
            ):
                per_request = mean * (1 + 0.06 * float(rng.standard_normal()))
                rows.append({**base, "metric": metric, "value": round(count * per_request)})
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = ["date", "metric", "value", "unit", "model", "project", "product", "team"]
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, columns)
        writer.writeheader()
        writer.writerows(rows)
    return UsageFile("metrics", path, {}, len(rows))


def _requests(path: Path) -> dict[str, dict[str, int]]:
    """product -> day -> requests served."""
    out: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as rows:
        for r in csv.DictReader(rows):
            if r["metric"] == "requests":
                out.setdefault(r["product"], {})[r["date"]] = int(r["value"])
    return out
