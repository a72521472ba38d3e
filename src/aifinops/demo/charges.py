"""Catalog lines for each kind of charge the company incurs, in its provider's flavour.

Line groups say what a line is for the month's closing charges and the manifest: ``usage``,
``purchase``, ``credit``, ``tax``, ``support``, ``marketplace``, ``support-base`` (AWS charges the
support fee is a percentage of), ``untagged`` (no team under any spelling) and the planted
messiness labels (``tags:<style>``, ``usage-based``, ``null-text``, ``account-*``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from aifinops.demo.company import (
    UNTAGGED_STYLES,
    Commitment,
    Company,
    InstancePool,
    MeterPool,
    MonthlyCharge,
    Owner,
    Provider,
    TagStyle,
)
from aifinops.demo.flavours import FLAVOURS, SERVICES, Flavour, ServiceSpec, ident, tags
from aifinops.demo.lines import Cdq, Line, Text, amount, priced
from aifinops.demo.money import quantize
from aifinops.demo.pricebook import PRODUCTS, SAGEMAKER_G5_2XLARGE, InstanceType, instance
from aifinops.demo.timeline import Month

_TAX_SERVICE = ("Tax", "Other", "Other (Other)")


@dataclass(frozen=True)
class Context:
    company: Company
    provider: Provider

    @property
    def flavour(self) -> Flavour:
        return FLAVOURS[self.provider.slug]

    def instance_type(self, pool: InstancePool) -> InstanceType:
        if pool.service == "sagemaker":
            return SAGEMAKER_G5_2XLARGE
        return instance(self.provider.cloud, pool.sku)

    def contracted(self, list_price: Decimal) -> Decimal:
        return quantize(list_price * (1 - self.provider.contract_discount), 10)


def constants(ctx: Context, month: Month) -> Text:
    """Columns that are the same on every row of the provider's month unless a line says not."""
    p = ctx.provider
    return {
        "BillingAccountId": p.billing_account_id,
        "BillingAccountName": p.billing_account_name,
        "BillingAccountType": p.billing_account_type,
        "BillingCurrency": "USD",
        "PricingCurrency": "USD",
        "ProviderName": p.name,
        "PublisherName": p.name,
        "InvoiceIssuerName": p.name,
        "ServiceProviderName": p.name,
        "HostProviderName": p.name,
        "InvoiceId": ident(f"invoice:{p.slug}:{month.label}", 10, "0123456789"),
        "RegionId": p.region[0],
        "RegionName": p.region[1],
        "SubAccountType": p.sub_account_type,
    }


def resource_name(prefix: str, index: int, count: int) -> str:
    return prefix if count == 1 and index == 0 else f"{prefix}-{index + 1:02d}"


def _owner_text(
    ctx: Context, account_key: str, owner: Owner | None, style: TagStyle, name: str | None
) -> tuple[Text, set[str]]:
    account = ctx.company.accounts[account_key]
    text: Text = {
        "SubAccountId": account.id,
        "SubAccountName": account.name,
        "Tags": tags(ctx.flavour, owner, style, name, ctx.provider.empty_tags),
    }
    groups = set(account.messy)
    if style is not TagStyle.CANONICAL and owner is not None:
        groups.add(f"tags:{style.value}")
    if owner is None or style in UNTAGGED_STYLES:
        groups.add("untagged")
    return text, groups


def _fields(ctx: Context, account_key: str, name: str, index: int, team: str) -> dict[str, str]:
    return {
        "account": ctx.company.accounts[account_key].id,
        "name": name,
        "zone": ctx.provider.zones[index % len(ctx.provider.zones)],
        "region": ctx.provider.region[0],
        "region_name": ctx.provider.region[1],
        "group": team,
        "hexid": ident(f"{ctx.provider.slug}:{account_key}:{name}", 16),
    }


def _commitment_text(c: Commitment, status: str | None) -> Text:
    return {
        "CommitmentDiscountId": c.id,
        "CommitmentDiscountName": c.name,
        "CommitmentDiscountType": c.type,
        "CommitmentDiscountCategory": c.category,
        "CommitmentDiscountStatus": status,
        "CommitmentDiscountUnit": "USD" if c.category == "Spend" else "Hours",
    }


def committed_price(c: Commitment, list_price: Decimal) -> Decimal:
    return quantize(list_price * c.rate, 9)


def instance_lines(ctx: Context, pool: InstancePool) -> list[Line]:
    spec = SERVICES.get(pool.service, ctx.flavour.vm)
    itype = ctx.instance_type(pool)
    n = ctx.company.count(pool)
    return [_instance_line(ctx, pool, spec, itype, i=i, n=n) for i in range(n)]


def _resource_text(ctx: Context, pool: InstancePool, spec: ServiceSpec, i: int, n: int) -> Text:
    name = resource_name(pool.name, i, n)
    values = _fields(ctx, pool.account, name, i, pool.owner.team if pool.owner else "shared")
    return {
        "ResourceId": spec.resource.format(**values),
        "ResourceName": name,
        "ResourceType": spec.resource_type,
        "AvailabilityZone": values["zone"],
        "ServiceName": spec.service[0],
        "ServiceCategory": spec.service[1],
        "ServiceSubcategory": spec.service[2],
    }


def _instance_line(
    ctx: Context, pool: InstancePool, spec: ServiceSpec, itype: InstanceType, *, i: int, n: int
) -> Line:
    resource = _resource_text(ctx, pool, spec, i, n)
    style = pool.styles[i % len(pool.styles)]
    text, groups = _owner_text(ctx, pool.account, pool.owner, style, resource["ResourceName"])
    sku = ctx.flavour.sku_id(itype.name)
    details = {"InstanceType": itype.name, "GpuModel": itype.gpu_model, "GpuCount": itype.gpu_count}
    text |= resource | {
        "ChargeCategory": "Usage",
        "ChargeFrequency": "Usage-Based",
        "SkuId": sku,
        "SkuMeter": "Compute",
        "SkuPriceDetails": json.dumps(details, separators=(",", ":")),
        "PricingUnit": "Hours",
        "ConsumedUnit": "Hours",
    }
    list_price, contracted = itype.price, ctx.contracted(itype.price)
    desc = {"sku": itype.name, "price": f"{list_price}", "region_name": ctx.provider.region[1]}
    groups |= {"usage", "support-base"}
    if pool.commitment is None:
        text |= {
            "PricingCategory": "Standard",
            "ChargeDescription": spec.description.format(**desc),
        }
        text["SkuPriceId"] = ctx.flavour.sku_price_id(sku, "on-demand")
        return _grouped(priced(text, list_price, contracted, contracted, contracted), groups)
    c = ctx.company.commitments[pool.commitment]
    text |= _commitment_text(c, "Used") | {"PricingCategory": "Committed"}
    text["ChargeDescription"] = ctx.flavour.committed_description.format(commitment=c.name, **desc)
    text["SkuPriceId"] = ctx.flavour.sku_price_id(sku, c.key)
    line = priced(text, list_price, contracted, committed_price(c, list_price), Decimal(0))
    line.cdq = Cdq.EFFECTIVE if c.category == "Spend" else Cdq.QUANTITY
    return _grouped(line, groups)


def _grouped(line: Line, groups: set[str]) -> Line:
    line.groups = frozenset(groups)
    return line


def sud_lines(ctx: Context, pool: InstancePool) -> list[Line]:
    """Per-resource sustained-use credits: negative, a fixed share of list per running hour."""
    assert pool.sud_credit is not None
    itype = ctx.instance_type(pool)
    credit = quantize(itype.price * pool.sud_credit, 9)
    n = ctx.company.count(pool)
    lines = []
    for i in range(n):
        resource = _resource_text(ctx, pool, ctx.flavour.vm, i, n)
        style = pool.styles[i % len(pool.styles)]
        text, groups = _owner_text(ctx, pool.account, pool.owner, style, resource["ResourceName"])
        text |= resource | {
            "ChargeCategory": "Credit",
            "ChargeFrequency": "Usage-Based",
            "ChargeDescription": f"Sustained Usage Discount: {itype.name}",
            "SkuId": ctx.flavour.sku_id(f"sud:{itype.name}"),
            "SkuMeter": "Sustained Usage Discount",
        }
        line = priced(text, Decimal(0), Decimal(0), -credit, -credit, consumed=None)
        line.list_unit_price = line.contracted_unit_price = None
        line.has_quantity = False
        lines.append(_grouped(line, groups | {"credit"}))
    return lines


def meter_lines(ctx: Context, pool: MeterPool) -> list[Line]:
    n = ctx.company.count(pool)
    return [_meter_line(ctx, pool, i, n) for i in range(n)]


def _meter_resource(ctx: Context, pool: MeterPool, i: int, n: int) -> Text:
    """The bucket, NAT gateway or API account a meter belongs to, if it names one."""
    product = PRODUCTS[pool.product]
    name = resource_name(pool.name, i, n) if pool.name else None
    template = ctx.flavour.meter_resource.get(product.service)
    team = pool.owner.team if pool.owner else "shared"
    values = _fields(ctx, pool.account, name or pool.key, i, team)
    resource_id = template.format(**values) if template and name else None
    null_text = "null-text" in pool.messy  # the literal text NULL where a value is absent
    return {
        "ResourceId": resource_id,
        "ResourceName": "NULL" if null_text else name,
        "ResourceType": product.resource_type if resource_id else None,
        "AvailabilityZone": "NULL" if null_text else None,
    }


def _meter_line(ctx: Context, pool: MeterPool, i: int, n: int) -> Line:
    product = PRODUCTS[pool.product]
    style = pool.styles[i % len(pool.styles)]
    text, groups = _owner_text(ctx, pool.account, pool.owner, style, None)
    frequency = "Usage-based" if "usage-based" in pool.messy else "Usage-Based"
    sku = ctx.flavour.sku_id(pool.product)
    text |= _meter_resource(ctx, pool, i, n) | {
        "ServiceName": product.service,
        "ServiceCategory": product.category,
        "ServiceSubcategory": product.subcategory,
        "ChargeCategory": "Usage",
        "ChargeFrequency": frequency,
        "PricingCategory": "Standard",
        "ChargeDescription": product.description,
        "SkuId": sku,
        "SkuPriceId": ctx.flavour.sku_price_id(sku, "on-demand"),
        "SkuMeter": product.meter,
        "PricingUnit": product.unit,
        "ConsumedUnit": product.consumed_unit,
    }
    if product.publisher:
        text["PublisherName"] = product.publisher
    groups |= set(pool.messy) | {"usage", "marketplace" if product.publisher else "support-base"}
    contracted = ctx.contracted(product.price)
    consumed = product.consumed_per_unit
    line = priced(text, product.price, contracted, contracted, contracted, consumed=consumed)
    return _grouped(line, groups)


def _plain_text(ctx: Context, account_key: str, service: tuple[str, str, str]) -> Text:
    text, _ = _owner_text(ctx, account_key, None, TagStyle.NONE, None)
    return text | {
        "ServiceName": service[0],
        "ServiceCategory": service[1],
        "ServiceSubcategory": service[2],
    }


def _commitment_resource(ctx: Context, c: Commitment, status: str | None) -> Text:
    text = _plain_text(ctx, c.account, ctx.flavour.vm.service)
    return (
        text
        | _commitment_text(c, status)
        | {
            "ResourceId": c.id,
            "ResourceName": c.name,
            "ResourceType": c.type,
            "SkuId": ctx.flavour.sku_id(f"commitment:{c.key}"),
            "SkuMeter": "Commitment",
            "RegionId": None if c.category == "Spend" else ctx.provider.region[0],
            "RegionName": None if c.category == "Spend" else ctx.provider.region[1],
        }
    )


def unused_line(ctx: Context, c: Commitment, list_price: Decimal) -> Line:
    """Commitment paid for but not used in an hour: spend in USD, usage in hours."""
    text = _commitment_resource(ctx, c, "Unused") | {
        "ChargeCategory": "Usage",
        "ChargeFrequency": "Usage-Based",
        "PricingCategory": "Committed",
        "ChargeDescription": f"Unused {c.type}: {c.name}",
        "PricingUnit": "USD" if c.category == "Spend" else "Hours",
    }
    if c.category == "Spend":
        line = amount(text, list_=1, contracted=1, effective=1, billed=0, unit_prices=True)
        line.cdq = Cdq.EFFECTIVE
    else:
        rate = committed_price(c, list_price)
        line = priced(text, list_price, ctx.contracted(list_price), rate, Decimal(0), consumed=None)
        line.cdq = Cdq.QUANTITY
    return _grouped(line, {"usage", "untagged"})


def purchase_line(ctx: Context, c: Commitment, list_price: Decimal) -> Line:
    """The commitment's fee: a monthly recurring row, or the whole term once (all upfront)."""
    text = _commitment_resource(ctx, c, None) | {
        "ChargeCategory": "Purchase",
        "ChargeFrequency": "One-Time" if c.payment == "all-upfront" else "Recurring",
        "PricingCategory": "Standard",
        "ChargeDescription": f"{c.type} fee: {c.name} ({c.payment})",
        "PricingUnit": "USD" if c.category == "Spend" else "Hours",
    }
    if c.category == "Spend":
        line = amount(text, list_=1, contracted=1, effective=0, billed=1, unit_prices=True)
    else:
        rate = committed_price(c, list_price)
        line = priced(text, rate, rate, Decimal(0), rate, consumed=None)
    line.cdq = Cdq.QUANTITY
    return _grouped(line, {"purchase", "untagged", "support-base"})


def monthly_line(ctx: Context, charge: MonthlyCharge) -> Line:
    service = _TAX_SERVICE if charge.kind == "tax" else charge.service
    text = _plain_text(ctx, charge.account, service) | {"ChargeDescription": charge.description}
    if charge.kind in ("tax", "credit"):
        category = "Tax" if charge.kind == "tax" else "Credit"
        text |= {"ChargeCategory": category, "ChargeFrequency": "One-Time", "RegionId": None}
        text["RegionName"] = None
        if charge.kind == "tax":
            line = amount(text, list_=1, contracted=1, effective=1, billed=1, unit_prices=False)
        else:  # a credit unrelated to other charges: every cost equals BilledCost (FOCUS 1.2)
            line = amount(text, list_=-1, contracted=-1, effective=-1, billed=-1, unit_prices=False)
        return _grouped(line, {charge.kind, "untagged"})
    text |= {
        "ChargeCategory": "Usage",
        "ChargeFrequency": "Recurring",
        "PricingCategory": "Standard",
        "PricingUnit": "USD",
        "ConsumedUnit": "USD",
        "SkuId": ctx.flavour.sku_id(charge.key),
        "SkuMeter": "Support" if charge.kind == "support" else "Subscription",
        "RegionId": None,
        "RegionName": None,
    }
    if charge.publisher:
        text["PublisherName"] = charge.publisher
    line = amount(
        text, list_=1, contracted=1, effective=1, billed=1, unit_prices=True, consumed=True
    )
    kind = "support" if charge.kind == "support" else "marketplace"
    return _grouped(line, {"usage", kind, "untagged"})
