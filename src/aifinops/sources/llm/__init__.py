"""LLM usage sources -> ``llm_usage`` (tokens by kind, priced) and derived FOCUS rows in ``costs``.

Importing this package registers ``openai-usage``, ``anthropic-usage``, ``litellm`` and
``otel-genai``. See docs/sources/llm.md.
"""

from __future__ import annotations

from pathlib import Path

from aifinops.sources.base import SourceReader, SourceSpec, register
from aifinops.sources.llm import anthropic, litellm, openai, otel
from aifinops.sources.llm.common import first_char
from aifinops.sources.llm.costs import derive_costs
from aifinops.sources.llm.reader import COMMON_OPTIONS, UsageReader

#: an API export: a newer export of the same buckets replaces the older one
BUCKET_KEYS = ("source", "record_type", "organization_id", "start_time")
#: per-request logs: a request delivered again replaces its earlier copy
REQUEST_KEYS = ("source", "request_id")


def _factory(cls: type[UsageReader]) -> object:
    def open_reader(path: Path, careful: bool = False, **options: object) -> SourceReader:
        if cls is litellm.LiteLLMReader and first_char(path) not in "[{":
            return litellm.LiteLLMCsvReader(path, careful=careful, **options)
        return cls(path, careful=careful, **options)

    return open_reader


def _register(  # noqa: PLR0917  (one call per source, read as a table)
    cls: type[UsageReader],
    description: str,
    formats: tuple[str, ...],
    keys: tuple[str, ...],
    options: dict[str, str],
    hint: str,
) -> None:
    register(
        SourceSpec(
            name=cls.source,
            description=description,
            formats=formats,
            table="llm_usage",
            open=_factory(cls),  # type: ignore[arg-type]
            replace_keys=keys,
            options={**COMMON_OPTIONS, **options},
            after_load=derive_costs,
            export_hint=hint,
        )
    )


_register(
    openai.OpenAIUsageReader,
    "OpenAI organization usage (completions) and costs API exports, priced",
    ("json", "jsonl"),
    BUCKET_KEYS,
    openai.OPTIONS,
    "curl the Admin API /v1/organization/usage/completions and /v1/organization/costs pages",
)
_register(
    anthropic.AnthropicUsageReader,
    "Anthropic Admin API usage report and cost report exports, priced",
    ("json", "jsonl"),
    BUCKET_KEYS,
    anthropic.OPTIONS,
    "curl the Admin API /v1/organizations/usage_report/messages and /cost_report pages",
)
_register(
    litellm.LiteLLMReader,
    "LiteLLM proxy spend logs (LiteLLM_SpendLogs), one row per request, priced",
    ("csv", "json", "jsonl"),
    REQUEST_KEYS,
    litellm.OPTIONS,
    "export the LiteLLM_SpendLogs table as CSV, or GET /spend/logs as JSON",
)
_register(
    otel.OTelGenAIReader,
    "OpenTelemetry GenAI spans (OTLP JSON, gen_ai.* attributes), priced",
    ("json", "jsonl"),
    REQUEST_KEYS,
    otel.OPTIONS,
    "the OpenTelemetry collector's file exporter (OTLP JSON lines)",
)

__all__ = ["derive_costs"]
