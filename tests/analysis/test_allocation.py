"""Allocation: dimensions from tags and rules, shared costs split, GPU cost to workloads — each
figure worked out by hand from the rows the test writes."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from aifinops import Workspace
from aifinops.errors import QueryError
from aifinops.model.allocation import AllocationRules
from tests.analysis.allocation_data import (
    GPU_BOX,
    add_cost,
    add_job,
    add_sample,
    add_tokens,
    workspace,
)
from tests.cli.runner import run_cli

D = Decimal
RULES: dict[str, Any] = {
    "dimensions": {
        "team": {"tags": ["team"], "rules": [{"value": "Research", "accounts": ["*research*"]}]},
        "product": {"tags": ["product"], "default": "none", "keep_case": True},
    },
    "shared": [
        {"name": "tax", "match": {"charge_categories": ["tax"]}},
        {"name": "support", "match": {"services": ["AWS Support*"]}, "method": "even"},
        {
            "name": "gateway",
            "match": {"services": ["LLM Gateway"]},
            "method": "tokens",
        },
        {
            "name": "scheduler",
            "match": {"services": ["Slurm"]},
            "method": "jobs",
            "targets": ["research"],
        },
        {
            "name": "fixed",
            "match": {"resources": ["shared-?"]},
            "method": "weights",
            "weights": {"research": 1, "Inference": 3},
        },
    ],
}


def _by(ws: Workspace, *keys: str, metric: str = "effective") -> dict[tuple[Any, ...], Decimal]:
    table = ws.allocated(list(keys), metric=metric).to_pylist()
    column = {"effective": "EffectiveCost", "list": "ListCost"}[metric]
    return {tuple(r[k] for k in keys): r[column] for r in table}


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = workspace(tmp_path_factory.mktemp("alloc"), RULES)
    add_cost(ws, 1, "10.00", tags={"Team": " Research ", "product": "Chat"})
    add_cost(ws, 2, "20.00", tags={"TEAM": "inference"})
    add_cost(ws, 3, "5.00", account="ml-research-prod")  # rule
    add_cost(ws, 4, "7.00", account="other")  # default
    add_cost(ws, 5, "9.00", category="Tax", service="Tax")
    add_cost(ws, 6, "10.00", service="AWS Support (Business)")
    add_cost(ws, 7, "3.00", currency="EUR", tags={"team": "research"})
    add_cost(ws, 8, "1.00", currency="EUR", category="Tax", service="Tax")
    add_cost(ws, 9, "4.00", service="LLM Gateway")
    add_cost(ws, 10, "6.00", service="Slurm")
    add_cost(ws, 11, "2.00", resource="shared-1")
    add_cost(ws, 12, "8.00", start="2026-09-30 10:00", service="LLM Gateway")  # no tokens
    add_tokens(ws, "2026-10-02", 3000, {"team": "research"})
    add_tokens(ws, "2026-10-03", 1000, {"Team": "Inference"})
    add_job(
        ws, "j1", "h", ("2026-10-01 00:00", "2026-10-01 01:00"), gpus=1, labels={"team": "research"}
    )
    add_job(
        ws,
        "j2",
        "h",
        ("2026-10-01 00:00", "2026-10-01 01:00"),
        gpus=1,
        labels={"team": "inference"},
    )
    ws.allocate()
    return ws


def test_dimensions_from_tags_rules_and_default(plain: Workspace) -> None:
    got = _by(plain, "team", "allocation", "BillingCurrency")
    assert got[("research", "direct", "USD")] == D("15.00")  # tag " Research " + rule
    assert got[("inference", "direct", "USD")] == D("20.00")  # key TEAM
    assert got[("(unallocated)", "direct", "USD")] == D("7.00")
    assert got[("research", "direct", "EUR")] == D("3.00")
    products = _by(plain, "product")
    assert products[("Chat",)] == D("10.00")  # keep_case
    assert ("none",) in products


def test_shared_costs_split_to_the_cent(plain: Workspace) -> None:
    got = _by(plain, "shared_pool", "team", "BillingCurrency")
    # tax 9.00 proportional to direct cost 15 : 20 -> 3.857 -> 3.86, the rest 5.14
    assert got[("tax", "research", "USD")] == D("3.86")
    assert got[("tax", "inference", "USD")] == D("5.14")
    assert got[("tax", "research", "EUR")] == D("1.00")  # per currency
    # support 10.00 even over research and inference (unallocated takes no share)
    assert got[("support", "research", "USD")] == D("5.00")
    assert got[("support", "inference", "USD")] == D("5.00")
    # gateway 4.00 by tokens 3000 : 1000; scheduler 6.00 by jobs, targets research only
    assert got[("gateway", "research", "USD")] == D("3.00")
    assert got[("gateway", "inference", "USD")] == D("1.00")
    assert got[("scheduler", "research", "USD")] == D("6.00")
    assert ("scheduler", "inference", "USD") not in got
    # fixed weights 1 : 3 ("Inference" is lower-cased like the values)
    assert got[("fixed", "research", "USD")] == D("0.50")
    assert got[("fixed", "inference", "USD")] == D("1.50")
    # September has no tokens: the pool stays unallocated, and says so
    assert got[("gateway", "(unallocated)", "USD")] == D("8.00")
    kinds = _by(plain, "shared_pool", "allocation")
    assert kinds[("gateway", "shared-unsplit")] == D("8.00")


def test_every_month_and_metric_adds_up(plain: Workspace) -> None:
    for metric in ("effective", "list"):
        total = sum(_by(plain, "BillingCurrency", metric=metric).values())
        factor = D("1.25") if metric == "list" else D(1)
        assert total == (D("81.00") + D("4.00")) * factor
    assert plain.allocation_stale() is None


def test_split_rows_keep_other_dimensions_apart(plain: Workspace) -> None:
    got = _by(plain, "shared_pool", "product", "BillingCurrency")
    assert got[("tax", "(shared)", "USD")] == D("9.00")


def test_stale_after_ingest_and_rerun(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    with pytest.raises(QueryError, match="allocate"):
        ws.allocated(["team"])
    add_cost(ws, 1, "1.00", tags={"team": "a"})
    ws.allocate()
    assert ws.allocation_stale() is None
    ws.connection.execute(
        "INSERT INTO ingest_log VALUES (1, 7, 'focus', 'x', 'h', 1, 'csv', NULL, 1, 1, 0, 0, "
        "NULL, now(), NULL)"
    )
    assert "older than the latest ingest" in (ws.allocation_stale() or "")


def test_bad_rules_are_refused() -> None:
    with pytest.raises(ValidationError, match="not a dimension"):
        AllocationRules.model_validate(
            {"shared": [{"name": "x", "match": {"services": ["a"]}, "dimension": "tem"}]}
        )
    with pytest.raises(ValidationError, match="no patterns"):
        AllocationRules.model_validate({"shared": [{"name": "x", "match": {}}]})
    with pytest.raises(ValidationError, match="would match every row"):
        AllocationRules.model_validate({"dimensions": {"team": {"rules": [{"value": "a"}]}}})
    with pytest.raises(ValidationError, match="dimension name"):
        AllocationRules.model_validate({"dimensions": {"Team Name": {}}})


# -- GPU cost to workloads -------------------------------------------------------------------
# gpu-1 is a p4d.24xlarge (8 GPUs) at $80.00 an hour: $10.00 per GPU-hour, tagged team platform.
# 10:00: GPUs 0-3 held by job-a (research); GPU 4 is a 3g.40gb MIG slice held by job-b
# (inference): 3/7 of a GPU; GPU 5 time-sliced by pods p1 and p2 (search), half each; GPU 6
# reports and nobody holds it (idle); GPU 7 reports nothing (unknown). The scheduler also says
# job-a held all 8 GPUs that hour: labelled telemetry wins. 11:00: no telemetry; the scheduler
# says job-c (research) held 4 GPUs from 11:30: 2 GPU-hours.
# 10:00 -> job-b 4.2857 -> 4.29; p1, p2 5.00; idle (7 seen - 5.4286 held) x 10 = 15.71;
# unknown 1 GPU-hour 10.00; job-a, the largest share, 80 - 40.00 = 40.00.
# 11:00 -> job-c 20.00; the rest 60.00 stays with platform.


def _gpu(root: Path, idle: str = "own-line", extra: dict[str, Any] | None = None) -> Workspace:
    rules = {"idle_gpu": idle, **(extra or {})}
    ws = workspace(root, rules)
    for record, hour in enumerate(("10", "11"), start=1):
        add_cost(
            ws,
            record,
            "80.00",
            start=f"2026-10-05 {hour}:00",
            service="Amazon Elastic Compute Cloud",
            resource="gpu-1",
            description=GPU_BOX,
            tags={"team": "platform"},
        )
    research, inference, search = ({"team": t} for t in ("research", "inference", "search"))
    for minute in ("10:05", "10:35"):
        for gpu in range(4):
            add_sample(ws, f"2026-10-05 {minute}", "gpu-1", gpu, job="job-a", labels=research)
        add_sample(
            ws, f"2026-10-05 {minute}", "gpu-1", 4, job="job-b", mig="3g.40gb", labels=inference
        )
        add_sample(ws, f"2026-10-05 {minute}", "gpu-1", 6, util=0.0)
    add_sample(ws, "2026-10-05 10:05", "gpu-1", 5, pod="p1", labels=search)
    add_sample(ws, "2026-10-05 10:35", "gpu-1", 5, pod="p2", labels=search)
    add_job(ws, "job-a", "gpu-1", ("2026-10-05 10:00", "2026-10-05 11:00"), gpus=8, labels=research)
    add_job(ws, "job-c", "gpu-1", ("2026-10-05 11:30", "2026-10-05 12:30"), gpus=4, labels=research)
    ws.allocate()
    return ws


def test_gpu_cost_follows_the_gpu_hours_held(tmp_path: Path) -> None:
    ws = _gpu(tmp_path)
    got = _by(ws, "job", "team", "allocation")
    assert got == {
        ("job-a", "research", "gpu-workload"): D("40.00"),
        ("job-b", "inference", "gpu-workload"): D("4.29"),
        ("ns/p1", "search", "gpu-workload"): D("5.00"),
        ("ns/p2", "search", "gpu-workload"): D("5.00"),
        ("job-c", "research", "gpu-workload"): D("20.00"),
        (None, "platform", "idle-gpu"): D("15.71"),
        (None, "platform", "direct"): D("70.00"),
    }
    hours = {r["job"]: r["gpu_hours"] for r in ws.allocated(["job"]).to_pylist()}
    assert hours["job-b"] == pytest.approx(3 / 7)
    assert hours["job-c"] == pytest.approx(2.0)
    assert sum(_by(ws, "BillingCurrency", metric="list").values()) == D("200.00")


def test_idle_gpu_shared_over_the_machines_workloads(tmp_path: Path) -> None:
    ws = _gpu(tmp_path, idle="shared")
    got = _by(ws, "job", "allocation")
    # 15.71 over GPU-hours held that month: job-a 4, job-b 3/7, p1 0.5, p2 0.5, job-c 2
    # (7.428571): job-b 0.91, p1 1.06, p2 1.06, job-c 4.23, job-a the rest 8.45.
    assert got[("job-a", "gpu-workload-idle")] == D("8.45")
    assert got[("job-b", "gpu-workload-idle")] == D("0.91")
    assert got[("ns/p1", "gpu-workload-idle")] == D("1.06")
    assert got[("job-c", "gpu-workload-idle")] == D("4.23")
    assert not [k for k in got if k[1] == "idle-gpu"]
    hours = {r["job"]: r["gpu_hours"] for r in ws.allocated(["job"]).to_pylist()}
    # job-c held 2 GPU-hours and now also pays for 2 / 7.428571 of the 1.571429 idle ones
    assert hours["job-c"] == pytest.approx(2 + 1.571429 * 2 / 7.428571, rel=1e-5)
    assert sum(got.values()) == D("160.00")


def test_shared_cost_by_gpu_hours(tmp_path: Path) -> None:
    pool = {"name": "ops", "match": {"services": ["Cluster Ops"]}, "method": "gpu-hours"}
    ws = workspace(tmp_path / "w", {"shared": [pool]})
    ws.close()
    ws = _gpu(tmp_path / "w", extra={"shared": [pool]})
    add_cost(ws, 3, "12.00", service="Cluster Ops")
    ws.allocate()
    got = _by(ws, "shared_pool", "team")
    # research 6 GPU-hours, search 1, inference 3/7 (7.428571 in all)
    assert got[("ops", "inference")] == D("0.69")
    assert got[("ops", "search")] == D("1.62")
    assert got[("ops", "research")] == D("9.69")


def test_cli_allocate_report_and_showback(tmp_path: Path) -> None:
    ws = _gpu(tmp_path)
    ws.close()
    out = run_cli("allocate", cwd=tmp_path).stdout
    assert "adds up" in out
    out = run_cli("report", "allocation", "-b", "team", "-f", "csv", cwd=tmp_path).stdout
    assert "research,USD,60" in out.replace('"', "")
    out = run_cli("report", "showback", "-f", "csv", cwd=tmp_path).stdout
    lines = out.splitlines()
    assert lines[0].startswith("period,team,BillingCurrency,direct,gpu_workloads,idle_gpu,shared")
    # one team's statement keeps its share of the whole month: platform 85.71 of 160.00
    out = run_cli("report", "showback", "-v", "platform", "-f", "csv", cwd=tmp_path).stdout
    assert out.splitlines()[1].endswith(",0.5357")
    html_file = tmp_path / "statement.html"
    run_cli("report", "showback", "-f", "html", "-o", html_file, cwd=tmp_path)
    page = html_file.read_text()
    assert "<svg" in page and "research" in page and "85.71 USD" in page
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")  # self-contained
