"""The file channel: each alert one JSON line, once, relative paths inside the workspace."""

from __future__ import annotations

import json
from pathlib import Path

from aifinops.notify import Alert, deliver
from tests.notify.conftest import budget_alert, notify_settings


def test_alerts_are_appended_as_json_lines_once(tmp_path: Path) -> None:
    settings = notify_settings({"inbox": {"type": "file", "path": "alerts/inbox.jsonl"}})
    first, second = budget_alert(), budget_alert("budget:research:2026-10:100")
    report = deliver(tmp_path, settings, [first, second])
    assert [d.channel for d in report.sent] == ["inbox", "inbox"] and report.ok
    deliver(tmp_path, settings, [first])  # already sent: not written again
    lines = (tmp_path / "alerts" / "inbox.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(line)["key"] for line in lines] == [first.key, second.key]
    back = Alert.from_json(json.loads(lines[0]))
    assert back == first and json.loads(lines[0])["amount"] == "3250.40"


def test_an_unwritable_file_fails_and_the_alert_waits(tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file, not a folder", encoding="utf-8")
    settings = notify_settings({"inbox": {"type": "file", "path": "blocked/inbox.jsonl"}})
    report = deliver(tmp_path, settings, [budget_alert()])
    assert not report.ok and "cannot append to" in report.failed[0].detail
    (tmp_path / "blocked").unlink()
    retried = deliver(tmp_path, settings, [], force=True)
    assert [d.key for d in retried.sent] == [budget_alert().key]
