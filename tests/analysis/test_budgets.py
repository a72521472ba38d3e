"""Budgets by hand on the small workspace of tests/analysis/budget_inputs.py (spend to the cent,
thresholds, period boundaries, currencies), their config errors, and `aifinops budgets status` /
`aifinops check` through the CLI with a real local HTTP server receiving the alerts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aifinops import Workspace
from aifinops.analysis import forecast as forecast_module
from aifinops.analysis.budgets import BudgetState, BudgetStatus, status_of
from aifinops.config import load_settings
from aifinops.errors import ConfigError
from aifinops.model.budgets import Budget
from tests.analysis.budget_inputs import LITELLM_HEADER, build, with_budgets
from tests.cli.runner import run_cli
from tests.demo.build import demo_workspace
from tests.notify.servers import HttpServer

AS_OF = date(2026, 10, 20)
D = Decimal
DOCS = Path(__file__).resolve().parents[2] / "docs"
# As on 2026-10-20, account 111111111111 has spent 12.50 a day 2026-10-01..19 = 237.50 and
# 10.00 a day in September = 300.00; key-a 2.00 a day 2026-10-01..10 = 20.00, key-b 4.00.
BUDGETS = """
[[budgets]]
name = "acct-monthly"
scope = { accounts = "111111111111" }
amount = 400

[[budgets]]
name = "half"
scope = { "tag:team" = "research" }
amount = 475

[[budgets]]
name = "just-under"
scope = { accounts = "111111111111" }
amount = 237.51

[[budgets]]
name = "spent-exactly"
scope = { team = "research" }
amount = 237.50

[[budgets]]
name = "fiscal-quarter"
scope = { accounts = "111111111111" }
amount = 1000
period = "quarterly"
start_month = 2

[[budgets]]
name = "calendar-quarter"
scope = { accounts = "111111111111" }
amount = 1000
period = "quarterly"

[[budgets]]
name = "fiscal-year"
scope = { accounts = "111111111111" }
amount = 10000
period = "yearly"
start_month = 4

[[budgets]]
name = "campaign"
scope = { accounts = "111111111111" }
amount = 1000
period = "custom"
start = 2026-09-15
end = 2026-10-05

[[budgets]]
name = "next-campaign"
scope = { accounts = "111111111111" }
amount = 1000
period = "custom"
start = 2026-11-01
end = 2026-11-30

[[budgets]]
name = "key-a"
llm_keys = ["key-a"]
amount = 30

[[budgets]]
name = "all-keys"
llm_keys = ["key-*"]
amount = 100

[[budgets]]
name = "emea-eur"
scope = { team = "emea" }
amount = 10
currency = "eur"

[[budgets]]
name = "typo"
scope = { services = "Amazon S4" }
amount = 10
"""


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("budgets") / "base")


@pytest.fixture(scope="module")
def statuses(base: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, BudgetStatus]:
    folder = with_budgets(base, tmp_path_factory.mktemp("budgets") / "ws", BUDGETS)
    with Workspace(folder, read_only=True) as ws:
        return {s.name: s for s in ws.budget_status(as_of=AS_OF)}


def test_a_monthly_budget_counts_the_days_before_the_as_of_day(
    statuses: dict[str, BudgetStatus],
) -> None:
    s = statuses["acct-monthly"]
    assert (s.start, s.end, s.as_of) == (date(2026, 10, 1), date(2026, 11, 1), AS_OF)
    # 19 days of 12.50; the 99.99 of the as-of day and the 1,000.00 of 2026-10-25 do not count.
    assert s.actual == D("237.50")
    assert (s.remaining, s.used_pct, s.burn_rate) == (D("162.50"), D("59.4"), D("12.50"))
    assert (s.through, s.days_left, s.currency, s.metric) == (
        date(2026, 10, 19),
        12,
        "USD",
        "effective",
    )
    assert s.crossed == (D(50),)
    assert s.state is BudgetState.WARNING
    assert s.notes == ()


def test_the_forecast_at_period_end_comes_with_intervals(
    statuses: dict[str, BudgetStatus],
) -> None:
    s = statuses["acct-monthly"]
    assert s.forecast is not None and s.forecast_model == s.forecast.model
    assert s.expected is not None and s.expected > s.actual
    for level in (80, 95):
        assert s.low[level] <= s.expected <= s.high[level]
    assert s.low[95] <= s.low[80] and s.high[80] <= s.high[95]


def test_thresholds_are_crossed_at_exactly_their_percent(
    statuses: dict[str, BudgetStatus],
) -> None:
    half = statuses["half"]  # 237.50 of 475: 50% exactly (a tag scope on the bill)
    assert (half.actual, half.crossed, half.used_pct) == (D("237.50"), (D(50),), D("50.0"))
    under = statuses["just-under"]  # one cent short of the amount
    assert under.crossed == (D(50), D(80))
    assert under.state is BudgetState.WARNING
    spent = statuses["spent-exactly"]  # a team scope (allocated_costs), the amount to the cent
    assert spent.actual == D("237.50")
    assert spent.crossed == (D(50), D(80), D(100))
    assert spent.state is BudgetState.OVER
    assert spent.remaining == 0


def test_quarters_and_years_start_in_their_start_month(
    statuses: dict[str, BudgetStatus],
) -> None:
    fiscal = statuses["fiscal-quarter"]  # fiscal year from February: Aug-Oct
    assert (fiscal.start, fiscal.end) == (date(2026, 8, 1), date(2026, 11, 1))
    assert fiscal.actual == D("537.50")  # September 300.00 + October 237.50
    assert fiscal.burn_rate == D("6.72")  # 537.50 / 80 days (2026-08-01..10-19), half-even
    calendar = statuses["calendar-quarter"]
    assert (calendar.start, calendar.end) == (date(2026, 10, 1), date(2027, 1, 1))
    assert (calendar.actual, calendar.days_left) == (D("237.50"), 73)
    year = statuses["fiscal-year"]
    assert (year.start, year.end, year.actual) == (date(2026, 4, 1), date(2027, 4, 1), D("537.50"))


def test_custom_periods_include_both_days_and_say_when_they_are_over_or_to_come(
    statuses: dict[str, BudgetStatus],
) -> None:
    ended = statuses["campaign"]  # 2026-09-15..30 at 10.00 + 2026-10-01..05 at 12.50
    assert (ended.start, ended.end) == (date(2026, 9, 15), date(2026, 10, 6))
    assert ended.actual == D("222.50")
    assert (ended.expected, ended.forecast_model, ended.days_left) == (
        D("222.50"),
        "period ended",
        0,
    )
    assert ended.through == date(2026, 10, 5)
    coming = statuses["next-campaign"]
    assert (coming.actual, coming.through, coming.burn_rate) == (D(0), None, None)
    assert coming.days_left == 30
    assert coming.notes[0] == "the period starts 2026-11-01: nothing spent yet"
    assert coming.state is BudgetState.OK


def test_an_llm_key_budget_counts_llm_usage_and_projects_its_run_rate(
    statuses: dict[str, BudgetStatus],
) -> None:
    s = statuses["key-a"]
    assert (s.actual, s.metric, s.through) == (D("20.00"), "llm_usage.cost", date(2026, 10, 10))
    assert s.burn_rate == D("2.00")  # 20.00 over 2026-10-01..10
    # 20.00 + 2.00 a day over the 21 days 2026-10-11..31; no interval for a run rate.
    assert (s.expected, s.forecast_model, s.low, s.high) == (D("62.00"), "run-rate", {}, {})
    assert (s.crossed, s.forecast_crossed) == ((D(50),), (D(100),))
    assert s.state is BudgetState.WARNING
    assert s.notes == (
        "data ends 2026-10-10, 9 day(s) before the as-of day: spend after it is not counted yet",
    )
    globbed = statuses["all-keys"]  # key-a 20.00 + key-b 4.00; the September request not
    assert (globbed.actual, globbed.burn_rate, globbed.expected) == (
        D("24.00"),
        D("2.40"),
        D("74.40"),
    )


def test_budgets_in_the_costs_currency_and_scopes_that_match_nothing(
    statuses: dict[str, BudgetStatus],
) -> None:
    euro = statuses["emea-eur"]
    assert (euro.actual, euro.currency, euro.used_pct) == (D("5.00"), "EUR", D("50.0"))
    typo = statuses["typo"]
    assert typo.actual == 0
    assert typo.notes[-1] == "no cost row ever matched services=Amazon S4: check it"


def test_a_scope_with_costs_in_another_currency_is_an_error(base: Path) -> None:
    with Workspace(base, read_only=True) as ws:
        whole_bill = Budget(name="everything", amount=D(5000))
        with pytest.raises(ConfigError, match="budget 'everything': its scope has costs in EUR"):
            status_of(ws.engine, ws.settings, whole_bill, as_of=AS_OF)
        keys = Budget(name="k", llm_keys=("key-a",), amount=D(1), currency="EUR")
        with pytest.raises(ConfigError, match="API key key-a has costs in USD"):
            status_of(ws.engine, ws.settings, keys, as_of=AS_OF)


def test_forecast_thresholds_and_the_alerts_raised_once_per_threshold(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = forecast_module.forecast_total

    def shifted(*args: Any, **kwargs: Any) -> list[forecast_module.TotalForecast]:
        # The real forecast with a known total: 237.50 spent + 262.50 to come = 500.00.
        found = real(*args, **kwargs)
        return [replace(found[0], expected=D("500.00"), low={80: D(450)}, high={80: D(550)})]

    monkeypatch.setattr(forecast_module, "forecast_total", shifted)
    budget = Budget(name="r", scope={"accounts": "111111111111"}, amount=D(400), owner="o@x.io")
    with Workspace(base, read_only=True) as ws:
        s = status_of(ws.engine, ws.settings, budget, as_of=AS_OF)
    assert (s.expected, s.forecast_pct, s.low, s.high) == (
        D("500.00"),
        D("125.0"),
        {80: D(450)},
        {80: D(550)},
    )
    assert (s.crossed, s.forecast_crossed, s.state) == ((D(50),), (D(100),), BudgetState.WARNING)
    alerts = s.alerts()
    assert [(a.key, a.kind, a.severity.value) for a in alerts] == [
        ("budget:r:2026-10-01:actual:50", "budget.actual", "info"),
        ("budget:r:2026-10-01:forecast:100", "budget.forecast", "warning"),
    ]
    assert alerts[0].amount == D("237.50") and alerts[1].amount == D("500.00")
    assert alerts[1].title == "Budget r: forecast to reach 100% of 400.00 USD"
    assert alerts[0].owner == "o@x.io" and alerts[0].fields["burn rate"] == "12.50 USD/day"


def test_only_the_highest_threshold_crossed_alerts(statuses: dict[str, BudgetStatus]) -> None:
    spent = statuses["spent-exactly"]  # 50, 80 and 100 crossed at once: one alert, critical
    assert [(a.key, a.severity.value) for a in spent.alerts()] == [
        ("budget:spent-exactly:2026-10-01:actual:100", "critical")
    ]
    assert statuses["next-campaign"].alerts() == []


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('name = "a"\namount = 0', "budget 'a': amount: Input should be greater than 0"),
        ('name = "b"\namount = 1\nperiod = "custom"', "budget 'b': period = \"custom\" needs"),
        (
            'name = "c"\namount = 1\nllm_keys = ["k"]\nscope = { team = "x" }',
            "budget 'c': llm_keys budgets count the keys' llm_usage cost and take no scope",
        ),
        ('name = "d"\namount = 1\nthresholds = [0, 50]', "a threshold is a percent of the amount"),
        ('name = "e"\namount = 1\nstart_month = 3', "start_month is for quarterly and yearly"),
        ('name = "f"\namount = 1\nllm_teams = ["x"]', "llm_teams needs a scope"),
        ('name = "g"\namount = 1\nperiod = "weekly"', "budget 'g': period: Input should be"),
    ],
)
def test_a_bad_budget_is_an_error_naming_it_and_its_line(
    tmp_path: Path, toml: str, message: str
) -> None:
    (tmp_path / "aifinops.toml").write_text(
        '[[budgets]]\nname = "fine"\namount = 10\n\n[[budgets]]\n' + toml + "\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path)
    assert message in caught.value.message
    assert caught.value.where == f"{tmp_path / 'aifinops.toml'}:5"  # the second [[budgets]]


def test_budget_names_are_unique(tmp_path: Path) -> None:
    (tmp_path / "aifinops.toml").write_text(
        '[[budgets]]\nname = "a"\namount = 1\n[[budgets]]\nname = "A"\namount = 2\n'
    )
    with pytest.raises(ConfigError, match="two budgets are named 'A'"):
        load_settings(tmp_path)


def test_every_budget_key_is_documented() -> None:
    text = (DOCS / "budgets.md").read_text()
    for name, info in Budget.model_fields.items():
        assert f"| `{name}` |" in text, f"{name} is not in docs/budgets.md"
        assert info.description, name


# -- the CLI: status, and check as cron runs it ----------------------------------------------


@pytest.fixture
def hook() -> Iterator[HttpServer]:
    server = HttpServer()
    yield server
    server.stop()


def _notify(url: str) -> str:
    return (
        "[notify]\nattempts = 1\nbackoff_seconds = 0.001\ndown_seconds = 0\n\n"
        f'[notify.channels.hook]\ntype = "webhook"\nurl = "{url}"\n'
    )


def test_status_prints_every_column_in_json(base: Path, tmp_path: Path) -> None:
    folder = with_budgets(base, tmp_path / "ws", BUDGETS)
    done = run_cli("budgets", "status", "--as-of", "2026-10-20", "-b", "key-a", "-f", "json",
                   cwd=folder)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"actual": 20,' in done.stdout and '"forecast": 62,' in done.stdout
    assert '"crossed": "50%"' in done.stdout and '"data_through": "2026-10-10"' in done.stdout
    extra = tmp_path / "later.csv"  # an ingest after `allocate`: allocated_costs is stale
    extra.write_text(LITELLM_HEADER + "x1,key-c,,1,1,2026-10-12 00:00:00+00:00,"
                     "2026-10-12 00:00:01+00:00,budget-test-model,openai\n")  # fmt: skip
    with Workspace(folder) as ws:
        ws.ingest([extra], source="litellm")
    table = run_cli("budgets", "status", "--as-of", "2026-10-20", "-b", "acct-monthly,half",
                    cwd=folder)  # fmt: skip
    assert re.search(r"acct-monthly\s+400\s+238\s+59\.4%", table.stdout), table.stdout
    assert "237.50 of 400.00 USD (effective) 2026-10-01 to 2026-10-31" in table.stdout
    assert "allocated_costs" not in table.stderr  # neither budget reads it
    team = run_cli("budgets", "status", "--as-of", "2026-10-20", "-b", "spent-exactly",
                   cwd=folder)  # fmt: skip
    assert "warning: allocated_costs is older than the latest ingest" in team.stderr


def test_unpriced_usage_of_a_key_is_said_not_counted_as_zero(base: Path, tmp_path: Path) -> None:
    folder = with_budgets(base, tmp_path / "ws", BUDGETS)
    with Workspace(folder) as ws:  # a usage record no price was found for (cost NULL)
        ws.connection.execute(
            "INSERT INTO llm_usage (start_time, record_type, provider, model, api_key_id, "
            "source, x_IngestFileId) VALUES ('2026-10-04 08:00:00+00'::TIMESTAMPTZ, 'usage', "
            "'openai', 'mystery', 'key-a', 'test', 99)"
        )
        s = next(s for s in ws.budget_status(as_of=AS_OF) if s.name == "key-a")
    assert s.actual == D("20.00")
    assert s.notes[-1].startswith("1 llm_usage row(s) of these keys have no price")


def test_check_exits_0_when_every_budget_is_ok(base: Path, tmp_path: Path) -> None:
    folder = with_budgets(
        base,
        tmp_path / "ws",
        '[[budgets]]\nname = "roomy"\nscope = { accounts = "111111111111" }\namount = 1000\n'
        "thresholds = [80]\n",
    )
    done = run_cli("check", "--as-of", "2026-10-20", cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 budget(s) checked, 0 past a threshold, 0 error(s): exit 0" in done.stdout


def test_check_alerts_once_and_a_failed_channel_is_retried_next_run(
    base: Path, tmp_path: Path, hook: HttpServer
) -> None:
    budget = (
        '[[budgets]]\nname = "tight"\nscope = { accounts = "111111111111" }\namount = 250\n'
        "forecast_thresholds = [1000]\n"  # 95% spent on 2026-10-20: one alert
    )
    folder = with_budgets(base, tmp_path / "ws", _notify(hook.url) + budget)
    dry = run_cli("check", "--as-of", "2026-10-20", "--dry-run", cwd=folder)
    assert dry.returncode == 1, dry.stderr
    assert "would alert (routed by [notify]): Budget tight: 80% of 250.00 USD spent" in dry.stdout
    assert hook.recorder.requests == []
    hook.recorder.fail(1)  # the first try fails: the alert waits in the outbox
    failed = run_cli("check", "--as-of", "2026-10-20", cwd=folder)
    assert failed.returncode == 1  # the exit code still says a threshold is crossed
    assert "alert not delivered to hook" in failed.stderr
    sent = run_cli("check", "--as-of", "2026-10-20", cwd=folder)
    assert sent.returncode == 1
    assert "alert sent to hook: Budget tight: 80% of 250.00 USD spent" in sent.stdout
    again = run_cli("check", "--as-of", "2026-10-20", cwd=folder)  # the same day again
    assert again.returncode == 1 and "alert sent" not in again.stdout
    assert [r.status for r in hook.recorder.requests] == [500, 200]
    body = hook.recorder.accepted[0].json()
    assert body["key"] == "budget:tight:2026-10-01:actual:80"
    assert (body["amount"], body["currency"], body["severity"]) == (
        "237.50",
        "USD",
        "warning",
    )
    # The next day counts 2026-10-20's 99.99: 337.49 of 250 passes 100%, a new alert.
    later = run_cli("check", "--as-of", "2026-10-21", cwd=folder)
    assert "alert sent to hook: Budget tight: 100% of 250.00 USD spent" in later.stdout
    assert [r.json()["key"] for r in hook.recorder.accepted] == [
        "budget:tight:2026-10-01:actual:80",
        "budget:tight:2026-10-01:actual:100",
    ]


def test_check_exits_2_on_a_bad_budget_or_workspace(base: Path, tmp_path: Path) -> None:
    folder = with_budgets(base, tmp_path / "ws", '[[budgets]]\nname = "x"\namount = -5\n')
    bad = run_cli("check", cwd=folder)
    assert bad.returncode == 2
    assert "aifinops.toml:5: invalid settings: budgets.0: Value error, budget 'x'" in bad.stderr
    euro = with_budgets(base, tmp_path / "eur", '[[budgets]]\nname = "all"\namount = 5\n')
    mixed = run_cli("check", "--as-of", "2026-10-20", cwd=euro)
    assert mixed.returncode == 2
    assert "budget 'all': its scope has costs in EUR" in mixed.stderr
    nowhere = run_cli("check", "-w", tmp_path / "missing", cwd=tmp_path)
    assert nowhere.returncode == 2 and "no aifinops workspace" in nowhere.stderr


def test_the_docs_are_linked_from_the_readme_and_the_cli_reference() -> None:
    assert "docs/budgets.md" in (DOCS.parent / "README.md").read_text(encoding="utf-8")
    cli = (DOCS / "cli.md").read_text(encoding="utf-8")
    for command in ("aifinops budgets status", "aifinops check", "aifinops guard"):
        assert f"`{command}" in cli


@pytest.mark.slow
def test_the_demo_budgets_as_on_2026_10_20(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The demo's budgets (src/aifinops/demo/budgets.py) on its three months of data: most ok,
    research warned by its forecast before any actual threshold, training-platform over."""
    ws, _ = demo_workspace(tmp_path_factory.mktemp("budgets-demo"), months=3)
    with ws:
        ws.allocate()
        found = {s.name: s for s in ws.budget_status(as_of=AS_OF)}
    assert {name: s.state.value for name, s in found.items()} == {
        "research": "warning",
        "training-platform": "over",
        "inference": "ok",
        "search": "ok",
        "company": "ok",
        "fiscal-q3": "ok",
        "chat-assistant-key": "ok",
        "research-llm": "ok",
    }
    research = found["research"]
    assert (research.crossed, research.forecast_crossed) == ((), (D(100),))
    assert found["training-platform"].actual > found["training-platform"].amount
    assert found["chat-assistant-key"].actual == D("1813.8329595")  # llm_usage, 2026-10-01..19


def test_other_alert_sources_join_the_check(
    base: Path, tmp_path: Path, hook: HttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aifinops import check
    from aifinops.notify import Alert

    def planted(ws: Workspace, as_of: date) -> list[Alert]:
        return [Alert(key=f"test:{as_of}", kind="anomaly", severity="warning", title="t", text="")]

    monkeypatch.setitem(check.ALERT_SOURCES, "planted", planted)
    roomy = (  # key-a: 2.00 of 10 on 2026-10-01, 62.00 at its run rate: no threshold
        '[[budgets]]\nname = "roomy"\namount = 10\nllm_keys = ["key-a"]\nthresholds = [90]\n'
        "forecast_thresholds = [1000]\n"
    )
    folder = with_budgets(base, tmp_path / "ws", _notify(hook.url) + roomy)
    with Workspace(folder, read_only=True) as ws:
        first = check.run_check(ws, as_of=date(2026, 10, 2))
        again = check.run_check(ws, as_of=date(2026, 10, 2))
    assert [s.state for s in first.statuses] == [BudgetState.OK]
    assert first.findings["anomalies"] == []  # the real detector: two days of data, nothing
    assert [a.key for a in first.findings["planted"]] == ["test:2026-10-02"]
    assert (first.exit_code, again.exit_code) == (1, 1)
    assert [r.json()["key"] for r in hook.recorder.accepted] == ["test:2026-10-02"]
