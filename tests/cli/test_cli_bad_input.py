"""Bad input through the real ``aifinops`` command: clear messages, no tracebacks, nothing lost.

Every bad file is built in ``tmp_path`` from the first 20 records of the AWS FOCUS 1.2 reference
sample (SYNTHETIC, see ``tests/data/reference/README.md``). In those files record N (1 = first data
record) is on line N + 1, unless a quoted value spans lines.

A file that cannot be read must fail with exit status 2 and leave the store as it was; rows that
cannot be read are quarantined (exit 0) with file, line, column, reason and their raw values, so
that rows read == rows ingested + rows quarantined; ``--strict`` turns them into a failure.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import re
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aifinops import Workspace
from tests.cli.runner import output, run_cli, store_state

SAMPLE = (
    Path(__file__).resolve().parents[1]
    / "data"
    / "reference"
    / "focus-1.2"
    / "focus_1_2_cost_and_usage_aws.csv"
)
PRE_1_0_SAMPLE = SAMPLE.parents[1] / "focus-0.5" / "all_pass_0.5.csv"
SAMPLE_RECORDS = 20


# -- running the command -------------------------------------------------------------------------


def unwrapped(result: subprocess.CompletedProcess[str]) -> str:
    """The output with line breaks removed: Rich wraps long lines at 80 columns off a terminal."""
    return output(result).replace("\n", "")


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    text = output(result)
    assert "Traceback (most recent call last)" not in text, text
    assert not re.search(r"^\w+(\.\w+)*(Error|Exception): ", text, re.MULTILINE), text


# -- building input files ------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    header: list[str]
    records: list[list[str]]

    def column(self, name: str) -> int:
        return self.header.index(name)


def read_sample(records: int = SAMPLE_RECORDS) -> Sample:
    with SAMPLE.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        return Sample(header, [row for _, row in zip(range(records), reader, strict=False)])


def csv_text(header: list[str], records: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(records)
    return buffer.getvalue()


def write_csv(path: Path, header: list[str], records: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(csv_text(header, records), encoding="utf-8", newline="")
    return path


def with_values(sample: Sample, changes: dict[tuple[int, str], str]) -> list[list[str]]:
    """The sample's records with ``{(record number, column): new value}`` applied."""
    records = [list(r) for r in sample.records]
    for (record, column), value in changes.items():
        records[record - 1][sample.column(column)] = value
    return records


def expected_raw(sample: Sample, records: list[list[str]], record: int) -> dict[str, str | None]:
    """The raw values quarantine keeps for a record: the file's text, empty cells as null."""
    return {k: (v or None) for k, v in zip(sample.header, records[record - 1], strict=True)}


# -- reading the store after the process ended ---------------------------------------------------


def source_records(workspace: Path) -> list[int]:
    with Workspace(workspace, read_only=True) as ws:
        table = ws.sql("SELECT x_SourceRecord FROM costs ORDER BY 1")
    return table.column(0).to_pylist()


def quarantine_json(workspace: Path) -> list[dict[str, Any]]:
    result = run_cli("quarantine", "-w", workspace, "-f", "json", cwd=workspace)
    assert result.returncode == 0, output(result)
    return sorted(json.loads(result.stdout), key=lambda q: q["record"])


def quarantine_raw(workspace: Path) -> dict[int, dict[str, Any]]:
    """Raw values kept per quarantined line, read with ``aifinops sql``."""
    result = run_cli(
        "sql", "SELECT line, raw FROM quarantine", "-w", workspace, "-f", "json", cwd=workspace
    )
    assert result.returncode == 0, output(result)
    return {q["line"]: json.loads(q["raw"]) for q in json.loads(result.stdout)}


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> Sample:
    return read_sample()


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory, sample: Sample) -> dict[str, Path]:
    """An empty workspace, and one holding the 20 good records, both made with the CLI."""
    root = tmp_path_factory.mktemp("templates")
    good = write_csv(root / "good" / "focus_good.csv", sample.header, sample.records)
    empty, loaded = root / "empty", root / "loaded"
    for folder in (empty, loaded):
        result = run_cli("init", folder, cwd=root)
        assert result.returncode == 0, output(result)
    result = run_cli("ingest", "focus", good, "-w", loaded, cwd=root)
    assert result.returncode == 0, output(result)
    return {"empty": empty, "loaded": loaded}


@pytest.fixture
def empty_ws(tmp_path: Path, templates: dict[str, Path]) -> Path:
    return Path(shutil.copytree(templates["empty"], tmp_path / "ws"))


@pytest.fixture
def loaded_ws(tmp_path: Path, templates: dict[str, Path]) -> Path:
    """A workspace holding the same billing account and period as the bad files: a failed ingest
    must not replace its rows."""
    return Path(shutil.copytree(templates["loaded"], tmp_path / "ws"))


# -- files that cannot be read at all --------------------------------------------------------------


def png_file(folder: Path, sample: Sample) -> Path:
    path = folder / "focus_costs.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))
    return path


def zip_file(folder: Path, sample: Sample) -> Path:
    path = folder / "focus_costs.csv"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("focus_costs.csv", csv_text(sample.header, sample.records))
    return path


def random_binary(folder: Path, sample: Sample) -> Path:
    path = folder / "focus_costs.csv"
    path.write_bytes(random.Random(0).randbytes(4096))
    return path


def truncated_gzip(folder: Path, sample: Sample) -> Path:
    data = gzip.compress(csv_text(sample.header, sample.records).encode("utf-8"))
    path = folder / "focus_costs.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    return path


def truncated_gzip_of_200_records(folder: Path, sample: Sample) -> Path:
    """Cut in half: the header and the first ~100 records still inflate; then the stream ends."""
    bigger = read_sample(200)
    data = gzip.compress(csv_text(bigger.header, bigger.records).encode("utf-8"))
    path = folder / "focus_costs.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    return path


def missing_mandatory_columns(folder: Path, sample: Sample) -> Path:
    keep = [i for i, h in enumerate(sample.header) if h not in ("BilledCost", "ChargePeriodStart")]
    return write_csv(
        folder / "focus_costs.csv",
        [sample.header[i] for i in keep],
        [[r[i] for i in keep] for r in sample.records],
    )


def empty_file(folder: Path, sample: Sample) -> Path:
    path = folder / "focus_costs.csv"
    path.write_bytes(b"")
    return path


def latin1_on_line(line: int) -> Callable[[Path, Sample], Path]:
    """A FOCUS CSV whose record on ``line`` holds 'Café' in latin-1 (one byte 0xE9)."""

    def build(folder: Path, sample: Sample) -> Path:
        records = with_values(sample, {(line - 1, "ChargeDescription"): "Café usage"})
        path = folder / "focus_costs.csv"
        path.write_bytes(csv_text(sample.header, records).encode("latin-1"))
        return path

    build.__name__ = f"latin1_on_line_{line}"
    return build


def focus_0_5_file(folder: Path, sample: Sample) -> Path:
    return Path(shutil.copy(PRE_1_0_SAMPLE, folder / "all_pass_0.5.csv"))


#: (builder, words the message must contain)
UNREADABLE = [
    pytest.param(png_file, ["binary"], id="png-renamed-csv"),
    pytest.param(zip_file, ["ZIP"], id="zip-renamed-csv"),
    pytest.param(random_binary, ["binary"], id="random-binary"),
    pytest.param(truncated_gzip, ["gzip", "truncated"], id="truncated-gzip"),
    pytest.param(
        truncated_gzip_of_200_records,
        ["gzip", "truncated"],
        id="truncated-gzip-200-records",
    ),
    pytest.param(
        missing_mandatory_columns,
        ["missing mandatory", "BilledCost", "ChargePeriodStart"],
        id="missing-mandatory-columns",
    ),
    pytest.param(empty_file, ["empty"], id="empty-file"),
    pytest.param(latin1_on_line(5), ["UTF-8"], id="latin1-on-line-5"),
    pytest.param(
        latin1_on_line(21),
        ["UTF-8"],
        id="latin1-on-line-21",
    ),
    pytest.param(focus_0_5_file, ["FOCUS 0.5", "pre-1.0"], id="focus-0.5"),
]


@pytest.mark.parametrize(("build", "words"), UNREADABLE)
def test_unreadable_file_fails_with_a_clear_message_and_changes_nothing(
    tmp_path: Path,
    loaded_ws: Path,
    sample: Sample,
    build: Callable[[Path, Sample], Path],
    words: list[str],
):
    path = build(tmp_path, sample)
    before = store_state(loaded_ws)

    result = run_cli("ingest", "focus", path, "-w", loaded_ws, cwd=tmp_path)

    assert result.returncode == 2, output(result)
    assert_no_traceback(result)
    assert str(path) in unwrapped(result)
    for word in words:
        assert word in unwrapped(result)
    assert store_state(loaded_ws) == before


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(png_file, id="png-renamed-csv"),
        pytest.param(zip_file, id="zip-renamed-csv"),
        pytest.param(random_binary, id="random-binary"),
        pytest.param(
            truncated_gzip,
            id="truncated-gzip",
        ),
        pytest.param(missing_mandatory_columns, id="missing-mandatory-columns"),
        pytest.param(empty_file, id="empty-file"),
        pytest.param(
            latin1_on_line(5),
            id="latin1-on-line-5",
        ),
        pytest.param(focus_0_5_file, id="focus-0.5"),
    ],
)
def test_unreadable_file_error_says_what_to_do(
    tmp_path: Path, empty_ws: Path, sample: Sample, build: Callable[[Path, Sample], Path]
):
    path = build(tmp_path, sample)

    result = run_cli("ingest", "focus", path, "-w", empty_ws, cwd=tmp_path)

    assert result.returncode == 2, output(result)
    assert "hint:" in output(result)


def test_non_utf8_error_does_not_blame_a_valid_header(
    tmp_path: Path, empty_ws: Path, sample: Sample
):
    path = latin1_on_line(5)(tmp_path, sample)

    result = run_cli("ingest", "focus", path, "-w", empty_ws, cwd=tmp_path)

    assert result.returncode == 2
    lines = re.findall(re.escape(str(path)) + r":(\d+)", unwrapped(result))
    assert lines in ([], ["5"])


def test_error_message_keeps_a_long_file_path_on_one_line(
    tmp_path: Path, empty_ws: Path, sample: Sample
):
    folder = tmp_path / "exports-from-the-example-corp-payer-account" / "billing-period-2026-05"
    folder.mkdir(parents=True)
    path = empty_file(folder, sample)

    result = run_cli("ingest", "focus", path, "-w", empty_ws, cwd=tmp_path)

    assert result.returncode == 2
    assert str(path) in result.stderr


def test_header_only_file_ingests_nothing_and_succeeds(
    tmp_path: Path, loaded_ws: Path, sample: Sample
):
    path = write_csv(tmp_path / "focus_costs.csv", sample.header, [])
    before = store_state(loaded_ws)

    result = run_cli("ingest", "focus", path, "-w", loaded_ws, cwd=tmp_path)

    assert result.returncode == 0, output(result)
    assert_no_traceback(result)
    after = store_state(loaded_ws)
    assert (after.rows, after.billed, after.quarantined) == (
        before.rows,
        before.billed,
        before.quarantined,
    )


# -- rows that cannot be read ----------------------------------------------------------------------

#: record number -> (column, bad value); record N is on line N + 1
BAD_VALUES = {
    3: ("BilledCost", "12,34"),
    6: ("ChargePeriodStart", "2026-13-45T00:00:00Z"),
    9: ("BillingAccountId", ""),
    12: ("ChargeCategory", "Refund"),
}
BAD_REASONS = {
    3: "not a number",
    6: "not an ISO 8601 date/time",
    9: "missing mandatory value",
    12: "is not one of",
}


#: the result of an ingest command and the workspace it wrote to
Ingested = tuple[subprocess.CompletedProcess[str], Path]


@pytest.fixture
def bad_rows(tmp_path: Path, sample: Sample) -> tuple[Path, list[list[str]]]:
    records = with_values(sample, {(n, c): v for n, (c, v) in BAD_VALUES.items()})
    return write_csv(tmp_path / "focus_bad_rows.csv", sample.header, records), records


@pytest.fixture
def quarantined(tmp_path: Path, empty_ws: Path, bad_rows: tuple[Path, list[list[str]]]) -> Ingested:
    """The bad-rows file ingested (without --strict) into an empty workspace."""
    result = run_cli("ingest", "focus", bad_rows[0], "-w", empty_ws, cwd=tmp_path)
    return result, empty_ws


def test_bad_rows_are_quarantined_and_the_rest_ingested(quarantined: Ingested):
    result, workspace = quarantined

    assert result.returncode == 0, output(result)
    assert_no_traceback(result)
    state = store_state(workspace)
    assert state.rows == SAMPLE_RECORDS - len(BAD_VALUES)
    assert state.quarantined == len(BAD_VALUES)
    assert state.rows + len(quarantine_json(workspace)) == SAMPLE_RECORDS
    with Workspace(workspace, read_only=True) as ws:
        logged = ws.sql("SELECT rows_read, rows_ingested, rows_quarantined FROM ingest_log")
    assert logged.to_pylist() == [
        {"rows_read": 20, "rows_ingested": 16, "rows_quarantined": 4},
    ]
    bad = set(BAD_VALUES)
    assert source_records(workspace) == [n for n in range(1, SAMPLE_RECORDS + 1) if n not in bad]


def test_bad_rows_ingested_billed_cost_is_the_sum_of_the_good_rows(
    quarantined: Ingested,
    sample: Sample,
    bad_rows: tuple[Path, list[list[str]]],
):
    _, workspace = quarantined
    column = sample.column("BilledCost")
    good = [r for n, r in enumerate(bad_rows[1], start=1) if n not in BAD_VALUES]

    assert store_state(workspace).billed == sum(Decimal(r[column]) for r in good)


def test_each_quarantined_row_has_its_line_column_reason_and_value(quarantined: Ingested):
    _, workspace = quarantined

    rows = quarantine_json(workspace)

    assert [(q["record"], q["line"], q["column_name"]) for q in rows] == [
        (n, n + 1, column) for n, (column, _) in sorted(BAD_VALUES.items())
    ]
    for q in rows:
        column, value = BAD_VALUES[q["record"]]
        assert q["value"] == (value or None)
        assert column in q["reason"]
        assert BAD_REASONS[q["record"]] in q["reason"]
        assert q["path"].endswith("focus_bad_rows.csv")


def test_quarantined_rows_keep_all_their_raw_values(
    quarantined: Ingested,
    sample: Sample,
    bad_rows: tuple[Path, list[list[str]]],
):
    _, workspace = quarantined

    raw = quarantine_raw(workspace)

    assert raw == {n + 1: expected_raw(sample, bad_rows[1], n) for n in BAD_VALUES}


def test_ingest_summary_names_the_file_line_and_reason_of_bad_rows(quarantined: Ingested):
    result, _ = quarantined
    text = unwrapped(result)

    assert "focus_bad_rows.csv:4: BilledCost: not a number: '12,34'" in text
    assert "focus_bad_rows.csv:7: ChargePeriodStart" in text
    assert "focus_bad_rows.csv:10: BillingAccountId: missing mandatory value" in text
    assert "focus_bad_rows.csv:13: ChargeCategory: 'Refund'" in text
    assert "aifinops quarantine" in text


def test_strict_with_bad_rows_fails_and_changes_nothing(
    tmp_path: Path, loaded_ws: Path, bad_rows: tuple[Path, list[list[str]]]
):
    before = store_state(loaded_ws)

    result = run_cli("ingest", "focus", bad_rows[0], "--strict", "-w", loaded_ws, cwd=tmp_path)

    assert result.returncode == 2, output(result)
    assert_no_traceback(result)
    text = unwrapped(result)
    assert "--strict" in text
    assert "nothing was ingested" in text
    assert f"{bad_rows[0]}:4: BilledCost: not a number" in text
    assert "hint:" in text
    assert store_state(loaded_ws) == before


def test_record_with_too_many_fields_is_quarantined_with_its_line(
    tmp_path: Path, empty_ws: Path, sample: Sample
):
    records = [list(r) for r in sample.records]
    records[3] += ["extra", "fields"]  # record 4, line 5
    path = write_csv(tmp_path / "focus_costs.csv", sample.header, records)

    result = run_cli("ingest", "focus", path, "-w", empty_ws, cwd=tmp_path)

    assert result.returncode == 0, output(result)
    assert_no_traceback(result)
    assert "focus_costs.csv:5: malformed record" in unwrapped(result)
    [q] = quarantine_json(empty_ws)
    assert (q["record"], q["line"], q["column_name"]) == (4, 5, None)
    assert "wrong number of fields" in q["reason"]
    assert quarantine_raw(empty_ws)[5]["line"].endswith("extra,fields")
    assert source_records(empty_ws) == [n for n in range(1, SAMPLE_RECORDS + 1) if n != 4]


def test_quoted_newline_is_kept_and_later_lines_are_counted_right(
    tmp_path: Path, empty_ws: Path, sample: Sample
):
    description = "Linux on-demand\nsecond line of the description"
    records = with_values(
        sample,
        {(7, "ChargeDescription"): description, (10, "BilledCost"): "abc"},
    )  # record 7 spans lines 8-9, so record 10 starts on line 12
    path = write_csv(tmp_path / "focus_costs.csv", sample.header, records)

    result = run_cli("ingest", "focus", path, "-w", empty_ws, cwd=tmp_path)

    assert result.returncode == 0, output(result)
    assert_no_traceback(result)
    [q] = quarantine_json(empty_ws)
    assert (q["record"], q["line"], q["column_name"], q["value"]) == (10, 12, "BilledCost", "abc")
    with Workspace(empty_ws, read_only=True) as ws:
        stored = ws.sql("SELECT ChargeDescription FROM costs WHERE x_SourceRecord = 7")
    assert stored.column(0).to_pylist() == [description]
    assert source_records(empty_ws) == [n for n in range(1, SAMPLE_RECORDS + 1) if n != 10]


def test_bad_value_that_looks_like_markup_is_reported_verbatim(
    tmp_path: Path, empty_ws: Path, sample: Sample
):
    records = with_values(sample, {(3, "BilledCost"): "[/red]"})
    path = write_csv(tmp_path / "focus_costs.csv", sample.header, records)

    result = run_cli("ingest", "focus", path, "-w", empty_ws, cwd=tmp_path)

    assert result.returncode == 0, output(result)
    assert_no_traceback(result)
    assert "focus_costs.csv:4: BilledCost: not a number: '[/red]'" in unwrapped(result)


def test_file_whose_name_looks_like_a_glob_is_ingested(
    tmp_path: Path, empty_ws: Path, sample: Sample
):
    path = write_csv(tmp_path / "export[old].csv", sample.header, sample.records)

    result = run_cli("ingest", "focus", path, "-w", empty_ws, cwd=tmp_path)

    assert result.returncode == 0, output(result)
    assert store_state(empty_ws).rows == SAMPLE_RECORDS
