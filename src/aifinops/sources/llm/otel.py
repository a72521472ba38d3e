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

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aifinops.errors import IngestError
from aifinops.sources.base import Batch
from aifinops.sources.convert import DECIMAL
from aifinops.sources.llm.common import (
    COLUMNS,
    Record,
    Rows,
    as_int,
    first_char,
    is_json_lines,
    json_lines,
    load_json,
    parse_json,
    unknown_note,
)
from aifinops.sources.llm.reader import Bad, Item, UsageReader, add_item
from aifinops.sources.llm.vector import INPUT_KINDS, counts, price_block, whole_numbers

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
        self._start()
        requests = (
            json_lines(self.path) if self._format == "jsonl" else [(None, load_json(self.path))]
        )
        for line, request in requests:
            yield from self._walk(line, request)
        if self._skipped:
            self.notes.append(f"{self._skipped:,} span(s) without gen_ai token usage skipped")

    def _start(self) -> None:
        keys = self.option("labels", _DEFAULT_LABELS) or ""
        self._label_keys = {k.strip() for k in keys.split(",") if k.strip()}
        self._skipped = 0
        self._number = 0

    def _walk(self, line: int | None, request: object) -> Iterator[Item]:
        """The usage spans of one export request (a line of JSON Lines), numbered on."""
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
                    self._number += 1
                    where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{p}]"
                    parsed = self._record(span, attributes, resource)
                    yield Item(self._number, line, where, _raw(span, attributes), parsed)

    def batches(self) -> Iterator[Batch]:
        if self._format != "jsonl":
            yield from super().batches()
            return
        self._start()
        self.notes.clear()
        unknown: Counter[str] = Counter()
        con = duckdb.connect()
        try:
            con.execute("SET threads = 1")
            for block, progress in self._line_blocks():
                yield self._block(con, block, unknown, progress)
        finally:
            con.close()
        # the blocks are gone: hand the allocator's cached pages back before the load commits
        pa.default_memory_pool().release_unused()
        yield Batch(None, [], 1.0)
        if self._skipped:
            self.notes.append(f"{self._skipped:,} span(s) without gen_ai token usage skipped")
        self.notes.extend(unknown_note(unknown))

    def _line_blocks(self) -> Iterator[tuple[pa.Table, float]]:
        """(line number, text) of the non-blank lines, about 16 MB at a time."""
        size = max(self.path.stat().st_size, 1)
        done = 0
        first_line = 1
        rest = b""
        with self.path.open("rb") as fh:
            while True:
                chunk = fh.read(_LINES_BYTES)
                if not chunk and not rest:
                    return
                cut = chunk.rfind(b"\n") + 1
                if chunk and not cut:  # no line ends in this read: keep reading
                    rest += chunk
                    continue
                # the lines that end in this read, without copying the read (a view of it)
                data: bytes | memoryview = memoryview(chunk)[:cut] if chunk else rest
                if chunk and rest:
                    data = rest + data
                rest = chunk[cut:] if chunk else b""
                done += len(data)
                ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10) + 1
                if not len(ends) or ends[-1] != len(data):
                    ends = np.append(ends, len(data))
                offsets = np.concatenate([[0], ends]).astype(np.int64)
                binary = pa.Array.from_buffers(
                    pa.large_binary(), len(ends), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
                )
                try:
                    text = binary.cast(pa.large_string())
                except pa.ArrowInvalid:
                    raise IngestError(
                        "the file is not UTF-8 text", where=str(self.path),
                        hint="re-export it as UTF-8",
                    ) from None  # fmt: skip
                lines = pa.array(np.arange(first_line, first_line + len(ends), dtype=np.int64))
                first_line += len(ends)
                table = pa.table({"line": lines, "text": text}).filter(_not_blank(text))
                yield table, min(done / size, 1.0)
                if not chunk:
                    return

    def _block(
        self, con: duckdb.DuckDBPyConnection, block: pa.Table, unknown: Counter[str],
        progress: float,
    ) -> Batch:  # fmt: skip
        con.register("block", block)
        try:
            resources = _in_order(con.execute(_RESOURCES_SQL).to_arrow_table(), "line", "ri")
            lines = resources.column("line").to_numpy()
            odd_lines = np.setdiff1d(block.column("line").to_numpy(), lines).tolist()
            if odd_lines and not self._empty_requests(block, odd_lines):
                return self._block_one_by_one(block, unknown, progress)
            spans = _in_order(con.execute(_SPANS_SQL).to_arrow_table(), "line", "ri", "si", "pi")
        finally:
            con.unregister("block")
        # the resource of each span: its (line, position) among the resources
        width = int(resources.column("ri").to_numpy().max(initial=0)) + 1
        keys = lines * width + resources.column("ri").to_numpy()
        of = spans.column("line").to_numpy() * width + spans.column("ri").to_numpy()
        spans = spans.append_column("res", pa.array(np.searchsorted(keys, of)))
        return self._convert(block, spans, resources, unknown, progress)

    def _empty_requests(self, block: pa.Table, lines: list[int]) -> bool:
        """Refuses the file at the first line that is not an export request; True when the
        lines only hold requests without spans (read the same either way)."""
        texts = _texts(block, lines)
        for line in lines:
            request = parse_json(texts[line].rstrip(), self.path, line - 1)
            if not isinstance(request, dict) or "resourceSpans" not in request:
                list(self._walk(line, request))  # raises the same error as one by one
            if isinstance(request, dict) and request.get("resourceSpans"):
                return False
        return True

    def _block_one_by_one(self, block: pa.Table, unknown: Counter[str], progress: float) -> Batch:
        rows = Rows(self.source, self.catalog, unknown)
        lines = block.column("line").to_pylist()
        texts = block.column("text").to_pylist()
        for line, text in zip(lines, texts, strict=True):
            for item in self._walk(line, parse_json(text.rstrip(), self.path, line - 1)):
                add_item(rows, item)
        return rows.batch(progress)

    def _convert(  # noqa: PLR0915  (one pass over a block, its steps in order)
        self,
        block: pa.Table,
        spans: pa.Table,
        resources: pa.Table,
        unknown: Counter[str],
        progress: float,
    ) -> Batch:
        n = spans.num_rows
        attrs = _Attributes.of(spans.column("attributes").combine_chunks())
        owners = _Attributes.of(resources.column("attributes").combine_chunks())
        res_of = spans.column("res").to_numpy()
        usage = np.zeros(n, dtype=bool)
        for name in (*_INPUT, *_OUTPUT):
            usage |= attrs.last(name, n) >= 0
        self._skipped += int(n - usage.sum())
        numbers = self._number + np.cumsum(usage)
        self._number += int(usage.sum())
        label_keys = self._label_keys
        span_labels = {k for k in attrs.names if k.startswith(("label.", "labels."))}
        span_labels |= label_keys | set(_SPAN_LABELS)
        res_labels = {k for k in owners.names if k.startswith(("label.", "labels."))}
        res_labels |= label_keys | set(_RESOURCE_LABELS)
        slow = attrs.odd(span_labels | set(_TEXT_FIELDS.values()) | set(_COUNT_FIELDS), n)
        slow |= owners.odd(res_labels, resources.num_rows)[res_of]
        text = {f: _blank(attrs.value(attrs.last(k, n))) for f, k in _TEXT_FIELDS.items()}
        count: dict[str, pa.Array] = {}
        for name in _COUNT_FIELDS:
            value = _blank(attrs.value(attrs.last(name, n)))
            count[name], bad = whole_numbers(value, _COUNT, pa.int64())
            slow |= bad
        total_in = pc.coalesce(count[_INPUT[0]], count[_INPUT[1]])
        output = pc.coalesce(count[_OUTPUT[0]], count[_OUTPUT[1]])
        cache_read, cache_write = count[_CACHE_READ], count[_CACHE_WRITE]
        reasoning = count[_REASONING]
        uncached = pc.subtract(
            pc.subtract(total_in, pc.fill_null(cache_read, 0)), pc.fill_null(cache_write, 0)
        )
        for values in (total_in, uncached, cache_read, cache_write, output, reasoning):
            slow |= _flags(pc.less(values, 0))
        slow |= _flags(pc.greater(pc.fill_null(reasoning, 0), pc.fill_null(output, 0)))
        start, bad = _nanos_block(spans.column("start_nanos"), required=True)
        slow |= bad
        end, bad = _nanos_block(spans.column("end_nanos"), required=False)
        slow |= bad
        ids = []
        for name in ("trace", "span"):
            value, bad = _json_text(_chunk(spans.column(name)))
            slow |= bad
            ids.append(value)
        request_id = pc.binary_join_element_wise(ids[0], ids[1], ":")
        provider = pc.coalesce(text["provider"], text["system"], pa.scalar("unknown"))
        slow |= _flags(pc.invert(pc.string_is_ascii(provider)))
        provider = pc.utf8_lower(provider)
        model = pc.coalesce(text["response_model"], text["request_model"])
        slow |= _flags(pc.is_null(model))
        tier = pc.coalesce(text["response_tier"], text["request_tier"])
        tokens = {"uncached_input_tokens": uncached, "cache_read_tokens": cache_read,
                  "cache_write_5m_tokens": cache_write, "output_tokens": output,
                  "reasoning_tokens": reasoning}  # fmt: skip
        prompt = sum(counts(tokens.get(k), n) for k in INPUT_KINDS)
        none = np.zeros(n, dtype=bool)
        priced = price_block(
            self.catalog, provider, model, start, tokens, prompt=np.asarray(prompt),
            free=none, free_source="", skip=slow | ~usage, service_tier=tier,
        )  # fmt: skip
        slow |= priced.slow
        labels, odd = self._label_column(attrs, owners, span_labels, res_labels, res_of, n)
        slow |= odd
        nulls = pa.nulls(n, pa.string())
        fast = {
            "start_time": start, "end_time": end, "record_type": pa.repeat("usage", n),
            "provider": provider, "model": model, "request_id": request_id,
            "requests": pa.repeat(1, n), **tokens, "cache_write_1h_tokens": pa.nulls(n, pa.int64()),
            "organization_id": nulls, "project_id": nulls, "workspace_id": nulls,
            "api_key_id": nulls, "user_id": pc.coalesce(text["user"], text["enduser"]),
            "service_tier": tier, "batch": pa.nulls(n, pa.bool_()),
            "cost": priced.cost, "list_cost": priced.list_cost, "currency": priced.currency,
            "price_source": priced.price_source, "vendor_cost": pa.nulls(n, DECIMAL),
            "vendor_list_cost": pa.nulls(n, DECIMAL), "vendor_currency": nulls,
            "line_item": nulls, "labels": labels, "source": pa.repeat(self.source, n),
            "x_SourceRecord": pa.array(numbers, pa.int64()),
        }  # fmt: skip
        table = pa.table(
            {name: pc.cast(_chunk(fast[name]), kind) for name, kind in COLUMNS.items()}
        )
        good = usage & ~slow
        table = table.filter(pa.array(good))
        todo = np.flatnonzero(usage & slow)
        if not len(todo):
            return Batch(table, [], progress)
        rows = self._spans_one_by_one(block, spans, todo, numbers, unknown)
        rejected = rows.rejected
        slow_table = rows.batch(progress).table
        merged = pa.concat_tables([table] + ([slow_table] if slow_table else []))
        order = pc.sort_indices(merged, [("x_SourceRecord", "ascending")])
        return Batch(merged.take(order), rejected, progress)

    def _spans_one_by_one(
        self, block: pa.Table, spans: pa.Table, todo: np.ndarray, numbers: np.ndarray,
        unknown: Counter[str],
    ) -> Rows:  # fmt: skip
        rows = Rows(self.source, self.catalog, unknown)
        picked = spans.select(["line", "ri", "si", "pi"]).take(pa.array(todo)).to_pylist()
        texts = _texts(block, sorted({p["line"] for p in picked}))
        parsed: dict[int, Any] = {}
        for position, where in zip(todo.tolist(), picked, strict=True):
            line = where["line"]
            if line not in parsed:
                parsed[line] = parse_json(texts[line].rstrip(), self.path, line - 1)
            r, s, p = where["ri"], where["si"], where["pi"]
            resource_spans = parsed[line]["resourceSpans"][r]
            resource = _attributes((resource_spans.get("resource") or {}).get("attributes"))
            span = resource_spans["scopeSpans"][s]["spans"][p]
            attributes = _attributes(span.get("attributes"))
            path = f"resourceSpans[{r}].scopeSpans[{s}].spans[{p}]"
            record = self._record(span, attributes, resource)
            number = int(numbers[position])
            add_item(rows, Item(number, line, path, _raw(span, attributes), record))
        return rows

    def _label_column(  # noqa: PLR0917  (the parts of a block the labels come from)
        self,
        attrs: _Attributes,
        owners: _Attributes,
        span_labels: set[str],
        res_labels: set[str],
        res_of: np.ndarray,
        n: int,
    ) -> tuple[pa.Array, np.ndarray]:
        """``labels`` of each span, worked out once per distinct combination, and the spans
        whose label values the block path cannot join (read one by one)."""
        res_sig, res_odd = owners.signature(res_labels, len(res_of) and int(res_of.max()) + 1)
        span_sig, odd = attrs.signature(span_labels, n)
        if len(res_of):
            odd |= res_odd[res_of]
        res_part = res_sig.take(pa.array(res_of)) if len(res_sig) else pa.array([""] * n)
        key = pc.binary_join_element_wise(res_part, span_sig, "\x1d")
        encoded = pc.dictionary_encode(key)
        texts = []
        for signature in encoded.dictionary.to_pylist():
            resource, _, span = signature.partition("\x1d")
            labels = self._labels(_pairs(span), _pairs(resource))
            texts.append(json.dumps(labels, sort_keys=True, ensure_ascii=False))
        return pa.array(texts, pa.string()).take(encoded.indices), odd

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


# -- JSON Lines in blocks ----------------------------------------------------------------------

_LINES_BYTES = 16 << 20
#: an attribute value as the two kinds the block path reads (as text); a value of another kind
#: (bool, double, array, map, bytes) has neither and is read one by one
_KINDS = ("stringValue", "intValue")
_VALUE = ",".join(f'"{k}":"VARCHAR"' for k in _KINDS)
_ATTRS = '[{"key":"VARCHAR","value":{' + _VALUE + "}}]"
_SPANS_SHAPE = (
    '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"JSON","spanId":"JSON",'
    '"startTimeUnixNano":"JSON","endTimeUnixNano":"JSON","attributes":ATTRS}]}]}]}'
).replace("ATTRS", _ATTRS)
_RESOURCES_SHAPE = '{"resourceSpans":[{"resource":{"attributes":ATTRS}}]}'.replace("ATTRS", _ATTRS)
#: the resources of each line, in file order (a line without any: not JSON, not an export
#: request, or one without spans); two JSON transforms (resources, spans) cost less than one
#: whose nested result is kept in a table
_RESOURCES_SQL = f"""
SELECT line, unnest(range(len(r.resourceSpans))) AS ri,
       unnest(r.resourceSpans).resource.attributes AS attributes
FROM (SELECT line, try(json_transform(text, '{_RESOURCES_SHAPE}')) AS r FROM block)
"""
_SPANS_SQL = f"""
SELECT line, ri, si, pi, sp.traceId AS trace, sp.spanId AS span,
       sp.startTimeUnixNano AS start_nanos, sp.endTimeUnixNano AS end_nanos,
       sp.attributes AS attributes
FROM (
    SELECT line, ri, si, unnest(range(len(ss.spans))) AS pi, unnest(ss.spans) AS sp
    FROM (
        SELECT line, ri, unnest(range(len(rs.scopeSpans))) AS si,
               unnest(rs.scopeSpans) AS ss
        FROM (
            SELECT line, unnest(range(len(r.resourceSpans))) AS ri,
                   unnest(r.resourceSpans) AS rs
            FROM (SELECT line, try(json_transform(text, '{_SPANS_SHAPE}')) AS r FROM block)
        )
    )
)
"""  # one thread keeps the order of the lines and lists (checked: _in_order)
_SEPARATORS = "[\x1d-\x1f]"  # they join the label signature: a value holding one is read alone
_DIGITS = r"^[0-9]{1,19}$"  # Unix nanoseconds, once the JSON string's quotes are off
_COUNT = r"^-?[0-9]{1,18}$"
_TEXT_FIELDS = {
    "provider": "gen_ai.provider.name", "system": "gen_ai.system",
    "response_model": "gen_ai.response.model", "request_model": "gen_ai.request.model",
    "user": "user.id", "enduser": "enduser.id",
    "response_tier": "gen_ai.openai.response.service_tier",
    "request_tier": "gen_ai.openai.request.service_tier",
}  # fmt: skip
_COUNT_FIELDS = (*_INPUT, *_OUTPUT, _CACHE_READ, _CACHE_WRITE, _REASONING)
_SPAN_LABELS = ("gen_ai.operation.name", "gen_ai.agent.name", "gen_ai.conversation.id")


@dataclass
class _Attributes:
    """The attributes of a block's spans (or resources), one row per attribute."""

    owner: np.ndarray  # the span (resource) each attribute belongs to
    codes: np.ndarray  # the key, as a position in ``names``
    names: list[str]
    text: pa.Array  # the value as text where it is plain, else null
    plain: np.ndarray

    @classmethod
    def of(cls, lists: pa.Array) -> _Attributes:
        flat = pc.list_flatten(lists)
        owner = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
        keys = flat.field("key")
        valid = _flags(pc.is_valid(keys))
        if not valid.all():
            keep = pa.array(valid)
            flat, keys, owner = flat.filter(keep), keys.filter(keep), owner[valid]
        encoded = pc.dictionary_encode(keys)
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        value = flat.field("value")
        given = [_flags(pc.is_valid(value.field(kind))) for kind in _KINDS]
        # one kind given, string or int (any other shape is read one by one)
        plain = given[0] ^ given[1]
        text = pc.coalesce(value.field("stringValue"), value.field("intValue"))
        return cls(owner, codes, encoded.dictionary.to_pylist(), text, plain)

    def last(self, name: str, count: int) -> np.ndarray:
        """Per owner, the position of its last attribute ``name`` (-1: none)."""
        out = np.full(count, -1, dtype=np.int64)
        if name in self.names:
            at = np.flatnonzero(self.codes == self.names.index(name))
            out[self.owner[at]] = at  # a key given twice: the last one wins, as in a dict
        return out

    def value(self, position: np.ndarray) -> pa.Array:
        """The text at ``position`` (-1: null)."""
        found = position >= 0
        taken = self.text.take(pa.array(np.where(found, position, 0)))
        return pc.if_else(pa.array(found), taken, pa.scalar(None, pa.string()))

    def odd(self, relevant: set[str], count: int) -> np.ndarray:
        """Owners with an attribute in ``relevant`` whose value is not plain."""
        wanted = np.array([n in relevant and not _odd_name(n) for n in self.names], dtype=bool)
        strange = np.array([n in relevant and _odd_name(n) for n in self.names], dtype=bool)
        if not len(self.names):
            return np.zeros(count, dtype=bool)
        bad = (wanted[self.codes] & ~self.plain) | strange[self.codes]
        out = np.zeros(count, dtype=bool)
        out[self.owner[bad]] = True
        return out

    def signature(self, relevant: set[str], count: int) -> tuple[pa.Array, np.ndarray]:
        """Per owner, its ``relevant`` attributes in order as one text, and the owners whose
        values hold a separator of that text."""
        odd = np.zeros(count, dtype=bool)
        if not self.names:
            return pa.array([""] * count, pa.string()), odd
        mask = np.array([n in relevant for n in self.names], dtype=bool)[self.codes]
        at = np.flatnonzero(mask)
        values = self.text.take(pa.array(at))
        odd[self.owner[at[_flags(pc.match_substring_regex(values, _SEPARATORS))]]] = True
        keys = pa.array(self.names, pa.string()).take(pa.array(self.codes[at]))
        pairs = pc.binary_join_element_wise(
            keys, values, "\x1f", null_handling="replace", null_replacement=""
        )
        sizes = np.bincount(self.owner[at], minlength=count)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
        lists = pa.ListArray.from_arrays(pa.array(offsets), pairs)
        return pc.binary_join(lists, "\x1e"), odd


def _odd_name(name: str) -> bool:
    return any(c in name for c in "\x1d\x1e\x1f")


def _flags(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _pairs(signature: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in signature.split("\x1e") if signature else []:
        key, _, value = pair.partition("\x1f")
        out[key] = value
    return out


def _in_order(table: pa.Table, *keys: str) -> pa.Table:
    """``table`` in file order by ``keys`` (rows come so from one DuckDB thread; sorted if
    not)."""
    columns = [table.column(k).to_numpy() for k in keys]
    step = np.lexsort(columns[::-1])
    if (step == np.arange(len(step))).all():
        return table
    return table.take(pa.array(step))


def _not_blank(text: pa.Array) -> pa.Array:
    """Lines with more than white space (most start with ``{``; the others are looked at)."""
    keep = _flags(pc.starts_with(text, "{"))
    for at in np.flatnonzero(~keep).tolist():
        keep[at] = bool(text[at].as_py().strip())
    return pa.array(keep)


def _texts(block: pa.Table, lines: list[int]) -> dict[int, str]:
    """The text of each of ``lines`` (line numbers) of a block."""
    numbers = block.column("line").to_numpy()
    at = np.searchsorted(numbers, np.array(lines, dtype=np.int64))
    texts = block.column("text").take(pa.array(at)).to_pylist()
    return dict(zip(lines, texts, strict=True))


def _chunk(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _blank(values: pa.Array) -> pa.Array:
    """Empty text as missing (as the one-by-one reader treats it)."""
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def _json_text(raw: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """JSON strings without escapes as their text, and the rows that are not such strings."""
    plain = pc.and_(pc.starts_with(raw, '"'), pc.invert(pc.match_substring(raw, "\\")))
    text = pc.utf8_slice_codeunits(raw, 1, -1)
    return pc.if_else(plain, text, pa.scalar(None, pa.string())), ~_flags(plain)


def _nanos_block(values: pa.ChunkedArray, *, required: bool) -> tuple[pa.Array, np.ndarray]:
    """:func:`_nanos` over a column of JSON texts: times, and the rows it cannot read."""
    raw = _chunk(values)
    empty = pc.is_in(raw, pa.array(['""', '"0"', "0"]))
    text = pc.if_else(empty, pa.scalar(None, pa.string()), pc.utf8_trim(raw, '"'))
    number, bad = whole_numbers(text, _DIGITS, pa.uint64())
    too_big = pc.greater(number, pa.scalar(2**63 - 1, pa.uint64()))
    bad |= _flags(too_big)
    micros = pc.divide(pc.cast(pc.if_else(too_big, pa.scalar(None, pa.uint64()), number),
                               pa.int64()), 1000)  # fmt: skip
    if required:
        bad |= _flags(pc.is_null(micros))
    return pc.cast(micros, pa.timestamp("us", tz="UTC")), bad
