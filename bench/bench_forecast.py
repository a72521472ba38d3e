"""Spend forecasts: time to forecast N scopes, time of the backtest, and the demo's backtest.

    .venv/bin/python bench/bench_forecast.py [--scopes 100] [--days 365] [--demo /tmp/demo1]

Builds (first run only) bench/out/ws-forecast-<scopes>x<days>/: a FOCUS bill of ``--scopes``
services x ``--days`` days of usage (levels from 50 to 20,000 a day, weekly patterns, trends,
noise, a level shift in a third of them) and a monthly recurring fee on the 1st for a fifth of
them. Then, as on the day after the data ends, a 30-day forecast with 80/95% intervals:

* ``Workspace.forecast(by="ServiceName", top=None)``: every service at once, end to end
  (query, backtest, fit, 2,000 paths each), median of 3;
* the parts per scope: the backtest (20 cut-offs, ETS and seasonal-naive) and the fit with its
  paths, timed alone over the same series;
* ``forecast_total`` for one scope (what a budget asks), median of 5;
* how often ETS beat seasonal-naive on these series.

With ``--demo`` (a workspace made by ``aifinops demo``, opened read-only): the backtest of the
whole bill, per team and per provider at 7, 14 and 30 days, as on 2026-11-01 (all its history).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).resolve().parent / "out"
START = date(2025, 11, 1)
FOCUS_HEADER = [
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency",
    "ChargePeriodEnd", "ChargePeriodStart", "ContractedCost", "EffectiveCost",
    "InvoiceIssuerName", "ListCost", "ProviderName", "PublisherName", "ServiceCategory",
    "ServiceName", "ResourceId", "Tags", "PricingQuantity", "PricingUnit",
]  # fmt: skip


def _series(rng: np.random.Generator, days: int) -> np.ndarray:
    level = float(np.exp(rng.uniform(np.log(50), np.log(20_000))))
    weekend = rng.uniform(0, 0.3)
    week = np.array([1, 1, 1, 1, 1, 1 - weekend, 1 - weekend])
    t = np.arange(days)
    y = level * (1 + rng.uniform(-0.001, 0.002) * t) * week[(t + START.weekday()) % 7]
    if rng.random() < 1 / 3:
        y[rng.integers(days // 4, days) :] *= rng.uniform(0.5, 2.0)
    noisy = y * (1 + rng.normal(0, rng.uniform(0.02, 0.1), days))
    return np.asarray(np.maximum(noisy, 0), dtype=np.float64)


def _rows(scopes: int, days: int) -> list[dict[str, str]]:
    rng = np.random.default_rng(7)
    rows = []
    for i in range(scopes):
        service = f"service-{i:03d}"
        for d, cost in enumerate(_series(rng, days)):
            rows.append(_row(START + timedelta(days=d), f"{cost:.2f}", service, "Usage-Based"))
        if i % 5 == 0:
            for d in range(days):
                day = START + timedelta(days=d)
                if day.day == 1:
                    rows.append(_row(day, "1500.00", service, "Recurring"))
    return rows


def _row(day: date, cost: str, service: str, frequency: str) -> dict[str, str]:
    month = day.replace(day=1)
    after = (month + timedelta(days=32)).replace(day=1)
    return {
        "BilledCost": cost, "BillingAccountId": "111111111111", "BillingAccountName": "Bench",
        "BillingCurrency": "USD", "BillingPeriodEnd": f"{after}T00:00:00Z",
        "BillingPeriodStart": f"{month}T00:00:00Z", "ChargeCategory": "Usage", "ChargeClass": "",
        "ChargeDescription": "usage", "ChargeFrequency": frequency,
        "ChargePeriodEnd": f"{day + timedelta(days=1)}T00:00:00Z",
        "ChargePeriodStart": f"{day}T00:00:00Z", "ContractedCost": cost, "EffectiveCost": cost,
        "InvoiceIssuerName": "AWS", "ListCost": cost, "ProviderName": "AWS",
        "PublisherName": "AWS", "ServiceCategory": "Compute", "ServiceName": service,
        "ResourceId": service, "Tags": "{}", "PricingQuantity": "1", "PricingUnit": "Hours",
    }  # fmt: skip


def _workspace(scopes: int, days: int) -> Path:
    import csv

    from aifinops import Workspace

    folder = OUT / f"ws-forecast-{scopes}x{days}"
    if (folder / "aifinops.toml").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    bill = folder / "bill.csv"
    with bill.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, FOCUS_HEADER)
        writer.writeheader()
        writer.writerows(_rows(scopes, days))
    with Workspace.init(folder) as ws:
        ws.ingest([bill], source="focus")
    bill.unlink()
    return folder


def _median(run: object, times: int) -> float:
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        run()  # type: ignore[operator]
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def bench_scopes(scopes: int, days: int) -> None:
    from aifinops import Workspace
    from aifinops.analysis.forecast import forecast_total
    from aifinops.analysis.forecast_backtest import backtest
    from aifinops.analysis.forecast_history import load
    from aifinops.analysis.forecast_model import ForecastModel, fit
    from aifinops.model.metrics import CostMetric
    from aifinops.model.scope import Scope
    from aifinops.model.timewindow import Window

    folder = _workspace(scopes, days)
    as_of = START + timedelta(days=days)
    with Workspace(folder, read_only=True) as ws:
        ws.forecast(by="ServiceName", top=None, as_of=as_of)  # warm-up: imports, first fits
        result = None

        def everything() -> None:
            nonlocal result
            result = ws.forecast(by="ServiceName", top=None, as_of=as_of)

        total = _median(everything, 3)
        assert result is not None
        window = Window(as_of - timedelta(days=365), as_of)
        started = time.perf_counter()
        histories = load(ws.engine, Scope(), [], CostMetric.EFFECTIVE, window, by="ServiceName")
        query = time.perf_counter() - started
        series = [h.series(window.start, as_of)[1] for h in histories]  # type: ignore[arg-type]
        started = time.perf_counter()
        for y in series:
            backtest(y, 30, season=7, origins=20, level=80)
        tested = time.perf_counter() - started
        started = time.perf_counter()
        for y in series:
            fit(y, 30, season=7, model=ForecastModel.ETS).paths(2000)
        fitted = time.perf_counter() - started
        one = Scope.parse(["services=service-001"])
        end = (as_of + timedelta(days=32)).replace(day=1)
        budget = _median(
            lambda: forecast_total(ws.engine, one, [], CostMetric.EFFECTIVE, start=as_of.replace(
                day=1), end=end, as_of=as_of), 5)  # fmt: skip
    timings = {"forecast_all_s": total, "query_s": query, "backtest_s": tested,
               "fit_and_paths_s": fitted, "forecast_total_one_scope_s": budget}  # fmt: skip
    print(json.dumps(_summary(result, scopes, days, timings), indent=2))


def _summary(result: Any, scopes: int, days: int, timings: dict[str, float]) -> dict[str, Any]:
    tests = [f.backtest for f in result.forecasts if f.backtest and f.backtest.model_mape]
    return {
        "scopes": len(result.forecasts),
        "days": days,
        "horizon": 30,
        **{name: round(value, 3) for name, value in timings.items()},
        "per_scope_ms": round(1000 * timings["forecast_all_s"] / scopes, 1),
        "ets_wins": sum(1 for b in tests if b.model_wins),
        "seasonal_naive_wins": sum(1 for b in tests if b.model_wins is False),
        "median_mape_ets": round(statistics.median(b.model_mape for b in tests), 2),
        "median_mape_seasonal_naive": round(statistics.median(b.baseline_mape for b in tests), 2),
        "median_coverage_80": round(statistics.median(b.coverage for b in tests), 1),
    }


def bench_demo(path: Path) -> None:
    from aifinops import Workspace

    as_of = date(2026, 11, 1)
    with Workspace(path, read_only=True) as ws:
        for horizon in ("7d", "14d", "30d"):
            for by in (None, "team", "provider"):
                result = ws.forecast(by=by, top=None, as_of=as_of, horizon=horizon)
                for f in result.forecasts:
                    b = f.backtest
                    if b is None or b.model_mape is None:
                        continue
                    winner = "tie" if b.tie else b.winner
                    print(f"{horizon:>4} {by or 'all':<9} {f.value or f.scope:<20} "
                          f"ETS {b.model_mape:6.2f}%  seasonal-naive {b.baseline_mape:6.2f}%  "
                          f"coverage80 {b.coverage:5.1f}%  {winner}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scopes", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--demo", type=Path, help="a workspace made by `aifinops demo`")
    args = parser.parse_args()
    bench_scopes(args.scopes, args.days)
    if args.demo:
        bench_demo(args.demo)


if __name__ == "__main__":
    main()
