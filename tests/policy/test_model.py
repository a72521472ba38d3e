"""The pieces under the policies: YAML lines, durations, the value filter's comparisons."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from aifinops.errors import ConfigError
from aifinops.model.timewindow import Window
from aifinops.policy.model import Duration, Resource, compare
from aifinops.policy.source import parse


def test_yaml_values_keep_their_lines_and_dates_become_text() -> None:
    doc = parse("policies:\n  - name: a\n    since: 2026-10-01\n    filters:\n      - x: 1\n", "f")
    assert doc.data == {"policies": [{"name": "a", "since": "2026-10-01", "filters": [{"x": 1}]}]}
    assert doc.lines.where(("policies", 0, "since")) == "f:3"
    assert doc.lines.where(("policies", 0, "filters", 0, "x")) == "f:5"
    assert doc.lines.where(("policies", 0, "filters", 0, "missing")) == "f:5"


def test_yaml_merge_keys_work_and_duplicates_fail() -> None:
    doc = parse("d: &d {a: 1}\ne:\n  <<: *d\n  b: 2\n", "f")
    assert doc.data["e"] == {"a": 1, "b": 2}
    with pytest.raises(ConfigError) as caught:
        parse("a: 1\nb: 2\na: 3\n", "f")
    assert caught.value.where == "f:3"


def test_durations_are_whole_days() -> None:
    assert Duration.parse("24h").days == 1
    assert Duration.parse("2w").days == 14
    assert Duration.parse(" 7D ").ending(date(2026, 10, 20)) == Window(
        date(2026, 10, 13), date(2026, 10, 20)
    )
    for bad in ("36h", "0d", "1m", "soon"):
        with pytest.raises(ValueError):
            Duration.parse(bad)


@pytest.mark.parametrize(
    ("op", "actual", "expected", "result"),
    [
        ("eq", "AWS", "aws", True),
        ("ne", "AWS", "gcp", True),
        ("gt", Decimal("100.01"), 100, True),
        ("ge", Decimal("100"), "100", True),
        ("lt", 9.5, 10, True),
        ("le", 3, 2, False),
        ("in", "p4d.24xlarge", ["p4d.24xlarge", "p5.48xlarge"], True),
        ("not-in", "g5.xlarge", ["p4d.24xlarge"], True),
        ("glob", "scratch-gpu-01", "SCRATCH-*", True),
        ("regex", "dev-gpu-07", r"^dev-gpu-0[1-5]$", False),
        ("lt", date(2026, 7, 2), "2026-08-01", True),
        ("eq", True, "true", True),
    ],
)
def test_value_filter_comparisons(op: str, actual: object, expected: object, result: bool) -> None:
    assert compare(op, actual, expected) is result


def test_tags_are_read_in_any_letter_case() -> None:
    resource = Resource("gpu", {"id": "i-1", "tags": {"Team": "research"}, "cost": None})
    assert resource.get("tags.team") == (True, "research")
    assert resource.get("tag:TEAM") == (True, "research")
    assert resource.get("cost") == (False, None)
    assert resource.get("nope") == (False, None)
