"""Build the GPU catalog shipped in the package from ../shared/reference/pricing/.

Run from the repository root: ``python scripts/build_gpu_catalog.py``. The outputs,
``src/aifinops/model/data/gpu_instance_types.csv`` (which cloud instance type has how many GPUs of
which model) and ``gpu_specs.csv``, are committed; this script documents how they were made.

Instance types: one row per (cloud, instance_type) of ``gpu_instances.csv`` (the table repeats a
type per region with the same GPUs; a conflict stops the build). Prices are left out: they differ
by region and go stale, and the GPU efficiency analysis takes cost from the bill. GCP's
"(attached GPU)" rows are per-GPU add-on SKUs, not machines, and are left out. Specs: the rows of
``gpu_specs.csv`` unchanged.
"""

from __future__ import annotations

import csv
from pathlib import Path

REF = Path(__file__).resolve().parents[2] / "shared" / "reference" / "pricing"
OUT = Path(__file__).resolve().parents[1] / "src" / "aifinops" / "model" / "data"
FIELDS = ["cloud", "instance_type", "gpu_model", "gpu_count", "gpu_memory_mib_per_gpu", "source"]


def instance_types() -> list[dict[str, str]]:
    found: dict[tuple[str, str], dict[str, str]] = {}
    with (REF / "gpu_instances.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["instance_type"].startswith("(attached GPU)"):
                continue
            out = {f: row.get(f, "") for f in FIELDS[:-1]}
            out["source"] = row["spec_source"]
            key = (row["cloud"], row["instance_type"])
            seen = found.setdefault(key, out)
            if (seen["gpu_model"], seen["gpu_count"]) != (out["gpu_model"], out["gpu_count"]):
                raise SystemExit(f"{key}: two GPU specs in gpu_instances.csv")
    return sorted(found.values(), key=lambda r: (r["cloud"], r["instance_type"]))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / "gpu_instance_types.csv").open("w", newline="") as fh:
        out = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n")
        out.writeheader()
        out.writerows(instance_types())
    text = (REF / "gpu_specs.csv").read_text("utf-8")
    (OUT / "gpu_specs.csv").write_text(text, "utf-8")


if __name__ == "__main__":
    main()
