"""Durable small files: an exclusive lock between processes, atomic JSON writes, fsync'd appends.

POSIX only (``fcntl.flock``): the lock is released by the kernel when its holder dies, so a
crashed run never leaves the workspace locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from aifinops.errors import WorkspaceBusyError

LOCK_WAIT_SECONDS = 300.0


@contextlib.contextmanager
def locked(path: Path, *, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing), waiting up to ``wait`` seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _acquire(fd, path, wait)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, path: Path, wait: float) -> None:
    deadline = time.monotonic() + wait
    delay = 0.01
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise WorkspaceBusyError(
                    f"another aifinops process has held {path.name} for over {wait:.0f} s",
                    where=str(path),
                    hint="wait for it to finish, then run the command again",
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def write_json(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as JSON: written to a temporary file, fsync'd, renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as out:
        json.dump(data, out, ensure_ascii=False, sort_keys=True)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
    sync_folder(path.parent)


def append_line(path: Path, data: Any) -> None:
    """Append ``data`` as one JSON line and fsync. Hold a lock around concurrent appends."""
    append_lines(path, [data])


def append_lines(path: Path, items: Iterable[Any]) -> None:
    """Append each item as one JSON line, in one write, and fsync once. Hold a lock around
    concurrent appends.

    A line left half-written by a crash is closed with a newline first, so it stays one corrupt
    line instead of swallowing the next record.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    line = "".join(
        json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"
        for data in items
    )
    with path.open("a+b") as out:
        if out.tell() > 0:
            out.seek(-1, os.SEEK_END)
            if out.read(1) != b"\n":
                line = "\n" + line
        out.write(line.encode("utf-8"))
        out.flush()
        os.fsync(out.fileno())


def sync_folder(folder: Path) -> None:
    """fsync a folder so a file created or renamed in it survives a power cut."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    sync_folder(path.parent)
