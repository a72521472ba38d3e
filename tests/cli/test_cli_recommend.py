"""``aifinops recommend`` on the demo company: what it finds, in every output format."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aifinops import Workspace
from tests.cli.runner import output, run_cli
from tests.demo.build import demo_workspace

#: The boxes the demo plants and forgets: idle all the time (scratch and sandbox on AWS, the
#: legacy GCP instances). The busy pre-training cluster is not one to stop or resize.
FORGOTTEN = {"gpu-sandbox-old", "scratch-gpu-01", "scratch-gpu-02", "scratch-gpu-03",
             "instance-01", "instance-02"}  # fmt: skip


@dataclass(frozen=True)
class Demo:
    path: Path
    rows: list[dict[str, Any]]  # `recommend -f json`


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    root = tmp_path_factory.mktemp("recommend-demo")
    ws, _ = demo_workspace(root, months=1)
    path = ws.path
    ws.close()  # the CLI runs in another process
    result = run_cli("recommend", "-w", path, "-f", "json", cwd=root)
    assert result.returncode == 0, output(result)
    return Demo(path, json.loads(result.stdout))


def _usage_cost(path: Path, machine: str, start: str) -> Decimal:
    with Workspace(path, read_only=True) as ws:
        value = ws.sql(
            "SELECT sum(EffectiveCost) FROM costs WHERE ResourceName = "
            f"'{machine}' AND ChargeCategory = 'Usage' AND x_ChargeDate >= DATE '{start}'"
        ).column(0)[0]
    return Decimal(value.as_py())


def test_the_forgotten_machines_are_found_idle(demo: Demo) -> None:
    idle = {r["target"]: r for r in demo.rows if r["kind"] == "gpu-idle"}
    assert set(idle) >= FORGOTTEN
    for name in FORGOTTEN:
        r = idle[name]
        assert r["confidence"] == "high" and r["action"].startswith(f"Stop {name}")
    # October's last 30 days, idle throughout: the saving is the cost of those 30 days
    expected = _usage_cost(demo.path, "gpu-sandbox-old", "2026-10-02").quantize(Decimal("0.01"))
    assert Decimal(str(idle["gpu-sandbox-old"]["monthly_saving"])) == expected
    busy = {r["target"] for r in demo.rows if r["kind"] in ("gpu-idle", "gpu-rightsize")}
    assert not any(t.startswith("p5-pretrain") for t in busy)


def test_ranked_with_evidence_saving_and_confidence(demo: Demo) -> None:
    savings = [Decimal(str(r["monthly_saving"])) for r in demo.rows]
    assert savings == sorted(savings, reverse=True) and all(s > 0 for s in savings)
    assert [r["rank"] for r in demo.rows] == list(range(1, len(demo.rows) + 1))
    kinds = {r["kind"] for r in demo.rows}
    assert {"gpu-idle", "commitment", "commitment-unused"} <= kinds
    for r in demo.rows:
        assert r["evidence"] and r["action"] and r["currency"] == "USD"
        assert r["confidence"] in ("high", "medium", "low")
        assert isinstance(json.loads(r["details"]), dict)
    # the reservation the demo stops using part-way through October
    unused = [r for r in demo.rows if r["kind"] == "commitment-unused"]
    assert any("ND96isr H100 v5" in r["target"] for r in unused)


def test_table_view_lists_actions_evidence_and_totals(demo: Demo, tmp_path: Path) -> None:
    result = run_cli("recommend", "-w", demo.path, "--kind", "gpu-idle", cwd=tmp_path)
    text = output(result)
    assert result.returncode == 0, text
    assert "recommendations from 2026-10-02 to 2026-10-31" in text
    assert "1. gpu-idle · gpu-sandbox-old" in text
    assert "GPUs under 5% in" in text
    idle = [r for r in demo.rows if r["kind"] == "gpu-idle"]
    total = sum(Decimal(str(r["monthly_saving"])) for r in idle)
    assert f"{len(idle)} recommendation(s), {total:,} USD a month in all" in text.replace("\n", " ")


def test_kind_team_and_min_saving_filter(demo: Demo, tmp_path: Path) -> None:
    out = tmp_path / "recs.csv"
    result = run_cli(
        "recommend", "-w", demo.path, "-k", "gpu-idle,gpu-rightsize", "--team", "RESEARCH",
        "--min-saving", "100", "-f", "csv", "-o", out, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, output(result)
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    expected = [
        r for r in demo.rows
        if r["kind"] in ("gpu-idle", "gpu-rightsize") and (r["team"] or "").lower() == "research"
        and Decimal(str(r["monthly_saving"])) >= 100
    ]  # fmt: skip
    assert [(r["kind"], r["target"], r["monthly_saving"]) for r in rows] == [
        (r["kind"], r["target"], str(r["monthly_saving"])) for r in expected
    ]
    assert expected, "the demo's research dev boxes are rightsizing candidates"


def test_bad_input_is_a_clear_error(demo: Demo, tmp_path: Path) -> None:
    result = run_cli("recommend", "-w", demo.path, "--kind", "gpu-idel", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown recommendation kind gpu-idel" in output(result)
    assert "Traceback" not in output(result)
    result = run_cli("recommend", "-w", demo.path, "--min-saving", "lots", cwd=tmp_path)
    assert result.returncode == 2 and "--min-saving 'lots' is not an amount" in output(result)
    result = run_cli("recommend", "-w", demo.path, "--period", "2026-01", cwd=tmp_path)
    assert result.returncode == 2 and "no costs in" in output(result)
