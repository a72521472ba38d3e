"""Alerts to people (webhook, Slack, email) through a durable outbox, and actions through
executors (a command, a webhook) with retries and idempotency keys. See docs/notifications.md."""

from aifinops.notify.alert import Alert, Severity
from aifinops.notify.executors import ActionRequest, ExecutionResult, ExecutionStatus, execute
from aifinops.notify.outbox import deliver, discard, pending, retry
from aifinops.notify.report import Delivery, DeliveryReport, DeliveryStatus

__all__ = [
    "ActionRequest",
    "Alert",
    "Delivery",
    "DeliveryReport",
    "DeliveryStatus",
    "ExecutionResult",
    "ExecutionStatus",
    "Severity",
    "deliver",
    "discard",
    "execute",
    "pending",
    "retry",
]
