"""Delivering alerts: a durable outbox in the workspace, once per alert and channel, retried.

``<workspace>/notify/``:

- ``outbox/<digest>.json``: an alert and the channels it still has to reach, with the tries so
  far and the last error. Written (fsync'd, atomically renamed) before anything is sent.
- ``sent.jsonl``: one line per (alert key, channel) delivered, fsync'd before the outbox entry is
  updated. What is in it is never sent again to that channel.
- ``.lock``: held for a whole delivery, so two processes never send the same alert twice.

A crash between a server accepting an alert and ``sent.jsonl`` recording it is the one case in
which an alert can reach a channel twice; receivers can drop the repeat by its ``Idempotency-Key``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aifinops import audit
from aifinops.errors import ConfigError
from aifinops.notify.alert import Alert
from aifinops.notify.files import append_line, locked, remove, write_json
from aifinops.notify.report import Delivery, DeliveryReport, DeliveryStatus
from aifinops.notify.settings import Channel, NotifySettings

if TYPE_CHECKING:
    import pyarrow as pa

    from aifinops.config import Settings
    from aifinops.notify.http import SendError
    from aifinops.notify.retry import Outcome

NOTIFY_FOLDER = "notify"


@dataclass
class ChannelState:
    """Where one alert stands with one channel it has not reached yet."""

    attempts: int = 0
    last_error: str | None = None
    last_try: str | None = None


@dataclass
class Entry:
    """An alert in the outbox."""

    alert: Alert
    queued_at: str
    pending: dict[str, ChannelState] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "alert": self.alert.to_json(),
            "queued_at": self.queued_at,
            "pending": {name: vars(state) for name, state in self.pending.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Entry:
        pending = {name: ChannelState(**state) for name, state in data["pending"].items()}
        return cls(Alert.from_json(data["alert"]), str(data["queued_at"]), pending)


class Outbox:
    """The files of ``<workspace>/notify``."""

    def __init__(self, ws_path: Path | str) -> None:
        self.folder = Path(ws_path) / NOTIFY_FOLDER
        self.entries_folder = self.folder / "outbox"
        self.sent_log = self.folder / "sent.jsonl"
        self.lock = self.folder / ".lock"
        self.health_file = self.folder / "down.json"

    def path_of(self, alert: Alert) -> Path:
        return self.entries_folder / f"{alert.digest}.json"

    def load(self) -> tuple[list[Entry], list[Delivery]]:
        """Entries, oldest first, and a failure for each file that cannot be read (kept)."""
        entries, bad = [], []
        for path in sorted(self.entries_folder.glob("*.json")):
            try:
                entries.append(Entry.from_json(json.loads(path.read_text("utf-8"))))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                detail = f"outbox file {path} cannot be read ({exc}); it is kept"
                bad.append(Delivery(path.stem, "?", "?", DeliveryStatus.FAILED, 0, detail))
        entries.sort(key=lambda e: (e.queued_at, e.alert.key))
        return entries, bad

    def sent(self) -> set[tuple[str, str]]:
        """(alert key, channel) pairs delivered; a torn last line (a crash) is not a record."""
        if not self.sent_log.exists():
            return set()
        pairs = set()
        for line in self.sent_log.read_text("utf-8").splitlines():
            try:
                record = json.loads(line)
                pairs.add((str(record["key"]), str(record["channel"])))
            except (ValueError, KeyError, TypeError):
                continue
        return pairs

    def save(self, entry: Entry) -> None:
        if entry.pending:
            write_json(self.path_of(entry.alert), entry.to_json())
        else:
            remove(self.path_of(entry.alert))

    def health(self) -> dict[str, dict[str, str]]:
        """Channels that failed every try of their last delivery: when, and why."""
        try:
            data = json.loads(self.health_file.read_text("utf-8"))
        except (OSError, ValueError):
            return {}  # only saves time: without it every channel is tried
        return {str(k): v for k, v in data.items() if isinstance(v, dict)}

    def mark_sent(self, alert: Alert, channel: str, attempts: int, detail: str) -> None:
        record = {"key": alert.key, "channel": channel, "sent_at": _now(), "attempts": attempts}
        append_line(self.sent_log, record | {"detail": detail})


def deliver(
    ws_path: Path,
    settings: Settings,
    alerts: Iterable[Alert],
    channels: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    force: bool = False,
) -> DeliveryReport:
    """Send ``alerts`` to ``channels`` (default: every channel whose routing takes them) and retry
    whatever waits in the outbox. Each (alert key, channel) is sent once, ever; what fails after
    ``notify.attempts`` tries stays in the outbox and is in the report's ``failed``.

    A channel that failed every try of a delivery less than ``notify.down_seconds`` ago is not
    tried (its alerts wait in the outbox) unless ``force``. Named ``channels`` take the alert
    whatever their routing. Secrets are read from ``environ`` (default: this process's
    environment).
    """
    names = _checked(settings.notify, channels)
    box = Outbox(ws_path)
    run = _Run(box, settings.notify, os.environ if environ is None else environ)
    with locked(box.lock):
        entries, unreadable = box.load()
        run.report.failed += unreadable
        run.sent = box.sent()
        run.start(box.health(), force=force)
        run.enqueue(_unique(alerts, run.report), names, entries)
        run.flush(entries)
        run.finish()
    _audit(ws_path, run.report)
    return run.report


def retry(ws_path: Path, settings: Settings, **kwargs: Any) -> DeliveryReport:
    """Send what waits in the outbox now, channels thought down included
    (``aifinops notify retry``)."""
    return deliver(ws_path, settings, [], force=True, **kwargs)


def pending(ws_path: Path) -> list[Entry]:
    """What waits in the outbox, oldest first (read without the lock: a snapshot)."""
    return Outbox(ws_path).load()[0]


def discard(ws_path: Path, key: str) -> bool:
    """Take the alert ``key`` out of the outbox unsent (recorded in the audit log)."""
    box = Outbox(ws_path)
    with locked(box.lock):
        entry = next((e for e in box.load()[0] if e.alert.key == key), None)
        if entry is None:
            return False
        remove(box.path_of(entry.alert))
    channels = sorted(entry.pending)
    audit.AuditLog(ws_path).record("notify.discarded", key=key, channels=channels)
    return True


def pending_table(entries: list[Entry]) -> pa.Table:
    """One row per alert and channel still to reach."""
    import pyarrow as pa

    rows = [
        {"alert": e.alert.key, "channel": name, "severity": e.alert.severity.value,
         "queued_at": e.queued_at, "attempts": state.attempts, "last_error": state.last_error,
         "last_try": state.last_try, "title": e.alert.title}
        for e in entries
        for name, state in sorted(e.pending.items())
    ]  # fmt: skip
    names = ["alert", "channel", "severity", "queued_at", "attempts", "last_error", "last_try"]
    fields = [(n, pa.int64() if n == "attempts" else pa.string()) for n in [*names, "title"]]
    return pa.Table.from_pylist(rows, schema=pa.schema(fields))


def _checked(config: NotifySettings, channels: Sequence[str] | None) -> list[str] | None:
    if channels is None:
        return None
    unknown = [name for name in channels if name not in config.channels]
    if unknown:
        known = ", ".join(config.channels) or "none"
        raise ConfigError(
            f"unknown notification channel {', '.join(unknown)} (configured: {known})",
            where="aifinops.toml [notify.channels]",
            hint="add a [notify.channels.NAME] table: see docs/notifications.md",
        )
    return list(dict.fromkeys(channels))


def _unique(alerts: Iterable[Alert], report: DeliveryReport) -> list[Alert]:
    """The first alert of each key; later ones with the same key are the same alert."""
    seen: dict[str, Alert] = {}
    for alert in alerts:
        if not isinstance(alert, Alert):
            raise TypeError(f"deliver() takes Alert objects, not {type(alert).__name__}")
        if alert.key in seen:
            report.duplicates.append(alert.key)
        else:
            seen[alert.key] = alert
    return list(seen.values())


class _Run:
    """One delivery, under the lock: what was sent before, which channels are down, the report."""

    def __init__(self, box: Outbox, config: NotifySettings, environ: Mapping[str, str]) -> None:
        self.box, self.config, self.environ = box, config, environ
        self.sent: set[tuple[str, str]] = set()
        self.down: dict[str, str] = {}
        self.health: dict[str, dict[str, str]] = {}
        self.health_changed = False
        self.report = DeliveryReport()

    def start(self, health: dict[str, dict[str, str]], *, force: bool) -> None:
        """Channels down at their last delivery, and recently enough, are not tried."""
        self.health = health
        now = datetime.now(UTC)
        for name, state in health.items():
            since = _parse_time(state.get("down_at"))
            until = since + timedelta(seconds=self.config.down_seconds) if since else now
            if not force and until > now:
                self.down[name] = (
                    f"not tried: {name} has been down since {state['down_at']} "
                    f"({state.get('error')}); tried again after {_text(until)} or by "
                    "`aifinops notify retry`"
                )

    def finish(self) -> None:
        if self.health_changed:
            write_json(self.box.health_file, self.health)

    def channel_state(self, name: str, error: SendError | None) -> None:
        """Remember a channel as down (every try failed, worth retrying) or up again."""
        if error is None and name in self.health:
            del self.health[name]
        elif error is not None and error.retryable:
            self.health[name] = {"down_at": _now(), "error": error.reason}
            self.down[name] = f"not tried: {name} is down ({error.reason})"
        else:
            return
        self.health_changed = True

    def enqueue(self, alerts: list[Alert], names: list[str] | None, entries: list[Entry]) -> None:
        """Write each new alert to the outbox (before any sending) with the channels it needs."""
        by_key = {entry.alert.key: entry for entry in entries}
        for alert in alerts:
            targets = names if names is not None else self.routed(alert)
            if not targets:
                self.report.unrouted.append(alert)
                continue
            entry = by_key.get(alert.key) or Entry(alert, _now())
            new = [name for name in targets if self._needs(entry, name)]
            for name in new:
                entry.pending[name] = ChannelState()
            if new:
                self.box.save(entry)
            if new and alert.key not in by_key:
                by_key[alert.key] = entry
                entries.append(entry)

    def routed(self, alert: Alert) -> list[str]:
        return [name for name, channel in self.config.channels.items() if channel.takes(alert)]

    def _needs(self, entry: Entry, name: str) -> bool:
        if (entry.alert.key, name) in self.sent:
            self.report.skipped.append(_row(entry.alert, name, DeliveryStatus.ALREADY_SENT))
            return False
        return name not in entry.pending

    def flush(self, entries: list[Entry]) -> None:
        """Try every (alert, channel) still pending. A channel that fails every try of one alert
        with an error worth retrying is down: its other alerts wait for the next delivery."""
        for entry in entries:
            for name in list(entry.pending):
                self.flush_one(entry, name)
                self.box.save(entry)

    def flush_one(self, entry: Entry, name: str) -> None:
        alert, state = entry.alert, entry.pending[name]
        if (alert.key, name) in self.sent:  # recorded by a run that stopped before the outbox was
            del entry.pending[name]
            self.report.skipped.append(_row(alert, name, DeliveryStatus.ALREADY_SENT))
            return
        channel = self.config.channels.get(name)
        if channel is None or name in self.down:
            why = f"channel {name} is no longer configured" if channel is None else self.down[name]
            self.report.failed.append(_row(alert, name, DeliveryStatus.FAILED, state.attempts, why))
            return
        outcome = self.send(channel, alert)
        state.attempts += outcome.attempts
        state.last_try = _now()
        self.channel_state(name, outcome.error)
        if outcome.error is None:
            detail = outcome.value or ""
            self.box.mark_sent(alert, name, state.attempts, detail)
            self.sent.add((alert.key, name))
            del entry.pending[name]
            self.report.sent.append(_row(alert, name, DeliveryStatus.SENT, state.attempts, detail))
            return
        state.last_error = outcome.error.reason
        failure = _row(alert, name, DeliveryStatus.FAILED, state.attempts, state.last_error)
        self.report.failed.append(failure)

    def send(self, channel: Channel, alert: Alert) -> Outcome[str]:
        from aifinops.notify.channels import send  # smtplib, ssl, urllib: only when sending
        from aifinops.notify.retry import with_retries

        return with_retries(
            lambda: send(channel, alert, self.environ, self.box.folder.parent),
            attempts=self.config.attempts,
            base=self.config.backoff_seconds,
            cap=self.config.max_backoff_seconds,
        )


def _row(
    alert: Alert, channel: str, status: DeliveryStatus, attempts: int = 0, detail: str = ""
) -> Delivery:
    return Delivery(alert.key, channel, alert.title, status, attempts, detail)


def _audit(ws_path: Path, report: DeliveryReport) -> None:
    log = audit.AuditLog(ws_path)
    events = [
        log.event(
            "notify.sent" if row.status is DeliveryStatus.SENT else "notify.failed",
            key=row.key,
            title=row.title,
            channel=row.channel,
            attempts=row.attempts,
            detail=row.detail,
        )
        for row in report.sent + report.failed
    ]
    events += [
        log.event("notify.unrouted", key=alert.key, title=alert.title, alert=alert)
        for alert in report.unrouted
    ]
    log.record_many(events)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _text(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse_time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
