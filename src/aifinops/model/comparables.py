"""Which API models a self-hosted model is compared with, and why.

Package data ``data/llm_comparables.csv`` (the project's own table; see ``data/NOTICE.md``): for
each size class of served model (billions of parameters, read from the model's name: ``7b``,
``Llama-3.1-70B``, ``8x7b`` = 56), API models of the genai-prices catalog, each with the reason it
is a fair comparison. Each class holds the like-for-like comparison (an open-weights model of the
same size served as an API by a cloud and by a low-cost inference host: the price of not running
the GPUs yourself) and the proprietary tiers the same workload is usually weighed against.

Size says what it costs to serve, not how well a model answers: the comparison is of price for
the same tokens. Where a name says no size, or another comparison is wanted, ``compare`` names
the API models (``provider/model``) instead.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources

from aifinops.errors import AifinopsError

_SIZE = re.compile(r"(?<![0-9a-z.])(?:(\d+)x)?(\d+(?:\.\d+)?)b(?![a-z0-9])", re.IGNORECASE)
CHOSEN = "chosen with --compare"


@dataclass(frozen=True)
class Comparable:
    """An API model (genai-prices ``provider`` and ``model`` ids) and why it is compared."""

    provider: str
    model: str
    why: str
    size_class: str = ""

    @property
    def name(self) -> str:
        return f"{self.provider}/{self.model}"


@functools.cache
def table() -> tuple[tuple[Decimal, Decimal, Comparable], ...]:
    """(smallest, largest parameter count in billions, comparable) per row of the table."""
    text = resources.files("aifinops.model").joinpath("data/llm_comparables.csv").read_text("utf-8")
    return tuple(
        (
            Decimal(r["min_params_b"]),
            Decimal(r["max_params_b"]),
            Comparable(r["provider"], r["model"], r["why"], r["size_class"]),
        )
        for r in csv.DictReader(text.splitlines())
    )


def parameters_b(model: str) -> Decimal | None:
    """The parameter count in billions a model's name states (``kestrel-7b-chat`` -> 7,
    ``mixtral-8x7b`` -> 56), or None."""
    found = _SIZE.search(model)
    if found is None:
        return None
    experts, size = found.groups()
    return Decimal(size) * (int(experts) if experts else 1)


def comparables_for(model: str) -> tuple[Comparable, ...]:
    """The API models of the size class ``model``'s name falls in (none if it states no size)."""
    size = parameters_b(model)
    if size is None:
        return ()
    return tuple(c for low, high, c in table() if low < size <= high)


def parse_compare(specs: tuple[str, ...]) -> tuple[Comparable, ...]:
    """``provider/model`` names given by the user."""
    out = []
    for spec in specs:
        provider, _, model = spec.strip().partition("/")
        if not provider or not model:
            raise AifinopsError(
                f"cannot read API model {spec!r}",
                hint="name it as provider/model, e.g. openai/gpt-4o-mini",
            )
        out.append(Comparable(provider, model, CHOSEN))
    return tuple(out)
