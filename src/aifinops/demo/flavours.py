"""How each provider spells things: resource ids, SKU ids, service names, tag conventions.

One ``Flavour`` per provider, looked up by slug, so a fourth cloud is a new entry rather than a
new branch in the line builders.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from aifinops.demo.company import TEAMS, Owner, TagStyle

_UPPER = "ABCDEFGHIJKLMNPQRSTUVWXYZ23456789"
_HEX = "0123456789abcdef"


def ident(key: str, length: int, alphabet: str = _HEX) -> str:
    """A stable pseudo-random identifier derived from ``key``."""
    number = int.from_bytes(hashlib.sha256(key.encode()).digest(), "big")
    chars = []
    for _ in range(length):
        number, digit = divmod(number, len(alphabet))
        chars.append(alphabet[digit])
    return "".join(chars)


@dataclass(frozen=True)
class ServiceSpec:
    """How a provider names one kind of hourly resource."""

    service: tuple[str, str, str]  # ServiceName, ServiceCategory, ServiceSubcategory
    resource: str  # template over account, name, zone, region, group, hexid
    resource_type: str
    description: str  # template over sku, price, region_name


@dataclass(frozen=True)
class Flavour:
    vm: ServiceSpec
    committed_description: str  # template over sku, commitment
    sku_id: Callable[[str], str]
    sku_price_id: Callable[[str, str], str]
    meter_resource: dict[str, str]  # ServiceName -> resource id template
    cluster_tags: Callable[[str], dict[str, str]]  # tags a Kubernetes node pool puts on nodes
    name_tag: bool  # instances carry a `Name` tag
    file_name: str  # template over `one` (1-based part) and `zero` (0-based part)
    keeps_deprecated: bool = False  # writes columns its FOCUS version deprecated
    extra_columns: tuple[str, ...] = ()  # non-FOCUS columns without the x_ prefix
    naive_billing_period: bool = False  # BillingPeriod* as `2026-10-01 00:00:00` in text files


def _aws_sku(key: str) -> str:
    return ident(f"aws-sku:{key}", 16, _UPPER)


def _azure_sku(key: str) -> str:
    return f"DZH318Z0{ident(f'az-product:{key}', 4, _UPPER)}/{ident(f'az-sku:{key}', 4, _UPPER)}"


def _gcp_sku(key: str) -> str:
    raw = ident(f"gcp-sku:{key}", 12).upper()
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


FLAVOURS: dict[str, Flavour] = {
    "aws": Flavour(
        vm=ServiceSpec(
            ("Amazon Elastic Compute Cloud", "Compute", "Virtual Machines"),
            "arn:aws:ec2:{region}:{account}:instance/i-0{hexid}",
            "Instance",
            "${price} per On Demand Linux {sku} Instance Hour",
        ),
        committed_description="{commitment} covered usage: Linux {sku} Instance Hour",
        sku_id=_aws_sku,
        sku_price_id=lambda sku, term: f"{sku}.{ident(term, 10, _UPPER)}.6YS6EN2CT7",
        meter_resource={
            "Amazon Simple Storage Service": "arn:aws:s3:::{name}",
            "Amazon Virtual Private Cloud": (
                "arn:aws:ec2:{region}:{account}:natgateway/nat-0{hexid}"
            ),
        },
        cluster_tags=lambda pool: {
            "eks:cluster-name": "kestrel-gpu",
            "karpenter.sh/nodepool": pool,
        },
        name_tag=True,
        file_name="focus-{one:05d}",
    ),
    "azure": Flavour(
        vm=ServiceSpec(
            ("Virtual Machines", "Compute", "Virtual Machines"),
            "{account}/resourcegroups/rg-{group}/providers/microsoft.compute/virtualmachines/{name}",
            "Virtual machine",
            "{sku} - 1 Hour",
        ),
        committed_description="{sku} - Reservation - 1 Hour ({commitment})",
        sku_id=_azure_sku,
        sku_price_id=lambda sku, term: f"{sku}/{ident(term, 12, _UPPER)}",
        meter_resource={
            "Storage": "{account}/resourcegroups/rg-{group}/providers/microsoft.storage/"
            "storageaccounts/{name}",
            "Azure OpenAI": "{account}/resourcegroups/rg-{group}/providers/"
            "microsoft.cognitiveservices/accounts/{name}",
        },
        cluster_tags=lambda pool: {"aks-managed-poolName": pool, "aks-managed-orchestrator": "k8s"},
        name_tag=False,
        file_name="part_0_{one:04d}",
        extra_columns=("Id",),
        naive_billing_period=True,
    ),
    "gcp": Flavour(
        vm=ServiceSpec(
            ("Compute Engine", "Compute", "Virtual Machines"),
            "//compute.googleapis.com/projects/{account}/zones/{zone}/instances/{name}",
            "Compute Engine Instance",
            "{sku} instance running in {region_name}",
        ),
        committed_description="Commitment v1: {sku} in {region_name} for 1 year ({commitment})",
        sku_id=_gcp_sku,
        sku_price_id=lambda sku, term: f"{sku}/{ident(term, 8).upper()}",
        meter_resource={"Cloud Storage": "//storage.googleapis.com/projects/_/buckets/{name}"},
        cluster_tags=lambda pool: {
            "goog-k8s-cluster-name": "kestrel-gke",
            "goog-k8s-node-pool": pool,
        },
        name_tag=False,
        file_name="focus-{zero:012d}",
        keeps_deprecated=True,
    ),
}

# Hourly resources that are not plain VMs, by InstancePool.service.
SERVICES: dict[str, ServiceSpec] = {
    "sagemaker": ServiceSpec(
        ("Amazon SageMaker", "AI and Machine Learning", "Machine Learning"),
        "arn:aws:sagemaker:{region}:{account}:endpoint/{name}",
        "Endpoint",
        "${price} per Hosting {sku} hour in {region_name}",
    ),
}


def tags(
    flavour: Flavour, owner: Owner | None, style: TagStyle, name: str | None, empty: str | None
) -> str | None:
    """The Tags JSON of one resource, written the way ``style`` says."""
    found: dict[str, str] = {}
    if flavour.name_tag and name and style is not TagStyle.NONE:
        found["Name"] = name
    if style is TagStyle.KUBERNETES:
        found |= flavour.cluster_tags(name.rsplit("-", 1)[0] if name else "default")
    elif owner is not None and style not in (TagStyle.NAME_ONLY, TagStyle.NONE):
        found |= _labels(owner, style)
    return json.dumps(found, separators=(",", ":")) if found else empty


def _labels(owner: Owner, style: TagStyle) -> dict[str, str]:
    team, env = owner.team, owner.env
    if style is TagStyle.VALUE_CASE:
        team, env = team.title(), env.title()
    if style is TagStyle.PARTIAL:
        return {"team": team, "env": env}
    labels = {"team": team, "project": owner.project, "env": env}
    if owner.model:
        labels["model"] = owner.model
    labels["cost-center"] = TEAMS[owner.team].cost_center
    labels["owner"] = TEAMS[owner.team].owner
    renamed = {TagStyle.TEAM_TITLE: "Team", TagStyle.TEAM_UPPER: "TEAM"}
    if style in renamed:
        return {renamed[style] if k == "team" else k: v for k, v in labels.items()}
    if style is TagStyle.PROJECT_NAME:
        return {"project_name" if k == "project" else k: v for k, v in labels.items()}
    return labels
