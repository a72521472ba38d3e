"""execute(): the command and webhook executors, dry runs, retries, idempotency, the audit log."""

from __future__ import annotations

import hashlib
import hmac
import json
import shlex
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aifinops.audit import AuditLog
from aifinops.config import Settings
from aifinops.errors import ConfigError, QueryError
from aifinops.notify import ActionRequest, ExecutionStatus, execute
from tests.notify.servers import HttpServer

FAST = {"attempts": 3, "backoff_seconds": 0.001, "max_backoff_seconds": 0.005}

#: Appends its argv, working folder and idempotency key to $OUT, one JSON line a run; fails
#: (exit 3) while $FAILS names a file holding a count above zero, counting it down.
SCRIPT = """\
import json, os, sys
fails = os.environ.get("FAILS")
if fails and int(open(fails).read()) > 0:
    n = int(open(fails).read())
    open(fails, "w").write(str(n - 1))
    print("not yet", file=sys.stderr)
    sys.exit(3)
with open(os.environ["OUT"], "a") as out:
    out.write(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(),
                          "key": os.environ["AIFINOPS_IDEMPOTENCY_KEY"]}) + "\\n")
print("stopped", sys.argv[-1])
"""


def stop_request(**changes: Any) -> ActionRequest:
    values: dict[str, Any] = {
        "idempotency_key": "stop-idle:i-0abc:2026-10-20",
        "action": "stop",
        "resource": {"id": "i-0abc; rm -rf /", "region": "eu-west-1", "labels": {"team": "ml"}},
        "params": {"reason": "idle for 3 days", "cost": Decimal("412.50")},
    }
    return ActionRequest(**(values | changes))


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "record_argv.py"
    path.write_text(SCRIPT)
    return path


def command_settings(script: Path, out: Path, **changes: Any) -> Settings:
    executor = {
        "type": "command",
        "argv": [sys.executable, str(script), "--id", "{resource.id}", "{reason}",
                 "--team={resource.labels.team}", "{{literal}}", "{params.cost}"],
        "env": {"OUT": str(out)},
        **FAST,
        **changes,
    }  # fmt: skip
    return Settings.model_validate({"executors": {"stop": executor}})


def runs(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def test_the_command_gets_its_argv_exactly_with_no_shell(tmp_path: Path, script: Path) -> None:
    out = tmp_path / "runs.jsonl"
    result = execute(tmp_path, command_settings(script, out), "stop", stop_request(), dry_run=False)

    expected = ["--id", "i-0abc; rm -rf /", "idle for 3 days", "--team=ml", "{literal}", "412.50"]
    assert runs(out) == [
        {"argv": expected, "cwd": str(tmp_path), "key": "stop-idle:i-0abc:2026-10-20"}
    ]
    assert (result.status, result.attempts, result.code) == (ExecutionStatus.DONE, 1, 0)
    assert result.output == "stopped 412.50\n"
    assert result.argv == (sys.executable, str(script), *expected)


def test_a_dry_run_says_what_would_run_and_runs_nothing(tmp_path: Path, script: Path) -> None:
    out = tmp_path / "runs.jsonl"
    settings = command_settings(script, out)
    result = execute(tmp_path, settings, "stop", stop_request(), dry_run=True)

    assert runs(out) == []
    assert result.status is ExecutionStatus.PLANNED and result.dry_run
    argv = [sys.executable, str(script), "--id", "i-0abc; rm -rf /", "idle for 3 days",
            "--team=ml", "{literal}", "412.50"]  # fmt: skip
    assert result.plan.startswith(f"run {shlex.join(argv)} in {tmp_path} (no shell; timeout 60 s")
    (event,) = AuditLog(tmp_path).read()
    assert (event.kind, event.dry_run, event.fields["plan"]) == ("execute.plan", True, result.plan)
    assert event.fields["params"] == {"reason": "idle for 3 days", "cost": "412.50"}


def test_an_idempotency_key_that_succeeded_is_not_run_again(tmp_path: Path, script: Path) -> None:
    out = tmp_path / "runs.jsonl"
    settings = command_settings(script, out)
    first = execute(tmp_path, settings, "stop", stop_request(), dry_run=False)
    again = execute(tmp_path, settings, "stop", stop_request(), dry_run=False)
    assert len(runs(out)) == 1
    assert again.replayed and not first.replayed
    assert (again.status, again.output, again.finished_at) == (
        first.status,
        first.output,
        first.finished_at,
    )
    planned = execute(tmp_path, settings, "stop", stop_request(), dry_run=True)
    assert planned.plan.startswith(f"nothing: already done at {first.finished_at}")
    kinds = [e.kind for e in AuditLog(tmp_path).read(kind="execute")]
    assert kinds == [
        "execute.attempt", "execute.result", "execute.replayed", "execute.plan",
    ]  # fmt: skip


def test_a_key_reused_for_another_request_is_an_error(tmp_path: Path, script: Path) -> None:
    out = tmp_path / "runs.jsonl"
    settings = command_settings(script, out)
    execute(tmp_path, settings, "stop", stop_request(), dry_run=False)
    other = stop_request(resource={"id": "i-0def", "region": "eu-west-1", "labels": {"team": "ml"}})
    with pytest.raises(QueryError, match="already did another request"):
        execute(tmp_path, settings, "stop", other, dry_run=False)
    assert len(runs(out)) == 1


def test_failures_are_retried_and_every_try_is_audited(tmp_path: Path, script: Path) -> None:
    out, fails = tmp_path / "runs.jsonl", tmp_path / "fails"
    fails.write_text("2")
    settings = command_settings(script, out, env={"OUT": str(out), "FAILS": str(fails)})
    result = execute(tmp_path, settings, "stop", stop_request(), dry_run=False)
    assert (result.status, result.attempts) == (ExecutionStatus.DONE, 3)
    assert len(runs(out)) == 1
    tries = AuditLog(tmp_path).read(kind="execute.attempt")
    assert [(e.fields["attempt"], e.fields["ok"], e.fields.get("code")) for e in tries] == [
        (1, False, 3),
        (2, False, 3),
        (3, True, None),
    ]
    assert tries[0].fields["error"] == "exit code 3: not yet"


def test_a_command_failing_every_try_fails_and_may_run_again_later(
    tmp_path: Path, script: Path
) -> None:
    out, fails = tmp_path / "runs.jsonl", tmp_path / "fails"
    fails.write_text("5")
    settings = command_settings(script, out, env={"OUT": str(out), "FAILS": str(fails)})
    result = execute(tmp_path, settings, "stop", stop_request(), dry_run=False)
    assert (result.status, result.attempts, result.code) == (ExecutionStatus.FAILED, 3, 3)
    assert result.error == "exit code 3: not yet" and result.output == "\n[stderr]\nnot yet\n"
    assert not result.ok
    # Not recorded as done: the next run tries again (and now succeeds on its third try).
    assert execute(tmp_path, settings, "stop", stop_request(), dry_run=False).ok
    assert len(runs(out)) == 1


def test_a_missing_placeholder_is_an_error_before_anything_runs(
    tmp_path: Path, script: Path
) -> None:
    out = tmp_path / "runs.jsonl"
    settings = command_settings(script, out, argv=[sys.executable, str(script), "{zone}"])
    with pytest.raises(QueryError, match=r"executor stop argv: \{zone\} has no value"):
        execute(tmp_path, settings, "stop", stop_request(), dry_run=True)
    assert AuditLog(tmp_path).read() == [] and runs(out) == []


def test_a_slow_command_is_killed_at_its_timeout(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"executors": {"slow": {
            "type": "command", "argv": [sys.executable, "-c", "import time; time.sleep(5)"],
            "timeout_seconds": 0.3, "attempts": 1,
        }}}
    )  # fmt: skip
    result = execute(tmp_path, settings, "slow", stop_request(), dry_run=False)
    assert (result.status, result.error) == (ExecutionStatus.FAILED, "killed after 0.3 s")


def test_a_timeout_kills_the_children_too(tmp_path: Path) -> None:
    spawn = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); time.sleep(30)"
    )
    settings = Settings.model_validate(
        {"executors": {"slow": {"type": "command", "argv": [sys.executable, "-c", spawn],
                                "timeout_seconds": 0.5, "attempts": 1}}}
    )  # fmt: skip
    started = time.monotonic()
    result = execute(tmp_path, settings, "slow", stop_request(), dry_run=False)
    # The grandchild holds the output pipes: had it lived, this would wait 30 s.
    assert time.monotonic() - started < 10
    assert result.error == "killed after 0.5 s"


def test_a_missing_program_is_not_retried(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"executors": {"x": {"type": "command", "argv": ["/no/such/program"], **FAST}}}
    )
    result = execute(tmp_path, settings, "x", stop_request(), dry_run=False)
    assert (result.attempts, result.error) == (1, "program '/no/such/program' not found")


def test_an_unknown_executor_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown executor stop \(configured: none\)"):
        execute(tmp_path, Settings(), "stop", stop_request(), dry_run=True)


def webhook_settings(url: str, **changes: Any) -> Settings:
    executor = {"type": "webhook", "url": url, **FAST, **changes}
    return Settings.model_validate({"executors": {"scale": executor}})


def test_the_webhook_executor_posts_the_request_with_its_key(
    tmp_path: Path, http: HttpServer
) -> None:
    settings = webhook_settings(http.url, secret_env="EXEC_SECRET")
    request = stop_request(action="scale", params={"replicas": 0})
    result = execute(
        tmp_path, settings, "scale", request, dry_run=False, environ={"EXEC_SECRET": "k"}
    )
    assert (result.status, result.code, result.output) == (ExecutionStatus.DONE, 200, "ok")
    (received,) = http.recorder.requests
    assert received.json() == {
        "executor": "scale", "idempotency_key": "stop-idle:i-0abc:2026-10-20", "action": "scale",
        "resource": {"id": "i-0abc; rm -rf /", "region": "eu-west-1", "labels": {"team": "ml"}},
        "params": {"replicas": 0},
    }  # fmt: skip
    headers = {k.lower(): v for k, v in received.headers.items()}
    assert headers["idempotency-key"] == "stop-idle:i-0abc:2026-10-20"
    signed = headers["x-aifinops-timestamp"].encode() + b"." + received.body
    assert headers["x-aifinops-signature"] == (
        "sha256=" + hmac.new(b"k", signed, hashlib.sha256).hexdigest()
    )


def test_a_webhook_400_fails_without_retry(tmp_path: Path, http: HttpServer) -> None:
    http.recorder.fail(1, status=400)
    result = execute(tmp_path, webhook_settings(http.url), "scale", stop_request(), dry_run=False)
    assert (result.status, result.attempts, result.code) == (ExecutionStatus.FAILED, 1, 400)
    assert result.error == "HTTP 400 Bad Request: no"
    assert len(http.recorder.requests) == 1


@pytest.mark.parametrize("status", [503, 429, 408])
def test_a_webhook_503_429_or_408_is_retried_with_the_same_key(
    tmp_path: Path, http: HttpServer, status: int
) -> None:
    http.recorder.fail(2, status=status)
    result = execute(tmp_path, webhook_settings(http.url), "scale", stop_request(), dry_run=False)
    assert (result.status, result.attempts) == (ExecutionStatus.DONE, 3)
    keys = {r.headers["Idempotency-Key"] for r in http.recorder.requests}
    assert keys == {"stop-idle:i-0abc:2026-10-20"} and len(http.recorder.requests) == 3


def test_a_webhook_dry_run_shows_the_call_and_sends_nothing(
    tmp_path: Path, http: HttpServer
) -> None:
    result = execute(tmp_path, webhook_settings(http.url), "scale", stop_request(), dry_run=True)
    assert result.plan.startswith(
        f"POST {http.url} (Idempotency-Key: stop-idle:i-0abc:2026-10-20; timeout 60 s) "
        '{"action":"stop","executor":"scale"'
    )
    assert http.recorder.requests == []


def test_a_secret_url_is_not_shown_in_the_plan(tmp_path: Path, http: HttpServer) -> None:
    settings = Settings.model_validate(
        {"executors": {"scale": {"type": "webhook", "url_env": "SCALE_URL"}}}
    )
    secret_url = http.url + "/T0KEN"
    result = execute(
        tmp_path, settings, "scale", stop_request(), dry_run=True, environ={"SCALE_URL": secret_url}
    )
    assert "T0KEN" not in result.plan
    assert result.plan.startswith(f"POST http://127.0.0.1:{http.port}/... (from $SCALE_URL)")
