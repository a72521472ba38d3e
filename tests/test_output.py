"""Tables printed to the terminal show data as it is."""

from __future__ import annotations

import pyarrow as pa
from rich.console import Console

from aifinops.output import rich_table


def test_square_brackets_in_data_are_not_markup() -> None:
    console = Console(width=80, record=True)
    console.print(rich_table(pa.table({"value": ["the [onprem] inventory", "[N/A]"]})))
    text = console.export_text()
    assert "the [onprem] inventory" in text
    assert "[N/A]" in text
