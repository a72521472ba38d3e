"""A small hand-made workspace for the budget and guard tests, ingested through the real sources.

Costs (FOCUS 1.2, ``focus`` source), all USD but one row:

* account 111111111111, EC2, tag team=research: 10.00 a day 2026-09-01..30 (300.00), 12.50 a
  day 2026-10-01..19 (237.50), 99.99 on 2026-10-20 and 1,000.00 on 2026-10-25 (after the as-of
  day 2026-10-20 of most tests: never counted by them);
* account 222222222222, S3, tag team=search: 1.11 a day 2026-10-01..10 (11.10);
* account 333333333333, EC2, tag team=emea: 5.00 EUR on 2026-10-03.

LLM usage (LiteLLM spend logs, ``litellm`` source), priced by ``[prices.models]`` at 10 per
million input and 20 per million output tokens, so a request of 100,000 + 50,000 tokens costs
exactly 2.00 USD: key-a one request a day 2026-10-01..10 (20.00) and one on 2026-09-30 (2.00);
key-b two requests on 2026-10-05 (4.00). The last day of LLM data is 2026-10-10.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from aifinops import Workspace
from tests.conftest import focus_row, write_focus_csv

PRICES = """
[prices.models."openai/budget-test-model"]
input = 10
output = 20
"""
LITELLM_HEADER = (
    "request_id,api_key,spend,prompt_tokens,completion_tokens,startTime,endTime,model,"
    "custom_llm_provider\n"
)


def cost_rows() -> list[dict[str, str]]:
    rows = [focus_row(period="2026-09", day=d, cost="10.00") for d in range(1, 31)]
    rows += [focus_row(period="2026-10", day=d, cost="12.50") for d in range(1, 20)]
    rows += [focus_row(period="2026-10", day=20, cost="99.99")]
    rows += [focus_row(period="2026-10", day=25, cost="1000.00")]
    s3 = {"account": "222222222222", "service": "Amazon Simple Storage Service"}
    rows += [
        focus_row(period="2026-10", day=d, cost="1.11", tags='{"team": "search"}', **s3)
        for d in range(1, 11)
    ]
    euro = focus_row(account="333333333333", period="2026-10", day=3, cost="5.00")
    euro |= {"BillingCurrency": "EUR", "Tags": '{"team": "emea"}'}
    return [*rows, euro]


def usage_lines() -> str:
    lines = [LITELLM_HEADER]
    stamps = [("key-a", f"2026-10-{d:02d}") for d in range(1, 11)]
    stamps += [("key-a", "2026-09-30"), ("key-b", "2026-10-05"), ("key-b", "2026-10-05")]
    for number, (key, day) in enumerate(stamps):
        lines.append(
            f"r{number},{key},,100000,50000,{day} 10:00:{number:02d}+00:00,"
            f"{day} 10:00:59+00:00,budget-test-model,openai\n"
        )
    return "".join(lines)


def build(root: Path) -> Path:
    """The workspace above, allocated (team scopes read allocated_costs)."""
    Workspace.init(root).close()
    (root / "aifinops.toml").write_text(PRICES, encoding="utf-8")
    inputs = root / "inputs"
    costs = write_focus_csv(inputs / "costs.csv", cost_rows())
    usage = inputs / "spend.csv"
    usage.write_text(usage_lines(), encoding="utf-8")
    with Workspace(root) as ws:
        assert ws.ingest([costs], source="focus").rows_ingested == 62
        assert ws.ingest([usage], source="litellm").rows_ingested == 13
        ws.allocate()
    return root


def with_budgets(base: Path, folder: Path, budgets: str) -> Path:
    """A copy of the ``base`` workspace whose aifinops.toml holds ``budgets`` (TOML text)."""
    shutil.copytree(base, folder, ignore=shutil.ignore_patterns("inputs", "notify"))
    (folder / "aifinops.toml").write_text(PRICES + budgets, encoding="utf-8")
    return folder
