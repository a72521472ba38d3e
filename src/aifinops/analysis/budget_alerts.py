"""The alerts a budget status raises, one per (budget, period, kind, threshold).

Only the highest threshold crossed of each kind is raised: a first run past 50% and 80% sends the
80% alert, not two. A forecast threshold that actual spend has already crossed is not raised again
as a forecast. The alert key -- ``budget:NAME:PERIOD-START:actual|forecast:PERCENT`` -- is what
:func:`aifinops.notify.deliver` deduplicates on, so running ``aifinops check`` again in the same
period does not alert again.

Severity: critical when actual spend reaches 100% of the amount (a forecast at 100% or more is a
warning), warning from 80%, info below -- a 50% mark is news for a channel that takes info, not a
page.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from aifinops.output import money, plain

if TYPE_CHECKING:
    from aifinops.analysis.budgets import BudgetStatus
    from aifinops.notify.alert import Alert, Severity

ACTUAL, FORECAST = "actual", "forecast"


def budget_alerts(status: BudgetStatus) -> list[Alert]:
    """The alerts of ``status`` (none when no threshold is crossed)."""
    out = []
    if status.crossed:
        out.append(_alert(status, ACTUAL, status.crossed[-1]))
    ahead = [p for p in status.forecast_crossed if p not in status.crossed]
    if ahead and (not status.crossed or ahead[-1] > status.crossed[-1]):
        out.append(_alert(status, FORECAST, ahead[-1]))
    return out


def alert_key(status: BudgetStatus, kind: str, percent: Decimal) -> str:
    from aifinops.notify.alert import Alert

    return Alert.make_key("budget", status.name, status.start.isoformat(), kind, plain(percent))


def _alert(status: BudgetStatus, kind: str, percent: Decimal) -> Alert:
    from aifinops.notify.alert import Alert, Severity

    pct = plain(percent)
    amount = f"{money(status.amount)} {status.currency}"
    if kind == ACTUAL:
        severity = _severity(percent, Severity.CRITICAL)
        title = f"Budget {status.name}: {pct}% of {amount} spent"
        lead = f"{money(status.actual)} {status.currency} spent ({plain(status.used_pct)}%)"
    else:
        severity = _severity(percent, Severity.WARNING)
        title = f"Budget {status.name}: forecast to reach {pct}% of {amount}"
        lead = f"forecast {money(status.expected)} {status.currency} at period end"
    text = (
        f"{lead} of {amount} for {status.period_label} "
        f"({status.budget.describe_scope()}); {status.days_left} day(s) left. "
        + " ".join(status.notes)
    ).strip()
    return Alert(
        key=alert_key(status, kind, percent),
        kind=f"budget.{kind}",
        severity=severity,
        title=title,
        text=text,
        fields=_fields(status, kind, pct),
        scope=status.budget.describe_scope(),
        amount=status.actual if kind == ACTUAL else status.expected,
        currency=status.currency,
        owner=status.budget.owner,
    )


def _severity(percent: Decimal, at_100: Severity) -> Severity:
    """``at_100`` from 100% up, warning from 80%, info below (a 50% mark is news, not a page)."""
    from aifinops.notify.alert import Severity

    if percent >= 100:
        return at_100
    return Severity.WARNING if percent >= 80 else Severity.INFO


def _fields(status: BudgetStatus, kind: str, pct: str) -> dict[str, str]:
    fields = {
        "budget": status.name,
        "period": status.period_label,
        "threshold": f"{pct}% ({kind})",
        "amount": f"{money(status.amount)} {status.currency}",
        "actual": f"{money(status.actual)} {status.currency} ({plain(status.used_pct)}%)",
        "days left": str(status.days_left),
        "state": status.state.value,
        "data through": status.through.isoformat() if status.through else "no data",
    }
    if status.burn_rate is not None:
        fields["burn rate"] = f"{money(status.burn_rate)} {status.currency}/day"
    if status.expected is not None:
        fields["forecast"] = f"{money(status.expected)} {status.currency} ({status.forecast_model})"
    if status.budget.owner:
        fields["owner"] = status.budget.owner
    return fields
