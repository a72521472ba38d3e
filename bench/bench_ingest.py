"""Ingest throughput and peak memory: demo data as Parquet and as CSV.gz.

    .venv/bin/python bench/bench_ingest.py --rows 10000000

Prints rows/s and peak RSS (of the ingesting process, children excluded) for each format. The data
comes from the demo generator; the first run writes it under bench/out/ (reused after).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def _data(rows: int, fmt: str) -> Path:
    folder = OUT / f"demo-{rows}-{fmt}"
    if not (folder / "manifest.json").exists():
        from aifinops.demo.generator import DemoOptions, build_demo

        build_demo(folder, DemoOptions(rows=rows, fmt=fmt))
    return folder


def _ingest(folder: Path) -> tuple[int, float, int]:
    ws = OUT / "ws-bench"
    shutil.rmtree(ws, ignore_errors=True)
    code = (
        "import resource, sys, time\n"
        "from aifinops import Workspace\n"
        f"ws = Workspace.init({str(ws)!r})\n"
        "t = time.perf_counter()\n"
        f"s = ws.ingest([{str(folder)!r}])\n"
        "print(s.rows_ingested, time.perf_counter() - t, "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    rows, seconds, rss = out.stdout.split()[-3:]
    return int(rows), float(seconds), int(rss)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--formats", default="parquet,csv.gz")
    args = parser.parse_args()
    for fmt in args.formats.split(","):
        folder = _data(args.rows, fmt)
        rows, seconds, rss_kb = _ingest(folder)
        print(
            f"ingest {fmt:8} {rows:>11,} rows  {seconds:7.1f} s  {rows / seconds:>10,.0f} rows/s  "
            f"peak RSS {rss_kb / 1024:,.0f} MiB"
        )


if __name__ == "__main__":
    main()
