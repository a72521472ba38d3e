"""What the demo company pays per unit: GPU instances from package data, the rest as constants.

GPU instance prices are the real on-demand list prices in ``data/gpu_prices.csv`` (see
``data/NOTICE.md``). Other unit prices are public list prices; each names its source. Where a price
is quoted from memory of a public page rather than a file in this repository it says
"approximately"; the demo only needs plausible magnitudes there, never exactness.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources

from aifinops.demo.money import quantize


@dataclass(frozen=True)
class InstanceType:
    cloud: str  # "aws" | "azure" | "gcp", as in the reference table
    name: str
    region: str
    gpu_model: str
    gpu_count: int
    vcpus: int | None
    price: Decimal  # on-demand USD per hour


@functools.cache
def instance_types() -> dict[tuple[str, str], InstanceType]:
    text = resources.files("aifinops.demo").joinpath("data/gpu_prices.csv").read_text("utf-8")
    found: dict[tuple[str, str], InstanceType] = {}
    for row in csv.DictReader(text.splitlines()):
        found[(row["cloud"], row["instance_type"])] = InstanceType(
            cloud=row["cloud"],
            name=row["instance_type"],
            region=row["region"],
            gpu_model=row["gpu_model"],
            gpu_count=int(row["gpu_count"]),
            vcpus=int(row["vcpus"]) if row["vcpus"] else None,
            # GCP's catalog prices in nanos; upstream carries float noise past that.
            price=quantize(Decimal(row["on_demand_usd_per_hour"]), 9),
        )
    return found


def instance(cloud: str, name: str) -> InstanceType:
    return instance_types()[(cloud, name)]


# SageMaker real-time inference, ml.g5.2xlarge, us-east-1: approximately $1.515 per hour
# (aws.amazon.com/sagemaker/pricing). Not in the reference table, which lists EC2 only.
SAGEMAKER_G5_2XLARGE = InstanceType(
    "aws", "ml.g5.2xlarge", "us-east-1", "A10G", 1, 8, Decimal("1.515")
)


@dataclass(frozen=True)
class Product:
    """A metered (non-instance) SKU: what one unit is and what it lists at."""

    service: str  # ServiceName
    category: str  # ServiceCategory
    subcategory: str  # ServiceSubcategory
    meter: str  # SkuMeter
    description: str  # ChargeDescription
    unit: str  # PricingUnit
    price: Decimal  # ListUnitPrice per PricingUnit
    qty_scale: int  # decimals kept on PricingQuantity
    consumed_unit: str | None = None
    consumed_per_unit: int = 1  # ConsumedQuantity per PricingQuantity
    resource_type: str | None = None
    publisher: str | None = None  # third-party seller (Marketplace)


_AI = ("AI and Machine Learning", "Generative AI")
_NET = "Networking"


def _tokens(
    service: str, model: str, kind: str, per_1k: Decimal, resource_type: str | None = None
) -> Product:
    return Product(
        service,
        *_AI,
        f"{kind} Tokens",
        f"{model} {kind.lower()} tokens (per 1K)",
        "1000 Tokens",  # FOCUS UnitFormat: a leading whole number, never `1K`
        per_1k,
        3,
        "Tokens",
        1000,
        resource_type=resource_type,
    )


def _aoai(model: str, kind: str, per_1k: str) -> Product:
    """An Azure OpenAI meter: billed on the account resource, so it has a ResourceType."""
    return _tokens("Azure OpenAI", model, kind, Decimal(per_1k), "Azure OpenAI")


def _gemini(model: str, kind: str, per_token: str) -> Product:
    return Product(
        "Vertex AI",
        *_AI,
        f"{kind} Tokens",
        f"{model} {kind.lower()} text tokens",
        "Tokens",
        Decimal(per_token),
        0,
        "Tokens",
    )


def _s3(tier: str, price: str) -> Product:
    return Product(
        "Amazon Simple Storage Service",
        "Storage",
        "Object Storage",
        "Storage",
        f"${price} per GB - storage used/month {tier}",
        "GB-Months",
        Decimal(price),
        4,
        "GB-Months",
        resource_type="Bucket",
    )


# LLM token prices: litellm model_prices_and_context_window.json (litellm 1.109.1, MIT), keys
# anthropic.claude-3-5-sonnet-20241022-v2:0, meta.llama3-1-70b-instruct-v1:0,
# amazon.titan-embed-text-v2:0, azure/gpt-4o, azure/gpt-4o-mini, azure/text-embedding-3-large,
# gemini-2.5-pro, gemini-2.5-flash. Per token there, per 1K tokens here where the provider bills so.
PRODUCTS: dict[str, Product] = {
    # S3 Standard, us-east-1 (aws.amazon.com/s3/pricing): first 50 TB $0.023, next 450 TB $0.022,
    # over 500 TB $0.021 per GB-month; PUT/COPY/POST/LIST $0.005 per 1,000 requests.
    "s3-first-50tb": _s3("first 50 TB", "0.023"),
    "s3-next-450tb": _s3("next 450 TB", "0.022"),
    "s3-over-500tb": _s3("over 500 TB", "0.021"),
    "s3-put": Product(
        "Amazon Simple Storage Service",
        "Storage",
        "Object Storage",
        "Requests-Tier1",
        "$0.005 per 1,000 PUT, COPY, POST, or LIST requests",
        "Requests",
        Decimal("0.000005"),
        0,
        "Requests",
        resource_type="Bucket",
    ),
    # EC2 data transfer and NAT gateway, us-east-1 (aws.amazon.com/ec2/pricing/on-demand).
    "aws-egress": Product(
        "AWS Data Transfer",
        _NET,
        "Network Connectivity",
        "Data Transfer",
        "$0.09 per GB - first 10 TB / month data transfer out beyond the global free tier",
        "GB",
        Decimal("0.09"),
        3,
        "GB",
    ),
    "aws-inter-az": Product(
        "AWS Data Transfer",
        _NET,
        "Network Connectivity",
        "Data Transfer",
        "$0.010 per GB - regional data transfer - in/out/between EC2 AZs",
        "GB",
        Decimal("0.01"),
        3,
        "GB",
    ),
    "aws-nat-hours": Product(
        "Amazon Virtual Private Cloud",
        _NET,
        "Network Infrastructure",
        "NAT Gateway",
        "$0.045 per NAT Gateway Hour",
        "Hours",
        Decimal("0.045"),
        0,
        "Hours",
        resource_type="NAT Gateway",
    ),
    "aws-nat-bytes": Product(
        "Amazon Virtual Private Cloud",
        _NET,
        "Network Infrastructure",
        "NAT Gateway",
        "$0.045 per GB Data Processed by NAT Gateways",
        "GB",
        Decimal("0.045"),
        3,
        "GB",
        resource_type="NAT Gateway",
    ),
    "bedrock-claude-in": _tokens(
        "Amazon Bedrock", "Claude 3.5 Sonnet v2", "Input", Decimal("0.003")
    ),
    "bedrock-claude-out": _tokens(
        "Amazon Bedrock", "Claude 3.5 Sonnet v2", "Output", Decimal("0.015")
    ),
    "bedrock-llama-in": _tokens(
        "Amazon Bedrock", "Llama 3.1 70B Instruct", "Input", Decimal("0.00072")
    ),
    "bedrock-llama-out": _tokens(
        "Amazon Bedrock", "Llama 3.1 70B Instruct", "Output", Decimal("0.00072")
    ),
    "bedrock-titan-embed": _tokens(
        "Amazon Bedrock", "Titan Text Embeddings V2", "Input", Decimal("0.00002")
    ),
    # A fictional third-party SaaS sold through AWS Marketplace, metered per million trace spans.
    "lumenlog-spans": Product(
        "Lumenlog LLM Observability",
        "Management and Governance",
        "Observability",
        "Span Ingestion",
        "Lumenlog span ingestion, per 1M spans",
        "1000000 Spans",
        Decimal("2.50"),
        3,
        "Spans",
        1_000_000,
    ),
    "aoai-gpt4o-in": _aoai("gpt-4o-2024-08-06 Global", "Input", "0.0025"),
    "aoai-gpt4o-out": _aoai("gpt-4o-2024-08-06 Global", "Output", "0.01"),
    "aoai-mini-in": _aoai("gpt-4o-mini Global", "Input", "0.00015"),
    "aoai-mini-out": _aoai("gpt-4o-mini Global", "Output", "0.0006"),
    "aoai-embed": _aoai("text-embedding-3-large", "Input", "0.000143"),
    # Azure Blob Storage, Hot LRS, East US, first 50 TB: approximately $0.018 per GB-month
    # (azure.microsoft.com/pricing/details/storage/blobs).
    "blob-hot-lrs": Product(
        "Storage",
        "Storage",
        "Object Storage",
        "Hot LRS Data Stored",
        "Hot LRS Data Stored",
        "GB/Month",
        Decimal("0.018"),
        4,
        "GB/Month",
        resource_type="Storage account",
    ),
    "gemini-flash-in": _gemini("Gemini 2.5 Flash", "Input", "0.0000003"),
    "gemini-flash-out": _gemini("Gemini 2.5 Flash", "Output", "0.0000025"),
    "gemini-pro-in": _gemini("Gemini 2.5 Pro", "Input", "0.00000125"),
    "gemini-pro-out": _gemini("Gemini 2.5 Pro", "Output", "0.00001"),
    # Cloud Storage Standard, us-central1: $0.020 per GiB-month (cloud.google.com/storage/pricing).
    "gcs-standard": Product(
        "Cloud Storage",
        "Storage",
        "Object Storage",
        "Standard Storage",
        "Standard Storage US Regional",
        "GiB-Months",
        Decimal("0.020"),
        4,
        "GiB-Months",
        resource_type="Bucket",
    ),
    # Premium tier internet egress, North America, 0-1 TiB: $0.12 per GiB; inter-zone $0.01 per
    # GiB (cloud.google.com/vpc/network-pricing).
    "gcp-egress": Product(
        "Networking",
        _NET,
        "Network Connectivity",
        "Internet Egress",
        "Network Internet Data Transfer Out from Americas to Americas",
        "GiB",
        Decimal("0.12"),
        3,
        "GiB",
    ),
    "gcp-inter-zone": Product(
        "Networking",
        _NET,
        "Network Connectivity",
        "Inter Zone Egress",
        "Network Inter Zone Data Transfer Out",
        "GiB",
        Decimal("0.01"),
        3,
        "GiB",
    ),
}

# AWS Business Support (aws.amazon.com/premiumsupport/pricing): the greater of $100 or 10% of the
# first $10K of monthly AWS charges, 7% from $10K to $80K, 5% from $80K to $250K, 3% above.
SUPPORT_TIERS: tuple[tuple[Decimal, Decimal], ...] = (
    (Decimal(10_000), Decimal("0.10")),
    (Decimal(80_000), Decimal("0.07")),
    (Decimal(250_000), Decimal("0.05")),
    (Decimal("Infinity"), Decimal("0.03")),
)


def support_fee(charges: Decimal) -> Decimal:
    fee, floor = Decimal(0), Decimal(0)
    for ceiling, rate in SUPPORT_TIERS:
        if charges > floor:
            fee += (min(charges, ceiling) - floor) * rate
        floor = ceiling
    return quantize(max(fee, Decimal(100)), 2)
