"""LLM usage ingest: LiteLLM spend logs (CSV) and OpenTelemetry GenAI spans (OTLP JSON lines).

Generates ``--rows`` requests (default 1M) spread over one day, 6 models of 3 providers, 40 teams
and 500 API keys, in each format, then ingests each file into a fresh workspace in a separate
process and prints rows/s, the derived FOCUS rows, the CPU seconds and the peak RSS of that
process, and the load average before it started (the machine is shared: CPU seconds well above
the wall time mean both cores worked; a load above 1 before the start means others did too).
Files already in ``--dir`` are reused; ``--only`` runs one source.

    python bench/bench_llm_ingest.py [--rows 1000000] [--dir DIR] [--only litellm|otel-genai]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START = 1793577600  # 2026-11-02T00:00:00Z
MODELS = (
    ("openai", "gpt-4o-mini"), ("openai", "gpt-5"), ("openai", "o3"),
    ("anthropic", "claude-sonnet-4-5"), ("anthropic", "claude-haiku-4-5"),
    ("google", "gemini-2.5-flash"),
)  # fmt: skip
COLUMNS = ["request_id", "call_type", "api_key", "spend", "total_tokens", "prompt_tokens",
           "completion_tokens", "startTime", "endTime", "model", "model_group",
           "custom_llm_provider", "user", "metadata", "cache_hit", "request_tags", "team_id",
           "organization_id", "end_user", "status"]  # fmt: skip


def _request(i: int, rng: random.Random) -> tuple[int, str, str, int, int, int, int]:
    provider, model = MODELS[i % len(MODELS)]
    prompt = rng.randint(200, 8000)
    cached = prompt // 4 if i % 3 == 0 else 0
    completion = rng.randint(50, 2000)
    return START + i * 86400 // 1_000_000, provider, model, prompt, cached, completion, i % 40


def write_litellm(path: Path, rows: int) -> None:
    rng = random.Random(1)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for i in range(rows):
            ts, provider, model, prompt, cached, completion, team = _request(i, rng)
            when = time.strftime("%Y-%m-%d %H:%M:%S+00:00", time.gmtime(ts))
            usage = {"prompt_tokens": prompt, "completion_tokens": completion,
                     "prompt_tokens_details": {"cached_tokens": cached}}  # fmt: skip
            metadata = {"user_api_key_alias": f"key-{i % 500}",
                        "user_api_key_team_alias": f"team-{team}", "usage_object": usage,
                        "spend_logs_metadata": {"project": f"p{team % 7}"}}  # fmt: skip
            writer.writerow([
                f"req-{i:08d}", "acompletion", f"hash{i % 500:060d}", "0.001",
                prompt + completion, prompt, completion, when, when, f"{provider}/{model}",
                model, provider, f"user-{i % 2000}", json.dumps(metadata), "False",
                '["env:prod"]', f"team-{team}", "", "", "success",
            ])  # fmt: skip


def _attr(key: str, value: object) -> dict[str, object]:
    kind = "intValue" if isinstance(value, int) else "stringValue"
    return {"key": key, "value": {kind: str(value)}}


def write_otel(path: Path, rows: int, spans_per_line: int = 100) -> None:
    rng = random.Random(2)
    with path.open("w") as fh:
        for first in range(0, rows, spans_per_line):
            spans = []
            for i in range(first, min(rows, first + spans_per_line)):
                ts, provider, model, prompt, cached, completion, team = _request(i, rng)
                attributes = [
                    _attr("gen_ai.operation.name", "chat"), _attr("gen_ai.provider.name", provider),
                    _attr("gen_ai.request.model", model),
                    _attr("gen_ai.usage.input_tokens", prompt),
                    _attr("gen_ai.usage.output_tokens", completion),
                    _attr("gen_ai.usage.cache_read.input_tokens", cached),
                    _attr("team", f"team-{team}"),
                ]  # fmt: skip
                spans.append({
                    "traceId": f"{i:032x}", "spanId": f"{i:016x}", "name": f"chat {model}",
                    "kind": 3, "startTimeUnixNano": str(ts * 10**9),
                    "endTimeUnixNano": str(ts * 10**9 + 900_000_000), "attributes": attributes,
                })  # fmt: skip
            resource_attrs = [
                _attr("service.name", "bench"),
                _attr("deployment.environment", "prod"),
            ]
            request = {"resourceSpans": [{"resource": {"attributes": resource_attrs},
                                          "scopeSpans": [{"scope": {"name": "bench"},
                                                          "spans": spans}]}]}  # fmt: skip
            fh.write(json.dumps(request) + "\n")


def ingest(path: str, source: str, folder: str) -> None:
    """Runs in a child process: ingest one file, print the figures."""
    from aifinops import Workspace

    with Workspace.init(Path(folder)) as ws:
        started = time.perf_counter()
        summary = ws.ingest([path], source=source)
        seconds = time.perf_counter() - started
        derived = ws.connection.execute("SELECT count(*) FROM costs").fetchone()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = usage.ru_maxrss / 1024
    cpu = usage.ru_utime + usage.ru_stime
    print(
        f"{source}: {summary.rows_ingested:,} rows ingested ({summary.rows_quarantined} "
        f"quarantined) in {seconds:.1f} s = {summary.rows_ingested / seconds:,.0f} rows/s; "
        f"{derived[0] if derived else 0:,} FOCUS rows derived; {cpu:.1f} CPU s (process); "
        f"peak RSS {peak:,.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--only", choices=("litellm", "otel-genai"), default=None)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        ingest(*args.child)
        return
    folder = args.dir or Path(tempfile.mkdtemp(prefix="bench-llm-"))
    folder.mkdir(parents=True, exist_ok=True)
    for source, name, write in (
        ("litellm", "spend_logs.csv", write_litellm),
        ("otel-genai", "spans.jsonl", write_otel),
    ):
        if args.only and source != args.only:
            continue
        path = folder / name
        if not path.exists():
            started = time.perf_counter()
            write(path, args.rows)
            print(f"wrote {path} ({path.stat().st_size / 1e6:,.0f} MB) in "
                  f"{time.perf_counter() - started:.0f} s")  # fmt: skip
        workspace = folder / f"ws-{source}"
        if workspace.exists():
            shutil.rmtree(workspace)
        print(f"load average before {source}: {os.getloadavg()[0]:.2f}")
        subprocess.run(
            [sys.executable, __file__, "--child", str(path), source, str(workspace)], check=True
        )


if __name__ == "__main__":
    main()
