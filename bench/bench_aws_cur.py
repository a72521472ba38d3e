"""AWS CUR -> FOCUS: aifinops against the FinOps Foundation's focus-converter, side by side.

Builds (once, under bench/out/aws_cur/, never in git) a 1,000,000-row AWS CUR by replicating the
real anonymised sample (../shared/reference/billing_native/aws-cur-legacy/, MIT, FinOps
Foundation), in the two shapes AWS delivers the legacy CUR:

* ``cur-1m.parquet``: the CUR in Parquet (snake-case columns, timestamps typed, money as DOUBLE),
  which is the only shape focus-converter 1.0.0 reads: it wants snake-case names and, given a
  CSV, fails on its text dates ("expected duration or datetime, got str").
* ``cur-1m.csv``: the CUR in CSV (``lineItem/...`` headers), which aifinops also reads.

Then runs, each in a fresh process, timing the wall clock and sampling the peak RSS of the
process and all its children (psutil):

* ``focus-converter convert --provider aws`` 1.0.0 from its own venv (``make focus-converter``,
  see mk/focus-converter.mk), Parquet in and out, with a timeout: its worker processes can hang;
* ``aifinops convert aws-cur`` (Parquet out) on the Parquet and on the CSV file;
* ``aifinops ingest aws-cur`` into a fresh workspace, on the Parquet file.

Usage: ``python bench/bench_aws_cur.py [--rows N] [--timeout S] [--skip-focus-converter]``.
It is heavy (the 1M-row files are about 0.8 GB of CSV); run it alone.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import psutil
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = (
    ROOT.parent
    / "shared/reference/billing_native/aws-cur-legacy/sample-anonymous-aws-export-dataset.csv"
)
OUT = ROOT / "bench/out/aws_cur"
FOCUS_CONVERTER = ROOT / "bench/out/venv-focus-converter/bin/focus-converter"
AIFINOPS = Path(sys.executable).with_name("aifinops")
TIMES = {
    "line_item_usage_start_date",
    "line_item_usage_end_date",
    "bill_billing_period_start_date",
    "bill_billing_period_end_date",
}
NUMBERS = re.compile(r"(cost|rate|amount|quantity|factor|units|fee|value|commitment|reservations)$")


def snake(name: str) -> str:
    text = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)
    text = re.sub(r"[/:]+_?", "_", text)
    return re.sub(r"_+", "_", text).strip("_")


def make_csv(rows: int, path: Path) -> None:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    header, body = lines[0], lines[1:]
    full, rest = divmod(rows, len(body))
    chunk = "".join(body)
    with path.open("w", encoding="utf-8") as f:
        f.write(header)
        for _ in range(full):
            f.write(chunk)
        f.write("".join(body[:rest]))


def make_parquet(csv_path: Path, path: Path) -> None:
    """The legacy CUR as AWS writes it in Parquet: snake-case names, typed columns."""
    with csv_path.open(encoding="utf-8") as f:
        header = next(csv.reader(f))
    select = []
    for column in header:
        name = snake(column)
        if name in TIMES:
            expr = f'CAST("{column}" AS TIMESTAMP)'
        elif NUMBERS.search(name) and not name.startswith(("product_", "pricing_rate")):
            expr = f'CAST("{column}" AS DOUBLE)'
        else:
            expr = f'"{column}"'
        select.append(f'{expr} AS "{name}"')
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT {', '.join(select)} FROM read_csv('{csv_path}', all_varchar = true, "
        f"header = true)) TO '{path}' (FORMAT parquet, COMPRESSION snappy)"
    )
    con.close()


def measure(label: str, command: list[str], timeout: float, cwd: Path) -> dict[str, object]:
    """Run ``command``; wall seconds and peak RSS of the process tree (sampled every 20 ms)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    root = psutil.Process(proc.pid)
    peak = 0
    timed_out = False
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        if time.perf_counter() - start > timeout:
            timed_out = True
            for p in [*root.children(recursive=True), root]:
                with contextlib.suppress(psutil.Error):
                    p.kill()
            break
        time.sleep(0.02)
    proc.wait()
    seconds = time.perf_counter() - start
    err = (proc.stderr.read() if proc.stderr else "")[-400:]
    result = {
        "label": label,
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak / 2**20),
        "rc": proc.returncode,
        "timed_out": timed_out,
    }
    print(
        f"{label:<48} {seconds:8.2f} s  {peak / 2**20:8.0f} MB  rc={proc.returncode}"
        + ("  TIMED OUT" if timed_out else ""),
        flush=True,
    )
    if proc.returncode and not timed_out:
        print("   " + err.replace("\n", "\n   "))
    return result


def median(
    label: str, command: list[str] | Callable[[], list[str]], args: Any, cwd: Path
) -> dict[str, object]:
    """Run ``command`` ``args.repeat`` times; the run of median time (its peak RSS with it)."""
    runs = []
    for i in range(args.repeat):
        argv = command() if callable(command) else command
        runs.append(measure(f"{label} #{i + 1}", argv, args.timeout, cwd))
    runs.sort(key=lambda r: float(r["seconds"]))  # type: ignore[arg-type]
    chosen = dict(runs[len(runs) // 2])
    chosen["label"] = label
    chosen["peak_rss_mb"] = max(int(r["peak_rss_mb"]) for r in runs)  # type: ignore[call-overload]
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--skip-focus-converter", action="store_true")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each aifinops command (median kept)"
    )
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    csv_path = OUT / f"cur-{args.rows}.csv"
    parquet_path = OUT / f"cur-{args.rows}.parquet"
    if not csv_path.exists():
        make_csv(args.rows, csv_path)
    if not parquet_path.exists():
        make_parquet(csv_path, parquet_path)
    print(f"input: {args.rows:,} rows; {parquet_path.name} {parquet_path.stat().st_size >> 20} MB,")
    print(f"       {csv_path.name} {csv_path.stat().st_size >> 20} MB")
    runs = OUT / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir()
    results = []
    if not args.skip_focus_converter:
        if not FOCUS_CONVERTER.exists():
            sys.exit("focus-converter is not installed: run `make focus-converter` first")
        results.append(
            measure(
                "focus-converter 1.0.0 (parquet -> parquet)",
                [
                    str(FOCUS_CONVERTER),
                    "convert",
                    "--provider=aws",
                    f"--data-path={parquet_path}",
                    "--data-format=parquet",
                    "--parquet-data-format=file",
                    f"--export-path={runs / 'focus-converter'}",
                    "--export-format=parquet",
                ],
                args.timeout,
                runs,
            )
        )
    aifinops = str(AIFINOPS)
    for kind, source in (("parquet", parquet_path), ("csv", csv_path)):
        out = runs / f"{kind}.parquet"
        command = [aifinops, "convert", "aws-cur", str(source), "-o", str(out)]
        label = f"aifinops convert aws-cur ({kind} -> parquet)"
        results.append(median(label, command, args, runs))

    def ingest_once() -> list[str]:
        workspace = runs / "ws"
        shutil.rmtree(workspace, ignore_errors=True)
        subprocess.run([aifinops, "init", str(workspace)], check=True, capture_output=True)
        return [aifinops, "ingest", "aws-cur", str(parquet_path), "--workspace", str(workspace)]

    label = "aifinops ingest aws-cur (parquet -> workspace)"
    results.append(median(label, ingest_once, args, runs))
    for folder in (runs / "focus-converter", runs):
        for f in sorted(folder.glob("*.parquet")):
            print(f"output {f.relative_to(runs)}: {pq.ParquetFile(f).metadata.num_rows:,} rows")
    base = results[0] if not args.skip_focus_converter else None
    if base and not base["timed_out"] and base["rc"] == 0:
        for r in results[1:]:
            speed = float(base["seconds"]) / float(r["seconds"])  # type: ignore[arg-type]
            memory = float(r["peak_rss_mb"]) / max(float(base["peak_rss_mb"]), 1)  # type: ignore[arg-type]
            print(
                f"{r['label']:<48} median {r['seconds']} s, max {r['peak_rss_mb']} MB: "
                f"{speed:5.1f}x faster, {memory:5.1%} of its memory"
            )


if __name__ == "__main__":
    main()
