"""Rendering result tables: a terminal table, CSV, JSON or Parquet, with exact decimals."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from aifinops.errors import AifinopsError


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"
    PARQUET = "parquet"


def plain(value: Any) -> Any:
    """A JSON/CSV-friendly value: exact decimals without trailing zeros, ISO dates."""
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "0") else text
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _json_rows(table: pa.Table) -> str:
    """JSON with decimals as exact numbers (not floats, not strings)."""
    marker = "@@decimal@@"
    rows = [
        {k: (marker + plain(v)) if isinstance(v, Decimal) else plain(v) for k, v in row.items()}
        for row in table.to_pylist()
    ]
    text = json.dumps(rows, indent=2, ensure_ascii=False)
    return re.sub(f'"{marker}(-?[0-9.]+)"', r"\1", text)


def write_csv(table: pa.Table, stream: IO[str]) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow(["" if v is None else plain(v) for v in row.values()])


def money(value: Decimal | None) -> str:
    if value is None:
        return "—"
    return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,}"


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, Decimal):
        return money(value)
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(plain(value))


def rich_table(table: pa.Table, title: str | None = None) -> Any:
    from rich.table import Table
    from rich.text import Text

    out = Table(title=title, title_justify="left", show_lines=False)
    for name, field in zip(table.column_names, table.schema, strict=True):
        numeric = (
            pa.types.is_decimal(field.type)
            or pa.types.is_integer(field.type)
            or (pa.types.is_floating(field.type))
        )
        out.add_column(name, justify="right" if numeric else "left")
    for row in table.to_pylist():
        # Cells are data, not Rich markup: "[onprem]" or "[N/A]" must print as they are.
        out.add_row(*[Text(_cell(v)) for v in row.values()])
    return out


def render(
    table: pa.Table,
    fmt: OutputFormat,
    *,
    output: Path | None = None,
    title: str | None = None,
    console: Any = None,
) -> None:
    """Write ``table`` in ``fmt`` to ``output`` (or stdout)."""
    if fmt is OutputFormat.PARQUET:
        if output is None:
            raise AifinopsError("--format parquet needs --output FILE")
        import pyarrow.parquet as pq

        pq.write_table(table, output)
        return
    if fmt is OutputFormat.TABLE and output is None:
        from rich.console import Console

        (console or Console()).print(rich_table(table, title))
        if table.num_rows == 0:
            (console or Console()).print("[dim]no rows: the workspace has no matching data[/dim]")
        return
    buffer = io.StringIO()
    if fmt is OutputFormat.CSV:
        write_csv(table, buffer)
    elif fmt is OutputFormat.JSON:
        buffer.write(_json_rows(table) + "\n")
    else:
        from rich.console import Console

        Console(file=buffer, width=200).print(rich_table(table, title))
    if output is None:
        sys.stdout.write(buffer.getvalue())
    else:
        output.write_text(buffer.getvalue(), encoding="utf-8")
