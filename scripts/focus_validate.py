"""Run the official FOCUS validator offline and read its verdict rule by rule.

The validator is PyPI ``focus-validator`` 2.2.1. It needs Python >= 3.12, so it lives in its own
virtual environment (``make validator`` builds ``.venv-validator/``). This script is stdlib-only:
it runs under the project's Python 3.11 venv and never imports the validator or aifinops.

Usage as a module::

    from focus_validate import validate
    result = validate(Path("export.parquet"))
    assert result.passed, result.summary()

Usage from the command line::

    python scripts/focus_validate.py FILE [--allow-defects] [--json] [--details]

What the validator needs, and what this script does for it:

* It opens ``focus_validator/rules/currency_codes.csv`` by a relative path, so it must run in a
  folder that holds a link ``focus_validator`` to the installed package. :func:`validate` makes a
  temporary folder with that link (and a link to the data file named ``data.csv`` or
  ``data.parquet``, because the validator picks its loader by the lower-case file suffix).
* Its exit code is 0 even when rules fail, so the verdict is read from the JUnit XML it writes.
* The JUnit XML has only the status per rule; ``details=True`` (``--details``) runs it a second
  time with console output to add violation counts, the validator's message, skip reasons and
  sample violating values.

The rule model it ships (1.2.0.1) has defects: rules that fail on data that conforms to the FOCUS
1.2 specification. They are listed once, in :data:`KNOWN_DEFECTS` below, and the same table is in
``docs/focus-validator.md`` (a test keeps the two in step).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Final, Literal

Status = Literal["passed", "failed", "skipped", "errored"]
STATUSES: Final[tuple[Status, ...]] = ("passed", "failed", "skipped", "errored")
DataFormat = Literal["csv", "parquet"]

DEFAULT_VENV: Final = Path(".venv-validator")
REPO_ROOT: Final = Path(__file__).resolve().parents[1]
#: Versions whose rule model ships inside focus-validator 2.2.1 (the others are downloaded).
OFFLINE_VERSIONS: Final[tuple[str, ...]] = ("1.2",)
VALIDATOR_PACKAGE_VERSION: Final = "2.2.1"


@dataclass(frozen=True)
class Defect:
    """A rule of the validator's model that fails on data conforming to the FOCUS spec."""

    reason: str
    #: File formats the defect shows in; CSV-only defects come from the CSV loader's type guessing.
    formats: frozenset[DataFormat] = frozenset({"csv", "parquet"})


_CSV: Final[frozenset[DataFormat]] = frozenset({"csv"})

# ---------------------------------------------------------------------------------------------
# THE documented defect list (rule model 1.2.0.1 in focus-validator 2.2.1): rule id -> one-line
# reason. A rule is listed when data that conforms to the FOCUS 1.2 specification fails it and a
# correct exporter cannot avoid that. docs/focus-validator.md carries the same list with the spec
# citations; tests/test_focus_validate_script.py fails when the two differ. Parent composites
# (X-C-000-M, CostAndUsage-D-000-M, ...) that fail only because listed rules fail count as
# explained (ValidationResult.is_explained); they are not listed.
# ---------------------------------------------------------------------------------------------
_ASCII_ONLY = (
    "StringHandling is checked as ASCII-only (^[\\x00-\\x7F]*$); the spec requires valid Unicode"
)
_STRING_HANDLING_RULES: Final = (
    "AvailabilityZone-C-002-M", "BillingAccountId-C-003-M", "BillingAccountName-C-002-M",
    "BillingAccountType-C-002-M", "BillingCurrency-C-002-M", "CapacityReservationId-C-002-M",
    "ChargeDescription-C-002-M", "CommitmentDiscountId-C-002-M", "CommitmentDiscountName-C-002-M",
    "CommitmentDiscountType-C-002-M", "CommitmentDiscountUnit-C-002-M", "ConsumedUnit-C-002-M",
    "InvoiceId-C-002-M", "InvoiceIssuerName-C-002-M", "PricingCurrency-C-002-M",
    "PricingUnit-C-002-M", "ProviderName-C-002-M", "PublisherName-C-002-M", "RegionId-C-002-M",
    "RegionName-C-002-M", "ResourceId-C-002-M", "ResourceName-C-002-M", "ResourceType-C-002-M",
    "ServiceName-C-002-M", "SkuId-C-002-M", "SkuMeter-C-002-M", "SkuPriceId-C-002-M",
    "SubAccountId-C-002-M", "SubAccountName-C-002-M", "SubAccountType-C-002-M",
)  # fmt: skip
_CSV_STRING_TYPE = (
    "CSV loader guesses column types; an all-digits (or all-number/date/boolean) column is not "
    "VARCHAR, so the String type check fails"
)
_TYPE_STRING_RULES: Final = (
    "AvailabilityZone-C-001-M", "BillingAccountId-C-002-M", "BillingAccountName-C-001-M",
    "BillingAccountType-C-001-M", "BillingCurrency-C-001-M", "CapacityReservationId-C-001-M",
    "CapacityReservationStatus-C-001-M", "ChargeCategory-C-001-M", "ChargeClass-C-001-M",
    "ChargeDescription-C-001-M", "ChargeFrequency-C-001-M", "CommitmentDiscountCategory-C-001-M",
    "CommitmentDiscountId-C-001-M", "CommitmentDiscountName-C-001-M",
    "CommitmentDiscountStatus-C-001-M", "CommitmentDiscountType-C-001-M",
    "CommitmentDiscountUnit-C-001-M", "ConsumedUnit-C-001-M", "InvoiceId-C-001-M",
    "InvoiceIssuerName-C-001-M", "PricingCategory-C-001-M", "PricingCurrency-C-001-M",
    "PricingUnit-C-001-M", "ProviderName-C-001-M", "PublisherName-C-001-M", "RegionId-C-001-M",
    "RegionName-C-001-M", "ResourceId-C-001-M", "ResourceName-C-001-M", "ResourceType-C-001-M",
    "ServiceCategory-C-001-M", "ServiceName-C-001-M", "ServiceSubcategory-C-001-M",
    "SkuId-C-001-M", "SkuMeter-C-001-M", "SkuPriceId-C-001-M", "SubAccountId-C-001-M",
    "SubAccountName-C-001-M", "SubAccountType-C-001-M",
)  # fmt: skip

KNOWN_DEFECTS: Final[Mapping[str, Defect]] = {
    "BilledCost-C-005-C": Defect(
        "condition ProviderName != InvoiceIssuerName stands in for 'payments received by a "
        "third party'; a reseller-issued invoice is not that, its BilledCost is not 0"
    ),
    "CapacityReservationStatus-C-003-C": Defect(
        "malformed condition {'AND': {...}} is dropped: Status MUST be null in every row, "
        "spec says only when CapacityReservationId is null"
    ),
    "CapacityReservationStatus-C-004-C": Defect(
        "malformed condition {'AND': [...]} is dropped: Status MUST NOT be null in every row, "
        "spec says only when CapacityReservationId is not null and ChargeCategory is Usage"
    ),
    "CommitmentDiscountQuantity-C-007-C": Defect(
        "'all other cases' includes ChargeClass = Correction: a correction row MUST have a null "
        "quantity, spec says it MAY be null"
    ),
    "CommitmentDiscountStatus-C-004-C": Defect(
        "condition inverted: checks Status NOT NULL where CommitmentDiscountId IS NULL, "
        "spec says where CommitmentDiscountId is not null and ChargeCategory is Usage"
    ),
    "CommitmentDiscountStatus-C-005-M": Defect(
        "allowed values given as Active|Expired|Pending, spec says Used|Unused "
        "(fails only when every row has a non-null status)"
    ),
    "ConsumedQuantity-C-006-C": Defect(
        "condition inverted: requires ConsumedQuantity on ChargeClass = Correction rows, spec "
        "says on rows that are not corrections (and corrections MAY leave it null)"
    ),
    "EffectiveCost-C-005-C": Defect(
        "condition keeps only ChargeCategory = Purchase and drops 'intended to cover future "
        "eligible charges': recurring fees/subscriptions must keep EffectiveCost = BilledCost"
    ),
    "InvoiceId-C-004-C": Defect(
        "no condition: InvoiceId MUST be null in every row, spec says only for charges not "
        "associated with an invoice (contradicts InvoiceId-C-005-C)"
    ),
    "InvoiceId-C-005-C": Defect(
        "no condition: InvoiceId MUST NOT be null in every row, spec says only for charges "
        "associated with an (provisional) invoice (contradicts InvoiceId-C-004-C)"
    ),
    **{rule_id: Defect(_ASCII_ONLY) for rule_id in _STRING_HANDLING_RULES},
    **{rule_id: Defect(_CSV_STRING_TYPE, _CSV) for rule_id in _TYPE_STRING_RULES},
}


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RuleResult:
    """The validator's verdict on one rule."""

    rule_id: str
    status: Status
    #: What the JUnit XML says: "<Function> check for <Column>", or the error text when errored.
    message: str = ""
    #: The rule's check kind from the JUnit test name (Type, Format, Nullability, Composite, ...).
    check: str = ""
    #: The requirement text from the rule model, when the model was found.
    must_satisfy: str = ""
    #: The requirement keyword from the rule model (MUST, MUST NOT, SHOULD, ...).
    keyword: str = ""
    #: From a ``details`` run: number of violating rows (1 for failed composites).
    violations: int | None = None
    #: From a ``details`` run: the validator's own message or skip reason.
    detail: str = ""
    #: From a ``details`` run: up to two violating values, as the validator prints them.
    samples: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleInfo:
    """What this script needs from one rule of the validator's rule model."""

    rule_id: str
    function: str
    reference: str
    must_satisfy: str
    keyword: str = ""
    #: Child rule ids of a Composite rule (its CheckModelRule items).
    children: tuple[str, ...] = ()


@dataclass
class ValidationResult:
    """Per-rule results of one validator run, with the documented defects applied."""

    data_file: Path
    data_format: DataFormat
    version: str
    rules: dict[str, RuleResult]
    #: The totals in the JUnit header (tests, failures, errors, skipped), as the validator wrote.
    header: dict[str, str] = field(default_factory=dict)
    model: Mapping[str, RuleInfo] = field(default_factory=dict)
    defects: Mapping[str, Defect] = field(default_factory=lambda: KNOWN_DEFECTS)
    elapsed_s: float = 0.0

    def __post_init__(self) -> None:
        """Fill in each rule's requirement text and keyword from the model where missing."""
        self.rules = dict(self.rules)
        for rule_id, r in list(self.rules.items()):
            info = self.model.get(rule_id)
            if info is not None and not (r.must_satisfy or r.keyword):
                self.rules[rule_id] = replace(
                    r, must_satisfy=info.must_satisfy, keyword=info.keyword
                )

    @property
    def counts(self) -> dict[str, int]:
        """Number of rules per status (all four keys are present)."""
        out: dict[str, int] = dict.fromkeys(STATUSES, 0)
        for r in self.rules.values():
            out[r.status] += 1
        return out

    def failed_rules(self, *, include_defects: bool = True) -> list[RuleResult]:
        """Failed and errored rules, sorted by id; without the explained ones if asked."""
        bad = [r for r in self.rules.values() if r.status in ("failed", "errored")]
        if not include_defects:
            bad = [r for r in bad if not self.is_explained(r.rule_id)]
        return sorted(bad, key=lambda r: r.rule_id)

    def defect_failures(self) -> list[RuleResult]:
        """Failed rules that the documented defects explain."""
        return [r for r in self.failed_rules() if self.is_explained(r.rule_id)]

    def unexpected_failures(self) -> list[RuleResult]:
        """Failed or errored rules that no documented defect explains."""
        return self.failed_rules(include_defects=False)

    @property
    def passed(self) -> bool:
        """True when every failing rule is a documented defect (or a parent of only those)."""
        return not self.unexpected_failures()

    @property
    def strictly_passed(self) -> bool:
        """True when no rule failed or errored at all (no non-empty file gets this with 1.2.0.1)."""
        return not self.failed_rules()

    def is_explained(self, rule_id: str) -> bool:
        """A failure is explained when the rule is a documented defect for this file format, or a
        composite whose failing children are all explained (at least one child must fail)."""
        return _explained(rule_id, self, set())

    def summary(self, *, allow_defects: bool = True) -> str:
        """A few lines for humans: counts, then each failure marked defect or FAIL."""
        c = self.counts
        lines = [
            f"{self.data_file} ({self.data_format}, FOCUS {self.version}): "
            f"{len(self.rules)} rules, {c['passed']} passed, {c['failed']} failed, "
            f"{c['errored']} errored, {c['skipped']} skipped ({self.elapsed_s:.1f} s)"
        ]
        for r in self.failed_rules():
            explained = self.is_explained(r.rule_id)
            tag = "defect" if explained else "FAIL  "
            why = ""
            if r.rule_id in self.defects and explained:
                why = f" -- known defect: {self.defects[r.rule_id].reason}"
            elif explained:
                why = " -- parent of documented defect(s) only"
            extra = f" {r.keyword}" if r.keyword and r.keyword != "MUST" else ""
            if r.violations is not None:
                extra += f" [violations={r.violations}]"
            text = r.detail or r.must_satisfy or r.message
            lines.append(f"  {tag} {r.rule_id} ({r.status}{extra}): {text}{why}")
            lines.extend(f"           sample: {s}" for s in r.samples)
        ok = self.passed if allow_defects else self.strictly_passed
        mode = "documented defects allowed" if allow_defects else "strict"
        lines.append(f"verdict ({mode}): {'PASS' if ok else 'FAIL'}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict: file, counts, verdicts and every non-passing rule."""
        return {
            "data_file": str(self.data_file),
            "data_format": self.data_format,
            "focus_version": self.version,
            "elapsed_s": round(self.elapsed_s, 3),
            "counts": self.counts,
            "passed": self.passed,
            "strictly_passed": self.strictly_passed,
            "unexpected_failures": [r.rule_id for r in self.unexpected_failures()],
            "defect_failures": [r.rule_id for r in self.defect_failures()],
            "rules": [
                asdict(r) | {"explained_by_defect": self.is_explained(r.rule_id)}
                for r in sorted(self.rules.values(), key=lambda r: r.rule_id)
                if r.status != "passed"
            ],
        }


def _explained(rule_id: str, res: ValidationResult, seen: set[str]) -> bool:
    rule = res.rules.get(rule_id)
    if rule is None or rule.status not in ("failed", "errored") or rule_id in seen:
        return False
    seen.add(rule_id)
    defect = res.defects.get(rule_id)
    if defect is not None and res.data_format in defect.formats and rule.status == "failed":
        return True
    info = res.model.get(rule_id)
    if info is None or not info.children:
        return False
    failing = [
        c for c in info.children if c in res.rules and res.rules[c].status in ("failed", "errored")
    ]
    return bool(failing) and all(_explained(c, res, seen) for c in failing)


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------
_TAG_STATUS: Final[dict[str, Status]] = {
    "failure": "failed",
    "skipped": "skipped",
    "error": "errored",
}


def parse_junit(source: str | bytes | Path) -> tuple[dict[str, RuleResult], dict[str, str]]:
    """Parse the validator's JUnit XML into ``{rule_id: RuleResult}`` and the header totals.

    The validator names each test case ``"<RuleId> :: <Check>"``; errored rules sit in a test
    suite ``Base`` with the check ``None``. A test case with no child element passed.
    """
    root = ET.parse(source).getroot() if isinstance(source, Path) else ET.fromstring(source)
    if root.tag != "testsuites":
        raise ValueError(f"not a focus-validator JUnit report (root element <{root.tag}>)")
    rules: dict[str, RuleResult] = {}
    for case in root.iter("testcase"):
        name = case.get("name", "")
        rule_id, _, check = (part.strip() for part in name.partition(" :: "))
        if not rule_id:
            raise ValueError(f"test case without a rule id: {name!r}")
        status: Status = "passed"
        message = ""
        for child in case:
            if child.tag in _TAG_STATUS:
                status = _TAG_STATUS[child.tag]
                message = child.get("message") or ""
        rules[rule_id] = RuleResult(
            rule_id, status, message=message, check="" if check == "None" else check
        )
    header = {
        k: v for k, v in root.attrib.items() if k in ("tests", "failures", "errors", "skipped")
    }
    return rules, header


def load_rule_model(path: Path) -> dict[str, RuleInfo]:
    """Read the validator's rule model JSON (``ModelRules``) into :class:`RuleInfo` objects."""
    data = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, RuleInfo] = {}
    for rule_id, rule in data["ModelRules"].items():
        criteria = rule.get("ValidationCriteria") or {}
        children: list[str] = []
        if rule.get("Function") == "Composite":
            _collect_children(criteria.get("Requirement"), children)
        out[rule_id] = RuleInfo(
            rule_id=rule_id,
            function=rule.get("Function", ""),
            reference=rule.get("Reference", ""),
            must_satisfy=criteria.get("MustSatisfy", ""),
            keyword=criteria.get("Keyword", ""),
            children=tuple(children),
        )
    return out


def _collect_children(node: object, out: list[str]) -> None:
    if isinstance(node, dict):
        if node.get("CheckFunction") == "CheckModelRule" and "ModelRuleId" in node:
            out.append(str(node["ModelRuleId"]))
        for value in node.values():
            _collect_children(value, out)
    elif isinstance(node, list):
        for value in node:
            _collect_children(value, out)


# The console report: "<icon> <RuleId>: PASS|FAIL|SKIPPED  (violations=N, reason=..., msg=..., Xms)"
_CONSOLE_LINE: Final = re.compile(
    r"^(?:\u2705|\u23ed\ufe0f?|\u274c|\[PASS\]|\[SKIP\]|\[FAIL\]) (?P<rule>\S+): "
    r"(?P<status>PASS|FAIL|SKIPPED)(?:  \((?P<extra>.*)\))?$"
)
_FAILURE_HEAD: Final = re.compile(r"^- (?P<rule>\S+): violations=")


@dataclass(frozen=True)
class ConsoleDetail:
    """What the console report adds to a rule's JUnit result."""

    violations: int | None
    detail: str
    samples: tuple[str, ...]


def parse_console(text: str) -> dict[str, ConsoleDetail]:
    """Parse the validator's console report (``--output-type console --show-violations``)."""
    found: dict[str, tuple[int | None, str]] = {}
    samples: dict[str, list[str]] = {}
    current: str | None = None
    in_samples = False
    for raw in text.splitlines():
        line = raw.rstrip()
        m = _CONSOLE_LINE.match(line)
        if m:
            found[m["rule"]] = _parse_extra(m["extra"] or "")
            continue
        m = _FAILURE_HEAD.match(line)
        if m:
            current, in_samples = m["rule"], False
            continue
        if current is None:
            continue
        if line.strip() in ("Sample violations:",) or line.startswith("  Sample violation error:"):
            in_samples = True
            if ":" in line.strip() and not line.strip().endswith(":"):
                samples.setdefault(current, []).append(line.strip())
            continue
        if in_samples and line.startswith("    "):
            samples.setdefault(current, []).append(line.strip())
        elif not line.startswith("  "):
            current, in_samples = None, False
    return {
        rule: ConsoleDetail(vio, detail, tuple(samples.get(rule, ())))
        for rule, (vio, detail) in found.items()
    }


def _parse_extra(extra: str) -> tuple[int | None, str]:
    violations: int | None = None
    m = re.match(r"violations=(\d+)(?:, )?", extra)
    if m:
        violations = int(m[1])
        extra = extra[m.end() :]
    extra = re.sub(r"(?:, )?\d+(?:\.\d+)?ms$", "", extra)
    m = re.match(r"reason=(?P<reason>.*?), msg=(?P=reason)$", extra)
    if m:  # skipped rules repeat the reason as the message
        return violations, m["reason"]
    for prefix in ("msg=", "reason="):
        if extra.startswith(prefix):
            return violations, extra[len(prefix) :]
    return violations, extra


# ---------------------------------------------------------------------------------------------
# Running the validator
# ---------------------------------------------------------------------------------------------
class ValidatorError(RuntimeError):
    """The validator could not be run, or it wrote no report."""


def find_package_dir(venv: Path) -> Path:
    """The installed ``focus_validator`` package folder inside ``venv``."""
    hits = sorted(venv.glob("lib/python3*/site-packages/focus_validator"))
    if not hits:
        raise ValidatorError(
            f"focus_validator is not installed in {venv} (run `make validator` to build it)"
        )
    return hits[-1]


def find_model(venv: Path, version: str = "1.2") -> Path | None:
    """The rule model JSON the validator uses for ``version`` (e.g. rules/model-1.2.0.1.json)."""
    try:
        rules_dir = find_package_dir(venv) / "rules"
    except ValidatorError:
        return None
    hits = sorted(rules_dir.glob(f"model-{version}*.json"))
    return hits[-1] if hits else None


def data_format_of(path: Path) -> DataFormat:
    """``csv`` or ``parquet`` from the file suffix; the validator reads nothing else."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".parquet":
        return "parquet"
    raise ValidatorError(f"{path}: focus-validator reads only .csv and .parquet files")


def _command(venv: Path, data: str, version: str, filter_rules: str | None) -> list[str]:
    """The validator command line, without the output options."""
    exe = venv / "bin" / "focus-validator"
    if not exe.exists():
        raise ValidatorError(f"{exe} not found (run `make validator` to build {venv})")
    cmd = [str(exe), "--data-file", data, "--validate-version", version, "--block-download"]
    cmd += ["--applicability-criteria", "ALL"]
    if filter_rules:
        cmd += ["--filter-rules", filter_rules]
    return cmd


def _run(cmd: list[str], cwd: Path, timeout: float | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    env.pop("LOGGING_CONFIG", None)  # the validator would read a logging config from there
    try:
        return subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ValidatorError(f"focus-validator ran longer than {timeout} s") from exc


def validate(
    data_file: Path,
    *,
    venv: Path = DEFAULT_VENV,
    version: str = "1.2",
    details: bool = False,
    workdir: Path | None = None,
    timeout: float | None = None,
    filter_rules: str | None = None,
    defects: Mapping[str, Defect] = KNOWN_DEFECTS,
) -> ValidationResult:
    """Validate one FOCUS Cost and Usage file (CSV or Parquet) with the official validator.

    ``venv`` is the validator's virtual environment (``make validator``); a relative path is
    taken from the current directory, else from the repository root. ``details`` adds a
    second, console run for violation counts and samples (doubles the time). ``workdir`` keeps
    the run's files (result.xml, console.txt, focus_validator_detailed.log) in that folder
    instead of a temporary one. ``filter_rules`` runs only the rules whose id starts with that
    prefix (the validator's ``--filter-rules``), for quick checks; a filtered run is not a
    verdict on the file. Raises :class:`ValidatorError` when the validator cannot run or
    writes no report.
    """
    data_file = Path(data_file)
    if not data_file.is_file():
        raise ValidatorError(f"{data_file}: no such file")
    if version not in OFFLINE_VERSIONS:
        raise ValidatorError(
            f"FOCUS {version} cannot be validated offline; focus-validator "
            f"{VALIDATOR_PACKAGE_VERSION} ships rules only for {', '.join(OFFLINE_VERSIONS)}"
        )
    fmt = data_format_of(data_file)
    if not venv.is_absolute() and not venv.exists() and (REPO_ROOT / venv).exists():
        venv = REPO_ROOT / venv  # run from elsewhere: use the repository's venv
    venv = venv.absolute()
    package = find_package_dir(venv)
    model_path = find_model(venv, version)
    model = load_rule_model(model_path) if model_path else {}

    command = _command(venv, f"data.{fmt}", version, filter_rules)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="focus-validate-") as tmp:
        work = Path(tmp) if workdir is None else workdir
        work.mkdir(parents=True, exist_ok=True)
        rules, header = _validate_in(
            work, data_file, fmt, package, command, details=details, timeout=timeout
        )
    return ValidationResult(
        data_file=data_file,
        data_format=fmt,
        version=version,
        rules=rules,
        header=header,
        model=model,
        defects=defects,
        elapsed_s=time.perf_counter() - started,
    )


def _validate_in(
    work: Path,
    data_file: Path,
    fmt: DataFormat,
    package: Path,
    command: list[str],
    *,
    details: bool,
    timeout: float | None,
) -> tuple[dict[str, RuleResult], dict[str, str]]:
    """Run the validator in ``work`` (set up as it needs) and parse what it wrote."""
    link = work / "focus_validator"
    if not link.exists():
        link.symlink_to(package, target_is_directory=True)
    data_link = work / f"data.{fmt}"
    if data_link.is_symlink() or data_link.exists():
        data_link.unlink()
    data_link.symlink_to(data_file.absolute())
    report = work / "result.xml"
    report.unlink(missing_ok=True)

    output = ["--output-type", "unittest", "--output-destination", report.name]
    proc = _run([*command, *output], work, timeout)
    if proc.returncode != 0 or not report.exists():
        tail = (proc.stderr or proc.stdout)[-2000:]
        raise ValidatorError(
            f"focus-validator exited {proc.returncode} without a report for {data_file}:\n{tail}"
        )
    rules, header = parse_junit(report)
    if details:
        proc = _run([*command, "--show-violations"], work, timeout)
        (work / "console.txt").write_text(proc.stdout, encoding="utf-8")
        extra = parse_console(proc.stdout)
        rules = {
            k: replace(
                r, violations=extra[k].violations, detail=extra[k].detail, samples=extra[k].samples
            )
            if k in extra
            else r
            for k, r in rules.items()
        }
    return rules, header


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------
def defects_markdown(defects: Mapping[str, Defect] = KNOWN_DEFECTS) -> str:
    """The defect list as a Markdown table (rule id, formats, reason)."""
    lines = ["| rule id | formats | reason |", "|---|---|---|"]
    for rule_id in sorted(defects):
        d = defects[rule_id]
        fmts = ", ".join(sorted(d.formats)) if d.formats != {"csv", "parquet"} else "all"
        lines.append(f"| {rule_id} | {fmts} | {d.reason} |")
    return "\n".join(lines)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Validate a FOCUS 1.2 Cost and Usage file (CSV or Parquet) with the official "
        "focus-validator, offline. Exit 0 when it passes, 1 when a rule fails, 2 on errors."
    )
    parser.add_argument("file", type=Path, nargs="?", help="the .csv or .parquet file")
    parser.add_argument(
        "--allow-defects",
        action="store_true",
        help="pass when every failing rule is a documented rule-model defect (see --list-defects)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--details",
        action="store_true",
        help="run the validator twice to add violation counts and sample values",
    )
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="default: %(default)s")
    parser.add_argument("--version", default="1.2", help="FOCUS version (default: %(default)s)")
    parser.add_argument("--workdir", type=Path, help="keep result.xml and the logs here")
    parser.add_argument("--timeout", type=float, help="seconds before giving up")
    parser.add_argument(
        "--filter-rules",
        metavar="TEXT",
        help="run only rules whose id starts with TEXT (debugging)",
    )
    parser.add_argument(
        "--list-defects", action="store_true", help="print the documented defects and exit"
    )
    args = parser.parse_args(None if argv is None else list(argv))
    if args.list_defects:
        print(defects_markdown())
        return 0
    if args.file is None:
        parser.error("FILE is required")
    try:
        result = validate(
            args.file,
            venv=args.venv,
            version=args.version,
            details=args.details,
            workdir=args.workdir,
            timeout=args.timeout,
            filter_rules=args.filter_rules,
        )
    except ValidatorError as exc:
        print(f"focus_validate: {exc}", file=sys.stderr)
        return 2
    ok = result.passed if args.allow_defects else result.strictly_passed
    if args.json:
        print(
            json.dumps(result.to_json() | {"allow_defects": args.allow_defects, "ok": ok}, indent=2)
        )
    else:
        print(result.summary(allow_defects=args.allow_defects))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
