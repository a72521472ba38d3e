"""Acting on a decision through an executor (``[executors.NAME]``): run a command or call a
webhook, dry-run first, retried, at most once per idempotency key, every try in the audit log.

``<workspace>/executors/done.jsonl`` records each request that succeeded, by idempotency key; a
request whose key is there returns that result and does nothing. A key in use by a running
request is locked (``executors/locks/``), so two processes never act on it at once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aifinops import audit
from aifinops.errors import ConfigError, QueryError
from aifinops.notify.files import append_line, locked

if TYPE_CHECKING:
    from aifinops.config import Settings
    from aifinops.notify.http import SendError
    from aifinops.notify.retry import Outcome
    from aifinops.notify.runners import Done, Plan
    from aifinops.notify.settings import CommandExecutor, WebhookExecutor

EXECUTORS_FOLDER = "executors"


@dataclass(frozen=True)
class ActionRequest:
    """What to do (``action``) to what (``resource``), with ``params``. The idempotency key names
    the request for good: the same key is never acted on twice."""

    idempotency_key: str
    action: str
    resource: Mapping[str, Any]
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        key = self.idempotency_key
        if not key or len(key) > 255 or not key.isascii() or not key.isprintable():
            raise QueryError(
                f"idempotency key {key!r} must be 1-255 printable ASCII characters",
                hint="build it from the policy, resource and period, e.g. stop:i-0abc:2026-10-20",
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "idempotency_key": self.idempotency_key,
            "action": self.action,
            "resource": audit.jsonable(self.resource),
            "params": audit.jsonable(self.params),
        }


class ExecutionStatus(StrEnum):
    DONE = "done"
    FAILED = "failed"
    PLANNED = "planned"  # a dry run: nothing ran


@dataclass(frozen=True)
class ExecutionResult:
    """What happened. ``replayed`` means an earlier success was returned and nothing ran now."""

    executor: str
    idempotency_key: str
    action: str
    status: ExecutionStatus
    dry_run: bool
    plan: str
    attempts: int = 0
    replayed: bool = False
    code: int | None = None  # exit code (command) or HTTP status (webhook) of the last try
    output: str = ""
    error: str | None = None
    finished_at: str | None = None
    argv: tuple[str, ...] | None = None

    @property
    def ok(self) -> bool:
        return self.status is not ExecutionStatus.FAILED

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        data["argv"] = None if self.argv is None else list(self.argv)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExecutionResult:
        values = dict(data)
        values["status"] = ExecutionStatus(values["status"])
        values["argv"] = None if values.get("argv") is None else tuple(values["argv"])
        return cls(**values)


def execute(
    ws_path: Path,
    settings: Settings,
    executor: str,
    request: ActionRequest,
    *,
    dry_run: bool,
    environ: Mapping[str, str] | None = None,
) -> ExecutionResult:
    """Act on ``request`` through ``executor`` (or, with ``dry_run``, say exactly what would run
    and run nothing). Failures are retried per the executor's ``attempts``; a request whose key
    already succeeded returns the recorded result."""
    ws = Path(ws_path)
    env = os.environ if environ is None else environ
    config = _executor(settings, executor)
    run = _Execution(executor, config, request, _plan(executor, config, request, ws, env), env,
                     audit.AuditLog(ws))  # fmt: skip
    store = _Done(ws)
    if dry_run:
        return run.dry_run(store.find(executor, request))
    with locked(store.lock_for(request.idempotency_key)):
        previous = store.find(executor, request)
        if previous is not None:
            run.record("execute.replayed", done_at=previous.finished_at)
            return replace(previous, replayed=True)
        result = run.result(run.run())
        if result.status is ExecutionStatus.DONE:
            store.add(request, _fingerprint(executor, request), result)
    run.record("execute.result", **_outcome_fields(result))
    return result


def _executor(settings: Settings, name: str) -> CommandExecutor | WebhookExecutor:
    executors = settings.executors.named()
    if name not in executors:
        raise ConfigError(
            f"unknown executor {name} (configured: {', '.join(executors) or 'none'})",
            where="aifinops.toml [executors]",
            hint="add an [executors.NAME] table: see docs/notifications.md#executors",
        )
    return executors[name]


def _plan(
    name: str,
    config: CommandExecutor | WebhookExecutor,
    request: ActionRequest,
    ws_path: Path,
    environ: Mapping[str, str],
) -> Plan:
    from aifinops.notify.runners import plan_command, plan_webhook

    if config.type == "command":
        return plan_command(name, config, request, ws_path)
    return plan_webhook(name, config, request, environ)


@dataclass(frozen=True)
class _Execution:
    """One request through one executor, its plan built."""

    executor: str
    config: CommandExecutor | WebhookExecutor
    request: ActionRequest
    plan: Plan
    environ: Mapping[str, str]
    log: audit.AuditLog

    def record(self, kind: str, *, dry_run: bool = False, **fields: Any) -> None:
        request = self.request
        ids: dict[str, Any] = {"executor": self.executor, "key": request.idempotency_key}
        ids |= {"action": request.action, "resource": request.resource, "params": request.params}
        self.log.record(kind, dry_run=dry_run, **ids, **fields)

    def dry_run(self, previous: ExecutionResult | None) -> ExecutionResult:
        text = self.plan.text
        if previous is not None:
            text = f"nothing: already done at {previous.finished_at} (would be {self.plan.text})"
        self.record("execute.plan", dry_run=True, plan=text)
        return ExecutionResult(
            self.executor, self.request.idempotency_key, self.request.action,
            ExecutionStatus.PLANNED, dry_run=True, plan=text, replayed=previous is not None,
            argv=self.plan.argv,
        )  # fmt: skip

    def run(self) -> Outcome[Done]:
        from aifinops.notify.retry import with_retries

        return with_retries(
            self.attempt,
            attempts=self.config.attempts,
            base=self.config.backoff_seconds,
            cap=self.config.max_backoff_seconds,
            on_attempt=self.record_attempt,
        )

    def attempt(self) -> Done:
        from aifinops.notify.runners import run_command, run_webhook

        if self.config.type == "command":
            return run_command(self.plan, self.config, self.environ)
        return run_webhook(self.plan, self.config, self.environ)

    def record_attempt(self, number: int, error: SendError | None) -> None:
        fields: dict[str, Any] = {"attempt": number, "ok": error is None}
        if error is not None:
            fields |= {"error": error.reason, "code": error.status, "retryable": error.retryable}
        self.record("execute.attempt", **fields)

    def result(self, outcome: Outcome[Done]) -> ExecutionResult:
        base = ExecutionResult(
            self.executor, self.request.idempotency_key, self.request.action,
            ExecutionStatus.DONE, dry_run=False, plan=self.plan.text, attempts=outcome.attempts,
            finished_at=_now(), argv=self.plan.argv,
        )  # fmt: skip
        error, done = outcome.error, outcome.value
        if error is not None:
            return replace(
                base, status=ExecutionStatus.FAILED, code=error.status, output=error.output,
                error=error.reason,
            )  # fmt: skip
        if done is None:
            return base
        return replace(base, code=done.code, output=done.output)


class _Done:
    """Requests that succeeded, by idempotency key."""

    def __init__(self, ws_path: Path) -> None:
        self.folder = ws_path / EXECUTORS_FOLDER
        self.log = self.folder / "done.jsonl"

    def lock_for(self, key: str) -> Path:
        return self.folder / "locks" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.lock"

    def find(self, executor: str, request: ActionRequest) -> ExecutionResult | None:
        """The recorded success of this key; an error if the key was used for another request."""
        record = self._records().get(request.idempotency_key)
        if record is None:
            return None
        if record["fingerprint"] != _fingerprint(executor, request):
            raise QueryError(
                f"idempotency key {request.idempotency_key!r} already did another request "
                f"({record['result']['executor']}: {record['result']['plan'][:200]})",
                where=str(self.log),
                hint="a key names one request: build keys from everything that makes it distinct",
            )
        return ExecutionResult.from_json(record["result"])

    def add(self, request: ActionRequest, fingerprint: str, result: ExecutionResult) -> None:
        record = {"key": request.idempotency_key, "fingerprint": fingerprint}
        with locked(self.folder / ".lock"):
            append_line(self.log, record | {"result": result.to_json()})

    def _records(self) -> dict[str, dict[str, Any]]:
        if not self.log.exists():
            return {}
        records = {}
        for number, line in enumerate(self.log.read_text("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                records[str(record["key"])] = record
            except (ValueError, KeyError, TypeError):
                raise QueryError(
                    "a record of a done action cannot be read",
                    where=f"{self.log}:{number}",
                    hint="move the line out by hand (keep a copy); its action may run again",
                ) from None
        return records


def _fingerprint(executor: str, request: ActionRequest) -> str:
    data = {"executor": executor, **request.to_json()}
    del data["idempotency_key"]
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _outcome_fields(result: ExecutionResult) -> dict[str, Any]:
    return {
        "status": result.status,
        "attempts": result.attempts,
        "code": result.code,
        "error": result.error,
        "output": result.output[-1000:],
        "plan": result.plan,
    }


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
