"""deliver(): channels against real local servers, the outbox, retries, deduplication."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from aifinops.audit import AuditLog
from aifinops.errors import ConfigError
from aifinops.notify import DeliveryStatus, deliver, pending, retry
from aifinops.notify.channels import slack_payload
from tests.notify.conftest import budget_alert, notify_settings
from tests.notify.servers import HttpServer, free_port


def test_webhook_posts_the_alert_as_json_signed_with_hmac_sha256(
    tmp_path: Path, http: HttpServer
) -> None:
    settings = notify_settings(
        {"ops": {"type": "webhook", "url": http.url, "secret_env": "HOOK_SECRET",
                 "headers": {"X-Team": "finops"}}}
    )  # fmt: skip
    alert = budget_alert()
    report = deliver(tmp_path, settings, [alert], environ={"HOOK_SECRET": "s3cret"})

    assert [(d.key, d.channel, d.status, d.attempts) for d in report.sent] == [
        (alert.key, "ops", DeliveryStatus.SENT, 1)
    ]
    (request,) = http.recorder.requests
    assert request.json() == {
        "key": "budget:research:2026-10:80", "kind": "budget.threshold", "severity": "warning",
        "title": "research-monthly passed 80% of its budget",
        "text": "Spend 3,250.40 USD of 4,000.00 USD with 11 days left.",
        "fields": {"budget": "research-monthly", "period": "2026-10"}, "scope": "team=research",
        "amount": "3250.40", "currency": "USD", "owner": "research-lead@example.com",
    }  # fmt: skip
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["x-team"] == "finops"
    assert headers["idempotency-key"] == hashlib.sha256(alert.key.encode()).hexdigest()[:32]
    signed = headers["x-aifinops-timestamp"].encode() + b"." + request.body
    expected = hmac.new(b"s3cret", signed, hashlib.sha256).hexdigest()
    assert headers["x-aifinops-signature"] == f"sha256={expected}"


def test_slack_gets_text_and_blocks_with_the_severity(tmp_path: Path, http: HttpServer) -> None:
    settings = notify_settings({"slack": {"type": "slack", "url_env": "SLACK_URL"}})
    alert = budget_alert(severity="critical", text="Ping <!channel> & see <http://x|this>")
    deliver(tmp_path, settings, [alert], environ={"SLACK_URL": http.url})

    (request,) = http.recorder.requests
    payload = request.json()
    assert payload == slack_payload(alert)
    assert payload["text"] == (
        ":rotating_light: [CRITICAL] research-monthly passed 80% of its budget"
    )
    header, text, fields, context = payload["blocks"]
    assert header == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": "CRITICAL: research-monthly passed 80% of its budget",
        },
    }
    # User text cannot ping @channel or forge a link: Slack's control characters are escaped.
    assert text["text"]["text"] == "Ping &lt;!channel&gt; &amp; see &lt;http://x|this&gt;"
    assert [cell["text"] for cell in fields["fields"]] == [
        "*Severity*\nCRITICAL", "*Kind*\nbudget.threshold", "*Scope*\nteam=research",
        "*Amount*\n3,250.40 USD", "*Owner*\nresearch-lead@example.com",
        "*budget*\nresearch-monthly", "*period*\n2026-10",
    ]  # fmt: skip
    assert context["type"] == "context"


def test_a_secret_named_but_not_set_fails_and_the_alert_waits(
    tmp_path: Path, http: HttpServer
) -> None:
    settings = notify_settings({"slack": {"type": "slack", "url_env": "SLACK_URL"}})
    report = deliver(tmp_path, settings, [budget_alert()], environ={})
    (failure,) = report.failed
    assert failure.detail == "environment variable SLACK_URL (url_env) is not set"
    assert failure.attempts == 1  # not worth retrying
    assert [e.alert.key for e in pending(tmp_path)] == [budget_alert().key]
    report = retry(tmp_path, settings, environ={"SLACK_URL": http.url})
    assert [d.channel for d in report.sent] == ["slack"]
    assert len(http.recorder.requests) == 1


def test_two_failures_then_success_is_sent_on_the_third_try(
    tmp_path: Path, http: HttpServer
) -> None:
    http.recorder.fail(2, status=503)
    settings = notify_settings({"ops": {"type": "webhook", "url": http.url}})
    report = deliver(tmp_path, settings, [budget_alert()])
    assert [(d.status, d.attempts) for d in report.sent] == [(DeliveryStatus.SENT, 3)]
    assert [r.status for r in http.recorder.requests] == [503, 503, 200]
    assert pending(tmp_path) == []


def test_a_hanging_server_times_out_and_is_retried(tmp_path: Path, http: HttpServer) -> None:
    http.recorder.answers = ["hang"]
    http.recorder.hang_seconds = 0.5
    settings = notify_settings(
        {"ops": {"type": "webhook", "url": http.url, "timeout_seconds": 0.1}}
    )
    report = deliver(tmp_path, settings, [budget_alert()])
    assert [(d.status, d.attempts) for d in report.sent] == [(DeliveryStatus.SENT, 2)]


def test_a_400_is_not_retried_and_the_alert_is_kept(tmp_path: Path, http: HttpServer) -> None:
    http.recorder.fail(1, status=400)
    settings = notify_settings({"ops": {"type": "webhook", "url": http.url}})
    first, second = budget_alert(), budget_alert(key="budget:infra:2026-10:80")
    report = deliver(tmp_path, settings, [first, second])
    (failure,) = report.failed
    assert (failure.key, failure.attempts) == (first.key, 1)
    assert failure.detail.startswith("HTTP 400")
    # A 400 says this request is wrong, not that the channel is down: the next alert is tried.
    assert [d.key for d in report.sent] == [second.key]
    assert [e.alert.key for e in pending(tmp_path)] == [first.key]


def test_a_channel_down_for_good_keeps_its_alerts_until_a_later_retry(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"http://127.0.0.1:{port}/hook"
    settings = notify_settings({"ops": {"type": "webhook", "url": url}}, attempts=2)
    first, second = budget_alert(), budget_alert(key="budget:infra:2026-10:80")
    report = deliver(tmp_path, settings, [first, second])

    assert report.sent == [] and not report.ok
    failed = {d.key: d for d in report.failed}
    assert failed[first.key].attempts == 2
    assert failed[first.key].detail.startswith(f"cannot reach http://127.0.0.1:{port}")
    # The channel failed every try: the next alert waits untried instead of timing out too.
    assert failed[second.key].attempts == 0
    assert failed[second.key].detail.startswith("not tried: ops is down")
    queued = pending(tmp_path)
    assert [e.alert for e in queued] == [first, second]
    assert queued[0].pending["ops"].attempts == 2
    assert queued[0].pending["ops"].last_error == failed[first.key].detail

    assert not retry(tmp_path, settings).ok  # still down
    server = HttpServer(port)
    try:
        report = retry(tmp_path, settings)
        assert [(d.key, d.attempts) for d in report.sent] == [(first.key, 5), (second.key, 1)]
        assert [r.json()["key"] for r in server.recorder.requests] == [first.key, second.key]
        assert pending(tmp_path) == []
        assert retry(tmp_path, settings).rows() == []
    finally:
        server.stop()


def test_a_channel_that_just_failed_is_not_tried_again_until_down_seconds_pass(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    settings = notify_settings({"ops": {"type": "webhook", "url": url}}, down_seconds=60)
    first, second = budget_alert(), budget_alert(key="budget:infra:2026-10:80")
    assert deliver(tmp_path, settings, [first]).failed[0].attempts == 3
    server = HttpServer(port)
    try:
        report = deliver(tmp_path, settings, [second])  # within a minute: queued, not tried
        assert [(d.key, d.attempts) for d in report.failed] == [(first.key, 3), (second.key, 0)]
        assert report.failed[1].detail.startswith("not tried: ops has been down since ")
        assert server.recorder.requests == []
        report = retry(tmp_path, settings)  # always tries
        assert [d.key for d in report.sent] == [first.key, second.key]
        # Up again: the next delivery tries it at once.
        third = budget_alert(key="budget:ml:2026-10:80")
        assert [d.key for d in deliver(tmp_path, settings, [third]).sent] == [third.key]
    finally:
        server.stop()
    no_wait = notify_settings({"ops": {"type": "webhook", "url": url}}, down_seconds=0)
    deliver(tmp_path, no_wait, [budget_alert(key="a")])
    report = deliver(tmp_path, no_wait, [budget_alert(key="b")])
    assert [(d.key, d.attempts) for d in report.failed] == [("a", 6), ("b", 0)]


def test_a_rerun_does_not_resend(tmp_path: Path, http: HttpServer) -> None:
    settings = notify_settings({"ops": {"type": "webhook", "url": http.url}})
    deliver(tmp_path, settings, [budget_alert()])
    report = deliver(tmp_path, settings, [budget_alert(text="raised again the next day")])
    assert report.sent == []
    assert [(d.channel, d.status) for d in report.skipped] == [("ops", DeliveryStatus.ALREADY_SENT)]
    assert len(http.recorder.requests) == 1


def test_two_alerts_with_the_same_key_are_one(tmp_path: Path, http: HttpServer) -> None:
    settings = notify_settings({"ops": {"type": "webhook", "url": http.url}})
    first = budget_alert()
    report = deliver(tmp_path, settings, [first, budget_alert(title="other title")])
    assert report.duplicates == [first.key]
    (request,) = http.recorder.requests
    assert request.json()["title"] == first.title


def test_each_channel_gets_an_alert_once_even_when_one_of_them_failed(
    tmp_path: Path, http: HttpServer
) -> None:
    down = f"http://127.0.0.1:{free_port()}/hook"
    settings = notify_settings(
        {"up": {"type": "webhook", "url": http.url}, "down": {"type": "webhook", "url": down}},
        attempts=1,
    )
    report = deliver(tmp_path, settings, [budget_alert()])
    assert ([d.channel for d in report.sent], [d.channel for d in report.failed]) == (
        ["up"],
        ["down"],
    )
    report = retry(tmp_path, settings)
    assert [d.channel for d in report.failed] == ["down"] and report.sent == []
    assert len(http.recorder.requests) == 1


def test_routing_by_kind_and_severity(tmp_path: Path, http: HttpServer) -> None:
    settings = notify_settings(
        {
            "budgets": {"type": "webhook", "url": http.url, "kinds": ["budget.*"]},
            "pager": {"type": "webhook", "url": http.url + "/pager", "min_severity": "critical"},
        }
    )
    budget = budget_alert()
    info = budget_alert(key="anomaly:1", kind="anomaly", severity="info")
    critical = budget_alert(key="anomaly:2", kind="anomaly", severity="critical")
    report = deliver(tmp_path, settings, [budget, info, critical])
    assert sorted((d.key, d.channel) for d in report.sent) == [
        ("anomaly:2", "pager"),
        (budget.key, "budgets"),
    ]
    assert report.unrouted == [info]
    events = AuditLog(tmp_path).read(kind="notify.unrouted")
    assert [e.fields["alert"] for e in events] == [info.to_json()]
    # A channel named by the caller takes the alert whatever its routing.
    report = deliver(tmp_path, settings, [info], channels=["pager"])
    assert [(d.key, d.channel) for d in report.sent] == [("anomaly:1", "pager")]


def test_an_unknown_channel_is_a_config_error(tmp_path: Path) -> None:
    settings = notify_settings({"ops": {"type": "webhook", "url": "http://127.0.0.1:9/"}})
    with pytest.raises(ConfigError, match=r"unknown notification channel slack \(configured: ops"):
        deliver(tmp_path, settings, [budget_alert()], channels=["slack"])


def test_deliveries_are_in_the_audit_log(tmp_path: Path, http: HttpServer) -> None:
    settings = notify_settings({"ops": {"type": "webhook", "url": http.url}})
    deliver(tmp_path, settings, [budget_alert()])
    (event,) = AuditLog(tmp_path).read(kind="notify")
    assert (event.kind, event.fields["key"], event.fields["channel"]) == (
        "notify.sent",
        budget_alert().key,
        "ops",
    )
    assert event.fields["detail"] == "HTTP 200"


def test_an_unreadable_outbox_file_is_reported_and_kept(tmp_path: Path, http: HttpServer) -> None:
    settings = notify_settings({"ops": {"type": "webhook", "url": http.url}})
    bad = tmp_path / "notify" / "outbox" / "0123.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    report = deliver(tmp_path, settings, [budget_alert()])
    assert [d.key for d in report.sent] == [budget_alert().key]
    (failure,) = report.failed
    assert failure.detail.startswith(f"outbox file {bad} cannot be read")
    assert bad.exists()


def test_settings_refuse_a_url_that_is_not_http() -> None:
    with pytest.raises(ValidationError, match="'ftp://x' is not an http"):
        notify_settings({"ops": {"type": "webhook", "url": "ftp://x"}})
    with pytest.raises(ValidationError, match="set exactly one of url and url_env"):
        notify_settings({"ops": {"type": "slack"}})


def test_the_outbox_is_written_before_sending(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}/"
    settings = notify_settings({"ops": {"type": "webhook", "url": down}}, attempts=1)
    deliver(tmp_path, settings, [budget_alert()])
    (path,) = (tmp_path / "notify" / "outbox").glob("*.json")
    saved = json.loads(path.read_text())
    assert saved["alert"] == budget_alert().to_json()
    assert saved["pending"]["ops"]["attempts"] == 1


_CONCURRENT = """
import sys
from pathlib import Path
from aifinops.notify import deliver
from tests.notify.conftest import budget_alert, notify_settings
settings = notify_settings({"ops": {"type": "webhook", "url": sys.argv[2]}})
report = deliver(Path(sys.argv[1]), settings, [budget_alert()])
print(len(report.sent), len(report.skipped))
"""


def test_two_processes_delivering_at_once_send_once(tmp_path: Path, http: HttpServer) -> None:
    http.recorder.answers = ["hang"]  # the first send is slow: the other process must wait
    http.recorder.hang_seconds = 1.0
    script = textwrap.dedent(_CONCURRENT)
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path), http.url],
            cwd=root,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert outputs == ["0 1", "1 0"]
    assert len(http.recorder.requests) == 1
