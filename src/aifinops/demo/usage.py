"""The demo company's usage and value data beside its bills, deterministic from the seed.

``write_usage`` writes, under ``<out_dir>/usage/``, the files the other sources read:

* ``onprem/inventory.toml``: Kestrel's own GPU servers in a colocation cage (``onprem``);
* ``jobs/scheduler-jobs.csv``: the training, fine-tuning, evaluation and ablation runs on the
  GPU pools the bills charge for, each on a billed machine inside its billed hours (``jobs``);
* ``metrics/revenue-and-requests.csv``: daily revenue and requests served per product
  (``metrics``);
* ``storage/kestrel-checkpoints/...``: an S3 Inventory of the checkpoint bucket (headerless CSV
  and its manifest.json), with checkpoints of finished runs nobody has read for months
  (``storage``);
* ``telemetry/prometheus-<cloud>.json``: Prometheus range-query exports of DCGM metrics for every
  GPU of every billed cloud GPU machine over the last two weeks, hourly, with points only in the
  hours the machine was billed (``prometheus``). Training machines are busy, inference machines
  follow the day, developer boxes idle, and the forgotten ones do nothing at all;
* ``llm/``: direct LLM API use beside the clouds' own model services: OpenAI usage pages (daily
  buckets per project and model), an Anthropic usage report (per workspace, with prompt
  caching), and the research team's LiteLLM gateway spend logs (one row per request, last week)
  (``openai-usage``, ``anthropic-usage``, ``litellm``); in the last month one Anthropic key
  loops for two days (a planted anomaly, ``demo/anomalies.py``).

Each file comes with the source that reads it and the options to pass (:class:`UsageFile`).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from aifinops.demo.anomalies import LOOP_KEY, LOOP_MODEL, LOOP_WORKSPACE, loop_tokens
from aifinops.demo.charges import resource_name
from aifinops.demo.company import Company, intervals
from aifinops.demo.pricebook import instance
from aifinops.demo.timeline import Timeline

#: Pools whose machines run jobs (training, fine-tuning, evaluation, ablations).
JOB_POOLS = {
    "aws-p4d-finetune": "fine-tune",
    "aws-p4d-retired": "fine-tune",
    "aws-p5-pretrain": "training",
    "aws-p5-runaway": "experiment",
    "aws-g5-fraud-train": "training",
    "az-nd-research": "experiment",
    "gcp-a3-eval": "evaluation",
}

#: Products that earn money: (product, team, revenue per day in the first month, requests per
#: dollar, growth per month).
PRODUCTS = (
    ("chat-assistant", "inference", Decimal(41_000), 55, 0.09),
    ("semantic-search", "search", Decimal(16_500), 420, 0.05),
    ("support-bot", "product-ml", Decimal(4_800), 30, 0.12),
    ("fraud-scoring", "product-ml", Decimal(8_200), 900, 0.02),
)

#: Checkpointing projects: (project, bytes per checkpoint, runs).
CHECKPOINT_RUNS = (
    ("llm-7b-pretrain", 14_500_000_000, 60),
    ("llm-7b-finetune", 14_500_000_000, 12),
    ("llm-13b-ablation", 26_000_000_000, 8),
    ("rlhf-experiments", 14_500_000_000, 10),
)

ONPREM = """\
# Kestrel AI's own GPU servers (demo data). See docs/sources/onprem.md.
[[onprem.clusters]]
name = "kestrel-colo-1"
location = "us-west (Hillsboro colocation)"
currency = "USD"
electricity_price_per_kwh = 0.112
pue = 1.32
space_per_month = 9000
operations_per_month = 16000
support_per_month = 5500
tags = { owner = "platform", env = "prod" }

[[onprem.clusters.nodes]]
name = "dgx-h100"
count = 4
gpu_model = "H100-SXM5-80GB"
gpus = 8
purchase_price = 289000
purchase_date = 2025-03-03
amortisation_years = 4
power_kw = 10.2
tags = { team = "training-platform", project = "llm-7b-pretrain" }

[[onprem.clusters.nodes]]
name = "l40s"
count = 6
gpu_model = "L40S-48GB"
gpus = 4
purchase_price = 61500
purchase_date = 2025-09-15
amortisation_years = 3
power_kw = 2.4
tags = { team = "inference", project = "chat-assistant" }
"""


@dataclass(frozen=True)
class UsageFile:
    """A written file, the source that reads it and the options it needs."""

    source: str
    path: Path
    options: dict[str, str]
    rows: int


def write_usage(out_dir: Path, company: Company, timeline: Timeline) -> list[UsageFile]:
    root = out_dir / "usage"
    first = timeline.months[0].start
    end = _next_month(timeline.last.start)
    files = [
        _onprem(root / "onprem", first, end),
        _jobs(root / "jobs", company, timeline),
        _metrics(root / "metrics", company, first, end),
        _storage(root / "storage", company, first, end),
    ]
    files += _telemetry(root / "telemetry", company, timeline)
    files += _llm(root / "llm", company, first, end)
    return files


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _onprem(folder: Path, first: date, end: date) -> UsageFile:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "inventory.toml"
    path.write_text(ONPREM, encoding="utf-8")
    hours = (end - first).days * 24
    return UsageFile("onprem", path, {"start": first.isoformat(), "end": end.isoformat()},
                     hours * 10)  # fmt: skip


def _jobs(folder: Path, company: Company, timeline: Timeline) -> UsageFile:
    """Runs of 12-96 hours cut from each job machine's billed hours."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scheduler-jobs.csv"
    t0 = datetime(timeline.months[0].start.year, timeline.months[0].start.month, 1, tzinfo=UTC)
    rows: list[dict[str, object]] = []
    for pool in company.instances:
        kind = JOB_POOLS.get(pool.key)
        if kind is None or pool.owner is None:
            continue
        itype = instance(company.providers[pool.provider].cloud, pool.sku)
        starts, ends = intervals(company, pool, timeline)
        mask = timeline.mask(pool.schedule.mask)
        rng = company.rng(pool.key, "jobs")
        for i, (start, stop) in enumerate(zip(starts, ends, strict=True)):
            host = resource_name(pool.name, i, len(starts))
            for run_start, run_end in _runs(mask, int(start), int(stop), rng):
                roll = rng.random()
                status, code = (
                    ("completed", 0) if roll < 0.9 else ("failed", 1) if roll < 0.97
                    else ("cancelled", 130)
                )  # fmt: skip
                rows.append({
                    "job_id": f"kj-{len(rows) + 1:06d}",
                    "name": f"{pool.owner.project}-{len(rows) + 1:04d}",
                    "kind": kind,
                    "start": (t0 + timedelta(hours=run_start)).isoformat(),
                    "end": (t0 + timedelta(hours=run_end)).isoformat(),
                    "node": host,
                    "gpus_count": itype.gpu_count,
                    "gpu_model": itype.gpu_model,
                    "status": status,
                    "exit_code": code,
                    "user": pool.owner.team.split("-")[0],
                    "team": pool.owner.team,
                    "project": pool.owner.project,
                    "model": pool.owner.model or "",
                    "env": pool.owner.env,
                })  # fmt: skip
    _write_csv(path, rows)
    return UsageFile("jobs", path, {}, len(rows))


def _runs(
    mask: NDArray[np.bool_], start: int, stop: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """Cut the masked hours of [start, stop) into runs of 12-96 hours (shorter at the edges)."""
    out = []
    hour = start
    while hour < stop:
        if not mask[hour]:
            hour += 1
            continue
        block_end = hour
        while block_end < stop and mask[block_end]:
            block_end += 1
        while hour < block_end:
            length = int(rng.integers(12, 97))
            out.append((hour, min(hour + length, block_end)))
            hour += length
        hour = block_end
    return out


def _metrics(folder: Path, company: Company, first: date, end: date) -> UsageFile:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "revenue-and-requests.csv"
    rows: list[dict[str, object]] = []
    day = first
    while day < end:
        months = (day - first).days / 30.4
        weekend = 0.8 if day.weekday() >= 5 else 1.0
        for product, team, revenue, per_dollar, growth in PRODUCTS:
            noise = 1 + 0.04 * float(company.rng(product, day.isoformat()).standard_normal())
            factor = Decimal(str(round((1 + growth) ** months * weekend * noise, 6)))
            amount = (revenue * factor).quantize(Decimal("0.01"))
            base = {"date": day.isoformat(), "product": product, "team": team}
            rows.append({**base, "metric": "revenue", "value": str(amount), "unit": "USD"})
            requests = int(amount * per_dollar)
            rows.append({**base, "metric": "requests", "value": str(requests),
                         "unit": "requests"})  # fmt: skip
        day += timedelta(days=1)
    _write_csv(path, rows, ["date", "metric", "value", "unit", "product", "team"])
    return UsageFile("metrics", path, {}, len(rows))


def _storage(folder: Path, company: Company, first: date, end: date) -> UsageFile:
    """An S3 Inventory of the checkpoint bucket, taken on ``end``: every 500th step of each run
    is kept; runs that finished long ago still hold all of theirs."""
    bucket = "kestrel-checkpoints"
    taken = datetime(end.year, end.month, end.day, 1, tzinfo=UTC)
    data_dir = folder / bucket / "daily" / f"{taken:%Y-%m-%dT%H-%MZ}"
    data_dir.mkdir(parents=True, exist_ok=True)
    rng = company.rng("storage", bucket)
    span = (end - first).days + 120  # the bucket is older than the bills
    rows = []
    for project, size, count in CHECKPOINT_RUNS:
        for run in range(1, count + 1):
            started = taken - timedelta(days=int(rng.integers(1, span)))
            steps = int(rng.integers(4, 40))
            for step in range(1, steps + 1):
                written = started + timedelta(hours=6 * step)
                if written >= taken:
                    break
                key = f"runs/{project}/run-{run:03d}/step={step * 500}/model.safetensors"
                rows.append([bucket, key, str(size), written.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                             "STANDARD", f"{rng.integers(0, 2**62):032x}"])  # fmt: skip
    part = data_dir / "data" / "inventory-0001.csv.gz"
    part.parent.mkdir(exist_ok=True)
    # mtime=0: the same seed gives the same bytes (gzip headers hold a time otherwise)
    with (
        part.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed,
        io.TextIOWrapper(packed, encoding="utf-8", newline="") as fh,
    ):
        writer = csv.writer(fh, quoting=csv.QUOTE_ALL, lineterminator="\n")
        for row in rows:
            writer.writerow([*row[:1], _encode(row[1]), *row[2:]])
    manifest = {
        "sourceBucket": bucket,
        "destinationBucket": "arn:aws:s3:::kestrel-inventory",
        "version": "2016-11-30",
        "creationTimestamp": str(int(taken.timestamp() * 1000)),
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size, LastModifiedDate, StorageClass, ETag",
        "files": [{"key": f"{bucket}/daily/data/{part.name}", "size": part.stat().st_size}],
    }
    (data_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return UsageFile("storage", part, {}, len(rows))


#: How busy a pool's GPUs are: (mean utilisation %, spread, follows the day).
UTILISATION = {
    "aws-p4d-finetune": (88, 6, False), "aws-p4d-retired": (85, 8, False),
    "aws-p5-pretrain": (93, 4, False), "aws-p5-runaway": (96, 2, False),
    "aws-g5-chat": (48, 12, True), "aws-g5-rerank": (35, 10, True),
    "aws-g5-rerank-burst": (22, 8, True), "aws-g5-embed": (41, 10, True),
    "aws-g5-dev": (9, 6, False), "aws-g5-forgotten": (0.3, 0.3, False),
    "aws-g5-idle": (0.0, 0.0, False), "aws-g5-fraud-train": (72, 10, False),
    "az-nd-serve": (55, 12, True), "az-nd-research": (81, 9, False),
    "az-nd-payg": (27, 15, False), "az-nc-fraud": (64, 12, False),
    "gcp-a3-cud": (58, 10, True), "gcp-a3-eval": (77, 8, False),
    "gcp-g2-serve": (44, 12, True), "gcp-g2-legacy": (1.0, 0.5, False),
}  # fmt: skip
#: Board power of each GPU model: (idle W, full load W), and its memory (MiB).
GPU_POWER = {
    "A10G": (18, 300, 23_028), "A100": (55, 400, 40_960), "H100": (70, 700, 81_559),
    "H100-80GB": (70, 700, 81_559), "L4": (16, 72, 23_034),
    "A100-80GB-PCIe": (45, 300, 81_920),
}  # fmt: skip
TELEMETRY_DAYS = 14


def _telemetry(folder: Path, company: Company, timeline: Timeline) -> list[UsageFile]:
    """Prometheus range exports, one per cloud: GPU_UTIL, FB_USED and POWER_USAGE per GPU."""
    folder.mkdir(parents=True, exist_ok=True)
    t0 = datetime(timeline.months[0].start.year, timeline.months[0].start.month, 1, tzinfo=UTC)
    epoch0 = int(t0.timestamp())
    first = timeline.hours - TELEMETRY_DAYS * 24
    results: dict[str, list[dict[str, object]]] = {}
    points: dict[str, int] = {}
    for pool in company.instances:
        if pool.service != "vm":
            continue  # managed endpoints: no access to the GPUs' exporter
        cloud = company.providers[pool.provider].cloud
        itype = instance(cloud, pool.sku)
        idle_w, full_w, memory = GPU_POWER[itype.gpu_model]
        mean, spread, daily = UTILISATION.get(pool.key, (40, 10, False))
        starts, ends = intervals(company, pool, timeline)
        mask = timeline.mask(pool.schedule.mask)
        rng = company.rng(pool.key, "telemetry")
        for i, (start, stop) in enumerate(zip(starts, ends, strict=True)):
            host = resource_name(pool.name, i, len(starts))
            hours = np.arange(max(int(start), first), int(stop))
            hours = hours[mask[hours]] if len(hours) else hours
            if not len(hours):
                continue  # not running in the window: Prometheus returns no series
            for gpu in range(itype.gpu_count):
                util = rng.normal(mean, spread, len(hours))
                if daily:  # busier in the (US) afternoon
                    util *= 0.75 + 0.5 * np.sin(np.pi * ((hours + 6) % 24) / 24)
                util = np.clip(np.round(util), 0, 100)
                power = np.round(idle_w + (full_w - idle_w) * util / 100, 1)
                used = np.round(memory * np.clip(util / 100 + 0.05, 0, 0.97))
                labels = {
                    "Hostname": host, "gpu": str(gpu),
                    "UUID": "GPU-" + _uuid(f"{pool.key}:{host}:{gpu}"),
                    "modelName": f"NVIDIA {itype.gpu_model}", "instance": f"{host}:9400",
                    "job": "dcgm-exporter",
                }  # fmt: skip
                stamps = epoch0 + hours * 3600
                for name, values in (("DCGM_FI_DEV_GPU_UTIL", util),
                                     ("DCGM_FI_DEV_POWER_USAGE", power),
                                     ("DCGM_FI_DEV_FB_USED", used)):  # fmt: skip
                    results.setdefault(cloud, []).append({
                        "metric": {"__name__": name, **labels},
                        "values": [[int(t), _num(v)] for t, v in zip(stamps, values, strict=True)],
                    })  # fmt: skip
                points[cloud] = points.get(cloud, 0) + len(hours)
    files = []
    for cloud, result in results.items():
        path = folder / f"prometheus-{cloud}.json"
        body = {"status": "success", "data": {"resultType": "matrix", "result": result}}
        path.write_text(json.dumps(body, separators=(",", ":")), encoding="utf-8")
        files.append(UsageFile("prometheus", path, {}, points[cloud]))
    return files


#: Direct API use: (project or workspace, team, model, input tokens a day, output share,
#: cached share of input).
OPENAI_PROJECTS = (
    ("proj_chat_assistant", "inference", "gpt-4.1-2025-04-14", 38_000_000, 0.18, 0.35),
    ("proj_support_bot", "product-ml", "gpt-4o-mini-2024-07-18", 120_000_000, 0.12, 0.5),
    ("proj_research_evals", "research", "o3-2025-04-16", 9_000_000, 0.3, 0.1),
)
ANTHROPIC_WORKSPACES = (
    ("wrkspc_search_rerank", "search", "claude-sonnet-4-5-20250929", 26_000_000, 0.08, 0.6),
    ("wrkspc_support_agents", "product-ml", "claude-haiku-4-5-20251001", 60_000_000, 0.1, 0.45),
)
#: The research gateway's models (LiteLLM names) and their share of requests.
GATEWAY = (("mistral/mistral-large-2512", 0.55), ("deepseek/deepseek-chat", 0.45))
ORG = "org-kestrel-ai"


def _llm(folder: Path, company: Company, first: date, end: date) -> list[UsageFile]:
    folder.mkdir(parents=True, exist_ok=True)
    days = [first + timedelta(days=d) for d in range((end - first).days)]
    openai_buckets = []
    rows = 0
    for day in days:
        results = []
        for project, _team, model, tokens, out_share, cached in OPENAI_PROJECTS:
            volume = _daily(company, project, day, tokens)
            results.append({
                "object": "organization.usage.completions.result",
                "input_tokens": volume, "input_cached_tokens": int(volume * cached),
                "output_tokens": int(volume * out_share),
                "num_model_requests": max(1, volume // 3_000), "project_id": project,
                "user_id": None, "api_key_id": f"key_{project[5:]}", "model": model,
                "batch": False, "service_tier": "default",
            })  # fmt: skip
        rows += len(results)
        bucket = {"object": "bucket", "start_time": _unix(day)}
        openai_buckets.append({**bucket, "end_time": _unix(day + timedelta(days=1)),
                               "results": results})  # fmt: skip
    openai = folder / "openai-usage-completions.json"
    page = {"object": "page", "data": openai_buckets, "has_more": False, "next_page": None}
    openai.write_text(json.dumps(page, indent=1) + "\n", encoding="utf-8")
    files = [UsageFile("openai-usage", openai, {"organization": ORG}, rows)]

    anthropic_buckets = []
    rows = 0
    last_month = (end - timedelta(days=1)).replace(day=1)
    for day in days:
        results = []
        for workspace, _team, model, tokens, out_share, cached in ANTHROPIC_WORKSPACES:
            volume = _daily(company, workspace, day, tokens)
            key = f"apikey_{workspace[7:]}"
            results.append(
                _anthropic(workspace, model, key, volume=volume, out_share=out_share, cached=cached)
            )
        loop = loop_tokens(company.planted, day, last_month)  # a planted anomaly
        if loop:
            looping = _anthropic(LOOP_WORKSPACE, LOOP_MODEL, LOOP_KEY, volume=loop, out_share=0.1,
                                 cached=0.45)  # fmt: skip
            results.append(looping)
        rows += len(results)
        anthropic_buckets.append({
            "starting_at": f"{day.isoformat()}T00:00:00Z",
            "ending_at": f"{(day + timedelta(days=1)).isoformat()}T00:00:00Z",
            "results": results,
        })  # fmt: skip
    anthropic = folder / "anthropic-usage-report.json"
    report = {"data": anthropic_buckets, "has_more": False, "next_page": None}
    anthropic.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    files.append(UsageFile("anthropic-usage", anthropic, {"organization": ORG}, rows))
    files.append(_gateway(folder / "litellm-spend-logs.csv", company, end))
    return files


def _anthropic(
    workspace: str, model: str, key: str, *, volume: int, out_share: float, cached: float
) -> dict[str, object]:
    read = int(volume * cached)
    write = int(volume * 0.04)
    return {
        "uncached_input_tokens": volume - read - write,
        "cache_creation": {"ephemeral_5m_input_tokens": write, "ephemeral_1h_input_tokens": 0},
        "cache_read_input_tokens": read, "output_tokens": int(volume * out_share),
        "server_tool_use": {"web_search_requests": 0},
        "api_key_id": key, "workspace_id": workspace,
        "model": model, "service_tier": "standard", "context_window": "0-200k",
    }  # fmt: skip


def _unix(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _daily(company: Company, key: str, day: date, base: int) -> int:
    weekend = 0.6 if day.weekday() >= 5 else 1.0
    noise = 1 + 0.08 * float(company.rng(key, day.isoformat()).standard_normal())
    return int(base * weekend * max(noise, 0.5))


def _gateway(path: Path, company: Company, end: date) -> UsageFile:
    """The research team's LiteLLM proxy: a row per request over the last week."""
    rng = company.rng("litellm", "gateway")
    start = datetime(end.year, end.month, end.day, tzinfo=UTC) - timedelta(days=7)
    header = ["request_id", "call_type", "api_key", "spend", "total_tokens", "prompt_tokens",
              "completion_tokens", "startTime", "endTime", "model", "model_group",
              "custom_llm_provider", "user", "metadata", "cache_hit", "request_tags", "team_id",
              "status"]  # fmt: skip
    rows = []
    for n in range(2_400):
        at = start + timedelta(seconds=int(rng.integers(0, 7 * 86_400)))
        model = GATEWAY[0][0] if rng.random() < GATEWAY[0][1] else GATEWAY[1][0]
        prompt = int(rng.integers(400, 12_000))
        completion = int(rng.integers(50, 1_500))
        user = f"researcher-{int(rng.integers(1, 9))}"
        metadata = {
            "user_api_key_alias": "research-gateway", "user_api_key_team_id": "team-research",
            "user_api_key_team_alias": "research", "user_api_key_user_id": user,
            "spend_logs_metadata": {"project": "llm-7b-eval"},
            "usage_object": {"prompt_tokens": prompt, "completion_tokens": completion},
        }  # fmt: skip
        rows.append([
            f"gw-{n + 1:06d}", "acompletion", _key(user), "",
            prompt + completion, prompt, completion,
            at.strftime("%Y-%m-%d %H:%M:%S+00:00"),
            (at + timedelta(seconds=int(rng.integers(1, 40)))).strftime("%Y-%m-%d %H:%M:%S+00:00"),
            model, model.split("/")[1], model.split("/")[0], user, json.dumps(metadata), "False",
            json.dumps(["env:staging", "feature:evals"]), "team-research", "success",
        ])  # fmt: skip
    rows.sort(key=lambda r: str(r[7]))
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return UsageFile("litellm", path, {}, len(rows))


def _key(user: str) -> str:
    """The (hashed) virtual key a user calls the gateway with, as LiteLLM logs it."""
    import hashlib

    return hashlib.sha256(f"sk-kestrel-{user}".encode()).hexdigest()


def _uuid(text: str) -> str:
    import hashlib

    digest = hashlib.sha256(text.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def _num(value: float) -> str:
    return f"{value:g}"


def _encode(key: str) -> str:
    from urllib.parse import quote_plus

    return quote_plus(key, safe="/")


def _write_csv(path: Path, rows: list[dict[str, object]], header: list[str] | None = None) -> None:
    fields = header or (list(rows[0]) if rows else ["job_id"])
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
