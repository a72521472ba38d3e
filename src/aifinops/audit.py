"""The audit log: every governance decision and action, one JSON object a line, never rewritten.

``audit.jsonl`` in the workspace folder. Each event has ``at`` (UTC, ISO 8601), ``kind`` (e.g.
``notify.sent``, ``execute.attempt``, ``policy.decision``), ``actor`` (who ran it), ``dry_run``, and
its own fields. Appends hold a lock and are fsync'd, so concurrent processes never interleave and a
power cut loses at most the event being written. A line that cannot be read is reported with its
line number: nothing is skipped silently.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import getpass
import json
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from aifinops.errors import QueryError
from aifinops.notify.files import append_lines, locked

AUDIT_FILE = "audit.jsonl"
_RESERVED = ("at", "kind", "actor", "dry_run")


class AuditLogError(QueryError):
    """A line of the audit log cannot be read."""


@dataclass(frozen=True)
class AuditEvent:
    line: int
    at: datetime
    kind: str
    actor: str
    dry_run: bool
    fields: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "at": _timestamp(self.at),
            "kind": self.kind,
            "actor": self.actor,
            "dry_run": self.dry_run,
            **self.fields,
        }


@dataclass(frozen=True)
class CorruptLine:
    line: int
    text: str
    error: str

    def describe(self, path: Path) -> str:
        return f"{path}:{self.line}: {self.error}: {self.text[:120]!r}"


def default_actor() -> str:
    """``user@host`` of this process."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


class AuditLog:
    """The workspace's append-only audit log."""

    def __init__(self, ws_path: Path | str, *, actor: str | None = None) -> None:
        self.path = Path(ws_path) / AUDIT_FILE
        self.actor = actor or default_actor()

    @property
    def _lock(self) -> Path:
        return self.path.with_name(f".{AUDIT_FILE}.lock")

    def record(
        self, kind: str, *, dry_run: bool = False, actor: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Append one event; returns it as written."""
        event = self.event(kind, dry_run=dry_run, actor=actor, **fields)
        with locked(self._lock):
            append_lines(self.path, [event])
        return event

    def record_many(self, events: Iterable[dict[str, Any]]) -> None:
        """Append events made by :meth:`event` in one write (one lock, one fsync)."""
        events = list(events)
        if events:
            with locked(self._lock):
                append_lines(self.path, events)

    def event(
        self, kind: str, *, dry_run: bool = False, actor: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """An event as it is written, stamped now."""
        clash = [name for name in fields if name in _RESERVED]
        if clash:
            raise ValueError(f"audit field names {clash} are reserved")
        return {
            "at": _timestamp(datetime.now(UTC)),
            "kind": kind,
            "actor": actor or self.actor,
            "dry_run": dry_run,
            **{name: jsonable(value) for name, value in fields.items()},
        }

    def scan(
        self,
        *,
        since: datetime | date | None = None,
        kind: str | None = None,
        limit: int | None = None,
    ) -> tuple[list[AuditEvent], list[CorruptLine]]:
        """Events matching the filters (the last ``limit`` of them, oldest first), and every line
        that could not be read."""
        items, _, _ = self.tail(0, 1)
        corrupt = [item for item in items if isinstance(item, CorruptLine)]
        events = [
            item for item in items if isinstance(item, AuditEvent) and matches(item, since, kind)
        ]
        return (events[-limit:] if limit else events), corrupt

    def read(
        self,
        *,
        since: datetime | date | None = None,
        kind: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        """Like :meth:`scan`, but a corrupt line is an error naming its line number."""
        events, corrupt = self.scan(since=since, kind=kind, limit=limit)
        if corrupt:
            bad = corrupt[0]
            raise AuditLogError(
                f"{bad.error}: {bad.text[:120]!r}"
                + (f" (and {len(corrupt) - 1} more bad lines)" if len(corrupt) > 1 else ""),
                where=f"{self.path}:{bad.line}",
                hint="the log is append-only: move the bad line out by hand and keep a copy",
            )
        return events

    def tail(self, offset: int, line: int) -> tuple[list[AuditEvent | CorruptLine], int, int]:
        """Complete lines from byte ``offset`` (line number ``line``): the items, the next offset
        and the next line number. A last line still being written is left for the next call."""
        if not self.path.exists():
            return [], offset, line
        with self.path.open("rb") as log:
            log.seek(offset)
            data = log.read()
        end = data.rfind(b"\n") + 1
        items: list[AuditEvent | CorruptLine] = []
        for number, raw in enumerate(data[:end].split(b"\n")[:-1], start=line):
            if raw.strip():
                items.append(parse_line(raw, number))
        return items, offset + end, line + data[:end].count(b"\n")


def parse_line(raw: bytes, number: int) -> AuditEvent | CorruptLine:
    text = raw.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return CorruptLine(number, text, f"not JSON ({exc.msg})")
    if not isinstance(data, dict):
        return CorruptLine(number, text, "not a JSON object")
    missing = [name for name in _RESERVED if name not in data]
    if missing:
        return CorruptLine(number, text, f"missing {', '.join(missing)}")
    try:
        at = datetime.fromisoformat(str(data.pop("at")).replace("Z", "+00:00"))
    except ValueError:
        return CorruptLine(number, text, "bad timestamp")
    kind, actor, dry_run = str(data.pop("kind")), str(data.pop("actor")), data.pop("dry_run")
    return AuditEvent(number, at, kind, actor, bool(dry_run), data)


def matches(event: AuditEvent, since: datetime | date | None, kind: str | None) -> bool:
    """``kind`` is a glob or a prefix (``notify`` matches ``notify.sent``)."""
    if kind and not (
        fnmatch.fnmatchcase(event.kind, kind) or event.kind.startswith(kind.rstrip(".") + ".")
    ):
        return False
    if since is None:
        return True
    if not isinstance(since, datetime):
        since = datetime(since.year, since.month, since.day, tzinfo=UTC)
    return event.at >= since


_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime) -> datetime:
    """``--since``: a date (2026-10-20), a UTC time (2026-10-20T08:00) or an age (30m, 24h, 7d)."""
    duration = _DURATION.match(text.strip().lower())
    if duration:
        return now - timedelta(**{_UNITS[duration[2]]: int(duration[1])})
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(
            f"--since {text!r} is not a date, time or age",
            hint="use 2026-10-20, 2026-10-20T08:00, 30m, 24h or 7d",
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def jsonable(value: Any) -> Any:
    """A JSON value for an audit field: exact decimals as strings, ISO dates, enum values."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return _timestamp(value)
    if isinstance(value, (date, Path)):
        return str(value)
    if isinstance(value, Enum):
        return jsonable(value.value)
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return jsonable(to_json())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return str(value)


def _timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
