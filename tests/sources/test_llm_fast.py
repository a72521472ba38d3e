"""The block (fast) readers of LiteLLM CSV and OTel JSON Lines against the one-by-one reader.

Each file mixes plain rows (converted a block at once) with rows the fast path must hand to the
one-by-one reader (odd numbers, bad JSON, unknown models, non-ASCII names, problems). Rows,
prices and rejections must be exactly those of reading the same records one at a time.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from aifinops.model.prices import Catalog, ModelOverride, PriceRules
from aifinops.sources.llm.common import Rows
from aifinops.sources.llm.litellm import LiteLLMCsvReader, _BadField, read_row

HEADER = ["request_id", "api_key", "spend", "prompt_tokens", "completion_tokens", "startTime",
          "endTime", "model", "model_group", "custom_llm_provider", "user", "metadata",
          "cache_hit", "request_tags", "team_id", "organization_id", "end_user"]  # fmt: skip


def _meta(**usage: object) -> str:
    return json.dumps({
        "user_api_key_alias": "svc", "user_api_key_team_alias": "search",
        "user_api_key_user_id": "u-meta", "spend_logs_metadata": {"project": "p1", "n": 3},
        "usage_object": usage,
    })  # fmt: skip


def _row(i: int, **over: object) -> list[str]:
    values: dict[str, object] = {
        "request_id": f"r{i}", "api_key": "k", "spend": "0.001", "prompt_tokens": "1000",
        "completion_tokens": "500", "startTime": "2026-11-02 10:15:01.123000+00:00",
        "endTime": "2026-11-02T10:15:02Z", "model": "gpt-4o-mini", "model_group": "g",
        "custom_llm_provider": "openai", "user": "", "cache_hit": "False",
        "request_tags": '["env:prod", "solo"]', "team_id": "", "organization_id": "",
        "end_user": "",
        "metadata": _meta(prompt_tokens_details={"cached_tokens": 200},
                          completion_tokens_details={"reasoning_tokens": 10}),
    }  # fmt: skip
    values.update(over)
    return ["" if values[h] is None else str(values[h]) for h in HEADER]


ROWS = [
    _row(1),
    _row(
        2,
        model="anthropic/claude-sonnet-4-5",
        custom_llm_provider="anthropic",
        prompt_tokens="250000",
        metadata=_meta(cache_read_input_tokens=1000, cache_creation_input_tokens=2000),
    ),  # tier
    _row(
        3,
        model="anthropic/claude-sonnet-4-5",
        custom_llm_provider="",
        prompt_tokens="150000",
        request_id="",
    ),  # no request id: the base tier
    _row(4, model="o3", startTime="2025-06-09 23:59:00", endTime=""),  # old o3 price
    _row(5, model="o3", startTime="2025-06-10T00:00:00+02:00"),  # still June 9 in UTC
    _row(6, model="openai/o3", startTime="2025-06-10T08:00:00Z"),
    _row(7, cache_hit="True", model="no-such-model"),  # a cache hit is free, even unknown
    _row(8, model="hosted_vllm/llama-3.1-70b-instruct", custom_llm_provider=""),  # unknown
    _row(9, prompt_tokens="-5"),
    _row(10, prompt_tokens="100"),  # fewer prompt tokens than cached
    _row(11, prompt_tokens="12.0", completion_tokens=" 7 "),  # odd numbers, one by one
    _row(12, metadata="{not json"),
    _row(13, metadata=_meta(cache_read_input_tokens=0, prompt_tokens_details={"cached_tokens": 3})),
    _row(14, metadata=_meta(cache_read_input_tokens=5.0)),  # a float count, one by one
    _row(15, metadata=_meta(completion_tokens_details={"reasoning_tokens": 900})),
    _row(16, model="gpt-4o-mïni"),  # non-ASCII: one by one (and unknown)
    _row(17, startTime="yesterday"),
    _row(18, startTime=""),
    _row(19, spend="1e-3"),
    _row(
        20,
        spend="",
        user="u-row",
        organization_id="org-1",
        team_id="t-row",
        end_user="someone",
        request_tags="",
    ),
    _row(21, model="", custom_llm_provider="openai"),
    _row(22, model="Anthropic/claude-haiku-4-5", custom_llm_provider="ANTHROPIC"),
    _row(23, model="mistral/mistral-large-latest", custom_llm_provider="openai"),
    _row(24, metadata=json.dumps({"user_api_key_org_id": 7, "user_api_key_team_alias": 1.5})),
    _row(25, metadata=""),
    _row(26, cache_hit="TRUE", metadata=json.dumps({"user_api_key_org_id": "org-meta"})),
    _row(27, prompt_tokens="", completion_tokens=""),
    _row(28, model="gemini-2.5-flash", custom_llm_provider="vertex_ai"),
    _row(29, model="openai/gpt-4o-mini", custom_llm_provider="azure"),
    _row(30, model="claude-sonnet-4-5", custom_llm_provider="anthropic", prompt_tokens="200000"),
    _row(31, model="claude-sonnet-4-5", custom_llm_provider="anthropic", prompt_tokens="200001"),
    _row(32, prompt_tokens="0x10"),  # Arrow reads hex, int() does not
    _row(33, completion_tokens="+5", prompt_tokens="0700"),
    _row(34, metadata=_meta(cache_read_input_tokens="40", cache_creation_input_tokens=" 5")),
    _row(35, metadata=json.dumps({"user_api_key_org_id": 'o"1', "user_api_key_user_id": ""})),
    _row(36, metadata=json.dumps({"user_api_key_org_id": None, "usage_object": "text"})),
    _row(37, metadata=json.dumps({"usage_object": {"cache_read_input_tokens": True}})),
    _row(38, metadata="[1, 2]"),
]


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def _one_by_one(path: Path, rules: PriceRules) -> tuple[pa.Table, list[tuple[object, ...]]]:
    """The reference: each record through read_row and Rows, as the JSON exports are read."""
    rows = Rows("litellm", Catalog(rules), Counter())
    with path.open(newline="") as fh:
        for number, row in enumerate(csv.DictReader(fh), start=1):
            try:
                record = read_row(row)
            except _BadField as exc:
                rows.reject(number, None, exc.field, exc.reason, exc.value, row)
                continue
            rows.add(record, number, None, "", row)
    batch = rows.batch(1.0)
    assert batch.table is not None
    return batch.table, [_rejection(r) for r in batch.rejected]


def _rejection(r: object) -> tuple[object, ...]:
    return (r.record, r.column, r.reason, r.value)  # type: ignore[attr-defined]


def _fast(
    path: Path, rules: PriceRules, one_by_one: int | None = None
) -> tuple[pa.Table, list[tuple[object, ...]], list[str]]:
    reader = LiteLLMCsvReader(path, prices=rules)
    tables, rejected = [], []
    for batch in reader.batches():
        if batch.table is not None:
            tables.append(batch.table)
        rejected += [_rejection(r) for r in batch.rejected]
    if one_by_one is not None:
        assert reader.one_by_one == one_by_one
    return pa.concat_tables(tables), rejected, reader.notes


RULES = [
    PriceRules(),
    PriceRules(
        discounts={"anthropic": Decimal("15"), "openai/o3": Decimal("33.3")},
        models={
            "hosted_vllm/llama-3.1-70b-*": ModelOverride(
                input=Decimal("0.2"), output=Decimal("0.6")
            )
        },
    ),
]


@pytest.mark.parametrize("rules", RULES, ids=["catalog", "discounts-and-overrides"])
def test_litellm_csv_blocks_read_exactly_as_one_by_one(tmp_path: Path, rules: PriceRules) -> None:
    path = _write(tmp_path / "spend.csv", ROWS)
    expected, expected_rejected = _one_by_one(path, rules)
    got, rejected, _ = _fast(path, rules)
    assert rejected == expected_rejected
    assert got.column_names == expected.column_names
    for name in expected.column_names:
        assert got[name].to_pylist() == expected[name].to_pylist(), name
    assert got.num_rows + len(rejected) == len(ROWS)
    assert len(rejected) >= 8  # the problem rows above really are problems


def test_litellm_csv_fast_path_prices_many_rows_as_one_by_one(tmp_path: Path) -> None:
    """Several blocks' worth of plain rows over many minutes, models and tiers."""
    models = [("openai", "gpt-4o-mini"), ("openai", "o3"), ("anthropic", "claude-sonnet-4-5"),
              ("google", "gemini-2.5-flash"), ("anthropic", "claude-haiku-4-5")]  # fmt: skip
    rows = []
    for i in range(3000):
        provider, model = models[i % len(models)]
        minute = i % 600
        rows.append(_row(
            i, model=f"{provider}/{model}", custom_llm_provider=provider,
            prompt_tokens=str(1000 + (i * 7919) % 400_000), completion_tokens=str(i % 3000),
            startTime=f"2025-06-{9 + i % 3:02d} {minute // 60:02d}:{minute % 60:02d}:00+00:00",
            metadata=_meta(cache_read_input_tokens=i % 500, cache_creation_input_tokens=i % 300,
                           completion_tokens_details={"reasoning_tokens": i % 2}),
            cache_hit="True" if i % 97 == 0 else "False",
        ))  # fmt: skip
    path = _write(tmp_path / "many.csv", rows)
    for rules in RULES:
        expected, expected_rejected = _one_by_one(path, rules)
        got, rejected, _ = _fast(path, rules, one_by_one=0)  # all in blocks
        assert rejected == expected_rejected
        for name in expected.column_names:
            assert got[name].to_pylist() == expected[name].to_pylist(), name


def test_csv_literal_null_text_reads_as_missing(tmp_path: Path) -> None:
    """A deliberate difference from the one-by-one reader: unquoted NULL/null in a CSV export is
    a missing value, as in every CSV source (TabularReader)."""
    path = _write(tmp_path / "nulls.csv", [_row(1, organization_id="NULL", user="null")])
    got, rejected, _ = _fast(path, PriceRules())
    assert not rejected
    assert got["organization_id"].to_pylist() == [None]
    assert got["user_id"].to_pylist() == ["u-meta"]


def test_csv_vendor_note_counts_fast_and_one_by_one_rows(tmp_path: Path) -> None:
    path = _write(tmp_path / "spend.csv", ROWS)
    _, _, notes = _fast(path, PriceRules())
    assert any(n.startswith("priced cost ") for n in notes), notes
    assert any("unknown model(s) quarantined" in n for n in notes), notes
    text = io.StringIO()
    text.write(" ".join(notes))
    assert "hosted_vllm/llama-3.1-70b-instruct (1 rows)" in text.getvalue()


# -- OpenTelemetry GenAI spans as JSON Lines ----------------------------------------------------


def _attr(key: str, value: object, kind: str = "") -> dict[str, object]:
    if not kind:
        kind = "intValue" if isinstance(value, int) else "stringValue"
        value = str(value)
    return {"key": key, "value": {kind: value}}


def _span(
    i: int, *extra: dict[str, object], drop: tuple[str, ...] = (), **over: object
) -> dict[str, object]:
    attributes = [
        _attr("gen_ai.operation.name", "chat"), _attr("gen_ai.provider.name", "openai"),
        _attr("gen_ai.request.model", "gpt-4o-mini"), _attr("gen_ai.usage.input_tokens", 1000),
        _attr("gen_ai.usage.output_tokens", 300),
        _attr("gen_ai.usage.cache_read.input_tokens", 100),
        _attr("team", "t1"), _attr("label.cost_center", "cc-7"),
    ]  # fmt: skip
    attributes = [a for a in attributes if a["key"] not in drop] + list(extra)
    span: dict[str, object] = {
        "traceId": f"{i:032x}", "spanId": f"{i:016x}", "name": "chat",
        "startTimeUnixNano": str(1793577600 + i * 61) + "000000123",
        "endTimeUnixNano": str(1793577601 + i * 61) + "000000000", "attributes": attributes,
    }  # fmt: skip
    span.update(over)
    return span


def _request(spans: list[dict[str, object]], **resource: str) -> str:
    attrs = [_attr(k, v) for k, v in (resource or {"service.name": "svc"}).items()]
    return json.dumps({"resourceSpans": [
        {"resource": {"attributes": attrs}, "scopeSpans": [{"scope": {}, "spans": spans}]},
    ]})  # fmt: skip


SPANS = [
    _request(
        [
            _span(1),
            _span(
                2,
                _attr("gen_ai.response.model", "gpt-4o-mini-2024-07-18"),
                _attr("label.cost_center", "cc-8"),
            ),
            _span(3, drop=("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens")),
            _span(4, _attr("gen_ai.usage.input_tokens", 5000)),  # given twice: the last wins
            _span(5, _attr("gen_ai.usage.output_tokens", 7, "intValue")),  # a JSON number
            _span(6, _attr("team", True, "boolValue")),
            _span(7, _attr("gen_ai.usage.reasoning.output_tokens", 900)),
        ]
    ),
    _request(
        [
            _span(
                8,
                _attr("gen_ai.provider.name", "anthropic"),
                _attr("gen_ai.request.model", "claude-sonnet-4-5"),
                _attr("gen_ai.usage.input_tokens", 200100),
            ),  # the whole prompt: 200000
            _span(
                9,
                _attr("gen_ai.provider.name", "anthropic"),
                _attr("gen_ai.request.model", "claude-sonnet-4-5"),
                _attr("gen_ai.usage.input_tokens", 200101),
            ),
            _span(10, _attr("gen_ai.request.model", "no-such-model")),
            _span(11, _attr("gen_ai.usage.input_tokens", -3)),
            _span(12, _attr("gen_ai.provider.name", "ÖpenAI")),
            _span(13, traceId=None),
            _span(14, startTimeUnixNano="0"),
            _span(15, endTimeUnixNano=None),
            _span(16, _attr("gen_ai.usage.input_tokens", "")),
            _span(17, _attr("gen_ai.usage.cache_read.input_tokens", 5000)),
            _span(18, _attr("team", 'a "quoted" team')),
            _span(
                19,
                _attr("gen_ai.provider.name", ""),
                _attr("gen_ai.system", "gcp.vertex_ai"),
                _attr("gen_ai.request.model", "gemini-2.5-flash"),
            ),
            _span(
                20,
                _attr("gen_ai.usage.prompt_tokens", 10),
                _attr("user.id", "u1"),
                _attr("gen_ai.openai.response.service_tier", "flex"),
                drop=("gen_ai.usage.input_tokens",),
            ),
            _span(21, startTimeUnixNano=1793577600000000000),
            _span(23, _attr("gen_ai.usage.output_tokens", "0x10")),
            _span(24, startTimeUnixNano="0x10"),
            _span(25, startTimeUnixNano="00", endTimeUnixNano=""),
        ],
        **{
            "service.name": "api",
            "deployment.environment": "prod",
            "deployment.environment.name": "staging",
            "team": "platform",
        },
    ),
    "",
    json.dumps({"resourceSpans": None}),
    _request([_span(22, _attr("gen_ai.usage.output_tokens", "12.0"))]),
    json.dumps(
        {
            "resourceSpans": [  # two resources on a line, the first without a resource
                {"scopeSpans": [{"spans": [_span(26)]}, {"spans": []}]},
                {
                    "resource": {
                        "attributes": [_attr("service.name", "two"), _attr("team", "blue")]
                    },
                    "scopeSpans": [
                        {"spans": [_span(27), _span(28, _attr("team", "red"))]},
                        {"spans": [_span(29)]},
                    ],
                },
            ]
        }
    ),
]


def _otel_both(path: Path, **options: object) -> tuple[list[object], list[object]]:
    from aifinops.sources.llm.otel import OTelGenAIReader
    from aifinops.sources.llm.reader import UsageReader

    out = []
    for read in (OTelGenAIReader.batches, UsageReader.batches):  # in blocks, one by one
        reader = OTelGenAIReader(path, **options)
        tables, rejected = [], []
        for batch in read(reader):
            if batch.table is not None and batch.table.num_rows:
                tables.append(batch.table)
            rejected += [(*_rejection(r), r.line, r.raw) for r in batch.rejected]
        out.append((pa.concat_tables(tables).to_pylist(), rejected, reader.notes))
    return out[0], out[1]


@pytest.mark.parametrize("labels", [None, "team,tenant"])
def test_otel_json_lines_blocks_read_exactly_as_one_by_one(
    tmp_path: Path, labels: str | None
) -> None:
    path = tmp_path / "spans.jsonl"
    path.write_text("\n".join(SPANS) + "\n")
    options = {"labels": labels} if labels else {}
    fast, reference = _otel_both(path, **options)
    assert fast == reference
    rows, rejected, notes = fast
    assert len(rows) >= 10 and len(rejected) >= 5
    assert "1 span(s) without gen_ai token usage skipped" in notes


def test_otel_many_spans_in_several_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aifinops.sources.llm import otel

    monkeypatch.setattr(otel, "_LINES_BYTES", 4096)  # many small blocks, lines cut across reads
    models = ["gpt-4o-mini", "o3", "gpt-5"]
    lines = []
    for first in range(0, 1200, 40):
        spans = [_span(i, _attr("gen_ai.request.model", models[i % 3]),
                       _attr("gen_ai.usage.input_tokens", 100 + i * 37),
                       _attr("gen_ai.usage.reasoning.output_tokens", i % 5))
                 for i in range(first, first + 40)]  # fmt: skip
        lines.append(_request(spans, **{"service.name": f"svc-{first % 3}"}))
    path = tmp_path / "spans.jsonl"
    path.write_text("\n".join(lines))  # no newline at the end
    fast, reference = _otel_both(path)
    assert fast == reference
    assert len(fast[0]) == 1200


def test_litellm_csv_malformed_record_is_quarantined_with_its_line(tmp_path: Path) -> None:
    """A record with the wrong number of fields is quarantined as malformed, with its line (as in
    every CSV source); the records around it are read."""
    from aifinops import Workspace

    good = _write(tmp_path / "ok.csv", [_row(1), _row(2), _row(3)])
    lines = good.read_text().splitlines(keepends=True)
    bad = tmp_path / "spend.csv"
    bad.write_text(lines[0] + lines[1] + "cut,short\n" + lines[2] + lines[3])
    with Workspace.init(tmp_path / "ws") as ws:
        summary = ws.ingest([bad], source="litellm")
        assert (summary.rows_ingested, summary.rows_quarantined) == (3, 1)
        rows = ws.connection.execute("SELECT line, record, reason FROM quarantine").fetchall()
        records = ws.connection.execute(
            "SELECT request_id, x_SourceRecord FROM llm_usage ORDER BY 2"
        ).fetchall()
    assert rows == [
        (3, 2, "malformed record: wrong number of fields (check quoting and delimiters)")
    ]
    assert records == [("r1", 1), ("r2", 3), ("r3", 4)]
