"""Run every benchmark at the sizes the issues name; each prints its own figures.

    make bench   # 10M rows: about 15 minutes on 2 cores, a few GB in bench/out
    .venv/bin/python bench/run_all.py --rows 1000000   # a quicker look
    .venv/bin/python bench/run_all.py --only sources   # the issue-3 source benchmarks alone

The workspace benchmarks (demo generation, ingest, reports) take ``--rows``; the source
benchmarks run at the sizes their issue names (a 1M-row AWS CUR against focus-converter when
``make focus-converter`` has built it, a day of dcgm scrapes from 64 GPUs, 1M LLM requests).

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
    parser.add_argument("--only", choices=["workspace", "sources"])
    args = parser.parse_args()
    rows = str(args.rows)
    workspace = [
        ["bench_demo_generate.py", "--rows", rows],
        ["bench_ingest.py", "--rows", rows],
        ["bench_reports.py", "--rows", rows],
        ["bench_allocate.py", "--rows", rows, "--samples", str(5 * int(rows))],
    ]
    converter = HERE / "out/venv-focus-converter/bin/focus-converter"
    sources = [
        ["bench_aws_cur.py", *([] if converter.exists() else ["--skip-focus-converter"])],
        ["bench_gpu_telemetry.py"],
        ["bench_llm_ingest.py"],
    ]
    runs = {"workspace": workspace, "sources": sources}.get(args.only or "", workspace + sources)
    for script, *rest in runs:
        print(f"== {script} {' '.join(rest)}", flush=True)
        subprocess.run([sys.executable, str(HERE / script), *rest], check=True)


if __name__ == "__main__":
    main()
