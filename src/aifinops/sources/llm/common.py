"""What every LLM usage source shares: a record, pricing, rows of ``llm_usage``, JSON reading.

A source parses its format into :class:`Record` s; :class:`Rows` checks and prices them and
hands back a :class:`~aifinops.sources.base.Batch` of ``llm_usage`` rows. A record that cannot
be used (negative or missing token counts, no model, no time, a model nobody priced) is rejected
with its location and reason, never priced at zero.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pyarrow as pa

from aifinops.errors import IngestError
from aifinops.model.prices import Catalog, ModelOverride, Price, PriceRules, TokenKind
from aifinops.sources.base import Batch, Rejection
from aifinops.sources.convert import DECIMAL, TIMESTAMP

#: ``llm_usage`` columns a batch carries, with their Arrow types.
COLUMNS: dict[str, pa.DataType] = {
    "start_time": TIMESTAMP,
    "end_time": TIMESTAMP,
    "record_type": pa.string(),
    "provider": pa.string(),
    "model": pa.string(),
    "request_id": pa.string(),
    "requests": pa.int64(),
    "uncached_input_tokens": pa.int64(),
    "cache_read_tokens": pa.int64(),
    "cache_write_5m_tokens": pa.int64(),
    "cache_write_1h_tokens": pa.int64(),
    "output_tokens": pa.int64(),
    "reasoning_tokens": pa.int64(),
    "organization_id": pa.string(),
    "project_id": pa.string(),
    "workspace_id": pa.string(),
    "api_key_id": pa.string(),
    "user_id": pa.string(),
    "service_tier": pa.string(),
    "batch": pa.bool_(),
    "cost": DECIMAL,
    "list_cost": DECIMAL,
    "currency": pa.string(),
    "price_source": pa.string(),
    "vendor_cost": DECIMAL,
    "vendor_list_cost": DECIMAL,
    "vendor_currency": pa.string(),
    "line_item": pa.string(),
    "labels": pa.string(),
    "source": pa.string(),
    "x_SourceRecord": pa.int64(),
}

#: token columns -> the kind they are priced as (output is priced net of reasoning)
TOKEN_COLUMNS = {
    "uncached_input_tokens": TokenKind.INPUT,
    "cache_read_tokens": TokenKind.CACHE_READ,
    "cache_write_5m_tokens": TokenKind.CACHE_WRITE_5M,
    "cache_write_1h_tokens": TokenKind.CACHE_WRITE_1H,
    "output_tokens": TokenKind.OUTPUT,
    "reasoning_tokens": TokenKind.REASONING,
}
_Q18 = Decimal(1).scaleb(-18)
ROWS_PER_BATCH = 65_536
PRICES_HINT = (
    'price it in aifinops.toml: [prices.models."{provider}/{model}"] with input = ..., '
    "output = ... (per million tokens), then ingest the file again with --force"
)


@dataclass
class Record:
    """One request or usage bucket, as read; :class:`Rows` checks and prices it."""

    start_time: datetime | None
    provider: str
    model: str | None
    end_time: datetime | None = None
    record_type: str = "usage"
    request_id: str | None = None
    requests: int | None = None
    tokens: dict[str, int | None] = field(default_factory=dict)
    organization_id: str | None = None
    project_id: str | None = None
    workspace_id: str | None = None
    api_key_id: str | None = None
    user_id: str | None = None
    service_tier: str | None = None
    batch: bool | None = None
    vendor_cost: Decimal | None = None
    vendor_list_cost: Decimal | None = None
    vendor_currency: str | None = None
    line_item: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    #: the whole prompt of one request (picks a prompt-length price tier); None: the sum of
    #: the input token kinds for a request, the base tier for an aggregated bucket
    prompt_tokens: int | None = None
    #: why the request cost nothing (a proxy cache hit: no provider call), priced at zero
    free: str | None = None
    #: where the token fields came from (record field -> column), for rejection messages
    names: dict[str, str] = field(default_factory=dict)


class Rows:
    """Collects the records of one stretch of a file and turns them into a batch."""

    def __init__(self, source: str, catalog: Catalog, unknown: Counter[str]) -> None:
        self.source = source
        self.catalog = catalog
        self.unknown = unknown  # "provider/model" -> records not priced, for the summary
        self.values: dict[str, list[Any]] = {name: [] for name in COLUMNS}
        self.rejected: list[Rejection] = []
        self.vendor_totals = [Decimal(0), Decimal(0)]  # (our cost, vendor cost) where both

    def __len__(self) -> int:
        return len(self.values["source"])

    def reject(  # noqa: PLR0917  (a Rejection's fields, in its order)
        self,
        number: int,
        line: int | None,
        where: str,
        reason: str,
        value: object = None,
        raw: Mapping[str, object] | None = None,
    ) -> None:
        text = None if value is None else str(value)
        column = where.rsplit(".", 1)[-1] if where else None
        self.rejected.append(
            Rejection(
                record=number,
                column=column,
                reason=f"{where}: {reason}" if where else reason,
                value=text,
                raw={k: _text(v) for k, v in (raw or {}).items()},
                line=line,
            )
        )

    def add(
        self, record: Record, number: int, line: int | None, where: str, raw: Mapping[str, object]
    ) -> None:
        problem = _check(record)
        if problem is not None:
            name, reason, value = problem
            self.reject(
                number, line, _join(where, record.names.get(name, name)), reason, value, raw
            )
            return
        cost = list_cost = None
        price: Price | None = None
        if record.record_type == "usage" and record.free:
            self._append(record, number, None, Decimal(0), Decimal(0))
            self.values["price_source"][-1] = record.free
            self.values["currency"][-1] = "USD"
            return
        if record.record_type == "usage":
            assert record.model is not None and record.start_time is not None
            price = self.catalog.price(
                record.provider,
                record.model,
                record.start_time,
                batch=bool(record.batch),
                service_tier=record.service_tier,
                prompt_tokens=_prompt(record),
            )
            if price is None:
                key = f"{record.provider}/{record.model}"
                self.unknown[key] += 1
                reason = (
                    f"unknown model {record.model!r} of provider {record.provider!r}: not in "
                    f"the price catalog nor in [prices]; "
                    + PRICES_HINT.format(provider=record.provider, model=record.model)
                )
                self.reject(number, line, _join(where, "model"), reason, record.model, raw)
                return
            cost = _cost(record.tokens, price, billed=True)
            same = price.billed is price.list
            list_cost = cost if same else _cost(record.tokens, price, billed=False)
            if record.vendor_cost is not None:
                self.vendor_totals[0] += cost
                self.vendor_totals[1] += record.vendor_cost
        self._append(record, number, price, cost, list_cost)

    def _append(
        self,
        record: Record,
        number: int,
        price: Price | None,
        cost: Decimal | None,
        list_cost: Decimal | None,
    ) -> None:
        v = self.values
        for name in (
            "start_time", "end_time", "record_type", "provider", "model", "request_id",
            "requests", "organization_id", "project_id", "workspace_id", "api_key_id",
            "user_id", "service_tier", "batch", "vendor_cost", "vendor_list_cost",
            "vendor_currency", "line_item",
        ):  # fmt: skip
            v[name].append(getattr(record, name))
        for name in TOKEN_COLUMNS:
            v[name].append(record.tokens.get(name))
        v["cost"].append(cost)
        v["list_cost"].append(list_cost)
        v["currency"].append(price.billed.currency if price else None)
        v["price_source"].append(price.source if price else None)
        v["labels"].append(json.dumps(record.labels, sort_keys=True, ensure_ascii=False))
        v["source"].append(self.source)
        v["x_SourceRecord"].append(number)

    def batch(self, progress: float) -> Batch:
        table = pa.table({n: pa.array(vals, type=COLUMNS[n]) for n, vals in self.values.items()})
        out = Batch(table if table.num_rows else None, self.rejected, progress)
        self.values = {name: [] for name in COLUMNS}
        self.rejected = []
        return out


def _check(record: Record) -> tuple[str, str, object] | None:
    """(field, reason, value) of the first problem of ``record``, or None."""
    if record.start_time is None:
        return "start_time", "missing or unreadable time", None
    for name, count in record.tokens.items():
        if count is not None and count < 0:
            return name, f"negative token count {count}", count
    if record.requests is not None and record.requests < 0:
        return "requests", f"negative request count {record.requests}", record.requests
    if record.record_type == "usage":
        if not record.model:
            return "model", "no model: cannot be priced", record.model
        output = record.tokens.get("output_tokens") or 0
        reasoning = record.tokens.get("reasoning_tokens") or 0
        if reasoning > output:
            reason = f"reasoning tokens ({reasoning}) exceed output tokens ({output})"
            return "reasoning_tokens", reason, reasoning
    return None


def _prompt(record: Record) -> int:
    if record.prompt_tokens is not None:
        return record.prompt_tokens
    if record.request_id is None:
        return 0  # an aggregated bucket: the base tier
    return sum(
        record.tokens.get(name) or 0
        for name in TOKEN_COLUMNS
        if name not in ("output_tokens", "reasoning_tokens")
    )


def _cost(tokens: Mapping[str, int | None], price: Price, *, billed: bool) -> Decimal:
    rates = price.billed if billed else price.list
    total = Decimal(0)
    reasoning = tokens.get("reasoning_tokens") or 0
    for name, kind in TOKEN_COLUMNS.items():
        count = tokens.get(name) or 0
        if name == "output_tokens":
            count -= reasoning
        if count:
            total += count * rates.per_million(kind)
    return (total / 1_000_000).quantize(_Q18)


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


# -- options and pricing rules ---------------------------------------------------------------


def price_rules(value: object) -> PriceRules:
    """The ``prices`` option (the workspace's ``[prices]`` settings) as catalog rules."""
    if value is None:
        return PriceRules()
    if isinstance(value, PriceRules):
        return value
    if isinstance(value, str):
        raise IngestError(
            "the prices option cannot be given on the command line",
            hint="set [prices] in the workspace's aifinops.toml (see docs/sources/llm.md)",
        )
    data = value.model_dump() if hasattr(value, "model_dump") else dict(value)  # type: ignore[call-overload]
    models = {
        key: ModelOverride(**{k: v for k, v in spec.items() if v is not None})
        for key, spec in (data.get("models") or {}).items()
    }
    return PriceRules(discounts=dict(data.get("discounts") or {}), models=models)


def unknown_note(unknown: Counter[str]) -> list[str]:
    if not unknown:
        return []
    listed = ", ".join(f"{key} ({n:,} rows)" for key, n in unknown.most_common())
    return [
        f"{sum(unknown.values()):,} row(s) of {len(unknown)} unknown model(s) quarantined, not "
        f"priced: {listed}. To price them, add a section per model to aifinops.toml, e.g. "
        f'[prices.models."{unknown.most_common(1)[0][0]}"] with input and output prices per '
        "million tokens, and ingest again with --force"
    ]


def vendor_note(ours: Decimal, vendor: Decimal, tolerance: Decimal) -> list[str]:
    """A note when the catalog price and the vendor's own cost differ by more than
    ``tolerance`` (a fraction of the vendor's cost)."""
    difference = ours - vendor
    if abs(difference) <= abs(vendor) * tolerance:
        return []
    return [
        f"priced cost {ours.normalize():f} differs from the vendor's own cost "
        f"{vendor.normalize():f} by {difference.normalize():f} (more than "
        f"{(tolerance * 100).normalize():f}%); see aifinops.analysis.llm.vendor_cost_difference"
    ]


# -- reading values --------------------------------------------------------------------------


def as_int(value: object) -> int | None:
    """A token or request count; raises ValueError when it is not a whole number."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a count: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"not a whole number: {value!r}")
        return int(value)
    if isinstance(value, str):
        try:
            return int(Decimal(value.strip()))
        except InvalidOperation:
            raise ValueError(f"not a count: {value!r}") from None
    raise ValueError(f"not a count: {value!r}")


def as_decimal(value: object) -> Decimal | None:
    """Money as exact decimal (JSON numbers are read as written, never through a float)."""
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return number


def as_time(value: object) -> datetime | None:
    """Unix seconds (int, float or nanoseconds text) or ISO 8601 text -> UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def as_text(value: object) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str)


# -- JSON files ------------------------------------------------------------------------------


def load_json(path: Path) -> Any:
    """A whole JSON document (numbers with a fraction as Decimal), or a clear error."""
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(f"not UTF-8 text (byte {exc.start})", where=str(path)) from None
    return parse_json(text, path, 0)


def parse_json(text: str, path: Path, line_offset: int) -> Any:
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise IngestError(
            f"not valid JSON: {exc.msg} at line {exc.lineno + line_offset}, column {exc.colno}",
            where=f"{path}:{exc.lineno + line_offset}",
            hint="export the file again; a truncated download is the usual cause",
        ) from None


def json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line of a JSON Lines file."""
    with path.open("r", encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                yield number, parse_json(line.rstrip(), path, number - 1)


def is_json_lines(path: Path) -> bool:
    """True when the file holds one JSON value per line (more than one non-blank line, each
    a complete value); a pretty-printed document is not."""
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        first = fh.readline().strip()
        second = fh.readline().strip()
    if not first or not second:
        return False
    try:
        json.loads(first)
    except json.JSONDecodeError:
        return False
    return True


def first_char(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip()
    if not head:
        raise IngestError("the file is empty", where=str(path), hint="export it again")
    return chr(head[0])


def labels_from(*sources: Mapping[str, object] | None) -> dict[str, str]:
    """Labels merged from several objects (later ones win); values as text."""
    out: dict[str, str] = {}
    for source in sources:
        for key, value in (source or {}).items():
            if value is not None and value != "" and not isinstance(value, dict | list):
                out[str(key)] = str(value) if not isinstance(value, bool) else str(value).lower()
    return out
