"""An alert: what a budget, anomaly check or policy has to tell someone, in one immutable value.

``key`` names the alert for good: the same key is the same alert, sent once per channel however
often it is raised (budget ``research-monthly`` crossing 80% in 2026-10 is one alert, not one a
day). Build it from what makes the event distinct, e.g. ``Alert.make_key("budget", name, period,
"80")``. It is also the idempotency key receivers see.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from aifinops.errors import QueryError


class Severity(StrEnum):
    """How urgent an alert is; channels take alerts at or above a ``min_severity``."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @classmethod
    def parse(cls, value: str | Severity) -> Severity:
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise QueryError(
                f"unknown severity {value!r}", hint="use info, warning or critical"
            ) from None

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


@dataclass(frozen=True)
class Alert:
    """One alert. ``amount`` is money in ``currency`` (None where the alert has none), rounded
    half-even to the cent: the sums behind alerts carry up to 18 decimal places."""

    key: str
    kind: str
    severity: Severity
    title: str
    text: str
    fields: Mapping[str, str] = field(default_factory=dict)
    scope: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    owner: str | None = None

    def __post_init__(self) -> None:
        if not self.key.strip():
            raise QueryError("an alert needs a key", hint="Alert.make_key(kind, ...) builds one")
        if not self.kind.strip():
            raise QueryError(f"alert {self.key!r} has no kind")
        object.__setattr__(self, "severity", Severity.parse(self.severity))
        object.__setattr__(self, "fields", {str(k): str(v) for k, v in self.fields.items()})
        if self.amount is not None:
            exact = (
                self.amount if isinstance(self.amount, Decimal) else _decimal(self.amount, self.key)
            )
            cents = exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
            object.__setattr__(self, "amount", cents)

    @staticmethod
    def make_key(*parts: object) -> str:
        """A key from the parts that make an event distinct: ``budget:research:2026-10:80``."""
        return ":".join(str(p) for p in parts)

    @property
    def digest(self) -> str:
        """A short fixed-length name of the key (file names, idempotency headers)."""
        return hashlib.sha256(self.key.encode("utf-8")).hexdigest()[:32]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; money as an exact decimal string."""
        return {
            "key": self.key,
            "kind": self.kind,
            "severity": self.severity.value,
            "title": self.title,
            "text": self.text,
            "fields": dict(self.fields),
            "scope": self.scope,
            "amount": None if self.amount is None else format(self.amount, "f"),
            "currency": self.currency,
            "owner": self.owner,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Alert:
        """The alert ``to_json`` wrote."""
        try:
            return cls(
                key=str(data["key"]),
                kind=str(data["kind"]),
                severity=Severity.parse(data["severity"]),
                title=str(data["title"]),
                text=str(data["text"]),
                fields=dict(data.get("fields") or {}),
                scope=data.get("scope"),
                amount=None if data.get("amount") is None else _decimal(data["amount"], ""),
                currency=data.get("currency"),
                owner=data.get("owner"),
            )
        except KeyError as exc:
            raise QueryError(f"an alert without {exc.args[0]!r}: {dict(data)!r}") from None

    def money(self) -> str | None:
        """The amount with its currency, e.g. ``1,234.50 USD``, or None."""
        if self.amount is None:
            return None
        text = f"{self.amount:,.2f}"
        return f"{text} {self.currency}" if self.currency else text


def _decimal(value: Any, key: str) -> Decimal:
    if isinstance(value, float):
        raise QueryError(f"alert {key!r}: amount {value!r} is a float", hint="pass a Decimal")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise QueryError(f"alert {key!r}: amount {value!r} is not a number") from None
