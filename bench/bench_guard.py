"""The LLM guard in a gateway's request path: latency of `Guard.check` with 1,000 budgets.

    .venv/bin/python bench/bench_guard.py [--budgets 1000] [--checks 100000] [--threads 4]

Builds (first run only) bench/out/ws-guard-<budgets>/: a workspace with ``--budgets`` guard
budgets, 90% of them on LLM API keys (30 days of LiteLLM spend logs per key, priced by
``[prices.models]``) and 10% on teams (``scope = { team = ... }``, 30 days of FOCUS cost rows per
team, allocated). Then:

Key budgets are 2 to 5 USD a month against 0.20 a day of spend, so that as on 2026-10-20 (19
days, 3.80) half of them have nothing left and deny.

* the snapshot: the time to build a ``Guard`` (settings, the guard budgets' spend in their
  period from the workspace), median of 3;
* one thread: ``--checks`` calls of ``check`` on a mix of requests -- a key (70%), a team (15%),
  a team and a key (10%), a key no budget names (5%) -- each with a cost estimate, every one
  timed with ``perf_counter_ns``: p50, p99, p99.9 and max; then the same for ``record``;
* ``--threads`` threads doing check then record for the same number of requests in all:
  per-call p50/p99 and the throughput (the GIL and the lock shared by every thread).
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
AS_OF = date(2026, 10, 20)
PRICES = '[prices.models."openai/bench-model"]\ninput = 1\noutput = 2\n'
FOCUS_HEADER = (
    "BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,BillingPeriodEnd,"
    "BillingPeriodStart,ChargeCategory,ChargeClass,ChargeDescription,ChargeFrequency,"
    "ChargePeriodEnd,ChargePeriodStart,ContractedCost,EffectiveCost,InvoiceIssuerName,ListCost,"
    "ProviderName,PublisherName,ServiceCategory,ServiceName,ResourceId,Tags,PricingQuantity,"
    "PricingUnit\n"
)


def _workspace(budgets: int) -> tuple[Path, list[str], list[str]]:
    keys = [f"key-{i:05d}" for i in range(budgets * 9 // 10)]
    teams = [f"team-{i:04d}" for i in range(budgets - len(keys))]
    folder = OUT / f"ws-guard-{budgets}"
    if not (folder / "aifinops.toml").exists():
        _build(folder, keys, teams)
    return folder, keys, teams


def _build(folder: Path, keys: list[str], teams: list[str]) -> None:
    from aifinops import Workspace

    Workspace.init(folder).close()
    toml = [PRICES]
    for i, key in enumerate(keys):
        toml.append(f'[[budgets]]\nname = "k{i}"\nllm_keys = ["{key}"]\namount = {2 + i % 4}\n')
    for i, team in enumerate(teams):
        toml.append(
            f'[[budgets]]\nname = "t{i}"\nscope = {{ team = "{team}" }}\nllm_teams = ["{team}"]\n'
            f"amount = {30000 + 100 * i}\n"
        )
    (folder / "aifinops.toml").write_text("\n".join(toml), encoding="utf-8")
    days = range(1, 31)
    usage = folder / "usage.csv"
    with usage.open("w", encoding="utf-8") as out:
        out.write("request_id,api_key,spend,prompt_tokens,completion_tokens,startTime,endTime,")
        out.write("model,custom_llm_provider\n")
        for i, key in enumerate(keys):
            for d in days:
                stamp = f"2026-10-{d:02d} 12:00:00+00:00"
                out.write(f"r{i}-{d},{key},,{100000 + i},{50000},{stamp},{stamp},bench-model,")
                out.write("openai\n")
    costs = folder / "costs.csv"
    with costs.open("w", encoding="utf-8") as out:
        out.write(FOCUS_HEADER)
        for i, team in enumerate(teams):
            for d in days:
                day = f"2026-10-{d:02d}"
                out.write(
                    f"{1000 + i},acct,Bench,USD,2026-11-01T00:00:00Z,2026-10-01T00:00:00Z,Usage,,"
                    f"gpu,Usage-Based,{day}T01:00:00Z,{day}T00:00:00Z,{1000 + i},{1000 + i},AWS,"
                    f'{1000 + i},AWS,AWS,Compute,Amazon EC2,i-{i},"{{""team"": ""{team}""}}",1,'
                    "Hours\n"
                )
    with Workspace(folder) as ws:
        ws.ingest([usage], source="litellm")
        ws.ingest([costs], source="focus")
        ws.allocate()


def _requests(keys: list[str], teams: list[str], count: int) -> list[tuple[str | None, ...]]:
    rng = random.Random(7)
    out: list[tuple[str | None, ...]] = []
    for _ in range(count):
        roll = rng.random()
        cost = f"0.{rng.randrange(1, 99):02d}"
        if roll < 0.70:
            out.append((None, rng.choice(keys), cost))
        elif roll < 0.85:
            out.append((rng.choice(teams), None, cost))
        elif roll < 0.95:
            out.append((rng.choice(teams), rng.choice(keys), cost))
        else:
            out.append((None, f"unknown-{rng.randrange(10**6)}", cost))
    return out


def _percentiles(samples: list[int]) -> str:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000

    return (
        f"p50 {at(0.50):.1f} µs, p99 {at(0.99):.1f} µs, p99.9 {at(0.999):.1f} µs, "
        f"max {ordered[-1] / 1000:.0f} µs"
    )


def _timed(call: Callable[[], object]) -> int:
    start = time.perf_counter_ns()
    call()
    return time.perf_counter_ns() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budgets", type=int, default=1000)
    parser.add_argument("--checks", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    from aifinops.guard import Guard

    folder, keys, teams = _workspace(args.budgets)
    loads = []
    for _ in range(3):
        start = time.perf_counter()
        guard = Guard(folder, as_of=AS_OF)
        loads.append(time.perf_counter() - start)
    print(f"{args.budgets} budgets ({len(keys)} keys, {len(teams)} teams)")
    print(f"snapshot (Guard(...)): median {statistics.median(loads):.2f} s of 3")
    requests = _requests(keys, teams, args.checks)
    allowed = 0
    samples = []
    for team, key, cost in requests:
        start = time.perf_counter_ns()
        allowed += guard.check(team=team, key=key, cost=cost).allowed
        samples.append(time.perf_counter_ns() - start)
    print(f"check, 1 thread, {len(samples):,} calls ({allowed:,} allowed): {_percentiles(samples)}")
    money = Decimal("0.01")
    records = [_timed(lambda r=r: guard.record(team=r[0], key=r[1], cost=money)) for r in requests]
    print(f"record, 1 thread: {_percentiles(records)}")
    _threads(Guard(folder, as_of=AS_OF), requests, args.threads)


def _threads(guard: object, requests: list[tuple[str | None, ...]], threads: int) -> None:
    from aifinops.guard import Guard

    assert isinstance(guard, Guard)
    shares = [requests[i::threads] for i in range(threads)]
    samples: list[list[int]] = [[] for _ in range(threads)]

    def work(index: int) -> None:
        mine = samples[index]
        for team, key, cost in shares[index]:
            start = time.perf_counter_ns()
            guard.check(team=team, key=key, cost=cost)
            mine.append(time.perf_counter_ns() - start)
            guard.record(team=team, key=key, cost=cost or "0")

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - start
    merged = [s for part in samples for s in part]
    print(
        f"check + record, {threads} threads, {len(merged):,} requests in {seconds:.2f} s "
        f"({len(merged) / seconds:,.0f} requests/s); check: {_percentiles(merged)}"
    )


if __name__ == "__main__":
    main()
