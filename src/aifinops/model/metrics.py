"""Cost metrics: which FOCUS cost column answers "how much"."""

from __future__ import annotations

from aifinops.model.enums import FocusEnum


class CostMetric(FocusEnum):
    """A cost measure.

    ``billed`` is cash basis (the invoice); ``effective`` is amortised (commitment purchases spread
    over the usage they cover); ``list`` is at public prices; ``contracted`` at negotiated prices
    before commitment discounts.
    """

    BILLED = "billed"
    EFFECTIVE = "effective"
    LIST = "list"
    CONTRACTED = "contracted"

    @property
    def column(self) -> str:
        return {
            CostMetric.BILLED: "BilledCost",
            CostMetric.EFFECTIVE: "EffectiveCost",
            CostMetric.LIST: "ListCost",
            CostMetric.CONTRACTED: "ContractedCost",
        }[self]
