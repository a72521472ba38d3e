"""Spend forecasts: hand-made FOCUS bills ingested through the real source, with expectations
worked out by hand; the model, the interval simulation and the backtest on plain series; the
CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from aifinops import Workspace
from aifinops.analysis.forecast import TotalForecast, forecast_total
from aifinops.analysis.forecast_backtest import backtest
from aifinops.analysis.forecast_model import Fitted, ForecastModel, despike, ets_psi, fit
from aifinops.analysis.forecast_report import days_in, forecast_end
from aifinops.errors import AifinopsError, QueryError
from aifinops.model.metrics import CostMetric
from aifinops.model.scope import Scope
from tests.cli.runner import output, run_cli
from tests.conftest import focus_row, write_focus_csv

FIRST, CUTOFF = date(2026, 8, 1), date(2026, 10, 20)  # 80 days of history, Sat .. Mon
AS_OF = CUTOFF
WEEKLY = {0: "100.00", 1: "100.00", 2: "100.00", 3: "100.00", 4: "100.00", 5: "40.00",
          6: "40.00"}  # fmt: skip
NEW_SERVICE = ["10.00", "20.00", "30.00", "40.00", "50.00"]  # 2026-10-15 .. 19
DIMENSIONS = ["team", "project", "model", "environment", "cost_centre"]


def _days(first: date = FIRST, last: date = CUTOFF) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days)]


def _noisy() -> list[Decimal]:
    """Level 1000, weekdays +50 / weekends -125, noise sd 40: the model must beat the baseline."""
    rng = np.random.default_rng(1)
    week = [50, 50, 50, 50, 50, -125, -125]
    return [Decimal(f"{1000 + week[d.weekday()] + rng.normal(0, 40):.2f}") for d in _days()]


def _drifting() -> list[Decimal]:
    """A seasonal random walk (each weekday wanders on its own): seasonal-naive must win."""
    rng = np.random.default_rng(0)
    values = [300.0, 320.0, 340.0, 360.0, 380.0, 200.0, 220.0]
    for t in range(7, len(_days())):
        values.append(values[t - 7] + rng.normal(0, 25))
    return [Decimal(f"{v:.2f}") for v in values]


def _row(
    day: date,
    cost: Decimal | str,
    service: str,
    *,
    frequency: str = "Usage-Based",
    category: str = "Usage",
    currency: str = "USD",
    team: str = "research",
) -> dict[str, str]:
    row = focus_row(period=f"{day:%Y-%m}", day=day.day, cost=str(cost), service=service,
                    category=category, tags=json.dumps({"team": team}),
                    account="222222222222" if currency == "EUR" else "111111111111")  # fmt: skip
    return row | {"ChargeFrequency": frequency, "BillingCurrency": currency}


def _rows() -> list[dict[str, str]]:
    rows = []
    for day, noisy, drifting in zip(_days(), _noisy(), _drifting(), strict=True):
        rows.append(_row(day, WEEKLY[day.weekday()], "Weekly Compute", team="alpha"))
        rows.append(_row(day, noisy, "Noisy API", team="beta"))
        rows.append(_row(day, drifting, "Drifting GPU"))
        rows.append(_row(day, "20.00", "Euro Storage", currency="EUR"))
    for month in (8, 9, 10):
        rows.append(_row(date(2026, month, 1), "500.00", "Support", frequency="Recurring"))
    rows.append(_row(date(2026, 10, 1), "12.34", "Tax", frequency="One-Time", category="Tax"))
    for i, cost in enumerate(NEW_SERVICE):
        rows.append(_row(date(2026, 10, 15 + i), cost, "New Service"))
    return rows


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("forecast")
    with Workspace.init(root / "ws") as workspace:
        summary = workspace.ingest([write_focus_csv(root / "bill.csv", _rows())], source="focus")
        assert (summary.rows_ingested, summary.rows_quarantined) == (len(_rows()), 0)
        workspace.allocate()
        yield workspace


def _total(
    ws: Workspace, services: str, start: date, end: date, as_of: date = AS_OF
) -> list[TotalForecast]:
    scope = Scope.parse([f"services={services}"])
    return forecast_total(ws.engine, scope, DIMENSIONS, CostMetric.EFFECTIVE, start=start,
                          end=end, as_of=as_of)  # fmt: skip


# -- forecast_total and the calendar ---------------------------------------------------------


def test_a_constant_weekly_pattern_forecasts_that_pattern(ws: Workspace) -> None:
    # October 1-19: 13 weekdays at 100 and 6 weekend days at 40 -> 1,540.00 spent; October
    # 20-31: 9 weekdays and 3 weekend days -> 1,020.00 to come. No surprises, no spread.
    (found,) = _total(ws, "Weekly Compute", date(2026, 10, 1), date(2026, 11, 1))
    assert (found.currency, found.actual) == ("USD", Decimal("1540"))
    assert found.through == date(2026, 10, 19)
    assert found.expected == Decimal("2560.00")
    assert found.low == {80: Decimal("2560.00"), 95: Decimal("2560.00")} == found.high
    assert found.model.startswith("ETS(") and found.note is None
    result = ws.forecast(["services=Weekly Compute"], to="2026-11-01", as_of=AS_OF)
    (days,) = result.forecasts
    assert [d.expected for d in days.days] == [Decimal(WEEKLY[d.day.weekday()]) for d in days.days]


def test_a_monthly_fee_lands_on_the_first_and_nowhere_else(ws: Workspace) -> None:
    result = ws.forecast(["services=Support"], to="2026-12-15", as_of=AS_OF)
    (support,) = result.forecasts
    charged = {d.day: d.expected for d in support.days if d.expected}
    assert charged == {date(2026, 11, 1): Decimal("500.00"), date(2026, 12, 1): Decimal("500.00")}
    assert support.expected == support.recurring == Decimal("1000.00")
    everything = ws.forecast(as_of=AS_OF, to="2026-11-30").forecasts
    usd = next(f for f in everything if f.currency == "USD")
    recurring = {d.day: d.recurring for d in usd.days if d.recurring}
    assert recurring == {date(2026, 11, 1): Decimal("500.00")}
    (fee,) = _total(ws, "Support", date(2026, 11, 1), date(2026, 12, 1))
    assert fee.actual == 0
    assert fee.expected == fee.low[95] == fee.high[95] == Decimal("500.00")


def test_one_time_charges_count_as_spent_but_are_not_forecast_and_are_said(ws: Workspace) -> None:
    (tax,) = _total(ws, "Tax", date(2026, 10, 1), date(2026, 12, 1))
    assert (tax.actual, tax.expected) == (Decimal("12.34"), Decimal("12.34"))
    (_, usd) = _total(ws, "*", date(2026, 10, 1), date(2026, 11, 1))  # EUR, USD
    assert usd.note is not None
    assert "one-time charges (tax, purchases, credits) are not forecast: 12.34 USD" in usd.note


def test_one_result_per_currency_with_actual_exact_to_the_cent(ws: Workspace) -> None:
    found = {f.currency: f for f in _total(ws, "*", date(2026, 10, 1), date(2026, 11, 1))}
    assert sorted(found) == ["EUR", "USD"]
    assert (found["EUR"].actual, found["EUR"].expected) == (Decimal("380"), Decimal("620.00"))
    october = [d for d in _days() if d >= date(2026, 10, 1)]
    noisy = sum(v for d, v in zip(_days(), _noisy(), strict=True) if d >= date(2026, 10, 1))
    drifting = sum(v for d, v in zip(_days(), _drifting(), strict=True) if d >= date(2026, 10, 1))
    weekly = sum(Decimal(WEEKLY[d.weekday()]) for d in october)
    new = sum(Decimal(v) for v in NEW_SERVICE)
    fee, tax = Decimal("500"), Decimal("12.34")
    assert found["USD"].actual == noisy + drifting + weekly + new + fee + tax
    usd = found["USD"]
    assert usd.low[95] < usd.low[80] < usd.expected < usd.high[80] < usd.high[95]
    assert all(v == v.quantize(Decimal("0.01")) for v in (usd.expected, *usd.low.values()))


def test_short_history_falls_back_to_the_mean_and_says_so(ws: Workspace) -> None:
    (new,) = _total(ws, "New Service", date(2026, 10, 20), date(2026, 11, 1))
    assert (new.model, new.expected) == ("mean", Decimal("360.00"))  # 12 days x 30
    assert new.actual == 0
    assert new.note == "only 5 days of history: the daily mean is forecast"
    (result,) = ws.forecast(["services=New Service"], as_of=AS_OF).forecasts
    assert result.backtest is not None
    assert result.backtest.verdict() == "not backtested: 5 days of history, needs at least 29"


def test_a_period_already_over_is_its_actual_spend(ws: Workspace) -> None:
    (weekly,) = _total(ws, "Weekly Compute", date(2026, 9, 1), date(2026, 10, 1))
    assert weekly.actual == weekly.expected == weekly.low[80] == weekly.high[95]
    assert (weekly.model, weekly.actual) == ("actual", Decimal(22 * 100 + 8 * 40))


def test_stale_data_forecasts_from_the_day_after_it_ends(ws: Workspace) -> None:
    (weekly,) = _total(ws, "Weekly Compute", date(2026, 10, 1), date(2026, 11, 1),
                       as_of=date(2026, 11, 10))  # fmt: skip
    assert (weekly.through, weekly.expected) == (date(2026, 10, 19), Decimal("2560.00"))


def test_the_interval_of_a_total_is_not_the_sum_of_daily_bounds(ws: Workspace) -> None:
    (noisy,) = ws.forecast(["services=Noisy API"], as_of=AS_OF).forecasts
    assert noisy.low[95] > sum(d.low[95] for d in noisy.days)
    assert noisy.high[95] < sum(d.high[95] for d in noisy.days)
    assert noisy.low[95] < noisy.expected < noisy.high[95]
    assert all(d.low[95] <= d.low[80] <= d.expected <= d.high[80] <= d.high[95] for d in noisy.days)


# -- per value, per dimension --------------------------------------------------------------


def test_by_a_column_keeps_the_top_values(ws: Workspace) -> None:
    result = ws.forecast(by="ServiceName", top=2, as_of=AS_OF)
    assert [f.value for f in result.forecasts] == ["Drifting GPU", "Noisy API"]
    assert result.others == 5  # Euro Storage, New Service, Support, Tax, Weekly Compute
    table = result.table()
    assert table.column("ServiceName").to_pylist() == ["Drifting GPU", "Noisy API"]


def test_by_a_tag_and_by_an_allocation_dimension_agree(ws: Workspace) -> None:
    tags = ws.forecast(by="tag:team", as_of=AS_OF, top=None).forecasts
    teams = ws.forecast(by="team", as_of=AS_OF, top=None).forecasts
    alpha = [f for f in tags if f.value == "alpha"] + [f for f in teams if f.value == "alpha"]
    assert [f.expected for f in alpha] == [Decimal("2520.00")] * 2  # 22 weekdays + 8 weekend
    assert {(f.value, f.currency) for f in teams} >= {("alpha", "USD"), ("beta", "USD")}


def test_bad_options_say_what_to_do(ws: Workspace) -> None:
    with pytest.raises(QueryError, match="unknown dimension 'Servcename'"):
        ws.forecast(by="Servcename", as_of=AS_OF)
    with pytest.raises(AifinopsError, match="level 100 is not between 1 and 99"):
        ws.forecast(levels=[100], as_of=AS_OF)
    with pytest.raises(QueryError, match="give --horizon or --to"):
        ws.forecast(horizon="7d", to="end-of-month", as_of=AS_OF)
    with pytest.raises(AifinopsError, match="unknown forecast model 'prophet'"):
        ws.forecast(model="prophet", as_of=AS_OF)


def test_an_empty_workspace_has_nothing_to_forecast_and_no_allocation_says_so(
    tmp_path: Path,
) -> None:
    with Workspace.init(tmp_path / "empty") as empty:
        assert empty.forecast(as_of=AS_OF).forecasts == []
        with pytest.raises(QueryError, match="reads allocated_costs, which is not there yet"):
            empty.forecast(by="team", as_of=AS_OF)


def test_horizons() -> None:
    day = date(2026, 10, 20)
    assert forecast_end(day, horizon=None, to=None) == date(2026, 11, 19)
    assert forecast_end(day, horizon="2w", to=None) == date(2026, 11, 3)
    assert forecast_end(day, horizon=None, to="end-of-month") == date(2026, 11, 1)
    assert forecast_end(day, horizon=None, to="eoq") == date(2027, 1, 1)
    assert forecast_end(day, horizon=None, to="2026-10-25") == date(2026, 10, 26)
    assert days_in("1m", option="--history", since=date(2026, 1, 31)) == 28
    with pytest.raises(QueryError, match="must be at least one day"):
        days_in("0d", option="--horizon", since=day)


# -- the model, the paths, the backtest --------------------------------------------------------


def test_psi_weights_of_a_damped_seasonal_model() -> None:
    # c_j = alpha + beta (phi + ... + phi^j) + gamma [j mod 7 == 0]
    psi = ets_psi("AAAD", np.array([0.5, 0.1, 0.2, 0.9]), 8, 7)
    expected = [1.0] + [0.5 + 0.1 * sum(0.9**i for i in range(1, j + 1)) for j in range(1, 8)]
    expected[7] += 0.2
    assert np.allclose(psi, expected)


def test_simulated_totals_have_the_variance_of_a_sum_of_correlated_days() -> None:
    # ETS(A,N,N), alpha 0.3, unit errors: the h-day total's error is sum_k e_k (1 + 0.3 (h-k)).
    horizon, alpha = 20, 0.3
    psi = ets_psi("ANNN", np.array([alpha, np.nan, np.nan, np.nan]), horizon, 7)
    shocks = np.random.default_rng(3).standard_normal(5000)
    fitted = Fitted("test", np.zeros(horizon), psi, shocks / shocks.std())
    totals = fitted.paths(20_000, seed=4).sum(axis=1)
    theory = sum((1 + alpha * (horizon - k)) ** 2 for k in range(1, horizon + 1))
    assert totals.var() == pytest.approx(theory, rel=0.05)
    daily_sd = [np.sqrt(1 + alpha**2 * j) for j in range(horizon)]
    assert totals.var() > sum(sd**2 for sd in daily_sd)  # days move together ...
    assert totals.std() < sum(daily_sd)  # ... but not in lockstep (the sum of daily bounds)


def test_short_histories_fall_back() -> None:
    assert fit(np.array([1.0, 2.0, 3.0]), 4, season=7, model=ForecastModel.ETS).name == "mean"
    ten = fit(np.arange(10.0), 3, season=7, model=ForecastModel.ETS)
    assert ten.note == "under 14 days of history: no weekly pattern fitted"
    assert fit(np.zeros(0), 3, season=7, model=ForecastModel.ETS).mean.tolist() == [0, 0, 0]


def test_spikes_are_fitted_at_their_local_median_and_level_shifts_are_kept() -> None:
    flat = np.array([100.0, 101, 99, 100, 102, 98, 100, 101, 99, 100] * 3)
    spiked = flat.copy()
    spiked[12:14] = [900.0, 1500.0]  # a two-day burst
    # days 12 and 13 -> the median of the 7 days around each: 98 100 100 101 102 (900 1500)
    assert despike(spiked).tolist() == [*flat[:12], 101.0, 101.0, *flat[14:]]
    shifted = np.concatenate([flat, flat + 50])  # a new level for 30 days stays
    assert despike(shifted).tolist() == shifted.tolist()
    last_step = np.concatenate([flat, [112.0, 112.0]])  # +12% on the last two days: kept
    assert despike(last_step).tolist() == last_step.tolist()
    last_burst = np.concatenate([flat, [1400.0]])  # 14 times the level the day before: a spike
    assert despike(last_burst)[-1] == 100.5  # the median of the last 4 days: 101 99 100 1400


def test_backtest_verdicts() -> None:
    noisy = np.array([float(v) for v in _noisy()])
    drifting = np.array([float(v) for v in _drifting()])
    model_wins = backtest(noisy, 30, season=7, origins=20, level=80)
    assert model_wins.model_wins and len(model_wins.cutoffs) == 20
    assert model_wins.days_scored == 600 and model_wins.zero_days == 0
    assert model_wins.verdict().startswith("ETS beats seasonal-naive (MAPE ")
    naive_wins = backtest(drifting, 30, season=7, origins=20, level=80)
    assert naive_wins.model_wins is False and naive_wins.winner is ForecastModel.SEASONAL_NAIVE
    assert "trust seasonal-naive here" in naive_wins.verdict()


def test_backtest_skips_zero_days() -> None:
    y = np.tile([10.0, 10, 10, 10, 10, 0, 0], 10)
    found = backtest(y, 7, season=7, origins=3, level=80)
    assert (found.days_scored, found.zero_days) == (15, 6)
    assert found.model_mape == pytest.approx(0, abs=1e-6)


def test_auto_takes_the_winner_of_each_backtest(ws: Workspace) -> None:
    (drifting,) = ws.forecast(["services=Drifting GPU"], model="auto", as_of=AS_OF).forecasts
    assert drifting.model == "seasonal-naive"
    (noisy,) = ws.forecast(["services=Noisy API"], model="auto", as_of=AS_OF).forecasts
    assert noisy.model.startswith("ETS(")


# -- the CLI ------------------------------------------------------------------------------------


def test_cli_forecast_per_service_as_json(ws: Workspace, tmp_path: Path) -> None:
    ws.close()  # DuckDB allows one writer: let the command open the workspace
    result = run_cli("forecast", "-w", ws.path, "--as-of", "2026-10-20", "--by", "ServiceName",
                     "--level", "90", "-f", "json", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, output(result)
    rows = {(r["ServiceName"], r["currency"]): r for r in json.loads(result.stdout)}
    weekly = rows["Weekly Compute", "USD"]
    assert (weekly["from"], weekly["to"], weekly["forecast"]) == ("2026-10-20", "2026-11-18", 2520)
    assert (weekly["low_90"], weekly["high_90"]) == (2520, 2520)
    assert rows["Euro Storage", "EUR"]["forecast"] == 600
    assert rows["Support", "USD"]["recurring"] == 500
    assert rows["Drifting GPU", "USD"]["backtest"] == "seasonal-naive wins"
    assert "ETS does NOT beat seasonal-naive" in result.stderr
    assert "trust seasonal-naive here" in result.stderr


def test_cli_backtest_and_daily_tables(ws: Workspace, tmp_path: Path) -> None:
    ws.close()
    result = run_cli("forecast", "-w", ws.path, "--as-of", "2026-10-20", "--scope",
                     "services=Noisy API", "--backtest", "-f", "csv", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, output(result)
    header, row = result.stdout.splitlines()
    assert header.startswith("scope,currency,history_days,horizon,cutoffs,days_scored,zero_days,")
    assert row.startswith("services=Noisy API,USD,80,30,20,600,0,") and row.endswith("trust ETS")
    daily = run_cli("forecast", "-w", ws.path, "--as-of", "2026-10-20", "--scope",
                    "services=Support", "--daily", "--to", "2026-11-02", "-f", "csv",
                    cwd=tmp_path)  # fmt: skip
    assert daily.returncode == 0, output(daily)
    lines = daily.stdout.splitlines()
    assert lines[0] == "scope,currency,day,forecast,low_80,high_80,low_95,high_95,recurring"
    assert len(lines) == 1 + 14  # 2026-10-20 .. 2026-11-02
    assert lines[13] == "services=Support,USD,2026-11-01,500,500,500,500,500,500"
    assert lines[12] == "services=Support,USD,2026-10-31,0,0,0,0,0,0"


def test_cli_bad_input_exits_2(ws: Workspace, tmp_path: Path) -> None:
    ws.close()
    result = run_cli("forecast", "-w", ws.path, "--horizon", "0d", cwd=tmp_path)
    assert result.returncode == 2
    assert "--horizon '0d' must be at least one day" in output(result)
    assert "Traceback" not in output(result)
