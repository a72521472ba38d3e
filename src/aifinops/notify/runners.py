"""How an executor acts: a plan (exactly what would run, built before anything runs) and one try
of it. ``command`` runs a program without a shell; ``webhook`` POSTs JSON."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import string
import subprocess
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aifinops.errors import ConfigError, QueryError
from aifinops.notify.http import SendError, body_of, post_json, signature_headers
from aifinops.notify.settings import CommandExecutor, WebhookExecutor

if TYPE_CHECKING:
    from aifinops.notify.executors import ActionRequest

_OUTPUT_LIMIT = 4000


@dataclass(frozen=True)
class Plan:
    """What an executor will do for one request. ``text`` is what a dry run shows."""

    text: str
    argv: tuple[str, ...] | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    url: str | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Done:
    """A successful try: the exit code or HTTP status, and what was said."""

    code: int
    output: str


def plan_command(name: str, config: CommandExecutor, request: ActionRequest, ws_path: Path) -> Plan:
    argv = tuple(fill(item, request, f"executor {name} argv") for item in config.argv)
    env = {
        key: fill(value, request, f"executor {name} env.{key}") for key, value in config.env.items()
    }
    env |= {
        "AIFINOPS_IDEMPOTENCY_KEY": request.idempotency_key,
        "AIFINOPS_ACTION": request.action,
        "AIFINOPS_REQUEST": json.dumps(request.to_json(), sort_keys=True),
    }
    cwd = ws_path / config.cwd if config.cwd else ws_path
    if not cwd.is_dir():
        raise ConfigError(f"executor {name}: cwd {cwd} is not a folder", hint="fix its cwd")
    shown = ", ".join(sorted(config.env)) or "none of its own"
    text = (
        f"run {shlex.join(argv)} in {cwd} (no shell; timeout {config.timeout_seconds:g} s; "
        f"environment: {shown} + AIFINOPS_IDEMPOTENCY_KEY, AIFINOPS_ACTION, AIFINOPS_REQUEST)"
    )
    return Plan(text, argv=argv, env=env, cwd=cwd)


def plan_webhook(
    name: str, config: WebhookExecutor, request: ActionRequest, environ: Mapping[str, str]
) -> Plan:
    body = body_of({"executor": name, **request.to_json()})
    headers = {**config.headers, "Idempotency-Key": request.idempotency_key}
    if config.url is not None:
        url, shown = config.url, config.url
    else:
        url = environ.get(config.url_env or "", "")
        if not url:
            raise ConfigError(
                f"executor {name}: environment variable {config.url_env} (url_env) is not set",
                hint="set it to the URL to call",
            )
        shown = f"{_origin(url)}/... (from ${config.url_env})"
    signed = f", signed with ${config.secret_env}" if config.secret_env else ""
    text = (
        f"POST {shown} (Idempotency-Key: {request.idempotency_key}{signed}; timeout "
        f"{config.timeout_seconds:g} s) {body.decode()}"
    )
    return Plan(text, url=url, body=body, headers=headers)


def run_command(plan: Plan, config: CommandExecutor, environ: Mapping[str, str]) -> Done:
    """One try. A non-zero exit or a timeout is worth retrying; a missing program is not."""
    if plan.argv is None:
        raise ValueError("not a command plan")
    try:
        proc = subprocess.Popen(
            plan.argv,
            env={**environ, **plan.env},
            cwd=plan.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: a timeout kills its children too
        )
    except FileNotFoundError:
        raise SendError(f"program {plan.argv[0]!r} not found", retryable=False) from None
    except PermissionError:
        raise SendError(f"program {plan.argv[0]!r} cannot be run", retryable=False) from None
    stdout, stderr, killed = _wait(proc, config.timeout_seconds)
    output = _output(stdout, stderr)
    if killed:
        reason = f"killed after {config.timeout_seconds:g} s"
        raise SendError(reason, retryable=True, output=output)
    if proc.returncode != 0:
        last = output.strip().splitlines()[-1:] or [""]
        reason = f"exit code {proc.returncode}" + (f": {last[0][:300]}" if last[0] else "")
        raise SendError(reason, retryable=True, status=proc.returncode, output=output)
    return Done(0, output)


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> tuple[bytes, bytes, bool]:
    """Its output, and whether it was killed: on timeout the whole process group is, so a
    child left holding the output pipes cannot keep us waiting."""
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        return stdout, stderr, False
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        return stdout, stderr, True


def run_webhook(plan: Plan, config: WebhookExecutor, environ: Mapping[str, str]) -> Done:
    """One try: 2xx is done; 4xx other than 408/429 fails for good; 5xx and timeouts retry."""
    if plan.url is None:
        raise ValueError("not a webhook plan")
    headers = dict(plan.headers)
    if config.secret_env:
        secret = environ.get(config.secret_env)
        if not secret:
            reason = f"environment variable {config.secret_env} (secret_env) is not set"
            raise SendError(reason, retryable=False)
        headers |= signature_headers(secret, plan.body)
    answer = post_json(plan.url, plan.body, headers, config.timeout_seconds)
    return Done(answer.status, answer.body[-_OUTPUT_LIMIT:])


def fill(template: str, request: ActionRequest, where: str) -> str:
    """``template`` with each ``{name}`` replaced from the request: ``{resource.KEY}``,
    ``{params.KEY}``, ``{action}``, ``{idempotency_key}``, or a bare ``{KEY}`` (params, then
    resource). ``{{`` and ``}}`` are literal braces. Nothing is evaluated."""
    out = []
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(
            f"{where}: {template!r}: {exc}", hint="write {{ for a literal {"
        ) from None
    for literal, name, spec, conversion in parts:
        out.append(literal)
        if name is None:
            continue
        if spec or conversion:
            raise ConfigError(f"{where}: {{{name}}} takes no format or conversion")
        out.append(_text(_lookup(name, request, where)))
    return "".join(out)


def _lookup(name: str, request: ActionRequest, where: str) -> Any:
    scopes: dict[str, Any] = {
        "resource": request.resource,
        "params": request.params,
        "action": request.action,
        "idempotency_key": request.idempotency_key,
    }
    head, _, rest = name.partition(".")
    if head in scopes:
        value = _walk(scopes[head], rest)
    else:
        value = _walk(request.params, name)
        if value is None:
            value = _walk(request.resource, name)
    if value is None:
        raise QueryError(
            f"{where}: {{{name}}} has no value in request {request.idempotency_key!r}",
            hint=f"resource has {sorted(request.resource)}, params has {sorted(request.params)}",
        )
    return value


def _walk(value: Any, path: str) -> Any:
    for part in path.split(".") if path else []:
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (Mapping, list, tuple)):
        from aifinops.audit import jsonable

        return json.dumps(jsonable(value), sort_keys=True)
    return str(value)


def _output(stdout: bytes | str | None, stderr: bytes | str | None) -> str:
    def text(data: bytes | str | None) -> str:
        return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")

    out, err = text(stdout), text(stderr)
    combined = out + (f"\n[stderr]\n{err}" if err.strip() else "")
    return combined[-_OUTPUT_LIMIT:]


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
