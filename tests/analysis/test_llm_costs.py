"""LLM unit costs: by hand on small ``llm_usage`` tables, on the demo, through the CLI."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from aifinops import Workspace
from aifinops.analysis.llm_costs import with_unit_costs
from aifinops.errors import QueryError
from tests.cli.runner import run_cli
from tests.demo.build import demo_workspace

# Hand-made llm_usage rows, as the LLM sources write them (token kinds disjoint; reasoning is part
# of output). The OpenAI cost-report row and the November row must not count in October.
_ROWS = [
    # start, record_type, provider, model, requests, uncached, cache read, cache write 5m,
    # cache write 1h, output, reasoning, cost, list cost, currency, vendor cost, vendor currency,
    # project, team, source
    ("2026-10-01 10:00", "usage", "openai", "gpt-4o", 10, 600_000, 300_000, 0, None, 100_000,
     20_000, "2.25", "2.50", "USD", None, None, "p1", "alpha", "openai-usage"),
    ("2026-10-02 10:00", "usage", "openai", "gpt-4o", 5, 400_000, 100_000, None, None, 50_000,
     None, "1.25", "1.25", "USD", None, None, "p2", "beta", "openai-usage"),
    ("2026-10-02 00:00", "cost", "openai", "gpt-4o", None, None, None, None, None, None,
     None, None, None, None, "99.00", "USD", "p1", None, "openai-usage"),
    # Anthropic's usage report counts no requests.
    ("2026-10-08 00:00", "usage", "anthropic", "claude-sonnet-4-5", None, 1_000_000, 2_000_000,
     500_000, 250_000, 250_000, None, "7.00", "7.00", "USD", None, None, None, "alpha",
     "anthropic-usage"),
    # Gateway requests with LiteLLM's spend as vendor cost (the second in another currency).
    ("2026-10-15 12:00", "usage", "mistral", "mistral-large-2512", 1, 3, 0, None, None, 0, None,
     "0.000000125", "0.000000125", "USD", "0.00000013", "USD", None, None, "litellm"),
    ("2026-10-15 12:01", "usage", "deepseek", "deepseek-chat", 1, 0, 0, None, None, 0, None,
     "0.000000375", "0.000000375", "USD", "1.00", "EUR", None, None, "litellm"),
    # The same model priced in euros: its own group.
    ("2026-10-20 00:00", "usage", "openai", "gpt-4o", 3, 1_000_000, None, None, None, 0, None,
     "3.00", "3.00", "EUR", None, None, "p1", "alpha", "openai-usage"),
    ("2026-11-01 00:00", "usage", "openai", "gpt-4o", 1, 1_000_000, 0, 0, 0, 0, 0,
     "100.00", "100.00", "USD", None, None, "p1", "alpha", "openai-usage"),
]  # fmt: skip

_COLUMNS = (
    "start_time, record_type, provider, model, requests, uncached_input_tokens, cache_read_tokens,"
    " cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens, cost,"
    " list_cost, currency, vendor_cost, vendor_currency, project_id, labels, labels_map, source,"
    " x_IngestFileId, x_SourceRecord"
)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace.init(tmp_path_factory.mktemp("llm-small"))
    assert ws.llm_costs().num_rows == 0  # an empty workspace: no rows, no error
    for record, row in enumerate(_ROWS):
        *values, team, source = row
        labels = json.dumps({"team": team} if team else {})
        ws.connection.execute(
            f"INSERT INTO llm_usage ({_COLUMNS}) VALUES (?::TIMESTAMPTZ, "
            + "?, " * 17  # the values, then labels
            + "?::JSON::MAP(VARCHAR, VARCHAR), ?, 1, ?)",
            [f"{values[0]}:00Z", *values[1:], labels, labels, source, record],
        )
    return ws


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def _pick(rows: list[dict[str, Any]], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(r[k] for k in keys) for r in rows]


def test_unit_costs_by_provider_and_model_by_hand(small: Workspace) -> None:
    got = _rows(small.llm_costs(period="2026-10"))
    assert _pick(got, "provider", "model", "currency", "cost") == [
        ("openai", "gpt-4o", "EUR", Decimal("3.00")),  # currencies in order, then cost
        ("anthropic", "claude-sonnet-4-5", "USD", Decimal("7.00")),
        ("openai", "gpt-4o", "USD", Decimal("3.50")),  # not the 99.00 cost-report row
        ("deepseek", "deepseek-chat", "USD", Decimal("0.000000375")),
        ("mistral", "mistral-large-2512", "USD", Decimal("0.000000125")),
    ]
    gpt_eur, sonnet, gpt, deepseek, mistral = got
    # gpt-4o USD: requests 10 + 5; uncached 600k + 400k; cache read 300k + 100k; output 100k +
    # 50k; reasoning 20k (+ NULL); all tokens 1,000,000 + 400,000 + 150,000 = 1,550,000.
    assert _pick([gpt], *_TOKEN_COLUMNS) == [(15, 1_000_000, 400_000, 0, 150_000, 20_000)]
    assert (gpt["total_tokens"], gpt["list_cost"], gpt["vendor_cost"]) == (
        1_550_000,
        Decimal("3.75"),
        None,
    )
    # 3.50 x 1e6 / 1,550,000 = 2.2580645.. -> 2.258065; 3.50 x 1e6 / 150,000 = 23.333333..;
    # 3.50 / 15 = 0.23333333..; cache read 400,000 / input 1,400,000 = 0.2857142.. -> 0.2857.
    assert _pick([gpt], *_RATIOS) == [
        (Decimal("2.258065"), Decimal("23.333333"), Decimal("0.23333333"), Decimal("0.2857"))
    ]
    # Sonnet: cache writes 500k + 250k; all tokens 1M + 2M + 750k + 250k = 4M; 7.00 / 4M tokens
    # = 1.75 per 1M; 7.00 / 250k output = 28 per 1M output; no request counts: NULL per request;
    # cache read 2M / input 3.75M = 0.53333.. -> 0.5333.
    assert _pick([sonnet], *_TOKEN_COLUMNS) == [(None, 1_000_000, 2_000_000, 750_000, 250_000, 0)]
    assert sonnet["total_tokens"] == 4_000_000
    assert _pick([sonnet], *_RATIOS) == [
        (Decimal("1.750000"), Decimal("28.000000"), None, Decimal("0.5333"))
    ]
    # Mistral: 0.000000125 x 1e6 / 3 tokens = 0.0416666.. -> 0.041667; no output: NULL; one
    # request: 0.000000125 -> 8 places, half-even: 0.00000012; cache read 0 / 3 = 0.
    assert _pick([mistral], *_RATIOS, "vendor_cost") == [
        (Decimal("0.041667"), None, Decimal("0.00000012"), Decimal("0.0000"), Decimal("0.00000013"))
    ]
    # DeepSeek: no tokens at all: every per-token ratio NULL (never NaN or inf); one request:
    # 0.000000375 -> half-even 0.00000038; its vendor cost is in EUR: left out of a USD row.
    assert _pick([deepseek], "total_tokens", *_RATIOS, "vendor_cost") == [
        (0, None, None, Decimal("0.00000038"), None, None)
    ]
    # Euros: 3.00 for 1M uncached tokens and 3 requests.
    assert _pick([gpt_eur], *_RATIOS) == [
        (Decimal("3.000000"), None, Decimal("1.00000000"), Decimal("0.0000"))
    ]


_TOKEN_COLUMNS = (
    "requests",
    "uncached_input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)
_RATIOS = (
    "cost_per_1m_tokens",
    "cost_per_1m_output_tokens",
    "cost_per_request",
    "cache_read_share",
)


def test_cost_per_request_only_where_requests_are_known(small: Workspace) -> None:
    # alpha in October: gpt-4o USD (10 requests, 2.25), Sonnet (no count, 7.00), gpt-4o EUR.
    got = _rows(small.llm_costs(["label:team"], period="2026-10"))
    assert _pick(got, "label:team", "currency", "requests", "cost", "cost_per_request") == [
        ("alpha", "EUR", 3, Decimal("3.00"), Decimal("1.00000000")),
        ("alpha", "USD", 10, Decimal("9.25"), Decimal("0.22500000")),  # 2.25 / 10, not 9.25 / 10
        ("beta", "USD", 5, Decimal("1.25"), Decimal("0.25000000")),
        (None, "USD", 2, Decimal("0.000000500"), Decimal("0.00000025")),
    ]


def test_dimensions_windows_and_granularity(small: Workspace) -> None:
    got = _rows(small.llm_costs(["project_id", "source"], start="2026-10-02", end="2026-10-31"))
    assert _pick(got, "project_id", "source", "currency", "cost") == [
        ("p1", "openai-usage", "EUR", Decimal("3.00")),
        (None, "anthropic-usage", "USD", Decimal("7.00")),
        ("p2", "openai-usage", "USD", Decimal("1.25")),
        (None, "litellm", "USD", Decimal("0.000000500")),
    ]
    # Without a window the November row counts; weeks start on Monday (2026-09-28, ...).
    got = _rows(small.llm_costs(["provider"], granularity="week"))
    assert [(str(r["period"]), r["provider"], r["cost"]) for r in got] == [
        ("2026-09-28", "openai", Decimal("3.50")),
        ("2026-10-05", "anthropic", Decimal("7.00")),
        ("2026-10-12", "deepseek", Decimal("0.000000375")),
        ("2026-10-12", "mistral", Decimal("0.000000125")),
        ("2026-10-19", "openai", Decimal("3.00")),  # EUR
        ("2026-10-26", "openai", Decimal("100.00")),  # 2026-11-01 is a Sunday
    ]
    with pytest.raises(QueryError, match="unknown LLM usage dimension 'modle'"):
        small.llm_costs(["modle"])
    with pytest.raises(QueryError, match="label: needs a key"):
        small.llm_costs(["label:"])


def test_ratios_exact_beyond_the_default_decimal_context() -> None:
    # 38 significant digits (the default context has 28): 12345678901234567890.123456789012345678
    # x 1e6 / 3 tokens = 4115226300411522630041152.2630041.. -> 4115226300411522630041152.263004.
    cost = Decimal("12345678901234567890.123456789012345678")
    totals = pa.table(
        {
            "provider": ["x"],
            "currency": ["USD"],
            "requests": pa.array([7], pa.int64()),
            **{
                k: pa.array([v], pa.int64())
                for k, v in zip(_TOKEN_COLUMNS[1:], (3, 0, 0, 0, 0), strict=True)
            },
            "cost": pa.array([cost], pa.decimal128(38, 18)),
            "list_cost": pa.array([cost], pa.decimal128(38, 18)),
            "vendor_cost": pa.array([None], pa.decimal128(38, 18)),
            "_request_cost": pa.array([cost], pa.decimal128(38, 18)),
        }
    )
    row = _rows(with_unit_costs(totals))[0]
    assert row["cost_per_1m_tokens"] == Decimal("4115226300411522630041152.263004")
    # / 7 requests = 1763668414462081127.1604938270.. -> 8 places, up
    assert row["cost_per_request"] == Decimal("1763668414462081127.16049383")
    assert "_request_cost" not in row


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return demo_workspace(tmp_path_factory.mktemp("llm-demo"), months=1)[0]


#: list prices per 1M tokens (input, output) bound what a mix of token kinds can cost per 1M
_PLAUSIBLE = {
    "gpt-4o-mini-2024-07-18": ("0.05", "0.6"),  # $0.15 / $0.60; cache read $0.075
    "gpt-4.1-2025-04-14": ("0.5", "8"),  # $2 / $8; cache read $0.50
    "o3-2025-04-16": ("0.5", "8"),  # $2 / $8
    "claude-sonnet-4-5-20250929": ("0.3", "15"),  # $3 / $15; cache read $0.30
    "claude-haiku-4-5-20251001": ("0.1", "5"),  # $1 / $5; cache read $0.10
    "mistral-large-2512": ("0.1", "6"),
    "deepseek-chat": ("0.05", "2"),
}


def test_demo_models_have_plausible_unit_costs(demo: Workspace) -> None:
    got = _rows(demo.llm_costs())
    assert {(r["provider"], r["model"]) for r in got} == {
        ("openai", "gpt-4o-mini-2024-07-18"),
        ("openai", "gpt-4.1-2025-04-14"),
        ("openai", "o3-2025-04-16"),
        ("anthropic", "claude-sonnet-4-5-20250929"),
        ("anthropic", "claude-haiku-4-5-20251001"),
        ("mistral", "mistral-large-2512"),  # through the LiteLLM gateway
        ("deepseek", "deepseek-chat"),
    }
    for r in got:
        low, high = map(Decimal, _PLAUSIBLE[r["model"]])
        assert low < r["cost_per_1m_tokens"] < high, r
        assert r["cost_per_1m_output_tokens"] > r["cost_per_1m_tokens"]
        assert r["currency"] == "USD"
        # Anthropic's usage report counts no requests; the others do.
        assert (r["cost_per_request"] is None) == (r["provider"] == "anthropic")
    total = demo.sql("SELECT sum(cost) AS c FROM llm_usage WHERE record_type = 'usage'")
    assert sum(r["cost"] for r in got) == total.to_pylist()[0]["c"]


def test_cli_report_llm_costs(small: Workspace, tmp_path: Path) -> None:
    small.close()  # the CLI opens the store in another process
    args = ("report", "llm-costs", "-p", "2026-10", "-w", small.path)
    done = run_cli(*args, "-f", "csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert list(rows[0]) == [
        "provider",
        "model",
        "currency",
        *_TOKEN_COLUMNS,
        "total_tokens",
        "cost",
        "list_cost",
        "vendor_cost",
        *_RATIOS,
    ]
    assert [rows[2][k] for k in ("model", "cost", *_RATIOS)] == [
        "gpt-4o",
        "3.5",
        "2.258065",
        "23.333333",
        "0.23333333",
        "0.2857",
    ]
    assert rows[3]["cost_per_1m_tokens"] == ""  # deepseek: no tokens, NULL
    done = run_cli(*args, "-b", "label:team", "-f", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    first = json.loads(done.stdout, parse_float=Decimal)[1]
    assert (first["label:team"], first["cost"], first["cost_per_request"]) == (
        "alpha",
        Decimal("9.25"),
        Decimal("0.225"),
    )
    # A table (written 200 wide to a file) shows all the places of a ratio, not cents.
    done = run_cli(*args, "-b", "label:team", "-o", tmp_path / "t.txt", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    table = (tmp_path / "t.txt").read_text(encoding="utf-8")
    assert "0.22500000" in table and "0.00000025" in table and "list_cost" not in table
    done = run_cli(*args, "-b", "modle", cwd=tmp_path)
    assert done.returncode != 0 and "did you mean model?" in done.stderr
