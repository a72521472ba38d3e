"""``gpu``: GPU machines, as :mod:`aifinops.analysis.gpu` finds them in the bills (a usage row of
a catalog GPU instance type, or an on-premises row stating its GPUs), with their cost and the
utilisation their telemetry shows (:func:`~aifinops.analysis.gpu.gpu_efficiency`)."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aifinops.analysis.gpu import GpuEfficiencyQuery, gpu_efficiency, gpu_rows
from aifinops.model.timewindow import Window
from aifinops.policy.model import FieldSpec, Resource, tag_any_case
from aifinops.policy.registry import ResourceKind, resource_kinds

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.policy.context import PolicyContext
    from aifinops.policy.policies import Policy

#: the provider's own short id at the end of a resource id (EC2 instance, GCE instance, VM name)
_SHORT_ID = re.compile(r"(?:instance/|instances/|virtualMachines/)([^/]+)$", re.IGNORECASE)


def short_id(resource_id: str | None, name: str) -> str:
    """``i-0abc`` from ``arn:aws:ec2:...:instance/i-0abc``; the name where there is none."""
    found = _SHORT_ID.search(resource_id or "")
    return found.group(1) if found else (resource_id or name)


def parse_tags(text: str | None) -> dict[str, str]:
    """A FOCUS ``Tags`` JSON object as text -> dict (anything else: empty)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def days_between(first: datetime | date | None, as_of: date) -> int | None:
    if first is None:
        return None
    day = first.date() if isinstance(first, datetime) else first
    return (as_of - day).days


@resource_kinds.register("gpu")
class Gpu(ResourceKind):
    """GPU machines billed in the policy's window: cloud instances of a GPU type and on-premises
    servers. ``id`` is the bill's ResourceId (else the name); ``instance_id`` the provider's short
    id for commands (``i-0abc...``). Utilisation and idle hours come from GPU telemetry joined by
    host name and hour; hours without telemetry are unknown, never idle.

    Example::

        resource: gpu
        window: 7d
    """

    fields = (
        FieldSpec("instance_id", "string", "The provider's short id: EC2 instance id, VM name."),
        FieldSpec("provider", "string", "ProviderName of its cost rows."),
        FieldSpec("region", "string", "RegionId."),
        FieldSpec("account", "string", "SubAccountId (AWS account, subscription, project)."),
        FieldSpec("instance_type", "string", "Catalog instance type (None on-premises)."),
        FieldSpec("gpu_model", "string", "GPU model."),
        FieldSpec("gpus", "number", "GPUs in the machine."),
        FieldSpec("cost", "money", "Cost over the policy's window (the workspace's metric)."),
        FieldSpec("currency", "string", "BillingCurrency."),
        FieldSpec("gpu_hours", "number", "Billed GPU-hours in the window."),
        FieldSpec("telemetry_gpu_hours", "number", "GPU-hours with telemetry in the window."),
        FieldSpec("coverage_pct", "number", "Share of billed GPU-hours with telemetry, percent."),
        FieldSpec("utilisation_pct", "number", "Average utilisation over the hours measured."),
        FieldSpec("idle_hours", "number", "Idle GPU-hours / GPUs in the window."),
        FieldSpec("idle_cost", "money", "Estimated cost of the idle GPU-hours (to the cent)."),
        FieldSpec("first_seen", "date", "First day it was billed (all history to the run day)."),
        FieldSpec("last_seen", "date", "Last day it was billed."),
        FieldSpec("age_days", "integer", "Days since it was first billed."),
    )
    identity = ("instance_id", "provider", "region", "account", "instance_type")
    measures = frozenset({"cost", "cost-window", "utilisation", "age"})
    default_window = "7d"

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}  # machine name -> resource id

    def load(self, ctx: PolicyContext, policy: Policy) -> list[Resource]:
        window = ctx.window(policy, self.cost_table)
        idle = ctx.workspace.settings.recommend_compute.idle_below_pct
        query = self._query(ctx, window, idle, ("machine", "instance_type", "gpu_model"))
        measured = ctx.engine.execute(gpu_efficiency(ctx.engine, query)).to_pylist()
        about = self._identity(ctx, window.end)
        out = []
        for row in measured:
            facts = about.get(row["machine"], {})
            resource = self._resource(ctx, row, facts)
            self.ids[row["machine"]] = resource.id
            out.append(resource)
        return sorted(out, key=lambda r: r.id)

    def _query(
        self, ctx: PolicyContext, window: Window, idle: float, by: tuple[str, ...]
    ) -> GpuEfficiencyQuery:
        return GpuEfficiencyQuery(
            by=by,
            metric=ctx.workspace.settings.report.metric,
            window=window,
            idle_below=idle,
            busy_from=max(idle, 50.0),
        )

    def _identity(self, ctx: PolicyContext, end: date | None) -> dict[str, dict[str, Any]]:
        """Per machine over all history before ``end``: ids, provider, region, latest tags."""
        by = ("ResourceId", "ProviderName", "RegionId", "SubAccountId", "Tags")
        rows = gpu_rows(ctx.engine, GpuEfficiencyQuery(by=by, window=Window(None, end)))
        g = rows.group_by("machine").aggregate(
            resource_id=rows.ResourceId.max(),
            provider=rows.ProviderName.max(),
            region=rows.RegionId.max(),
            account=rows.SubAccountId.max(),
            tags=_latest(rows, rows.Tags),
            gpus=rows.gpus.max(),
            first=rows.ChargePeriodStart.min(),
            last=rows.ChargePeriodEnd.max(),
        )
        return {r["machine"]: r for r in ctx.engine.execute(g).to_pylist()}

    def _resource(self, ctx: PolicyContext, row: dict[str, Any], facts: dict[str, Any]) -> Resource:
        tags = parse_tags(facts.get("tags"))
        name = row["machine"]
        gpus = float(facts.get("gpus") or 0) or None
        last = facts.get("last")
        return Resource(
            "gpu",
            {
                "id": facts.get("resource_id") or name,
                "name": name,
                "owner": tag_any_case(tags, "owner"),
                "team": tag_any_case(tags, "team"),
                "tags": tags,
                "instance_id": short_id(facts.get("resource_id"), name),
                "provider": facts.get("provider"),
                "region": facts.get("region"),
                "account": facts.get("account"),
                "instance_type": row["instance_type"],
                "gpu_model": row["gpu_model"],
                "gpus": gpus,
                "cost": row["cost"],
                "currency": row["BillingCurrency"],
                **_use(row, gpus),
                "idle_cost": row["idle_cost"],
                "first_seen": _day(facts.get("first")),
                "last_seen": _day(last, before_midnight=True),
                "age_days": days_between(facts.get("first"), ctx.as_of),
            },
        )

    def cost(self, ctx: PolicyContext, policy: Policy, window: Window) -> dict[str, Decimal]:
        rows = gpu_rows(ctx.engine, GpuEfficiencyQuery(by=(), window=window))
        g = rows.group_by("machine").aggregate(cost=rows.cost.sum())
        return {
            self.ids.get(r["machine"], r["machine"]): r["cost"]
            for r in ctx.engine.execute(g).to_pylist()
        }

    def utilisation(
        self, ctx: PolicyContext, policy: Policy, window: Window, idle_below: float
    ) -> dict[str, dict[str, Any]]:
        query = self._query(ctx, window, idle_below, ("machine",))
        rows = ctx.engine.execute(gpu_efficiency(ctx.engine, query)).to_pylist()
        gpus = self._gpus(ctx, window)
        return {
            self.ids.get(r["machine"], r["machine"]): _use(r, gpus.get(r["machine"])) for r in rows
        }

    def _gpus(self, ctx: PolicyContext, window: Window) -> dict[str, float]:
        rows = gpu_rows(ctx.engine, GpuEfficiencyQuery(by=(), window=window))
        g = rows.group_by("machine").aggregate(gpus=rows.gpus.max())
        return {r["machine"]: float(r["gpus"]) for r in ctx.engine.execute(g).to_pylist()}


def _use(row: dict[str, Any], gpus: float | None) -> dict[str, Any]:
    """Telemetry figures of one :func:`gpu_efficiency` row."""
    billed = float(row["gpu_hours"] or 0)
    seen = float(row["telemetry_gpu_hours"] or 0)
    idle = float(row["idle_gpu_hours"] or 0)
    util = row["avg_util_pct"]
    return {
        "gpu_hours": billed,
        "telemetry_gpu_hours": seen,
        "coverage_pct": round(100 * seen / billed, 2) if billed else None,
        "utilisation_pct": None if util is None or not seen else round(float(util), 2),
        "idle_hours": round(idle / gpus, 2) if gpus and seen else None,
    }


def _latest(rows: ir.Table, value: ir.Value) -> ir.Value:
    return value.argmax(rows.ChargePeriodEnd)


def _day(moment: datetime | None, *, before_midnight: bool = False) -> date | None:
    """The UTC day of ``moment`` (an end at midnight belongs to the day before)."""
    if moment is None:
        return None
    if before_midnight and moment.hour == moment.minute == moment.second == 0:
        from datetime import timedelta

        return (moment - timedelta(seconds=1)).date()
    return moment.date()
