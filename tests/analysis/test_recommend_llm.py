"""LLM recommendations (prompt caching, routing, batch) by hand through the real sources, and on
the demo."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aifinops import Workspace
from aifinops.analysis.recommend import (
    Confidence,
    Recommendation,
    RecommendContext,
    llm,
    recommend,
)
from aifinops.errors import ConfigError
from aifinops.model.llm_savings import (
    LlmRecommendSettings,
    batch_discount,
    routing_pairs,
    smaller_model,
)
from aifinops.model.prices import Catalog
from aifinops.model.timewindow import Window
from tests.demo.build import demo_workspace

# Ten days: a saving over the window is x3 a month.
WINDOW = Window(date(2026, 11, 1), date(2026, 11, 11))


def _context(ws: Workspace, window: Window = WINDOW, **llm_settings: Any) -> RecommendContext:
    settings = ws.settings.model_copy(
        update={"recommend_llm": LlmRecommendSettings(**llm_settings)}
    )
    return RecommendContext(window=window, settings=settings)


def _spend_log(
    request: str,
    at: str,
    model: str,
    prompt: int,
    *,
    tags: list[str],
    team: str = "search",
    cache_read: int = 0,
    completion: int = 100,
) -> dict[str, Any]:
    """One LiteLLM spend log row (the proxy's ``/spend/logs`` JSON)."""
    provider = model.partition("/")[0]
    return {
        "request_id": request,
        "startTime": f"2026-11-{at}+00:00",
        "endTime": f"2026-11-{at}+00:00",
        "model": model,
        "custom_llm_provider": provider,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "spend": 0,
        "api_key": "hashed-key",
        "metadata": {
            "user_api_key_team_alias": team,
            "usage_object": {"cache_read_input_tokens": cache_read},
        },
        "cache_hit": "False",
        "request_tags": tags,
    }


def _ingest_litellm(ws: Workspace, tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    path = tmp_path / "spend_logs.json"
    path.write_text(json.dumps(rows))
    summary = ws.ingest([path], source="litellm", strict=True)
    assert summary.rows_ingested == len(rows)


def _ingest_openai(ws: Workspace, tmp_path: Path, results: list[dict[str, Any]]) -> None:
    start = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp())
    page = {
        "object": "page",
        "data": [{"object": "bucket", "start_time": start, "end_time": start + 86400,
                  "results": results}],
        "has_more": False,
    }  # fmt: skip
    path = tmp_path / "usage.json"
    path.write_text(json.dumps(page))
    ws.ingest([path], source="openai-usage", strict=True, options={"organization": "org-1"})


def _openai(model: str, project: str, inputs: int, output: int, *, cached: int = 0,
            batch: bool = False) -> dict[str, Any]:  # fmt: skip
    return {
        "object": "organization.usage.completions.result", "input_tokens": inputs,
        "output_tokens": output, "input_cached_tokens": cached, "num_model_requests": 100,
        "project_id": project, "api_key_id": "key_1", "model": model, "batch": batch,
        "service_tier": "default",
    }  # fmt: skip


def _summary(recs: list[Recommendation]) -> list[tuple[str, str, Decimal, Confidence]]:
    return sorted((r.kind, r.target, r.monthly_saving, r.confidence) for r in recs)


# -- llm-caching -----------------------------------------------------------------------------

SONNET = "anthropic/claude-sonnet-4-5"
PREFIX = "prompt_prefix_hash"


@pytest.fixture
def cached(workspace: Workspace, tmp_path: Path) -> Workspace:
    h1 = [f"{PREFIX}:h1", "prompt_prefix_tokens:100000"]
    rows = [
        # team search, prefix h1 of 100,000 tokens (labelled): written at 10:00, read at 10:02
        # and 10:06 (each within 5 minutes of the previous use), expired by 10:20 (written
        # again), read at 10:21 by a request that already reads it from the cache.
        _spend_log("r1", "02 10:00:00", SONNET, 150_000, tags=h1),
        _spend_log("r2", "02 10:02:00", SONNET, 120_000, tags=h1),
        _spend_log("r3", "02 10:06:00", SONNET, 130_000, tags=h1),
        _spend_log("r4", "02 10:20:00", SONNET, 150_000, tags=h1),
        _spend_log("r5", "02 10:21:00", SONNET, 150_000, tags=h1, cache_read=100_000),
        # team ads, prefix h2 without a length: the shortest prompt (150,000) is taken.
        _spend_log("r6", "03 09:00:00", SONNET, 150_000, tags=[f"{PREFIX}:h2"], team="ads"),
        _spend_log("r7", "03 09:01:00", SONNET, 180_000, tags=[f"{PREFIX}:h2"], team="ads"),
        # prefix h3 is too short to cache (500 < 1,024 tokens); r10 has no prefix hash.
        _spend_log("r8", "03 09:05:00", SONNET, 500, tags=[f"{PREFIX}:h3"], team="ads"),
        _spend_log("r9", "03 09:06:00", SONNET, 500, tags=[f"{PREFIX}:h3"], team="ads"),
        _spend_log("r10", "03 09:07:00", SONNET, 150_000, tags=[], team="ads"),
        # outside the window
        _spend_log("r11", "20 09:00:00", SONNET, 150_000, tags=h1),
        _spend_log("r12", "20 09:01:00", SONNET, 150_000, tags=h1),
    ]
    _ingest_litellm(workspace, tmp_path, rows)
    return workspace


def test_caching_prices_repeated_prefixes_by_hand(cached: Workspace) -> None:
    recs = llm.caching(cached.engine, _context(cached))
    # claude-sonnet-4-5: input 3, cache read 0.30, cache write 3.75 per 1M tokens.
    # search: reads r2 + r3 = 200,000 x 2.70 / 1M = 0.54; writes r1 + r4 = 200,000 x 0.75 / 1M
    # = 0.15 more; r5 reads nothing new: 0.39 in 10 days -> 1.17 a month; lengths labelled.
    # ads: r6 writes 150,000 (0.1125), r7 reads 150,000 (0.405): 0.2925 -> 0.8775 -> 0.88,
    # low: the length is the shortest prompt of the prefix.
    assert _summary(recs) == [
        ("llm-caching", "anthropic/claude-sonnet-4-5 (team=ads)", Decimal("0.88"), Confidence.LOW),
        ("llm-caching", "anthropic/claude-sonnet-4-5 (team=search)", Decimal("1.17"),
         Confidence.MEDIUM),
    ]  # fmt: skip
    search = next(r for r in recs if r.team == "search")
    assert search.currency == "USD"
    assert search.details == {
        "requests": 5,
        "prefixes": 1,
        "cache_hits": 3,
        "cache_read_tokens": 200_000,
        "write_premium": "0.15",
        "window_saving": "0.39",
        "prefix_length_measured": True,
    }
    assert "3 came within 5 min" in search.evidence
    assert "at 0.3 instead of 3 USD per 1M" in search.evidence
    ads = next(r for r in recs if r.team == "ads")
    assert (ads.details["requests"], ads.details["prefixes"], ads.details["cache_hits"]) == (
        4,
        2,
        1,
    )
    assert "shortest prompt sharing the hash" in ads.evidence


def test_caching_settings_change_the_finding(cached: Workspace) -> None:
    # A 30-minute cache keeps h1 warm at 10:20: r4 reads 100,000 more (0.27) and writes nothing
    # (0.075 less): 0.39 + 0.345 = 0.735 -> 2.205 -> 2.20 (half-even).
    longer = llm.caching(cached.engine, _context(cached, cache_ttl_minutes=30))
    assert next(r for r in longer if r.team == "search").monthly_saving == Decimal("2.20")
    # Prefixes must be 200,000 tokens: none is.
    assert llm.caching(cached.engine, _context(cached, min_cache_tokens=200_000)) == []
    # Hashes under another label key: nothing is assumed repeated.
    assert llm.caching(cached.engine, _context(cached, prefix_hash_labels=["other"])) == []
    assert llm.caching(cached.engine, _context(cached, prefix_hash_labels=[])) == []


def test_caching_finds_nothing_without_prefix_hashes(workspace: Workspace, tmp_path: Path) -> None:
    rows = [_spend_log(f"r{i}", f"02 10:0{i}:00", SONNET, 150_000, tags=[]) for i in range(5)]
    _ingest_litellm(workspace, tmp_path, rows)
    assert llm.caching(workspace.engine, _context(workspace)) == []


# -- llm-routing -----------------------------------------------------------------------------


@pytest.fixture
def routed(workspace: Workspace, tmp_path: Path) -> Workspace:
    _ingest_openai(
        workspace,
        tmp_path,
        [
            _openai("gpt-4.1-2025-04-14", "proj_a", 10_000_000, 1_000_000, cached=2_000_000),
            _openai("o3-2025-04-16", "proj_a", 1_000_000, 500_000),
            _openai("gpt-4o-mini-2024-07-18", "proj_b", 5_000_000, 1_000_000),  # no smaller one
        ],
    )
    return workspace


def test_routing_reprices_a_share_at_list_prices_by_hand(routed: Workspace) -> None:
    recs = llm.routing(routed.engine, _context(routed))
    # gpt-4.1 (2 / 0.50 cached / 8 per 1M): 8M x 2 + 2M x 0.5 + 1M x 8 = 25.00; gpt-4.1-mini
    # (0.40 / 0.10 / 1.60): 3.20 + 0.20 + 1.60 = 5.00; 30% of 20.00 = 6.00 -> 18.00 a month.
    # o3 (2 / 8): 2 + 4 = 6.00; o4-mini (1.10 / 4.40): 1.10 + 2.20 = 3.30; 30% of 2.70 = 0.81
    # -> 2.43.
    assert _summary(recs) == [
        ("llm-routing", "openai/gpt-4.1-2025-04-14 (project_id=proj_a)", Decimal("18.00"),
         Confidence.LOW),
        ("llm-routing", "openai/o3-2025-04-16 (project_id=proj_a)", Decimal("2.43"),
         Confidence.LOW),
    ]  # fmt: skip
    gpt = next(r for r in recs if "gpt-4.1" in r.target)
    assert gpt.details["smaller_model"] == "openai/gpt-4.1-mini"
    assert (Decimal(gpt.details["list_cost"]), Decimal(gpt.details["list_cost_on_smaller"])) == (
        Decimal(25),
        Decimal(5),
    )
    assert "30%" in gpt.action and "not measured" in gpt.evidence
    half = llm.routing(routed.engine, _context(routed, routing_share_percent=50))
    assert _summary(half)[0][2] == Decimal("30.00")


def test_routing_pairs_stay_in_the_family_and_are_cheaper() -> None:
    catalog = Catalog()
    when = datetime(2026, 11, 1, tzinfo=UTC)
    assert smaller_model("openai/gpt-4o-mini") is None
    for (provider, model), pair in routing_pairs().items():
        assert pair.provider == provider
        big = catalog.price(provider, model, when)
        small = catalog.price(provider, pair.smaller_model, when)
        assert big is not None and small is not None, (provider, model)
        assert small.list.input <= big.list.input and small.list.output < big.list.output


# -- llm-batch -------------------------------------------------------------------------------


@pytest.fixture
def batchable(workspace: Workspace, tmp_path: Path) -> Workspace:
    mistral = "mistral/mistral-large-2512"
    _ingest_litellm(
        workspace,
        tmp_path,
        [
            # mistral-large-2512 (0.50 / 1.50 per 1M): 1M in + 200k out = 0.80 each
            _spend_log("b1", "02 10:00:00", mistral, 1_000_000, tags=["env:staging"],
                       team="research", completion=200_000),
            _spend_log("b2", "02 11:00:00", mistral, 1_000_000, tags=["env:STAGING"],
                       team="research", completion=200_000),
            _spend_log("b3", "02 12:00:00", mistral, 1_000_000, tags=["env:prod"],
                       team="research", completion=200_000),
            # DeepSeek has no batch API discount in the table.
            _spend_log("b4", "02 13:00:00", "deepseek/deepseek-chat", 1_000_000,
                       tags=["env:staging"], team="research", completion=200_000),
        ],
    )  # fmt: skip
    _ingest_openai(
        workspace,
        tmp_path,
        [
            # gpt-4o-mini (0.15 / 0.60): 10M x 0.15 + 2M x 0.60 = 2.70
            _openai("gpt-4o-mini-2024-07-18", "proj_nightly_batch", 10_000_000, 2_000_000),
            _openai("gpt-4o-mini-2024-07-18", "proj_nightly_batch", 1_000_000, 0, batch=True),
            _openai("gpt-4o-mini-2024-07-18", "proj_chat", 1_000_000, 0),
        ],
    )
    return workspace


def test_batch_discounts_traffic_that_can_wait_by_hand(batchable: Workspace) -> None:
    recs = llm.batch(batchable.engine, _context(batchable))
    # Mistral staging (either case): 1.60 x 50% = 0.80 -> 2.40 a month, by a label: medium.
    # OpenAI proj_nightly_batch not sent in batch: 2.70 x 50% = 1.35 -> 4.05, by a name: low.
    assert _summary(recs) == [
        ("llm-batch", "mistral/mistral-large-2512 (team=research)", Decimal("2.40"),
         Confidence.MEDIUM),
        ("llm-batch", "openai/gpt-4o-mini-2024-07-18 (project_id=proj_nightly_batch)",
         Decimal("4.05"), Confidence.LOW),
    ]  # fmt: skip
    staging = next(r for r in recs if r.team == "research")
    assert staging.details["selector"] == "label:env=staging"
    assert Decimal(staging.details["cost"]) == Decimal("1.6")
    assert "https://docs.mistral.ai" in staging.evidence
    assert batch_discount("bedrock") is not None and batch_discount("deepseek") is None


def test_batch_selectors_are_settings(batchable: Workspace) -> None:
    only_prod = llm.batch(batchable.engine, _context(batchable, batch_selectors=["label:env=pr?d"]))
    assert [(r.target, r.monthly_saving) for r in only_prod] == [
        ("mistral/mistral-large-2512 (team=research)", Decimal("1.20"))
    ]
    with pytest.raises(ConfigError, match="is not DIMENSION=GLOB"):
        llm.batch(batchable.engine, _context(batchable, batch_selectors=["label:env"]))
    with pytest.raises(ConfigError, match="unknown LLM usage dimension"):
        llm.batch(batchable.engine, _context(batchable, batch_selectors=["colour=red"]))


def test_registered_and_ranked_through_recommend(batchable: Workspace) -> None:
    found = recommend(batchable.engine, _context(batchable), ["llm-batch", "llm-caching"])
    assert [r.monthly_saving for r in found] == [Decimal("4.05"), Decimal("2.40")]


# -- the demo --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws, _ = demo_workspace(tmp_path_factory.mktemp("demo"), months=1)
    return ws


def test_the_demo(demo: Workspace) -> None:
    october = Window(date(2026, 10, 1), date(2026, 11, 1))
    ctx = RecommendContext(window=october, settings=demo.settings)
    # No source of the demo carries prompt prefix hashes: no caching advice, nothing invented.
    assert llm.caching(demo.engine, ctx) == []
    routing = {r.target: r for r in llm.routing(demo.engine, ctx)}
    assert set(routing) == {
        "openai/gpt-4.1-2025-04-14 (project_id=proj_chat_assistant)",
        "openai/o3-2025-04-16 (project_id=proj_research_evals)",
        "anthropic/claude-sonnet-4-5-20250929 (workspace_id=wrkspc_search_rerank)",
        "mistral/mistral-large-2512 (team=research, project=llm-7b-eval, feature=evals)",
    }
    batch = {r.target: r for r in llm.batch(demo.engine, ctx)}
    evals = batch["openai/o3-2025-04-16 (project_id=proj_research_evals)"]
    gateway = batch[
        "mistral/mistral-large-2512 (team=research, project=llm-7b-eval, feature=evals)"
    ]
    assert (evals.confidence, gateway.confidence) == (Confidence.LOW, Confidence.MEDIUM)
    assert set(batch) == {evals.target, gateway.target}
    # The o3 saving is half its October cost, scaled from 31 days to 30.
    row = demo.connection.execute(
        "SELECT sum(cost) FROM llm_usage WHERE model = 'o3-2025-04-16' AND record_type = 'usage'"
        " AND start_time >= '2026-10-01' AND start_time < '2026-11-01'"
    ).fetchone()
    assert row is not None
    assert evals.monthly_saving == (row[0] / 2 * 30 / 31).quantize(Decimal("0.01"))
