"""The staged, pipelined load: exact across stage and file boundaries, memory-safe, cleaned up."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from aifinops import Workspace
from aifinops.sources import tabular
from aifinops.store import staging
from tests.conftest import FOCUS_12_HEADER, count, focus_row, total, write_focus_csv

MakeFile = Callable[..., Path]


@pytest.fixture
def tiny_stages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stages of 3 rows and CSV blocks of ~1 KB: every boundary is crossed in a small file."""
    monkeypatch.setattr(staging, "STAGE_ROWS", 3)
    monkeypatch.setattr(tabular.TabularReader, "block_bytes", 1024)


def test_rows_cross_stage_and_file_boundaries_exactly(
    workspace: Workspace, focus_file: MakeFile, tiny_stages: None
) -> None:
    files = [
        focus_file(f"part{k}.csv", [focus_row(cost=f"{k}.{i:02d}", day=i + 1) for i in range(11)])
        for k in range(3)
    ]
    summary = workspace.ingest(files)
    assert [f.rows_ingested for f in summary.files] == [11, 11, 11]
    assert count(workspace) == 33
    assert total(workspace) == sum(
        (Decimal(f"{k}.{i:02d}") for k in range(3) for i in range(11)), Decimal(0)
    )
    per_file = workspace.sql(
        "SELECT x_IngestFileId, list(x_SourceRecord ORDER BY x_SourceRecord) AS r "
        "FROM costs GROUP BY 1 ORDER BY 1"
    ).to_pylist()
    assert [row["r"] for row in per_file] == [list(range(1, 12))] * 3
    assert not list((workspace.path).glob(f"{staging.FOLDER_PREFIX}*"))


def test_a_careful_reread_replaces_stages_already_inserted(
    workspace: Workspace, focus_file: MakeFile, tiny_stages: None
) -> None:
    rows = [focus_row(cost="1", day=d + 1) for d in range(9)]
    rows[7]["ChargeDescription"] = "two\nlines"  # found malformed only after earlier stages
    rows.append(focus_row(cost="bad", day=10))
    summary = workspace.ingest([focus_file("late.csv", rows)])
    assert (summary.rows_ingested, summary.rows_quarantined) == (9, 1)
    assert total(workspace) == Decimal(9)
    records = workspace.sql("SELECT x_SourceRecord FROM costs ORDER BY 1").column(0).to_pylist()
    assert records == list(range(1, 10))
    assert workspace.sql("SELECT record, line FROM quarantine").to_pylist() == [
        {"record": 10, "line": 12}
    ]


def test_an_extension_column_in_a_later_file_of_a_large_load(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Earlier files of the load fill more than a row group before a later file brings a new
    column. DuckDB 1.5 aborted ("Row group prev allocated size") when the column was added
    inside the load's transaction; columns are now added before it (``Ingestor._open``)."""
    big = tmp_path / "big.parquet"
    row = focus_row(account="A", cost="0.5")
    select = ", ".join(f'{repr(v) if v else "NULL"} AS "{k}"' for k, v in row.items())
    con = duckdb.connect()
    con.execute(f"COPY (SELECT {select} FROM range(130000)) TO '{big}' (FORMAT parquet)")
    later = write_focus_csv(
        tmp_path / "later.csv",
        [{**focus_row(account="B", cost="2"), "Id": "row-1"}],
        header=[*FOCUS_12_HEADER, "Id"],
    )
    summary = workspace.ingest([big, later])
    assert summary.rows_ingested == 130_001
    assert total(workspace) == Decimal("65002")
    ids = workspace.sql("SELECT x_Id, count(*) AS n FROM costs GROUP BY 1 ORDER BY 1").to_pylist()
    assert ids == [{"x_Id": "row-1", "n": 1}, {"x_Id": None, "n": 130_000}]


def test_stale_staging_folders_are_removed(workspace: Workspace, focus_file: MakeFile) -> None:
    stale = workspace.path / f"{staging.FOLDER_PREFIX}killed"
    stale.mkdir()
    (stale / "file0-000000.parquet").write_bytes(b"left by a killed ingest")
    workspace.ingest([focus_file("a.csv", [focus_row()])])
    assert not stale.exists()


# -- the background thread ------------------------------------------------------------------------


def test_ahead_raises_the_producers_error_where_it_happened() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("bad file")

    got: list[int] = []
    with pytest.raises(ValueError, match="bad file"):
        for item in staging.ahead(items()):
            got.append(item)
    assert got == [1, 2]


def test_ahead_keeps_at_most_depth_heavy_items_waiting() -> None:
    produced: list[int] = []

    def items() -> Iterator[int]:
        for i in range(10):
            produced.append(i)
            yield i

    stream = staging.ahead(items(), heavy=lambda i: i % 2 == 0, depth=1)
    assert next(stream) == 0
    time.sleep(0.3)  # the producer may run ahead: light 1, then blocks before heavy 2
    assert produced == [0, 1, 2]
    assert list(stream) == list(range(1, 10))


def test_ahead_stops_the_producer_when_the_consumer_stops() -> None:
    closed = threading.Event()

    def items() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    for item in staging.ahead(items()):
        if item == 3:
            break
    assert closed.wait(2)


def test_load_settings_are_restored_after_a_load_even_a_failed_one() -> None:
    con = duckdb.connect()
    names = list(staging.LOAD_SETTINGS)

    def current() -> list[object]:
        return [con.execute("SELECT current_setting(?)", [n]).fetchone() for n in names]

    before = current()
    with pytest.raises(RuntimeError), staging.load_settings(con):
        assert current() != before
        raise RuntimeError("load failed")
    assert current() == before
