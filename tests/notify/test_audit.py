from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from aifinops.audit import AuditLog, AuditLogError, CorruptLine, parse_since
from aifinops.errors import QueryError


def test_events_are_written_one_a_line_and_read_back(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, actor="ana@ops")
    before = datetime.now(UTC)
    log.record("policy.decision", policy="idle-gpus", resource="i-1", decision="stop")
    log.record("execute.result", dry_run=True, cost=Decimal("412.50"), day=date(2026, 10, 20))

    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["at"].endswith("Z") and first["kind"] == "policy.decision"
    assert (first["actor"], first["dry_run"], first["decision"]) == ("ana@ops", False, "stop")
    assert json.loads(lines[1])["cost"] == "412.50"  # exact money: a string, not a float

    events = log.read()
    assert [(e.line, e.kind, e.dry_run) for e in events] == [
        (1, "policy.decision", False),
        (2, "execute.result", True),
    ]
    assert events[0].at >= before.replace(microsecond=0) and events[0].at.tzinfo is not None
    assert events[1].fields == {"cost": "412.50", "day": "2026-10-20"}


def test_read_filters_by_kind_time_and_limit(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, actor="a")
    for kind in ["notify.sent", "notify.failed", "execute.result", "notify.sent"]:
        log.record(kind)
    assert [e.line for e in log.read(kind="notify")] == [1, 2, 4]
    assert [e.line for e in log.read(kind="notify.sent")] == [1, 4]
    assert [e.line for e in log.read(kind="*.result")] == [3]
    assert [e.line for e in log.read(limit=2)] == [3, 4]
    assert log.read(since=datetime.now(UTC) + timedelta(seconds=1)) == []
    assert len(log.read(since=date.today() - timedelta(days=1))) == 4


def test_a_corrupt_line_is_reported_with_its_line_number(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, actor="a")
    log.record("notify.sent")
    with (tmp_path / "audit.jsonl").open("a") as out:
        out.write('{"kind": "x"}\n')
        out.write("garbage\n")
    log.record("notify.failed")

    events, corrupt = log.scan()
    assert [e.line for e in events] == [1, 4]
    assert corrupt == [
        CorruptLine(2, '{"kind": "x"}', "missing at, actor, dry_run"),
        CorruptLine(3, "garbage", "not JSON (Expecting value)"),
    ]
    with pytest.raises(AuditLogError, match=r"audit.jsonl:2: missing at, actor, dry_run") as exc:
        log.read()
    assert "(and 1 more bad lines)" in exc.value.message


def test_a_torn_last_line_does_not_swallow_the_next_event(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, actor="a")
    log.record("one")
    with (tmp_path / "audit.jsonl").open("a") as out:
        out.write('{"at": "2026-10-20T00:00:00Z", "ki')  # a crash mid-write
    log.record("two")
    events, corrupt = log.scan()
    assert [(e.line, e.kind) for e in events] == [(1, "one"), (3, "two")]
    assert [c.line for c in corrupt] == [2]


def test_concurrent_appends_never_interleave(tmp_path: Path) -> None:
    def write(n: int) -> None:
        log = AuditLog(tmp_path, actor=f"t{n}")
        for i in range(50):
            log.record("load", writer=n, i=i, padding="x" * 2000)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    events = AuditLog(tmp_path).read()
    assert len(events) == 200
    assert sorted((e.fields["writer"], e.fields["i"]) for e in events) == [
        (n, i) for n in range(4) for i in range(50)
    ]


def test_tail_returns_only_complete_new_lines(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, actor="a")
    log.record("one")
    items, offset, line = log.tail(0, 1)
    assert [i.kind for i in items if not isinstance(i, CorruptLine)] == ["one"] and line == 2
    with (tmp_path / "audit.jsonl").open("a") as out:
        out.write('{"at": "2026-10-20T00:00:00Z", "kind": "two", "actor": "a", "dry_run": false}')
    assert log.tail(offset, line)[0] == []  # still being written
    with (tmp_path / "audit.jsonl").open("a") as out:
        out.write("\n")
    items, _, _ = log.tail(offset, line)
    assert [(i.line, i.kind) for i in items if not isinstance(i, CorruptLine)] == [(2, "two")]


def test_since_takes_a_date_a_time_or_an_age() -> None:
    now = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
    assert parse_since("24h", now) == datetime(2026, 10, 19, 12, 0, tzinfo=UTC)
    assert parse_since("7d", now) == datetime(2026, 10, 13, 12, 0, tzinfo=UTC)
    assert parse_since("2026-10-01", now) == datetime(2026, 10, 1, tzinfo=UTC)
    assert parse_since("2026-10-01T08:30", now) == datetime(2026, 10, 1, 8, 30, tzinfo=UTC)
    with pytest.raises(QueryError, match="--since 'soon' is not a date, time or age"):
        parse_since("soon", now)


def test_reserved_field_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="reserved"):
        AuditLog(tmp_path).record("x", at="now")


def test_many_events_are_written_in_one_append(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, actor="a")
    log.record_many([log.event("one", n=1), log.event("two", dry_run=True, n=2)])
    log.record_many([])
    assert [(e.line, e.kind, e.dry_run, e.fields) for e in log.read()] == [
        (1, "one", False, {"n": 1}),
        (2, "two", True, {"n": 2}),
    ]
