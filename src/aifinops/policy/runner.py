"""Running policies: load each policy's resources, judge them with its filters, act on the
matches — or, in a dry run (the default), say exactly what would be done and do nothing.

Every decision (matched or not, with each filter's reason) and every action (planned, done,
failed, pending, unmarked) is written to the audit log (:class:`aifinops.audit.AuditLog`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from aifinops.errors import AifinopsError, QueryError
from aifinops.policy.context import PolicyContext
from aifinops.policy.marks import Mark, MarkStore, key_of
from aifinops.policy.model import Decision, Resource

if TYPE_CHECKING:
    import pyarrow as pa

    from aifinops.audit import AuditLog
    from aifinops.policy.policies import Policy
    from aifinops.workspace import Workspace

PLANNED, DONE, FAILED, PENDING, SKIPPED = "planned", "done", "failed", "pending", "skipped"


@dataclass
class Outcome:
    """One action on one resource: what it is, what happened (or would), and its key."""

    policy: str
    resource: str
    action: str
    status: str
    detail: str
    key: str | None = None
    name: str | None = None  # the resource's name, where it differs from its id


@dataclass
class PolicyResult:
    policy: str
    resource_kind: str
    resources: int = 0
    decisions: list[Decision] = field(default_factory=list)
    data_through: date | None = None

    @property
    def matched(self) -> list[Decision]:
        return [d for d in self.decisions if d.matched]


@dataclass
class RunReport:
    """What a run found and did (or would do)."""

    as_of: date
    execute: bool
    results: list[PolicyResult] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    #: policies that could not run (policy name -> the error's message); the others still ran
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def matched(self) -> int:
        return sum(len(r.matched) for r in self.results)

    @property
    def acted(self) -> bool:
        return any(o.status in (DONE, FAILED) for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        """0: nothing matched; 1: something matched or was acted on; 2: a policy failed."""
        if self.errors:
            return 2
        return 1 if self.matched or self.acted else 0

    def table(self) -> pa.Table:
        """One row per action on a matched resource (a match with no action: one row), with
        why it matched; then the marks removed."""
        import pyarrow as pa

        rows: list[dict[str, Any]] = []
        for result in self.results:
            for d in result.matched:
                acts = [
                    o for o in self.outcomes if (o.policy, o.resource) == (d.policy, d.resource.id)
                ]
                base = {
                    "policy": d.policy,
                    "resource": d.resource.name,
                    "owner": d.resource.owner,
                    "why": "; ".join(d.reasons),
                }
                for o in acts or [Outcome(d.policy, d.resource.id, "", "", "")]:
                    rows.append(base | {"action": o.action, "status": o.status, "detail": o.detail})
        for o in self.outcomes:
            if o.action == "unmark":
                base = {"policy": o.policy, "resource": o.name or o.resource, "owner": None,
                        "why": None}  # fmt: skip
                rows.append(base | {"action": o.action, "status": o.status, "detail": o.detail})
        names = ("policy", "resource", "owner", "why", "action", "status", "detail")
        return pa.table({n: pa.array([r[n] for r in rows], pa.string()) for n in names})


@dataclass
class Run:
    """The state one run shares with the actions: context, mode, marks, audit log."""

    ctx: PolicyContext
    execute: bool
    audit: AuditLog
    marks: dict[str, Mark]
    report: RunReport
    policy: Policy | None = None

    @property
    def workspace(self) -> Workspace:
        return self.ctx.workspace

    @property
    def acting(self) -> bool:
        """Whether actions really happen for the current policy (``mode: dry-run`` never does)."""
        return self.execute and (self.policy is None or self.policy.mode != "dry-run")

    def record(self, outcome: Outcome, **extra: Any) -> Outcome:
        self.report.outcomes.append(outcome)
        assert self.policy is not None
        self.audit.record(
            "policy.action",
            dry_run=not self.acting,
            policy=outcome.policy,
            resource_kind=self.policy.resource,
            resource=outcome.resource,
            action=outcome.action,
            status=outcome.status,
            detail=outcome.detail,
            idempotency_key=outcome.key,
            as_of=self.ctx.as_of,
            **extra,
        )
        return outcome

    def mark_of(self, resource: Resource) -> Mark | None:
        assert self.policy is not None
        return self.marks.get(key_of(self.policy.name, resource.id))


def run_policies(
    ws: Workspace,
    policies: Sequence[Policy],
    *,
    as_of: date,
    execute: bool = False,
    only: Sequence[str] = (),
) -> RunReport:
    """Run ``policies`` (those named ``only``) as on ``as_of``; dry run unless ``execute``."""
    from aifinops.audit import AuditLog

    chosen = _chosen(policies, only)
    report = RunReport(as_of=as_of, execute=execute)
    store = MarkStore(ws.path)
    with _marks(store, execute) as marks:
        run = Run(PolicyContext(ws, as_of), execute, AuditLog(ws.path), marks, report)
        for policy in chosen:
            run.policy = policy
            try:
                report.results.append(_run_one(run, policy))
            except AifinopsError as exc:  # e.g. job costs before `aifinops allocate`
                report.errors[policy.name] = exc.message
                run.audit.record(
                    "policy.error", dry_run=not run.acting, policy=policy.name, error=exc.message
                )
    return report


@contextlib.contextmanager
def _marks(store: MarkStore, execute: bool) -> Iterator[dict[str, Mark]]:
    """Marks to change (saved at the end, under a lock) or, in a dry run, a copy to read."""
    if not execute:
        yield store.all()
        return
    with store.editing() as marks:
        yield marks


def _chosen(policies: Sequence[Policy], only: Sequence[str]) -> list[Policy]:
    if not only:
        return list(policies)
    names = {p.name for p in policies}
    unknown = [n for n in only if n not in names]
    if unknown:
        raise QueryError(
            f"no policy named {', '.join(unknown)}",
            hint=f"the files hold {', '.join(sorted(names)) or 'no policies'}",
        )
    return [p for p in policies if p.name in only]


def _run_one(run: Run, policy: Policy) -> PolicyResult:
    ctx = run.ctx
    resources = ctx.kind(policy).load(ctx, policy)
    result = PolicyResult(policy.name, policy.resource, len(resources))
    result.data_through = ctx.last_day(ctx.kind(policy).cost_table)
    for resource in resources:
        decision = judge(ctx, policy, resource)
        result.decisions.append(decision)
        run.audit.record(
            "policy.decision",
            dry_run=not run.acting,
            policy=policy.name,
            resource_kind=policy.resource,
            resource=resource.id,
            resource_name=resource.name,
            matched=decision.matched,
            reasons=decision.reasons,
            as_of=ctx.as_of,
        )
        if decision.matched:
            for action in policy.actions:
                action.apply(run, decision)
    _unmark_gone(run, policy, result)
    return result


def judge(ctx: PolicyContext, policy: Policy, resource: Resource) -> Decision:
    """All of the policy's filters must match; every filter's reason is kept (all are checked,
    so the audit log says why for each)."""
    verdicts = [f.check(ctx, policy, resource) for f in policy.filters]
    matched = all(v.matched for v in verdicts)
    reasons = [v.reason for v in verdicts] or ["no filters: every resource matches"]
    return Decision(policy.name, resource, matched, reasons)


def _unmark_gone(run: Run, policy: Policy, result: PolicyResult) -> None:
    """Marks of this policy whose resource no longer matches (or is gone) are removed."""
    matched = {d.resource.id for d in result.matched}
    seen = {d.resource.id: d for d in result.decisions}
    for key, mark in sorted(run.marks.items()):
        if mark.policy != policy.name or mark.resource_id in matched:
            continue
        why = "no longer matches" if mark.resource_id in seen else "is no longer found"
        if run.acting:
            del run.marks[key]
        status = DONE if run.acting else PLANNED
        detail = f"{mark.resource_name} {why}: mark of {mark.marked_on} (due {mark.due}) removed"
        outcome = Outcome(policy.name, mark.resource_id, "unmark", status, detail)
        outcome.name = mark.resource_name
        run.record(outcome)
