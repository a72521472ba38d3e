"""The demo company's alert channel: a JSON Lines file in the workspace (no server needed).

``aifinops check`` and ``aifinops policy run --execute`` on the demo deliver their alerts to
``alerts.jsonl`` in the demo folder; docs/notifications.md shows how to add e-mail or Slack.
"""

from __future__ import annotations

CHANNELS = """
# --- where the demo's alerts go (docs/notifications.md) -------------------------------------
[notify.channels.demo-inbox]
type = "file"
path = "alerts.jsonl"
"""
