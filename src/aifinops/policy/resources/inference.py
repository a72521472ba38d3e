"""``inference-deployment``: model serving endpoints.

Two sources, both real data only:

* **managed endpoints in the bills**: cost rows whose ResourceId names an endpoint — SageMaker
  (``arn:aws:sagemaker:...:endpoint/NAME``), Vertex AI (``.../endpoints/ID``), Azure Machine
  Learning online endpoints (``.../onlineEndpoints/NAME``) — or whose ResourceType says
  endpoint. Token-priced services (Bedrock, Azure OpenAI, Vertex AI Gemini calls) have no
  deployment to act on and are not listed.
* **self-hosted deployments**: :func:`aifinops.analysis.self_hosted.self_hosted`'s rows: a served
  model's GPU cost (its machines' allocated cost) and the tokens it served, where tokens served
  are recorded (``llm_usage`` of a self-hosted provider, or ``business_metrics``). Needs
  ``aifinops allocate``; without it only managed endpoints are listed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from aifinops.analysis.common import within
from aifinops.errors import QueryError
from aifinops.model.timewindow import Window
from aifinops.policy.model import FieldSpec, Resource, tag_any_case
from aifinops.policy.registry import ResourceKind, resource_kinds
from aifinops.policy.resources.gpu import days_between, parse_tags

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.policy.context import PolicyContext
    from aifinops.policy.policies import Policy

ENDPOINT_ID = r"(?i)(:endpoint/|/endpoints/|/onlineendpoints/)"
PLATFORMS = (
    (r"(?i):sagemaker:", "sagemaker"),
    (r"(?i)/endpoints/", "vertex-ai"),
    (r"(?i)/onlineendpoints/", "azure-ml"),
)
INSTANCE_TYPE = r"\b(ml\.[a-z0-9]+\.[a-z0-9]+|[a-z][a-z0-9]*-[a-z]+-[0-9]+)\b"
SELF_HOSTED = "self-hosted"


@resource_kinds.register("inference-deployment")
class InferenceDeployment(ResourceKind):
    """Serving endpoints: managed endpoints billed by the hour (SageMaker, Vertex AI, Azure ML
    online endpoints) and self-hosted deployments (a served model's GPU machines, where tokens
    served are recorded). ``platform`` says which.

    Example::

        resource: inference-deployment
        window: 7d
        query:
          platforms: [sagemaker]
    """

    fields = (
        FieldSpec("platform", "string", "sagemaker, vertex-ai, azure-ml, endpoint or self-hosted."),
        FieldSpec("provider", "string", "ProviderName (self-hosted: None)."),
        FieldSpec("service", "string", "ServiceName of its cost rows."),
        FieldSpec("region", "string", "RegionId."),
        FieldSpec("account", "string", "SubAccountId."),
        FieldSpec("instance_type", "string", "Instance type read from the charge description."),
        FieldSpec("cost", "money", "Cost over the policy's window."),
        FieldSpec("currency", "string", "BillingCurrency."),
        FieldSpec("instance_hours", "number", "Usage hours billed in the window (managed)."),
        FieldSpec("tokens", "integer", "Tokens served in the window (self-hosted)."),
        FieldSpec("requests", "integer", "Requests served in the window (self-hosted)."),
        FieldSpec("cost_per_1m_tokens", "money", "cost x 1,000,000 / tokens (self-hosted)."),
        FieldSpec("first_seen", "date", "First day billed (managed)."),
        FieldSpec("last_seen", "date", "Last day billed (managed)."),
        FieldSpec("age_days", "integer", "Days since first billed (managed)."),
    )
    query_schema: ClassVar[dict[str, Any]] = {
        "platforms": {
            "type": "array",
            "items": {"enum": ["sagemaker", "vertex-ai", "azure-ml", "endpoint", SELF_HOSTED]},
            "description": "Only these platforms (default: all).",
        },
        "key": {
            "type": "string",
            "description": "Allocation dimension naming a self-hosted deployment (default model).",
        },
    }
    identity = ("platform", "provider", "service", "region", "account", "instance_type")
    measures = frozenset({"cost", "cost-window", "age"})
    default_window = "7d"

    def load(self, ctx: PolicyContext, policy: Policy) -> list[Resource]:
        window = ctx.window(policy, self.cost_table)
        found = self._managed(ctx, window) + self._self_hosted(ctx, policy, window)
        wanted = policy.query.get("platforms")
        return [r for r in found if not wanted or r.data["platform"] in wanted]

    def _managed(self, ctx: PolicyContext, window: Window) -> list[Resource]:
        engine, metric = ctx.engine, ctx.workspace.settings.report.metric
        history = _endpoint_rows(engine.table("costs"))
        history = history.filter(history.x_ChargeDate < window.end)
        seen = history.group_by("ResourceId").aggregate(
            first=history.ChargePeriodStart.min(), last=history.x_ChargeDate.max()
        )
        rows = within(history, window)
        seconds = engine.epoch_seconds(rows.ChargePeriodEnd) - engine.epoch_seconds(
            rows.ChargePeriodStart
        )
        usage = rows.ChargeCategory == "Usage"
        g = rows.group_by(["ResourceId", "BillingCurrency"]).aggregate(
            name=rows.ResourceName.max(),
            provider=rows.ProviderName.max(),
            service=rows.ServiceName.max(),
            region=rows.RegionId.max(),
            account=rows.SubAccountId.max(),
            tags=rows.Tags.argmax(rows.ChargePeriodEnd),
            described=rows.ChargeDescription.max(),
            cost=rows[metric.column].sum(),
            hours=(seconds.cast("float64") / 3600).sum(where=usage),
        )
        g = g.join(seen, "ResourceId")
        return [_managed(r, ctx) for r in engine.execute(g).to_pylist()]

    def _self_hosted(self, ctx: PolicyContext, policy: Policy, window: Window) -> list[Resource]:
        wanted = policy.query.get("platforms")
        if wanted and SELF_HOSTED not in wanted:
            return []
        key = policy.query.get("key", "model")
        try:
            rows = ctx.workspace.self_hosted(key, start=str(window.start), end=_last(window))
        except QueryError:  # not allocated: managed endpoints only
            return []
        return [_hosted(r, key) for r in rows.to_pylist() if r["priced_as"] == "self-hosted GPU"]

    def cost(self, ctx: PolicyContext, policy: Policy, window: Window) -> dict[str, Decimal]:
        return {r.id: r.data["cost"] for r in self.load_for(ctx, policy, window)}

    def load_for(self, ctx: PolicyContext, policy: Policy, window: Window) -> list[Resource]:
        found = self._managed(ctx, window) + self._self_hosted(ctx, policy, window)
        return [r for r in found if r.data["cost"] is not None]


def _endpoint_rows(costs: ir.Table) -> ir.Table:
    rid = costs.ResourceId.fill_null("")
    kind = costs.ResourceType.fill_null("").lower()
    return costs.filter(rid.re_search(ENDPOINT_ID) | kind.contains("endpoint"))


def _platform(resource_id: str) -> str:
    import re

    return next((p for pattern, p in PLATFORMS if re.search(pattern, resource_id)), "endpoint")


def _managed(r: dict[str, Any], ctx: PolicyContext) -> Resource:
    import re

    tags = parse_tags(r["tags"])
    found = re.search(INSTANCE_TYPE, r["described"] or "")
    rid = r["ResourceId"]
    return Resource(
        "inference-deployment",
        {
            "id": rid,
            "name": r["name"] or rid.rsplit("/", 1)[-1],
            "owner": tag_any_case(tags, "owner"),
            "team": tag_any_case(tags, "team"),
            "tags": tags,
            "platform": _platform(rid),
            "provider": r["provider"],
            "service": r["service"],
            "region": r["region"],
            "account": r["account"],
            "instance_type": found.group(1) if found else None,
            "cost": r["cost"],
            "currency": r["BillingCurrency"],
            "instance_hours": round(float(r["hours"] or 0), 2),
            "tokens": None,
            "requests": None,
            "cost_per_1m_tokens": None,
            "first_seen": r["first"].date(),
            "last_seen": r["last"],
            "age_days": days_between(r["first"], ctx.as_of),
        },
    )


def _hosted(r: dict[str, Any], key: str) -> Resource:
    value = r[key]
    return Resource(
        "inference-deployment",
        {
            "id": f"{SELF_HOSTED}/{value}",
            "name": value,
            "owner": None,
            "team": None,
            "tags": {key: value},
            "platform": SELF_HOSTED,
            "cost": r["cost"],
            "currency": r["BillingCurrency"],
            "tokens": r["total_tokens"],
            "requests": r["requests"],
            "cost_per_1m_tokens": r["cost_per_1m_tokens"],
        }
        | dict.fromkeys(
            (
                "provider",
                "service",
                "region",
                "account",
                "instance_type",
                "instance_hours",
                "first_seen",
                "last_seen",
                "age_days",
            )
        ),
    )


def _last(window: Window) -> str:
    from datetime import timedelta

    assert window.end is not None
    return str(window.end - timedelta(days=1))
