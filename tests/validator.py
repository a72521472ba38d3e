"""The official FOCUS validator in tests: where it is, the skip when it is not built, and
``scripts/focus_validate.py`` loaded as a module (it is a script, not part of the package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
VALIDATOR_VENV = ROOT / ".venv-validator"

#: Marks a test that runs the validator, skipped when ``make validator`` has not built it.
needs_validator = pytest.mark.skipif(
    not (VALIDATOR_VENV / "bin" / "focus-validator").exists(),
    reason="the official validator venv is absent (make validator)",
)


def focus_validate() -> Any:
    """``scripts/focus_validate.py`` as a module."""
    spec = importlib.util.spec_from_file_location(
        "focus_validate", ROOT / "scripts/focus_validate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["focus_validate"] = module
    spec.loader.exec_module(module)
    return module


def validate(path: Path) -> Any:
    """The validator's verdict on a FOCUS 1.2 file."""
    return focus_validate().validate(path, venv=VALIDATOR_VENV)
