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

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aifinops.errors import IngestError
from aifinops.model.prices import Catalog
from aifinops.sources.base import Batch
from aifinops.sources.convert import DECIMAL, to_timestamp
from aifinops.sources.llm.common import (
    COLUMNS,
    Record,
    Rows,
    as_decimal,
    as_int,
    as_text,
    as_time,
    first_char,
    is_json_lines,
    json_lines,
    labels_from,
    load_json,
    price_rules,
    unknown_note,
    vendor_note,
)
from aifinops.sources.llm.reader import Bad, Item, UsageReader, _tolerance
from aifinops.sources.llm.vector import counts, price_block, whole_numbers
from aifinops.sources.native import BlockSql
from aifinops.sources.tabular import TabularReader

_TRUE = ("true", "t", "1", "yes")


class LiteLLMReader(UsageReader):
    """The JSON exports (``GET /spend/logs``, JSON Lines), read one record at a time; CSV exports
    are read by :class:`LiteLLMCsvReader` (the source's ``open`` picks by the first character)."""

    source = "litellm"

    def _detect(self) -> str:
        char = first_char(self.path)
        if char == "[":
            return "json"
        if char == "{":
            return "jsonl" if is_json_lines(self.path) else "json"
        raise IngestError(
            "not a JSON export (it does not start with [ or {)",
            where=str(self.path),
            hint="CSV exports are read by LiteLLMCsvReader (aifinops ingest litellm picks it)",
        )

    def items(self) -> Iterator[Item]:
        if self._format == "jsonl":
            for number, (line, row) in enumerate(json_lines(self.path), start=1):
                yield self._item(number, line, "", row)
            return
        document = load_json(self.path)
        rows = document if isinstance(document, list) else document.get("data", [document])
        for index, row in enumerate(rows):
            yield self._item(index + 1, None, f"[{index}]", row)

    def _item(self, number: int, line: int | None, where: str, row: object) -> Item:
        if not isinstance(row, dict):
            return Item(number, line, where, {"value": row}, Bad("", "not an object", row))
        try:
            parsed: Record | Bad = self.read(row)
        except _BadField as exc:
            parsed = Bad(exc.field, exc.reason, exc.value)
        return Item(number, line, where, row, parsed)

    def read(self, row: dict[str, Any]) -> Record:
        return read_row(row)


def read_row(row: dict[str, Any]) -> Record:
    """One spend log row (CSV text or JSON values) as a record; raises _BadField."""
    metadata = _json_object(row, "metadata")
    usage = _object(metadata.get("usage_object"))
    prompt = _count(row, "prompt_tokens")
    completion = _count(row, "completion_tokens")
    prompt_details = _object(usage.get("prompt_tokens_details"))
    completion_details = _object(usage.get("completion_tokens_details"))
    cache_read = _count(usage, "cache_read_input_tokens") or _count(prompt_details, "cached_tokens")
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


# -- CSV exports: the table read in blocks, most rows converted at once ------------------------

_COUNTS = {
    "cache_read": "usage_object.cache_read_input_tokens",
    "cached": "usage_object.prompt_tokens_details.cached_tokens",
    "cache_write": "usage_object.cache_creation_input_tokens",
    "reasoning": "usage_object.completion_tokens_details.reasoning_tokens",
}
_TEXTS = {"org": "user_api_key_org_id", "user": "user_api_key_user_id"}
_LABEL_JSON = {"team_id": "user_api_key_team_id", "team_alias": "user_api_key_team_alias",
               "key_alias": "user_api_key_alias", "spend_meta": "spend_logs_metadata"}  # fmt: skip
_META = tuple(_LABEL_JSON.values())
#: ``metadata`` as the fields the rows need: counts as text (read like the CSV's counts), the
#: others as JSON (texts must be JSON strings; labels are read from the JSON once per value)
_SHAPE = json.dumps(
    {
        "usage_object": {
            "cache_read_input_tokens": "VARCHAR",
            "prompt_tokens_details": {"cached_tokens": "VARCHAR"},
            "cache_creation_input_tokens": "VARCHAR",
            "completion_tokens_details": {"reasoning_tokens": "VARCHAR"},
        },
        **dict.fromkeys((*_TEXTS.values(), *_LABEL_JSON.values()), "JSON"),
    },
    separators=(",", ":"),
)
_SQL = (
    "SELECT metadata IS NOT NULL AND m IS NULL AS bad_json, "
    + ", ".join(
        f"m.{path} AS {name}" for name, path in {**_COUNTS, **_TEXTS, **_LABEL_JSON}.items()
    )
    + f" FROM (SELECT metadata, try(json_transform(metadata, '{_SHAPE}')) AS m FROM block)"
)


def _metadata(table: pa.Table) -> tuple[dict[str, pa.Array], np.ndarray]:
    """The fields of ``metadata`` by name, and the rows the block path cannot read exactly."""
    out = {name: _chunk(table.column(name)) for name in table.column_names}
    slow = _flag(out.pop("bad_json"))
    for name in _COUNTS:
        out[name], bad = whole_numbers(out[name], _INT, pa.int64())
        slow |= bad
    for name in _TEXTS:
        raw = out[name]
        missing = _flag(pc.fill_null(pc.equal(raw, "null"), True))
        plain = _flag(pc.and_(pc.starts_with(raw, '"'), pc.invert(pc.match_substring(raw, "\\"))))
        slow |= ~missing & ~plain
        text = pc.utf8_slice_codeunits(raw, 1, -1)
        keep = pa.array(plain & ~missing)
        out[name] = pc.if_else(
            pc.and_(keep, pc.not_equal(text, "")), text, pa.scalar(None, pa.string())
        )
    return out, slow


_INT = r"^-?[0-9]{1,18}$"
_MONEY = r"^-?[0-9]{1,20}(\.[0-9]{1,18})?$"
_TIME = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?$"
)
_FREE = "LiteLLM cache hit (no provider call)"
_USED = ("request_id", "startTime", "start_time", "endTime", "end_time", "model",
         "custom_llm_provider", "prompt_tokens", "completion_tokens", "spend", "api_key", "user",
         "team_id", "organization_id", "end_user", "cache_hit", "request_tags", "metadata",
         "model_group")  # fmt: skip


class LiteLLMCsvReader(TabularReader):
    """The ``LiteLLM_SpendLogs`` table as CSV (or CSV.gz, Parquet), read in blocks.

    Each block is converted at once: the ``metadata`` JSON by DuckDB, the text columns by Arrow,
    the labels once per distinct combination, the prices once per model and minute
    (:func:`~aifinops.sources.llm.vector.price_block`). A row that is not plain (a value the fast
    path does not read exactly as :func:`read_row` does, a problem, an unknown model) goes
    through :func:`read_row` and :class:`~aifinops.sources.llm.common.Rows`, so rows and
    rejections are those of the one-by-one reader.
    """

    source = "litellm"
    describes = "a LiteLLM spend log export (the LiteLLM_SpendLogs table as CSV)"
    block_bytes = 4 << 20  # Arrow reads blocks ahead: 16 MB blocks cost 300 MB more

    def __init__(
        self,
        path: Path,
        *,
        careful: bool = False,
        prices: object = None,
        tolerance: object = None,
        **options: object,
    ) -> None:
        self._sql = BlockSql()
        super().__init__(path, careful=careful)
        if "model" not in self.header:
            raise IngestError(
                "not a LiteLLM spend log export: no 'model' column in the header",
                where=f"{self.path}:1",
                hint="export the LiteLLM_SpendLogs table with its header (docs/sources/llm.md)",
            )
        self.options = options
        self.columns = tuple(COLUMNS)
        self.catalog = Catalog(price_rules(prices))
        self.tolerance = _tolerance(tolerance)
        self._labels: dict[object, str] = {}  # label parts (or their joined text) -> labels
        self.unknown: Counter[str] = Counter()
        self.vendor_totals = [Decimal(0), Decimal(0)]
        #: rows read one by one (not plain enough for the block path), for tests and benchmarks
        self.one_by_one = 0

    def batches(self) -> Iterator[Batch]:
        self.unknown = Counter()
        self.vendor_totals = [Decimal(0), Decimal(0)]
        self.notes.clear()
        yield from super().batches()
        # the blocks are gone: hand the allocator's cached pages back before the load commits
        pa.default_memory_pool().release_unused()
        self.notes.extend(unknown_note(self.unknown))
        ours, vendor = self.vendor_totals
        if vendor or ours:
            self.notes.extend(vendor_note(ours, vendor, self.tolerance))

    def close(self) -> None:
        self._sql.close()
        super().close()

    def _convert(self, raw: pa.RecordBatch, first_record: int, progress: float) -> Batch:
        n = raw.num_rows
        col = {name: _column(raw, name) for name in _USED}
        meta, slow = _metadata(self._sql(_SQL, pa.table({"metadata": col["metadata"]})))
        prompt, bad = _ints(col["prompt_tokens"])
        slow |= bad
        completion, bad = _ints(col["completion_tokens"])
        slow |= bad
        first = meta["cache_read"]
        cache_read = pc.if_else(pc.fill_null(pc.not_equal(first, 0), False), first,
                                meta["cached"])  # fmt: skip
        cache_write, reasoning = meta["cache_write"], meta["reasoning"]
        uncached = pc.subtract(
            pc.subtract(prompt, pc.fill_null(cache_read, 0)), pc.fill_null(cache_write, 0)
        )
        for values in (prompt, uncached, cache_read, cache_write, reasoning, completion):
            slow |= _flag(pc.less(values, 0))
        slow |= _flag(pc.greater(pc.fill_null(reasoning, 0), pc.fill_null(completion, 0)))
        start, bad = _times(pc.coalesce(col["startTime"], col["start_time"]), required=True)
        slow |= bad
        end, bad = _times(pc.coalesce(col["endTime"], col["end_time"]), required=False)
        slow |= bad
        spend, bad = _money(col["spend"])
        slow |= bad
        provider, model, bad = _provider_model_block(col["model"], col["custom_llm_provider"])
        slow |= bad
        hit = pc.is_in(pc.utf8_lower(col["cache_hit"]), pa.array(_TRUE))
        free = _flag(hit)
        request_id = col["request_id"]
        tokens = {"uncached_input_tokens": uncached, "cache_read_tokens": cache_read,
                  "cache_write_5m_tokens": cache_write, "output_tokens": completion,
                  "reasoning_tokens": reasoning}  # fmt: skip
        input_sum = sum(counts(tokens[k], n) for k in ("uncached_input_tokens",
                        "cache_read_tokens", "cache_write_5m_tokens"))  # fmt: skip
        prompt_size = np.where(_flag(pc.is_null(request_id)), 0, input_sum)
        priced = price_block(self.catalog, provider, model, start, tokens, prompt=prompt_size,
                             free=free, free_source=_FREE, skip=slow)  # fmt: skip
        slow |= priced.slow
        labels = self._label_column(col, meta, free)
        nulls = pa.nulls(n, pa.string())
        fast = {
            "start_time": start, "end_time": end, "record_type": pa.repeat("usage", n),
            "provider": provider, "model": model, "request_id": request_id,
            "requests": pa.repeat(1, n), **tokens, "cache_write_1h_tokens": pa.nulls(n, pa.int64()),
            "organization_id": pc.coalesce(col["organization_id"], meta["org"]),
            "project_id": nulls, "workspace_id": nulls, "api_key_id": col["api_key"],
            "user_id": pc.coalesce(col["user"], meta["user"]),
            "service_tier": nulls, "batch": pa.nulls(n, pa.bool_()),
            "cost": priced.cost, "list_cost": priced.list_cost, "currency": priced.currency,
            "price_source": priced.price_source, "vendor_cost": spend,
            "vendor_list_cost": pa.nulls(n, DECIMAL),
            "vendor_currency": pc.if_else(pc.is_valid(spend), "USD", pa.scalar(None, pa.string())),
            "line_item": nulls, "labels": labels, "source": pa.repeat(self.source, n),
            "x_SourceRecord": pa.array(np.arange(first_record, first_record + n)),
        }  # fmt: skip
        table = pa.table(
            {name: pc.cast(_chunk(fast[name]), kind) for name, kind in COLUMNS.items()}
        )
        good = ~slow
        billed = good & ~free & ~_flag(pc.is_null(spend))
        if billed.any():
            mask = pa.array(billed)
            self.vendor_totals[0] += pc.sum(pc.filter(table["cost"], mask)).as_py() or 0
            self.vendor_totals[1] += pc.sum(pc.filter(table["vendor_cost"], mask)).as_py() or 0
        if not slow.any():
            return Batch(table, [], progress)
        rows = self._slow_rows(raw, np.flatnonzero(slow), first_record)
        rejected = rows.rejected
        slow_table = rows.batch(progress).table
        parts = [table.filter(pa.array(good))] + ([slow_table] if slow_table else [])
        merged = pa.concat_tables(parts)
        order = pc.sort_indices(merged, [("x_SourceRecord", "ascending")])
        return Batch(merged.take(order), rejected, progress)

    def _slow_rows(self, raw: pa.RecordBatch, positions: np.ndarray, first_record: int) -> Rows:
        """The rows at ``positions`` read one by one, as the JSON exports are."""
        rows = Rows(self.source, self.catalog, self.unknown)
        self.one_by_one += len(positions)
        names = raw.schema.names
        values = raw.take(pa.array(positions)).to_pylist()
        for position, value in zip(positions.tolist(), values, strict=True):
            row = {name: "" if value[name] is None else value[name] for name in names}
            number = first_record + position
            try:
                record = read_row(row)
            except _BadField as exc:
                rows.reject(number, None, exc.field, exc.reason, exc.value, row)
                continue
            rows.add(record, number, None, "", row)
        ours, vendor = rows.vendor_totals
        self.vendor_totals[0] += ours
        self.vendor_totals[1] += vendor
        return rows

    def _label_column(
        self, col: dict[str, pa.Array], meta: dict[str, pa.Array], free: np.ndarray
    ) -> pa.Array:
        """``labels`` of each row, worked out once per distinct combination of what they are
        made of."""
        parts = [col["team_id"], col["end_user"], col["model_group"], col["request_tags"],
                 *(meta[k] for k in _LABEL_JSON),
                 pa.array(free).cast(pa.string())]  # fmt: skip
        key = pc.binary_join_element_wise(
            *parts, "\x00", null_handling="replace", null_replacement="\x01"
        )
        encoded = pc.dictionary_encode(key)
        keys = encoded.dictionary.to_pylist()
        # the joined text stands for the values unless a value holds a separator
        joined = not any(
            pc.any(pc.match_substring(part, mark)).as_py() for part in parts for mark in "\x00\x01"
        )
        if joined and all(k in self._labels for k in keys):
            texts = [self._labels[k] for k in keys]
        else:
            indices = encoded.indices.to_numpy(zero_copy_only=False)
            _, first = np.unique(indices, return_index=True)
            at = pa.array(first)
            picked = [part.take(at).to_pylist() for part in parts]
            texts = []
            for k, values in zip(keys, zip(*picked, strict=True), strict=True):
                text = self._labels.get(values)
                if text is None:
                    text = self._labels[values] = _label_text(values)
                if joined:
                    self._labels[k] = text
                texts.append(text)
        return pa.array(texts, pa.string()).take(encoded.indices)


def _label_text(values: tuple[object, ...]) -> str:
    team_id, end_user, model_group, tags, *meta_json, hit = values
    row = {"team_id": team_id, "end_user": end_user, "model_group": model_group,
           "request_tags": tags}  # fmt: skip
    metadata = {
        name: json.loads(str(text)) for name, text in zip(_META, meta_json, strict=True) if text
    }
    labels = _labels(row, metadata)
    if hit == "true":
        labels["litellm_cache_hit"] = "true"
    return json.dumps(labels, sort_keys=True, ensure_ascii=False)


def _column(raw: pa.RecordBatch, name: str) -> pa.Array:
    index = raw.schema.get_field_index(name)
    if index < 0:
        return pa.nulls(raw.num_rows, pa.string())
    column = raw.column(index)
    return column if pa.types.is_string(column.type) else pc.cast(column, pa.string())


def _chunk(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _flag(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean column as numbers, missing as False."""
    filled = pc.fill_null(_chunk(values), False)
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=bool)


def _ints(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Counts written as plain integers, and the rows written otherwise."""
    return whole_numbers(text, _INT, pa.int64())


def _money(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    plain = pc.match_substring_regex(text, _MONEY)
    bad = _flag(pc.invert(plain))
    return pc.cast(pc.if_else(plain, text, None), DECIMAL), bad


def _times(text: pa.Array, *, required: bool) -> tuple[pa.Array, np.ndarray]:
    plain = pc.match_substring_regex(text, _TIME)
    bad = _flag(pc.invert(plain))
    if required:
        bad |= _flag(pc.is_null(text))
    converted = to_timestamp(pc.if_else(plain, text, None))
    if converted.errors:
        bad[list(converted.errors)] = True
    return converted.values, bad


def _provider_model_block(
    model: pa.Array, provider: pa.Array
) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """:func:`_provider_model` over a block; rows with non-ASCII names are left to it."""
    bad = _flag(pc.invert(pc.string_is_ascii(model))) | _flag(
        pc.invert(pc.string_is_ascii(provider))
    )
    split = pc.split_pattern(model, "/", max_splits=1)
    has_slash = _flag(pc.greater(pc.list_value_length(split), 1))
    prefix = pc.list_element(split, 0)
    rest = pc.if_else(
        pa.array(has_slash), pc.list_element(pc.if_else(pa.array(has_slash), split, None), 1), None
    )
    same = pc.fill_null(pc.equal(pc.utf8_lower(provider), pc.utf8_lower(prefix)), False)
    use_prefix = pa.array(has_slash & (_flag(pc.is_null(provider)) | _flag(same)))
    out_provider = pc.if_else(
        use_prefix, pc.utf8_lower(prefix), pc.utf8_lower(pc.fill_null(provider, "unknown"))
    )
    out_model = pc.if_else(use_prefix, rest, model)
    bad |= _flag(pc.is_null(out_model)) | _flag(pc.equal(out_model, ""))
    return out_provider, out_model, bad
