"""The source registry: every name maps to the module that registers it, loaded on demand."""

from __future__ import annotations

import subprocess
import sys

from aifinops import sources
from aifinops.sources import base


def test_each_module_registers_exactly_the_names_mapped_to_it() -> None:
    specs = sources.registered()
    assert set(specs) == set(sources.MODULES)
    for name, spec in specs.items():
        module = spec.open.__module__.removeprefix("aifinops.sources.").split(".")[0]
        assert module == sources.MODULES[name], name
    assert sources.source("no-such-source") is None


def test_asking_for_one_source_loads_only_its_module() -> None:
    code = (
        "import sys; from aifinops import sources; sources.source('jobs'); "
        "print(sorted(m for m in sys.modules if m.startswith('aifinops.sources.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "aifinops.sources.jobs" in out
    assert "aifinops.sources.llm" not in out
    assert "aifinops.sources.aws_cur" not in out
    assert base.registered()  # this process registered them all above
