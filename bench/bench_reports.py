"""`report costs` against hand-written DuckDB SQL over the same workspace, in the same process.

    .venv/bin/python bench/bench_reports.py --rows 10000000

Builds (first run only) the demo company at ``--rows`` rows as Parquet and ingests it into
bench/out/ws-reports-<rows>/. Then, for each question, times our Python API call
(``Workspace.costs``: Ibis expression, compile, execute, Arrow result with exact decimals) and a raw
SQL query that a DuckDB user would write by hand for the same answer, on the same connection,
alternating, after one warm-up each. Prints the median of ``--repeat`` runs, the ratio, and checks
that both return the same rows. Also prints the wall time of the whole CLI command (a fresh
process: imports and Ibis start-up included) once per question, for context.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from aifinops import Workspace

OUT = Path(__file__).resolve().parent / "out"

#: (label, Workspace.costs arguments, CLI arguments, the equivalent hand-written SQL)
QUESTIONS: list[tuple[str, dict[str, object], list[str], str]] = [
    (
        "--by tag:team --granularity day",
        {"by": ["tag:team"], "granularity": "day"},
        ["--by", "tag:team", "--granularity", "day"],
        """SELECT x_TagsMap['team'] AS "tag:team", x_ChargeDate AS period, BillingCurrency,
                  sum(EffectiveCost) AS EffectiveCost
           FROM costs GROUP BY ALL
           ORDER BY period, EffectiveCost DESC, "tag:team" """,
    ),
    (
        "--by ServiceName --granularity month",
        {"by": ["ServiceName"], "granularity": "month"},
        ["--by", "ServiceName", "--granularity", "month"],
        """SELECT ServiceName, CAST(date_trunc('month', x_ChargeDate) AS DATE) AS period,
                  BillingCurrency, sum(EffectiveCost) AS EffectiveCost
           FROM costs GROUP BY ALL
           ORDER BY period, EffectiveCost DESC, ServiceName""",
    ),
]


def _workspace(rows: int) -> Path:
    folder = OUT / f"ws-reports-{rows}"
    if (folder / "aifinops.toml").exists():
        return folder
    from aifinops.demo.generator import DemoOptions, build_demo

    data = OUT / f"demo-{rows}-parquet"
    if not (data / "manifest.json").exists():
        build_demo(data, DemoOptions(rows=rows, fmt="parquet"))
    ws = Workspace.init(folder)
    try:
        ws.ingest([data])
    finally:
        ws.close()
    return folder


def _time(run: Callable[[], pa.Table]) -> tuple[float, pa.Table]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def _rows(table: pa.Table) -> list[tuple[object, ...]]:
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return sorted(zip(*columns, strict=True), key=repr)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    folder = _workspace(args.rows)
    ws = Workspace(folder)
    try:
        count = ws.connection.execute("SELECT count(*) FROM costs").fetchone()
        print(f"workspace {folder}: {count[0] if count else 0:,} cost rows")
        for label, kwargs, _, sql in QUESTIONS:

            def ours_run(kw: dict[str, object] = kwargs) -> pa.Table:
                return ws.costs(**kw)  # type: ignore[arg-type]

            def raw_run(q: str = sql) -> pa.Table:
                return ws.connection.execute(q).to_arrow_table()

            _, ours = _time(ours_run)
            _, raw = _time(raw_run)
            if _rows(ours) != _rows(raw):
                raise SystemExit(f"{label}: our report and the raw SQL disagree")
            ours_s, raw_s = [], []
            for _ in range(args.repeat):
                ours_s.append(_time(ours_run)[0])
                raw_s.append(_time(raw_run)[0])
            a, b = statistics.median(ours_s), statistics.median(raw_s)
            print(
                f"report costs {label:40} ours {a:6.3f} s  raw SQL {b:6.3f} s  "
                f"ratio {a / b:4.2f}x  ({ours.num_rows:,} rows, same result)"
            )
    finally:
        ws.close()
    for label, _, cli, _ in QUESTIONS:
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "aifinops",
                "report",
                "costs",
                *cli,
                "--format",
                "csv",
                "--workspace",
                str(folder),
            ],
            check=True,
            capture_output=True,
        )
        print(
            f"CLI  aifinops report costs {label:32} {time.perf_counter() - started:6.2f} s "
            "(fresh process)"
        )


if __name__ == "__main__":
    main()
