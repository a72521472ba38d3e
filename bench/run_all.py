"""Run every benchmark at the sizes the issues name; each prints its own figures.

    make bench   # 10M rows: about 10 minutes on 2 cores, under 1 GB in bench/out
    .venv/bin/python bench/run_all.py --rows 1000000   # a quicker look

Figures worth keeping go into bench/RESULTS.md by hand, with the date and the machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    rows = str(args.rows)
    runs = [
        ["bench_demo_generate.py", "--rows", rows],
        ["bench_ingest.py", "--rows", rows],
        ["bench_reports.py", "--rows", rows],
    ]
    for script, *rest in runs:
        print(f"== {script} {' '.join(rest)}", flush=True)
        subprocess.run([sys.executable, str(HERE / script), *rest], check=True)


if __name__ == "__main__":
    main()
