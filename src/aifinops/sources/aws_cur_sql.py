"""The SQL that turns one typed block of an AWS CUR into FOCUS columns (see ``aws_cur``).

Every native column is named in its snake-case form (``line_item_unblended_cost``), which is
what CUR 2.0 / Data Exports and the legacy CUR in Parquet use; the legacy CSV headers
(``lineItem/UnblendedCost``) are renamed to it before the SQL runs. A column the file lacks is
replaced by a typed NULL, so one query serves every flavour of the report.

Money, per ``lineItem/LineItemType`` (the table in docs/sources/aws-cur.md explains each row):

* BilledCost is cash: ``line_item_unblended_cost``, except that usage covered by a Savings Plan
  and its ``SavingsPlanNegation`` are 0 (the plan's recurring fee is what is billed), as in
  AWS's own FOCUS export. The negation cancels the covered usage's unblended cost line for line,
  so the file's unblended total is kept.
* EffectiveCost is amortised: RI-covered usage carries ``reservation_effective_cost``,
  SP-covered usage ``savings_plan_savings_plan_effective_cost``. A recurring commitment fee
  (``RIFee``, ``SavingsPlanRecurringFee``) becomes two rows, as in the FOCUS commitment
  examples: the Purchase (BilledCost the fee, EffectiveCost 0) and its unused part, a Usage row
  with CommitmentDiscountStatus ``Unused`` (BilledCost 0, EffectiveCost the unused amortised
  upfront fee plus the unused recurring fee, or the plan's unused commitment);
  upfront fees (``Fee`` of a reservation, ``SavingsPlanUpfrontFee``) are 0, because their
  amortised share is already in the covered usage and the unused rows.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LineItemType:
    """How one ``lineItem/LineItemType`` is shown in FOCUS."""

    category: str  # ChargeCategory
    frequency: str  # ChargeFrequency
    commitment: str | None = None  # CommitmentDiscountStatus when a commitment is named
    correction: bool = False  # ChargeClass Correction


LINE_ITEM_TYPES: dict[str, LineItemType] = {
    "Usage": LineItemType("Usage", "Usage-Based"),
    "DiscountedUsage": LineItemType("Usage", "Usage-Based", "Used"),
    "SavingsPlanCoveredUsage": LineItemType("Usage", "Usage-Based", "Used"),
    "SavingsPlanNegation": LineItemType("Usage", "Usage-Based", "Used"),
    # the Purchase row; the Unused usage row added beside it is described by UNUSED below
    "RIFee": LineItemType("Purchase", "Recurring"),
    "SavingsPlanRecurringFee": LineItemType("Purchase", "Recurring"),
    "Fee": LineItemType("Purchase", "One-Time"),
    "SavingsPlanUpfrontFee": LineItemType("Purchase", "One-Time"),
    "Tax": LineItemType("Tax", "One-Time"),
    "Credit": LineItemType("Credit", "One-Time"),
    "Refund": LineItemType("Credit", "One-Time", correction=True),
    "BundledDiscount": LineItemType("Credit", "Usage-Based"),
    "Discount": LineItemType("Credit", "Usage-Based"),
    "EdpDiscount": LineItemType("Credit", "Usage-Based"),
    "PrivateRateDiscount": LineItemType("Credit", "Usage-Based"),
    "SppDiscount": LineItemType("Credit", "Usage-Based"),
    "DistributorDiscount": LineItemType("Credit", "Usage-Based"),
    "RiVolumeDiscount": LineItemType("Credit", "One-Time"),
}

#: the unused part of a recurring commitment fee, a row of its own
UNUSED = LineItemType("Usage", "Usage-Based", "Unused")
RECURRING_FEES = ("RIFee", "SavingsPlanRecurringFee")
COVERED = ("DiscountedUsage", "SavingsPlanCoveredUsage")
COMMITTED = (*COVERED, "SavingsPlanNegation")
CONSUMING = ("Usage", *COVERED, "SavingsPlanNegation")
UPFRONT = ("SavingsPlanUpfrontFee",)

#: native money columns (exact decimals) and time columns (UTC), snake-case names
MONEY = (
    "line_item_unblended_cost",
    "line_item_unblended_rate",
    "line_item_usage_amount",
    "pricing_public_on_demand_cost",
    "pricing_public_on_demand_rate",
    "reservation_effective_cost",
    "reservation_unused_amortized_upfront_fee_for_billing_period",
    "reservation_unused_recurring_fee",
    "reservation_unused_quantity",
    "reservation_amortized_upfront_fee_for_billing_period",
    "savings_plan_savings_plan_effective_cost",
    "savings_plan_total_commitment_to_date",
    "savings_plan_used_commitment",
    "savings_plan_amortized_upfront_commitment_for_billing_period",
)
TIMES = (
    "line_item_usage_start_date",
    "line_item_usage_end_date",
    "bill_billing_period_start_date",
    "bill_billing_period_end_date",
)
TEXT = (
    "bill_invoice_id",
    "bill_invoicing_entity",
    "bill_billing_entity",
    "bill_bill_type",
    "bill_payer_account_id",
    "bill_payer_account_name",
    "line_item_usage_account_id",
    "line_item_usage_account_name",
    "line_item_line_item_type",
    "line_item_product_code",
    "line_item_usage_type",
    "line_item_operation",
    "line_item_availability_zone",
    "line_item_resource_id",
    "line_item_currency_code",
    "line_item_line_item_description",
    "line_item_legal_entity",
    "product_product_name",
    "product_servicename",
    "product_region_code",
    "product_location",
    "product_sku",
    "product_product_family",
    "pricing_rate_code",
    "pricing_rate_id",
    "pricing_term",
    "pricing_unit",
    "reservation_reservation_a_r_n",
    "savings_plan_savings_plan_a_r_n",
)
#: CUR 2.0 map columns (MAP in Parquet, JSON text in CSV)
MAPS = ("product", "resource_tags")

X_COLUMNS = (
    "x_LineItemType",
    "x_UsageType",
    "x_Operation",
    "x_ProductCode",
    "x_ProductFamily",
    "x_PricingTerm",
    "x_PricingUnit",
    "x_BillType",
    "x_BillingEntity",
    "x_LegalEntity",
)


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _column(name: str, present: set[str]) -> str:
    if name in present:
        return f'"{name}"'
    if name in MONEY:
        return "CAST(NULL AS DECIMAL(38, 18))"
    return "CAST(NULL AS VARCHAR)"


def tags_sql(present: set[str], maps: set[str], tag_columns: dict[str, str]) -> str | None:
    """Tags as a JSON object: legacy ``resourceTags/...`` columns or the CUR 2.0 map."""
    if "resource_tags" in present:
        source = "resource_tags" if "resource_tags" in maps else "CAST(resource_tags AS JSON)"
        entries = (
            f"list_filter(map_entries(CAST({source} AS MAP(VARCHAR, VARCHAR))), "
            "lambda e: e.value IS NOT NULL AND e.value <> '')"
        )
        renamed = (
            f"list_transform({entries}, lambda e: "
            "{'key': regexp_replace(regexp_replace(e.key, '^user[:_]', ''), '^aws_', 'aws:'), "
            "'value': e.value})"
        )
        return f"CASE WHEN len({entries}) > 0 THEN to_json(map_from_entries({renamed})) END"
    if not tag_columns:
        return None
    items = ", ".join(
        "{'key': '" + key.replace("'", "''") + "', 'value': \"" + column.replace('"', '""') + '"}'
        for column, key in tag_columns.items()
    )
    entries = f"list_filter([{items}], lambda e: e.value IS NOT NULL AND e.value <> '')"
    return f"CASE WHEN len({entries}) > 0 THEN to_json(map_from_entries({entries})) END"


def focus_sql(present: set[str], maps: set[str], tags: str | None) -> str:
    """The SELECT over ``block`` that yields the money columns, the columns that need text
    functions (Tags, ResourceType, the CUR 2.0 product name) and ``problem`` (why a row cannot
    be priced). The other FOCUS columns are mapped with Arrow in :mod:`aifinops.sources.aws_cur`.
    """

    def c(name: str) -> str:
        return _column(name, present)

    t = '"line_item_line_item_type"'
    unblended = c("line_item_unblended_cost")
    ri_arn = f"nullif({c('reservation_reservation_a_r_n')}, '')"
    zero = "CAST(0 AS DECIMAL(38, 18))"
    unused_ri = (
        f"coalesce({c('reservation_unused_amortized_upfront_fee_for_billing_period')}, {zero})"
        f" + coalesce({c('reservation_unused_recurring_fee')}, {zero})"
    )
    unused_sp = (
        f"{c('savings_plan_total_commitment_to_date')} - {c('savings_plan_used_commitment')}"
    )
    billed = (
        f"CASE WHEN {t} IN ('SavingsPlanCoveredUsage', 'SavingsPlanNegation') THEN {zero} "
        f"ELSE {unblended} END"
    )
    effective = f"""CASE {t}
        WHEN 'DiscountedUsage' THEN {c("reservation_effective_cost")}
        WHEN 'SavingsPlanCoveredUsage' THEN {c("savings_plan_savings_plan_effective_cost")}
        WHEN 'SavingsPlanNegation' THEN {zero}
        WHEN 'RIFee' THEN {zero}
        WHEN 'SavingsPlanRecurringFee' THEN {zero}
        WHEN 'SavingsPlanUpfrontFee' THEN {zero}
        WHEN 'Fee' THEN CASE WHEN {ri_arn} IS NOT NULL THEN {zero} ELSE {unblended} END
        ELSE {unblended} END"""
    public_cost = c("pricing_public_on_demand_cost")
    list_cost = f"""CASE
        WHEN {t} = 'SavingsPlanNegation' THEN {zero}
        WHEN {t} IN {_in(("Usage", *COVERED))} THEN coalesce({public_cost}, {unblended})
        ELSE {billed} END"""
    contracted = f"""CASE
        WHEN {t} = 'SavingsPlanNegation' THEN {zero}
        WHEN {t} IN {_in(COVERED)} THEN coalesce({public_cost}, {unblended})
        ELSE {billed} END"""
    contracted_price = f"""CASE
        WHEN {t} = 'Usage' THEN {c("line_item_unblended_rate")}
        WHEN {t} IN {_in(COVERED)} THEN {c("pricing_public_on_demand_rate")} END"""
    # "column|reason": the native column whose emptiness leaves the row unpriced
    problem = f"""CASE
        WHEN {t} = 'DiscountedUsage' AND {c("reservation_effective_cost")} IS NULL
            THEN 'reservation_effective_cost|empty on RI-covered usage (DiscountedUsage)'
        WHEN {t} = 'SavingsPlanCoveredUsage'
            AND {c("savings_plan_savings_plan_effective_cost")} IS NULL
            THEN 'savings_plan_savings_plan_effective_cost|empty on SP-covered usage'
        WHEN {t} = 'SavingsPlanRecurringFee' AND ({unused_sp}) IS NULL
            THEN 'savings_plan_used_commitment|empty (or TotalCommitmentToDate is) on a '
                 || 'SavingsPlanRecurringFee'
        END"""
    extra = []
    if tags is not None:
        extra.append(f"{tags} AS Tags")
    if "line_item_resource_id" in present:
        arn = "split_part(split_part(line_item_resource_id, ':', 6), '/', 1)"
        family = f"nullif({c('product_product_family')}, '')"
        extra.append(
            "CASE WHEN nullif(line_item_resource_id, '') IS NOT NULL "
            f"THEN coalesce(nullif({arn}, ''), {family}) END AS ResourceType"
        )
    if "product" in present:
        name = (
            "product['product_name']"
            if "product" in maps
            else "json_extract_string(product, '$.product_name')"
        )
        extra.append(f"nullif({name}, '') AS x_MapProductName")
    more = "".join(f",\n        {e}" for e in extra)
    return f"""
    SELECT
        {billed} AS BilledCost,
        {effective} AS EffectiveCost,
        {list_cost} AS ListCost,
        {contracted} AS ContractedCost,
        {contracted_price} AS ContractedUnitPrice,
        CASE {t} WHEN 'RIFee' THEN {unused_ri} WHEN 'SavingsPlanRecurringFee' THEN {unused_sp}
            END AS x_UnusedCost,
        CASE {t} WHEN 'RIFee' THEN {c("reservation_unused_quantity")}
            WHEN 'SavingsPlanRecurringFee' THEN {unused_sp} END AS x_UnusedQuantity,
        {problem} AS problem{more}
    FROM block
    """
