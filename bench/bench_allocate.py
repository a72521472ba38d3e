"""`aifinops allocate` over 10M cost rows and 50M GPU samples: wall time and peak memory.

    .venv/bin/python bench/bench_allocate.py [--rows 10000000] [--samples 50000000]

Builds (first run only) bench/out/ws-allocate-<rows>-<samples>/: a copy of the demo company
at ``--rows`` cost rows (bench_reports.py's workspace, built if missing), the demo's
``[allocation]`` rules, and GPU telemetry written straight into ``gpu_samples``: every GPU of
the latest billed GPU machine-hours, 30 samples an hour each (a 2-minute scrape), until the
table holds ``--samples`` rows (the 10M-row demo bills about 36M GPU-hours: 50M samples cover
the last ~5%); two thirds of the machine-days carry a job label (``job_id``, 5,000 jobs) and
one GPU in ten is a MIG 3g.40gb slice; plus scheduler ``jobs`` (4 GPUs a day) for one machine
in five, all months. Then runs ``aifinops allocate`` in a fresh process ``--repeat`` times and
prints wall time and peak resident memory (the process and DuckDB inside it).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
BIN = Path(sys.executable).parent


def _source(rows: int) -> Path:
    folder = OUT / f"ws-reports-{rows}"
    if not (folder / "aifinops.toml").exists():
        subprocess.run([sys.executable, str(OUT.parent / "bench_reports.py"), "--rows", str(rows),
                        "--repeat", "1"], check=True)  # fmt: skip
    return folder


def _build(rows: int, samples: int) -> Path:
    folder = OUT / f"ws-allocate-{rows}-{samples}"
    if (folder / "ready").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(_source(rows), folder)
    from aifinops import Workspace
    from aifinops.analysis.gpu import GpuEfficiencyQuery, gpu_rows
    from aifinops.demo.allocation import add_rules

    add_rules(folder)
    started = time.perf_counter()
    with Workspace(folder) as ws:
        con = ws.connection
        hours = ws.engine.execute(
            gpu_rows(ws.engine, GpuEfficiencyQuery(by=())).select(
                "machine", "ChargePeriodStart", "ChargePeriodEnd", "gpus"
            )
        )
        con.register("billed", hours)
        gpu_hours = con.execute(
            "SELECT sum(gpus * date_diff('hour', ChargePeriodStart, ChargePeriodEnd)) FROM billed"
        ).fetchone()
        assert gpu_hours is not None
        per_hour = 30
        print(f"{hours.num_rows:,} GPU machine rows, {gpu_hours[0]:,.0f} GPU-hours, "
              f"{per_hour} samples per GPU-hour")  # fmt: skip
        con.execute(
            f"""
            INSERT INTO gpu_samples (ts, host, gpu_index, gpu_model, mig_profile, mig_instance,
                gpu_util_pct, fb_used_mib, power_w, job_id, source, x_IngestFileId)
            WITH hours AS (
                SELECT machine, h.hour, gpus FROM billed, LATERAL (SELECT unnest(generate_series(
                    ChargePeriodStart, ChargePeriodEnd - INTERVAL 1 HOUR, INTERVAL 1 HOUR))
                    AS hour) h
            ), latest AS (
                SELECT *, sum(gpus) OVER (ORDER BY hour DESC, machine ROWS UNBOUNDED PRECEDING)
                    AS upto FROM hours
            )
            SELECT hour + to_seconds(s * (3600 // {per_hour})), machine, g::INTEGER,
                   'NVIDIA H100 80GB HBM3',
                   CASE WHEN g % 10 = 9 THEN '3g.40gb' END, CASE WHEN g % 10 = 9 THEN '1' END,
                   (hash(machine, hour, g) % 100)::DOUBLE, 40000, 350,
                   CASE WHEN hash(machine, date_trunc('day', hour)) % 3 <> 0
                        THEN 'job-' || (hash(machine, date_trunc('day', hour)) % 5000) END,
                   'bench', 0
            FROM latest, range(gpus::BIGINT) t(g), range({per_hour}) u(s)
            WHERE upto * {per_hour} <= {samples}
            """
        )
        con.execute(
            """
            INSERT INTO jobs (job_id, start_time, end_time, host, gpu_count, labels, labels_map,
                              source, x_IngestFileId)
            SELECT 'sched-' || row_number() OVER (), min(ChargePeriodStart), max(ChargePeriodEnd),
                   machine, 4, '{"team": "research"}', MAP {'team': 'research'}, 'bench', 0
            FROM billed WHERE hash(machine) % 5 = 0
            GROUP BY machine, date_trunc('day', ChargePeriodStart)
            """
        )
        n = con.execute("SELECT count(*) FROM gpu_samples").fetchone()
        j = con.execute("SELECT count(*) FROM jobs").fetchone()
        assert n is not None and j is not None
        print(
            f"wrote {n[0]:,} GPU samples and {j[0]:,} jobs in {time.perf_counter() - started:.0f} s"
        )
    (folder / "ready").touch()
    return folder


def _run(folder: Path) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run([str(BIN / "aifinops"), "allocate", "-w", str(folder)], check=True)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024  # KiB -> MiB (the largest child so far)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--samples", type=int, default=50_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    folder = _build(args.rows, args.samples)
    for _ in range(args.repeat):
        wall, peak = _run(folder)
        print(f"allocate: {wall:.1f} s wall, peak RSS {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
