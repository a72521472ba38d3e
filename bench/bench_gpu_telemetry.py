"""GPU telemetry ingest: dcgm-exporter scrape files -> gpu_samples, speed and memory.

Generates a scrape file set (default: 64 GPUs on 8 hosts, one day at 15 s, the 12 metrics of a
typical dcgm-exporter + DCP configuration, real label sets), then measures:

1. parse: the dcgm reader alone (sample lines/s and rows/s);
2. ingest: ``Workspace.ingest`` of the whole set into a fresh workspace (rows/s);
3. re-export: with the table holding ``--existing`` rows (default ~5M samples), the time to load
   one host's file again (every sample overlaps and merges) and a new host-day (none overlaps).

Peak RSS is printed for the process (parse + ingest, measured in separate processes).

    python bench/bench_gpu_telemetry.py [--gpus 64] [--hours 24] [--interval 15] [--dir DIR]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

METRICS = (
    ("DCGM_FI_DEV_SM_CLOCK", "{:d}", 1980),
    ("DCGM_FI_DEV_MEM_CLOCK", "{:d}", 2619),
    ("DCGM_FI_DEV_GPU_TEMP", "{:d}", 53),
    ("DCGM_FI_DEV_POWER_USAGE", "{:.3f}", 433.78),
    ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "{:d}", 128996013),
    ("DCGM_FI_DEV_GPU_UTIL", "{:d}", 97),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "{:d}", 40),
    ("DCGM_FI_DEV_FB_FREE", "{:d}", 69956),
    ("DCGM_FI_DEV_FB_USED", "{:d}", 11125),
    ("DCGM_FI_PROF_SM_ACTIVE", "{:.6f}", 0.81),
    ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "{:.6f}", 0.42),
    ("DCGM_FI_PROF_DRAM_ACTIVE", "{:.6f}", 0.33),
)
START = 1763856000  # 2025-11-23T00:00:00Z


def generate(folder: Path, gpus: int, hours: float, interval: int) -> tuple[list[Path], int]:
    """One file per host (8 GPUs a host); returns the files and the number of sample lines."""
    folder.mkdir(parents=True, exist_ok=True)
    hosts = max(1, gpus // 8)
    scrapes = int(hours * 3600 // interval)
    files, lines = [], 0
    for h in range(hosts):
        labels = [
            f'gpu="{g}",UUID="GPU-{h:04d}{g:04d}-0da5-6d26-a36a-e7af1ce2586e",device="nvidia{g}",'
            f'modelName="NVIDIA H100 80GB HBM3",Hostname="node-{h:03d}",'
            f'DCGM_FI_DRIVER_VERSION="590.48.01",container="train",namespace="ml",pod="job-{h}"'
            for g in range(min(8, gpus - 8 * h))
        ]
        path = folder / f"node-{h:03d}.prom"
        with path.open("w", encoding="utf-8") as out:
            for s in range(scrapes):
                block = [f"# scraped_at {START + s * interval}"]
                for name, fmt, base in METRICS:
                    grows = name == "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"
                    value = fmt.format(base + 433 * interval * s if grows else base)
                    block += [f"{name}{{{lab}}} {value}" for lab in labels]
                out.write("\n".join(block) + "\n")
                lines += len(block) - 1
        files.append(path)
    return files, lines


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parse_only(files: list[str]) -> None:
    from aifinops.sources.dcgm import DcgmReader

    started = time.perf_counter()
    rows = 0
    for name in files:
        for batch in DcgmReader(Path(name)).batches():
            rows += 0 if batch.table is None else batch.table.num_rows
    seconds = time.perf_counter() - started
    print(f"{rows} {seconds:.3f} {peak_rss_mib():.0f}")


def ingest(workspace: str, files: list[str]) -> None:
    from aifinops import Workspace

    ws = Workspace.init(Path(workspace))
    started = time.perf_counter()
    summary = ws.ingest([Path(f) for f in files], source="dcgm")
    seconds = time.perf_counter() - started
    print(f"{summary.rows_ingested} {seconds:.3f} {peak_rss_mib():.0f}")


def reexport(workspace: str, existing: int, again: str, new: str) -> None:
    """Fill gpu_samples to ``existing`` rows, then time a fully overlapping and a new file."""
    from aifinops import Workspace

    ws = Workspace(Path(workspace))
    con = ws.connection
    have = con.execute("SELECT count(*) FROM gpu_samples").fetchone()[0]  # type: ignore[index]
    if existing > have:
        # Earlier days of the same fleet (ts before the generated day), one file id.
        con.execute(
            "INSERT INTO gpu_samples BY NAME SELECT "
            f"to_timestamp({START} - 15 * (1 + i // 64)) AS ts, 'node-' || lpad(((i % 64) // 8)"
            "::VARCHAR, 3, '0') AS host, (i % 8)::INTEGER AS gpu_index, 'GPU-' || (i % 64) AS "
            "gpu_uuid, 97.0 AS gpu_util_pct, 'dcgm' AS source, 999999 AS x_IngestFileId, "
            f"i AS x_SourceRecord FROM range({existing - have}) t(i)"
        )
    total = con.execute("SELECT count(*) FROM gpu_samples").fetchone()[0]  # type: ignore[index]
    started = time.perf_counter()
    again_summary = ws.ingest([Path(again)], source="dcgm", force=True)
    overlap_s = time.perf_counter() - started
    started = time.perf_counter()
    new_summary = ws.ingest([Path(new)], source="dcgm")
    new_s = time.perf_counter() - started
    after = con.execute("SELECT count(*) FROM gpu_samples").fetchone()[0]  # type: ignore[index]
    print(
        f"{total} {again_summary.rows_ingested} {overlap_s:.3f} "
        f"{new_summary.rows_ingested} {new_s:.3f} {after}"
    )


def _run(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if done.returncode:
        sys.exit(done.stderr)
    return done.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=64)
    parser.add_argument("--hours", type=float, default=24)
    parser.add_argument("--interval", type=int, default=15)
    parser.add_argument("--existing", type=int, default=5_000_000)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--step", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        step, *rest = args.step
        if step == "parse":
            parse_only(rest)
        elif step == "ingest":
            ingest(rest[0], rest[1:])
        else:
            reexport(rest[0], int(rest[1]), rest[2], rest[3])
        return
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        files, lines = generate(root / "scrapes", args.gpus, args.hours, args.interval)
        size = sum(f.stat().st_size for f in files) / 2**20
        print(f"generated {len(files)} files, {lines:,} sample lines, {size:,.0f} MiB "
              f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
        names = [str(f) for f in files]
        rows, seconds, rss = _run("--step", "parse", *names)
        print(f"parse:  {int(rows):,} rows, {lines / float(seconds):,.0f} sample lines/s, "
              f"{int(rows) / float(seconds):,.0f} rows/s, peak RSS {rss} MiB")  # fmt: skip
        rows, seconds, rss = _run("--step", "ingest", str(root / "ws"), *names)
        print(f"ingest: {int(rows):,} rows in {float(seconds):.1f} s, "
              f"{lines / float(seconds):,.0f} sample lines/s, {int(rows) / float(seconds):,.0f} "
              f"rows/s, peak RSS {rss} MiB")  # fmt: skip
        (extra,) = generate(root / "extra", 8, args.hours, args.interval)[0]
        extra = extra.rename(root / "extra" / "node-new.prom")
        extra.write_text(extra.read_text().replace('Hostname="node-000"', 'Hostname="node-new"'))
        total, again, overlap_s, new, new_s, after = _run(
            "--step", "reexport", str(root / "ws"), str(args.existing), names[0], str(extra)
        )
        print(f"re-export into a table of {int(total):,} rows: {int(again):,} overlapping rows "
              f"merged in {float(overlap_s):.2f} s; a new host-day of {int(new):,} rows in "
              f"{float(new_s):.2f} s; rows after: {int(after):,}")  # fmt: skip


if __name__ == "__main__":
    main()
