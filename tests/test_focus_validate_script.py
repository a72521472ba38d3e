"""Tests for scripts/focus_validate.py: JUnit parsing, console parsing and the defect logic.

The fast tests read fixtures captured from a real validator run (see tests/data/validator/README.md;
the data is DERIVED from SYNTHETIC focus-data-toolkit output). Tests marked ``validator`` run the
official focus-validator and are skipped when ``.venv-validator`` (``make validator``) is absent.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "validator"
SCRIPT = ROOT / "scripts" / "focus_validate.py"
DOC = ROOT / "docs" / "focus-validator.md"
VENV = ROOT / ".venv-validator"
SHARED_MODEL = (
    ROOT.parent
    / "shared"
    / "reference"
    / "focus"
    / "spec"
    / "focus_requirements_model_1.2.0.1.json"
)
SHARED_SAMPLES = (
    ROOT.parent / "shared" / "reference" / "focus" / "samples" / "focus-data-toolkit-generated"
)
RULE_ID = re.compile(r"\b[A-Za-z]+-[CDA]-\d{3}-[MCO]\b")


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("focus_validate", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["focus_validate"] = module  # dataclasses look the module up while decorating
    spec.loader.exec_module(module)
    return module


fv: Any = _load_script()
Parsed = tuple[dict[str, Any], dict[str, str]]  # parse_junit(): (rules by id, JUnit header)
Model = dict[str, Any]  # load_rule_model(): RuleInfo by id

needs_validator = pytest.mark.skipif(
    not (VENV / "bin" / "focus-validator").exists(),
    reason="the official validator venv .venv-validator is absent (build it with `make validator`)",
)


@pytest.fixture(scope="module")
def parsed() -> Parsed:
    return fv.parse_junit(DATA / "junit_su_filter.xml")  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def model() -> Model:
    return fv.load_rule_model(DATA / "model_subset_su.json")  # type: ignore[no-any-return]


def _result(parsed: Parsed, model: Any, fmt: str) -> Any:
    rules, header = parsed
    return fv.ValidationResult(
        data_file=DATA / "sample_aws_14rows.csv",
        data_format=fmt,
        version="1.2",
        rules=rules,
        header=header,
        model=model,
    )


def _full_model_path() -> Path | None:
    hits = sorted(VENV.glob("lib/python3*/site-packages/focus_validator/rules/model-1.2*.json"))
    if hits:
        return hits[-1]
    return SHARED_MODEL if SHARED_MODEL.exists() else None


# ---------------------------------------------------------------------------------------------
# JUnit and console parsing
# ---------------------------------------------------------------------------------------------
def test_parse_junit_reads_every_status(parsed: Parsed) -> None:
    rules, header = parsed
    assert len(rules) == 22
    res = _result(parsed, {}, "csv")
    assert res.counts == {"passed": 8, "failed": 6, "skipped": 4, "errored": 4}
    # The header totals the validator wrote agree with what we counted.
    assert header == {"tests": "22", "failures": "6", "errors": "4", "skipped": "4"}

    type_rule = rules["SubAccountId-C-001-M"]
    assert (type_rule.status, type_rule.check) == ("failed", "Type")
    assert type_rule.message == "Type check for SubAccountId"
    assert rules["SubAccountId-C-004-C"].status == "skipped"
    assert rules["SubAccountType-C-001-M"].status == "passed"
    assert rules["SubAccountType-C-001-M"].message == ""
    errored = rules["SubAccountName-C-001-M"]
    assert errored.status == "errored"
    assert errored.check == ""  # the validator writes "None" for errored rules
    assert "required column not present" in errored.message


def test_parse_junit_accepts_text_and_rejects_other_xml() -> None:
    text = (DATA / "junit_su_filter.xml").read_bytes()
    rules, _ = fv.parse_junit(text)
    assert len(rules) == 22
    with pytest.raises(ValueError, match="not a focus-validator JUnit report"):
        fv.parse_junit("<testsuite><testcase name='x'/></testsuite>")


def test_parse_console_adds_counts_messages_and_samples() -> None:
    details = fv.parse_console((DATA / "console_su_filter.txt").read_text(encoding="utf-8"))
    assert len(details) == 22
    leaf = details["SubAccountId-C-001-M"]
    assert leaf.violations == 14
    assert leaf.detail == "SubAccountId MUST be of type VARCHAR (string)."
    assert details["SubAccountType-C-005-C"].samples == ("SubAccountType='None'",)
    skipped = details["SubAccountId-C-004-C"]
    assert skipped.detail == "Rule skipped - validation is dynamic and cannot be pre-generated"
    assert details["SubAccountType-C-001-M"].detail == ""  # "(violations=0, 1.3ms)"
    assert details["CostAndUsage-D-029-C"].detail == (
        "Column 'SubAccountName' MUST be present in the table."
    )


def test_parse_console_ascii_icons() -> None:
    text = (
        "[FAIL] X-C-001-M: FAIL  (violations=3, msg=X MUST be of type VARCHAR (string)., 1.0ms)\n"
        "[PASS] X-C-002-M: PASS\n"
        "[SKIP] X-C-003-C: SKIPPED  (violations=0, reason=why, msg=why)\n"
    )
    details = fv.parse_console(text)
    assert details["X-C-001-M"].violations == 3
    assert details["X-C-001-M"].detail == "X MUST be of type VARCHAR (string)."
    assert details["X-C-002-M"].violations is None
    assert details["X-C-003-C"].detail == "why"


def test_load_rule_model_children_and_keywords(model: Model) -> None:
    parent = model["SubAccountId-C-000-C"]
    assert parent.function == "Composite"
    assert "SubAccountId-C-001-M" in parent.children
    leaf = model["SubAccountType-C-005-C"]
    assert leaf.children == ()
    assert leaf.keyword == "MUST NOT"
    assert leaf.must_satisfy == "SubAccountType MUST NOT be null when SubAccountId is not null."


# ---------------------------------------------------------------------------------------------
# Defect logic
# ---------------------------------------------------------------------------------------------
EXPECTED_UNEXPECTED = {
    "CostAndUsage-D-029-C",  # SubAccountName column removed on purpose
    "SubAccountName-C-000-C",
    "SubAccountName-C-001-M",
    "SubAccountName-C-002-M",
    "SubAccountName-C-003-C",
    "SubAccountName-C-004-C",
    "SubAccountName-C-005-C",
    "SubAccountType-C-005-C",  # SubAccountType emptied on purpose
}


def test_csv_defects_and_their_parents_are_explained(parsed: Parsed, model: Model) -> None:
    res = _result(parsed, model, "csv")
    assert res.is_explained("SubAccountId-C-001-M")  # CSV type guess, listed
    assert res.is_explained("SubAccountId-C-000-C")  # parent whose only failing child is listed
    assert not res.is_explained("SubAccountType-C-005-C")
    assert not res.is_explained("SubAccountType-C-001-M")  # passed rules are not "explained"
    assert {r.rule_id for r in res.unexpected_failures()} == EXPECTED_UNEXPECTED
    assert [r.rule_id for r in res.defect_failures()] == [
        "SubAccountId-C-000-C",
        "SubAccountId-C-001-M",
    ]
    assert len(res.failed_rules()) == 10
    assert len(res.failed_rules(include_defects=False)) == len(EXPECTED_UNEXPECTED)
    assert not res.passed
    assert not res.strictly_passed


def test_csv_only_defects_do_not_apply_to_parquet(parsed: Parsed, model: Model) -> None:
    res = _result(parsed, model, "parquet")
    assert not res.is_explained("SubAccountId-C-001-M")
    assert not res.is_explained("SubAccountId-C-000-C")
    assert {"SubAccountId-C-000-C", "SubAccountId-C-001-M"} <= {
        r.rule_id for r in res.unexpected_failures()
    }


def test_errored_rules_are_never_explained(parsed: Parsed, model: Model) -> None:
    rules, header = parsed
    errored = {rid for rid, r in rules.items() if r.status == "errored"}
    assert errored == {
        "SubAccountName-C-001-M",
        "SubAccountName-C-002-M",
        "SubAccountName-C-004-C",
        "SubAccountName-C-005-C",
    }
    leaves = {rid: fv.Defect("test") for rid, info in model.items() if not info.children}
    res = fv.ValidationResult(
        data_file=Path("x.csv"),
        data_format="csv",
        version="1.2",
        rules=rules,
        header=header,
        model=model,
        defects=leaves,
    )
    # Listing an errored rule does not excuse it, nor the composites above it.
    assert {r.rule_id for r in res.unexpected_failures()} == errored | {
        "SubAccountName-C-000-C",
        "SubAccountName-C-003-C",
    }


def _synthetic(statuses: dict[str, str], children: dict[str, tuple[str, ...]]) -> Any:
    rules = {rid: fv.RuleResult(rid, status) for rid, status in statuses.items()}
    model = {
        rid: fv.RuleInfo(rid, "Composite" if rid in children else "Validation", "X", "", "",
                         children.get(rid, ()))
        for rid in statuses
    }  # fmt: skip
    return fv.ValidationResult(
        data_file=Path("x.parquet"),
        data_format="parquet",
        version="1.2",
        rules=rules,
        model=model,
        defects={"L-C-001-M": fv.Defect("listed")},
    )


def test_composite_is_explained_only_through_failing_children() -> None:
    res = _synthetic(
        {"P-C-000-M": "failed", "L-C-001-M": "failed", "Q-C-002-M": "passed"},
        {"P-C-000-M": ("L-C-001-M", "Q-C-002-M")},
    )
    assert res.is_explained("P-C-000-M")
    assert res.passed
    assert not res.strictly_passed
    # A failing composite with no failing child is not explained by anything.
    res = _synthetic({"P-C-000-M": "failed", "Q-C-002-M": "passed"}, {"P-C-000-M": ("Q-C-002-M",)})
    assert not res.is_explained("P-C-000-M")
    # One unexplained failing child is enough to make the parent unexplained.
    res = _synthetic(
        {"P-C-000-M": "failed", "L-C-001-M": "failed", "Q-C-002-M": "failed"},
        {"P-C-000-M": ("L-C-001-M", "Q-C-002-M")},
    )
    assert not res.is_explained("P-C-000-M")
    assert {r.rule_id for r in res.unexpected_failures()} == {"P-C-000-M", "Q-C-002-M"}


def test_composite_cycles_terminate() -> None:
    res = _synthetic(
        {"A-C-000-M": "failed", "B-C-000-M": "failed"},
        {"A-C-000-M": ("B-C-000-M",), "B-C-000-M": ("A-C-000-M",)},
    )
    assert not res.is_explained("A-C-000-M")


def test_summary_and_json(parsed: Parsed, model: Model) -> None:
    res = _result(parsed, model, "csv")
    text = res.summary()
    assert "verdict (documented defects allowed): FAIL" in text
    assert "defect SubAccountId-C-001-M" in text
    assert "FAIL   SubAccountType-C-005-C (failed MUST NOT)" in text
    data = json.loads(json.dumps(res.to_json()))
    assert data["counts"] == {"passed": 8, "failed": 6, "skipped": 4, "errored": 4}
    assert data["defect_failures"] == ["SubAccountId-C-000-C", "SubAccountId-C-001-M"]
    assert set(data["unexpected_failures"]) == EXPECTED_UNEXPECTED
    assert all(r["status"] != "passed" for r in data["rules"])


# ---------------------------------------------------------------------------------------------
# The defect list: one place in the script, the same in the docs, real rule ids
# ---------------------------------------------------------------------------------------------
def _between(text: str, start: str, end: str) -> list[str]:
    return [part.split(end, 1)[0] for part in text.split(start)[1:]]


def _documented_defects() -> set[str]:
    """Rule ids in the first column of the defect table plus those in its id lists."""
    (section,) = _between(
        DOC.read_text(encoding="utf-8"), "<!-- defect-list:start -->", "<!-- defect-list:end -->"
    )
    ids: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| ") and not line.startswith("| rule id"):
            ids.update(RULE_ID.findall(line.split("|")[1]))
    for block in _between(section, "<!-- ids:start -->", "<!-- ids:end -->"):
        ids.update(RULE_ID.findall(block))
    return ids


def test_docs_list_the_same_defects() -> None:
    assert _documented_defects() == set(fv.KNOWN_DEFECTS)


def test_docs_mark_csv_only_defects() -> None:
    text = DOC.read_text(encoding="utf-8")
    (csv_part,) = _between(text, "<!-- csv-only:start -->", "<!-- csv-only:end -->")
    csv_only = {rid for rid, d in fv.KNOWN_DEFECTS.items() if d.formats == {"csv"}}
    assert set(RULE_ID.findall(csv_part)) == csv_only == set(fv._TYPE_STRING_RULES)


def test_defect_reasons_are_one_line() -> None:
    for rule_id, defect in fv.KNOWN_DEFECTS.items():
        assert RULE_ID.fullmatch(rule_id), rule_id
        assert defect.reason and "\n" not in defect.reason, rule_id
        assert defect.formats <= {"csv", "parquet"} and defect.formats, rule_id


def test_defects_are_rules_of_the_model() -> None:
    path = _full_model_path()
    if path is None:
        pytest.skip("no copy of rule model 1.2.0.1 (make validator, or shared/reference)")
    rules = json.loads(path.read_text(encoding="utf-8"))["ModelRules"]
    assert set(fv.KNOWN_DEFECTS) <= set(rules)

    def by_check(name: str) -> set[str]:
        return {
            rid
            for rid, rule in rules.items()
            if rule["ValidationCriteria"].get("Requirement", {}).get("CheckFunction") == name
        }

    assert set(fv._STRING_HANDLING_RULES) == by_check("FormatString")
    assert set(fv._TYPE_STRING_RULES) == by_check("TypeString")
    status = rules["CommitmentDiscountStatus-C-005-M"]["ValidationCriteria"]["Requirement"]
    assert [i["Value"] for i in status["Items"]] == ["Active", "Expired", "Pending"]


# ---------------------------------------------------------------------------------------------
# CLI and argument checks (no validator needed)
# ---------------------------------------------------------------------------------------------
def test_cli_list_defects(capsys: pytest.CaptureFixture[str]) -> None:
    assert fv.main(["--list-defects"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| rule id | formats | reason |")
    assert len(out.strip().splitlines()) == 2 + len(fv.KNOWN_DEFECTS)


def test_cli_reports_setup_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert fv.main([str(tmp_path / "missing.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    data = tmp_path / "export.csv"
    data.write_text("ProviderName\nx\n", encoding="utf-8")
    assert fv.main([str(data), "--venv", str(tmp_path / "novenv")]) == 2
    assert "make validator" in capsys.readouterr().err
    assert fv.main([str(data), "--version", "1.3"]) == 2
    assert "cannot be validated offline" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "fmt"), [("a.csv", "csv"), ("A.CSV", "csv"), ("b.parquet", "parquet")]
)
def test_data_format_of(name: str, fmt: str) -> None:
    assert fv.data_format_of(Path(name)) == fmt


def test_data_format_of_rejects_other_files() -> None:
    with pytest.raises(fv.ValidatorError, match=r"only \.csv and \.parquet"):
        fv.data_format_of(Path("x.csv.gz"))


# ---------------------------------------------------------------------------------------------
# Real runs of the official validator
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def fresh_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run from an empty folder: the validator must not need (or write into) the caller's cwd."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    assert not (tmp_path / "focus_validator_detailed.log").exists()


@pytest.mark.validator
@needs_validator
def test_fixture_reproduces(fresh_cwd: Path) -> None:
    res = fv.validate(DATA / "sample_aws_14rows.csv", venv=VENV, filter_rules="Su", details=True)
    expected, _ = fv.parse_junit(DATA / "junit_su_filter.xml")
    assert {k: r.status for k, r in res.rules.items()} == {k: r.status for k, r in expected.items()}
    assert res.rules["SubAccountId-C-001-M"].violations == 14
    assert res.rules["SubAccountType-C-005-C"].must_satisfy.startswith("SubAccountType MUST NOT")
    assert {r.rule_id for r in res.unexpected_failures()} == EXPECTED_UNEXPECTED


@pytest.mark.validator
@needs_validator
def test_parquet_with_string_ids_passes_the_type_checks(fresh_cwd: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pcsv = pytest.importorskip("pyarrow.csv")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pcsv.read_csv(
        DATA / "sample_aws_14rows.csv",
        convert_options=pcsv.ConvertOptions(
            column_types={"BillingAccountId": pa.string(), "SubAccountId": pa.string()},
            strings_can_be_null=True,  # an empty CSV field is null, as the validator reads CSV
        ),
    )
    out = fresh_cwd / "sample.parquet"
    pq.write_table(table, out)
    res = fv.validate(out, venv=VENV)
    assert res.data_format == "parquet"
    assert res.rules["SubAccountId-C-001-M"].status == "passed"
    assert res.rules["BillingAccountId-C-002-M"].status == "passed"
    assert res.rules["SubAccountType-C-005-C"].status == "failed"
    assert not res.is_explained("SubAccountType-C-005-C")
    assert res.is_explained("InvoiceId-C-004-C")


@pytest.mark.validator
@needs_validator
@pytest.mark.parametrize("provider", ["aws", "azure", "gcp"])
def test_reference_samples_fail_only_documented_defects(fresh_cwd: Path, provider: str) -> None:
    sample = SHARED_SAMPLES / "focus-1.2" / f"focus_1_2_cost_and_usage_{provider}.csv"
    if not sample.exists():
        pytest.skip(f"reference sample {sample.name} is not present")
    res = fv.validate(sample, venv=VENV)
    assert len(res.rules) == 578
    assert res.passed, res.summary()
    assert not res.strictly_passed
    assert {"InvoiceId-C-004-C", "EffectiveCost-C-005-C"} <= {
        r.rule_id for r in res.defect_failures()
    }
