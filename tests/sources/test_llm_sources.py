"""LLM usage sources -> ``llm_usage`` and derived FOCUS rows in ``costs``: golden files.

No real exports exist for these formats (they hold an organisation's API keys, projects and
spend), so every input in tests/data/llm/ is built by hand from the documented formats: the
field names of the OpenAI and Anthropic admin API response types, LiteLLM's LiteLLM_SpendLogs
table and the OpenTelemetry GenAI semantic conventions (see tests/data/llm/README.md). Each
holds good rows, an unknown model and a negative token count. The expected rows
(tests/data/llm/expected/*.json) were checked by hand against the catalog prices; set
AIFINOPS_UPDATE_GOLDEN=1 to rewrite them after a deliberate change, and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aifinops import Workspace

DATA = Path(__file__).parent.parent / "data" / "llm"
EXPECTED = DATA / "expected"

CASES = [
    ("openai-usage", ["openai_usage_completions.json", "openai_costs.json"], "openai"),
    ("anthropic-usage", ["anthropic_usage_report.json", "anthropic_cost_report.json"], "anthropic"),
    ("litellm", ["litellm_spend_logs.csv"], "litellm"),
    ("otel-genai", ["otel_genai_spans.jsonl"], "otel"),
]
_COSTS = (
    "BillingAccountId", "SubAccountId", "SubAccountType", "BillingPeriodStart",
    "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory",
    "BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "BillingCurrency",
    "ConsumedQuantity", "ConsumedUnit", "PricingUnit", "ServiceProviderName",
    "ServiceCategory", "ServiceSubcategory", "ServiceName", "SkuId", "Tags",
    "x_Requests", "x_UncachedInputTokens", "x_CacheReadTokens", "x_CacheWrite5mTokens",
    "x_CacheWrite1hTokens", "x_OutputTokens", "x_ReasoningTokens", "x_PriceSource",
)  # fmt: skip


def snapshot(ws: Workspace) -> dict[str, list[dict[str, Any]]]:
    """What the store holds, as text, in a stable order."""
    con = ws.connection

    def rows(sql: str) -> list[dict[str, Any]]:
        table = con.execute(sql).to_arrow_table()
        return [{k: _text(v) for k, v in row.items()} for row in table.to_pylist()]

    return {
        "llm_usage": rows(
            "SELECT * EXCLUDE (labels_map, x_IngestFileId) FROM llm_usage "
            "ORDER BY x_IngestFileId, x_SourceRecord"
        ),
        "quarantine": rows(
            "SELECT line, record, column_name, reason, value FROM quarantine "
            "ORDER BY file_id, record"
        ),
        "costs": rows(
            f"SELECT {', '.join(_COSTS)} FROM costs ORDER BY ChargePeriodStart, SkuId, "
            "SubAccountId, Tags"
        ),
    }


def _text(value: object) -> object:
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    return str(value)


def check_golden(name: str, got: object) -> None:
    path = EXPECTED / f"{name}.json"
    if os.environ.get("AIFINOPS_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    assert got == json.loads(path.read_text())


@pytest.mark.parametrize(("source", "files", "golden"), CASES)
def test_golden(workspace: Workspace, source: str, files: list[str], golden: str) -> None:
    summary = workspace.ingest([DATA / f for f in files], source=source)
    assert summary.rows_read == summary.rows_ingested + summary.rows_quarantined
    check_golden(golden, snapshot(workspace))


def test_cost_rows_add_up_to_the_priced_usage(workspace: Workspace) -> None:
    for source, files, _ in CASES:
        workspace.ingest([DATA / f for f in files], source=source)
    # OpenAI 27.2 + Anthropic 66.25 + LiteLLM 1.588585 + OTel 0.066085 (see the golden files)
    assert _totals(workspace) == (Decimal("95.10467"), Decimal("95.10467"))


def _totals(ws: Workspace) -> tuple[Decimal, Decimal]:
    row = ws.connection.execute(
        "SELECT (SELECT coalesce(sum(cost), 0) FROM llm_usage WHERE record_type = 'usage'), "
        "(SELECT coalesce(sum(BilledCost), 0) FROM costs)"
    ).fetchone()
    assert row is not None
    return row[0].normalize(), row[1].normalize()


def test_litellm_csv_and_json_exports_read_the_same(tmp_path: Path) -> None:
    got = []
    for name in ("litellm_spend_logs.csv", "litellm_spend_logs.json"):
        with Workspace.init(tmp_path / name) as ws:
            ws.ingest([DATA / name], source="litellm")
            snap = snapshot(ws)
        for row in snap["quarantine"]:  # the JSON array has no line per record, but a path
            row["line"], row["reason"] = None, re.sub(r"^\[\d+\]\.", "", row["reason"])
        got.append(snap)
    assert got[0] == got[1]


def test_unknown_models_are_counted_and_the_hint_says_how_to_price_them(
    workspace: Workspace,
) -> None:
    summary = workspace.ingest([DATA / "litellm_spend_logs.csv"], source="litellm")
    notes = " ".join(summary.files[0].notes)
    assert "1 row(s) of 1 unknown model(s) quarantined" in notes
    assert "hosted_vllm/llama-3.1-70b-instruct (1 rows)" in notes
    assert '[prices.models."hosted_vllm/llama-3.1-70b-instruct"] with input and' in notes
    reason = workspace.connection.execute(
        "SELECT reason FROM quarantine WHERE column_name = 'model'"
    ).fetchone()
    assert reason is not None
    assert '[prices.models."hosted_vllm/llama-3.1-70b-instruct"]' in reason[0]
    assert workspace.connection.execute(
        "SELECT count(*) FROM llm_usage WHERE model LIKE 'llama%'"
    ).fetchone() == (0,)


def test_prices_overrides_in_aifinops_toml_price_unknown_and_discounted_models(
    tmp_path: Path,
) -> None:
    with Workspace.init(tmp_path / "ws") as ws:
        (ws.path / "aifinops.toml").write_text(
            "[prices]\n"
            "discounts = { anthropic = 20 }\n"
            '[prices.models."hosted_vllm/llama-3.1-70b-*"]\n'
            'input = "0.20"\noutput = "0.60"\n'
        )
    with Workspace(tmp_path / "ws") as ws:
        summary = ws.ingest([DATA / "litellm_spend_logs.csv"], source="litellm")
        assert summary.rows_quarantined == 1  # only the negative token count is left
        got = ws.connection.execute(
            "SELECT request_id, cost, list_cost, price_source FROM llm_usage "
            "WHERE request_id IN ('cmpl-006', 'msg_003') ORDER BY 1"
        ).fetchall()
    assert got == [
        ("cmpl-006", Decimal("0.001"), Decimal("0.001"),  # 2000 * 0.2 + 1000 * 0.6 per 1e6
         "[prices.models] hosted_vllm/llama-3.1-70b-*"),
        ("msg_003", Decimal("1.218"), Decimal("1.5225"),  # 1.5225 less 20%
         "genai-prices 0.2.3 anthropic/claude-sonnet-4-5 less 20% ([prices.discounts] anthropic)"),
    ]  # fmt: skip


def test_a_difference_from_the_vendor_cost_is_noted(workspace: Workspace) -> None:
    # o3: priced 0.028, LiteLLM's spend says 0.03: 0.13% of the file's spend
    quiet = workspace.ingest([DATA / "litellm_spend_logs.csv"], source="litellm")
    assert not any("vendor" in n for n in quiet.files[0].notes)
    loud = workspace.ingest(
        [DATA / "litellm_spend_logs.csv"],
        source="litellm",
        force=True,
        options={"tolerance": "0.001"},
    )
    assert any(
        n.startswith("priced cost 1.588585 differs from the vendor's own cost 1.590585 by -0.002")
        for n in loud.files[0].notes
    ), loud.files[0].notes


def test_vendor_cost_difference_lines_up_usage_and_cost_exports(workspace: Workspace) -> None:
    from aifinops.analysis.llm import vendor_cost_difference
    from aifinops.engine import Engine

    workspace.ingest([DATA / "anthropic_usage_report.json", DATA / "anthropic_cost_report.json"],
                     source="anthropic-usage")  # fmt: skip
    engine = Engine.from_duckdb(workspace.connection)
    rows = engine.execute(vendor_cost_difference(engine, tolerance=Decimal("0.01"))).to_pylist()
    assert [(r["model"], r["sub_account"], r["cost"], r["vendor_cost"]) for r in rows] == [
        ("claude-opus-4-6", "wrkspc_research", Decimal(39), Decimal("49.5")),  # 31.5 + 7.5
    ]
    assert rows[0]["cost_difference"] == Decimal("-10.5")


# -- re-ingest and replace ------------------------------------------------------------------


def _bucket(day: int, model: str, input_tokens: int, output_tokens: int) -> dict[str, Any]:
    start = 1749427200 + (day - 9) * 86400  # 2025-06-09T00:00:00Z
    return {
        "object": "bucket", "start_time": start, "end_time": start + 86400,
        "results": [{"object": "organization.usage.completions.result",
                     "input_tokens": input_tokens, "output_tokens": output_tokens,
                     "input_cached_tokens": 0, "num_model_requests": 1,
                     "project_id": "proj_a", "model": model}],
    }  # fmt: skip


def _page(path: Path, *buckets: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"object": "page", "data": list(buckets), "has_more": False}))
    return path


def _by_day(ws: Workspace, sql: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in ws.connection.execute(sql).fetchall()]


def test_an_overlapping_api_export_replaces_its_buckets_and_their_costs(
    workspace: Workspace, tmp_path: Path
) -> None:
    # gpt-4o-mini: $0.15 input, $0.6 output per million
    first = _page(
        tmp_path / "june-9-10.json",
        _bucket(9, "gpt-4o-mini", 1_000_000, 0),
        _bucket(10, "gpt-4o-mini", 2_000_000, 0),
    )
    second = _page(tmp_path / "june-10-11.json",
                   _bucket(10, "gpt-4o-mini", 3_000_000, 0),
                   _bucket(11, "gpt-4o-mini", 0, 1_000_000))  # fmt: skip
    options = {"organization": "org-1"}
    workspace.ingest([first], source="openai-usage", options=options)
    summary = workspace.ingest([second], source="openai-usage", options=options)
    assert summary.rows_replaced == 1  # June 10 of the first export
    usage = "SELECT CAST(start_time AS DATE) d, sum(cost) FROM llm_usage GROUP BY 1 ORDER BY 1"
    costs = "SELECT x_ChargeDate, sum(BilledCost) FROM costs GROUP BY 1 ORDER BY 1"
    expected = [("2025-06-09", Decimal("0.15")), ("2025-06-10", Decimal("0.45")),
                ("2025-06-11", Decimal("0.6"))]  # fmt: skip
    for sql in (usage, costs):
        assert [(str(d), c.normalize()) for d, c in _by_day(workspace, sql)] == expected
    # the first export delivered again becomes the latest for June 9 and 10
    workspace.ingest([first], source="openai-usage", options=options)
    assert _totals(workspace) == (Decimal("1.05"), Decimal("1.05"))  # 0.15 + 0.3 + 0.6


def test_requests_delivered_again_replace_their_earlier_copies_and_costs(
    workspace: Workspace, tmp_path: Path
) -> None:
    lines = (DATA / "litellm_spend_logs.csv").read_text().splitlines(keepends=True)
    header, records = lines[0], _csv_records(lines[1:])
    first = tmp_path / "a.csv"
    first.write_text(header + "".join(records[:4]))
    second = tmp_path / "b.csv"  # overlaps on msg_003 and resp_004; resp_004 is 10x bigger now
    changed = records[3].replace(",2000,3000,", ",20000,30000,")
    assert changed != records[3]
    second.write_text(header + records[2] + changed + records[4])
    workspace.ingest([first], source="litellm")
    summary = workspace.ingest([second], source="litellm")
    assert summary.rows_replaced == 2
    counts = _by_day(workspace, "SELECT request_id, count(*) FROM llm_usage GROUP BY 1 ORDER BY 1")
    assert counts == [("chatcmpl-001", 1), ("chatcmpl-005", 1), ("msg_002", 1), ("msg_003", 1),
                      ("resp_004", 1)]  # fmt: skip
    # 0.000435 + 0.03765 + 1.5225 + 0.28 (resp_004 now) + 0 (cache hit)
    assert _totals(workspace) == (Decimal("1.840585"), Decimal("1.840585"))


def _csv_records(lines: list[str]) -> list[str]:
    """CSV records (a quoted JSON value may span lines)."""
    records: list[str] = []
    for line in lines:
        if records and records[-1].count('"') % 2:
            records[-1] += line
        else:
            records.append(line)
    return records


def test_forcing_the_same_file_again_counts_it_once(workspace: Workspace) -> None:
    path = DATA / "otel_genai_spans.jsonl"
    workspace.ingest([path], source="otel-genai")
    assert workspace.ingest([path], source="otel-genai").files[0].status == "skipped"
    again = workspace.ingest([path], source="otel-genai", force=True)
    assert again.rows_replaced == 3
    assert _totals(workspace) == (Decimal("0.066085"), Decimal("0.066085"))
    assert workspace.connection.execute("SELECT count(*) FROM costs").fetchone() == (3,)


# -- bad input ------------------------------------------------------------------------------


def test_bad_json_is_refused_naming_line_and_column(workspace: Workspace, tmp_path: Path) -> None:
    from aifinops.errors import IngestError

    text = (DATA / "anthropic_usage_report.json").read_text()
    cut = tmp_path / "truncated.json"
    cut.write_text(text[: text.index('"output_tokens": 100000')] + '"output_tokens": 1O0,\n')
    with pytest.raises(IngestError, match=r"not valid JSON: .* at line 23, column 29") as info:
        workspace.ingest([cut], source="anthropic-usage")
    assert f"{cut}:23" in str(info.value.where)
    assert workspace.connection.execute("SELECT count(*) FROM ingest_log").fetchone() == (0,)


def test_a_bad_line_of_json_lines_names_its_line(workspace: Workspace, tmp_path: Path) -> None:
    from aifinops.errors import IngestError

    lines = (DATA / "otel_genai_spans.jsonl").read_text().splitlines()
    bad = tmp_path / "spans.jsonl"
    bad.write_text(lines[0] + "\n" + lines[1][:-40] + "\n")
    with pytest.raises(IngestError, match="at line 2, column"):
        workspace.ingest([bad], source="otel-genai")


def test_a_file_that_is_not_an_export_is_refused(workspace: Workspace) -> None:
    from aifinops.errors import IngestError

    with pytest.raises(IngestError, match="not a JSON export"):
        workspace.ingest([DATA / "litellm_spend_logs.csv"], source="openai-usage")
    with pytest.raises(IngestError, match="no 'data' list of buckets"):
        workspace.ingest([DATA / "otel_genai_spans.jsonl"], source="anthropic-usage")


def test_a_cost_report_that_differs_from_the_priced_usage_is_noted(workspace: Workspace) -> None:
    usage = workspace.ingest([DATA / "anthropic_usage_report.json"], source="anthropic-usage")
    assert not any("vendor" in n for n in usage.files[0].notes)
    report = workspace.ingest([DATA / "anthropic_cost_report.json"], source="anthropic-usage")
    assert report.files[0].notes == [
        "the vendor's cost report differs from the priced usage by more than 1% in 1 provider x "
        "day x model x project group(s) (2026-03-12 to 2026-03-12): priced 39, vendor 49.5; "
        "see aifinops.analysis.llm.vendor_cost_difference"
    ]
