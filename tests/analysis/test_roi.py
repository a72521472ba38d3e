"""ROI: business metrics against allocated AI spend per product and month, worked out by hand."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from aifinops import Workspace
from aifinops.analysis.roi import previous
from aifinops.errors import QueryError
from aifinops.model.timewindow import Granularity
from tests.analysis.allocation_data import add_cost, workspace
from tests.analysis.unit_data import add_metric
from tests.cli.runner import run_cli

D = Decimal
RULES = {"dimensions": {"product": {"tags": ["product"], "default": "none"}}}

# Spend (allocated, by tag product): chat $80.00 in September, $60.00 + $40.00 in October (tags
# Chat and chat: one value);
# search $50.00 in October; tiny $1.00 in October. Revenue (USD): chat 200 (Sep) and 310 (Oct),
# search 40 (Oct), tiny 1.00005 (Oct), ghost 10 (Oct, no spend), chat 5 EUR (Oct, no EUR spend).
# chat served 1,000 requests in October.


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = workspace(tmp_path_factory.mktemp("roi"), RULES)
    add_cost(ws, 1, "80.00", start="2026-09-10 10:00", tags={"product": "chat", "team": "a"})
    add_cost(ws, 2, "60.00", start="2026-10-02 10:00", tags={"product": "Chat", "team": "a"})
    add_cost(ws, 3, "40.00", start="2026-10-20 10:00", tags={"product": "chat", "team": "a"})
    add_cost(ws, 4, "50.00", start="2026-10-03 10:00", tags={"product": "search", "team": "b"})
    add_cost(ws, 5, "1.00", start="2026-10-03 10:00", tags={"product": "tiny", "team": "b"})
    for day, product, revenue in (
        ("2026-09-01", "chat", "120"),
        ("2026-09-15", "chat", "80"),
        ("2026-10-01", " Chat ", "310"),
        ("2026-10-01", "search", "40"),
        ("2026-10-01", "tiny", "1.00005"),
        ("2026-10-01", "ghost", "10"),
    ):
        add_metric(ws, day, "revenue", revenue, unit="USD", labels={"product": product})
    add_metric(ws, "2026-10-01", "revenue", "5", unit="eur", labels={"product": "chat"})
    add_metric(ws, "2026-10-05", "Requests", "1000", unit="requests", labels={"Product": "chat"})
    ws.allocate()
    return ws


def _by(table: Any, key: str = "product") -> dict[tuple[Any, ...], dict[str, Any]]:
    return {(r["period"].isoformat()[:7], r[key], r["currency"]): r for r in table.to_pylist()}


def test_revenue_spend_and_roi_per_product_and_month(books: Workspace) -> None:
    rows = _by(books.roi("product"))
    oct_chat = rows[("2026-10", "chat", "USD")]
    assert (oct_chat["revenue"], oct_chat["spend"], oct_chat["requests"]) == (D(310), D(100), 1000)
    assert oct_chat["revenue_to_spend"] == D("3.1") and oct_chat["roi"] == D("2.1")
    assert oct_chat["cost_per_request"] == D("0.1")
    assert oct_chat["revenue_change"] == D("0.55")  # 310 / 200 - 1
    assert oct_chat["spend_change"] == D("0.25")  # 100 / 80 - 1
    sep_chat = rows[("2026-09", "chat", "USD")]
    assert (sep_chat["revenue_to_spend"], sep_chat["roi"]) == (D("2.5"), D("1.5"))
    assert sep_chat["revenue_change"] is None and sep_chat["requests"] is None
    search = rows[("2026-10", "search", "USD")]
    assert (search["revenue_to_spend"], search["roi"]) == (D("0.8"), D("-0.2"))


def test_ratios_round_half_even_after_aggregation(books: Workspace) -> None:
    tiny = _by(books.roi("product"))[("2026-10", "tiny", "USD")]
    assert tiny["revenue_to_spend"] == D("1.0000")  # 1.00005 -> even
    assert tiny["roi"] == D("0.0000")  # 0.00005 -> even


def test_unknown_spend_and_other_currencies_are_said_never_zero(books: Workspace) -> None:
    rows = _by(books.roi("product"))
    ghost = rows[("2026-10", "ghost", "USD")]
    assert ghost["spend"] is None and ghost["roi"] is None
    assert ghost["note"] == "no allocated cost with product = 'ghost'"
    eur = rows[("2026-10", "chat", "EUR")]
    assert (eur["revenue"], eur["spend"], eur["requests"]) == (D(5), None, 1000)


def test_window_granularity_and_spend_from_another_dimension(books: Workspace) -> None:
    rows = _by(books.roi("product", period="2026-10", granularity="quarter"))
    assert rows[("2026-10", "chat", "USD")]["spend"] == D(100)
    assert ("2026-07", "chat", "USD") not in rows  # read as the base of the change only
    assert rows[("2026-10", "chat", "USD")]["revenue_change"] == D("0.55")
    whole = _by(books.roi("product", start="2026-09-01", end="2026-10-31", granularity="year"))
    assert whole[("2026-01", "chat", "USD")]["revenue"] == D(510)
    team = _by(books.roi("product", spend_by="team"))
    assert team[("2026-10", "chat", "USD")]["note"] == "no allocated cost with team = 'chat'"


def test_bad_questions_are_refused(books: Workspace) -> None:
    with pytest.raises(QueryError, match="no business_metrics row has a 'model' label") as err:
        books.roi("model")
    assert "labels found: Product, product" in (err.value.hint or "")
    with pytest.raises(QueryError, match="neither a unit nor an allocation dimension"):
        books.roi("product", spend_by="feature")


def test_previous_bucket() -> None:
    assert previous(date(2026, 1, 1), Granularity.MONTH) == date(2025, 12, 1)
    assert previous(date(2026, 4, 1), Granularity.QUARTER) == date(2026, 1, 1)
    assert previous(date(2026, 10, 5), Granularity.WEEK) == date(2026, 9, 28)


def test_cli_roi(books: Workspace) -> None:
    root = books.path
    books.close()  # one process at a time holds the database
    with (root / "aifinops.toml").open("a") as toml:  # the rules the fixture allocated with
        toml.write('\n[allocation.dimensions.product]\ntags = ["product"]\ndefault = "none"\n')
    out = run_cli("report", "roi", "-f", "json", "-p", "2026-10", cwd=root)
    assert out.returncode == 0, out.stderr
    rows = {(r["product"], r["currency"]): r for r in json.loads(out.stdout)}
    assert rows[("chat", "USD")]["roi"] == 2.1 and rows[("chat", "USD")]["spend"] == 100
    assert rows[("ghost", "USD")]["spend"] is None
    csv = run_cli("report", "roi", "-f", "csv", "-p", "2026-10", cwd=root).stdout
    assert csv.startswith("period,product,currency,revenue,spend,requests,revenue_to_spend,roi")
    bad = run_cli("report", "roi", "--by", "model", cwd=root)
    assert bad.returncode == 2 and "no business_metrics row has a 'model' label" in bad.stderr
