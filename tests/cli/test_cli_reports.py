"""The happy path through the real ``aifinops`` command on the three FOCUS 1.2 reference samples.

One workspace is shared by the module (``init`` + ``ingest focus DIR`` run once); every expected
number is computed from the input files with Python's ``csv`` and ``decimal`` modules. The inputs
are SYNTHETIC (focus-data-toolkit 0.14.1, AWS/Azure/GCP, May 2026); see
``tests/data/reference/README.md``. The default report metric is EffectiveCost.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.cli.runner import StoreState, output, run_cli, store_state

FOCUS_1_2 = Path(__file__).resolve().parents[1] / "data" / "reference" / "focus-1.2"
MAY_2026 = ("2026-05-01", "2026-05-31")
OTHER = "(other)"


# -- running the command -------------------------------------------------------------------------


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """stdout of a command that must succeed without a traceback."""
    assert result.returncode == 0, output(result)
    assert "Traceback" not in output(result), output(result)
    return result.stdout


def parse_json(text: str) -> Any:
    """JSON with every non-integer number as an exact Decimal."""
    return json.loads(text, parse_float=Decimal)


def parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def as_decimal(value: Any) -> Decimal:
    return Decimal(str(value)) if not isinstance(value, Decimal) else value


# -- expected values from the input files --------------------------------------------------------


def read_rows(paths: Iterable[Path]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in paths:
        with path.open(newline="", encoding="utf-8") as fh:
            rows.extend(csv.DictReader(fh))
    return rows


def total_by(
    rows: Iterable[dict[str, str]], key: Callable[[dict[str, str]], Any], column: str
) -> dict[Any, Decimal]:
    totals: dict[Any, Decimal] = defaultdict(Decimal)
    for row in rows:
        if row[column]:
            totals[key(row)] += Decimal(row[column])
    return dict(totals)


def charge_day(row: dict[str, str]) -> str:
    return datetime.fromisoformat(row["ChargePeriodStart"]).date().isoformat()


def tag_keys(row: dict[str, str]) -> set[str]:
    return set(json.loads(row["Tags"])) if row["Tags"] else set()


@dataclass(frozen=True)
class Expected:
    rows: list[dict[str, str]]

    def total(self, column: str = "EffectiveCost") -> Decimal:
        return total_by(self.rows, lambda _: "all", column)["all"]

    def by(
        self, key: Callable[[dict[str, str]], Any], column: str = "EffectiveCost"
    ) -> dict[Any, Decimal]:
        return total_by(self.rows, key, column)

    def count_by(self, key: Callable[[dict[str, str]], Any]) -> dict[Any, int]:
        return dict(Counter(key(row) for row in self.rows))


@pytest.fixture(scope="module")
def expected() -> Expected:
    return Expected(read_rows(sorted(FOCUS_1_2.glob("*.csv"))))


# -- the shared workspace ------------------------------------------------------------------------


@dataclass(frozen=True)
class Shared:
    root: Path
    workspace: Path
    init: subprocess.CompletedProcess[str]
    first_ingest: subprocess.CompletedProcess[str]
    after_first: StoreState
    second_ingest: subprocess.CompletedProcess[str]
    after_second: StoreState

    def cli(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, "-w", self.workspace, cwd=self.root)

    def report(self, *args: str | Path) -> str:
        return ok(self.cli("report", *args))


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Shared:
    """``init``, ``ingest focus DIR`` and the same ingest again, run once for the module."""
    root = tmp_path_factory.mktemp("reports")
    workspace = root / "ws"
    init = run_cli("init", workspace, cwd=root)
    first = run_cli("ingest", "focus", FOCUS_1_2, "-w", workspace, cwd=root)
    after_first = store_state(workspace)
    second = run_cli("ingest", "focus", FOCUS_1_2, "-w", workspace, cwd=root)
    return Shared(root, workspace, init, first, after_first, second, store_state(workspace))


@pytest.fixture(scope="module")
def exported(shared: Shared) -> Path:
    out = shared.root / "export"
    ok(shared.cli("export", "focus", "--out", out, "--focus-version", "1.2", "--csv"))
    return out


# -- init and ingest -----------------------------------------------------------------------------


def test_init_creates_a_workspace(shared: Shared):
    assert "workspace ready" in ok(shared.init)
    assert (shared.workspace / "aifinops.toml").is_file()
    assert (shared.workspace / "aifinops.duckdb").is_file()


def test_ingest_of_a_folder_loads_every_file(shared: Shared, expected: Expected):
    text = ok(shared.first_ingest)

    assert f"{len(expected.rows):,}" in text
    assert shared.after_first == StoreState(
        rows=len(expected.rows), billed=expected.total("BilledCost"), files=3
    )


def test_second_ingest_of_the_same_folder_is_skipped_and_changes_nothing(shared: Shared):
    text = ok(shared.second_ingest)

    assert text.count("skipped") == 3
    assert "already" in text
    assert shared.after_second == shared.after_first


# -- report costs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric_args", "column"),
    [([], "EffectiveCost"), (["--metric", "billed"], "BilledCost")],
    ids=["default-effective", "billed"],
)
def test_costs_by_provider_as_json_equal_the_files_exactly(
    shared: Shared, expected: Expected, metric_args: list[str], column: str
):
    rows = parse_json(
        shared.report("costs", "--by", "ServiceProviderName", *metric_args, "--format", "json")
    )

    assert {r["BillingCurrency"] for r in rows} == {"USD"}
    assert {r["ServiceProviderName"]: r[column] for r in rows} == expected.by(
        lambda r: r["ProviderName"], column
    )


@pytest.fixture(scope="module")
def top3(shared: Shared) -> list[dict[str, Any]]:
    return parse_json(
        shared.report("costs", "--by", "tag:Environment,ServiceName", "--top", "3", "-f", "json")
    )


def per_currency(rows: list[dict[str, Any]]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        totals[row["BillingCurrency"]] += as_decimal(row["EffectiveCost"])
    return dict(totals)


def test_top_keeps_the_grand_total_per_currency(
    shared: Shared, expected: Expected, top3: list[dict[str, Any]]
):
    everything = parse_json(
        shared.report("costs", "--by", "tag:Environment,ServiceName", "-f", "json")
    )

    assert len(everything) > 4
    assert per_currency(top3) == per_currency(everything)
    assert per_currency(everything) == expected.by(lambda r: r["BillingCurrency"])


def test_top_sums_the_rest_into_one_other_group(top3: list[dict[str, Any]]):
    others = [r for r in top3 if r["tag:Environment"] == OTHER]

    assert len(others) == 1
    assert others[0]["ServiceName"] == OTHER


def test_top_keeps_at_most_n_named_groups(top3: list[dict[str, Any]]):
    named = [r for r in top3 if r["tag:Environment"] != OTHER]

    assert len(named) <= 3


def test_top_lists_the_other_group_last(top3: list[dict[str, Any]]):
    assert top3[-1]["tag:Environment"] == OTHER


def test_costs_per_day_as_csv_equal_the_files(shared: Shared, expected: Expected):
    rows = parse_csv(shared.report("costs", "--granularity", "day", "--format", "csv"))

    assert {r["BillingCurrency"] for r in rows} == {"USD"}
    assert {r["period"]: Decimal(r["EffectiveCost"]) for r in rows} == expected.by(charge_day)


def test_period_month_and_the_same_from_to_range_give_the_same_report(
    shared: Shared, expected: Expected
):
    by_period = shared.report("costs", "--by", "ServiceName", "--period", "2026-05", "-f", "csv")
    by_range = shared.report(
        "costs", "--by", "ServiceName", "--from", MAY_2026[0], "--to", MAY_2026[1], "-f", "csv"
    )

    assert by_period == by_range
    rows = parse_csv(by_period)
    assert {r["ServiceName"]: Decimal(r["EffectiveCost"]) for r in rows} == expected.by(
        lambda r: r["ServiceName"]
    )


def test_parquet_output_keeps_money_as_exact_decimals(shared: Shared, expected: Expected):
    path = shared.root / "by-provider.parquet"

    shared.report("costs", "--by", "ServiceProviderName", "--format", "parquet", "--output", path)

    table = pq.read_table(path)
    assert pa.types.is_decimal(table.schema.field("EffectiveCost").type)
    assert {r["ServiceProviderName"]: r["EffectiveCost"] for r in table.to_pylist()} == expected.by(
        lambda r: r["ProviderName"]
    )


# -- other reports -------------------------------------------------------------------------------


def test_tag_coverage_equals_the_usage_cost_carrying_each_key(shared: Shared, expected: Expected):
    usage = [r for r in expected.rows if r["ChargeCategory"] == "Usage"]
    tagged: dict[str, Decimal] = defaultdict(Decimal)
    for row in usage:
        for key in tag_keys(row):
            tagged[key] += Decimal(row["EffectiveCost"])

    rows = parse_json(shared.report("tag-coverage", "--format", "json"))

    assert {r["key"]: r["tagged"] for r in rows} == dict(tagged)
    assert {r["total"] for r in rows} == {sum(Decimal(r["EffectiveCost"]) for r in usage)}
    assert {r["key"]: r["rows"] for r in rows} == {
        key: sum(1 for r in usage if key in tag_keys(r)) for key in tagged
    }


def test_trend_for_may_compares_with_an_empty_april(shared: Shared, expected: Expected):
    rows = parse_json(shared.report("trend", "--period", "2026-05", "--format", "json"))

    assert {r["ServiceName"]: r["current"] for r in rows} == expected.by(lambda r: r["ServiceName"])
    assert all(r["previous"] == 0 for r in rows)
    assert all(r["change"] == r["current"] for r in rows)


# -- sql, status, sources ------------------------------------------------------------------------


def test_sql_select_runs_over_focus_data_table(shared: Shared, expected: Expected):
    text = ok(
        shared.cli(
            "sql",
            "SELECT count(*) AS n, sum(BilledCost) AS billed FROM focus_data_table",
            "-f",
            "csv",
        )
    )

    [row] = parse_csv(text)
    assert int(row["n"]) == len(expected.rows)
    assert Decimal(row["billed"]) == expected.total("BilledCost")


def test_sql_refuses_to_drop_a_table(shared: Shared):
    before = store_state(shared.workspace)

    result = shared.cli("sql", "drop table costs")

    assert result.returncode == 2, output(result)
    assert "Traceback" not in output(result)
    assert "read-only" in output(result).replace("\n", "")
    assert store_state(shared.workspace) == before


def test_status_shows_rows_and_cost_per_provider(shared: Shared, expected: Expected):
    rows = parse_csv(ok(shared.cli("status", "--format", "csv")))

    assert {r["provider"]: int(r["rows"]) for r in rows} == expected.count_by(
        lambda r: r["ProviderName"]
    )
    assert {r["provider"]: Decimal(r["BilledCost"]) for r in rows} == expected.by(
        lambda r: r["ProviderName"], "BilledCost"
    )


def test_sources_lists_focus(shared: Shared):
    text = ok(run_cli("sources", cwd=shared.root))

    assert "focus" in text
    assert "csv.gz" in text


# -- export and round trip -----------------------------------------------------------------------


def test_export_focus_csv_billed_cost_equals_the_store(
    shared: Shared, exported: Path, expected: Expected
):
    [path] = exported.glob("*.csv")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))

    assert len(rows) == shared.after_first.rows
    assert sum(Decimal(r["BilledCost"]) for r in rows) == shared.after_first.billed
    assert shared.after_first.billed == expected.total("BilledCost")


def test_export_focus_parquet_billed_cost_equals_the_store(shared: Shared, exported: Path):
    [path] = exported.glob("*.parquet")
    table = pq.read_table(path, columns=["BilledCost"])

    assert pa.types.is_decimal(table.schema.field("BilledCost").type)
    assert table.num_rows == shared.after_first.rows
    assert sum(table.column("BilledCost").to_pylist()) == shared.after_first.billed


def test_exported_parquet_reingested_into_a_new_workspace_gives_identical_totals(
    shared: Shared, exported: Path
):
    [path] = exported.glob("*.parquet")
    other = shared.root / "round-trip"
    ok(run_cli("init", other, cwd=shared.root))
    ok(run_cli("ingest", "focus", path, "-w", other, cwd=shared.root))
    money = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "PricingQuantity")
    query = (
        "SELECT ServiceProviderName, BillingCurrency, count(*) AS n, "
        + ", ".join(f"sum({c}) AS {c}" for c in money)
        + " FROM costs GROUP BY ALL ORDER BY ALL"
    )

    original = ok(shared.cli("sql", query, "-f", "csv"))
    round_trip = ok(run_cli("sql", query, "-w", other, "-f", "csv", cwd=shared.root))

    assert round_trip == original
    assert len(parse_csv(original)) == 3
