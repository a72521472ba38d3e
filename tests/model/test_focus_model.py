from __future__ import annotations

import pytest

from aifinops.errors import AifinopsError
from aifinops.model.enums import ChargeCategory, ChargeFrequency, ServiceCategory, normalise
from aifinops.model.focus import (
    ColumnType,
    FocusVersion,
    columns,
    export_columns,
    mandatory_columns,
)
from aifinops.model.schema_plan import detect_version, plan


def test_every_version_has_its_published_column_count() -> None:
    # 1.0: 43 columns; 1.1: +7 = 50; 1.2: +7 = 57 (the 1.2 column table); 1.3: +8 = 65 with the
    # two deprecated provider columns still present; 1.4: 65 current + 2 deprecated kept in store.
    assert len(columns(FocusVersion.V1_2)) == 57
    assert len(export_columns(FocusVersion.V1_2)) == 57
    assert len(export_columns(FocusVersion.V1_4)) == 65
    assert "ProviderName" not in {c.name for c in export_columns(FocusVersion.V1_4)}
    assert len(columns(FocusVersion.V1_0)) < len(columns(FocusVersion.V1_1)) < 57


def test_column_types_and_allowed_values_come_from_the_spec() -> None:
    by_name = {c.name: c for c in columns(FocusVersion.V1_4)}
    assert by_name["BilledCost"].type is ColumnType.DECIMAL
    assert by_name["ChargePeriodStart"].type is ColumnType.DATETIME
    assert by_name["Tags"].type is ColumnType.JSON
    assert by_name["ChargeCategory"].allowed_values == (
        "Usage", "Purchase", "Tax", "Credit", "Adjustment"
    )  # fmt: skip


def test_mandatory_columns_follow_the_version() -> None:
    assert "ServiceProviderName" in mandatory_columns(FocusVersion.V1_4)
    assert "ServiceProviderName" not in mandatory_columns(FocusVersion.V1_2)
    assert "ProviderName" in mandatory_columns(FocusVersion.V1_2)
    assert "ProviderName" not in mandatory_columns(FocusVersion.V1_3)  # deprecated in 1.3


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Usage-based", "Usage-Based"), ("usage based", "Usage-Based"), ("ONE_TIME", "One-Time")],
)
def test_enum_parser_tolerates_case_and_separators(text: str, expected: str) -> None:
    assert ChargeFrequency.parse(text) == expected
    assert normalise(text, [m.value for m in ChargeFrequency]) == expected


def test_enum_parser_rejects_unknown_values_with_the_allowed_list() -> None:
    with pytest.raises(AifinopsError, match="Usage, Purchase"):
        ChargeCategory.parse("Refund")
    assert (
        ServiceCategory.parse("ai and machine learning") is ServiceCategory.AI_AND_MACHINE_LEARNING
    )


@pytest.mark.parametrize(
    ("header", "version"),
    [
        (["BilledCost", "ProviderName"], "1.0"),
        (["BilledCost", "ProviderName", "ServiceSubcategory"], "1.1"),
        (["BilledCost", "ProviderName", "InvoiceId"], "1.2"),
        (["BilledCost", "ServiceProviderName", "HostProviderName"], "1.3"),
        (["BilledCost", "ServiceProviderName", "InvoiceDetailId"], "1.4"),
    ],
)
def test_version_is_detected_from_the_columns(header: list[str], version: str) -> None:
    assert detect_version(header) == version


def test_plan_keeps_unknown_columns_as_x_columns_and_repairs_case() -> None:
    header = ["billedcost", "Id", "x_Custom", *mandatory_columns(FocusVersion.V1_2)]
    header.remove("BilledCost")
    p = plan(header)
    assert p.renames["Id"] == "x_Id"
    assert p.renames["x_Custom"] == "x_Custom"
    assert p.renames["billedcost"] == "BilledCost"
    assert p.case_repaired == ("billedcost",)
    assert p.missing_mandatory == ()
    assert p.derived["ServiceProviderName"] == "ProviderName"


def test_plan_names_missing_mandatory_columns() -> None:
    p = plan(["BilledCost", "ProviderName"])
    assert "ChargePeriodStart" in p.missing_mandatory
    assert "BilledCost" not in p.missing_mandatory


def test_pre_1_0_files_are_refused_with_an_explanation() -> None:
    with pytest.raises(AifinopsError, match=r"0\.5"):
        plan(["Provider", "Publisher", "ChargeType", "BilledCost"])
