"""GPU recommendations (gpu-idle, gpu-rightsize, spot) on a hand-made workspace, savings by hand.

Fourteen days of hourly bills (2026-10-01, a Thursday, to 10-14), DCGM telemetry for every billed
hour (Prometheus range exports) and scheduler jobs, ingested through the real sources. The window
is the last 30 days of data: the 14 days, so a month's saving is the window's x 30 / 14.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest

from aifinops import Workspace
from aifinops.analysis.recommend import Confidence, Recommendation, RecommendContext, recommend
from aifinops.model.compute_savings import ComputeRecommendSettings
from aifinops.model.mig import gpus_needed, memory_mib, profiles_for, smallest_fit
from aifinops.model.timewindow import Window
from tests.analysis.recommend_inputs import (
    HOURS,
    at,
    cost_row,
    gpu_series,
    weekend,
    write_costs,
    write_prometheus,
)

TODAY = date(2026, 11, 23)
DAYS = 14
A10G_MIB, H100_MIB = 22888, 81559
# Catalog list prices (USD per instance-hour) the savings rest on.
G5_X, G5_12X, G5_48X, G4DN_X = (
    Decimal("1.006"),
    Decimal("5.672"),
    Decimal("16.288"),
    Decimal("0.526"),
)
A3_8G, A3_2G = Decimal("88.4899999025753"), Decimal("22.1224999756438")  # us-central1
A3_8G_SPOT = Decimal("50.6095408219178")
G2_8, G2_8_SPOT = Decimal("0.853624271"), Decimal("0.479872")


def monthly(amount: Decimal) -> Decimal:
    return (amount * 30 / DAYS).quantize(Decimal("0.01"), ROUND_HALF_EVEN)


def _hourly(
    machine: str, price: str, hours: range = range(HOURS), **kw: Any
) -> list[dict[str, str]]:
    return [cost_row(machine, h, price, **kw) for h in hours]


def _costs() -> list[dict[str, str]]:
    gcp: dict[str, Any] = {"provider": "Google Cloud", "region": "us-central1"}
    rows = [
        *_hourly("idle-box", "1.006", itype="g5.xlarge", tags='{"Team": "Research"}'),
        *_hourly("night-box", "1.006", itype="g5.xlarge", tags='{"team": "search"}'),
        *_hourly("fewer-box", "16.288", itype="g5.48xlarge"),
        *_hourly("small-box", "1.006", itype="g5.xlarge"),
        *_hourly("mig-box", "88.49", itype="a3-highgpu-8g", **gcp),
        *_hourly("train-box", "88.49", itype="a3-highgpu-8g", **gcp),
        *_hourly("tag-box", "0.85", itype="g2-standard-8", tags='{"Interruptible": "yes"}', **gcp),
        *_hourly("gone-box", "1.006", range(120), itype="g5.xlarge"),
        *_hourly("blind-box", "1.006", itype="g5.xlarge"),
        # AWS lists no spot price: the bills' own spot rows of the type give it (2.00 vs 5.672)
        *_hourly("od-trainer", "5.672", itype="g5.12xlarge"),
        *_hourly("spot-peer", "2.00", itype="g5.12xlarge", category="Dynamic"),
        *_hourly("committed-box", "1.006", range(168, HOURS), itype="g5.xlarge"),
    ]
    committed: dict[str, Any] = {"category": "Committed", "contracted": "1.006",
                                 "commitment": ("sp-x", "Used")}  # fmt: skip
    rows += _hourly("committed-box", "0.70", range(168), itype="g5.xlarge", **committed)
    return rows


def _telemetry() -> list[dict[str, object]]:
    every, busy = range(HOURS), (lambda _h: 60.0)
    out = []
    for host, gpus, util, memory, total in (
        ("idle-box", 1, lambda _h: 0.0, 300, A10G_MIB),
        ("night-box", 1, lambda h: 0.0 if weekend(h) else 60.0, 9000, A10G_MIB),
        ("small-box", 1, lambda _h: 15.0, 4000, A10G_MIB),
        ("mig-box", 8, lambda _h: 10.0, 8000, H100_MIB),
        ("train-box", 8, lambda _h: 95.0, 70000, H100_MIB),
        ("tag-box", 1, busy, 12000, 23034),
        ("committed-box", 1, lambda _h: 0.0, 300, A10G_MIB),
    ):
        out += [
            s
            for g in range(gpus)
            for s in gpu_series(host, g, every, util, memory_mib=memory, total_mib=total)
        ]
    for g in range(8):  # GPUs 0-3 busy, 4-7 idle
        util = (lambda _h: 70.0) if g < 4 else (lambda _h: 0.0)
        out += gpu_series("fewer-box", g, every, util, memory_mib=15000, total_mib=A10G_MIB)
    out += gpu_series("gone-box", 0, range(120), lambda _h: 0.0, memory_mib=300, total_mib=A10G_MIB)
    return out


def _jobs(path: Path) -> Path:
    """Seven daily training runs on train-box (168 of its 336 hours), checkpointing."""
    lines = ["job_id,name,kind,start,end,host,status,project,checkpoint_dir"]
    for day in range(7):
        start, end = at(24 * day).isoformat(), at(24 * day + 24).isoformat()
        lines.append(f"j{day},pretrain-{day},training,{start},{end},train-box,completed,"
                     f"llm,s3://ckpt/llm/run-{day}")  # fmt: skip
    lines.append(f"x1,ablation,experiment,{at(0).isoformat()},{at(HOURS).isoformat()},od-trainer,"
                 "completed,abl,")  # fmt: skip
    lines.append(f"e1,eval,inference,{at(0).isoformat()},{at(48).isoformat()},mig-box,completed,x,")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("recommend-gpu")
    with Workspace.init(root / "ws") as workspace:
        for paths, source in (
            ([write_costs(root / "costs.csv", _costs())], "focus"),
            ([write_prometheus(root / "dcgm.json", _telemetry())], "prometheus"),
            ([_jobs(root / "jobs.csv")], "jobs"),
        ):
            summary = workspace.ingest(paths, source=source, strict=True)
            assert summary.rows_ingested > 0 and summary.rows_quarantined == 0
        yield workspace


def _found(recs: list[Recommendation]) -> dict[tuple[str, str], Recommendation]:
    return {(r.kind, r.target): r for r in recs}


def _spot(cost_per_hour: Decimal, hours: int, spot: Decimal, on_demand: Decimal) -> Decimal:
    return cost_per_hour * hours * (1 - spot / on_demand * Decimal("1.1"))


def test_every_gpu_recommendation_by_hand(ws: Workspace) -> None:
    got = ws.recommend(["gpu-idle", "gpu-rightsize", "spot"], today=TODAY)
    assert (got.window.start, got.window.end) == (date(2026, 10, 1), date(2026, 10, 15))
    expected = {
        # idle all the time: its whole cost
        ("gpu-idle", "idle-box"): (monthly(G5_X * HOURS), Confidence.HIGH, "Research"),
        # idle on the 4 weekend days only (96 of 336 hours): schedule it off then
        ("gpu-idle", "night-box"): (monthly(G5_X * 96), Confidence.HIGH, "search"),
        # idle, but half its hours were under a commitment (paid anyway): the on-demand half
        ("gpu-idle", "committed-box"): (monthly(G5_X * 168), Confidence.HIGH, None),
        # 4 of 8 A10G idle: g5.12xlarge (4 A10G) instead of g5.48xlarge
        ("gpu-rightsize", "fewer-box"): (
            monthly(G5_48X * HOURS * (1 - G5_12X / G5_48X)), Confidence.MEDIUM, None),
        # 8 H100 at 10% with 8,000 MiB: 1g.10gb MIG instances, 7 a GPU -> 2 GPUs (a3-highgpu-2g)
        ("gpu-rightsize", "mig-box"): (
            monthly(Decimal("88.49") * HOURS * (1 - A3_2G / A3_8G)), Confidence.MEDIUM, None),
        # one A10G at 15% with 4,000 MiB: a T4 (16 GiB, 70 W >= 150 W x 18%) in g4dn.xlarge
        ("gpu-rightsize", "small-box"): (
            monthly(G5_X * HOURS * (1 - G4DN_X / G5_X)), Confidence.LOW, None),
        # training jobs ran 168 of 336 hours, with checkpoints: that half on spot, +10% hours
        ("spot", "train-box"): (
            monthly(_spot(Decimal("88.49"), 168, A3_8G_SPOT, A3_8G)), Confidence.MEDIUM, None),
        # an experiment all window long, no checkpoints; the spot price from the bills
        ("spot", "od-trainer"): (
            monthly(_spot(G5_12X, HOURS, Decimal(2), G5_12X)), Confidence.LOW, None),
        # tagged interruptible: all of it
        ("spot", "tag-box"): (
            monthly(_spot(Decimal("0.85"), HOURS, G2_8_SPOT, G2_8)), Confidence.MEDIUM, None),
    }  # fmt: skip
    assert {k: (r.monthly_saving, r.confidence, r.team) for k, r in _found(got).items()} == expected
    assert all(r.currency == "USD" for r in got)
    # largest first; nothing for the machine gone before the window's last days, nor for the one
    # without telemetry (unknown is not idle)
    assert [r.monthly_saving for r in got] == sorted((r.monthly_saving for r in got), reverse=True)
    assert not {r.target for r in got} & {"gone-box", "blind-box"}


def test_evidence_and_details_say_what_was_measured(ws: Workspace) -> None:
    got = _found(ws.recommend(["gpu-idle", "gpu-rightsize", "spot"], today=TODAY))
    night = got[("gpu-idle", "night-box")]
    assert "on weekends" in night.action and "Schedule" in night.action
    assert night.details["schedule_off"] == [f"weekend {b}" for b in ("00-06", "06-12", "12-18",
                                                                          "18-24")]  # fmt: skip
    assert "weekdays 0% idle; weekends 100% idle" in night.evidence
    assert "Stop idle-box" in got[("gpu-idle", "idle-box")].action
    # 168 h at 0.70 committed of 168 x 0.70 + 168 x 1.006 = 286.608: 41%
    assert "41% of it under a commitment" in got[("gpu-idle", "committed-box")].evidence
    mig = got[("gpu-rightsize", "mig-box")].details
    assert (mig["how"], mig["mig_profile"], mig["gpus_needed"], mig["to_instance_type"]) == (
        "MIG", "1g.10gb", 2, "a3-highgpu-2g")  # fmt: skip
    assert mig["memory_needed_mib"] == pytest.approx(8000 * 1.2)
    fewer = got[("gpu-rightsize", "fewer-box")].details
    assert (fewer["how"], fewer["to_instance_type"], fewer["busy_gpus"]) == (
        "fewer GPUs", "g5.12xlarge", 4)  # fmt: skip
    assert got[("gpu-rightsize", "small-box")].details["to_instance_type"] == "g4dn.xlarge"
    train = got[("spot", "train-box")]
    assert train.details["interruptible_share"] == "0.5"
    assert train.details["checkpoints"] is True
    assert "7 training job(s) ran 168 h" in train.evidence
    assert (
        "spot rows of g5.12xlarge in this workspace's bills" in got[("spot", "od-trainer")].evidence
    )
    assert "catalog spot list price 50.6095 vs on-demand 88.4900" in train.evidence


def test_settings_move_the_thresholds(ws: Workspace) -> None:
    """Idle from 50% of the hours: fewer-box (4 of 8 GPUs idle) is one to stop, not to resize."""
    settings = ws.settings.model_copy(
        update={"recommend_compute": ComputeRecommendSettings(idle_share_pct=50)}
    )
    ctx = RecommendContext(Window(date(2026, 10, 1), date(2026, 10, 15)), settings=settings)
    got = _found(recommend(ws.engine, ctx, ["gpu-idle", "gpu-rightsize"]))
    assert got[("gpu-idle", "fewer-box")].monthly_saving == monthly(G5_48X * HOURS / 2)
    assert ("gpu-rightsize", "fewer-box") not in got


def test_team_min_saving_and_window(ws: Workspace) -> None:
    mine = ["gpu-idle", "gpu-rightsize", "spot"]
    assert [r.target for r in ws.recommend(mine, team="research", today=TODAY)] == ["idle-box"]
    big = ws.recommend(mine, min_saving=Decimal(5000), today=TODAY)
    assert {r.target for r in big} == {"mig-box", "fewer-box", "train-box"}
    # The first week only: night-box's weekend is 2 days of 7 and every saving is per 30 days.
    week = _found(ws.recommend(["gpu-idle"], start="2026-10-01", end="2026-10-07", today=TODAY))
    saving = (G5_X * 48 * 30 / 7).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
    assert week[("gpu-idle", "night-box")].monthly_saving == saving


def test_mig_profiles_fit() -> None:
    h100 = profiles_for("H100-80GB", memory_mib("H100-80GB"))
    assert [p.name for p in h100] == ["1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb",
                                      "7g.80gb"]  # fmt: skip
    fit = smallest_fit(h100, gpu_memory_mib=81920, need_memory_mib=15000, need_compute_share=0.1)
    assert fit is not None and (fit.name, fit.max_instances) == ("1g.20gb", 4)
    fit = smallest_fit(h100, gpu_memory_mib=81920, need_memory_mib=15000, need_compute_share=0.2)
    assert fit is not None and fit.name == "2g.20gb"
    assert gpus_needed(8, fit) == 3
    assert smallest_fit(h100, gpu_memory_mib=81920, need_memory_mib=50000,
                        need_compute_share=0.1) is None  # fmt: skip
    assert profiles_for("H200", memory_mib("H200-141GB"))[0].name == "1g.18gb"
    assert profiles_for("A10G", 22888) == () and profiles_for("L4", None) == ()
    assert [p.name for p in profiles_for("A100", 40960)][:2] == ["1g.5gb", "1g.10gb"]


def test_without_telemetry_or_gpus_nothing_is_guessed(tmp_path: Path) -> None:
    with Workspace.init(tmp_path / "ws") as empty:
        rows = [cost_row("blind", h, "1.006", itype="g5.xlarge") for h in range(48)]
        empty.ingest([write_costs(tmp_path / "c.csv", rows)], source="focus")
        assert list(empty.recommend(["gpu-idle", "gpu-rightsize", "spot"], today=TODAY)) == []
