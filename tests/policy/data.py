"""A small, exact workspace for the policy tests: GPU machines (FOCUS rows and Prometheus DCGM
telemetry through the real sources), LLM usage, an object-storage inventory, and a command
executor that records what it is run with.

Times: hour 0 is 2026-10-01 00:00 UTC; ten days of data (hours 0-239, through 2026-10-10).

========== ========== =============================== ==================================
machine    $/hour     tags                            GPU utilisation
========== ========== =============================== ==================================
idle-1     1.00       team=research, owner=ann@...    2% every hour
busy-1     1.00       team=search                     80%
untagged-1 2.00       (none)                          50%
naps-1     1.50       Team=research                   2%, but 60% on 2026-10-10 (hours 216+)
========== ========== =============================== ==================================
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from aifinops import Workspace
from aifinops.config import Settings
from tests.analysis.recommend_inputs import cost_row, gpu_series, write_costs, write_prometheus

HOURS = 240
MACHINES: dict[str, tuple[str, dict[str, str]]] = {
    "idle-1": ("1.00", {"team": "research", "owner": "ann@example.com"}),
    "busy-1": ("1.00", {"team": "search"}),
    "untagged-1": ("2.00", {}),
    "naps-1": ("1.50", {"Team": "research"}),
}
UTIL = {
    "idle-1": lambda h: 2.0,
    "busy-1": lambda h: 80.0,
    "untagged-1": lambda h: 50.0,
    "naps-1": lambda h: 60.0 if h >= 216 else 2.0,
}
#: LLM spend a day per API key: key-grow triples in the second week
LLM_DAYS = 14
EXECUTOR_SCRIPT = """\
import json, os, sys
with open(sys.argv[1], "a", encoding="utf-8") as out:
    out.write(json.dumps({"argv": sys.argv[2:],
                          "key": os.environ.get("AIFINOPS_IDEMPOTENCY_KEY")}) + "\\n")
"""


def build(root: Path) -> Path:
    """The workspace folder (data only; settings come from :func:`settings`)."""
    ws = Workspace.init(root)
    rows = [
        cost_row(name, hour, cost, itype="g5.xlarge", tags=json.dumps(tags))
        for name, (cost, tags) in MACHINES.items()
        for hour in range(HOURS)
    ]
    rows += [_endpoint(hour) for hour in range(HOURS)]
    ws.ingest([write_costs(root / "in" / "costs.csv", rows)], source="focus")
    series = [
        s
        for name in MACHINES
        for s in gpu_series(name, 0, range(HOURS), UTIL[name], memory_mib=1000, total_mib=24000)
    ]
    ws.ingest([write_prometheus(root / "in" / "dcgm.json", series)], source="prometheus")
    _llm(ws)
    _storage(ws)
    _job(ws)
    ws.allocate()
    ws.close()
    shutil.rmtree(root / "in")
    return root


ENDPOINT = "arn:aws:sagemaker:us-east-1:111111111111:endpoint/fraud-ep"


def _endpoint(hour: int) -> dict[str, str]:
    """A SageMaker endpoint on one ml.g5.2xlarge instance, 1.515 an hour."""
    row = cost_row("fraud-ep", hour, "1.515", tags=json.dumps({"team": "product-ml"}))
    description = "$1.515 per Hosting ml.g5.2xlarge hour in US East (N. Virginia)"
    return row | {"ResourceId": ENDPOINT, "ServiceName": "Amazon SageMaker",
                  "ChargeDescription": description}  # fmt: skip


def _job(ws: Workspace) -> None:
    """A training job that failed after 10 hours on idle-1's GPU (10.00 of its cost)."""
    ws.connection.execute(
        "INSERT INTO jobs (job_id, name, kind, start_time, end_time, host, gpu_count, status, "
        "user_name, labels, labels_map, source, x_IngestFileId) VALUES ('job-1', 'train-1', "
        "'training', '2026-10-05 00:00:00Z', '2026-10-05 10:00:00Z', 'idle-1', 1, 'failed', "
        "'bob', '{\"team\": \"research\"}', MAP {'team': 'research'}, 'test', 92)"
    )


def _llm(ws: Workspace) -> None:
    spend = {"key-flat": lambda d: "10.00", "key-grow": lambda d: "10.00" if d <= 7 else "30.00"}
    labels = {"key-flat": {"team": "search"}, "key-grow": {}}
    for key, per_day in spend.items():
        for day in range(1, LLM_DAYS + 1):
            ws.connection.execute(
                "INSERT INTO llm_usage (start_time, record_type, provider, model, api_key_id, "
                "requests, uncached_input_tokens, output_tokens, cost, currency, labels, "
                "labels_map, source, x_IngestFileId) VALUES (?::TIMESTAMPTZ, 'usage', 'openai', "
                "'gpt-4.1', ?, 10, 1000, 500, ?::DECIMAL(38, 18), 'USD', ?, "
                "?::MAP(VARCHAR, VARCHAR), 'test', 90)",
                [f"2026-10-{day:02d} 12:00:00Z", key, per_day(day), json.dumps(labels[key]),
                 labels[key]],
            )  # fmt: skip


#: (key, GiB, last modified): an inventory of 2026-10-11
OBJECTS = (
    ("runs/llm/run-001/step=100/model.safetensors", 100, "2026-07-01"),
    ("runs/llm/run-001/step=200/model.safetensors", 100, "2026-07-02"),
    ("runs/llm/run-002/step=100/model.safetensors", 50, "2026-10-05"),
    ("datasets/corpus/part-0.parquet", 10, "2026-06-01"),
)


def _storage(ws: Workspace) -> None:
    for key, gib, modified in OBJECTS:
        ws.connection.execute(
            "INSERT INTO storage_objects (inventory_date, provider, bucket, key, size_bytes, "
            "last_modified, storage_class, labels, labels_map, x_IngestFileId) VALUES "
            "('2026-10-11', 'aws', 'ml-ckpt', ?, ?, ?::TIMESTAMPTZ, 'STANDARD', "
            "'{\"team\": \"research\"}', MAP {'team': 'research'}, 91)",
            [key, gib * 2**30, f"{modified} 12:00:00Z"],
        )


def settings(root: Path, webhook_url: str | None = None) -> Settings:
    """Settings with a command executor that appends its argv to ``root/executed.jsonl`` and,
    given a URL, a webhook channel ``hook``."""
    script = root / "record.py"
    script.write_text(EXECUTOR_SCRIPT, encoding="utf-8")
    executor = {
        "type": "command",
        "argv": [sys.executable, str(script), str(root / "executed.jsonl"),
                 "{resource.instance_id}", "{resource.region}"],
        "attempts": 1,
    }  # fmt: skip
    budgets = [  # AWS spends 5.5 x 24 (GPUs) + 1.515 x 24 (the endpoint) = 168.36 a day
        {"name": "aws-low", "scope": {"providers": "AWS"}, "amount": 3000,
         "forecast_thresholds": [100], "owner": "cfo@example.com"},
        {"name": "aws-high", "scope": {"providers": "AWS"}, "amount": 100000,
         "forecast_thresholds": [100]},
    ]  # fmt: skip
    values: dict[str, Any] = {"executors": {"stop": executor}, "budgets": budgets}
    if webhook_url:
        channel = {"type": "webhook", "url": webhook_url}
        values["notify"] = {"channels": {"hook": channel}, "attempts": 1}
    return Settings.model_validate(values)


def executed(root: Path) -> list[dict[str, Any]]:
    path = root / "executed.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]
