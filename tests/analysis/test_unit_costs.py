"""Unit costs: per job, run, fine-tune, experiment, GPU-hour, team and 1K tokens — each figure
worked out by hand from the rows the test writes, allocated by ``Workspace.allocate()``."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aifinops import Workspace
from aifinops.analysis.unit_costs import Unit, exact_ratio
from aifinops.errors import QueryError
from tests.analysis.allocation_data import GPU_BOX, add_cost, add_sample, workspace
from tests.analysis.unit_data import add_job, add_llm, add_metric
from tests.cli.runner import run_cli

D = Decimal

# gpu-1 is a p4d.24xlarge (8 GPUs) billed $80.00 an hour, 10:00-14:00 on 2026-10-05 ($320, 32
# GPU-hours), tagged team platform. No telemetry: the scheduler says who held its GPUs.
#   run-a (training, research, experiment exp1): 8 GPUs 10:00-12:00 -> 16 GPU-hours, $160.00
#   run-b (fine-tune, research, run ft-run, failed): 4 GPUs 12:00-13:00 -> 4 GPU-hours, $40.00
#   run-c (fine-tune, search, run ft-run): 4 GPUs 12:00-12:30 -> 2 GPU-hours, $20.00
#   12:00 has 2 GPU-hours nobody held ($20.00, platform); 13:00 nobody at all ($80.00, platform).
# Jobs without cost: orphan (host laptop, not a GPU machine), nohost, late (no bill covers it).
# research also has $10.00 of S3, 2 LLM requests (1,000,000 + 500,000 tokens, $3.00) and served
# 1,000 requests (business metric).


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = workspace(tmp_path_factory.mktemp("unit"))
    for record, hour in enumerate(("10", "11", "12", "13"), start=1):
        add_cost(
            ws,
            record,
            "80.00",
            start=f"2026-10-05 {hour}:00",
            service="Amazon Elastic Compute Cloud",
            resource="gpu-1",
            description=GPU_BOX,
            tags={"team": "platform"},
        )
    add_cost(ws, 5, "10.00", tags={"team": "research"})
    research = {"team": "research", "project": "llm"}
    day = "2026-10-05"
    add_job(
        ws,
        "run-a",
        host="gpu-1",
        span=(f"{day} 10:00", f"{day} 12:00"),
        gpus=8,
        kind="training",
        name="pretrain-0001",
        labels={**research, "experiment": "exp1"},
    )
    add_job(
        ws,
        "run-b",
        host="gpu-1",
        span=(f"{day} 12:00", f"{day} 13:00"),
        gpus=4,
        kind="Fine_Tune",
        name="ft-0002",
        status="failed",
        labels={**research, "run": "ft-run"},
    )
    add_job(
        ws,
        "run-c",
        host="gpu-1",
        span=(f"{day} 12:00", f"{day} 12:30"),
        gpus=4,
        kind="fine-tune",
        name="ft-0003",
        labels={"team": "search", "run": "ft-run"},
    )
    add_job(
        ws,
        "orphan",
        host="laptop",
        span=(f"{day} 10:00", f"{day} 11:00"),
        gpus=1,
        kind="training",
        name="pretrain-0004",
    )
    add_job(
        ws,
        "nohost",
        host=None,
        span=(f"{day} 10:00", f"{day} 11:00"),
        kind="experiment",
        name="probe-0005",
    )
    add_job(
        ws,
        "late",
        host="gpu-1",
        span=("2026-10-06 10:00", "2026-10-06 11:00"),
        gpus=8,
        kind="training",
        name="pretrain-0006",
    )
    add_llm(
        ws, day, tokens=(1_000_000, 500_000), requests=2, cost="3.00", labels={"Team": "Research"}
    )
    add_metric(ws, day, "requests", "1000", unit="requests", labels={"team": "research"})
    ws.allocate()
    return ws


def _rows(table: Any, key: str) -> dict[Any, dict[str, Any]]:
    return {r[key]: r for r in table.to_pylist()}


def test_each_job_costs_the_gpu_hours_it_held(shop: Workspace) -> None:
    jobs = _rows(shop.unit_costs("job"), "job_id")
    a, b, c = jobs["run-a"], jobs["run-b"], jobs["run-c"]
    assert (a["cost"], a["gpu_hours"], a["cost_per_gpu_hour"]) == (D("160.00"), 16.0, D("10"))
    assert (b["cost"], b["gpu_hours"], b["team"], b["status"]) == (
        D("40"),
        4.0,
        "research",
        "failed",
    )
    assert (c["cost"], c["gpu_hours"], c["team"]) == (D("20.00"), 2.0, "search")
    assert a["duration_hours"] == 2.0 and a["note"] is None
    assert a["project"] == "llm" and a["BillingCurrency"] == "USD"


def test_jobs_without_cost_say_why_and_are_never_zero(shop: Workspace) -> None:
    jobs = _rows(shop.unit_costs("job"), "job_id")
    for job in ("orphan", "nohost", "late"):
        assert jobs[job]["cost"] is None and jobs[job]["cost_per_gpu_hour"] is None
    assert "host laptop is not a billed GPU machine" in jobs["orphan"]["note"]
    assert jobs["nohost"]["note"].startswith("no host")
    assert "no cost row of host gpu-1 covers" in jobs["late"]["note"]


def test_the_list_metric_and_the_window(shop: Workspace) -> None:
    jobs = _rows(shop.unit_costs("job", metric="list"), "job_id")
    assert jobs["run-a"]["cost"] == D("200.00")  # list is 1.25 x
    assert set(_rows(shop.unit_costs("job", period="2026-10-06"), "job_id")) == {"late"}


def test_fine_tunes_roll_up_by_run_label(shop: Workspace) -> None:
    (row,) = shop.unit_costs("fine-tune").to_pylist()  # kinds Fine_Tune and fine-tune
    assert (row["fine_tune"], row["key_from"], row["jobs"], row["completed"]) == (
        "ft-run",
        "label:run",
        2,
        1,
    )
    assert (row["cost"], row["not_completed_cost"], row["gpu_hours"]) == (D(60), D(40), 6.0)
    assert row["cost_per_gpu_hour"] == D("10") and row["cost_per_job"] == D("30")


def test_training_runs_are_jobs_unless_labelled(shop: Workspace) -> None:
    runs = _rows(shop.unit_costs("training-run"), "training_run")
    assert set(runs) == {"run-a", "orphan", "late"}
    assert runs["run-a"]["cost"] == D("160.00") and runs["run-a"]["not_completed_cost"] == 0
    assert runs["orphan"]["cost"] is None and runs["orphan"]["without_cost"] == 1


def test_experiments_by_label_then_name_without_run_number(shop: Workspace) -> None:
    exps = _rows(shop.unit_costs("experiment"), "experiment")
    assert exps["exp1"]["key_from"] == "label:experiment" and exps["exp1"]["cost"] == D(160)
    assert (exps["ft"]["jobs"], exps["ft"]["cost"], exps["ft"]["key_from"]) == (2, D(60), "name")
    assert (exps["pretrain"]["jobs"], exps["pretrain"]["without_cost"]) == (2, 2)
    assert exps["pretrain"]["cost"] is None and exps["probe"]["jobs"] == 1


def test_roll_up_by_any_key(shop: Workspace) -> None:
    teams = _rows(shop.unit_costs("job", by=["team"], kinds=["fine-tune"]), "team")
    assert teams["research"]["cost"] == D(40) and teams["search"]["cost"] == D(20)
    with pytest.raises(QueryError, match="cannot group jobs by 'tem'"):
        shop.unit_costs("job", by=["tem"])


def test_workloads_only_telemetry_names_are_listed(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    add_cost(ws, 1, "80.00", resource="gpu-2", description=GPU_BOX, service="EC2")
    add_sample(ws, "2026-10-05 10:10", "gpu-2", 0, pod="p1", labels={"team": "search"})
    ws.allocate()
    (pod,) = ws.unit_costs("job").to_pylist()  # 1 of 8 GPUs for the hour: $10.00
    assert (pod["job_id"], pod["source"], pod["kind"], pod["team"]) == (
        "ns/p1",
        "gpu_samples",
        None,
        "search",
    )
    assert (pod["cost"], pod["gpu_hours"], pod["start_time"].isoformat()[:10]) == (
        D(10),
        1.0,
        "2026-10-05",
    )
    (exp,) = ws.unit_costs("experiment").to_pylist()
    assert (exp["experiment"], exp["key_from"], exp["cost"]) == ("ns/p1", "job_id", D(10))


def test_cost_per_gpu_hour_billed_and_effective(shop: Workspace) -> None:
    (row,) = shop.unit_costs("gpu-hour").to_pylist()
    assert (row["gpu_model"], row["instance_type"], row["cost"]) == ("A100", "p4d.24xlarge", D(320))
    assert (row["billed_gpu_hours"], row["held_gpu_hours"], row["unknown_gpu_hours"]) == (
        32.0,
        22.0,
        10.0,
    )
    assert row["cost_per_billed_gpu_hour"] == D("10")
    assert row["effective_cost_per_gpu_hour"] == D("14.545455")  # 320 / 22, half-even
    assert row["held_share"] == D("0.6875")
    teams = _rows(shop.unit_costs("gpu-hour", by=["team"]), "team")
    assert (teams["research"]["cost"], teams["research"]["held_gpu_hours"]) == (D(200), 20.0)
    platform = teams["platform"]  # 12:00's free 2 GPU-hours and all of 13:00
    assert (platform["cost"], platform["billed_gpu_hours"]) == (D(100), 10.0)
    assert platform["effective_cost_per_gpu_hour"] is None and platform["held_share"] == 0


def test_per_team_with_llm_tokens_and_requests_served(shop: Workspace) -> None:
    teams = _rows(shop.unit_costs("team"), "team")
    r = teams["research"]
    assert (r["cost"], r["job_cost"], r["jobs"], r["gpu_hours"]) == (D(210), D(200), 2, 20.0)
    assert (r["cost_per_job"], r["cost_per_gpu_hour"]) == (D(100), D(10))
    assert (r["llm_tokens"], r["llm_cost"], r["llm_cost_per_1m_tokens"]) == (1_500_000, D(3), D(2))
    assert r["requests_served"] == 1000 and r["cost_per_request_served"] == D("0.21")
    assert teams["platform"]["jobs"] == 0 and teams["platform"]["cost_per_job"] is None


def test_per_1k_tokens_reuses_the_llm_report(shop: Workspace) -> None:
    (row,) = shop.unit_costs("1k-tokens", by=["label:Team"]).to_pylist()
    assert row["cost_per_1k_tokens"] == D("0.002") and row["cost_per_1m_tokens"] == D(2)
    assert row["cost_per_request"] == D("1.5")


def test_an_unknown_unit_or_dimension_is_refused(shop: Workspace) -> None:
    with pytest.raises(QueryError, match="neither a unit nor an allocation dimension") as err:
        shop.unit_costs("feature")
    assert "[allocation.dimensions.feature]" in (err.value.hint or "")
    assert Unit.parse("finetune") is Unit.FINE_TUNE and Unit.parse("team") == "team"


def test_exact_ratio_rounds_half_even() -> None:
    assert exact_ratio(D("0.00005"), 1, 4) == D("0.0000")
    assert exact_ratio(D("0.00015"), 1, 4) == D("0.0002")
    assert exact_ratio(D("1"), 0, 4) is None and exact_ratio(None, 3, 4) is None
    assert exact_ratio(D("1"), 3.0, 6) == D("0.333333")


def test_cli_unit_costs_in_every_format(shop: Workspace, tmp_path: Path) -> None:
    root = shop.path
    shop.close()  # one process at a time holds the database
    out = run_cli("report", "unit-costs", "--per", "fine-tune", "-f", "csv", cwd=root)
    assert out.returncode == 0, out.stderr
    assert "ft-run,label:run,USD,2,1,0,6.0" in out.stdout
    rows = json.loads(run_cli("report", "unit-costs", "-f", "json", cwd=root).stdout)
    assert {r["job_id"]: r["cost"] for r in rows}["run-a"] == 160
    text = tmp_path / "gpu-hours.txt"  # a terminal table, 200 characters wide
    run_cli("report", "unit-costs", "--per", "gpu-hour", "-o", text, cwd=root)
    assert "14.545455" in text.read_text() and "unknown_gpu_hours" not in text.read_text()
    parquet = tmp_path / "jobs.parquet"
    run_cli("report", "unit-costs", "-f", "parquet", "-o", parquet, cwd=root)
    import pyarrow.parquet as pq

    assert pq.read_table(parquet).num_rows == 6
    bad = run_cli("report", "unit-costs", "--per", "teem", cwd=root)
    assert bad.returncode == 2 and "did you mean team" in bad.stderr


# -- the demo company ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    from tests.demo.build import demo_workspace

    ws, loads = demo_workspace(tmp_path_factory.mktemp("demo"), months=1)
    assert any(item.path.name == "tokens-served.csv" for item, _ in loads)
    ws.allocate()
    return ws


def test_demo_every_job_has_its_cost(demo: Workspace) -> None:
    jobs = demo.unit_costs("job").to_pylist()
    assert jobs and all(j["cost"] is not None and j["note"] is None for j in jobs)
    charged = demo.sql("SELECT sum(EffectiveCost) FROM allocated_costs WHERE job IS NOT NULL")
    assert sum(j["cost"] for j in jobs) == charged.column(0)[0].as_py()
    experiments = {r["experiment"] for r in demo.unit_costs("experiment").to_pylist()}
    assert {"llm-7b-pretrain", "llm-7b-finetune"} <= experiments


def test_demo_roi_and_self_hosted(demo: Workspace) -> None:
    rows = {r["team"]: r for r in demo.roi("team").to_pylist()}
    assert set(rows) == {"inference", "search", "product-ml"}
    for r in rows.values():
        gain = (r["revenue"] - r["spend"]) / r["spend"]
        assert r["roi"] == gain.quantize(Decimal("0.0001")) and r["spend"] > 0
    (own,) = [r for r in demo.self_hosted().to_pylist() if r["priced_as"] == "self-hosted GPU"]
    assert own["model"] == "kestrel-7b-chat" and own["total_tokens"] > 0
    gpu = demo.sql(
        "SELECT sum(EffectiveCost) FROM allocated_costs "
        "WHERE model = 'kestrel-7b-chat' AND ServiceCategory = 'Compute'"
    )
    assert own["cost"] == gpu.column(0)[0].as_py()  # the serving machines, not Bedrock
