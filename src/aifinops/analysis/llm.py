"""LLM costs: what the price catalog says against what the vendor charged.

``llm_usage`` keeps both where the vendor reports its own cost: ``cost`` (tokens priced with
genai-prices and ``[prices]``) and ``vendor_cost`` (OpenAI's costs API, Anthropic's cost report,
LiteLLM's ``spend``). The vendor's cost may sit on the same row (LiteLLM) or on separate ``cost``
rows of the same day (OpenAI, Anthropic); :func:`vendor_cost_difference` lines them up per
provider, UTC day, model and project/workspace, so either layout compares.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.engine import Engine

#: the dimensions the comparison is made by
BY = ("provider", "day", "model", "sub_account")


def vendor_cost_difference(engine: Engine, *, tolerance: Decimal | None = None) -> ir.Table:
    """Per provider, day, model and project/workspace: ``cost`` (priced), ``vendor_cost``,
    ``cost_difference`` (priced - vendor) and ``relative`` (that / vendor cost).

    Only groups that have a vendor cost are compared. With ``tolerance`` (a fraction, 0.01 =
    1%), only the groups that differ by more are kept. Costs in different currencies are not
    compared (``currency`` is a key).
    """
    usage = engine.table("llm_usage")
    keyed = usage.mutate(
        day=usage.start_time.date(),
        model=_base_model(usage.model),
        sub_account=usage.project_id.fill_null(usage.workspace_id),
        money=usage.currency.fill_null(usage.vendor_currency),
    )
    grouped = keyed.group_by([*BY, "money"]).aggregate(
        cost=keyed.cost.sum(), vendor_cost=keyed.vendor_cost.sum()
    )
    compared = grouped.filter(grouped.vendor_cost.notnull()).rename(currency="money")
    compared = compared.mutate(cost_difference=compared.cost - compared.vendor_cost)
    difference = compared["cost_difference"]
    compared = compared.mutate(
        relative=(difference / compared.vendor_cost.nullif(0)).cast("float64")
    )
    if tolerance is not None:
        limit = compared.vendor_cost.abs() * float(tolerance)
        difference = compared["cost_difference"]
        compared = compared.filter(difference.isnull() | (difference.abs() > limit))
    return compared.order_by([compared.day, compared.provider, compared.model])


def _base_model(model: ir.StringValue) -> ir.StringValue:
    """A model name without a provider prefix (``openai/gpt-4o`` -> ``gpt-4o``)."""
    return model.re_replace(r"^[^/]+/", "")
