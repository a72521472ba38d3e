"""How fast the demo generator writes, and how much memory it holds.

    .venv/bin/python bench/bench_demo_generate.py --rows 1000000
    .venv/bin/python bench/bench_demo_generate.py --rows 10000000 --format parquet

``--format`` writes every provider as ``parquet``, ``csv`` or ``csv.gz``; ``native`` writes each
provider's own flavour (AWS Parquet, Azure CSV.gz, GCP CSV); ``all`` runs each of those in a
fresh process so that each peak RSS is its own. Output goes to a temporary folder (or ``--out``)
and is deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aifinops.demo.generator import DemoOptions, build_demo

FORMATS = ("parquet", "native", "csv.gz", "csv")


def run(rows: int, fmt: str, out: Path) -> None:
    started = time.perf_counter()
    manifest = build_demo(out, DemoOptions(rows=rows, fmt=None if fmt == "native" else fmt))
    seconds = time.perf_counter() - started
    written = sum(f.rows for f in manifest.files)
    size = sum(f.path.stat().st_size for f in manifest.files)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(
        f"{fmt:8} rows={written:>11,} files={len(manifest.files):>3} "
        f"size={size / 2**20:>8.1f} MiB time={seconds:>7.2f} s "
        f"rate={written / seconds:>10,.0f} rows/s peak_rss={peak_mib:>7.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", choices=(*FORMATS, "all"), default="parquet")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if args.format == "all":
        for fmt in FORMATS:
            command = [sys.executable, __file__, "--rows", str(args.rows), "--format", fmt]
            subprocess.run(command, check=True)
        return
    out = args.out or Path(tempfile.mkdtemp(prefix="aifinops-demo-bench-"))
    try:
        run(args.rows, args.format, out)
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
