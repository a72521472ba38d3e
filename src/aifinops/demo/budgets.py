"""The demo company's budgets (``[[budgets]]`` in the demo workspace's aifinops.toml).

Amounts are set against the demo's own spend so that, as on 2026-10-20 (``aifinops budgets
status --as-of 2026-10-20``), most budgets are ok, research is on course to overrun its month (its
forecast passes 100%), and training-platform, whose October training runs went past what the
month allows, has spent its budget. The figures behind them (2026-10-01..19, effective cost,
with the forecast for the whole month): research 358k spent, 573k forecast; training-platform 516k;
inference 118k (184k); search 95k (152k); the whole bill 1.09M (1.77M); the fiscal quarter
August-October 3.58M (4.26M); the chat assistant's OpenAI key 1.8k (3.0k at its run rate);
research's own LLM API use 633 (1.05k). tests/analysis/test_budgets.py checks the states.
"""

from __future__ import annotations

BUDGETS = """
# --- the demo company's budgets (docs/budgets.md) ----------------------------------------------
[[budgets]]
name = "research"
scope = { team = "research" }
amount = 520000
thresholds = [80, 100]
owner = "research-lead@example.com"

[[budgets]]
name = "training-platform"
scope = { team = "training-platform" }
amount = 480000
thresholds = [80, 100]
owner = "training-platform-lead@example.com"

[[budgets]]
name = "inference"
scope = { team = "inference" }
amount = 200000
thresholds = [80, 100]
owner = "inference-lead@example.com"

[[budgets]]
name = "search"
scope = { team = "search" }
amount = 180000
thresholds = [80, 100]
owner = "search-lead@example.com"

[[budgets]]
name = "company"
amount = 2000000
thresholds = [80, 100]
owner = "cfo@example.com"

[[budgets]]
name = "fiscal-q3"
amount = 5000000
period = "quarterly"
start_month = 2          # the fiscal year starts in February: Q3 is August-October
thresholds = [80, 100]
owner = "cfo@example.com"

[[budgets]]
name = "chat-assistant-key"
llm_keys = ["key_chat_assistant"]   # aifinops guard --key key_chat_assistant
amount = 4000
owner = "inference-lead@example.com"

[[budgets]]
name = "research-llm"
scope = { team = "research", categories = "AI and Machine Learning" }
llm_teams = ["research"]            # aifinops guard --team research
amount = 1500
owner = "research-lead@example.com"
"""
