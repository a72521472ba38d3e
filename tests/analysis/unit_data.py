"""Rows for the unit economics tests, written straight into the tables (beside
``allocation_data``): jobs with kind, name and status; LLM usage with cost; business metrics."""

from __future__ import annotations

import json
from decimal import Decimal

from aifinops import Workspace

SERVER = "$2.00 per On Demand Linux g5.xlarge Instance Hour"  # 1 x A10G


def add_job(
    ws: Workspace,
    job: str,
    *,
    host: str | None,
    span: tuple[str, str | None],
    gpus: int | None = None,
    kind: str | None = None,
    name: str | None = None,
    status: str | None = "completed",
    labels: dict[str, str] | None = None,
) -> None:
    start, end = span
    ws.connection.execute(
        "INSERT INTO jobs (job_id, name, kind, start_time, end_time, host, gpu_count, status, "
        "labels, labels_map, source, x_IngestFileId) VALUES (?, ?, ?, ?::TIMESTAMPTZ, "
        "?::TIMESTAMPTZ, ?, ?, ?, ?, ?::MAP(VARCHAR, VARCHAR), 'scheduler', 3)",
        [
            *(job, name, kind, f"{start}:00Z", f"{end}:00Z" if end else None, host, gpus),
            *(status, json.dumps(labels or {}), labels or {}),
        ],
    )


def add_llm(
    ws: Workspace,
    day: str,
    *,
    provider: str = "openai",
    model: str = "gpt-4.1",
    tokens: tuple[int, int] = (0, 0),
    requests: int | None = None,
    cost: str | None = None,
    labels: dict[str, str] | None = None,
) -> None:
    ws.connection.execute(
        "INSERT INTO llm_usage (start_time, record_type, provider, model, requests, "
        "uncached_input_tokens, output_tokens, cost, currency, labels, labels_map, source, "
        "x_IngestFileId) VALUES (?::TIMESTAMPTZ, 'usage', ?, ?, ?, ?, ?, ?, 'USD', ?, "
        "?::MAP(VARCHAR, VARCHAR), 'test', 4)",
        [
            *(f"{day} 12:00:00Z", provider, model, requests, *tokens),
            *(Decimal(cost) if cost else None, json.dumps(labels or {}), labels or {}),
        ],
    )


def add_metric(
    ws: Workspace, day: str, metric: str, value: str, *, unit: str, labels: dict[str, str]
) -> None:
    ws.connection.execute(
        "INSERT INTO business_metrics (period_start, metric, value, unit, labels, labels_map, "
        "x_IngestFileId) VALUES (?::DATE, ?, ?, ?, ?, ?::MAP(VARCHAR, VARCHAR), 5)",
        [day, metric, Decimal(value), unit, json.dumps(labels), labels],
    )
