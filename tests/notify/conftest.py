from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from aifinops.config import Settings
from aifinops.notify import Alert
from tests.notify.servers import HttpServer

#: Backoff small enough that retries cost milliseconds.
FAST = {"attempts": 3, "backoff_seconds": 0.001, "max_backoff_seconds": 0.005}


def notify_settings(channels: dict[str, Any], **notify: Any) -> Settings:
    return Settings.model_validate({"notify": {**FAST, **notify, "channels": channels}})


def budget_alert(key: str = "budget:research:2026-10:80", **changes: Any) -> Alert:
    values: dict[str, Any] = {
        "key": key,
        "kind": "budget.threshold",
        "severity": "warning",
        "title": "research-monthly passed 80% of its budget",
        "text": "Spend 3,250.40 USD of 4,000.00 USD with 11 days left.",
        "fields": {"budget": "research-monthly", "period": "2026-10"},
        "scope": "team=research",
        "amount": Decimal("3250.40"),
        "currency": "USD",
        "owner": "research-lead@example.com",
    }
    return Alert(**(values | changes))


@pytest.fixture
def http() -> Iterator[HttpServer]:
    server = HttpServer()
    yield server
    server.stop()
