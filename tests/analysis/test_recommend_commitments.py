"""Commitment sizing and unused commitments on hand-made FOCUS bills, savings worked out by hand.

Ten days of hourly rows (2026-10-01 to 10-10, 240 hours), ingested through the ``focus`` source:

* AWS: on-demand compute od-a $10/h all along, od-b $6/h the first 100 hours, one daily row of
  $24 over the first day ($1 an hour); a savings plan sp-1 covering $10/h of usage (contracted) for
  $5/h (effective) every hour, and $2/h of it unused in the last 48 hours; storage (not compute).
* Google Cloud: g-1 $5/h all along, g-2 $5/h from hour 24: no commitments.
* Microsoft: a reservation r-1 fully used, no on-demand compute.
* On-Premises: $50/h of compute, never a commitment candidate.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aifinops import Workspace
from aifinops.analysis.recommend import (
    Confidence,
    Recommendation,
    RecommendContext,
    history,
)
from aifinops.analysis.recommend.commitments import hours as window_hours
from aifinops.analysis.recommend.commitments import providers, residual
from aifinops.errors import QueryError
from aifinops.model.compute_savings import best_commitment, commitment_at
from aifinops.model.timewindow import Window
from tests.analysis.recommend_inputs import T0, cost_row, write_costs

TODAY = date(2026, 11, 23)
HOURS = 240
D = Decimal


def _costs() -> list[dict[str, str]]:
    gcp: dict[str, Any] = {"provider": "Google Cloud", "region": "us-central1"}
    used: dict[str, Any] = {"category": "Committed", "contracted": "10",
                            "commitment": ("sp-1", "Used")}  # fmt: skip
    unused: dict[str, Any] = {"category": "Committed", "commitment": ("sp-1", "Unused")}
    reserved: dict[str, Any] = {"provider": "Microsoft", "category": "Committed",
                                "contracted": "5", "commitment": ("r-1", "Used")}  # fmt: skip
    rows = [cost_row("od-a", h, "10") for h in range(HOURS)]
    rows += [cost_row("od-b", h, "6") for h in range(100)]
    rows.append(cost_row("od-day", 0, "24", hours=24))
    rows += [cost_row("c-1", h, "5", **used) for h in range(HOURS)]
    rows += [cost_row("sp-1", h, "2", **unused) for h in range(192, HOURS)]
    rows += [cost_row("bucket", 24 * d, "100", hours=24, service_category="Storage")
             for d in range(10)]  # fmt: skip
    rows += [cost_row("g-1", h, "5", **gcp) for h in range(HOURS)]
    rows += [cost_row("g-2", h, "5", **gcp) for h in range(24, HOURS)]
    rows += [cost_row("vm-1", h, "3", **reserved) for h in range(HOURS)]
    rows += [cost_row("dc-1", h, "50", provider="On-Premises") for h in range(HOURS)]
    return rows


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("recommend-commitments")
    with Workspace.init(root / "ws") as workspace:
        summary = workspace.ingest([write_costs(root / "costs.csv", _costs())], strict=True)
        assert summary.rows_quarantined == 0
        yield workspace


def _found(recs: list[Recommendation]) -> dict[tuple[str, str], Recommendation]:
    return {(r.kind, r.target): r for r in recs}


def test_commitments_by_hand(ws: Workspace) -> None:
    got = ws.recommend(["commitment", "commitment-unused"], today=TODAY)
    assert (got.window.start, got.window.end) == (date(2026, 10, 1), date(2026, 10, 11))
    assert {k: (r.monthly_saving, r.confidence) for k, r in _found(got).items()} == {
        # AWS: discount observed on sp-1 = 1 - 5/10 = 50%. Hourly on-demand: 17 (first day),
        # 16 (to hour 100), 10, and in the last 48 hours 10 less the 2 / (1 - 50%) = 4 the
        # unused plan could take: 6. Best in hindsight 10/h (saving 1,008), but the last week
        # never went under 6: commit 6/h -> 240 x 6 - 240 x 6 x 50% = 720 over 10 days.
        ("commitment", "AWS compute"): (D("2160.00"), Confidence.LOW),
        # Google Cloud: no commitment to observe, the 20% default. Hourly 5 (first day), then
        # 10: at 10/h, 24 x 5 + 216 x 10 - 240 x 10 x 80% = 360 over 10 days.
        ("commitment", "Google Cloud compute"): (D("1080.00"), Confidence.LOW),
        # sp-1: $2/h unused for 48 hours, still at the end, with on-demand usage beside it.
        ("commitment-unused", "sp-1"): (D("288.00"), Confidence.HIGH),
    }
    assert {r.currency for r in got} == {"USD"}


def test_evidence_coverage_and_utilisation(ws: Workspace) -> None:
    got = _found(ws.recommend(["commitment", "commitment-unused"], today=TODAY))
    aws = got[("commitment", "AWS compute")]
    assert aws.action.startswith("Commit 3.00 USD/hour to a Compute Savings Plan on AWS")
    assert "covers 6.00 USD/hour" in aws.action
    assert aws.details["discount"] == "0.5" and aws.details["capped_by_last_week"] is True
    # coverage: 2,400 covered of 2,400 + 3,024 on demand = 44%; with 240 x 6 more: 71%
    assert "coverage of compute by commitments 44% now, 71% with it" in aws.evidence
    assert "observed on sp-1" in aws.evidence
    gcp = got[("commitment", "Google Cloud compute")]
    assert gcp.details["capped_by_last_week"] is False
    assert (D(gcp.details["hourly_commitment"]), D(gcp.details["fully_used_share"])) == (
        D(8),
        D("0.9"),
    )
    assert "commitment_discount_pct default" in gcp.evidence
    sp = got[("commitment-unused", "sp-1")]
    # used 240 x 5 = 1,200, unused 48 x 2 = 96: 92.6% used; 48 x min(10, 4) = 192 fillable
    assert sp.details["utilisation"].startswith("0.9259")
    assert "92.6% used" in sp.evidence and "192.00 USD of AWS on-demand" in sp.evidence


def test_hours_spread_and_providers_left_out(ws: Workspace) -> None:
    ctx = RecommendContext(Window(date(2026, 10, 1), date(2026, 10, 11)))
    found = {p.name: p for p in providers(ws.engine, ctx)}
    assert set(found) == {"AWS", "Google Cloud", "Microsoft"}  # not On-Premises
    aws = found["AWS"]
    assert aws.on_demand[T0] == D(17)  # 10 + 6 + a 24-hour row's 1
    assert aws.on_demand[T0 + timedelta(hours=150)] == D(10)
    assert aws.unused[T0 + timedelta(hours=200)] == D(2)
    left = residual(aws, D("0.5"), window_hours(ctx))
    assert (left[0], left[150], left[200], len(left)) == (D(17), D(10), D(6), HOURS)
    assert found["Microsoft"].held[0].utilisation == 1 and not found["Microsoft"].on_demand


def test_best_commitment_is_the_discount_quantile() -> None:
    hourly = [D(17)] * 24 + [D(16)] * 76 + [D(10)] * 92 + [D(6)] * 48
    best = best_commitment(hourly, D("0.5"))
    assert (best.hourly, best.hourly_fee, best.saving) == (D(10), D(5), D(1008))
    assert best.used_share == D(192) / 240
    assert commitment_at(hourly, D("0.5"), D(16)).saving == D(888)
    capped = best_commitment(hourly, D("0.5"), cap=D(6))
    assert (capped.hourly, capped.saving, capped.used_share) == (D(6), D(720), D(1))
    assert best_commitment([D(0)] * 5, D("0.3")).hourly == 0
    assert best_commitment([], D("0.3")).saving == 0


def test_windows_are_clipped_to_the_data(ws: Workspace) -> None:
    first, last = date(2026, 10, 1), date(2026, 10, 10)
    assert history(Window(), first, last) == Window(first, date(2026, 10, 11))
    assert history(Window(date(2026, 9, 1), None), first, last) == Window(first, date(2026, 10, 11))
    assert history(Window(None, date(2026, 10, 5)), first, last, days=3) == Window(
        first, date(2026, 10, 5)
    )
    with pytest.raises(QueryError, match="no costs in"):
        ws.recommend(["commitment"], period="2026-09", today=TODAY)
    with pytest.raises(QueryError, match="no costs to recommend from"):
        history(Window(), None, None)
    with pytest.raises(QueryError, match="unknown recommendation kind"):
        ws.recommend(["commitments"], today=TODAY)


def test_empty_workspace_says_so(tmp_path: Path) -> None:
    with Workspace.init(tmp_path / "ws") as empty, pytest.raises(QueryError, match="no costs"):
        empty.recommend(today=TODAY)
