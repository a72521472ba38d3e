"""The LLM price catalog: genai-prices 0.2.3's bundled data, priced by token kind, with overrides.

Expected figures are worked by hand from the catalog's prices per million tokens (quoted in
each test; they match ``../shared/reference/llm/genai_prices_flat_snapshot.csv``) and checked
against genai-prices' own ``calc_price`` where it prices the same usage.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price

from aifinops.model.prices import (
    Catalog,
    ModelOverride,
    Price,
    PriceRules,
    TokenKind,
    most_specific,
)

M = 1_000_000
DAY = datetime(2026, 11, 2, 12, tzinfo=UTC)


def cost(price: Price | None, billed: bool = True, **tokens: int) -> Decimal:
    """Tokens by kind priced at ``price`` (the same sum the sources make)."""
    assert price is not None
    rates = price.billed if billed else price.list
    return (
        sum(
            (count * rates.per_million(TokenKind(kind)) for kind, count in tokens.items()),
            Decimal(0),
        )
        / M
    )


def test_cached_input_is_priced_at_the_cache_read_price() -> None:
    # gpt-4o-mini: $0.15 input, $0.075 cache read, $0.6 output per million
    price = Catalog().price("openai", "gpt-4o-mini-2024-07-18", DAY)
    got = cost(price, input=800, cache_read=200, output=500)
    assert got == Decimal("0.000435")  # (800*0.15 + 200*0.075 + 500*0.6) / 1e6
    reference = calc_price(
        Usage(input_tokens=1000, cache_read_tokens=200, output_tokens=500),
        "gpt-4o-mini",
        provider_id="openai",
        genai_request_timestamp=DAY,
    )
    assert got == reference.total_price


def test_cache_writes_5m_and_1h_have_their_own_prices() -> None:
    # claude-opus-4-5: $5 input, $6.25 5m cache write, $10 1h cache write, $0.5 read, $25 out
    price = Catalog().price("anthropic", "claude-opus-4-5", DAY)
    assert price is not None
    rates = price.billed
    assert (rates.input, rates.cache_write_5m, rates.cache_write_1h) == (5, Decimal("6.25"), 10)
    got = cost(price, input=M, cache_write_5m=M, cache_write_1h=M, cache_read=M, output=M)
    assert got == Decimal("46.75")  # 5 + 6.25 + 10 + 0.5 + 25
    reference = calc_price(
        Usage(
            input_tokens=4 * M,  # genai-prices counts every input kind in input_tokens
            cache_write_tokens=2 * M,
            cache_write_1h_tokens=M,
            cache_read_tokens=M,
            output_tokens=M,
        ),
        "claude-opus-4-5",
        provider_id="anthropic",
        genai_request_timestamp=DAY,
    )
    assert got == reference.total_price


def test_reasoning_is_priced_as_output_when_the_catalog_has_no_reasoning_price() -> None:
    # o3 from 2025-06-10: $2 input, $8 output; 3,000 output tokens of which 2,500 reasoning
    price = Catalog().price("openai", "o3", DAY)
    assert price is not None and price.billed.reasoning == price.billed.output == 8
    assert cost(price, input=2000, output=500, reasoning=2500) == Decimal("0.028")


def test_tiered_prices_follow_the_length_of_the_whole_prompt() -> None:
    # claude-sonnet-4-5: $3/$15 up to 200k prompt tokens, $6/$22.5 above (the whole request)
    catalog = Catalog()
    short = catalog.price("anthropic", "claude-sonnet-4-5", DAY, prompt_tokens=200_000)
    long = catalog.price("anthropic", "claude-sonnet-4-5", DAY, prompt_tokens=250_000)
    assert cost(short, input=200_000, output=1000) == Decimal("0.615")  # 0.6 + 0.015
    assert cost(long, input=250_000, output=1000) == Decimal("1.5225")  # 1.5 + 0.0225
    reference = calc_price(
        Usage(input_tokens=250_000, output_tokens=1000),
        "claude-sonnet-4-5",
        provider_id="anthropic",
        genai_request_timestamp=DAY,
    )
    assert reference.total_price == Decimal("1.5225")


def test_the_price_in_force_on_the_request_date() -> None:
    # o3 cost $10/$40 until 2025-06-09 and $2/$8 from 2025-06-10
    catalog = Catalog()
    before = catalog.price("openai", "o3", datetime(2025, 6, 9, 23, 59, tzinfo=UTC))
    after = catalog.price("openai", "o3", datetime(2025, 6, 10, 0, 0, tzinfo=UTC))
    assert cost(before, input=M, output=M) == 50
    assert cost(after, input=M, output=M) == 10
    # claude-opus-4-6 dropped its long-context tier on 2026-03-13
    old = catalog.price("anthropic", "claude-opus-4-6", datetime(2026, 3, 12, tzinfo=UTC),
                        prompt_tokens=300_000)  # fmt: skip
    new = catalog.price("anthropic", "claude-opus-4-6", datetime(2026, 3, 13, tzinfo=UTC),
                        prompt_tokens=300_000)  # fmt: skip
    assert cost(old, input=300_000) == 3  # $10 per million above 200k
    assert cost(new, input=300_000) == Decimal("1.5")  # $5 flat


def test_batch_and_service_tier_prices() -> None:
    # claude-haiku-4-5 batch (from 2026-10-14): $0.5 input, $2.5 output (standard: $1, $5)
    catalog = Catalog()
    standard = catalog.price("anthropic", "claude-haiku-4-5", DAY)
    batch = catalog.price("anthropic", "claude-haiku-4-5", DAY, batch=True)
    assert cost(standard, input=4 * M, output=M) == 9
    assert cost(batch, input=4 * M, output=M) == Decimal("4.5")
    # gpt-5 flex (from 2026-10-12): $0.625 input instead of $1.25
    flex = catalog.price("openai", "gpt-5", DAY, service_tier="flex")
    assert flex is not None and flex.billed.input == Decimal("0.625")


def test_an_unknown_model_or_provider_has_no_price_never_zero() -> None:
    catalog = Catalog()
    assert catalog.price("openai", "gpt-imaginary-9", DAY) is None
    # a known model name under a provider the catalog does not know is not guessed
    assert catalog.price("hosted_vllm", "gpt-4o-mini", DAY) is None


def test_provider_names_of_otel_and_litellm_map_to_the_catalog() -> None:
    catalog = Catalog()
    for provider in ("openai", "azure.ai.openai", "OpenAI"):
        assert catalog.price(provider, "gpt-4o-mini", DAY) is not None, provider
    assert catalog.price("gcp.gemini", "gemini-2.5-flash", DAY) is not None


def test_a_model_override_takes_precedence_over_the_catalog_and_discounts() -> None:
    rules = PriceRules(
        discounts={"openai": Decimal(50)},
        models={"openai/gpt-4o-mini*": ModelOverride(input=Decimal("0.1"), output=Decimal("0.4"))},
    )
    price = Catalog(rules).price("openai", "gpt-4o-mini-2024-07-18", DAY)
    assert price is not None
    assert price.source == "[prices.models] openai/gpt-4o-mini*"
    assert cost(price, input=M, cache_read=M, output=M) == Decimal("0.6")  # read = input
    assert cost(price, billed=False, input=M, output=M) == Decimal("0.5")  # list = the override


def test_a_discount_lowers_the_billed_price_and_keeps_the_list_price() -> None:
    rules = PriceRules(discounts={"openai": Decimal(10), "openai/gpt-4o-mini*": Decimal("12.5")})
    catalog = Catalog(rules)
    mini = catalog.price("openai", "gpt-4o-mini", DAY)
    assert mini is not None
    assert cost(mini, input=M, output=M) == Decimal("0.65625")  # 0.75 less 12.5%
    assert cost(mini, billed=False, input=M, output=M) == Decimal("0.75")
    assert mini.source.endswith("less 12.5% ([prices.discounts] openai/gpt-4o-mini*)")
    o3 = catalog.price("openai", "o3", DAY)
    assert cost(o3, input=M) == Decimal("1.8")  # $2 less 10%


def test_self_hosted_model_prices() -> None:
    rules = PriceRules(
        models={
            "vllm/llama-3.1-70b*": ModelOverride(
                input=Decimal("0.20"), output=Decimal("0.60"), currency="EUR"
            )
        }
    )
    price = Catalog(rules).price("vllm", "llama-3.1-70b-instruct", DAY)
    assert price is not None and price.billed.currency == "EUR"
    assert cost(price, input=2000, output=1000, reasoning=500) == Decimal("0.0013")


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["openai", "openai/gpt-4o*"], "openai/gpt-4o*"),
        (["openai/gpt-4o*", "openai/gpt-4o-mini"], "openai/gpt-4o-mini"),
        (["openai/*", "openai/gpt-*"], "openai/gpt-*"),
        (["anthropic"], None),
        (["OpenAI"], "OpenAI"),
    ],
)
def test_the_most_specific_pattern_wins(keys: list[str], expected: str | None) -> None:
    assert most_specific(dict.fromkeys(keys, 1), "openai", "gpt-4o-mini") == expected
