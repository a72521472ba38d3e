"""Build the FOCUS column table shipped in the package from ../shared/reference/focus/.

Run from the repository root: ``python scripts/build_focus_tables.py``. The output,
``src/aifinops/model/data/focus_columns.csv``, is committed; this script documents how it was made.
Source facts: the FOCUS specification (CC-BY-4.0, FinOps Foundation), as tabulated in
``shared/reference/focus/focus_columns_1.2.csv`` and ``focus_columns_1.4.csv``.
"""

from __future__ import annotations

import csv
from pathlib import Path

REF = Path(__file__).resolve().parents[2] / "shared" / "reference" / "focus"
OUT = Path(__file__).resolve().parents[1] / "src" / "aifinops" / "model" / "data"


def _rows(name: str) -> dict[str, dict[str, str]]:
    with (REF / name).open(newline="") as fh:
        return {
            r["name"]: r for r in csv.DictReader(fh) if r["dataset"].startswith("Cost and Usage")
        }


def main() -> None:
    v12, v14 = _rows("focus_columns_1.2.csv"), _rows("focus_columns_1.4.csv")
    fields = [
        "name",
        "type",
        "introduced",
        "deprecated",
        "requirement_1_2",
        "requirement_1_4",
        "nullable",
        "allowed_values",
        "value_format",
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / "focus_columns.csv").open("w", newline="") as fh:
        out = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        out.writeheader()
        for name in sorted(set(v12) | set(v14)):
            a, b = v12.get(name), v14.get(name)
            latest = b or a
            assert latest is not None
            deprecated = "1.3" if b and b["requirement"].startswith("Deprecated") else ""
            req14 = "" if b is None or deprecated else b["requirement"]
            out.writerow(
                {
                    "name": name,
                    "type": latest["type"],
                    "introduced": latest["introduced_in"],
                    "deprecated": deprecated,
                    "requirement_1_2": a["requirement"] if a else "",
                    "requirement_1_4": req14,
                    "nullable": latest["nullable"],
                    "allowed_values": (b if b and b["allowed_values"] else latest)[
                        "allowed_values"
                    ],
                    "value_format": latest["value_format"],
                }
            )


if __name__ == "__main__":
    main()
