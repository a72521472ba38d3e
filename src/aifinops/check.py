"""``aifinops check``: every budget and the last week's cost anomalies as on a day, alerts sent
once, an exit code for cron.

The exit code: 0 when every budget is ok, 1 when a threshold is crossed (or another alert source
found something), 2 when something could not be checked (a budget's config, a channel name, the
workspace). Alerts go through :func:`aifinops.notify.deliver`, which sends each alert key once
per channel ever and keeps failures in its outbox for the next run; a failed channel is reported
but does not change the exit code.

Other alert sources join through :data:`ALERT_SOURCES`: a function ``(workspace, as_of) ->
list[Alert]`` whose alerts are delivered with the budgets' and make the exit code 1. Their alert
keys must name the event, so that it is alerted once. Cost anomalies of the last week
(:func:`aifinops.analysis.anomalies.detect`) are one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from aifinops.errors import AifinopsError

if TYPE_CHECKING:
    from aifinops.analysis.budgets import BudgetStatus
    from aifinops.notify import Alert, DeliveryReport
    from aifinops.workspace import Workspace

AlertSource = Callable[["Workspace", date], "list[Alert]"]

#: Days before the as-of day whose anomalies a check reports (each is alerted once: its key
#: names its day and scope; a week covers missed runs and late data).
ANOMALY_DAYS = 7


def anomaly_alerts(ws: Workspace, as_of: date) -> list[Alert]:
    """Cost anomalies of the :data:`ANOMALY_DAYS` days before ``as_of`` (docs/anomalies.md)."""
    from aifinops.analysis.anomalies import detect

    found = detect(ws.engine, ws.settings, as_of=as_of, days=ANOMALY_DAYS)
    return [anomaly.alert() for anomaly in found]


#: Named alert sources besides budgets, run by every check.
ALERT_SOURCES: dict[str, AlertSource] = {"anomalies": anomaly_alerts}

OK, CROSSED, ERROR = 0, 1, 2


@dataclass
class CheckResult:
    """What one check found and did."""

    as_of: date
    statuses: list[BudgetStatus] = field(default_factory=list)
    #: Alerts raised this run, with the channels asked for (empty: routing decides).
    alerts: list[tuple[Alert, tuple[str, ...]]] = field(default_factory=list)
    #: Alerts from the other sources, by source name.
    findings: dict[str, list[Alert]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    deliveries: list[DeliveryReport] = field(default_factory=list)
    dry_run: bool = False
    #: The [notify] channels configured (none: alerts are shown, not sent).
    channels: list[str] = field(default_factory=list)

    @property
    def crossed(self) -> list[BudgetStatus]:
        return [s for s in self.statuses if s.crossed or s.forecast_crossed]

    @property
    def exit_code(self) -> int:
        if self.errors:
            return ERROR
        if self.crossed or any(self.findings.values()):
            return CROSSED
        return OK

    @property
    def failed(self) -> int:
        """Deliveries that failed this run (kept in the outbox, retried next run)."""
        return sum(len(report.failed) for report in self.deliveries)


def run_check(
    ws: Workspace,
    *,
    as_of: date,
    dry_run: bool = False,
    sources: Sequence[str] | None = None,
) -> CheckResult:
    """Check every budget (and the ``sources`` of :data:`ALERT_SOURCES`, default all) as on
    ``as_of``; deliver the alerts unless ``dry_run``."""
    result = CheckResult(as_of=as_of, dry_run=dry_run, channels=list(ws.settings.notify.channels))
    _check_budgets(ws, result)
    for name in ALERT_SOURCES if sources is None else sources:
        try:
            alerts = ALERT_SOURCES[name](ws, as_of)
        except AifinopsError as exc:
            result.errors.append(f"{name}: {exc.message}")
            continue
        result.findings[name] = alerts
        result.alerts += [(alert, ()) for alert in alerts]
    if not dry_run:
        _deliver(ws, result)
    return result


def _check_budgets(ws: Workspace, result: CheckResult) -> None:
    from aifinops.analysis.budgets import status_of

    channels = set(result.channels)
    for budget in ws.settings.budgets:
        unknown = [c for c in budget.channels if c not in channels]
        if unknown:
            result.errors.append(
                f"budget {budget.name!r}: unknown channel {', '.join(unknown)} "
                f"(configured: {', '.join(sorted(channels)) or 'none'}; see docs/notifications.md)"
            )
        try:
            status = status_of(ws.engine, ws.settings, budget, as_of=result.as_of)
        except AifinopsError as exc:
            result.errors.append(exc.message)
            continue
        result.statuses.append(status)
        if not unknown:
            result.alerts += [(alert, budget.channels) for alert in status.alerts()]


def _deliver(ws: Workspace, result: CheckResult) -> None:
    """One delivery per distinct channel list; with no alerts, one that retries the outbox."""
    from aifinops.notify import deliver

    groups: dict[tuple[str, ...], list[Alert]] = {}
    for alert, channels in result.alerts:
        groups.setdefault(channels, []).append(alert)
    for channels, alerts in groups.items() or [((), [])]:
        try:
            report = deliver(ws.path, ws.settings, alerts, list(channels) or None)
        except AifinopsError as exc:
            result.errors.append(f"alerts not delivered: {exc.message}")
            continue
        result.deliveries.append(report)
