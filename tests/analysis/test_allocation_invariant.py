"""The allocation invariant, property-tested: whatever the costs, telemetry, jobs, tokens and
rules, every month, currency and metric of ``allocated_costs`` sums to ``costs`` exactly, and
every cost row's parts sum to the row."""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aifinops import Workspace
from tests.analysis.allocation_data import (
    GPU_BOX,
    add_cost,
    add_job,
    add_sample,
    add_tokens,
    workspace,
)

METRICS = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")
DAYS = ("2026-09-29", "2026-09-30", "2026-10-01", "2026-10-02")
TEAMS = st.sampled_from(["a", "B", " b ", None])
POOLS: list[dict[str, Any]] = [
    {"name": "tax", "match": {"charge_categories": ["Tax"]}},
    {"name": "support", "match": {"services": ["AWS Support"]}, "method": "even"},
    {"name": "gateway", "match": {"services": ["LLM Gateway"]}, "method": "tokens"},
    {"name": "slurm", "match": {"services": ["Slurm"]}, "method": "jobs"},
    {"name": "ops", "match": {"services": ["Cluster Ops"]}, "method": "gpu-hours"},
    {
        "name": "fixed",
        "match": {"services": ["Fixed"]},
        "method": "weights",
        "weights": {"a": "1", "b": "2", "c": "0"},
    },
]
SERVICES = ["Amazon S3", "AWS Support", "LLM Gateway", "Slurm", "Cluster Ops", "Fixed", "EC2"]

costs = st.lists(
    st.fixed_dictionaries(
        {
            "cost": st.decimals(-(10**6), 10**6, places=18, allow_nan=False),
            "currency": st.sampled_from(["USD", "EUR"]),
            "day": st.sampled_from(DAYS),
            "hour": st.integers(0, 3),
            "category": st.sampled_from(["Usage", "Usage", "Tax"]),
            "service": st.sampled_from(SERVICES),
            "gpu": st.sampled_from([None, "gpu-1", "gpu-2"]),
            "team": TEAMS,
            "account": st.sampled_from(["acct-x", "acct-r1"]),
        }
    ),
    min_size=1,
    max_size=20,
)
samples = st.lists(
    st.tuples(
        st.sampled_from(["gpu-1", "gpu-2"]),
        st.sampled_from(DAYS),
        st.integers(0, 3),
        st.integers(0, 9),  # a p4d has 8 GPUs: index 8 and 9 test the cap
        st.sampled_from([None, "job-1", "job-2"]),
        st.sampled_from([None, "p1"]),
        st.sampled_from([None, "1g.5gb", "7g.40gb"]),
        TEAMS,
    ),
    max_size=30,
)
jobs = st.lists(
    st.tuples(
        st.sampled_from(["job-1", "job-2", "job-3"]),
        st.sampled_from(["gpu-1", "gpu-2"]),
        st.sampled_from(DAYS),
        st.integers(0, 3),
        st.integers(10, 1800),  # minutes
        st.sampled_from([None, 1, 4, 16]),
        TEAMS,
    ),
    max_size=5,
)
tokens = st.lists(st.tuples(st.sampled_from(DAYS), st.integers(1, 10**6), TEAMS), max_size=4)

_ROOT = Path(tempfile.mkdtemp(prefix="aifinops-alloc-prop-"))
_WS: dict[str, Workspace] = {}


def _workspace(idle: str) -> Workspace:
    if idle not in _WS:
        rules = {
            "idle_gpu": idle,
            "dimensions": {
                "team": {"tags": ["team"], "rules": [{"value": "c", "accounts": ["acct-r*"]}]}
            },
            "shared": POOLS,
        }
        _WS[idle] = workspace(_ROOT / idle, rules)
    ws = _WS[idle]
    for table in ("costs", "gpu_samples", "jobs", "llm_usage"):
        ws.connection.execute(f"DELETE FROM {table}")
    return ws


def _tags(team: str | None) -> dict[str, str]:
    return {} if team is None else {"team": team}


def _at(day: str, hour: int, minute: int = 0) -> str:
    return f"{day} {hour:02d}:{minute:02d}"


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(costs, samples, jobs, tokens, st.sampled_from(["own-line", "shared"]))
def test_allocated_costs_add_up_exactly(
    cost_rows: list[dict[str, Any]],
    sample_rows: list[tuple[Any, ...]],
    job_rows: list[tuple[Any, ...]],
    token_rows: list[tuple[Any, ...]],
    idle: str,
) -> None:
    ws = _workspace(idle)
    for record, c in enumerate(cost_rows, start=1):
        add_cost(
            ws,
            record,
            str(c["cost"]),
            start=_at(c["day"], c["hour"]),
            currency=c["currency"],
            category=c["category"],
            service="EC2" if c["gpu"] else c["service"],
            account=c["account"],
            resource=c["gpu"],
            description=GPU_BOX if c["gpu"] else None,
            tags=_tags(c["team"]),
        )
    for host, day, hour, gpu, job, pod, mig, team in sample_rows:
        add_sample(ws, _at(day, hour, 7), host, gpu, job=job, pod=pod, mig=mig, labels=_tags(team))
    for job, host, day, hour, minutes, gpus, team in job_rows:
        start = f"{day} {hour:02d}:05"
        end = ws.connection.execute(
            "SELECT strftime(?::TIMESTAMP + to_minutes(?::BIGINT), '%Y-%m-%d %H:%M')",
            [start, minutes],
        ).fetchone()
        assert end is not None
        add_job(ws, job, host, (start, end[0]), gpus=gpus, labels=_tags(team))
    for day, n, team in token_rows:
        add_tokens(ws, day, n, _tags(team))

    ws.allocate()  # checks the invariant itself and refuses to commit if it fails

    con = ws.connection
    sums = ", ".join(f"sum({m})" for m in METRICS)
    source = con.execute(
        f"SELECT date_trunc('month', x_ChargeDate), BillingCurrency, {sums} FROM costs "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    allocated = con.execute(
        f"SELECT period, BillingCurrency, {sums} FROM allocated_costs GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert [tuple(r[2:]) for r in source] == [tuple(r[2:]) for r in allocated]
    # The parts of a cost row (GPU workloads, idle, the rest) add up to the row (with idle
    # shared, a row's idle part moves to its machine's month, so only the month adds up).
    if idle == "own-line":
        parts = con.execute(
            "SELECT c.x_SourceRecord, c.EffectiveCost, a.total FROM costs c JOIN (SELECT "
            "x_SourceRecord, sum(EffectiveCost) AS total FROM allocated_costs WHERE "
            "x_SourceRecord IS NOT NULL GROUP BY 1) a USING (x_SourceRecord) "
            "WHERE c.EffectiveCost <> a.total"
        ).fetchall()
        assert parts == []
    held = con.execute(
        "SELECT count(*) FROM allocated_costs WHERE gpu_hours < 0 OR "
        "(allocation = 'shared' AND team IN ('(unallocated)', '(shared)'))"
    ).fetchone()
    assert held == (0,)
    assert all(isinstance(r[2], Decimal) for r in allocated)
