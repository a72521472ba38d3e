"""OpenTelemetry GenAI spans (OTLP JSON) -> ``llm_usage``, one row per span with token usage.

``resourceSpans[].scopeSpans[].spans[]`` as the collector's file exporter writes them (one
``ExportTraceServiceRequest`` per line, streamed) or one OTLP JSON document. Attributes
(``gen_ai.*``, opentelemetry-semantic-conventions 0.66b2): the provider from
``gen_ai.provider.name`` (newer) or ``gen_ai.system`` (older); the model from
``gen_ai.response.model`` or ``gen_ai.request.model``; tokens from ``gen_ai.usage.input_tokens``
(or ``prompt_tokens``), ``gen_ai.usage.cache_read.input_tokens``,
``gen_ai.usage.cache_creation.input_tokens``, ``gen_ai.usage.output_tokens`` (or
``completion_tokens``) and ``gen_ai.usage.reasoning.output_tokens``. Following the conventions,
input tokens include the cached ones and output tokens include reasoning. Spans without token
usage (HTTP, database, tool spans) are skipped and counted in a note.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aifinops.errors import IngestError
from aifinops.sources.llm.common import (
    Record,
    as_int,
    first_char,
    is_json_lines,
    json_lines,
    load_json,
)
from aifinops.sources.llm.reader import Bad, Item, UsageReader

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INPUT = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
_OUTPUT = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
_CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
_CACHE_WRITE = "gen_ai.usage.cache_creation.input_tokens"
_REASONING = "gen_ai.usage.reasoning.output_tokens"
_DEFAULT_LABELS = "team,project,app,environment,tenant,feature"
_RESOURCE_LABELS = {
    "service.name": "service",
    "service.namespace": "service_namespace",
    "deployment.environment": "environment",
    "deployment.environment.name": "environment",
}


class OTelGenAIReader(UsageReader):
    source = "otel-genai"

    def _detect(self) -> str:
        if first_char(self.path) != "{":
            raise IngestError(
                "not OTLP JSON (it does not start with {)",
                where=str(self.path),
                hint="use the collector's file exporter (docs/sources/llm.md)",
            )
        return "jsonl" if is_json_lines(self.path) else "json"

    def items(self) -> Iterator[Item]:
        keys = self.option("labels", _DEFAULT_LABELS) or ""
        self._label_keys = {k.strip() for k in keys.split(",") if k.strip()}
        self._skipped = 0
        requests = (
            json_lines(self.path) if self._format == "jsonl" else [(None, load_json(self.path))]
        )
        number = 0
        for line, request in requests:
            if not isinstance(request, dict) or "resourceSpans" not in request:
                raise IngestError(
                    "not an OTLP trace export: no resourceSpans",
                    where=f"{self.path}:{line}" if line else str(self.path),
                    hint="export traces (not metrics or logs) as OTLP JSON",
                )
            for r, resource_spans in enumerate(request["resourceSpans"] or []):
                resource = _attributes((resource_spans.get("resource") or {}).get("attributes"))
                for s, scope_spans in enumerate(resource_spans.get("scopeSpans") or []):
                    for p, span in enumerate(scope_spans.get("spans") or []):
                        attributes = _attributes(span.get("attributes"))
                        if not any(k in attributes for k in (*_INPUT, *_OUTPUT)):
                            self._skipped += 1
                            continue
                        number += 1
                        where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{p}]"
                        parsed = self._record(span, attributes, resource)
                        yield Item(number, line, where, _raw(span, attributes), parsed)
        if self._skipped:
            self.notes.append(f"{self._skipped:,} span(s) without gen_ai token usage skipped")

    def _record(
        self, span: Mapping[str, Any], attributes: dict[str, Any], resource: dict[str, Any]
    ) -> Record | Bad:
        counts: dict[str, int | None] = {}
        for name in (*_INPUT, *_OUTPUT, _CACHE_READ, _CACHE_WRITE, _REASONING):
            try:
                counts[name] = as_int(attributes.get(name))
            except ValueError as exc:
                return Bad(name, str(exc), attributes.get(name))
        total_in = _first(counts, _INPUT)
        cache_read, cache_write = counts[_CACHE_READ], counts[_CACHE_WRITE]
        uncached = None
        if total_in is not None:
            uncached = total_in - (cache_read or 0) - (cache_write or 0)
            if uncached < 0 <= total_in:
                return Bad(_INPUT[0], "fewer input tokens than cached ones", total_in)
        try:
            start = _nanos(span.get("startTimeUnixNano"))
            end = _nanos(span.get("endTimeUnixNano"))
        except ValueError as exc:
            return Bad("startTimeUnixNano", str(exc), span.get("startTimeUnixNano"))
        provider = attributes.get("gen_ai.provider.name") or attributes.get("gen_ai.system")
        tier = attributes.get("gen_ai.openai.response.service_tier") or attributes.get(
            "gen_ai.openai.request.service_tier"
        )
        return Record(
            start_time=start,
            end_time=end,
            provider=str(provider or "unknown").lower(),
            model=_text(attributes.get("gen_ai.response.model"))
            or _text(attributes.get("gen_ai.request.model")),
            request_id=f"{span.get('traceId', '')}:{span.get('spanId', '')}",
            requests=1,
            tokens={
                "uncached_input_tokens": uncached,
                "cache_read_tokens": cache_read,
                "cache_write_5m_tokens": cache_write,
                "output_tokens": _first(counts, _OUTPUT),
                "reasoning_tokens": counts[_REASONING],
            },
            user_id=_text(attributes.get("user.id") or attributes.get("enduser.id")),
            service_tier=_text(tier),
            labels=self._labels(attributes, resource),
            names={
                "uncached_input_tokens": _INPUT[0],
                "cache_read_tokens": _CACHE_READ,
                "cache_write_5m_tokens": _CACHE_WRITE,
                "output_tokens": _OUTPUT[0],
                "reasoning_tokens": _REASONING,
            },
        )

    def _labels(self, attributes: dict[str, Any], resource: dict[str, Any]) -> dict[str, str]:
        out = {label: str(resource[k]) for k, label in _RESOURCE_LABELS.items() if k in resource}
        for holder in (resource, attributes):
            for key, value in holder.items():
                short = key.split(".", 1)[1] if key.startswith(("label.", "labels.")) else key
                if (short != key or key in self._label_keys) and value not in (None, ""):
                    out[short] = str(value)
        for key in ("gen_ai.operation.name", "gen_ai.agent.name", "gen_ai.conversation.id"):
            if attributes.get(key):
                out[key.removeprefix("gen_ai.")] = str(attributes[key])
        return out


def _attributes(items: object) -> dict[str, Any]:
    """OTLP ``[{"key": k, "value": {"stringValue": ...}}]`` -> {k: value}."""
    out: dict[str, Any] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and "key" in item:
            out[str(item["key"])] = _value(item.get("value"))
    return out


def _value(value: object) -> Any:
    if not isinstance(value, dict) or not value:
        return None
    kind, inner = next(iter(value.items()))
    if kind == "arrayValue" and isinstance(inner, dict):
        return [_value(v) for v in inner.get("values") or []]
    if kind == "kvlistValue" and isinstance(inner, dict):
        return _attributes(inner.get("values"))
    return inner  # intValue arrives as text (int64 in JSON), as_int reads it


def _nanos(value: object) -> datetime | None:
    if value in (None, "", "0", 0):
        return None
    try:
        nanos = int(str(value))
    except ValueError:
        raise ValueError(f"not a time in Unix nanoseconds: {value!r}") from None
    return _EPOCH + timedelta(microseconds=nanos // 1000)


def _first(counts: Mapping[str, int | None], names: tuple[str, ...]) -> int | None:
    return next((counts[n] for n in names if counts[n] is not None), None)


def _text(value: object) -> str | None:
    return None if value in (None, "") else str(value)


def _raw(span: Mapping[str, Any], attributes: Mapping[str, Any]) -> dict[str, object]:
    raw: dict[str, object] = {
        k: span.get(k) for k in ("traceId", "spanId", "name", "startTimeUnixNano")
    }
    raw.update({k: v for k, v in attributes.items() if k.startswith("gen_ai.")})
    return raw


OPTIONS = {
    "labels": "comma-separated span or resource attribute keys kept as labels "
    f"(default {_DEFAULT_LABELS}; attributes named label.* are always kept)",
}
