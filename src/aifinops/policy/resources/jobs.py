"""``job``: training runs, fine-tunes, experiments and other jobs of the ``jobs`` table (and
workloads only GPU telemetry names), with their allocated cost
(:func:`aifinops.analysis.job_costs.job_rows`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aifinops.analysis.unit_costs import Unit, UnitQuery, exact_ratio
from aifinops.errors import QueryError
from aifinops.model.timewindow import Window
from aifinops.policy.model import FieldSpec, Resource, as_dict, tag_any_case
from aifinops.policy.registry import ResourceKind, resource_kinds

if TYPE_CHECKING:
    from aifinops.policy.context import PolicyContext
    from aifinops.policy.policies import Policy


@resource_kinds.register("job")
class Job(ResourceKind):
    """Jobs that started in the policy's window or were still running at its end, each with its
    whole allocated cost (all of it, also what was charged after the window). A job without
    allocated cost has ``cost`` null and a ``note`` saying why (never 0). Needs ``aifinops
    allocate``.

    Example::

        resource: job
        window: 30d
    """

    fields = (
        FieldSpec("job_kind", "string", "training, fine-tune, evaluation, experiment ..."),
        FieldSpec("status", "string", "completed, failed, cancelled, running ..."),
        FieldSpec("start_time", "date", "Day it started (UTC)."),
        FieldSpec("end_time", "date", "Day it ended (None while running)."),
        FieldSpec("running", "boolean", "Still running on the run's day."),
        FieldSpec("duration_hours", "number", "Hours from start to end (to the run's day)."),
        FieldSpec("host", "string", "Machine it ran on."),
        FieldSpec("gpu_count", "integer", "GPUs it asked for."),
        FieldSpec("gpu_hours", "number", "GPU-hours it held (allocation)."),
        FieldSpec("cost", "money", "Its whole allocated cost."),
        FieldSpec("currency", "string", "BillingCurrency."),
        FieldSpec("cost_per_gpu_hour", "money", "cost / gpu_hours (6 places, half-even)."),
        FieldSpec("user", "string", "Who submitted it (scheduler user)."),
        FieldSpec("project", "string", "Allocation dimension project."),
        FieldSpec("model", "string", "Allocation dimension model."),
        FieldSpec("note", "string", "Why it has no cost, where it has none."),
        FieldSpec("age_days", "integer", "Days since it ended (since it started while running)."),
    )
    identity = ("host", "user")
    measures = frozenset({"cost", "age"})

    def load(self, ctx: PolicyContext, policy: Policy) -> list[Resource]:
        from aifinops.analysis.job_costs import job_rows, missing_reasons

        if not ctx.engine.has_table("allocated_costs"):
            raise QueryError(
                f"policy {policy.name}: job costs need allocated_costs",
                hint="run `aifinops allocate` first",
            )
        window = ctx.window(policy, self.cost_table)
        settings = ctx.workspace.settings
        query = UnitQuery(
            per=Unit.JOB, metric=settings.report.metric, window=Window(None, window.end)
        )
        rows = ctx.engine.execute(job_rows(ctx.engine, settings.allocation, query, ())).to_pylist()
        assert window.start is not None and window.end is not None
        start, end = _moment(window.start), _moment(window.end)
        kept = [r for r in rows if r["start_time"] >= start or _running(r, end)]
        notes = missing_reasons(ctx.engine, [r["job_id"] for r in kept if r["cost"] is None])
        return [self._resource(r, notes.get(r["job_id"]), ctx.as_of, end) for r in kept]

    def _resource(
        self, r: dict[str, Any], note: str | None, as_of: date, end: datetime
    ) -> Resource:
        labels = as_dict(r.get("labels_map"))
        running = _running(r, end)
        stop = end if running or r["end_time"] is None else min(r["end_time"], end)
        cost: Decimal | None = r["cost"]
        return Resource(
            "job",
            {
                "id": r["job_id"],
                "name": r.get("name") or r["job_id"],
                "owner": tag_any_case(labels, "owner") or r.get("user_name"),
                "team": r.get("team") or tag_any_case(labels, "team"),
                "tags": labels,
                "job_kind": r.get("kind"),
                "status": "running" if running and not r.get("status") else r.get("status"),
                "start_time": r["start_time"].date(),
                "end_time": r["end_time"].date() if r["end_time"] and not running else None,
                "running": running,
                "duration_hours": round((stop - r["start_time"]).total_seconds() / 3600, 2),
                "host": r.get("host"),
                "gpu_count": r.get("gpu_count"),
                "gpu_hours": r.get("gpu_hours"),
                "cost": cost,
                "currency": r.get("BillingCurrency"),
                "cost_per_gpu_hour": exact_ratio(cost, r.get("gpu_hours"), 6),
                "user": r.get("user_name"),
                "project": r.get("project"),
                "model": r.get("model"),
                "note": None if cost is not None else note,
                "age_days": (as_of - (r["start_time"] if running else stop).date()).days,
            },
        )


def _moment(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _running(r: dict[str, Any], end: datetime) -> bool:
    return bool(r["start_time"] < end and (r["end_time"] is None or r["end_time"] > end))
