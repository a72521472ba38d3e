"""Build the cloud GPU price list shipped in the package from ../shared/reference/pricing/.

Run from the repository root: ``python scripts/build_gpu_prices.py``. The output,
``src/aifinops/model/data/gpu_prices.csv``, is committed; this script documents how it was made.

One row per (cloud, instance type, region) of ``gpu_instances.csv``: the GPU model and count, the
on-demand and spot (or preemptible) price per instance-hour in USD where the upstream table has
one (empty where it has none: unknown, never zero), the date the price was taken, where it came
from, and what kind of spot price it is. GCP's "(attached GPU)" rows are per-GPU add-on prices
without the VM they attach to, so they are not a machine's price and are left out.
"""

from __future__ import annotations

import csv
from decimal import Decimal, InvalidOperation
from pathlib import Path

REF = Path(__file__).resolve().parents[2] / "shared" / "reference" / "pricing"
OUT = Path(__file__).resolve().parents[1] / "src" / "aifinops" / "model" / "data"
FIELDS = [
    "cloud",
    "instance_type",
    "region",
    "gpu_model",
    "gpu_count",
    "on_demand_usd_per_hour",
    "spot_usd_per_hour",
    "spot_kind",
    "price_as_of",
    "price_source",
]


def _price(text: str, where: str) -> str:
    if not text.strip():
        return ""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise SystemExit(f"{where}: not a price: {text!r}") from None
    if value <= 0:
        raise SystemExit(f"{where}: a price must be positive: {text!r}")
    return text.strip()


def _spot_kind(row: dict[str, str]) -> str:
    if not row["spot_usd_per_hour"].strip():
        return ""
    return "preemptible" if "preemptible" in row["notes"].lower() else "spot"


def prices() -> list[dict[str, str]]:
    out = []
    with (REF / "gpu_instances.csv").open(newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            if row["instance_type"].startswith("(attached GPU)"):
                continue
            where = f"gpu_instances.csv:{line}"
            out.append(
                {
                    "cloud": row["cloud"],
                    "instance_type": row["instance_type"],
                    "region": row["region"],
                    "gpu_model": row["gpu_model"],
                    "gpu_count": row["gpu_count"],
                    "on_demand_usd_per_hour": _price(row["on_demand_usd_per_hour"], where),
                    "spot_usd_per_hour": _price(row["spot_usd_per_hour"], where),
                    "spot_kind": _spot_kind(row),
                    "price_as_of": row["price_as_of"],
                    "price_source": row["price_source"],
                }
            )
    keys = [(r["cloud"], r["instance_type"], r["region"]) for r in out]
    if len(set(keys)) != len(keys):
        raise SystemExit("gpu_instances.csv: an instance type is priced twice in one region")
    return sorted(out, key=lambda r: (r["cloud"], r["instance_type"], r["region"]))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / "gpu_prices.csv").open("w", newline="") as fh:
        out = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n")
        out.writeheader()
        out.writerows(prices())


if __name__ == "__main__":
    main()
