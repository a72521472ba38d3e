"""FOCUS enumerations as types, with a tolerant parser.

Real exports get the spelling of allowed values slightly wrong (``Usage-based`` for
``Usage-Based``, ``on demand``). :func:`normalise` finds the allowed value that differs only in
case, spaces, hyphens or underscores; callers count such repairs as warnings. A value that matches
nothing is returned as ``None`` so the caller decides whether to quarantine or keep it.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Self

from aifinops.errors import AifinopsError

_SEPARATORS = re.compile(r"[\s_\-]+")


def fold(text: str) -> str:
    """The comparison key of an enumerated value: lower case, separators removed."""
    return _SEPARATORS.sub("", text).lower()


def normalise(value: str, allowed: tuple[str, ...] | list[str]) -> str | None:
    """The allowed value ``value`` means, or ``None`` when it means none of them."""
    if value in allowed:
        return value
    key = fold(value)
    for candidate in allowed:
        if fold(candidate) == key:
            return candidate
    return None


class FocusEnum(StrEnum):
    """A FOCUS enumeration; ``parse`` accepts case and separator variants."""

    @classmethod
    def parse(cls, text: str) -> Self:
        found = normalise(text, [m.value for m in cls])
        if found is None:
            allowed = ", ".join(m.value for m in cls)
            raise AifinopsError(f"{text!r} is not a {cls.__name__}", hint=f"use one of {allowed}")
        return cls(found)


class ChargeCategory(FocusEnum):
    USAGE = "Usage"
    PURCHASE = "Purchase"
    TAX = "Tax"
    CREDIT = "Credit"
    ADJUSTMENT = "Adjustment"


class ChargeClass(FocusEnum):
    CORRECTION = "Correction"


class ChargeFrequency(FocusEnum):
    ONE_TIME = "One-Time"
    RECURRING = "Recurring"
    USAGE_BASED = "Usage-Based"


class PricingCategory(FocusEnum):
    STANDARD = "Standard"
    DYNAMIC = "Dynamic"
    COMMITTED = "Committed"
    OTHER = "Other"


class CommitmentDiscountStatus(FocusEnum):
    USED = "Used"
    UNUSED = "Unused"


class CommitmentDiscountCategory(FocusEnum):
    SPEND = "Spend"
    USAGE = "Usage"


class CapacityReservationStatus(FocusEnum):
    USED = "Used"
    UNUSED = "Unused"


class ServiceCategory(FocusEnum):
    AI_AND_MACHINE_LEARNING = "AI and Machine Learning"
    ANALYTICS = "Analytics"
    BUSINESS_APPLICATIONS = "Business Applications"
    COMPUTE = "Compute"
    DATABASES = "Databases"
    DEVELOPER_TOOLS = "Developer Tools"
    MULTICLOUD = "Multicloud"
    IDENTITY = "Identity"
    INTEGRATION = "Integration"
    INTERNET_OF_THINGS = "Internet of Things"
    MANAGEMENT_AND_GOVERNANCE = "Management and Governance"
    MEDIA = "Media"
    MIGRATION = "Migration"
    MOBILE = "Mobile"
    NETWORKING = "Networking"
    SECURITY = "Security"
    STORAGE = "Storage"
    WEB = "Web"
    OTHER = "Other"
