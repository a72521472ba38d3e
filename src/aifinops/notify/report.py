"""What a delivery did: sent, skipped as already sent, failed (and kept), or routed nowhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from aifinops.notify.alert import Alert


class DeliveryStatus(StrEnum):
    SENT = "sent"
    ALREADY_SENT = "already sent"
    FAILED = "failed"


@dataclass(frozen=True)
class Delivery:
    """One alert and one channel: what happened, after how many tries (all runs), and why."""

    key: str
    channel: str
    title: str
    status: DeliveryStatus
    attempts: int = 0
    detail: str = ""


@dataclass
class DeliveryReport:
    sent: list[Delivery] = field(default_factory=list)
    skipped: list[Delivery] = field(default_factory=list)
    failed: list[Delivery] = field(default_factory=list)
    #: Alerts no configured channel takes (recorded in the audit log, not queued).
    unrouted: list[Alert] = field(default_factory=list)
    #: Keys given more than once in one call (the first alert of a key is the one kept).
    duplicates: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing failed (failures wait in the outbox)."""
        return not self.failed

    def rows(self) -> list[Delivery]:
        return self.sent + self.skipped + self.failed

    def table(self) -> pa.Table:
        import pyarrow as pa

        rows: list[dict[str, Any]] = [
            {
                "alert": d.key,
                "channel": d.channel,
                "status": d.status.value,
                "attempts": d.attempts,
                "detail": d.detail,
                "title": d.title,
            }
            for d in self.rows()
        ]
        rows += [
            {
                "alert": a.key,
                "channel": None,
                "status": "no channel",
                "attempts": 0,
                "detail": "no channel's routing takes it",
                "title": a.title,
            }
            for a in self.unrouted
        ]
        schema = pa.schema(
            [(n, pa.string()) for n in ("alert", "channel", "status")]
            + [("attempts", pa.int64()), ("detail", pa.string()), ("title", pa.string())]
        )
        return pa.Table.from_pylist(rows, schema=schema)

    def summary(self) -> str:
        parts = [
            f"{len(self.sent)} sent",
            f"{len(self.skipped)} already sent",
            f"{len(self.failed)} failed (kept in the outbox)",
        ]
        if self.unrouted:
            parts.append(f"{len(self.unrouted)} taken by no channel")
        if self.duplicates:
            parts.append(f"{len(self.duplicates)} duplicate keys ignored")
        return ", ".join(parts)
