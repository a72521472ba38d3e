"""``aifinops convert SOURCE PATH... -o OUT``: cost files straight into one FOCUS file."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from aifinops.convert import convert_files
from aifinops.errors import AifinopsError
from aifinops.model.focus import FocusVersion, export_columns
from aifinops.sources import tabular
from tests.cli.runner import run_cli

DATA = Path(__file__).resolve().parents[1] / "data" / "aws_cur"
SAMPLE = DATA / "sample-anonymous-aws-export-dataset.csv"
FIXTURE = DATA / "commitments-legacy.csv"
BAD = DATA / "bad-rows.csv"


def _sum(values: list[object]) -> Decimal:
    return sum((Decimal(str(v)) for v in values if v not in (None, "")), Decimal(0))


def test_convert_writes_a_focus_1_2_parquet_file(tmp_path: Path) -> None:
    out = tmp_path / "focus.parquet"
    result = run_cli("convert", "aws-cur", SAMPLE, FIXTURE, "-o", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "wrote 1,301 rows as FOCUS 1.2" in result.stdout
    table = pq.read_table(out)
    expected = [c.name for c in export_columns(FocusVersion.V1_2)]
    assert table.column_names[: len(expected)] == expected
    assert {"x_LineItemType", "x_UsageType"} <= set(table.column_names)
    assert "x_SourceRecord" not in table.column_names
    assert table.num_rows == 1301
    assert _sum(table.column("BilledCost").to_pylist()) == Decimal("1.6823086974") + Decimal(
        "1409.84"
    )
    assert not (tmp_path / "focus.rejected.csv").exists()


def test_convert_writes_focus_1_4_csv_with_the_exports_text_conventions(tmp_path: Path) -> None:
    out = tmp_path / "focus.csv"
    result = run_cli(
        "convert", "aws-cur", FIXTURE, "-o", out, "--focus-version", "1.4", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    expected = [c.name for c in export_columns(FocusVersion.V1_4)]
    assert list(rows[0])[: len(expected)] == expected
    assert rows[0]["BillingPeriodStart"] == "2026-01-01T00:00:00Z"
    assert [r["EffectiveCost"] for r in rows[:3]] == ["0", "0", "98.55"]
    assert rows[0]["ServiceProviderName"] == "AWS"  # the 1.3 name of ProviderName
    assert _sum([r["BilledCost"] for r in rows]) == Decimal("1409.84")


def test_rejected_rows_are_reported_and_written_beside_the_output(tmp_path: Path) -> None:
    out = tmp_path / "focus.parquet"
    result = run_cli("convert", "aws-cur", BAD, "-o", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "6 rows read, 1 written, 5 rejected" in result.stdout
    assert "bad-rows.csv:4: lineItem/UnblendedCost: not a number: '12,5'" in result.stderr
    assert pq.read_table(out).num_rows == 1
    with (tmp_path / "focus.rejected.csv").open(encoding="utf-8", newline="") as f:
        rejected = list(csv.DictReader(f))
    assert [r["line"] for r in rejected] == ["3", "4", "5", "6", "7"]
    assert rejected[1]["column"] == "lineItem/UnblendedCost"
    assert rejected[1]["file"] == str(BAD)
    assert json.loads(rejected[1]["raw"])["lineItem/UnblendedCost"] == "12,5"
    strict = run_cli("convert", "aws-cur", BAD, "-o", out, "--strict", cwd=tmp_path)
    assert strict.returncode == 1


def test_convert_streams_block_by_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each block read is written before the next is read: many row groups, one file."""
    monkeypatch.setattr(tabular, "BLOCK_BYTES", 64 << 10)
    monkeypatch.setattr("aifinops.sources.aws_cur.BLOCK_BYTES", 64 << 10)
    out = tmp_path / "focus.parquet"
    summary = convert_files("aws-cur", [SAMPLE], out)
    assert summary.rows_written == 1281
    assert pq.ParquetFile(out).num_row_groups > 5


def test_any_cost_source_converts(tmp_path: Path) -> None:
    first = tmp_path / "aws.parquet"
    convert_files("aws-cur", [FIXTURE], first, version="1.2")
    # a FOCUS file is itself a cost source: converting it again keeps every row and cent
    again = convert_files("focus", [first], tmp_path / "again.parquet", version="1.4")
    assert again.rows_written == 20  # 18 records, two of them with an unused part
    table = pq.read_table(tmp_path / "again.parquet")
    assert _sum(table.column("BilledCost").to_pylist()) == Decimal("1409.84")


def test_a_usage_source_or_an_unknown_suffix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AifinopsError, match="not a cost source"):
        convert_files("jobs", [FIXTURE], tmp_path / "out.parquet")
    with pytest.raises(AifinopsError, match=r"\*.parquet or \*.csv"):
        convert_files("aws-cur", [FIXTURE], tmp_path / "out.json")
    result = run_cli(
        "convert",
        "aws-cur",
        FIXTURE,
        "-o",
        tmp_path / "o.parquet",
        "--focus-version",
        "1.3",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "use --focus-version 1.2 or 1.4" in result.stderr


def test_a_quoted_value_spanning_lines_is_read_carefully(tmp_path: Path) -> None:
    """The fast pass cannot parse it; the conversion starts again reading that file carefully."""
    text = FIXTURE.read_text(encoding="utf-8")
    path = tmp_path / "multiline.csv"
    assert text.count(",AWS Activate credit,") == 1
    path.write_text(text.replace(",AWS Activate credit,", ',"AWS Activate\ncredit",'), "utf-8")
    summary = convert_files("aws-cur", [path], tmp_path / "out.parquet")
    assert (summary.rows_written, summary.rows_rejected) == (20, 0)
    descriptions = pq.read_table(tmp_path / "out.parquet").column("ChargeDescription").to_pylist()
    assert "AWS Activate\ncredit" in descriptions
