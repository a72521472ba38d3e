"""Filters: each decides whether a resource matches, and says why in words.

A filter that needs a figure the data does not have (no telemetry in the window, no price)
never matches: it says the figure is unknown instead of guessing.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from aifinops.policy.model import Duration, Resource, Verdict, compare
from aifinops.policy.registry import Filter, ResourceKind, filters

if TYPE_CHECKING:
    from aifinops.model.timewindow import Window
    from aifinops.policy.context import PolicyContext
    from aifinops.policy.policies import Policy

Problems = list[tuple[tuple[str | int, ...], str]]
OPS = ("eq", "ne", "gt", "ge", "lt", "le", "in", "not-in", "glob", "regex", "absent", "present")
NUMBER = {"type": "number"}
WINDOW = {"type": "string", "pattern": r"^\s*[0-9]+\s*[hdwHDW]\s*$"}


def span(window: Window) -> str:
    """``on 2026-10-19`` for one day, else ``over 2026-10-13 to 2026-10-19``."""
    if window.days == 1:
        return f"on {window.start}"
    return f"over {window}"


def money(amount: Decimal | None, currency: str | None) -> str:
    if amount is None:
        return "unknown"
    return f"{amount:,.2f} {currency or ''}".strip()


def _window_problem(f: Filter, key: str = "window") -> Problems:
    if key not in f.data:
        return []
    try:
        Duration.parse(f.data[key])
    except ValueError as exc:
        return [((*f.path, key), str(exc))]
    return []


def _duration(f: Filter, default: str | None = None) -> Duration | None:
    text = f.data.get("window", default)
    return None if text is None else Duration.parse(text)


@filters.register("value")
class ValueFilter(Filter):
    """Compare a field of the resource (``key``: a field name, or ``tags.KEY``) with ``value``.

    ``op``: eq (default), ne, gt, ge, lt, le, in, not-in (``value`` is a list), glob (``*``
    and ``?``, any letter case), regex (Python, searched), absent, present (no ``value``).
    Text compares in any letter case; numbers, money and dates as what they are. A field that is
    unknown (null) matches only ``absent``.

    Example::

        - type: value
          key: instance_type
          op: glob
          value: "p4d.*"
    """

    schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "key": {"type": "string", "minLength": 1},
            "op": {"enum": list(OPS)},
            "value": {},
        },
        "required": ["key"],
    }

    def check(self, ctx: PolicyContext, policy: Policy, resource: Resource) -> Verdict:
        key, op = self.data["key"], self.data.get("op", "eq")
        present, actual = resource.get(key)
        if op in ("absent", "present"):
            matched = present if op == "present" else not present
            return Verdict(matched, f"{key} is {'set' if present else 'not set'}")
        if not present:
            return Verdict(False, f"{key} is unknown")
        expected = self.data.get("value")
        matched = compare(op, actual, expected)
        return Verdict(matched, f"{key} = {_show(actual)} ({op} {_show(expected)}: {matched})")

    def problems(self, kind: type[ResourceKind]) -> Problems:
        key, op = self.data["key"], self.data.get("op", "eq")
        out: Problems = []
        if not key.startswith(("tags.", "tag:")) and key not in kind.field_names():
            fields = ", ".join(sorted(kind.field_names()))
            out.append(((*self.path, "key"), f"{kind.name} has no field {key!r}; it has {fields}"))
        has_value = "value" in self.data
        if op in ("absent", "present") and has_value:
            out.append(((*self.path, "value"), f"op {op} takes no value: remove it"))
        if op not in ("absent", "present") and not has_value:
            out.append((self.path, f"op {op} needs a value"))
        if op in ("in", "not-in") and not isinstance(self.data.get("value"), list):
            out.append(((*self.path, "value"), f"op {op} needs a list of values"))
        if op == "regex" and has_value:
            try:
                re.compile(str(self.data["value"]))
            except re.error as exc:
                out.append(((*self.path, "value"), f"not a regular expression: {exc}"))
        return out


def _show(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{value:,.2f}" if value == value.quantize(Decimal("0.01")) else f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


@filters.register("utilisation")
class Utilisation(Filter):
    """Average GPU utilisation over the last ``window`` (default 24h) is ``below`` or ``above``
    a percent, measured from telemetry (hourly averages per GPU).

    Hours without telemetry are unknown, never idle: a machine whose telemetry covers less than
    ``min-coverage`` percent (default 50) of its billed GPU-hours in the window does not match.

    Example::

        - type: utilisation
          below: 10
          window: 24h
    """

    schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "below": NUMBER,
            "above": NUMBER,
            "window": WINDOW,
            "min-coverage": {"type": "number", "minimum": 0, "maximum": 100},
        },
        "oneOf": [{"required": ["below"]}, {"required": ["above"]}],
    }
    needs = "utilisation"

    def check(self, ctx: PolicyContext, policy: Policy, resource: Resource) -> Verdict:
        window = ctx.window(policy, ctx.kind(policy).cost_table, _duration(self, "24h"))
        idle = float(ctx.workspace.settings.recommend_compute.idle_below_pct)
        use = ctx.utilisation(policy, window, idle).get(resource.id)
        coverage_min = float(self.data.get("min-coverage", 50))
        if not use or use.get("utilisation_pct") is None:
            return Verdict(False, f"utilisation unknown: no telemetry {span(window)}")
        pct, coverage = float(use["utilisation_pct"]), float(use["coverage_pct"] or 0)
        if coverage < coverage_min:
            return Verdict(
                False,
                f"utilisation {pct:.1f}% but telemetry covers only {coverage:.0f}% of the billed "
                f"GPU-hours {span(window)} (< {coverage_min:g}%)",
            )
        if "below" in self.data:
            matched, op, limit = pct < float(self.data["below"]), "<", self.data["below"]
        else:
            matched, op, limit = pct > float(self.data["above"]), ">", self.data["above"]
        word = op if matched else {"<": ">=", ">": "<="}[op]
        return Verdict(
            matched,
            f"utilisation {pct:.1f}% {word} {limit}% {span(window)} "
            f"({coverage:.0f}% of billed GPU-hours measured)",
        )

    def problems(self, kind: type[ResourceKind]) -> Problems:
        return super().problems(kind) + _window_problem(self)


@filters.register("idle-hours")
class IdleHours(Filter):
    """At least ``min`` idle hours in the last ``window`` (default: the policy's window): GPU-hours
    under ``below`` percent utilisation (default ``[recommend_compute] idle_below_pct``) divided by
    the machine's GPUs. Hours without telemetry are not counted as idle.

    Example::

        - type: idle-hours
          min: 24
          window: 2d
    """

    schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "min": {"type": "number", "minimum": 0},
            "window": WINDOW,
            "below": {"type": "number", "minimum": 0, "maximum": 100},
        },
        "required": ["min"],
    }
    needs = "utilisation"

    def check(self, ctx: PolicyContext, policy: Policy, resource: Resource) -> Verdict:
        window = ctx.window(policy, ctx.kind(policy).cost_table, _duration(self))
        default = ctx.workspace.settings.recommend_compute.idle_below_pct
        below = float(self.data.get("below", default))
        use = ctx.utilisation(policy, window, below).get(resource.id)
        if not use or use.get("idle_hours") is None:
            return Verdict(False, f"idle hours unknown: no telemetry {span(window)}")
        hours, least = float(use["idle_hours"]), float(self.data["min"])
        matched = hours >= least
        return Verdict(
            matched,
            f"{hours:,.1f} idle hours (GPUs under {below:g}%) {span(window)} "
            f"({'>=' if matched else '<'} {least:g})",
        )

    def problems(self, kind: type[ResourceKind]) -> Problems:
        return super().problems(kind) + _window_problem(self)


@filters.register("age")
class Age(Filter):
    """Age in whole days as of the run's day (``age_days``: what it counts is each kind's: since
    a storage prefix was last written, a job ended, a machine or key was first seen) compared
    with ``days`` by ``op`` (default ge: at least that old).

    Example::

        - type: age
          days: 30
    """

    schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "days": {"type": "integer", "minimum": 0},
            "op": {"enum": ["gt", "ge", "lt", "le"]},
        },
        "required": ["days"],
    }
    needs = "age"

    def check(self, ctx: PolicyContext, policy: Policy, resource: Resource) -> Verdict:
        present, age = resource.get("age_days")
        if not present:
            return Verdict(False, "age unknown")
        op, days = self.data.get("op", "ge"), int(self.data["days"])
        matched = compare(op, int(age), days)
        return Verdict(matched, f"{age} days old ({op} {days}: {matched})")


@filters.register("cost")
class Cost(Filter):
    """Cost at least ``min`` (and at most ``max``) in the resource's currency: over the last
    ``window`` where given, else the resource's own ``cost`` (over the policy's window; a job's
    whole cost; a storage prefix's monthly cost). ``currency`` keeps only resources billed in it.
    An unknown cost never matches.

    Example::

        - type: cost
          min: 500
          window: 7d
    """

    schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "min": NUMBER,
            "max": NUMBER,
            "window": WINDOW,
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        },
        "anyOf": [{"required": ["min"]}, {"required": ["max"]}],
    }
    needs = "cost"

    def check(self, ctx: PolicyContext, policy: Policy, resource: Resource) -> Verdict:
        currency = resource.data.get("currency")
        if "currency" in self.data and currency != self.data["currency"]:
            return Verdict(False, f"billed in {currency}, not {self.data['currency']}")
        duration = _duration(self)
        if duration is None:
            amount, span_text = resource.data.get("cost"), "cost"
        else:
            window = ctx.window(policy, ctx.kind(policy).cost_table, duration)
            amount = ctx.cost(policy, window).get(resource.id, Decimal(0))
            span_text = f"cost {span(window)}"
        if amount is None:
            return Verdict(False, f"{span_text} unknown")
        low, high = self.data.get("min"), self.data.get("max")
        matched = (low is None or amount >= Decimal(str(low))) and (
            high is None or amount <= Decimal(str(high))
        )
        bounds = " and ".join(
            b for b in (low is not None and f">= {low}", high is not None and f"<= {high}") if b
        )
        return Verdict(matched, f"{span_text} {money(amount, currency)} ({bounds}: {matched})")

    def problems(self, kind: type[ResourceKind]) -> Problems:
        out = super().problems(kind) + _window_problem(self)
        if "window" in self.data and "cost" in kind.measures and "cost-window" not in kind.measures:
            out.append(
                (
                    (*self.path, "window"),
                    f"{kind.name} has no cost over a window (its cost is {_cost_meaning(kind)}): "
                    "remove window",
                )
            )
        return out


def _cost_meaning(kind: type[ResourceKind]) -> str:
    spec = next((f for f in kind.all_fields() if f.name == "cost"), None)
    text = spec.description.rstrip(".") if spec else "Not windowed"
    return text[:1].lower() + text[1:]


@filters.register("spend-growth")
class SpendGrowth(Filter):
    """Spend over the last ``window`` (default 7d) grew by more than ``above`` percent against the
    ``window`` before it, with at least ``min`` spent in the last one (default 0). A resource with
    no spend before (or first seen after the earlier window began) is new: its growth is unknown
    and it does not match, unless ``new: true``
    (then new spend of at least ``min`` matches).

    Example::

        - type: spend-growth
          window: 7d
          above: 50
          min: 100
    """

    schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "window": WINDOW,
            "above": NUMBER,
            "min": {"type": "number", "minimum": 0},
            "new": {"type": "boolean"},
        },
        "required": ["above"],
    }
    needs = "cost-window"

    def check(self, ctx: PolicyContext, policy: Policy, resource: Resource) -> Verdict:
        duration = _duration(self, "7d")
        assert duration is not None
        now = ctx.window(policy, ctx.kind(policy).cost_table, duration)
        before = now.previous()
        current = ctx.cost(policy, now).get(resource.id, Decimal(0))
        previous = ctx.cost(policy, before).get(resource.id, Decimal(0))
        currency = resource.data.get("currency")
        spent = f"{money(current, currency)} in {now} vs {money(previous, currency)} in {before}"
        least = Decimal(str(self.data.get("min", 0)))
        if current < least:
            return Verdict(False, f"{spent}: under the minimum {least}")
        first = resource.data.get("first_seen")
        if first is not None and before.start is not None and first > before.start:
            previous = Decimal(0)  # first seen inside the earlier window: it only covers part of it
            spent += f" (first seen {first})"
        if not previous:
            new = bool(self.data.get("new")) and current > 0
            return Verdict(new, f"{spent}: new spend" if new else f"{spent}: growth unknown "
                                "(nothing spent before)")  # fmt: skip
        growth = (current - previous) * 100 / previous
        matched = growth > Decimal(str(self.data["above"]))
        return Verdict(matched, f"{spent}: {growth:+.1f}% ({'>' if matched else '<='} "
                                f"{self.data['above']}%)")  # fmt: skip

    def problems(self, kind: type[ResourceKind]) -> Problems:
        return super().problems(kind) + _window_problem(self)


@filters.register("tag")
class Tag(Filter):
    """A tag or label ``key`` (any letter case) is ``present`` or ``absent`` (``state``), or has a
    ``value`` (a glob, any letter case).

    Example::

        - type: tag
          key: team
          state: absent
    """

    schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "key": {"type": "string", "minLength": 1},
            "state": {"enum": ["present", "absent"]},
            "value": {"type": "string"},
        },
        "required": ["key"],
        "oneOf": [{"required": ["state"]}, {"required": ["value"]}],
    }

    def check(self, ctx: PolicyContext, policy: Policy, resource: Resource) -> Verdict:
        key = self.data["key"]
        value = resource.tag(key)
        if "value" in self.data:
            matched = value is not None and compare("glob", value, self.data["value"])
            return Verdict(matched, f"tag {key} = {value!r} (glob {self.data['value']!r})")
        matched = (value is not None) == (self.data["state"] == "present")
        return Verdict(matched, f"tag {key} {'is ' + repr(value) if value else 'is absent'}")


@filters.register("budget-state")
class BudgetState(Filter):
    """The budget's state is one of ``state`` (ok, warning, over; default warning and over), or
    with ``forecast: true`` its forecast at the period's end crosses a forecast threshold.

    Example::

        - type: budget-state
          forecast: true
    """

    schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "state": {
                "oneOf": [
                    {"enum": ["ok", "warning", "over"]},
                    {"type": "array", "items": {"enum": ["ok", "warning", "over"]}},
                ]
            },
            "forecast": {"type": "boolean"},
        }
    }
    needs = "budget"

    def check(self, ctx: PolicyContext, policy: Policy, resource: Resource) -> Verdict:
        data = resource.data
        if self.data.get("forecast"):
            crossed = data.get("forecast_thresholds_crossed") or []
            expected = money(data.get("forecast_expected"), data.get("currency"))
            if not crossed:
                return Verdict(False, f"forecast {expected} crosses no forecast threshold")
            top = max(Decimal(str(c)) for c in crossed)
            return Verdict(True, f"forecast {expected} crosses {top}% of the amount")
        wanted = self.data.get("state", ["warning", "over"])
        wanted = [wanted] if isinstance(wanted, str) else wanted
        state = data.get("state")
        return Verdict(state in wanted, f"state {state} (one of {', '.join(wanted)}?)")
