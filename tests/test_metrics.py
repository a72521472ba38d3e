"""Prometheus metrics on the small workspace of tests/analysis/budget_inputs.py (costs and LLM
usage through the real sources, allocated, a budget), parsed with prometheus_client's parser.

As on 2026-10-20 (month to date: 2026-10-01..19): team research 19 x 12.50 = 237.50 USD (12.50 on
the latest complete day, 2026-10-19), search 10 x 1.11 = 11.10 USD, emea 5.00 EUR, LLM usage
24.00 USD (the OpenAI bill: no team, so "(unallocated)"); 12 requests of 100,000 input + 50,000
output tokens: 1,800,000 tokens, 24.00 / 1.8 = 13.333333 per 1M, 24.00 / 0.6 = 40 per 1M output.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

import aifinops.metrics
from aifinops import Workspace
from aifinops.config import MetricsSection, load_settings
from aifinops.metrics import ExpositionCache, exposition
from aifinops.metrics.text import Family, money, render, top_n
from tests.analysis.budget_inputs import build, with_budgets
from tests.cli.runner import run_cli
from tests.conftest import focus_row, write_focus_csv

AS_OF = date(2026, 10, 20)
BUDGET = """
[[budgets]]
name = "research"
scope = { team = "research" }
amount = 500
"""
META = {
    "aifinops_metrics_family_ok",
    "aifinops_as_of_timestamp_seconds",
    "aifinops_exposition_timestamp_seconds",
    "aifinops_exposition_duration_seconds",
}
Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def parse(text: str) -> Samples:
    """Family name -> (sorted labels) -> value, through prometheus_client's parser; every family
    is a gauge with help."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge" and family.documentation, family.name
        samples = out.setdefault(family.name, {})
        for s in family.samples:
            samples[tuple(sorted(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples[name].get(tuple(sorted(labels.items())))


def stamp(text: str) -> float:
    """Unix seconds of an ISO moment (UTC)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = build(tmp_path_factory.mktemp("metrics") / "base")
    return with_budgets(base, tmp_path_factory.mktemp("metrics") / "ws", BUDGET)


@pytest.fixture(scope="module")
def samples(folder: Path) -> Samples:
    with Workspace(folder, read_only=True) as ws:
        return parse(exposition(ws, as_of=AS_OF))


def cost(
    samples: Samples, family: str, dimension: str, value_: str, currency: str = "USD"
) -> float | None:
    labels = {"dimension": dimension, "value": value_, "currency": currency, "metric": "effective"}
    return value(samples, family, **labels)


def test_cost_per_dimension_for_the_latest_day_and_month_to_date(samples: Samples) -> None:
    mtd = "aifinops_month_to_date_cost"
    assert cost(samples, mtd, "team", "research") == 237.50
    assert cost(samples, mtd, "team", "search") == 11.10
    assert cost(samples, mtd, "team", "(unallocated)") == 24.00  # the OpenAI bill
    assert cost(samples, mtd, "team", "emea", "EUR") == 5.00  # never added to USD
    assert cost(samples, mtd, "provider", "AWS") == 248.60
    assert cost(samples, mtd, "service", "Amazon Simple Storage Service") == 11.10
    # The latest complete day is 2026-10-19: only research's EC2 ran; the as-of day's 99.99
    # and the later 1,000.00 are never counted; values without a charge that day are absent.
    assert samples["aifinops_daily_cost_day_timestamp_seconds"][()] == stamp("2026-10-19")
    assert cost(samples, "aifinops_daily_cost", "team", "research") == 12.50
    assert len(samples["aifinops_daily_cost"]) == 6  # one per dimension
    assert samples["aifinops_allocation_stale"][()] == 0


def test_budget_burn(samples: Samples) -> None:
    labels = {"budget": "research", "currency": "USD", "metric": "effective"}
    assert value(samples, "aifinops_budget_amount", **labels) == 500
    assert value(samples, "aifinops_budget_spent", **labels) == 237.50
    assert value(samples, "aifinops_budget_used_ratio", **labels) == 0.475
    forecast = value(samples, "aifinops_budget_forecast", **labels)
    assert forecast is not None and forecast >= 237.50
    assert value(samples, "aifinops_budget_days_left", budget="research") == 12
    assert samples["aifinops_budget_state"] == {
        (("budget", "research"), ("state", "ok")): 1,
        (("budget", "research"), ("state", "warning")): 0,
        (("budget", "research"), ("state", "over")): 0,
    }


def test_llm_unit_costs_and_freshness(samples: Samples) -> None:
    labels = {"provider": "openai", "model": "budget-test-model", "currency": "USD"}
    assert value(samples, "aifinops_llm_cost", **labels) == 24.00
    assert value(samples, "aifinops_llm_cost_per_1m_tokens", **labels) == 13.333333
    assert value(samples, "aifinops_llm_cost_per_1m_output_tokens", **labels) == 40
    assert value(samples, "aifinops_llm_tokens", provider="openai", model="budget-test-model") == (
        1_800_000
    )
    # The as-of day's own charge counts as data that arrived; the 2026-10-25 one does not.
    assert samples["aifinops_data_last_charge_day_timestamp_seconds"][()] == stamp("2026-10-20")
    last = value(samples, "aifinops_data_last_timestamp_seconds", table="llm_usage")
    assert last == stamp("2026-10-10T10:00:09")
    assert value(samples, "aifinops_data_last_timestamp_seconds", table="gpu_samples") is None
    # No GPU data, no serving deployment: help lines only, no invented zeros.
    for name in ("aifinops_gpu_idle_cost", "aifinops_gpu_cost", "aifinops_self_hosted_cost"):
        assert samples[name] == {}
    assert set(samples["aifinops_metrics_family_ok"].values()) == {1}


def test_top_n_sums_the_rest_as_other(folder: Path) -> None:
    settings = load_settings(folder)
    settings.metrics = MetricsSection(families=["costs"], dimensions=["team"], top=1)
    with Workspace(folder, settings=settings, read_only=True) as ws:
        s = parse(exposition(ws, as_of=AS_OF))
    mtd = {
        dict(k)["value"] + "/" + dict(k)["currency"]: v
        for k, v in s["aifinops_month_to_date_cost"].items()
    }
    assert mtd == {"research/USD": 237.50, "(other)/USD": 35.10, "(other)/EUR": 5.00}
    assert "aifinops_budget_amount" not in s  # families not listed are not computed


def test_other_is_summed_exactly_then_rounded() -> None:
    third = Decimal("0.004")
    rows: dict[tuple[tuple[str, ...], str], dict[str, Decimal]] = {
        ((name,), "USD"): {"cost": amount}
        for name, amount in [("a", Decimal(9))] + [(f"small-{i}", third) for i in range(3)]
    }
    kept = top_n(rows, 1, "cost")
    assert list(kept) == [(("a",), "USD"), (("(other)",), "USD")]
    assert kept[("(other)",), "USD"]["cost"] == Decimal("0.012")
    assert money(kept[("(other)",), "USD"]["cost"]) == "0.01"  # rounded once, after the sum


def test_label_values_are_escaped() -> None:
    odd = 'a "quoted" \\ back\nslash'
    family = Family("aifinops_test", "help with \\ and\nnewline")
    family.add("1.50", value=odd)
    text = render([family])
    assert 'value="a \\"quoted\\" \\\\ back\\nslash"' in text
    assert parse(text)["aifinops_test"] == {(("value", odd),): 1.5}


def test_a_bill_without_allocation_by_provider_and_service_with_odd_names(
    tmp_path: Path,
) -> None:
    odd = 'GPU "spot" \\ pool\nB'
    rows = [focus_row(day=d, cost="2.005", service=odd) for d in (1, 2)]
    csv = write_focus_csv(tmp_path / "in" / "costs.csv", rows)
    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest([csv])
        s = parse(exposition(ws, as_of=AS_OF))
    assert cost(s, "aifinops_month_to_date_cost", "service", odd) == 4.01
    assert cost(s, "aifinops_daily_cost", "provider", "AWS") == 2.00  # 2.005 half-even
    assert {dict(k)["dimension"] for k in s["aifinops_month_to_date_cost"]} == {
        "provider",
        "service",
    }
    assert s["aifinops_allocation_stale"] == {}


def test_an_empty_workspace_has_help_lines_and_no_values(tmp_path: Path) -> None:
    with Workspace.init(tmp_path / "empty") as ws:
        text = exposition(ws, as_of=AS_OF)
    s = parse(text)
    assert "aifinops_month_to_date_cost" in s and "aifinops_llm_cost" in s
    assert {name for name, found in s.items() if found} == META
    assert set(s["aifinops_metrics_family_ok"].values()) == {1}


def test_a_failing_family_is_left_out_and_said(folder: Path) -> None:
    settings = load_settings(folder)
    settings.metrics = MetricsSection(families=["costs", "llm"], dimensions=["squad"])
    with Workspace(folder, settings=settings, read_only=True) as ws:
        text = exposition(ws, as_of=AS_OF)
    s = parse(text)
    assert s["aifinops_metrics_family_ok"] == {(("family", "costs"),): 0, (("family", "llm"),): 1}
    assert (
        "# aifinops: costs not computed: [metrics] dimensions: no allocation dimension squad"
        in text
    )
    assert s["aifinops_llm_cost"]


def test_the_cache_serves_again_until_it_expires_or_the_workspace_is_loaded(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "ws"
    shutil.copytree(folder, copy)
    computed: list[date] = []
    compute = aifinops.metrics._compute

    def counting(ws: Workspace, as_of: date) -> str:
        computed.append(as_of)
        return compute(ws, as_of)

    monkeypatch.setattr(aifinops.metrics, "_compute", counting)
    now = [0.0]
    cache = ExpositionCache(60, clock=lambda: now[0])
    with Workspace(copy) as ws:
        first = exposition(ws, as_of=AS_OF, cache=cache)
        now[0] = 59
        assert exposition(ws, as_of=AS_OF, cache=cache) == first
        assert len(computed) == 1
        now[0] = 61
        exposition(ws, as_of=AS_OF, cache=cache)
        assert len(computed) == 2
        extra = write_focus_csv(tmp_path / "more.csv", [focus_row(day=5, cost="1.00", tags="{}")])
        ws.ingest([extra])
        after = parse(exposition(ws, as_of=AS_OF, cache=cache))
        assert len(computed) == 3
        assert after["aifinops_allocation_stale"][()] == 1  # ingested, not allocated again
        exposition(ws, as_of=date(2026, 10, 21), cache=cache)  # another day: computed
        assert len(computed) == 4


def test_the_command_prints_or_writes_atomically(folder: Path, tmp_path: Path) -> None:
    printed = run_cli("metrics", "-w", folder, "--as-of", "2026-10-20", cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert cost(parse(printed.stdout), "aifinops_month_to_date_cost", "team", "research") == 237.5
    target = tmp_path / "textfile" / "aifinops.prom"
    target.parent.mkdir()
    target.write_text("old\n")
    written = run_cli("metrics", "-w", folder, "--as-of", "2026-10-20", "-o", target, cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert list(target.parent.iterdir()) == [target]  # the temporary file was renamed
    assert parse(target.read_text()).keys() == parse(printed.stdout).keys()
    missing = run_cli("metrics", "-w", folder, "-o", tmp_path / "nope" / "a.prom", cwd=tmp_path)
    assert missing.returncode == 2 and "no such folder" in missing.stderr


def test_the_docs_and_the_dashboard_name_the_families_there_are(samples: Samples) -> None:
    docs = Path(__file__).resolve().parents[1] / "docs"
    for family in samples:
        assert f"`{family}`" in (docs / "metrics.md").read_text(), f"{family} not documented"
    dashboard = (docs / "grafana" / "aifinops-dashboard.json").read_text()
    assert json.loads(dashboard)["panels"]
    named = set(re.findall(r"aifinops_[a-z0-9_]+", dashboard))
    assert named and named <= set(samples), named - set(samples)
