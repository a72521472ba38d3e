"""``aifinops notify`` and ``aifinops audit`` as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from aifinops.audit import AuditLog
from aifinops.notify import deliver, pending
from aifinops.workspace import Workspace
from tests.cli.runner import aifinops_command, output, run_cli
from tests.notify.conftest import budget_alert
from tests.notify.servers import HttpServer, free_port


def workspace(tmp_path: Path, up: str, down: str) -> Path:
    (tmp_path / "aifinops.toml").write_text(
        "[notify]\nattempts = 2\nbackoff_seconds = 0.001\n\n"
        f'[notify.channels.ops]\ntype = "webhook"\nurl = "{up}"\n\n'
        f'[notify.channels.pager]\ntype = "webhook"\nurl = "{down}"\nmin_severity = "critical"\n'
    )
    return tmp_path


def test_notify_test_sends_to_a_channel_and_fails_clearly(tmp_path: Path, http: HttpServer) -> None:
    down = f"http://127.0.0.1:{free_port()}/hook"
    ws = workspace(tmp_path, http.url, down)
    result = run_cli("notify", "test", "ops", "-w", ws, cwd=ws)
    assert result.returncode == 0, output(result)
    (request,) = http.recorder.requests
    assert request.json()["kind"] == "test" and request.json()["title"] == (
        "aifinops test alert for ops"
    )
    assert result.stdout == "sent a test alert to ops: HTTP 200\n"

    result = run_cli("notify", "test", "pager", "-w", ws, cwd=ws)
    assert result.returncode == 1
    assert result.stderr.startswith("failed after 2 tries: cannot reach http://127.0.0.1")
    assert pending(ws) == []  # a failed test is not retried later

    result = run_cli("notify", "test", "nope", "-w", ws, cwd=ws)
    assert result.returncode == 2
    assert "unknown notification channel nope (configured: ops, pager)" in output(result)


def test_outbox_and_retry(tmp_path: Path, http: HttpServer) -> None:
    port = free_port()
    ws = workspace(tmp_path, http.url, f"http://127.0.0.1:{port}/hook")
    alert = budget_alert(severity="critical")
    deliver(ws, Workspace(ws).settings, [alert])

    result = run_cli("notify", "outbox", "-w", ws, cwd=ws)
    assert result.stdout.startswith(f"critical pager          {alert.key}  (queued 20")
    assert f", 2 tries) cannot reach http://127.0.0.1:{port}" in result.stdout
    assert "1 alert(s) wait for 1 delivery(ies)" in result.stdout
    result = run_cli("notify", "retry", "-w", ws, cwd=ws)
    assert result.returncode == 1
    assert result.stdout.startswith(f"failed       pager          {alert.key}  (4 tries) cannot")
    assert "0 sent, 0 already sent, 1 failed (kept in the outbox)" in result.stdout
    server = HttpServer(port)
    try:
        result = run_cli("notify", "retry", "-w", ws, cwd=ws)
        assert result.returncode == 0, output(result)
        assert len(server.recorder.requests) == 1
    finally:
        server.stop()
    assert len(http.recorder.requests) == 1  # ops got it once, in the first delivery


def test_audit_lists_filters_and_reports_corrupt_lines(tmp_path: Path) -> None:
    ws = workspace(tmp_path, "http://127.0.0.1:9/", "http://127.0.0.1:9/")
    log = AuditLog(ws, actor="ana@ops")
    log.record("policy.decision", policy="idle-gpus", decision="stop")
    log.record("execute.plan", dry_run=True, plan="run stop.sh i-1")

    result = run_cli("audit", "--kind", "execute", "--format", "json", "-w", ws, cwd=ws)
    assert result.returncode == 0, output(result)
    (event,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert (event["line"], event["kind"], event["dry_run"], event["plan"]) == (
        2, "execute.plan", True, "run stop.sh i-1",
    )  # fmt: skip

    with (ws / "audit.jsonl").open("a") as out:
        out.write("not json\n")
    result = run_cli("audit", "-w", ws, cwd=ws)
    assert result.returncode == 1
    assert "policy.decision" in result.stdout and "execute.plan" in result.stdout
    assert f"{ws / 'audit.jsonl'}:3: not JSON" in " ".join(result.stderr.split())


def test_audit_follow_prints_new_events_until_interrupted(tmp_path: Path) -> None:
    """``aifinops audit -f``: new events of the kind asked for, as they are written; Ctrl-C
    ends it (exit 0)."""
    ws = workspace(tmp_path, "http://127.0.0.1:9/", "http://127.0.0.1:9/")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIFINOPS_")}
    log = AuditLog(ws, actor="ana@ops")
    command = [*aifinops_command(), "audit", "-f", "--kind", "policy", "-w", str(ws)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as follow:
        try:
            assert follow.stdout is not None
            log.record("policy.decision", policy="idle", matched=True)
            first = follow.stdout.readline()  # listed at the start, or followed
            time.sleep(0.3)
            log.record("notify.sent", key="x")  # another kind: not shown
            log.record("policy.action", policy="idle", action="mark")
            second = follow.stdout.readline()  # followed
        finally:
            follow.send_signal(signal.SIGINT)
        assert follow.wait(timeout=30) == 0
    assert first.endswith("  policy.decision  ana@ops  matched=true  policy=idle\n")
    assert second.endswith("  policy.action  ana@ops  action=mark  policy=idle\n")
