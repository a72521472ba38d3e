"""LiteLLM proxy spend logs (the ``LiteLLM_SpendLogs`` table) -> ``llm_usage``, one row per request.

The table exported as CSV (``COPY ... TO ... CSV HEADER``), as a JSON array (``GET
/spend/logs``) or as JSON Lines. Columns: ``request_id``, ``startTime``, ``endTime``, ``model``,
``custom_llm_provider``, ``prompt_tokens``, ``completion_tokens``, ``spend``, ``api_key``,
``user``, ``team_id``, ``organization_id``, ``end_user``, ``cache_hit``, ``request_tags``,
``metadata`` (JSON: ``usage_object`` with cached, cache-creation and reasoning token details,
``user_api_key_team_alias``, ``spend_logs_metadata``). LiteLLM's ``prompt_tokens`` include
cached and cache-write tokens (OpenAI's convention); ``spend`` is kept as the vendor cost.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from aifinops.errors import IngestError
from aifinops.sources.llm.common import (
    Record,
    as_decimal,
    as_int,
    as_text,
    as_time,
    first_char,
    is_json_lines,
    json_lines,
    labels_from,
    load_json,
)
from aifinops.sources.llm.reader import Bad, Item, UsageReader

_TRUE = ("true", "t", "1", "yes")


class LiteLLMReader(UsageReader):
    source = "litellm"

    def _detect(self) -> str:
        char = first_char(self.path)
        if char == "[":
            return "json"
        if char == "{":
            return "jsonl" if is_json_lines(self.path) else "json"
        return "csv"

    def items(self) -> Iterator[Item]:
        if self._format == "csv":
            yield from self._csv()
            return
        if self._format == "jsonl":
            for number, (line, row) in enumerate(json_lines(self.path), start=1):
                yield self._item(number, line, "", row)
            return
        document = load_json(self.path)
        rows = document if isinstance(document, list) else document.get("data", [document])
        for index, row in enumerate(rows):
            yield self._item(index + 1, None, f"[{index}]", row)

    def _csv(self) -> Iterator[Item]:
        csv.field_size_limit(sys.maxsize)
        with self.path.open("r", encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or "model" not in reader.fieldnames:
                raise IngestError(
                    "not a LiteLLM spend log export: no 'model' column in the header",
                    where=f"{self.path}:1",
                    hint="export the LiteLLM_SpendLogs table with its header (docs/sources/llm.md)",
                )
            line = 2
            for number, row in enumerate(reader, start=1):
                yield self._item(number, line, "", row)
                line = reader.line_num + 1

    def _item(self, number: int, line: int | None, where: str, row: object) -> Item:
        if not isinstance(row, dict):
            return Item(number, line, where, {"value": row}, Bad("", "not an object", row))
        try:
            parsed: Record | Bad = self.read(row)
        except _BadField as exc:
            parsed = Bad(exc.field, exc.reason, exc.value)
        return Item(number, line, where, row, parsed)

    def read(self, row: dict[str, Any]) -> Record:
        metadata = _json_object(row, "metadata")
        usage = _object(metadata.get("usage_object"))
        prompt = _count(row, "prompt_tokens")
        completion = _count(row, "completion_tokens")
        prompt_details = _object(usage.get("prompt_tokens_details"))
        completion_details = _object(usage.get("completion_tokens_details"))
        cache_read = _count(usage, "cache_read_input_tokens") or _count(
            prompt_details, "cached_tokens"
        )
        cache_write = _count(usage, "cache_creation_input_tokens")
        reasoning = _count(completion_details, "reasoning_tokens")
        if prompt is not None and prompt < 0:
            raise _BadField("prompt_tokens", f"negative token count {prompt}", prompt)
        uncached = None if prompt is None else prompt - (cache_read or 0) - (cache_write or 0)
        if uncached is not None and uncached < 0:
            raise _BadField("prompt_tokens", "fewer prompt tokens than cached ones", prompt)
        provider, model = _provider_model(row)
        try:
            start = as_time(row.get("startTime") or row.get("start_time"))
            end = as_time(row.get("endTime") or row.get("end_time"))
            spend = as_decimal(row.get("spend"))
        except ValueError as exc:
            raise _BadField("startTime/spend", str(exc)) from None
        cache_hit = str(row.get("cache_hit") or "").lower() in _TRUE
        labels = _labels(row, metadata)
        if cache_hit:
            labels["litellm_cache_hit"] = "true"
        return Record(
            start_time=start,
            end_time=end,
            provider=provider,
            model=model,
            request_id=as_text(row.get("request_id")),
            requests=1,
            tokens={
                "uncached_input_tokens": uncached,
                "cache_read_tokens": cache_read,
                "cache_write_5m_tokens": cache_write,
                "output_tokens": completion,
                "reasoning_tokens": reasoning,
            },
            organization_id=as_text(row.get("organization_id"))
            or as_text(metadata.get("user_api_key_org_id")),
            api_key_id=as_text(row.get("api_key")),
            user_id=as_text(row.get("user")) or as_text(metadata.get("user_api_key_user_id")),
            vendor_cost=spend,
            vendor_currency="USD" if spend is not None else None,
            labels=labels,
            free="LiteLLM cache hit (no provider call)" if cache_hit else None,
            names={"uncached_input_tokens": "prompt_tokens", "output_tokens": "completion_tokens"},
        )


class _BadField(Exception):
    def __init__(self, field: str, reason: str, value: object = None) -> None:
        super().__init__(reason)
        self.field, self.reason, self.value = field, reason, value


def _count(holder: Mapping[str, Any], name: str) -> int | None:
    try:
        return as_int(holder.get(name))
    except ValueError as exc:
        raise _BadField(name, str(exc), holder.get(name)) from None


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _json_object(row: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = row.get(name)
    if isinstance(value, str) and value.strip():
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise _BadField(name, f"not valid JSON ({exc.msg})", value[:200]) from None
    return value if isinstance(value, dict) else {}


def _provider_model(row: Mapping[str, Any]) -> tuple[str, str | None]:
    model = as_text(row.get("model"))
    provider = as_text(row.get("custom_llm_provider"))
    if model and "/" in model:
        prefix, rest = model.split("/", 1)
        if provider is None or provider.lower() == prefix.lower():
            return prefix.lower(), rest
    return (provider or "unknown").lower(), model


def _labels(row: Mapping[str, Any], metadata: Mapping[str, Any]) -> dict[str, str]:
    tags = row.get("request_tags")
    if isinstance(tags, str) and tags.strip().startswith("["):
        try:
            tags = json.loads(tags)
        except json.JSONDecodeError:
            tags = None
    tag_labels: dict[str, str] = {}
    for tag in tags if isinstance(tags, list) else []:
        key, sep, value = str(tag).partition(":")
        tag_labels[key.strip() if sep else f"tag:{tag}"] = value.strip() if sep else "true"
    spend_meta = metadata.get("spend_logs_metadata")
    return labels_from(
        {
            "team_id": row.get("team_id") or metadata.get("user_api_key_team_id"),
            "team": metadata.get("user_api_key_team_alias"),
            "api_key_alias": metadata.get("user_api_key_alias"),
            "end_user": row.get("end_user"),
            "model_group": row.get("model_group"),
        },
        tag_labels,
        spend_meta if isinstance(spend_meta, dict) else None,
    )


OPTIONS: dict[str, str] = {}
