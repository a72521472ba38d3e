"""Root cause: which service, account, resource, region, team, project, model or LLM key moved.

For an anomalous day of a scope, the day's rows are compared with the reference days its
baseline rests on (the same weekday in recent weeks, or the days of its level window; for
recurring charges the same day of the month before). A value's expected spend is its share of
the reference days' spend times the day's expected spend, so the contributions of a dimension's
values add up to the anomaly's impact: ``contribution = actual - share x expected``, and
``share of the anomaly = contribution / impact``.

The bill's own columns (service, account, resource, region, charge description, provider, and
for LLM API rows their API key and model) come from ``costs``; allocation dimensions (team,
project, model, ...) from ``allocated_costs``. Shared-cost pools are split there once a month, so
a bill scope's change that sits in a pool shows in the dimensions as ``(shared pools, split
monthly)``. A dimension scope reads ``allocated_costs`` joined to the cost rows it came from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from aifinops.analysis.anomaly_series import USAGE, is_usage
from aifinops.analysis.common import NOT_SET
from aifinops.analysis.scope import scoped
from aifinops.errors import ConfigError
from aifinops.model.scope import ALLOCATED, BILL, Scope

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aifinops.engine import Engine
    from aifinops.model.metrics import CostMetric

CENT = Decimal("0.01")
POOLED = "(shared pools, split monthly)"
#: Drill-down names read from the bill (``costs``); the rest are allocation dimensions.
BILL_DRILL = ("service", "account", "resource", "region", "charge", "provider", "api_key",
              "llm_model")  # fmt: skip
ATOM = ("service", "account", "resource")  # a cost's identity, to tell whether two views overlap


@dataclass(frozen=True)
class Cause:
    """One value's part in an anomaly: its spend on the day, its share of the expected spend,
    the difference (``impact``) and the share of the anomaly's impact it explains."""

    dimension: str
    value: str
    actual: Decimal
    expected: Decimal
    impact: Decimal
    share: float


@dataclass
class DrillDown:
    causes: dict[str, list[Cause]] = field(default_factory=dict)  # ranked, per dimension
    atoms: dict[tuple[str, ...], float] = field(default_factory=dict)


@dataclass(frozen=True)
class Question:
    """What to drill: a scope's spend of one currency and kind on ``day`` against ``reference``
    days, whose scaled mix is ``expected`` in all."""

    scope: Scope
    currency: str
    basis: str
    day: date
    reference: tuple[date, ...]
    expected: float
    impact: float


def check_drill(names: Sequence[str], dimensions: Sequence[str]) -> None:
    for name in names:
        if name not in BILL_DRILL and name not in dimensions:
            known = ", ".join([*BILL_DRILL, *dimensions])
            raise ConfigError(
                f"cannot drill anomalies down by {name!r}",
                hint=f"[anomalies] drill_down takes {known}",
            )


def drill_down(
    engine: Engine,
    question: Question,
    *,
    dimensions: Sequence[str],
    metric: CostMetric,
    drill: Sequence[str],
) -> DrillDown:
    """Every drill dimension's values ranked by their contribution to the anomaly."""
    bill_names = [n for n in drill if n in BILL_DRILL]
    dim_names = [n for n in drill if n not in BILL_DRILL]
    out = DrillDown()
    if question.scope.source == BILL:
        rows = _rows(engine, question, dimensions, metric, source=BILL)
        primary = _grouped(engine, _bill_columns(engine, rows), rows, metric, bill_names)
        scale = _scale(primary, question)
        _contribute(out, primary, bill_names, question, scale)
        if dim_names and engine.has_table(ALLOCATED) and not question.scope.tags:
            rows = _rows(engine, question, dimensions, metric, source=ALLOCATED)
            alloc = _grouped(engine, {n: rows[n] for n in dim_names}, rows, metric, dim_names)
            _contribute(out, alloc, dim_names, question, scale, pooled=True)
    else:
        rows = _joined(engine, _rows(engine, question, dimensions, metric, source=ALLOCATED))
        columns = _bill_columns(engine, rows) | {n: rows[n] for n in dim_names}
        primary = _grouped(engine, columns, rows, metric, [*bill_names, *dim_names])
        scale = _scale(primary, question)
        _contribute(out, primary, [*bill_names, *dim_names], question, scale)
    out.atoms = _atoms(primary, question, scale)
    out.causes = {  # in the order asked for; a dimension no row has a value of is left out
        name: out.causes[name]
        for name in drill
        if name in out.causes and any(c.value != NOT_SET for c in out.causes[name])
    }
    return out


def _rows(
    engine: Engine, q: Question, dimensions: Sequence[str], metric: CostMetric, *, source: str
) -> ir.Table:
    rows = scoped(engine, q.scope, dimensions, source=source)
    rows = rows.filter(rows.day.isin([q.day, *q.reference]) & (rows.BillingCurrency == q.currency))
    if "shared_pool" in rows.columns:
        rows = rows.filter(rows.shared_pool.isnull())
    usage = is_usage(rows)
    return rows.filter(usage if q.basis == USAGE else ~usage)


def _joined(engine: Engine, rows: ir.Table) -> ir.Table:
    """Allocated rows with the bill-only columns of the cost row each came from."""
    costs = engine.table(BILL)
    wanted = [c for c in ("ChargeDescription", "SkuId", "x_ApiKeyId", "x_LlmSource") if c in costs]
    bill = costs.select(
        costs.x_IngestFileId.name("_file"), costs.x_SourceRecord.name("_record"), *wanted
    )
    joined = rows.left_join(
        bill, [rows.x_IngestFileId == bill._file, rows.x_SourceRecord == bill._record]
    )
    return joined.drop("_file", "_record")


def _bill_columns(engine: Engine, rows: ir.Table) -> dict[str, ir.Value]:
    import ibis

    out: dict[str, ir.Value] = {
        "service": rows.ServiceName,
        "account": rows.SubAccountName.fill_null(rows.SubAccountId),
        "resource": rows.ResourceName.fill_null(rows.ResourceId),
        "region": rows.RegionId,
        "provider": rows.provider,
    }
    if "ChargeDescription" in rows.columns:
        out["charge"] = rows.ChargeDescription
    if "x_LlmSource" in rows.columns:
        out["api_key"] = rows.x_ApiKeyId
        out["llm_model"] = ibis.ifelse(rows.x_LlmSource.notnull(), rows.SkuId, ibis.null("string"))
    return out


def _grouped(
    engine: Engine,
    columns: dict[str, ir.Value],
    rows: ir.Table,
    metric: CostMetric,
    names: Sequence[str],
) -> list[dict[str, Any]]:
    keep = {n: columns[n].cast("string").name(n) for n in (*names, *ATOM) if n in columns}
    grouped = rows.group_by([rows.day, *keep.values()]).aggregate(amount=rows[metric.column].sum())
    return engine.execute(grouped).to_pylist()  # type: ignore[no-any-return]


@dataclass(frozen=True)
class _Scale:
    factor: float  # expected spend per unit of mean reference spend
    references: int


def _scale(rows: list[dict[str, Any]], q: Question) -> _Scale:
    reference = sum(
        float(r["amount"]) for r in rows if r["day"] != q.day and r["amount"] is not None
    )
    mean = reference / len(q.reference) if q.reference else 0.0
    return _Scale(q.expected / mean if mean > 0 else 0.0, len(q.reference))


def _split(
    rows: list[dict[str, Any]], key: tuple[str, ...], q: Question
) -> dict[tuple[str, ...], tuple[Decimal, float]]:
    """Per value of ``key``: (exact spend on the day, mean spend on a reference day)."""
    day: dict[tuple[str, ...], Decimal] = defaultdict(Decimal)
    mean: dict[tuple[str, ...], float] = defaultdict(float)
    for row in rows:
        if row["amount"] is None:
            continue
        value = tuple(row.get(k) or NOT_SET for k in key)
        if row["day"] == q.day:
            day[value] += row["amount"]
        elif q.reference:
            mean[value] += float(row["amount"]) / len(q.reference)
    return {v: (day.get(v, Decimal(0)), mean.get(v, 0.0)) for v in {*day, *mean}}


def _contribute(
    out: DrillDown,
    rows: list[dict[str, Any]],
    names: Sequence[str],
    q: Question,
    scale: _Scale,
    *,
    pooled: bool = False,
) -> None:
    for name in names:
        if rows and name not in rows[0]:
            continue
        causes = []
        for (value,), (actual, mean) in _split(rows, (name,), q).items():
            expected = mean * scale.factor
            causes.append(_cause(name, value, actual, expected, q.impact))
        if pooled:
            rest = q.impact - sum(float(c.impact) for c in causes)
            if abs(rest) >= max(0.01 * abs(q.impact), 1.0):
                causes.append(Cause(name, POOLED, cents(rest), Decimal(0), cents(rest),
                                    rest / q.impact if q.impact else 0.0))  # fmt: skip
        sign = 1 if q.impact >= 0 else -1
        out.causes[name] = sorted(causes, key=lambda c: (-sign * c.impact, c.value))


def _cause(name: str, value: str, actual: Decimal, expected: float, impact: float) -> Cause:
    change = float(actual) - expected
    return Cause(
        name, value, actual, cents(expected), actual - cents(expected),
        change / impact if impact else 0.0,
    )  # fmt: skip


def _atoms(rows: list[dict[str, Any]], q: Question, scale: _Scale) -> dict[tuple[str, ...], float]:
    present = tuple(k for k in ATOM if not rows or k in rows[0])
    split = _split(rows, present, q)
    return {key: float(actual) - mean * scale.factor for key, (actual, mean) in split.items()}


def cents(value: float | Decimal) -> Decimal:
    """An estimate rounded half-even to the cent."""
    exact = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    return exact.quantize(CENT, rounding=ROUND_HALF_EVEN)
