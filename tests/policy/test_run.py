"""Running policies on the hand-made workspace of :mod:`tests.policy.data`: which resources
match (worked out by hand from the data), dry run, execute, idempotency, marks, the audit log."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

from aifinops import Workspace
from aifinops.audit import AuditLog
from aifinops.policy import load, marks_table, run_policies
from aifinops.policy.runner import RunReport
from tests.notify.servers import HttpServer
from tests.policy.data import executed

IDLE = """\
policies:
  - name: idle-gpus
    resource: gpu
    description: GPU machines idle over the last day.
    filters:
      - type: utilisation
        below: 10
        window: 24h
    actions:
      - type: notify
        channels: [hook]
        title: "Idle {resource.name}"
        template: "{resource.name} of {resource.owner}: {reasons}"
      - type: execute
        executor: stop
        op: stop
"""
MARKED = """\
policies:
  - name: idle-gpus
    resource: gpu
    filters:
      - type: utilisation
        below: 10
        window: 24h
    actions:
      - type: mark
        days: 2
        op: stop
        notify:
          channels: [hook]
          title: "{resource.name} stops on {mark.due}"
        then:
          - type: execute
            executor: stop
            op: stop
"""


def run(
    ws: Workspace, text: str, day: str, *, execute: bool = False, only: tuple[str, ...] = ()
) -> RunReport:
    path = ws.path / "policies.yaml"
    path.write_text(text, encoding="utf-8")
    policies = load([path], ws.settings)
    return run_policies(ws, policies, as_of=date.fromisoformat(day), execute=execute, only=only)


def matched(report: RunReport, policy: str | None = None) -> list[str]:
    return sorted(
        d.resource.name for r in report.results if policy in (None, r.policy) for d in r.matched
    )


def test_filters_match_exactly_the_resources_worked_out_by_hand(
    workspace: Callable[[], Workspace],
) -> None:
    text = """\
policies:
  - name: idle
    resource: gpu
    filters: [{type: utilisation, below: 10, window: 24h}]
  - name: idle-two-days
    resource: gpu
    filters: [{type: idle-hours, min: 48, window: 2d}]
  - name: untagged-spend
    resource: gpu
    window: 7d
    filters:
      - {type: tag, key: team, state: absent}
      - {type: cost, min: 336, max: 336}
  - name: tagged-research
    resource: gpu
    filters:
      - or:
          - {type: tag, key: team, value: "RES*"}
          - {type: value, key: tags.team, value: search}
      - not: [{type: value, key: name, op: glob, value: "busy-*"}]
  - name: growing-keys
    resource: llm-key
    filters: [{type: spend-growth, window: 7d, above: 100, min: 200}]
  - name: old-checkpoints
    resource: storage-prefix
    query: {depth: 3, checkpoints: true}
    filters: [{type: age, days: 90}]
"""
    ws = workspace()
    report = run(ws, text, "2026-10-11")
    # 2026-10-10: idle-1 2%, naps-1 60% (its last day), busy-1 80%, untagged-1 50%
    assert matched(report, "idle") == ["idle-1"]
    # 2026-10-09 and -10: idle-1 48 idle hours, naps-1 24
    assert matched(report, "idle-two-days") == ["idle-1"]
    # untagged-1: 7 days x 24 h x 2.00 = 336.00 (naps-1 has a Team tag: any letter case)
    assert matched(report, "untagged-spend") == ["untagged-1"]
    assert matched(report, "tagged-research") == ["idle-1", "naps-1"]
    # llm_usage runs to 2026-10-14, so as of 10-11 the last 7 days are 10-04..10-10:
    # key-grow 4 x 10 + 3 x 30 = 130 against days 10-01..10-03 only: first seen inside the
    # earlier week, growth unknown
    assert matched(report, "growing-keys") == []
    # run-001 last written 2026-07-02: 101 days; run-002 6 days; datasets/ holds no checkpoint
    assert matched(report, "old-checkpoints") == ["ml-ckpt/runs/llm/run-001/"]
    store = next(r for r in report.results if r.policy == "old-checkpoints").matched[0]
    assert store.resource.data["bytes"] == 200 * 2**30
    assert store.resource.data["checkpoints"] == 2
    assert store.reasons == ["101 days old (ge 90: True)"]

    later = run(ws, text, "2026-10-15", only=("growing-keys",))
    # 10-08..10-14: 7 x 30 = 210 vs 10-01..10-07: 7 x 10 = 70, +200%; key-flat 70 vs 70
    [decision] = later.results[0].matched
    assert decision.resource.id == "key-grow"
    assert decision.reasons == [
        "210.00 USD in 2026-10-08 to 2026-10-14 vs 70.00 USD in 2026-10-01 to 2026-10-07: "
        "+200.0% (> 100%)"
    ]


def test_a_resource_carries_exact_money_and_its_reasons(
    workspace: Callable[[], Workspace],
) -> None:
    report = run(workspace(), IDLE, "2026-10-11")
    [decision] = report.results[0].matched
    data = decision.resource.data
    # the policy window is the gpu default, 7 days: 168 hours at 1.00
    assert data["cost"] == Decimal("168.00")
    assert data["owner"] == "ann@example.com"
    assert data["utilisation_pct"] == 2.0
    assert decision.reasons == [
        "utilisation 2.0% < 10% on 2026-10-10 (100% of billed GPU-hours measured)"
    ]


def test_a_dry_run_sends_runs_and_marks_nothing_but_audits_every_decision(
    workspace: Callable[[], Workspace], http: HttpServer
) -> None:
    ws = workspace()
    report = run(ws, IDLE, "2026-10-11")
    assert report.exit_code == 1
    assert executed(ws.path) == []
    assert not (ws.path / "executed.jsonl").exists()
    assert http.recorder.requests == []
    statuses = [(o.action, o.status) for o in report.outcomes]
    assert statuses == [("notify", "planned"), ("execute stop", "planned")]
    plan = report.outcomes[1].detail
    assert plan.startswith("would run ") and "id-idle-1 us-east-1" in plan
    events = AuditLog(ws.path).read(kind="policy")
    decisions = [e for e in events if e.kind == "policy.decision"]
    assert sorted((e.fields["resource"], e.fields["matched"]) for e in decisions) == [
        ("id-busy-1", False), ("id-idle-1", True), ("id-naps-1", False), ("id-untagged-1", False),
    ]  # fmt: skip
    assert all(e.dry_run for e in events)
    acted = [e for e in events if e.kind == "policy.action"]
    actions = [(e.fields["action"], e.fields["status"]) for e in acted]
    assert actions == [("notify", "planned"), ("execute stop", "planned")]


def test_execute_acts_once_per_resource_and_never_again_for_the_same_key(
    workspace: Callable[[], Workspace], http: HttpServer
) -> None:
    ws = workspace()
    first = run(ws, IDLE, "2026-10-11", execute=True)
    assert [(o.action, o.status) for o in first.outcomes] == [
        ("notify", "done"),
        ("execute stop", "done"),
    ]
    [record] = executed(ws.path)
    assert record["argv"] == ["id-idle-1", "us-east-1"]
    assert record["key"] == "policy:idle-gpus:gpu:id-idle-1:actions.1:2026-10-11"
    [sent] = http.recorder.requests
    assert sent.json()["title"] == "Idle idle-1"
    assert sent.json()["owner"] == "ann@example.com"

    again = run(ws, IDLE, "2026-10-11", execute=True)
    assert [(o.action, o.status) for o in again.outcomes] == [
        ("notify", "skipped"),
        ("execute stop", "skipped"),
    ]
    assert len(executed(ws.path)) == 1
    assert len(http.recorder.requests) == 1


def test_a_mark_waits_for_its_grace_period_and_acts_only_if_still_matching(
    workspace: Callable[[], Workspace], http: HttpServer
) -> None:
    ws = workspace()
    # as of 10-10 (judging 10-09) idle-1 and naps-1 idle: both marked, owners told
    first = run(ws, MARKED, "2026-10-10", execute=True)
    assert matched(first) == ["idle-1", "naps-1"]
    assert [(o.resource, o.action, o.status) for o in first.outcomes] == [
        ("id-idle-1", "mark", "done"), ("id-idle-1", "notify owner", "done"),
        ("id-naps-1", "mark", "done"), ("id-naps-1", "notify owner", "done"),
    ]  # fmt: skip
    assert [r.json()["title"] for r in http.recorder.requests] == [
        "idle-1 stops on 2026-10-12",
        "naps-1 stops on 2026-10-12",
    ]
    assert executed(ws.path) == []
    table = marks_table(ws.path).to_pylist()
    assert [(m["resource"], m["due"], m["status"]) for m in table] == [
        ("idle-1", date(2026, 10, 12), "pending"),
        ("naps-1", date(2026, 10, 12), "pending"),
    ]

    # as of 10-11 (judging 10-10): naps-1 was busy, so it is unmarked; idle-1 waits
    second = run(ws, MARKED, "2026-10-11", execute=True)
    assert [(o.resource, o.action, o.status) for o in second.outcomes] == [
        ("id-idle-1", "mark", "pending"),
        ("id-naps-1", "unmark", "done"),
    ]
    assert [m["resource"] for m in marks_table(ws.path).to_pylist()] == ["idle-1"]

    # a dry run on the due day plans the stop and runs nothing
    dry = run(ws, MARKED, "2026-10-12")
    assert [(o.action, o.status) for o in dry.outcomes] == [("execute stop", "planned")]
    assert executed(ws.path) == []

    # on the due day, still idle (the data ends 10-10): stopped, once
    due = run(ws, MARKED, "2026-10-12", execute=True)
    assert [(o.action, o.status) for o in due.outcomes] == [("execute stop", "done")]
    assert [r["argv"] for r in executed(ws.path)] == [["id-idle-1", "us-east-1"]]
    assert executed(ws.path)[0]["key"].endswith(":actions.0.then.0:mark-2026-10-10")
    [mark] = marks_table(ws.path).to_pylist()
    assert (mark["status"], mark["acted_on"]) == ("acted", date(2026, 10, 12))

    later = run(ws, MARKED, "2026-10-13", execute=True)
    assert [(o.action, o.status) for o in later.outcomes] == [("mark", "skipped")]
    assert len(executed(ws.path)) == 1
    assert len(http.recorder.requests) == 2  # the two owner notices, nothing more


def test_the_audit_log_holds_each_decision_with_its_reasons_and_each_action(
    workspace: Callable[[], Workspace],
) -> None:
    ws = workspace()
    run(ws, IDLE, "2026-10-11", execute=True)
    lines = [json.loads(line) for line in (ws.path / "audit.jsonl").read_text().splitlines()]
    decision = next(
        e for e in lines if e["kind"] == "policy.decision" and e["resource"] == "id-busy-1"
    )
    assert decision["matched"] is False
    assert decision["dry_run"] is False
    assert decision["reasons"] == [
        "utilisation 80.0% >= 10% on 2026-10-10 (100% of billed GPU-hours measured)"
    ]
    acted = [e for e in lines if e["kind"] == "policy.action"]
    assert [(e["action"], e["status"], e["resource"]) for e in acted] == [
        ("notify", "done", "id-idle-1"),
        ("execute stop", "done", "id-idle-1"),
    ]
    assert acted[1]["idempotency_key"] == "policy:idle-gpus:gpu:id-idle-1:actions.1:2026-10-11"


def test_a_failing_executor_is_reported_failed_and_tried_again_next_run(
    workspace: Callable[[], Workspace], http: HttpServer
) -> None:
    ws = workspace()
    (ws.path / "executed.jsonl").mkdir()  # the script cannot append: it exits 1
    report = run(ws, IDLE, "2026-10-11", execute=True)
    failed = report.outcomes[1]
    assert (failed.action, failed.status) == ("execute stop", "failed")
    assert "exit code 1" in failed.detail
    (ws.path / "executed.jsonl").rmdir()
    retried = run(ws, IDLE, "2026-10-11", execute=True)
    assert retried.outcomes[1].status == "done"
    assert len(executed(ws.path)) == 1


def test_nothing_matched_exits_0_and_only_picks_policies_by_name(
    workspace: Callable[[], Workspace],
) -> None:
    text = IDLE.replace("below: 10", "below: 1")
    report = run(workspace(), text, "2026-10-11")
    assert (report.matched, report.exit_code) == (0, 0)


def test_a_policy_in_dry_run_mode_never_acts(
    workspace: Callable[[], Workspace], http: HttpServer
) -> None:
    ws = workspace()
    text = IDLE.replace("    resource: gpu\n", "    resource: gpu\n    mode: dry-run\n")
    report = run(ws, text, "2026-10-11", execute=True)
    assert [o.status for o in report.outcomes] == ["planned", "planned"]
    assert executed(ws.path) == [] and http.recorder.requests == []


def test_marks_of_a_dry_run_are_not_kept(workspace: Callable[[], Workspace]) -> None:
    ws = workspace()
    report = run(ws, MARKED, "2026-10-10")
    assert [o.status for o in report.outcomes] == ["planned"] * 4
    assert marks_table(ws.path).num_rows == 0
    assert not Path(ws.path / "policy" / "marks.json").exists()


def test_jobs_endpoints_and_budgets_come_with_their_exact_figures(
    workspace: Callable[[], Workspace],
) -> None:
    text = """\
policies:
  - name: failed-jobs
    resource: job
    filters:
      - {type: value, key: status, value: failed}
      - {type: cost, min: 10, max: 10}
  - name: endpoints
    resource: inference-deployment
    query: {platforms: [sagemaker]}
    filters: [{type: cost, min: 254.52, window: 7d}]
  - name: budgets
    resource: budget
    filters: [{type: budget-state, forecast: true}]
  - name: budgets-warning
    resource: budget
    filters: [{type: budget-state, state: warning}]
"""
    report = run(workspace(), text, "2026-10-11")
    # job-1 held idle-1's one GPU for 10 hours at 1.00
    [job] = next(r for r in report.results if r.policy == "failed-jobs").matched
    assert (job.resource.id, job.resource.data["cost"]) == ("job-1", Decimal("10.00"))
    assert job.resource.data["gpu_hours"] == 10.0
    assert job.resource.owner == "bob"
    # 7 days x 24 h x 1.515
    [endpoint] = next(r for r in report.results if r.policy == "endpoints").matched
    assert endpoint.resource.name == "fraud-ep"
    assert endpoint.resource.data["instance_type"] == "ml.g5.2xlarge"
    assert endpoint.resource.data["cost"] == Decimal("254.52")
    # actual 10 x 168.36 = 1,683.60 (56.1% of 3,000: the 50% threshold); forecast 31 x 168.36
    [budget] = next(r for r in report.results if r.policy == "budgets").matched
    assert budget.resource.id == "aws-low"
    assert budget.resource.owner == "cfo@example.com"
    assert budget.resource.data["cost"] == Decimal("1683.60")
    assert budget.reasons == ["forecast 5,219.16 USD crosses 100.0% of the amount"]
    assert matched(report, "budgets-warning") == ["aws-low"]


def test_a_policy_that_cannot_run_is_reported_and_the_others_still_run(
    workspace: Callable[[], Workspace],
) -> None:
    ws = workspace()
    ws.connection.execute("DROP TABLE allocated_costs")
    text = IDLE + "  - name: jobs\n    resource: job\n"
    report = run(ws, text, "2026-10-11")
    assert report.errors == {
        "jobs": "policy jobs: job costs need allocated_costs\n  hint: run `aifinops allocate` first"
    }
    assert matched(report) == ["idle-1"]
    assert report.exit_code == 2
    [error] = AuditLog(ws.path).read(kind="policy.error")
    assert error.fields["policy"] == "jobs"
