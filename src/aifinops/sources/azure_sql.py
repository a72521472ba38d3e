"""The SQL that maps one typed block of Azure cost details to FOCUS columns (see ``azure``).

Columns are named by their canonical names (``cost``, ``charge_type``, ``pricing_model`` ...:
``azure.ALIASES``); a column the file lacks is a typed NULL. Money follows Microsoft's own
conversion: BilledCost is 0 on commitment usage, covered or unused (the cash went out with the
purchase), EffectiveCost is 0 on commitment purchases (spread over the usage); a negative unit
price is shown as a negative quantity. ``service_key`` and ``payg_cost`` are helper columns the
reader pops.
"""

FOCUS_SQL = """
WITH b AS (
  SELECT *,
    coalesce(charge_type IN ('Purchase', 'Refund')
      AND pricing_model IN ('Reservation', 'SavingsPlan'), false) AS commitment_purchase,
    coalesce(charge_type IN ('UnusedReservation', 'UnusedSavingsPlan')
      OR (charge_type = 'Usage' AND pricing_model IN ('Reservation', 'SavingsPlan')), false)
      AS commitment_usage,
    coalesce(nullif(benefit_id, ''), CASE WHEN nullif(reservation_id, '') IS NOT NULL THEN
      '/providers/Microsoft.Capacity/reservationOrders/' || coalesce(product_order_id, '')
      || '/reservations/' || reservation_id END) AS commitment_id,
    profile_id IS NOT NULL AND profile_id <> account_id AS mca,
    CASE WHEN coalesce(payg_price, 0) = 0 AND coalesce(unit_price, 0) <> 0 THEN unit_price
      ELSE payg_price END AS list_price,
    coalesce(nullif(tags, ''), NULL) AS tag_text,
    coalesce(unit_price < 0, false) AS flipped
  FROM block
), p AS (
  SELECT * REPLACE (
    CASE WHEN flipped THEN -unit_price ELSE unit_price END AS unit_price,
    CASE WHEN flipped THEN -quantity ELSE quantity END AS quantity,
    CASE WHEN flipped THEN -list_price ELSE list_price END AS list_price)
  FROM b
)
SELECT
  CASE WHEN commitment_usage THEN 0::DECIMAL(38, 18) ELSE cost END AS BilledCost,
  CASE WHEN commitment_purchase THEN 0::DECIMAL(38, 18) ELSE cost END AS EffectiveCost,
  CASE WHEN mca THEN profile_id ELSE account_id END AS BillingAccountId,
  CASE WHEN mca THEN coalesce(profile_name, account_name) ELSE account_name END
    AS BillingAccountName,
  CASE WHEN mca THEN 'Billing Profile' ELSE 'Billing Account' END AS BillingAccountType,
  CASE WHEN mca THEN 'MCA' ELSE 'EA' END AS x_AccountType,
  upper(currency) AS BillingCurrency,
  bp_start AS BillingPeriodStart,
  CASE WHEN bp_end IS NULL THEN bp_start + INTERVAL 1 MONTH
    WHEN bp_end = date_trunc('day', bp_end) THEN bp_end + INTERVAL 1 DAY
    ELSE bp_end END AS BillingPeriodEnd,
  date AS ChargePeriodStart,
  date + INTERVAL 1 DAY AS ChargePeriodEnd,
  CASE WHEN charge_type IN ('Usage', 'Purchase', 'Credit', 'Tax') THEN charge_type
    WHEN charge_type IN ('UnusedReservation', 'UnusedSavingsPlan') THEN 'Usage'
    WHEN charge_type = 'Refund' THEN 'Purchase'
    ELSE 'Adjustment' END AS ChargeCategory,
  CASE WHEN charge_type = 'Refund' THEN 'Correction' END AS ChargeClass,
  coalesce(product, meter_name) AS ChargeDescription,
  CASE WHEN frequency = 'OneTime' THEN 'One-Time' WHEN frequency = 'Recurring' THEN 'Recurring'
    WHEN frequency = 'UsageBased' THEN 'Usage-Based'
    WHEN charge_type LIKE '%Usage%' OR charge_type LIKE 'Unused%' THEN 'Usage-Based'
    ELSE 'One-Time' END AS ChargeFrequency,
  commitment_id AS CommitmentDiscountId,
  CASE WHEN commitment_id IS NOT NULL THEN coalesce(benefit_name, reservation_name) END
    AS CommitmentDiscountName,
  CASE WHEN commitment_id IS NULL THEN NULL
    WHEN lower(commitment_id) LIKE '%/microsoft.capacity/%' THEN 'Usage'
    WHEN lower(commitment_id) LIKE '%/microsoft.billingbenefits/%' THEN 'Spend'
    WHEN pricing_model = 'SavingsPlan' THEN 'Spend' ELSE 'Usage' END
    AS CommitmentDiscountCategory,
  CASE WHEN commitment_id IS NULL THEN NULL
    WHEN lower(commitment_id) LIKE '%/microsoft.billingbenefits/%'
      OR pricing_model = 'SavingsPlan' THEN 'Savings Plan' ELSE 'Reservation' END
    AS CommitmentDiscountType,
  CASE WHEN commitment_id IS NULL THEN NULL
    WHEN charge_type IN ('UnusedReservation', 'UnusedSavingsPlan') THEN 'Unused'
    WHEN charge_type = 'Usage' AND pricing_model IN ('Reservation', 'SavingsPlan') THEN 'Used'
    END AS CommitmentDiscountStatus,
  CASE WHEN charge_type = 'Usage' THEN quantity END AS ConsumedQuantity,
  CASE WHEN charge_type = 'Usage' THEN unit END AS ConsumedUnit,
  CASE WHEN charge_type IN ('Usage', 'Purchase', 'Refund') OR charge_type LIKE 'Unused%'
    THEN quantity END AS PricingQuantity,
  CASE WHEN charge_type IN ('Usage', 'Purchase', 'Refund') OR charge_type LIKE 'Unused%'
    THEN coalesce(nullif(unit, ''), '1') END AS PricingUnit,
  unit AS x_PricingUnitDescription,
  list_price AS ListUnitPrice,
  unit_price AS ContractedUnitPrice,
  CASE WHEN pricing_model = 'Spot' THEN 'Dynamic'
    WHEN pricing_model IN ('Reservation', 'SavingsPlan') THEN 'Committed'
    WHEN charge_type IN ('Usage', 'Purchase', 'Refund') THEN 'Standard'
    WHEN charge_type LIKE 'Unused%' THEN 'Committed' END AS PricingCategory,
  currency AS PricingCurrency,
  coalesce(partner_name, 'Microsoft') AS InvoiceIssuerName,
  'Microsoft' AS ProviderName,
  'Microsoft' AS ServiceProviderName,
  'Microsoft' AS HostProviderName,
  coalesce(nullif(publisher_name, ''), 'Microsoft') AS PublisherName,
  invoice_id AS InvoiceId,
  coalesce(nullif(meter_category, ''), nullif(consumed_service, ''), nullif(meter_name, ''),
    'Microsoft Azure') AS ServiceName,
  nullif(lower(replace(location, ' ', '')), '') AS RegionId,
  nullif(location, '') AS RegionName,
  nullif(zone, '') AS AvailabilityZone,
  nullif(resource_id, '') AS ResourceId,
  coalesce(nullif(resource_name, ''),
    nullif(regexp_extract(resource_id, '[^/]+$'), '')) AS ResourceName,
  nullif(regexp_extract(lower(resource_id), '/providers/([^/]+/[^/]+)', 1), '') AS ResourceType,
  coalesce(product_id, part_number) AS SkuId,
  meter_id AS SkuPriceId,
  CASE WHEN coalesce(product_id, part_number) IS NOT NULL THEN meter_name END AS SkuMeter,
  sub_id AS SubAccountId,
  sub_name AS SubAccountName,
  CASE WHEN sub_id IS NOT NULL THEN 'Subscription' END AS SubAccountType,
  CASE WHEN tag_text IS NULL THEN NULL WHEN starts_with(ltrim(tag_text), '{') THEN tag_text
    ELSE '{' || tag_text || '}' END AS Tags,
  charge_type AS x_ChargeType,
  pricing_model AS x_PricingModel,
  profile_id AS x_BillingProfileId,
  profile_name AS x_BillingProfileName,
  resource_group AS x_ResourceGroupName,
  meter_category AS x_MeterCategory,
  meter_subcategory AS x_MeterSubCategory,
  meter_region AS x_MeterRegion,
  effective_price::VARCHAR AS x_EffectiveUnitPrice,
  cost_usd::VARCHAR AS x_CostInUsd,
  invoice_section AS x_InvoiceSectionName,
  cost_center AS x_CostCenter,
  publisher_type AS x_PublisherType,
  additional_info AS x_AdditionalInfo,
  nullif(concat_ws(',',
    CASE WHEN coalesce(payg_price, 0) = 0 AND coalesce(unit_price, 0) <> 0
      THEN 'ListUnitPriceFromContracted' END,
    CASE WHEN flipped THEN 'NegativeUnitPriceAsNegativeQuantity' END), '') AS x_SourceChanges,
  lower(coalesce(meter_category, '')) AS service_key,
  payg_cost
FROM p
"""
