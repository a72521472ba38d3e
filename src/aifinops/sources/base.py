"""What every source reader produces, and the registry of sources by name."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class Rejection:
    """A record that could not be read: where it is, what is wrong, and all of its raw values."""

    record: int  # 1 = first data record of the file
    column: str | None
    reason: str
    value: str | None
    raw: dict[str, str | None]
    line: int | None = None  # physical line where the record starts, when known


@dataclass
class Batch:
    """Rows read from one stretch of a file: the good rows typed, the bad ones as rejections."""

    table: pa.Table | None  # None for the last batch of a file, which carries only rejections
    rejected: list[Rejection]
    progress: float  # fraction of the file read so far, 0..1


class SourceReader(Protocol):
    """Reads one file into batches of rows in the shape of a store table.

    A reader whose rows depend on more than the file (the on-prem inventory and its period) may
    also carry ``digest``: the load's identity in ``ingest_log`` instead of the file's hash.
    """

    version: str | None
    warnings: Counter[str]
    notes: list[str]
    #: the stored column names the batches will carry (known once the header is read)
    columns: tuple[str, ...]

    @property
    def format(self) -> str:
        """The file's format (csv, csv.gz, parquet ...), as recorded in ``ingest_log``."""
        ...

    def batches(self) -> Iterator[Batch]:
        """Stream the file; opens it (again) even after :meth:`close`."""
        ...

    def close(self) -> None: ...


ReaderFactory = Callable[..., SourceReader]

#: Runs inside the load's transaction once the rows of the load are in: (connection, the
#: ``ingest_log`` file ids of this load). Used to derive rows of other tables (priced LLM usage
#: -> ``costs``). It may return notes for the ingest summary.
AfterLoad = Callable[["duckdb.DuckDBPyConnection", list[int]], list[str] | None]


@dataclass(frozen=True)
class SourceSpec:
    """A registered source: its name, what it reads, which table it fills, how loads combine."""

    name: str
    description: str
    formats: tuple[str, ...]
    table: str
    open: ReaderFactory = field(repr=False)
    #: Columns whose values identify what a load delivers: rows of earlier loads with the same
    #: values are replaced (a newer export of the same billing period, say). Empty: loads add up.
    replace_keys: tuple[str, ...] = ()
    #: Options the reader takes (``--option name=value``): name -> help text.
    options: dict[str, str] = field(default_factory=dict)
    after_load: AfterLoad | None = field(default=None, repr=False)
    #: Where the user gets such files (one line, for ``aifinops sources``).
    export_hint: str = ""
    #: Files read when the ingest names none, relative to the workspace (e.g. its aifinops.toml).
    default_paths: tuple[str, ...] = ()


_REGISTRY: dict[str, SourceSpec] = {}


def register(spec: SourceSpec) -> SourceSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"source {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def registered() -> dict[str, SourceSpec]:
    """Every registered source by name (importing :mod:`aifinops.sources` registers them)."""
    return dict(_REGISTRY)
