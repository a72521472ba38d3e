"""Reading ahead in a thread: the next block is read (and converted) while the current one is
written. Used by ``aifinops convert`` (reading + converting beside writing) and by readers whose
parsing is long enough to overlap with their conversion (the AWS CUR in CSV)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


def prefetched(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """``items``, produced ahead by a thread while the caller works on the previous ones (Arrow
    and DuckDB release the GIL, so the two overlap on two cores). At most ``depth`` items wait,
    so memory stays bounded. An exception in the producer is raised in the caller."""
    waiting: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                waiting.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as error:  # handed to the consumer, raised there
            put(_Failed(error))
            return
        put(_END)

    thread = threading.Thread(target=produce, name="convert-read-ahead", daemon=True)
    thread.start()
    try:
        while (item := waiting.get()) is not _END:
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
