"""Marks: resources a policy has marked for a later action, kept in the workspace.

``<workspace>/policy/marks.json`` holds one mark per (policy, resource): when it was marked
(the run's day), when it is due (marked + the grace period), the owner told, and whether the
deferred actions have run. Written atomically under a lock (the notify module's file helpers), so
a crash never leaves half a file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

from aifinops.errors import ConfigError
from aifinops.notify.files import locked, write_json

FOLDER = "policy"
FILE = "marks.json"
PENDING, ACTED = "pending", "acted"


@dataclass
class Mark:
    policy: str
    resource_kind: str
    resource_id: str
    resource_name: str
    owner: str | None
    marked_on: date
    due: date
    op: str
    status: str = PENDING
    acted_on: date | None = None

    @property
    def key(self) -> str:
        return key_of(self.policy, self.resource_id)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["marked_on"], data["due"] = self.marked_on.isoformat(), self.due.isoformat()
        data["acted_on"] = self.acted_on.isoformat() if self.acted_on else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Mark:
        values = dict(data)
        for name in ("marked_on", "due", "acted_on"):
            values[name] = date.fromisoformat(values[name]) if values.get(name) else None
        return cls(**values)


def key_of(policy: str, resource_id: str) -> str:
    return f"{policy}\x1f{resource_id}"


class MarkStore:
    """The marks of one workspace. Reads take a snapshot; :meth:`editing` changes under a lock."""

    def __init__(self, ws_path: Path) -> None:
        self.path = Path(ws_path) / FOLDER / FILE
        self.lock = self.path.with_name(f".{FILE}.lock")

    def all(self) -> dict[str, Mark]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {m.key: m for m in (Mark.from_json(d) for d in data["marks"])}
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"the policy marks file cannot be read: {exc}",
                where=str(self.path),
                hint="restore it from a backup, or delete it to forget every mark",
            ) from None

    @contextmanager
    def editing(self) -> Iterator[dict[str, Mark]]:
        """The marks, to change in place; saved when the block ends without an error."""
        with locked(self.lock):
            marks = self.all()
            yield marks
            rows = [m.to_json() for m in sorted(marks.values(), key=lambda m: m.key)]
            write_json(self.path, {"marks": rows})
