"""Scopes: the flat TOML/CLI spelling, where the rows come from, and what is refused."""

from __future__ import annotations

import pytest

from aifinops.errors import ConfigError
from aifinops.model.scope import ALLOCATED, BILL, Scope

DIMENSIONS = ("team", "project")


def test_flat_spelling_sorts_keys_into_match_tags_and_dimensions() -> None:
    scope = Scope.model_validate(
        {"team": "research", "services": ["Amazon S3", "Amazon EC2*"], "tag:Env": "prod"}
    )
    assert scope.match == {"services": ("Amazon S3", "Amazon EC2*")}
    assert scope.tags == {"Env": ("prod",)}
    assert scope.dimensions == {"team": ("research",)}
    assert scope.describe() == "services=Amazon S3|Amazon EC2*, tag:Env=prod, team=research"


def test_command_line_items_repeat_a_key_for_either_value() -> None:
    scope = Scope.parse(["team=research", "team=platform", "providers = AWS"])
    assert scope.dimensions == {"team": ("research", "platform")}
    assert scope.match == {"providers": ("AWS",)}
    assert scope.source == ALLOCATED


def test_empty_scope_is_the_whole_bill() -> None:
    assert Scope().empty
    assert Scope().source == BILL
    assert Scope().describe() == "all costs"
    assert Scope.parse(["tag:team=research"]).source == BILL


@pytest.mark.parametrize("item", ["team", "=x", "team="])
def test_items_that_are_not_key_value_are_refused(item: str) -> None:
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        Scope.parse([item])


def test_unknown_key_names_the_close_spellings() -> None:
    with pytest.raises(ConfigError, match="teams") as err:
        Scope.parse(["teams=research"]).check(DIMENSIONS)
    assert "did you mean team" in str(err.value)


def test_tags_and_dimensions_cannot_mix() -> None:
    with pytest.raises(ConfigError, match="cannot mix"):
        Scope.parse(["team=research", "tag:env=prod"]).check(DIMENSIONS)


def test_values_must_be_text() -> None:
    with pytest.raises(ValueError, match="needs a text value"):
        Scope.model_validate({"team": 3})
    with pytest.raises(ValueError, match="tag: needs a key"):
        Scope.model_validate({"tag:": "x"})
