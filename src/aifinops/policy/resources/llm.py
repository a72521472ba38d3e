"""``llm-key`` and ``llm-team``: LLM API spend from ``llm_usage`` (usage records) per API key and
per team label, with tokens and requests (:func:`aifinops.analysis.llm_costs.llm_usage_totals`:
exact sums). Spend before the window and growth are the ``spend-growth`` filter's."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from aifinops.analysis.llm_costs import LlmCostQuery, dimension, llm_usage_totals
from aifinops.model.timewindow import Window
from aifinops.policy.model import FieldSpec, Resource
from aifinops.policy.registry import ResourceKind, resource_kinds
from aifinops.policy.resources.gpu import days_between

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.policy.context import PolicyContext
    from aifinops.policy.policies import Policy

NO_LABEL = "(no team label)"
_FIELDS = (
    FieldSpec("providers", "list", "LLM providers used."),
    FieldSpec("models", "list", "Models used."),
    FieldSpec("cost", "money", "Spend over the policy's window (priced tokens)."),
    FieldSpec("currency", "string", "Currency of the spend."),
    FieldSpec("requests", "integer", "Requests in the window (where the source counts them)."),
    FieldSpec("input_tokens", "integer", "Input tokens: uncached, cache reads and writes."),
    FieldSpec("output_tokens", "integer", "Output tokens (reasoning included)."),
    FieldSpec("tokens", "integer", "Input + output tokens."),
    FieldSpec("first_seen", "date", "First day of use (all history to the run day)."),
    FieldSpec("last_seen", "date", "Last day of use."),
    FieldSpec("age_days", "integer", "Days since first use."),
)


class _LlmSpend(ResourceKind):
    """Spend of ``llm_usage`` grouped by :meth:`group`."""

    fields = _FIELDS
    identity = ()
    measures = frozenset({"cost", "cost-window", "age"})
    default_window = "7d"
    cost_table = "llm_usage"
    kind_name: ClassVar[str] = ""

    def group(self, policy: Policy) -> str:
        raise NotImplementedError

    def load(self, ctx: PolicyContext, policy: Policy) -> list[Resource]:
        if not ctx.engine.has_table("llm_usage"):
            return []
        window = ctx.window(policy, self.cost_table)
        spec = self.group(policy)
        totals = llm_usage_totals(ctx.engine, LlmCostQuery(by=(spec,), window=window))
        facts = self._facts(ctx, spec, window.end)
        out = []
        for r in ctx.engine.execute(totals).to_pylist():
            out.append(self._resource(ctx, r[spec], r, facts.get(r[spec], {})))
        return sorted(out, key=lambda r: r.id)

    def _facts(self, ctx: PolicyContext, spec: str, end: Any) -> dict[Any, dict[str, Any]]:
        """Per group over all history before ``end``: first/last use, providers, models, labels."""
        from aifinops.analysis.llm_costs import _usage_rows

        u = _usage_rows(ctx.engine, Window(None, end))
        u = u.mutate(_group=dimension(u, spec))
        g = u.group_by("_group").aggregate(
            first=u.start_time.min(),
            last=u.start_time.max(),
            providers=u.provider.collect(distinct=True),
            models=u.model.collect(distinct=True),
            teams=_label(u, "team").collect(distinct=True),
            owners=_label(u, "owner").collect(distinct=True),
            users=u.user_id.collect(distinct=True),
        )
        return {r["_group"]: r for r in ctx.engine.execute(g).to_pylist()}

    def _resource(
        self, ctx: PolicyContext, key: Any, r: dict[str, Any], facts: dict[str, Any]
    ) -> Resource:
        inputs = sum(int(r[c] or 0) for c in ("uncached_input_tokens", "cache_read_tokens"))
        inputs += int(r["cache_write_tokens"] or 0)
        output = int(r["output_tokens"] or 0)
        teams = sorted(t for t in facts.get("teams") or () if t)
        owners = sorted(t for t in facts.get("owners") or () if t)
        first, last = facts.get("first"), facts.get("last")
        return Resource(
            self.kind_name,
            {
                "id": key if key is not None else NO_LABEL,
                "name": key if key is not None else NO_LABEL,
                "owner": owners[0] if len(owners) == 1 else None,
                "team": teams[0] if len(teams) == 1 else None,
                "tags": {},
                "providers": sorted(facts.get("providers") or ()),
                "models": sorted(facts.get("models") or ()),
                "cost": r["cost"],
                "currency": r["currency"],
                "requests": r["requests"],
                "input_tokens": inputs,
                "output_tokens": output,
                "tokens": inputs + output,
                "first_seen": first.date() if first else None,
                "last_seen": last.date() if last else None,
                "age_days": days_between(first, ctx.as_of),
            },
        )

    def cost(self, ctx: PolicyContext, policy: Policy, window: Window) -> dict[str, Decimal]:
        spec = self.group(policy)
        totals = llm_usage_totals(ctx.engine, LlmCostQuery(by=(spec,), window=window))
        out: dict[str, Decimal] = {}
        for r in ctx.engine.execute(totals).to_pylist():
            key = r[spec] if r[spec] is not None else NO_LABEL
            out[key] = out.get(key, Decimal(0)) + (r["cost"] or Decimal(0))
        return out


def _label(u: ir.Table, key: str) -> ir.StringValue:
    return u.labels_map.get(key)


@resource_kinds.register("llm-key")
class LlmKey(_LlmSpend):
    """LLM API keys (``api_key_id`` of ``llm_usage``: an OpenAI/Anthropic key id, a LiteLLM
    virtual key hash) with their spend, tokens and requests in the window. Rows without a key id
    are not listed (see ``llm-team``).

    Example::

        resource: llm-key
        window: 7d
    """

    kind_name = "llm-key"

    def group(self, policy: Policy) -> str:
        return "api_key_id"

    def load(self, ctx: PolicyContext, policy: Policy) -> list[Resource]:
        return [r for r in super().load(ctx, policy) if r.id != NO_LABEL]


@resource_kinds.register("llm-team")
class LlmTeam(_LlmSpend):
    """LLM spend per team label of ``llm_usage`` (``query.label``, default ``team``: what a
    gateway such as LiteLLM records). Usage without the label is one resource, ``(no team
    label)``, so unlabelled spend can be caught too.

    Example::

        resource: llm-team
        query:
          label: team
    """

    kind_name = "llm-team"
    query_schema: ClassVar[dict[str, Any]] = {
        "label": {"type": "string", "minLength": 1, "description": "Label naming the team."}
    }

    def group(self, policy: Policy) -> str:
        return "label:" + str(policy.query.get("label", "team"))
