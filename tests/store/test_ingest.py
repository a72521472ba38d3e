"""Ingest guarantees: idempotent, replace by (account, period), atomic, nothing silently dropped."""

from __future__ import annotations

import decimal
import gzip
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aifinops import Workspace
from aifinops.errors import IngestError
from tests.conftest import FOCUS_12_HEADER, count, focus_row, total, write_focus_csv

MakeFile = Callable[..., Path]


def test_the_same_file_twice_changes_nothing(workspace: Workspace, focus_file: MakeFile) -> None:
    path = focus_file("a.csv", [focus_row(cost="1.10"), focus_row(cost="2.20", day=2)])
    first = workspace.ingest([path])
    second = workspace.ingest([path])
    assert first.rows_ingested == 2
    assert second.files[0].status == "skipped"
    assert "already ingested" in second.files[0].reason
    assert count(workspace) == 2
    assert total(workspace) == Decimal("3.30")
    assert count(workspace, "ingest_log") == 1


def test_a_newer_export_replaces_the_same_account_and_period(
    workspace: Workspace, focus_file: MakeFile
) -> None:
    old = focus_file("old.csv", [focus_row(cost="10"), focus_row(period="2026-09", cost="5")])
    new = focus_file("new.csv", [focus_row(cost="7.5"), focus_row(cost="0.5", day=3)])
    workspace.ingest([old])
    summary = workspace.ingest([new])
    assert summary.rows_replaced == 1
    # 2026-10 comes from the new export only; 2026-09 is untouched.
    assert total(workspace) == Decimal("13.0")
    log = workspace.sql("SELECT rows_superseded FROM ingest_log ORDER BY file_id").column(0)
    assert log.to_pylist() == [1, 0]


def test_other_accounts_are_not_replaced(workspace: Workspace, focus_file: MakeFile) -> None:
    workspace.ingest([focus_file("a.csv", [focus_row(account="A", cost="1")])])
    workspace.ingest([focus_file("b.csv", [focus_row(account="B", cost="2")])])
    assert total(workspace) == Decimal("3")


def test_parts_of_one_load_add_up(workspace: Workspace, focus_file: MakeFile) -> None:
    parts = [
        focus_file("part-1.csv", [focus_row(cost="1")]),
        focus_file("part-2.csv", [focus_row(cost="2", day=2)]),
    ]
    summary = workspace.ingest(parts)
    assert summary.rows_replaced == 0
    assert total(workspace) == Decimal("3")


def test_a_failing_file_leaves_the_store_as_it_was(
    workspace: Workspace, focus_file: MakeFile, tmp_path: Path
) -> None:
    workspace.ingest([focus_file("base.csv", [focus_row(cost="4")])])
    good = focus_file("good.csv", [focus_row(account="B", cost="1")])
    truncated = tmp_path / "in" / "truncated.csv.gz"
    data = gzip.compress(good.read_bytes() * 1)
    truncated.write_bytes(data[: len(data) // 2])
    before = (count(workspace), total(workspace), count(workspace, "ingest_log"))
    with pytest.raises(IngestError, match="truncated"):
        workspace.ingest([good, truncated])
    assert (count(workspace), total(workspace), count(workspace, "ingest_log")) == before


def test_unreadable_rows_are_quarantined_with_line_column_and_reason(
    workspace: Workspace, focus_file: MakeFile
) -> None:
    rows = [focus_row(cost="1"), focus_row(cost="12,34"), focus_row(cost="2")]
    rows[2]["ChargePeriodStart"] = "not a date"
    rows.append(focus_row(account=""))
    rows.append(focus_row(category="Refund"))
    summary = workspace.ingest([focus_file("bad.csv", rows)])
    assert (summary.rows_read, summary.rows_ingested, summary.rows_quarantined) == (5, 1, 4)
    q = workspace.sql("SELECT line, column_name, reason, raw FROM quarantine ORDER BY line")
    lines = q.column("line").to_pylist()
    assert lines == [3, 4, 5, 6]  # header is line 1, first data row line 2
    assert q.column("column_name").to_pylist() == [
        "BilledCost", "ChargePeriodStart", "BillingAccountId", "ChargeCategory"
    ]  # fmt: skip
    reasons = q.column("reason").to_pylist()
    assert "not a number" in reasons[0] and "'12,34'" in reasons[0]
    assert "missing mandatory value" in reasons[2]
    assert "Refund" in reasons[3]
    assert '"BilledCost": "12,34"' in q.column("raw")[0].as_py()


def test_strict_fails_and_ingests_nothing(workspace: Workspace, focus_file: MakeFile) -> None:
    path = focus_file("bad.csv", [focus_row(cost="1"), focus_row(cost="oops")])
    with pytest.raises(IngestError, match="nothing was ingested"):
        workspace.ingest([path], strict=True)
    assert count(workspace) == 0
    assert count(workspace, "quarantine") == 0


def test_case_and_spacing_of_allowed_values_is_repaired_as_a_warning(
    workspace: Workspace, focus_file: MakeFile
) -> None:
    row = focus_row()
    row["ChargeFrequency"] = "Usage-based"
    summary = workspace.ingest([focus_file("a.csv", [row, focus_row(day=2)])])
    assert summary.rows_quarantined == 0
    assert any("ChargeFrequency" in w for w in summary.warnings)
    values = workspace.sql("SELECT DISTINCT ChargeFrequency FROM costs").column(0).to_pylist()
    assert values == ["Usage-Based"]


def test_null_text_no_t_or_z_times_and_numeric_ids(
    workspace: Workspace, focus_file: MakeFile
) -> None:
    row = focus_row(account="000123456789")
    row["ChargePeriodStart"] = "2026-10-01 00:00:00"
    row["ResourceId"] = "NULL"
    workspace.ingest([focus_file("a.csv", [row])])
    got = workspace.sql(
        "SELECT BillingAccountId, ChargePeriodStart, ResourceId, x_ChargeDate FROM costs"
    ).to_pylist()[0]
    assert got["BillingAccountId"] == "000123456789"
    assert got["ChargePeriodStart"].isoformat() == "2026-10-01T00:00:00+00:00"
    assert got["ResourceId"] is None
    assert got["x_ChargeDate"].isoformat() == "2026-10-01"


def test_unknown_columns_are_kept_as_x_columns(workspace: Workspace, focus_file: MakeFile) -> None:
    row = {**focus_row(), "Id": "row-1"}
    workspace.ingest([focus_file("a.csv", [row], header=[*FOCUS_12_HEADER, "Id"])])
    assert workspace.sql("SELECT x_Id FROM focus_data_table").column(0).to_pylist() == ["row-1"]


def test_a_quoted_newline_is_read_and_later_lines_stay_exact(
    workspace: Workspace, focus_file: MakeFile
) -> None:
    first = focus_row(cost="1")
    first["ChargeDescription"] = "two\nlines"
    summary = workspace.ingest(
        [focus_file("nl.csv", [first, focus_row(cost="2", day=2), focus_row(cost="bad", day=3)])]
    )
    assert (summary.rows_ingested, summary.rows_quarantined) == (2, 1)
    assert workspace.sql("SELECT line FROM quarantine").column(0).to_pylist() == [5]
    records = workspace.sql("SELECT x_SourceRecord FROM costs ORDER BY 1").column(0).to_pylist()
    assert records == [1, 2]


def test_money_is_exact_to_18_places(workspace: Workspace, focus_file: MakeFile) -> None:
    costs = ["0.000000000000000001", "123456789012.123456789", "-0.1", "1E-7"]
    workspace.ingest(
        [focus_file("a.csv", [focus_row(cost=c, day=i + 1) for i, c in enumerate(costs)])]
    )
    with decimal.localcontext(prec=60):
        assert total(workspace) == sum(Decimal(c) for c in costs)


# -- property tests ---------------------------------------------------------------------------

ACCOUNTS = ["A", "B"]
PERIODS = ["2026-08", "2026-09"]
cost_strategy = st.decimals(min_value=-1000, max_value=1000, places=6, allow_nan=False)
export_strategy = st.lists(
    st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(PERIODS), cost_strategy),
    min_size=1,
    max_size=4,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(exports=st.lists(export_strategy, min_size=1, max_size=5), repeat=st.booleans())
def test_store_always_holds_the_latest_export_of_each_account_and_period(
    tmp_path_factory: pytest.TempPathFactory,
    exports: list[list[tuple[str, str, Decimal]]],
    repeat: bool,
) -> None:
    folder = tmp_path_factory.mktemp("prop")
    expected: dict[tuple[str, str], Decimal] = {}
    with Workspace.init(folder / "ws") as ws:
        for n, rows in enumerate(exports):
            path = write_focus_csv(
                folder / f"export-{n}.csv",
                [focus_row(account=a, period=p, cost=str(c), day=i % 28 + 1)
                 for i, (a, p, c) in enumerate(rows)],
            )  # fmt: skip
            summary = ws.ingest([path])
            assert summary.rows_read == summary.rows_ingested + summary.rows_quarantined
            latest: dict[tuple[str, str], Decimal] = {}
            for a, p, c in rows:
                latest[(a, p)] = latest.get((a, p), Decimal(0)) + c
            expected.update(latest)
            if repeat:  # the same file again changes nothing
                ws.ingest([path])
        assert total(ws) == sum(expected.values(), Decimal(0))
        by_key = ws.sql(
            "SELECT BillingAccountId, strftime(BillingPeriodStart, '%Y-%m') AS p, sum(BilledCost) "
            "AS c FROM costs GROUP BY ALL"
        ).to_pylist()
        assert {(r["BillingAccountId"], r["p"]): r["c"] for r in by_key} == expected


# -- a kill in the middle of a file --------------------------------------------------------------


@pytest.mark.slow
def test_killing_an_ingest_midway_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    con = duckdb.connect()
    row = focus_row(account="K", cost="0.5")
    select = ", ".join(f"'{v}' AS \"{k}\"" for k, v in row.items() if k != "ResourceId")
    con.execute(
        f"COPY (SELECT {select}, 'i-' || range AS ResourceId FROM range(600000)) TO '{big}' "
        "(HEADER, DELIMITER ',')"
    )
    ws_dir = tmp_path / "ws"
    with Workspace.init(ws_dir) as ws:
        ws.ingest([write_focus_csv(tmp_path / "small.csv", [focus_row(cost="3")])])
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "aifinops", "ingest", "focus", str(big), "-w", str(ws_dir)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    db_file, wal = ws_dir / "aifinops.duckdb", ws_dir / "aifinops.duckdb.wal"
    size = db_file.stat().st_size
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if wal.exists() or db_file.stat().st_size > size:  # rows are being written
            break
        time.sleep(0.01)
    time.sleep(0.2)
    assert proc.poll() is None, "the ingest finished before it could be killed; use a bigger file"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Workspace(ws_dir) as ws:
        assert count(ws) == 1
        assert total(ws) == Decimal("3")
        assert count(ws, "ingest_log") == 1


def test_an_export_loaded_again_after_a_newer_one_wins_again(
    workspace: Workspace, focus_file: MakeFile
) -> None:
    old = focus_file("old.csv", [focus_row(cost="1")])
    workspace.ingest([old])
    workspace.ingest([focus_file("new.csv", [focus_row(cost="2")])])
    again = workspace.ingest([old])
    assert again.files[0].status == "ingested"
    assert total(workspace) == Decimal("1")
    assert workspace.ingest([old]).files[0].status == "skipped"
