"""Progress bars for ingest, drawn with Rich on stderr."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

if TYPE_CHECKING:
    from aifinops.store.ingest import FileResult


class IngestProgress:
    """One bar over all files (by bytes) and one for the current file, with rows read."""

    def __init__(self, console: Console) -> None:
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rows]:>12,} rows"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self._files = self._bar.add_task("files", total=0, rows=0)
        self._file = self._bar.add_task("", total=1000, rows=0, visible=False)
        self._rows_before = 0
        self._current: Path | None = None

    def __enter__(self) -> IngestProgress:
        self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.stop()

    def start(self, files: Sequence[Path]) -> None:
        self._bar.update(self._files, total=len(files))

    def advance(self, path: Path, fraction: float, rows: int) -> None:
        if path != self._current:
            self._current = path
            self._bar.update(self._file, description=path.name, visible=True)
        self._bar.update(self._file, completed=int(fraction * 1000), rows=rows)
        self._bar.update(self._files, rows=self._rows_before + rows)

    def done(self, result: FileResult) -> None:
        self._rows_before += result.rows_read
        self._bar.update(self._files, advance=1, rows=self._rows_before)
