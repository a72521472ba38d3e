"""Small hand-made workspaces for the allocation tests: rows written straight into the tables."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from aifinops import Workspace
from aifinops.config import Settings
from aifinops.model.allocation import AllocationRules

GPU_BOX = "$32.77 per On Demand Linux p4d.24xlarge Instance Hour"  # 8 x A100 40GB


def workspace(root: Path, rules: dict[str, Any] | None = None) -> Workspace:
    settings = Settings(allocation=AllocationRules.model_validate(rules or {}))
    Workspace.init(root)
    return Workspace(root, settings=settings)


def add_cost(
    ws: Workspace,
    record: int,
    cost: str,
    *,
    start: str = "2026-10-05 10:00",
    end: str | None = None,
    currency: str = "USD",
    category: str = "Usage",
    service: str = "Amazon S3",
    account: str = "acct-a",
    resource: str | None = None,
    description: str | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    """One cost row; ListCost is 1.25 x and ContractedCost 1.1 x the billed/effective cost so
    every metric differs."""
    amount = Decimal(cost)
    end = end or start[:11] + f"{int(start[11:13]) + 1:02d}:00"
    ws.connection.execute(
        "INSERT INTO costs (x_IngestFileId, x_SourceRecord, ChargePeriodStart, ChargePeriodEnd, "
        "x_ChargeDate, BilledCost, EffectiveCost, ListCost, ContractedCost, BillingCurrency, "
        "ChargeCategory, ServiceName, SubAccountName, ResourceName, ChargeDescription, Tags, "
        "x_TagsMap) VALUES (1, ?, ?::TIMESTAMPTZ, ?::TIMESTAMPTZ, ?::DATE, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?, ?, ?, ?::MAP(VARCHAR, VARCHAR))",
        [
            *(record, f"{start}:00Z", f"{end}:00Z", start[:10], amount, amount),
            *(amount * Decimal("1.25"), amount * Decimal("1.1"), currency, category, service),
            *(account, resource, description, json.dumps(tags or {}), tags or {}),
        ],
    )


def add_sample(
    ws: Workspace,
    ts: str,
    host: str,
    gpu: int,
    *,
    util: float = 50.0,
    job: str | None = None,
    pod: str | None = None,
    mig: str | None = None,
    labels: dict[str, str] | None = None,
) -> None:
    ws.connection.execute(
        "INSERT INTO gpu_samples (ts, host, gpu_index, gpu_model, mig_profile, mig_instance, "
        "gpu_util_pct, namespace, pod, job_id, labels, labels_map, source, x_IngestFileId) "
        "VALUES (?::TIMESTAMPTZ, ?, ?, 'NVIDIA A100-SXM4-40GB', ?, ?, ?, ?, ?, ?, ?, "
        "?::MAP(VARCHAR, VARCHAR), 'test', 2)",
        [
            *(f"{ts}:00Z", host, gpu, mig, "1" if mig else None, util),
            *("ns" if pod else None, pod, job, json.dumps(labels or {}), labels or {}),
        ],
    )


def add_job(
    ws: Workspace,
    job: str,
    host: str,
    span: tuple[str, str],
    *,
    gpus: int | None,
    labels: dict[str, str],
) -> None:
    start, end = span
    ws.connection.execute(
        "INSERT INTO jobs (job_id, start_time, end_time, host, gpu_count, labels, labels_map, "
        "source, x_IngestFileId) VALUES (?, ?::TIMESTAMPTZ, ?::TIMESTAMPTZ, ?, ?, ?, "
        "?::MAP(VARCHAR, VARCHAR), 'test', 3)",
        [job, f"{start}:00Z", f"{end}:00Z", host, gpus, json.dumps(labels), labels],
    )


def add_tokens(ws: Workspace, day: str, tokens: int, labels: dict[str, str]) -> None:
    ws.connection.execute(
        "INSERT INTO llm_usage (start_time, record_type, provider, model, uncached_input_tokens, "
        "output_tokens, labels, labels_map, source, x_IngestFileId) VALUES (?::TIMESTAMPTZ, "
        "'usage', 'openai', 'gpt-4.1', ?, ?, ?, ?::MAP(VARCHAR, VARCHAR), 'test', 4)",
        [f"{day} 12:00:00Z", tokens // 2, tokens - tokens // 2, json.dumps(labels), labels],
    )
