"""Cheaper ways to make the same LLM calls: a smaller model of the same family, a batch API.

Pure domain (package data only, no I/O beyond it). Two tables in ``data/`` (sources in
``data/NOTICE.md``):

* ``llm_routing_pairs.csv``: for a catalog model (genai-prices ids, ``provider/model``), the next
  smaller model of the same provider and family, and why that one: the vendor's own smaller tier
  of the same generation where there is one (``gpt-4.1`` -> ``gpt-4.1-mini``, ``claude-sonnet-4-5``
  -> ``claude-haiku-4-5``, ``gemini-2.5-pro`` -> ``gemini-2.5-flash``). A pair says the smaller
  model is a candidate, not that it is good enough: answer quality is not measured here.
* ``llm_batch_discounts.csv``: the discount a provider's batch API gives against its
  synchronous API (OpenAI, Anthropic, Google, Azure OpenAI, Bedrock, Mistral: 50%), with the
  page that says so.

The ``[recommend_llm]`` settings (:class:`LlmRecommendSettings`) tune the recommendations that
use them (``aifinops.analysis.recommend.llm``).
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field

from aifinops.model.prices import canonical_provider


@dataclass(frozen=True)
class RoutingPair:
    """``provider/model`` -> ``provider/smaller_model`` (genai-prices ids), and why."""

    provider: str
    model: str
    smaller_model: str
    reason: str


@dataclass(frozen=True)
class BatchDiscount:
    """Percent off the synchronous price for requests sent through the provider's batch API."""

    provider: str
    percent: Decimal
    url: str
    source: str
    as_of: str

    @property
    def fraction(self) -> Decimal:
        return self.percent / 100


def _read(name: str) -> list[dict[str, str]]:
    text = resources.files("aifinops.model").joinpath(f"data/{name}").read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


@functools.cache
def routing_pairs() -> dict[tuple[str, str], RoutingPair]:
    """Every pair, by (provider id, model id) of the larger model."""
    pairs = (RoutingPair(**row) for row in _read("llm_routing_pairs.csv"))
    return {(p.provider, p.model): p for p in pairs}


def smaller_model(model_id: str) -> RoutingPair | None:
    """The pair for a catalog id ``provider/model``, or None when the table has none."""
    provider, _, model = model_id.partition("/")
    return routing_pairs().get((provider, model))


@functools.cache
def batch_discounts() -> dict[str, BatchDiscount]:
    """Batch API discounts by genai-prices provider id."""
    rows = _read("llm_batch_discounts.csv")
    return {
        r["provider"]: BatchDiscount(
            r["provider"], Decimal(r["discount_percent"]), r["url"], r["source"], r["as_of"]
        )
        for r in rows
    }


def batch_discount(provider: str) -> BatchDiscount | None:
    """The batch discount of a provider as a source names it (``bedrock``, ``azure_openai`` ...)."""
    return batch_discounts().get(canonical_provider(provider))


#: Label keys that commonly carry a hash of the prompt's prefix (system prompt, tools, few-shot
#: examples), e.g. a LiteLLM request tag ``prompt_prefix_hash:ab12`` or an OTel span attribute
#: ``label.prompt_prefix_hash``.
PREFIX_HASH_LABELS = ["prompt_prefix_hash", "prefix_hash", "prompt_hash", "system_prompt_hash"]

#: Selectors of traffic that need no immediate answer (evaluations, staging, batch jobs).
NOT_URGENT = [
    "label:env=staging",
    "label:env=dev*",
    "label:env=test*",
    "label:env=eval*",
    "label:env=batch",
    "label:environment=staging",
    "label:environment=dev*",
    "label:environment=test*",
    "label:feature=eval*",
    "label:feature=batch*",
    "label:feature=backfill*",
    "label:feature=offline*",
    "label:workload=batch",
    "project_id=*eval*",
    "project_id=*batch*",
]

GROUP_BY = ["label:team", "project_id", "workspace_id", "label:project", "label:feature"]


class LlmRecommendSettings(BaseModel):
    """``[recommend_llm]``: prompt caching, routing to a smaller model, batch APIs."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    group_by: list[str] = Field(
        default=GROUP_BY,
        description="LLM usage dimensions each LLM recommendation is made for (llm_usage "
        "columns or label:KEY), besides provider and model.",
    )
    prefix_hash_labels: list[str] = Field(
        default=PREFIX_HASH_LABELS,
        description="Label keys holding a hash of the prompt prefix (the first one present on a "
        "request counts); requests without one are not looked at for prompt caching.",
    )
    prefix_tokens_label: str = Field(
        "prompt_prefix_tokens",
        description="Label key holding the prefix's length in tokens; without it the shortest "
        "prompt sharing the hash is taken (an upper bound).",
    )
    cache_ttl_minutes: int = Field(
        5, gt=0, description="Minutes a provider keeps a cached prefix after its last use."
    )
    min_cache_tokens: int = Field(
        1024, ge=0, description="Shortest prefix (tokens) a provider caches."
    )
    routing_share_percent: int = Field(
        30,
        gt=0,
        le=100,
        description="Percent of a model's traffic assumed moved to the smaller model.",
    )
    batch_selectors: list[str] = Field(
        default=NOT_URGENT,
        description='Traffic that can wait for a batch API: "DIMENSION=GLOB" (an llm_usage '
        "column or label:KEY; case-insensitive, * and ? wildcards).",
    )
