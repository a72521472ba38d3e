"""OpenAI organization usage and costs API exports -> ``llm_usage``.

Pages of ``GET /v1/organization/usage/completions`` (tokens per bucket, grouped by model,
project, API key, user, batch, service tier as asked) and of ``GET /v1/organization/costs``
(the amount OpenAI charges per bucket and line item). Field names: openai 3.54.0
``types/admin/organization/usage_{completions,costs}_response.py``.

OpenAI's ``input_tokens`` include the cached ones: uncached input is ``input_uncached_tokens``
when the export has it, else ``input_tokens - input_cached_tokens - input_cache_write_tokens``.
"""

from __future__ import annotations

from aifinops.sources.llm.common import Record, as_decimal, as_int, as_text, as_time
from aifinops.sources.llm.reader import Bad, BucketReader

_COSTS_RESULT = "organization.costs.result"


class OpenAIUsageReader(BucketReader):
    source = "openai-usage"

    def read(self, bucket: dict[str, object], result: dict[str, object]) -> Record | Bad:
        try:
            start = as_time(bucket.get("start_time"))
            end = as_time(bucket.get("end_time"))
        except ValueError as exc:
            return Bad("start_time", str(exc), bucket.get("start_time"))
        if result.get("object") == _COSTS_RESULT or "amount" in result:
            return self._cost(result, start, end)
        return self._usage(result, start, end)

    def _common(self, result: dict[str, object]) -> dict[str, object]:
        labels = {"api_source": result["api_source"]} if result.get("api_source") else {}
        return {
            "organization_id": self.option("organization"),
            "project_id": as_text(result.get("project_id")),
            "api_key_id": as_text(result.get("api_key_id")),
            "user_id": as_text(result.get("user_id")),
            "labels": {k: str(v) for k, v in labels.items()},
        }

    def _usage(self, result: dict[str, object], start: object, end: object) -> Record | Bad:
        counts: dict[str, int | None] = {}
        for name in (
            "input_tokens", "input_cached_tokens", "input_cache_write_tokens",
            "input_uncached_tokens", "output_tokens", "num_model_requests",
            "input_audio_tokens", "output_audio_tokens",
        ):  # fmt: skip
            try:
                counts[name] = as_int(result.get(name))
            except ValueError as exc:
                return Bad(name, str(exc), result.get(name))
        cached = counts["input_cached_tokens"] or 0
        write = counts["input_cache_write_tokens"] or 0
        uncached = counts["input_uncached_tokens"]
        if uncached is None and counts["input_tokens"] is not None:
            uncached = counts["input_tokens"] - cached - write
            if uncached < 0:
                return Bad("input_cached_tokens", "more cached than input tokens", cached)
        if counts["input_audio_tokens"] or counts["output_audio_tokens"]:
            self.warnings["audio tokens priced as text tokens"] += 1
        batch = result.get("batch")
        return Record(
            start_time=start,  # type: ignore[arg-type]
            end_time=end,  # type: ignore[arg-type]
            provider="openai",
            model=as_text(result.get("model")),
            requests=counts["num_model_requests"],
            tokens={
                "uncached_input_tokens": uncached,
                "cache_read_tokens": counts["input_cached_tokens"],
                "cache_write_5m_tokens": counts["input_cache_write_tokens"],
                "output_tokens": counts["output_tokens"],
            },
            service_tier=as_text(result.get("service_tier")),
            batch=batch if isinstance(batch, bool) else None,
            names={
                "uncached_input_tokens": "input_tokens",
                "cache_read_tokens": "input_cached_tokens",
                "cache_write_5m_tokens": "input_cache_write_tokens",
                "requests": "num_model_requests",
            },
            **self._common(result),  # type: ignore[arg-type]
        )

    def _cost(self, result: dict[str, object], start: object, end: object) -> Record | Bad:
        amount = result.get("amount")
        if not isinstance(amount, dict):
            return Bad("amount", "no amount object", amount)
        try:
            value = as_decimal(amount.get("value"))
        except ValueError as exc:
            return Bad("amount.value", str(exc), amount.get("value"))
        line_item = as_text(result.get("line_item"))
        model = line_item.split(",", 1)[0].strip() if line_item and "," in line_item else None
        currency = as_text(amount.get("currency"))
        return Record(
            start_time=start,  # type: ignore[arg-type]
            end_time=end,  # type: ignore[arg-type]
            record_type="cost",
            provider="openai",
            model=model,
            vendor_cost=value,
            vendor_currency=currency.upper() if currency else None,
            line_item=line_item,
            **self._common(result),  # type: ignore[arg-type]
        )


OPTIONS = {
    "organization": "the OpenAI organization id (org-...) the export is of; it is not in the "
    "export and becomes BillingAccountId",
}
