"""Priced ``llm_usage`` rows -> FOCUS rows of ``costs`` (runs after each LLM load).

Granularity: one FOCUS row per ingested file x charge period x provider x model x organisation x
project/workspace x API key x service tier x batch x labels x price source. A usage row whose
period is an hour or longer (an API bucket) keeps its period; shorter ones (requests, spans,
minute buckets) are summed into the UTC hour they start in. Rows of ``record_type = 'cost'``
(the vendor's own cost reports) are not converted: they are kept to compare with (see
:mod:`aifinops.analysis.llm`), converting them as well would count the spend twice.

The link: a derived row carries the ``x_IngestFileId`` of the ``llm_usage`` file it came from.
After a load, the derived rows of the load's files and of every file whose rows the load
replaced are deleted and derived again from what is left in ``llm_usage``, so a re-export that
replaces usage replaces its costs too, and nothing is counted twice.
"""

from __future__ import annotations

import duckdb

from aifinops.model.prices import canonical_provider

SOURCES = ("openai-usage", "anthropic-usage", "litellm", "otel-genai")

#: x_ columns added to ``costs`` (token counts by kind, and what priced the row)
EXTRA_COLUMNS = {
    "x_Requests": "BIGINT",
    "x_UncachedInputTokens": "BIGINT",
    "x_CacheReadTokens": "BIGINT",
    "x_CacheWrite5mTokens": "BIGINT",
    "x_CacheWrite1hTokens": "BIGINT",
    "x_OutputTokens": "BIGINT",
    "x_ReasoningTokens": "BIGINT",
    "x_PriceSource": "VARCHAR",
    "x_LlmSource": "VARCHAR",
    "x_ApiKeyId": "VARCHAR",
    "x_ServiceTier": "VARCHAR",
}

_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic", "google": "Google", "aws": "AWS",
          "azure": "Microsoft", "x-ai": "xAI", "deepseek": "DeepSeek", "mistral": "Mistral AI",
          "cohere": "Cohere", "groq": "Groq", "together": "Together AI"}  # fmt: skip

_DERIVE = """
INSERT INTO costs BY NAME
WITH usage AS (
  SELECT *,
    end_time IS NOT NULL AND end_time >= start_time + INTERVAL 1 HOUR AS bucket
  FROM llm_usage
  WHERE record_type = 'usage' AND x_IngestFileId IN ({ids})
), grouped AS (
  SELECT
    x_IngestFileId, source, provider, model, organization_id,
    coalesce(project_id, workspace_id) AS sub_account,
    CASE WHEN project_id IS NOT NULL THEN 'Project'
         WHEN workspace_id IS NOT NULL THEN 'Workspace' END AS sub_account_type,
    api_key_id, service_tier, batch, labels, price_source, currency,
    CASE WHEN bucket THEN start_time ELSE date_trunc('hour', start_time) END AS period_start,
    CASE WHEN bucket THEN end_time
         ELSE date_trunc('hour', start_time) + INTERVAL 1 HOUR END AS period_end,
    min(x_SourceRecord) AS first_record,
    sum(coalesce(requests, 0)) AS requests,
    sum(coalesce(uncached_input_tokens, 0)) AS uncached,
    sum(coalesce(cache_read_tokens, 0)) AS cache_read,
    sum(coalesce(cache_write_5m_tokens, 0)) AS cache_write_5m,
    sum(coalesce(cache_write_1h_tokens, 0)) AS cache_write_1h,
    sum(coalesce(output_tokens, 0)) AS output,
    sum(coalesce(reasoning_tokens, 0)) AS reasoning,
    sum(cost) AS cost, sum(list_cost) AS list_cost
  FROM usage
  GROUP BY ALL
)
SELECT
  g.x_IngestFileId, g.first_record AS x_SourceRecord,
  coalesce(g.organization_id, g.provider) AS BillingAccountId,
  coalesce(g.organization_id, n.name) AS BillingAccountName,
  g.sub_account AS SubAccountId, g.sub_account AS SubAccountName,
  g.sub_account_type AS SubAccountType,
  g.currency AS BillingCurrency, g.currency AS PricingCurrency,
  date_trunc('month', g.period_start) AS BillingPeriodStart,
  date_trunc('month', g.period_start) + INTERVAL 1 MONTH AS BillingPeriodEnd,
  g.period_start AS ChargePeriodStart, g.period_end AS ChargePeriodEnd,
  'Usage' AS ChargeCategory, 'Usage-Based' AS ChargeFrequency,
  g.model || ' tokens' AS ChargeDescription,
  g.cost AS BilledCost, g.cost AS EffectiveCost, g.cost AS ContractedCost,
  g.list_cost AS ListCost, g.cost AS PricingCurrencyEffectiveCost,
  g.uncached + g.cache_read + g.cache_write_5m + g.cache_write_1h + g.output AS ConsumedQuantity,
  'Tokens' AS ConsumedUnit,
  g.uncached + g.cache_read + g.cache_write_5m + g.cache_write_1h + g.output AS PricingQuantity,
  'Tokens' AS PricingUnit,
  n.name AS ServiceProviderName, n.name AS ProviderName, n.name AS PublisherName,
  n.name AS HostProviderName, n.name AS InvoiceIssuerName,
  'AI and Machine Learning' AS ServiceCategory, 'Generative AI' AS ServiceSubcategory,
  n.name || ' API' AS ServiceName,
  g.model AS SkuId, g.model AS ResourceType,
  g.labels AS Tags,
  g.requests AS x_Requests, g.uncached AS x_UncachedInputTokens,
  g.cache_read AS x_CacheReadTokens, g.cache_write_5m AS x_CacheWrite5mTokens,
  g.cache_write_1h AS x_CacheWrite1hTokens, g.output AS x_OutputTokens,
  g.reasoning AS x_ReasoningTokens, g.price_source AS x_PriceSource, g.source AS x_LlmSource,
  g.api_key_id AS x_ApiKeyId,
  g.service_tier || CASE WHEN g.batch THEN ' (batch)' ELSE '' END AS x_ServiceTier,
  CAST(g.period_start AS DATE) AS x_ChargeDate,
  {tags_map} AS x_TagsMap
FROM grouped g JOIN llm_provider_names n ON n.provider = g.provider
"""


def derive_costs(con: duckdb.DuckDBPyConnection, file_ids: list[int]) -> list[str]:
    """The ``after_load`` of every LLM source: (re)derive FOCUS rows (see the module docstring);
    notes where a vendor's cost report differs from the priced usage of the same days."""
    from aifinops.store import schema

    affected = _affected_files(con, file_ids)
    existing = {r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE costs)").fetchall()}
    for name, sql_type in EXTRA_COLUMNS.items():
        if name not in existing:
            con.execute(f"ALTER TABLE costs ADD COLUMN {name} {sql_type}")
    ids = ", ".join(str(i) for i in affected)
    con.execute(f"DELETE FROM costs WHERE x_IngestFileId IN ({ids})")
    providers = [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT provider FROM llm_usage WHERE x_IngestFileId IN ({ids})"
        ).fetchall()
    ]
    names = [(p, provider_name(p)) for p in providers] or [("", "")]
    con.execute("CREATE OR REPLACE TEMP TABLE llm_provider_names (provider VARCHAR, name VARCHAR)")
    con.executemany("INSERT INTO llm_provider_names VALUES (?, ?)", names)
    try:
        con.execute(
            _DERIVE.format(ids=ids, tags_map=schema.json_map("Tags").replace('"Tags"', "g.labels"))
        )
    finally:
        con.execute("DROP TABLE llm_provider_names")
    return _vendor_notes(con, file_ids)


#: relative difference between priced and vendor cost that the ingest summary notes
TOLERANCE = 0.01

_COMPARE = """
WITH days AS (
  SELECT DISTINCT provider, CAST(start_time AS DATE) AS day FROM llm_usage
  WHERE x_IngestFileId IN ({ids}) AND source IN ('openai-usage', 'anthropic-usage')
), groups AS (
  SELECT u.provider, CAST(u.start_time AS DATE) AS day,
    regexp_replace(u.model, '^[^/]+/', '') AS model,
    coalesce(u.project_id, u.workspace_id) AS sub_account,
    sum(u.cost) AS cost, sum(u.vendor_cost) AS vendor
  FROM llm_usage u JOIN days d ON d.provider = u.provider AND d.day = CAST(u.start_time AS DATE)
  WHERE u.source IN ('openai-usage', 'anthropic-usage')
  GROUP BY ALL
)
SELECT count(*), sum(cost), sum(vendor), min(day), max(day) FROM groups
WHERE cost IS NOT NULL AND vendor IS NOT NULL AND abs(cost - vendor) > abs(vendor) * {tolerance}
"""


def _vendor_notes(con: duckdb.DuckDBPyConnection, file_ids: list[int]) -> list[str]:
    """API exports: usage and cost reports arrive as separate files (LiteLLM's readers note
    their own, row by row)."""
    ids = ", ".join(str(i) for i in file_ids)
    row = con.execute(_COMPARE.format(ids=ids, tolerance=TOLERANCE)).fetchone()
    if row is None or not row[0]:
        return []
    count, ours, vendor, first, last = row
    return [
        f"the vendor's cost report differs from the priced usage by more than "
        f"{TOLERANCE:.0%} in {count} provider x day x model x project group(s) "
        f"({first} to {last}): priced {ours.normalize():f}, vendor {vendor.normalize():f}; "
        "see aifinops.analysis.llm.vendor_cost_difference"
    ]


def _affected_files(con: duckdb.DuckDBPyConnection, file_ids: list[int]) -> list[int]:
    """The load's files and the LLM files whose rows the load replaced (their derived rows
    must follow what is left of them)."""
    ids = ", ".join(str(i) for i in file_ids)
    sources = ", ".join(f"'{s}'" for s in SOURCES)
    older = con.execute(
        "SELECT file_id FROM ingest_log WHERE source IN (" + sources + ") AND superseded_by_load "
        f"IN (SELECT load_id FROM ingest_log WHERE file_id IN ({ids}))"
    ).fetchall()
    return sorted({*file_ids, *(int(r[0]) for r in older)})


def provider_name(provider: str) -> str:
    """A provider's display name (ServiceProviderName): ``openai`` -> ``OpenAI``."""
    canonical = canonical_provider(provider)
    if canonical in _NAMES:
        return _NAMES[canonical]
    try:
        from genai_prices.data_snapshot import find_provider_by_id, get_snapshot

        found = find_provider_by_id(get_snapshot().providers, canonical)
    except LookupError:
        found = None
    return str(found.name) if found is not None else provider
