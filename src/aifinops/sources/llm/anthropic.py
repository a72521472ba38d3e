"""Anthropic Admin API usage and cost report exports -> ``llm_usage``.

Pages of ``GET /v1/organizations/usage_report/messages`` and ``GET
/v1/organizations/cost_report`` (and the newer ``/v1/organizations/analytics/usage_report`` and
``.../analytics/cost_report``): ``{"data": [{"starting_at", "ending_at", "results": [...]}]}``.
Field names: anthropic 2.12.0 ``types/beta/organization/beta_analytics_*``.

Usage results carry ``uncached_input_tokens``, ``cache_read_input_tokens``,
``cache_creation.ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens`` and
``output_tokens``; ``context_window`` (``0-200k`` / ``200k-1M``) picks the prompt-length price
tier. Cost results carry ``amount`` as a decimal string in the currency's lowest unit (cents for
USD; ``-o amount_unit=units`` when an export is in whole units) and, in the analytics report,
``list_amount``.
"""

from __future__ import annotations

from decimal import Decimal

from aifinops.errors import IngestError
from aifinops.sources.llm.common import (
    Record,
    as_decimal,
    as_int,
    as_text,
    as_time,
    labels_from,
)
from aifinops.sources.llm.reader import Bad, BucketReader

#: result fields that become labels (when present)
_LABEL_FIELDS = ("product", "rbac_group_id", "claude_tag_category", "claude_tag_user_id",
                 "slack_channel_id", "inference_geo", "speed", "cost_type", "token_type",
                 "description", "context_window")  # fmt: skip
_TIERS = {"0-200k": 0, "200k-1m": 200_001}


class AnthropicUsageReader(BucketReader):
    source = "anthropic-usage"

    def read(self, bucket: dict[str, object], result: dict[str, object]) -> Record | Bad:
        try:
            start = as_time(bucket.get("starting_at"))
            end = as_time(bucket.get("ending_at"))
        except ValueError as exc:
            return Bad("starting_at", str(exc), bucket.get("starting_at"))
        if start is None:
            return Bad("starting_at", "the bucket has no starting_at")
        if "amount" in result:
            return self._cost(result, start, end)
        return self._usage(result, start, end)

    def _common(self, result: dict[str, object]) -> dict[str, object]:
        tier = as_text(result.get("service_tier"))
        return {
            "organization_id": self.option("organization"),
            "workspace_id": as_text(result.get("workspace_id")),
            "api_key_id": as_text(result.get("api_key_id")),
            "user_id": as_text(result.get("claude_tag_user_id") or result.get("user_id")),
            "service_tier": tier,
            "batch": tier == "batch" if tier else None,
            "model": as_text(result.get("model")),
            "labels": labels_from({k: result.get(k) for k in _LABEL_FIELDS}),
        }

    def _usage(self, result: dict[str, object], start: object, end: object) -> Record | Bad:
        creation = result.get("cache_creation")
        creation = creation if isinstance(creation, dict) else {}
        fields = {
            "uncached_input_tokens": ("uncached_input_tokens", result),
            "cache_read_tokens": ("cache_read_input_tokens", result),
            "cache_write_5m_tokens": ("ephemeral_5m_input_tokens", creation),
            "cache_write_1h_tokens": ("ephemeral_1h_input_tokens", creation),
            "output_tokens": ("output_tokens", result),
        }
        tokens: dict[str, int | None] = {}
        for column, (name, holder) in fields.items():
            try:
                tokens[column] = as_int(holder.get(name))
            except ValueError as exc:
                return Bad(name, str(exc), holder.get(name))
        try:
            requests = as_int(result.get("requests"))
        except ValueError as exc:
            return Bad("requests", str(exc), result.get("requests"))
        window = str(result.get("context_window") or "").lower()
        common = self._common(result)
        return Record(
            start_time=start,  # type: ignore[arg-type]
            end_time=end,  # type: ignore[arg-type]
            provider="anthropic",
            requests=requests,
            tokens=tokens,
            prompt_tokens=_TIERS.get(window, 0),
            names={
                "cache_read_tokens": "cache_read_input_tokens",
                "cache_write_5m_tokens": "cache_creation.ephemeral_5m_input_tokens",
                "cache_write_1h_tokens": "cache_creation.ephemeral_1h_input_tokens",
            },
            **common,  # type: ignore[arg-type]
        )

    def _cost(self, result: dict[str, object], start: object, end: object) -> Record | Bad:
        try:
            amount = as_decimal(result.get("amount"))
            listed = as_decimal(result.get("list_amount"))
        except ValueError as exc:
            return Bad("amount", str(exc), result.get("amount"))
        divisor = self._divisor()
        currency = as_text(result.get("currency"))
        common = self._common(result)
        return Record(
            start_time=start,  # type: ignore[arg-type]
            end_time=end,  # type: ignore[arg-type]
            record_type="cost",
            provider="anthropic",
            vendor_cost=None if amount is None else amount / divisor,
            vendor_list_cost=None if listed is None else listed / divisor,
            vendor_currency=currency.upper() if currency else None,
            line_item=" ".join(
                str(result[k]) for k in ("model", "cost_type", "token_type") if result.get(k)
            )
            or None,
            **common,  # type: ignore[arg-type]
        )

    def _divisor(self) -> Decimal:
        unit = (self.option("amount_unit", "cents") or "cents").lower()
        if unit not in ("cents", "units"):
            raise IngestError(
                f"option amount_unit={unit!r} is not cents or units",
                hint="-o amount_unit=cents (the API's lowest currency unit) or units",
            )
        return Decimal(100) if unit == "cents" else Decimal(1)


OPTIONS = {
    "organization": "the Anthropic organization id the export is of; it is not in the export "
    "and becomes BillingAccountId",
    "amount_unit": "unit of cost report amounts: cents (the API's lowest currency unit, "
    "default) or units",
}
