"""The LLM guard: allow/deny by hand on the small budget workspace (tests/analysis/budget_inputs),
record, refresh, period rollover, no-budget behaviour, threads, and the CLI's exit codes."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from aifinops import Workspace
from aifinops.errors import ConfigError, QueryError
from aifinops.guard import Guard
from tests.analysis.budget_inputs import LITELLM_HEADER, build, with_budgets
from tests.cli.runner import run_cli

AS_OF = date(2026, 10, 20)
# Spend as on 2026-10-20 (days before it): key-a 20.00 (2026-10-01..10), key-b 4.00, team
# research 237.50 (EC2 12.50 a day 2026-10-01..19), S3 (team search) 11.10.
BUDGETS = """
[[budgets]]
name = "key-a-llm"
llm_keys = ["key-a"]
amount = 30

[[budgets]]
name = "research-llm"
scope = { team = "research" }
llm_teams = ["research"]
amount = 250

[[budgets]]
name = "search-llm"
scope = { services = "Amazon Simple Storage Service" }
llm_teams = ["search"]
amount = 11.10

[[budgets]]
name = "key-b-family"
llm_keys = ["key-b*"]
amount = 5

[[budgets]]
name = "not-a-guard-budget"
scope = { team = "search" }
amount = 1
"""


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("guard") / "base")


@pytest.fixture(scope="module")
def ws_path(base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return with_budgets(base, tmp_path_factory.mktemp("guard") / "ws", BUDGETS)


@pytest.fixture
def guard(ws_path: Path) -> Guard:
    return Guard(ws_path, as_of=AS_OF)


def test_the_snapshot_holds_each_guard_budgets_spend_by_hand(guard: Guard) -> None:
    spent = {item.budget.name: item.spent for item in guard.snapshot}
    assert spent == {
        "key-a-llm": Decimal("20.00"),
        "research-llm": Decimal("237.50"),
        "search-llm": Decimal("11.10"),
        "key-b-family": Decimal("4.00"),
    }
    through = {item.budget.name: item.through for item in guard.snapshot}
    assert through["key-a-llm"] == date(2026, 10, 10)  # the LLM data ends there
    assert through["research-llm"] == date(2026, 10, 19)  # the day before the as-of day


def test_allow_names_the_budget_and_what_is_left(guard: Guard) -> None:
    decision = guard.check(key="key-a")
    assert decision.allowed
    assert (decision.budget, decision.remaining, decision.currency) == (
        "key-a-llm",
        Decimal("10.00"),
        "USD",
    )
    assert "10.00 USD left of 30.00 to 2026-10-31" in decision.reason
    team = guard.check(team="Research")  # team names are case-insensitive
    assert (team.allowed, team.budget, team.remaining) == (True, "research-llm", Decimal("12.50"))


def test_a_cost_above_what_is_left_is_denied_and_equal_is_allowed(guard: Guard) -> None:
    assert guard.check(key="key-a", cost="10.00").allowed
    denied = guard.check(key="key-a", cost=Decimal("10.01"))
    assert not denied.allowed
    assert denied.remaining == Decimal("10.00")
    assert "10.01 USD is more than budget 'key-a-llm' has left (10.00 USD)" in denied.reason


def test_a_spent_budget_denies_everything(guard: Guard) -> None:
    decision = guard.check(team="search")  # 11.10 of 11.10
    assert not decision.allowed
    assert decision.remaining == Decimal("0.00")
    assert "budget 'search-llm' is spent: 11.10 of 11.10 USD" in decision.reason


def test_team_and_key_together_answer_with_the_tightest_budget(guard: Guard) -> None:
    decision = guard.check(team="research", key="key-a")
    assert (decision.allowed, decision.budget, decision.remaining) == (
        True,
        "key-a-llm",
        Decimal("10.00"),
    )
    assert not guard.check(team="search", key="key-a").allowed  # search is spent


def test_no_budget_is_allowed_by_default_and_denied_when_configured(
    guard: Guard, ws_path: Path, base: Path, tmp_path: Path
) -> None:
    for decision in (guard.check(team="nobody"), guard.check(key="key-zzz")):
        assert decision.allowed
        assert decision.reason.startswith("no budget for")
        assert decision.budget is None
    # A team whose budget names no llm_teams is not one the guard answers for.
    assert guard.check(team="emea").reason == "no budget for team 'emea'"
    strict = Guard(ws_path, as_of=AS_OF, no_budget="deny")
    assert not strict.check(team="nobody").allowed
    configured = with_budgets(base, tmp_path / "ws", '[guard]\nno_budget = "deny"\n' + BUDGETS)
    decision = Guard(configured, as_of=AS_OF).check(key="key-zzz")
    assert not decision.allowed
    assert "guard.no_budget = deny" in decision.reason


def test_bad_calls_are_errors(guard: Guard) -> None:
    with pytest.raises(QueryError, match="needs a team or a key"):
        guard.check()
    with pytest.raises(QueryError, match="not a number"):
        guard.check(key="key-a", cost="ten")
    with pytest.raises(QueryError, match="not a number"):
        guard.check(key="key-a", cost=float("nan"))
    with pytest.raises(QueryError, match="cannot be negative"):
        guard.check(key="key-a", cost="-1")


def test_record_adds_spend_to_every_budget_of_the_team_and_key(guard: Guard) -> None:
    guard.record(team="research", key="key-a", cost="9.99")
    assert guard.remaining("key-a-llm") == Decimal("0.01")
    assert guard.remaining("research-llm") == Decimal("2.51")
    assert not guard.check(key="key-a", cost="0.02").allowed
    guard.record(key="key-b-7", cost=1)  # a glob: key-b* (4.00 + 1 of 5)
    assert not guard.check(key="key-b-7").allowed
    assert guard.check(key="key-b-7").reason.startswith("budget 'key-b-family' is spent")
    guard.record(team="nobody", cost="5")  # no budget: nothing to add to
    with pytest.raises(QueryError, match="no guard budget named"):
        guard.remaining("nobody")


def test_refresh_reads_new_data_and_keeps_only_the_records_it_does_not_hold(
    base: Path, tmp_path: Path
) -> None:
    folder = with_budgets(base, tmp_path / "ws", BUDGETS)
    guard = Guard(folder, as_of=AS_OF)
    guard.record(key="key-a", cost="1.00", day=date(2026, 10, 11))  # the new data will hold it
    guard.record(key="key-a", cost="3.00")  # on the as-of day: no data holds it
    assert guard.remaining("key-a-llm") == Decimal("6.00")  # 30 - 20 - 1 - 3
    extra = tmp_path / "more.csv"
    extra.write_text(
        LITELLM_HEADER + "n1,key-a,,100000,50000,2026-10-11 09:00:00+00:00,"
        "2026-10-11 09:00:09+00:00,budget-test-model,openai\n",
        encoding="utf-8",
    )
    with Workspace(folder) as ws:
        ws.ingest([extra], source="litellm")
    guard.refresh()
    # 20.00 + 2.00 (the new day) + 3.00 recorded on 2026-10-20; the 1.00 of 2026-10-11 is gone.
    assert guard.remaining("key-a-llm") == Decimal("5.00")
    assert {i.budget.name: i.through for i in guard.snapshot}["key-a-llm"] == date(2026, 10, 11)


def test_a_live_guard_reloads_when_the_period_ends(ws_path: Path) -> None:
    now = [datetime(2026, 10, 31, 23, 59, tzinfo=UTC).timestamp()]
    guard = Guard(ws_path, clock=lambda: now[0])
    assert guard.today() == date(2026, 10, 31)
    guard.record(key="key-a", cost="9.00")
    assert guard.check(key="key-a").remaining == Decimal("1.00")
    now[0] += 120  # 2026-11-01 00:01: a new month, nothing spent yet
    decision = guard.check(key="key-a")
    assert (decision.allowed, decision.remaining) == (True, Decimal("30"))
    assert guard.snapshot[0].start == date(2026, 11, 1)


def test_checks_and_records_from_many_threads_add_up_exactly(ws_path: Path) -> None:
    guard = Guard(ws_path, as_of=AS_OF)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(500):
                guard.check(team="research", key="key-a", cost="0.01")
                guard.record(team="research", cost="0.01")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    refresher = threading.Thread(target=lambda: [guard.refresh() for _ in range(3)])
    for thread in [*threads, refresher]:
        thread.start()
    for thread in [*threads, refresher]:
        thread.join()
    assert not errors
    # 8 x 500 x 0.01 = 40.00 recorded on the as-of day, kept through the refreshes.
    assert guard.remaining("research-llm") == Decimal("250") - Decimal("237.50") - Decimal("40")


def test_a_budget_in_another_currency_than_its_costs_is_an_error(
    base: Path, tmp_path: Path
) -> None:
    folder = with_budgets(
        base,
        tmp_path / "ws",
        '[[budgets]]\nname = "emea"\nscope = { team = "emea" }\nllm_teams = ["emea"]\n'
        "amount = 100\n",
    )
    with pytest.raises(ConfigError, match=r"budget 'emea': its scope has costs in EUR"):
        Guard(folder, as_of=AS_OF)


def test_the_cli_exits_0_on_allow_1_on_deny_2_on_error(ws_path: Path) -> None:
    allow = run_cli("guard", "--key", "key-a", "--as-of", "2026-10-20", "-w", ws_path, cwd=ws_path)
    assert allow.returncode == 0, allow.stderr
    assert "allow: within budget 'key-a-llm': 10.00 USD left of 30.00" in allow.stdout
    deny = run_cli(
        "guard", "--team", "research", "--cost", "12.51", "--as-of", "2026-10-20", "-f", "json",
        cwd=ws_path,
    )  # fmt: skip
    assert deny.returncode == 1, deny.stderr
    assert '"allowed": false' in deny.stdout and '"remaining": "12.5"' in deny.stdout
    bad = run_cli("guard", "--key", "key-a", "--cost", "lots", cwd=ws_path)
    assert bad.returncode == 2
    assert "cost 'lots' is not a number" in bad.stderr


def test_custom_periods_answer_only_while_in_force(base: Path, tmp_path: Path) -> None:
    campaigns = """
[[budgets]]
name = "old-campaign"          # key-a spent 2.00 on 2026-09-30: spent, but over
llm_keys = ["key-a"]
amount = 1
period = "custom"
start = 2026-09-01
end = 2026-09-30

[[budgets]]
name = "next-campaign"
llm_keys = ["key-n"]
amount = 7
period = "custom"
start = 2026-10-25
end = 2026-10-31
"""
    folder = with_budgets(base, tmp_path / "ws", BUDGETS + campaigns)
    now = [datetime(2026, 10, 24, 12, 0, tzinfo=UTC).timestamp()]
    guard = Guard(folder, clock=lambda: now[0])
    assert guard.check(key="key-a").budget == "key-a-llm"  # the ended campaign says nothing
    assert guard.check(key="key-n").reason == "no budget for key 'key-n'"
    now[0] += 86_400  # 2026-10-25: the next campaign starts, the guard reloads by itself
    decision = guard.check(key="key-n")
    assert (decision.allowed, decision.budget, decision.remaining) == (
        True,
        "next-campaign",
        Decimal("7"),
    )
