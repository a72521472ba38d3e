"""Golden tests: the reference FOCUS samples (1.2, 1.3, 1.4 for AWS, Azure, GCP) go in exactly.

Every expected value is computed from the input file with Python's ``csv`` and ``decimal`` modules,
independently of aifinops. One hand-checked total per provider is also pinned as a literal. The
inputs are SYNTHETIC (focus-data-toolkit 0.14.1) plus one upstream FIXTURE; see
``tests/data/reference/README.md``.
"""

from __future__ import annotations

import csv
import gzip
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from aifinops import Workspace
from aifinops.errors import IngestError
from aifinops.model.focus import ColumnType, all_columns
from aifinops.store.ingest import IngestSummary

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference"
PROVIDERS = ("aws", "azure", "gcp")

#: The Decimal columns of the FOCUS 1.4 Cost and Usage dataset, from the specification's tables
#: (written out here so that the model is checked against them, not used to build them).
DECIMAL_COLUMNS = (
    "BilledCost",
    "CommitmentDiscountQuantity",
    "ConsumedQuantity",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "ListCost",
    "ListUnitPrice",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
    "PricingQuantity",
)
MANDATORY_MONEY = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")

#: BilledCost per provider in the 1.2 files, checked by hand outside aifinops and Python's
#: Decimal: the column was cut out with the csv module (empty cells as 0) and added up with the
#: arbitrary-precision calculator bc:
#:   python -c "import csv,sys; [print(r['BilledCost'] or 0) for r in
#:              csv.DictReader(open(sys.argv[1], newline=''))]" FILE | paste -sd+ | bc
HAND_CHECKED_BILLED_1_2 = {
    "AWS": Decimal("25993.813466032605000"),
    "Microsoft Azure": Decimal("38965.314794127360000"),
    "Google Cloud": Decimal("30378.761241953350500"),
}


@dataclass(frozen=True)
class Reference:
    version: str
    provider: str
    path: Path

    @property
    def id(self) -> str:
        return f"{self.version}-{self.provider}"


def _reference_files() -> list[Reference]:
    names = {
        "1.2": "focus-1.2/focus_1_2_cost_and_usage_{}.csv",
        "1.3": "focus-1.3/focus_1_3_cost_and_usage_{}.csv.gz",
        "1.4": "focus-1.4/synthetic_focus_1_4_cost_and_usage_{}.csv.gz",
    }
    return [
        Reference(version, provider, REFERENCE / pattern.format(provider))
        for version, pattern in names.items()
        for provider in PROVIDERS
    ]


REFERENCES = _reference_files()
VERSIONS = ("1.2", "1.3", "1.4")


def of_version(version: str) -> list[Reference]:
    return [r for r in REFERENCES if r.version == version]


# -- reading the inputs independently --------------------------------------------------------


@dataclass(frozen=True)
class CsvFile:
    header: list[str]
    rows: list[dict[str, str]]


def read_csv(path: Path) -> CsvFile:
    """Header and rows of a CSV or CSV.gz file, as the text the file holds."""
    if path.suffix == ".gz":
        with gzip.open(path, "rt", newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            return CsvFile(list(reader.fieldnames or []), list(reader))
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return CsvFile(list(reader.fieldnames or []), list(reader))


def decimal_sum(rows: list[dict[str, str]], column: str) -> Decimal | None:
    """Exact sum of a column (empty cells are null); None when every cell is empty, as in SQL."""
    values = [Decimal(row[column]) for row in rows if row[column] != ""]
    return sum(values, Decimal(0)) if values else None


def or_null(text: str) -> str | None:
    return text or None


def service_provider(row: dict[str, str]) -> str:
    """Who sells the service: ServiceProviderName (1.3+), else ProviderName (1.0 to 1.2)."""
    return row.get("ServiceProviderName") or row["ProviderName"]


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


# -- reading the store -------------------------------------------------------------------------


def scalar(ws: Workspace, query: str) -> Any:
    return ws.sql(query).column(0)[0].as_py()


def column_values(ws: Workspace, column: str) -> list[Any]:
    """One column of ``costs`` in source-record order."""
    return ws.sql(f'SELECT "{column}" FROM costs ORDER BY x_SourceRecord').column(0).to_pylist()


def sums_by_provider(ws: Workspace, columns: list[str]) -> dict[str, dict[str, Any]]:
    sums = ", ".join(f'sum("{c}") AS "{c}"' for c in columns)
    table = ws.sql(f"SELECT ServiceProviderName, {sums} FROM costs GROUP BY 1")
    return {row.pop("ServiceProviderName"): row for row in table.to_pylist()}


@dataclass
class Loaded:
    reference: Reference
    workspace: Workspace
    summary: IngestSummary
    file: CsvFile


@pytest.fixture(scope="module")
def load(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Reference], Loaded]]:
    """Ingest one reference file into its own fresh workspace (once per module)."""
    cache: dict[Reference, Loaded] = {}

    def get(reference: Reference) -> Loaded:
        if reference not in cache:
            ws = Workspace.init(tmp_path_factory.mktemp(f"ws-{reference.id}"))
            summary = ws.ingest([reference.path])
            cache[reference] = Loaded(reference, ws, summary, read_csv(reference.path))
        return cache[reference]

    yield get
    for loaded in cache.values():
        loaded.workspace.close()


@pytest.fixture(scope="module")
def load_version(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[str], tuple[Workspace, dict[Path, CsvFile]]]]:
    """Ingest the three provider files of one FOCUS version together into a fresh workspace."""
    cache: dict[str, tuple[Workspace, dict[Path, CsvFile]]] = {}

    def get(version: str) -> tuple[Workspace, dict[Path, CsvFile]]:
        if version not in cache:
            ws = Workspace.init(tmp_path_factory.mktemp(f"ws-all-{version}"))
            paths = [r.path for r in of_version(version)]
            ws.ingest(paths)
            cache[version] = (ws, {p: read_csv(p) for p in paths})
        return cache[version]

    yield get
    for ws, _ in cache.values():
        ws.close()


by_file = pytest.mark.parametrize("reference", REFERENCES, ids=lambda r: r.id)


# -- every file --------------------------------------------------------------------------------


@by_file
def test_every_row_is_read_and_ingested(load: Callable[[Reference], Loaded], reference: Reference):
    loaded = load(reference)
    result = loaded.summary.files[0]
    expected = len(loaded.file.rows)

    assert expected == 1000
    assert result.status == "ingested"
    assert result.rows_read == result.rows_ingested == expected
    assert result.rows_quarantined == 0
    assert scalar(loaded.workspace, "SELECT count(*) FROM costs") == expected
    assert scalar(loaded.workspace, "SELECT count(*) FROM quarantine") == 0


@by_file
def test_focus_version_is_detected(load: Callable[[Reference], Loaded], reference: Reference):
    loaded = load(reference)

    assert loaded.summary.files[0].focus_version == reference.version
    stored = loaded.workspace.sql("SELECT DISTINCT x_FocusVersion FROM costs").column(0)
    assert stored.to_pylist() == [reference.version]


@by_file
def test_every_decimal_column_sums_exactly_as_in_the_file(
    load: Callable[[Reference], Loaded], reference: Reference
):
    loaded = load(reference)
    present = [c for c in DECIMAL_COLUMNS if c in loaded.file.header]
    stored = loaded.workspace.sql(
        "SELECT " + ", ".join(f'sum("{c}") AS "{c}"' for c in present) + " FROM costs"
    ).to_pylist()[0]

    mismatches = {
        c: (stored[c], decimal_sum(loaded.file.rows, c))
        for c in present
        if stored[c] != decimal_sum(loaded.file.rows, c)
    }
    assert set(MANDATORY_MONEY) <= set(present)
    assert mismatches == {}


@by_file
def test_decimal_columns_are_stored_as_exact_decimals(
    load: Callable[[Reference], Loaded], reference: Reference
):
    loaded = load(reference)
    present = [c for c in DECIMAL_COLUMNS if c in loaded.file.header]
    schema = loaded.workspace.sql(
        "SELECT " + ", ".join(f'"{c}"' for c in present) + " FROM costs LIMIT 1"
    ).schema

    assert {c: schema.field(c).type for c in present} == dict.fromkeys(
        present, pa.decimal128(38, 18)
    )


@by_file
@pytest.mark.parametrize("column", ["ChargeCategory", "ServiceCategory", "BillingCurrency"])
def test_distinct_values_match_the_file(
    load: Callable[[Reference], Loaded], reference: Reference, column: str
):
    loaded = load(reference)
    stored = loaded.workspace.sql(f'SELECT DISTINCT "{column}" FROM costs').column(0).to_pylist()

    assert set(stored) == {or_null(row[column]) for row in loaded.file.rows}


@by_file
def test_charge_period_start_range_matches_the_file(
    load: Callable[[Reference], Loaded], reference: Reference
):
    loaded = load(reference)
    starts = [parse_time(row["ChargePeriodStart"]) for row in loaded.file.rows]
    stored = loaded.workspace.sql(
        "SELECT min(ChargePeriodStart) AS lo, max(ChargePeriodStart) AS hi FROM costs"
    ).to_pylist()[0]

    assert (stored["lo"], stored["hi"]) == (min(starts), max(starts))


@by_file
def test_billing_account_ids_stay_strings_unchanged(
    load: Callable[[Reference], Loaded], reference: Reference
):
    loaded = load(reference)
    stored = column_values(loaded.workspace, "BillingAccountId")

    assert all(isinstance(v, str) for v in stored)
    assert stored == [row["BillingAccountId"] for row in loaded.file.rows]


@by_file
def test_service_provider_name_is_per_row_as_in_the_file(
    load: Callable[[Reference], Loaded], reference: Reference
):
    loaded = load(reference)

    assert column_values(loaded.workspace, "ServiceProviderName") == [
        service_provider(row) for row in loaded.file.rows
    ]


# -- provider columns across versions ----------------------------------------------------------


@pytest.mark.parametrize("reference", of_version("1.2"), ids=lambda r: r.id)
def test_1_2_service_provider_name_equals_provider_name(
    load: Callable[[Reference], Loaded], reference: Reference
):
    loaded = load(reference)
    expected = [row["ProviderName"] for row in loaded.file.rows]

    assert "ServiceProviderName" not in loaded.file.header
    assert column_values(loaded.workspace, "ProviderName") == expected
    assert column_values(loaded.workspace, "ServiceProviderName") == expected


@pytest.mark.parametrize("reference", of_version("1.3"), ids=lambda r: r.id)
def test_1_3_provider_columns_are_kept_as_in_the_file(
    load: Callable[[Reference], Loaded], reference: Reference
):
    loaded = load(reference)

    for column in ("ProviderName", "ServiceProviderName", "HostProviderName"):
        expected = [or_null(row[column]) for row in loaded.file.rows]
        assert column_values(loaded.workspace, column) == expected, column


@pytest.mark.parametrize("reference", of_version("1.4"), ids=lambda r: r.id)
def test_1_4_provider_name_is_filled_from_service_provider_name(
    load: Callable[[Reference], Loaded], reference: Reference
):
    loaded = load(reference)

    assert "ProviderName" not in loaded.file.header
    assert column_values(loaded.workspace, "ProviderName") == [
        row["ServiceProviderName"] for row in loaded.file.rows
    ]


# -- the three providers of a version together -------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_rows_per_file_in_a_multi_file_load(
    load_version: Callable[[str], tuple[Workspace, dict[Path, CsvFile]]], version: str
):
    ws, files = load_version(version)
    table = ws.sql(
        "SELECT l.path, count(c.x_IngestFileId) AS n FROM ingest_log l "
        "LEFT JOIN costs c ON c.x_IngestFileId = l.file_id GROUP BY l.path"
    )
    stored = {row["path"]: row["n"] for row in table.to_pylist()}

    assert stored == {str(path.resolve()): len(f.rows) for path, f in files.items()}


@pytest.mark.parametrize("version", VERSIONS)
def test_totals_per_service_provider_match_the_files(
    load_version: Callable[[str], tuple[Workspace, dict[Path, CsvFile]]], version: str
):
    ws, files = load_version(version)
    rows = [row for f in files.values() for row in f.rows]
    header = next(iter(files.values())).header
    present = [c for c in DECIMAL_COLUMNS if c in header]
    grouped: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        grouped[service_provider(row)].append(row)
    expected = {
        provider: {c: decimal_sum(provider_rows, c) for c in present}
        for provider, provider_rows in grouped.items()
    }

    assert set(expected) == set(HAND_CHECKED_BILLED_1_2)
    assert sums_by_provider(ws, present) == expected


@pytest.mark.parametrize("provider", sorted(HAND_CHECKED_BILLED_1_2))
def test_1_2_billed_cost_per_provider_equals_the_hand_checked_total(
    load_version: Callable[[str], tuple[Workspace, dict[Path, CsvFile]]], provider: str
):
    ws, _ = load_version("1.2")

    stored = sums_by_provider(ws, ["BilledCost"])[provider]["BilledCost"]
    assert stored == HAND_CHECKED_BILLED_1_2[provider]


# -- crafted cases and rejections ----------------------------------------------------------------


def test_numeric_looking_account_ids_keep_their_leading_zeros(tmp_path: Path):
    source = read_csv(REFERENCE / "focus-1.2" / "focus_1_2_cost_and_usage_aws.csv")
    ids = ["000123456789", "0042", "00000000000000000000000001", "1e5", "12.50", "-0"]
    rows = [
        {**row, "BillingAccountId": account, "SubAccountId": "0" + account}
        for row, account in zip(source.rows, ids, strict=False)
    ]
    path = tmp_path / "leading_zeros.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=source.header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)

    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest([path])
        assert column_values(ws, "BillingAccountId") == ids
        assert column_values(ws, "SubAccountId") == ["0" + i for i in ids]


def test_focus_0_5_file_is_rejected_as_pre_1_0(tmp_path: Path):
    path = REFERENCE / "focus-0.5" / "all_pass_0.5.csv"

    with Workspace.init(tmp_path / "ws") as ws:
        with pytest.raises(IngestError) as raised:
            ws.ingest([path])
        message = raised.value.message
        assert "FOCUS 0.5" in message
        assert "pre-1.0" in message
        assert str(path) in message
        assert scalar(ws, "SELECT count(*) FROM costs") == 0
        assert scalar(ws, "SELECT count(*) FROM ingest_log") == 0


def test_decimal_column_list_matches_the_model():
    model = {c.name for c in all_columns() if c.type is ColumnType.DECIMAL}

    assert model == set(DECIMAL_COLUMNS)


def test_reference_files_have_the_expected_shape():
    counts = Counter(r.version for r in REFERENCES)

    assert counts == dict.fromkeys(VERSIONS, 3)
    assert all(r.path.is_file() for r in REFERENCES)
