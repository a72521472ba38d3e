"""Self-hosted inference: GPU cost of the serving machines / tokens served, beside API list
prices; and the table of comparable API models."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aifinops import Workspace
from aifinops.model.comparables import comparables_for, parameters_b, parse_compare, table
from aifinops.model.prices import Catalog
from tests.analysis.allocation_data import add_cost, workspace
from tests.analysis.unit_data import SERVER, add_job, add_llm, add_metric
from tests.cli.runner import run_cli

D = Decimal
DAY = "2026-10-05"

# serve-1 (g5.xlarge, 1 GPU) is billed $2.00 an hour at 10:00 and 11:00, tagged model
# tiny-8b-chat. A training job labelled with the same model held its GPU 11:00-11:30: that $1.00
# is training, not serving. Serving cost = 2.00 + 1.00 = $3.00. The gateway counted 1,000,000
# input and 500,000 output tokens of tiny-8b-chat (business metrics) and 800 requests:
# $2.00 per 1M tokens, $0.00375 per request. other-70b served 2,000,000 + 1,000,000 tokens
# through a self-hosted provider in llm_usage, on no machine the bills name.


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = workspace(tmp_path_factory.mktemp("serving"))
    for record, hour in enumerate(("10", "11"), start=1):
        add_cost(
            ws,
            record,
            "2.00",
            start=f"{DAY} {hour}:00",
            service="Amazon Elastic Compute Cloud",
            resource="serve-1",
            description=SERVER,
            tags={"model": "tiny-8b-chat"},
        )
    add_job(
        ws,
        "train-1",
        host="serve-1",
        span=(f"{DAY} 11:00", f"{DAY} 11:30"),
        gpus=1,
        kind="training",
        labels={"model": "tiny-8b-chat"},
    )
    model = {"model": "Tiny-8B-Chat"}
    add_metric(ws, DAY, "input_tokens_served", "1000000", unit="tokens", labels=model)
    add_metric(ws, DAY, "output_tokens_served", "500000", unit="tokens", labels=model)
    add_metric(ws, DAY, "requests", "800", unit="requests", labels=model)
    add_llm(ws, DAY, provider="hosted_vllm", model="other-70b", tokens=(2_000_000, 1_000_000))
    add_llm(ws, DAY, provider="openai", model="gpt-4.1", tokens=(5, 5), cost="1.00")  # not ours
    ws.allocate()
    return ws


def _rows(table_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["model"], r["priced_as"]): r for r in table_.to_pylist()}


def test_gpu_cost_per_million_tokens_served(serving: Workspace) -> None:
    rows = _rows(serving.self_hosted())
    own = rows[("tiny-8b-chat", "self-hosted GPU")]
    assert (own["input_tokens"], own["output_tokens"], own["total_tokens"]) == (
        1_000_000,
        500_000,
        1_500_000,
    )
    assert own["cost"] == D("3.00") and own["cost_per_1m_tokens"] == D("2")
    assert own["requests"] == 800 and own["cost_per_request"] == D("0.00375")
    assert "GPU cost of 1 machine(s), 2 GPU-hours billed" in own["basis"]
    assert {m for m, _ in rows} == {"tiny-8b-chat", "other-70b"}


def test_api_models_price_the_same_tokens_at_list_price(serving: Workspace) -> None:
    rows = _rows(serving.self_hosted())
    when = datetime(2026, 10, 5, tzinfo=UTC)
    small = comparables_for("tiny-8b-chat")
    assert [c.name for c in small] == [
        "aws/meta.llama3-1-8b-instruct-v1:0",
        "groq/llama-3.1-8b-instant",
        "openai/gpt-4o-mini",
        "google/gemini-2.0-flash-lite",
    ]
    for offer in small:
        rates = Catalog().price(offer.provider, offer.model, when)
        assert rates is not None
        api = rows[("tiny-8b-chat", f"{offer.name} list price")]
        expected = (1_000_000 * rates.list.input + 500_000 * rates.list.output) / 1_000_000
        assert api["cost"] == expected and api["basis"] == offer.why
        assert api["vs_self_hosted"] == (expected / 3).quantize(D("0.0001"))
        assert api["input_price_per_1m"] == rates.list.input
    gpt = rows[("tiny-8b-chat", "openai/gpt-4o-mini list price")]
    assert gpt["cost"] == D("0.45")  # 1M x $0.15 + 0.5M x $0.60 (genai-prices)


def test_tokens_without_gpu_cost_are_said(serving: Workspace) -> None:
    rows = _rows(serving.self_hosted())
    other = rows[("other-70b", "self-hosted GPU")]
    assert other["cost"] is None and other["cost_per_1m_tokens"] is None
    assert other["total_tokens"] == 3_000_000
    assert "no GPU machine cost is allocated to it" in other["basis"]
    assert "tokens from llm_usage" in other["basis"]
    api = rows[("other-70b", "openai/gpt-4.1 list price")]  # 70B: the large class
    assert api["vs_self_hosted"] is None and api["cost"] == D(2 * 2 + 1 * 8)


def test_compare_with_chosen_models_and_by_month(serving: Workspace) -> None:
    rows = serving.self_hosted(compare=["anthropic/claude-haiku-4-5"], granularity="month")
    got = {(r["model"], r["priced_as"]): r for r in rows.to_pylist()}
    assert set(got) == {
        ("other-70b", "self-hosted GPU"),
        ("other-70b", "anthropic/claude-haiku-4-5 list price"),
        ("tiny-8b-chat", "self-hosted GPU"),
        ("tiny-8b-chat", "anthropic/claude-haiku-4-5 list price"),
    }
    assert got[("tiny-8b-chat", "self-hosted GPU")]["period"].isoformat() == "2026-10-01"
    assert got[("tiny-8b-chat", "anthropic/claude-haiku-4-5 list price")]["basis"] == (
        "chosen with --compare"
    )


def test_comparable_table() -> None:
    assert parameters_b("kestrel-7b-chat") == 7
    assert parameters_b("mixtral-8x7b-instruct") == 56
    assert parameters_b("Llama-3.1-70B-Instruct") == 70
    assert parameters_b("qwen2.5-1.5b") == D("1.5")
    assert parameters_b("gpt-4o") is None and parameters_b("chat-assistant") is None
    assert comparables_for("chat-assistant") == ()
    when = datetime(2026, 10, 1, tzinfo=UTC)
    for _low, _high, offer in table():  # every API model of the table has a list price
        assert Catalog().price(offer.provider, offer.model, when) is not None, offer.name
    with pytest.raises(Exception, match="provider/model"):
        parse_compare(("gpt-4o",))


def test_cli_self_hosted(serving: Workspace, tmp_path: Path) -> None:
    root = serving.path
    serving.close()  # one process at a time holds the database
    out = run_cli("report", "self-hosted", "-f", "csv", cwd=root)
    assert out.returncode == 0, out.stderr
    assert "tiny-8b-chat,USD,self-hosted GPU,1000000,500000,1500000,800,3,2,0.00375," in out.stdout
    assert "what each row is priced from" in run_cli("report", "self-hosted", cwd=root).stdout
    text = tmp_path / "self-hosted.txt"
    run_cli("report", "self-hosted", "--compare", "openai/gpt-4o-mini", "-o", text, cwd=root)
    assert "openai/gpt-4o-mini list price" in text.read_text()
    assert "groq" not in text.read_text()
