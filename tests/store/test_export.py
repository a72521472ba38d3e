"""FOCUS export: the shape of each version, exact money, and the official validator's verdict."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from aifinops import Workspace
from aifinops.demo.generator import generate
from aifinops.model.focus import FocusVersion, export_columns
from tests.conftest import total
from tests.validator import needs_validator, validate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    manifest = generate(folder / "data", seed=7)
    with Workspace.init(folder / "ws") as ws:
        ws.ingest([f.path for f in manifest.files])
    return folder / "ws"


@pytest.mark.parametrize("version", ["1.2", "1.4"])
def test_export_has_the_versions_columns_and_exact_totals(
    demo_workspace: Path, tmp_path: Path, version: str
) -> None:
    with Workspace(demo_workspace, read_only=True) as ws:
        (path,) = ws.export_focus(tmp_path, version=version)
        stored = total(ws)
    table = pq.read_table(path)
    expected = [c.name for c in export_columns(FocusVersion.parse(version))]
    assert table.column_names[: len(expected)] == expected
    assert all(c.startswith("x_") for c in table.column_names[len(expected) :])
    assert "x_IngestFileId" not in table.column_names
    exported = sum((v for v in table.column("BilledCost").to_pylist() if v is not None), Decimal(0))
    assert exported == stored


def test_upgraded_1_0_rows_get_pricing_currency_and_a_subcategory(demo_workspace: Path) -> None:
    with Workspace(demo_workspace, read_only=True) as ws:
        rows = ws.sql(
            "SELECT count(*) FILTER (WHERE PricingCurrency IS NULL) AS no_currency, "
            "count(*) FILTER (WHERE ServiceSubcategory IS NULL) AS no_subcategory, "
            "count(*) FILTER (WHERE SubAccountId IS NOT NULL AND SubAccountType IS NULL) "
            "AS no_type "
            "FROM costs WHERE x_FocusVersion = '1.0'"
        ).to_pylist()[0]
    assert rows == {"no_currency": 0, "no_subcategory": 0, "no_type": 0}


@pytest.mark.validator
@needs_validator
def test_the_demo_export_passes_the_official_validator(
    demo_workspace: Path, tmp_path: Path
) -> None:
    with Workspace(demo_workspace, read_only=True) as ws:
        (path,) = ws.export_focus(tmp_path, version="1.2")
    result = validate(path)
    unexpected = {r.rule_id for r in result.unexpected_failures()}
    # The demo's Azure export is FOCUS 1.0, which has no SkuMeter (added in 1.1); aifinops does not
    # invent one, so this SHOULD rule (and the parents that roll it up) fails on those rows only.
    # See docs/focus-validator.md, "Our export".
    assert unexpected <= UPGRADED_1_0_GAPS, result.summary(allow_defects=True)


UPGRADED_1_0_GAPS = {
    "SkuMeter-C-005-C",
    "SkuMeter-C-003-C",
    "SkuMeter-C-000-C",
    "CostAndUsage-D-002-M",
    "CostAndUsage-D-000-M",
}
