from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from aifinops.config import EXAMPLES, Settings, default_toml, documented_fields, load_settings
from aifinops.errors import ConfigError

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_every_setting_has_help_and_is_documented() -> None:
    docs = DOCS.read_text()
    for section, name, _default, help_text in documented_fields():
        assert help_text, f"{section}.{name} has no help text"
        assert f"`{section}.{name}`" in docs, f"{section}.{name} missing from docs"


def test_the_default_file_is_valid_toml_listing_every_setting() -> None:
    text = default_toml()
    lines = [line.removeprefix("# ") for line in text.splitlines()]
    settings = [line for line in lines if re.match(r"^(\w+ = |\[)", line)]
    parsed = tomllib.loads("\n".join(settings))
    for section, name, default, _ in documented_fields():
        if (section, name) in EXAMPLES:
            # Lists of tables are shown as a worked example, which must be valid settings.
            assert parsed[section][name] != default
            Settings.model_validate({section: {name: parsed[section][name]}})
        else:
            assert parsed[section][name] == default


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "aifinops.toml").write_text('[engine]\nmemory_limit = "3GB"\n')
    assert load_settings(tmp_path).engine.memory_limit == "3GB"
    monkeypatch.setenv("AIFINOPS_ENGINE__MEMORY_LIMIT", "5GB")
    assert load_settings(tmp_path).engine.memory_limit == "5GB"


def test_a_misspelt_setting_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "aifinops.toml").write_text('[engine]\nmemroy_limit = "3GB"\n')
    with pytest.raises(ConfigError, match="memroy_limit"):
        load_settings(tmp_path)
