from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import pytest

from aifinops.errors import QueryError
from aifinops.notify import Alert, Severity
from tests.notify.conftest import budget_alert


def test_an_alert_survives_a_json_round_trip_exactly() -> None:
    alert = budget_alert()
    data = json.loads(json.dumps(alert.to_json()))
    assert data["amount"] == "3250.40"  # exact, as a string: never a float
    assert data["severity"] == "warning"
    assert Alert.from_json(data) == alert
    assert budget_alert(amount=Decimal("1E+3")).to_json()["amount"] == "1000.00"  # never 1E+3


def test_amounts_are_rounded_half_even_to_the_cent() -> None:
    long = budget_alert(amount=Decimal("572722.390973048000000000"))
    assert long.to_json()["amount"] == "572722.39"
    assert budget_alert(amount=Decimal("0.125")).amount == Decimal("0.12")
    assert budget_alert(amount=Decimal("0.135")).amount == Decimal("0.14")


def test_severity_is_parsed_and_ranked() -> None:
    alert = budget_alert(severity="CRITICAL")
    assert alert.severity is Severity.CRITICAL
    assert Severity.INFO.rank < Severity.WARNING.rank < Severity.CRITICAL.rank
    with pytest.raises(QueryError, match="unknown severity 'loud'"):
        budget_alert(severity="loud")


def test_the_key_is_required_and_names_the_alert() -> None:
    with pytest.raises(QueryError, match="needs a key"):
        budget_alert(key=" ")
    assert Alert.make_key("budget", "research", "2026-10", 80) == "budget:research:2026-10:80"
    expected = hashlib.sha256(b"budget:research:2026-10:80").hexdigest()[:32]
    assert budget_alert().digest == expected


def test_money_is_decimal_and_never_a_float() -> None:
    assert budget_alert(amount="12.345").amount == Decimal("12.34")  # half-even
    assert budget_alert(amount=Decimal("1234.5")).money() == "1,234.50 USD"
    with pytest.raises(QueryError, match="is a float"):
        budget_alert(amount=0.1)
