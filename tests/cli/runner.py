"""Running ``aifinops`` as a user would, for the CLI tests."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from aifinops import Workspace


def aifinops_command() -> list[str]:
    """``python -m aifinops``; the console script next to the interpreter if that is missing."""
    if importlib.util.find_spec("aifinops.__main__") is not None:
        return [sys.executable, "-m", "aifinops"]
    return [str(Path(sys.executable).with_name("aifinops"))]


def run_cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``aifinops ARGS`` as a user would, off a terminal (Rich's default width, no colour)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AIFINOPS_")
        and k not in {"COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"}
    }
    return subprocess.run(
        [*aifinops_command(), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


@dataclass(frozen=True)
class StoreState:
    """What a workspace holds, read after the CLI process has ended."""

    rows: int
    billed: Decimal
    files: int
    quarantined: int = 0


def store_state(workspace: Path) -> StoreState:
    with Workspace(workspace, read_only=True) as ws:
        row = ws.sql(
            "SELECT (SELECT count(*) FROM costs), (SELECT coalesce(sum(BilledCost), 0) FROM costs),"
            " (SELECT count(*) FROM ingest_log), (SELECT count(*) FROM quarantine)"
        ).to_pylist()[0]
    rows, billed, files, quarantined = row.values()
    return StoreState(rows, Decimal(billed), files, quarantined)
