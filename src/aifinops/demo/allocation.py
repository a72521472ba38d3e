"""The demo company's allocation rules (``[allocation]`` in the demo workspace's aifinops.toml).

They show each kind of rule on the demo's real gaps: ``owner`` tags hold e-mail addresses, not
teams; some machines and LLM accounts carry no team tag but their names say whose they are; tax,
support, shared networking and the LLM observability subscription belong to everyone.
"""

from __future__ import annotations

from pathlib import Path

from aifinops.config import CONFIG_FILE

RULES = """
# --- the demo company's allocation rules (docs/allocation.md) ---------------------------------
[allocation]
idle_gpu = "own-line"

[allocation.dimensions.team]
tags = ["team"]
rules = [
  { value = "search", resources = ["g5-rerank-*"] },
  { value = "research", resources = ["nd-h100-adhoc-*"] },
  { value = "research", accounts = ["proj_research*", "kestrel-dev-sandbox"] },
  { value = "inference", accounts = ["proj_chat*"] },
  { value = "product-ml", accounts = ["proj_support*", "wrkspc_support*"] },
  { value = "search", accounts = ["wrkspc_search*"] },
]

[allocation.dimensions.product]
tags = ["product"]
rules = [
  { value = "chat-assistant", tags = { project = "chat-assistant" } },
  { value = "semantic-search", tags = { project = "semantic-search" } },
  { value = "support-bot", tags = { project = "support-bot" } },
  { value = "fraud-scoring", tags = { project = "fraud-gbm" } },
]
default = "none"

[[allocation.shared]]
name = "tax"
match = { charge_categories = ["Tax"] }
method = "proportional"

[[allocation.shared]]
name = "support"
match = { services = ["AWS Support*"] }
method = "proportional"

[[allocation.shared]]
name = "llm-observability"
match = { services = ["Lumenlog*"] }
method = "weights"
weights = { inference = 3, search = 1, product-ml = 1 }

[[allocation.shared]]
name = "shared-platform"
match = { accounts = ["kestrel-shared*", "kestrel-payer"] }
method = "gpu-hours"
"""


def sections() -> list[str]:
    """The demo's settings, section by section, as TOML text: allocation rules first; budgets,
    alerts and the other governance settings each come from their own demo module."""
    from aifinops.demo.alerts import CHANNELS
    from aifinops.demo.budgets import BUDGETS
    from aifinops.demo.policies import EXECUTORS

    return [RULES, CHANNELS, EXECUTORS, BUDGETS]


def add_rules(workspace: Path) -> None:
    """Put the demo's settings in the workspace's aifinops.toml (once), in place of the empty
    ``[allocation]`` section ``aifinops init`` writes (its settings are all commented out)."""
    config = workspace / CONFIG_FILE
    text = config.read_text(encoding="utf-8")
    if "allocation rules (docs/allocation.md)" in text:
        return
    lines = [line for line in text.splitlines() if line.strip() != "[allocation]"]
    config.write_text("\n".join(lines) + "\n" + "\n".join(sections()), encoding="utf-8")
