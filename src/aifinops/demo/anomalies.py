"""The demo's planted cost anomalies: what happened, when, where, and what should explain it.

Each anomaly lives in the final month of the demo and is made by the generator module that owns
its data: the runaway p5 job is an instance pool on a last-month schedule
(:mod:`aifinops.demo.roster`), the NAT gateway burst and the duplicated dataset add quantity to
one resource of a meter pool (:func:`aifinops.demo.blocks.meter_blocks`), and the looping agent
key adds usage to the Anthropic usage report (:mod:`aifinops.demo.usage`), which ingest prices
into FOCUS cost rows. ``build_company(anomalies=False)`` leaves every one of them out: the same
company, anomaly-free, for measuring false positives.

The manifest lists them under ``expected.anomalies`` (:func:`manifest_entries`) so tests can
check that ``aifinops anomalies`` finds each one on its first day with the named causes among
the top ones. Days are ``[first, last)`` days of the final month, as in
:class:`aifinops.demo.company.Schedule`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

#: An Anthropic usage result for the looping key: its api key id, workspace, model, and the
#: input tokens sent on each day of the loop (the day it started, the day it was stopped).
LOOP_KEY = "apikey_ticket_triage_agent"
LOOP_WORKSPACE = "wrkspc_support_agents"
LOOP_MODEL = "claude-haiku-4-5-20251001"
LOOP_TOKENS = (700_000_000, 1_650_000_000)


@dataclass(frozen=True)
class Planted:
    key: str
    what: str
    kind: str  # "level shift" (a new steady level) | "spike" (a day or two, then back)
    days: tuple[int, int]  # [first, last) day of the final month
    pool: str  # the instance pool, meter pool or LLM workspace it is planted in
    source: str  # the data it shows in first: "focus" (a bill) or the usage source
    resource: int | None = None  # meters: which of the pool's resources (0-based)
    extra: float = 0.0  # meters: pricing units added a day
    scope: tuple[tuple[str, str], ...] = ()  # narrowest watched scopes it stands out in
    causes: tuple[tuple[str, str], ...] = ()  # drill dimension -> value (a glob) in top causes

    def dates(self, month_start: date) -> tuple[date, date]:
        """First and last day (inclusive) in the month starting ``month_start``."""
        first, last = self.days
        return month_start + timedelta(days=first - 1), month_start + timedelta(days=last - 2)


PLANTED = (
    Planted(
        "p5-runaway",
        "an 8-node p5.48xlarge ablation job left running for 16 days",
        "level shift",
        (9, 25),
        "aws-p5-runaway",
        "focus",
        scope=(("team", "research"), ("provider", "AWS")),
        causes=(
            ("service", "Amazon Elastic Compute Cloud"),
            ("account", "kestrel-research"),
            ("resource", "p5-ablation-*"),
            ("team", "research"),
            ("project", "llm-13b-ablation"),
        ),
    ),
    Planted(
        "llm-key-loop",
        "a new ticket-triage agent's API key stuck in a retry loop for two days "
        "(Claude Haiku 4.5, about 2.4B input tokens)",
        "spike",
        (14, 16),
        LOOP_WORKSPACE,
        "anthropic-usage",
        scope=(("team", "product-ml"), ("provider", "Anthropic")),
        causes=(
            ("service", "Anthropic API"),
            ("account", LOOP_WORKSPACE),
            ("team", "product-ml"),
            ("api_key", LOOP_KEY),
            ("llm_model", LOOP_MODEL),
        ),
    ),
    Planted(
        "nat-burst",
        "a 90 TB dataset pull through NAT gateway nat-03 instead of the S3 gateway endpoint",
        "spike",
        (20, 21),
        "aws-nat-bytes",
        "focus",
        resource=2,
        extra=90_000.0,  # GB processed
        scope=(("service", "Amazon Virtual Private Cloud"),),
        causes=(
            ("service", "Amazon Virtual Private Cloud"),
            ("account", "kestrel-shared-services"),
            ("resource", "nat-03"),
        ),
    ),
    Planted(
        "dataset-copy",
        "a preprocessing job wrote a second copy of a 1.1 PB tokenised corpus into "
        "kestrel-datasets-01 (storage steps up and stays)",
        "level shift",
        (27, 32),
        "aws-s3-datasets",
        "focus",
        resource=0,
        extra=1_100_000 / 31,  # GB-months a day: 1.1 PB kept for the month
        scope=(("team", "data-platform"), ("service", "Amazon Simple Storage Service")),
        causes=(
            ("service", "Amazon Simple Storage Service"),
            ("resource", "kestrel-datasets-01"),
            ("team", "data-platform"),
        ),
    ),
)


def planted(anomalies: bool) -> tuple[Planted, ...]:
    return PLANTED if anomalies else ()


def dropped_pools(anomalies: bool) -> frozenset[str]:
    """Instance pools to leave out: those that exist only as a planted anomaly, without them."""
    if anomalies:
        return frozenset()
    return frozenset(p.pool for p in PLANTED if p.source == "focus" and p.resource is None)


def meter_extra(items: tuple[Planted, ...], pool: str) -> list[Planted]:
    return [p for p in items if p.pool == pool and p.resource is not None]


def loop_tokens(items: tuple[Planted, ...], day: date, month_start: date) -> int:
    """Input tokens the looping key sends on ``day`` (0 outside the loop or without it)."""
    for item in items:
        if item.key != "llm-key-loop":
            continue
        first, last = item.dates(month_start)
        if first <= day <= last:
            return LOOP_TOKENS[min((day - first).days, len(LOOP_TOKENS) - 1)]
    return 0


def manifest_entries(items: tuple[Planted, ...], month_start: date) -> list[dict[str, Any]]:
    """``expected.anomalies`` of the manifest: one entry per planted anomaly."""
    out = []
    for item in items:
        first, last = item.dates(month_start)
        out.append(
            {
                "key": item.key,
                "what": item.what,
                "kind": item.kind,
                "first_day": first.isoformat(),
                "last_day": last.isoformat(),
                "pool": item.pool,
                "source": item.source,
                "scope": dict(item.scope),
                "root_cause": dict(item.causes),
            }
        )
    return out
