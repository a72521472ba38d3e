"""Actions on matched resources: ``notify``, ``mark`` (act later, after a grace period, telling the
owner now) and ``execute`` (a configured executor). In a dry run each says exactly what it would
do and does nothing.

Each action has an idempotency key: policy, resource, the action's place in the policy and its
period (``day``, ``week``, ``month`` or ``once``; a marked resource's deferred actions use the
day it was marked). The same key is never sent or executed twice: the notify outbox keeps each
(alert key, channel) once and executors get the key to drop repeats.
"""

from __future__ import annotations

import string
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from aifinops.errors import AifinopsError
from aifinops.policy.marks import ACTED, PENDING, Mark
from aifinops.policy.model import Decision, Resource
from aifinops.policy.registry import Action, ResourceKind, actions
from aifinops.policy.runner import DONE, FAILED, PLANNED, SKIPPED, Outcome
from aifinops.policy.runner import PENDING as WAITING

if TYPE_CHECKING:
    from aifinops.config import Settings
    from aifinops.notify import Alert
    from aifinops.policy.policies import Policy
    from aifinops.policy.runner import Run

Problems = list[tuple[tuple[str | int, ...], str]]
PERIODS = ("day", "week", "month", "once")
TEMPLATE = {"type": "string", "description": "Text with {resource.FIELD}, {policy.name} ..."}
NOTICE_FIELDS: dict[str, Any] = {
    "channels": {"type": "array", "items": {"type": "string"}},
    "title": TEMPLATE,
    "template": TEMPLATE,
    "severity": {"enum": ["info", "warning", "critical"]},
}
NOTICE = {"type": "object", "additionalProperties": False, "properties": NOTICE_FIELDS}
#: names a template may use besides ``resource.FIELD``
TEMPLATE_NAMES = {"policy.name", "policy.description", "reasons", "as_of", "mark.due",
                  "mark.days", "mark.op", "mark.marked_on"}  # fmt: skip


def period_label(period: str, day: date) -> str:
    if period == "once":
        return "once"
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return day.strftime("%Y-%m") if period == "month" else day.isoformat()


def action_key(policy: Policy, resource: Resource, path: tuple[str | int, ...], period: str) -> str:
    """``policy:NAME:KIND:ID:actions.2:PERIOD``."""
    place = ".".join(str(p) for p in path[len(policy.path) :])
    return f"policy:{policy.name}:{policy.resource}:{resource.id}:{place}:{period}"


class _Fields:
    """Attribute access to a mapping for ``str.format`` (money to the cent, None as unknown)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return _text(self._data.get(name))


def _text(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def render(
    text: str, policy: Policy, decision: Decision, as_of: date, mark: Mark | None = None
) -> str:
    mark_data = {} if mark is None else {
        "due": mark.due, "days": (mark.due - mark.marked_on).days, "op": mark.op,
        "marked_on": mark.marked_on,
    }  # fmt: skip
    return text.format(
        resource=_Fields(decision.resource.data),
        policy=_Fields({"name": policy.name, "description": policy.description}),
        reasons="; ".join(decision.reasons),
        mark=_Fields(mark_data),
        as_of=as_of.isoformat(),
    )


def template_problems(kind: type[ResourceKind], text: str, path: tuple[str | int, ...]) -> Problems:
    try:
        parts = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(text)]
    except ValueError as exc:
        return [(path, f"not a template: {exc} (write {{{{ and }}}} for literal braces)")]
    names = [f for f, _, _ in parts if f is not None]
    if any(spec or conv for f, spec, conv in parts if f is not None):
        return [(path, "write {resource.FIELD} alone: values come formatted (money to the cent)")]
    fields = kind.field_names()
    out: Problems = []
    for name in names:
        if name.startswith("resource."):
            if name[len("resource.") :] not in fields:
                known = ", ".join(sorted(fields))
                out.append((path, f"{{{name}}}: {kind.name} has no such field; it has {known}"))
        elif name not in TEMPLATE_NAMES:
            allowed = ", ".join("{" + n + "}" for n in sorted(TEMPLATE_NAMES))
            out.append((path, f"{{{name}}} is not known: use {{resource.FIELD}}, {allowed}"))
    return out


def channel_problems(
    names: list[str], settings: Settings | None, path: tuple[str | int, ...]
) -> Problems:
    if settings is None:
        return []
    known = ", ".join(settings.notify.channels) or "none"
    hint = f"configured are {known} ([notify.channels.NAME], docs/notifications.md)"
    return [
        ((*path, i), f"no notification channel {n!r} in aifinops.toml: {hint}")
        for i, n in enumerate(names)
        if n not in settings.notify.channels
    ]


def send(run: Run, alert: Alert, channels: list[str] | None, action: str) -> Outcome:
    """Deliver ``alert`` (or, in a dry run, say to whom it would go)."""
    assert run.policy is not None
    policy, resource_id = run.policy.name, alert.fields.get("resource id", "")

    def outcome(status: str, text: str) -> Outcome:
        return run.record(Outcome(policy, resource_id, action, status, text, alert.key))

    where = ", ".join(channels) if channels else "the channels whose routing takes it"
    who = f" (owner {alert.owner})" if alert.owner else " (no owner known)"
    if not run.acting:
        return outcome(PLANNED, f"would send {alert.title!r} to {where}{who}")
    from aifinops.notify import deliver

    ws = run.workspace
    try:
        report = deliver(ws.path, ws.settings, [alert], channels)
    except AifinopsError as exc:
        return outcome(FAILED, exc.message)
    failed = [d for d in report.failed if d.key == alert.key]
    sent = [d for d in report.sent if d.key == alert.key]
    skipped = [d for d in report.skipped if d.key == alert.key]
    if failed:
        text = "; ".join(f"{d.channel}: {d.detail}" for d in failed)
        return outcome(FAILED, f"not delivered (kept in the outbox): {text}")
    if sent:
        return outcome(DONE, "sent to " + ", ".join(d.channel for d in sent) + who)
    if skipped:
        return outcome(SKIPPED, "already sent to " + ", ".join(d.channel for d in skipped))
    return outcome(FAILED, "no channel takes it: name channels, or route policy.* alerts")


def make_alert(
    run: Run, decision: Decision, spec: dict[str, Any], key: str, *, default_text: str,
    mark: Mark | None = None,
) -> Alert:  # fmt: skip
    from aifinops.notify import Alert

    policy = run.policy
    assert policy is not None
    resource = decision.resource
    as_of = run.ctx.as_of
    title = render(
        spec.get("title", "{policy.name}: {resource.name}"), policy, decision, as_of, mark
    )
    text = render(spec.get("template", default_text), policy, decision, as_of, mark)
    return Alert(
        key=key,
        kind=f"policy.{policy.name}",
        severity=spec.get("severity", "warning"),
        title=title,
        text=text,
        fields={
            "policy": policy.name,
            "resource kind": policy.resource,
            "resource id": resource.id,
            "why": "; ".join(decision.reasons),
        },
        scope=resource.name,
        amount=cost if isinstance(cost := resource.data.get("cost"), Decimal) else None,
        currency=resource.data.get("currency"),
        owner=resource.owner,
    )


@actions.register("notify")
class Notify(Action):
    """Send an alert about the resource through ``aifinops.notify``: to ``channels`` (default:
    every channel whose routing takes ``policy.NAME`` alerts), with the resource's owner on it.
    ``title`` and ``template`` are text with ``{resource.FIELD}``, ``{policy.name}``,
    ``{reasons}``. Sent once per ``period`` (default week) and resource.

    Example::

        - type: notify
          channels: [slack-finops]
          title: "Idle GPU machine {resource.name}"
          template: "{resource.name} ({resource.instance_type}) averaged
            {resource.utilisation_pct}% GPU utilisation; it cost {resource.cost}
            {resource.currency} this week. Owner: {resource.owner}."
    """

    schema: ClassVar[dict[str, Any]] = {
        "properties": {
            **NOTICE_FIELDS,
            "period": {"enum": list(PERIODS)},
        }
    }

    def apply(self, run: Run, decision: Decision, period: str | None = None) -> list[Outcome]:
        assert run.policy is not None
        label = period or period_label(self.data.get("period", "week"), run.ctx.as_of)
        key = action_key(run.policy, decision.resource, self.path, label)
        text = "{policy.description}\n\nWhy: {reasons}."
        alert = make_alert(run, decision, self.data, key, default_text=text)
        return [send(run, alert, self.data.get("channels"), "notify")]

    def problems(self, kind: type[ResourceKind], run_settings: Any) -> Problems:
        out = channel_problems(
            self.data.get("channels", []), run_settings, (*self.path, "channels")
        )
        for name in ("title", "template"):
            if name in self.data:
                out += template_problems(kind, self.data[name], (*self.path, name))
        return out


@actions.register("execute")
class Execute(Action):
    """Run a configured executor (``[executors.NAME]`` in aifinops.toml: a command or a webhook)
    for the resource, with an idempotency key; ``op`` names what it does (stop, scale-to-zero,
    delete) and ``params`` are extra values for its placeholders. Once per ``period`` (default
    day) and resource; under a ``mark``, once per marking.

    Example::

        - type: execute
          executor: stop-ec2-instance
          op: stop
    """

    schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "executor": {"type": "string", "minLength": 1},
            "op": {"type": "string", "minLength": 1},
            "params": {"type": "object"},
            "period": {"enum": list(PERIODS)},
        },
        "required": ["executor"],
    }

    def apply(self, run: Run, decision: Decision, period: str | None = None) -> list[Outcome]:
        assert run.policy is not None
        label = period or period_label(self.data.get("period", "day"), run.ctx.as_of)
        key = action_key(run.policy, decision.resource, self.path, label)
        return [self.run_executor(run, decision.resource, key)]

    def run_executor(self, run: Run, resource: Resource, key: str) -> Outcome:
        from aifinops.notify.executors import ActionRequest, ExecutionStatus, execute

        assert run.policy is not None
        name, op = self.data["executor"], self.data.get("op", self.data["executor"])
        request = ActionRequest(
            idempotency_key=key,
            action=op,
            resource=identity(run.policy.kind, resource),
            params=dict(self.data.get("params") or {}),
        )
        ws, action = run.workspace, f"execute {op}"
        try:
            result = execute(ws.path, ws.settings, name, request, dry_run=not run.acting)
        except AifinopsError as exc:
            return run.record(
                Outcome(run.policy.name, resource.id, action, FAILED, exc.message, key)
            )
        if result.status is ExecutionStatus.PLANNED:
            status, text = PLANNED, f"would {result.plan}"
        elif result.replayed:
            status, text = SKIPPED, f"already done at {result.finished_at}: {result.plan}"
        elif result.status is ExecutionStatus.DONE:
            status, text = DONE, f"{result.plan}: done ({result.attempts} tries)"
        else:
            status, text = FAILED, f"{result.plan}: {result.error} after {result.attempts} tries"
        return run.record(Outcome(run.policy.name, resource.id, action, status, text, key))

    def problems(self, kind: type[ResourceKind], run_settings: Any) -> Problems:
        if run_settings is None:
            return []
        known = run_settings.executors.named()
        name = self.data["executor"]
        if name in known:
            return []
        names = ", ".join(known) or "none"
        hint = f"configured are {names} ([executors.NAME], docs/notifications.md)"
        return [((*self.path, "executor"), f"no executor {name!r} in aifinops.toml: {hint}")]


def _describe(action: Action) -> str:
    """A deferred action in a few words: ``execute stop-ec2-instance``, ``notify``."""
    if isinstance(action, Execute):
        return f"execute {action.data['executor']}"
    return str(action.data["type"])


def identity(kind: type[ResourceKind], resource: Resource) -> dict[str, Any]:
    """What an executor is told about the resource: the fields that name it (``kind``, ``id``,
    ``name`` and the kind's ``identity``), never measured figures, so a request stays the same
    request (same idempotency fingerprint) however the figures move."""
    names = ("id", "name", *kind.identity)
    return {"kind": resource.kind} | {n: resource.data.get(n) for n in names}


@actions.register("mark")
class MarkFor(Action):
    """Mark the resource for a later action: the owner is told now (``notify``: channels, title,
    template), and the actions under ``then`` run on the first run ``days`` after marking if the
    resource still matches. A marked resource that stops matching is unmarked.

    Example::

        - type: mark
          days: 2
          op: stop
          notify:
            channels: [email-owners]
          then:
            - type: execute
              executor: stop-ec2-instance
              op: stop
    """

    schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "days": {"type": "integer", "minimum": 0},
            "op": {"type": "string", "minLength": 1},
            "notify": NOTICE,
            "then": {"type": "array", "items": {"$ref": "#/$defs/action"}, "minItems": 1},
        },
        "required": ["days", "then"],
    }

    def __init__(self, data: dict[str, Any], path: tuple[str | int, ...]) -> None:
        from aifinops.policy.policies import make_action

        super().__init__(data, path)
        self.then = [make_action(a, (*path, "then", i)) for i, a in enumerate(data["then"])]

    def apply(self, run: Run, decision: Decision, period: str | None = None) -> list[Outcome]:
        mark = run.mark_of(decision.resource)
        today = run.ctx.as_of
        if mark is None:
            return self._mark(run, decision)
        if mark.status == ACTED:
            return [self._note(run, decision, SKIPPED, f"acted on {mark.acted_on}; nothing more")]
        if today < mark.due:
            return [self._note(run, decision, WAITING, f"marked {mark.marked_on}, due {mark.due}")]
        return self._act(run, decision, mark)

    def _note(self, run: Run, decision: Decision, status: str, text: str) -> Outcome:
        assert run.policy is not None
        return run.record(Outcome(run.policy.name, decision.resource.id, "mark", status, text))

    def _mark(self, run: Run, decision: Decision) -> list[Outcome]:
        policy, resource, today = run.policy, decision.resource, run.ctx.as_of
        assert policy is not None
        op = self.data.get("op", ", ".join(a.data["type"] for a in self.then))
        due = today + timedelta(days=int(self.data["days"]))
        mark = Mark(policy.name, policy.resource, resource.id, resource.name, resource.owner,
                    today, due, op)  # fmt: skip
        status = DONE if run.acting else PLANNED
        verb = "marked" if run.acting else "would mark"
        then = "; ".join(_describe(a) for a in self.then)
        out = [self._note(run, decision, status, f"{verb} for {op} on {due} (then: {then})")]
        if run.acting:
            run.marks[mark.key] = mark
        notice = dict(self.data.get("notify") or {})
        text = ("{resource.name} matches policy {policy.name} ({reasons}). Unless that changes, "
                "{mark.op} follows on or after {mark.due} ({mark.days} days' grace).")  # fmt: skip
        key = action_key(policy, resource, self.path, f"mark-{today.isoformat()}")
        alert = make_alert(run, decision, notice, key, default_text=text, mark=mark)
        return [*out, send(run, alert, notice.get("channels"), "notify owner")]

    def _act(self, run: Run, decision: Decision, mark: Mark) -> list[Outcome]:
        period = f"mark-{mark.marked_on.isoformat()}"
        out: list[Outcome] = []
        for action in self.then:
            out += action.apply(run, decision, period)
        if run.acting and all(o.status in (DONE, SKIPPED) for o in out):
            mark.status, mark.acted_on = ACTED, run.ctx.as_of
        elif run.acting:
            mark.status = PENDING  # a failure: tried again next run (same idempotency keys)
        return out

    def problems(self, kind: type[ResourceKind], run_settings: Any) -> Problems:
        notice = self.data.get("notify") or {}
        out = channel_problems(notice.get("channels", []), run_settings,
                               (*self.path, "notify", "channels"))  # fmt: skip
        for name in ("title", "template"):
            if name in notice:
                out += template_problems(kind, notice[name], (*self.path, "notify", name))
        for action in self.then:
            if isinstance(action, MarkFor):
                out.append((action.path, "a mark inside a mark: put the actions under one mark"))
            out += action.problems(kind, run_settings)
        return out
