"""Which FOCUS version a file is, and how its columns map onto the stored shape.

The store holds the FOCUS 1.4 Cost and Usage columns plus the 1.2 names that 1.3 deprecated
(ProviderName, PublisherName). A file of any version 1.0 to 1.4 is upgraded by:

* matching FOCUS column names case-insensitively (a repaired name is a warning);
* keeping unknown columns as ``x_`` columns (``Id`` becomes ``x_Id``), never dropping them;
* filling the provider columns each version lacks from the ones it has (see ``DERIVED``);
* leaving columns the file's version does not have as null.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from aifinops.errors import AifinopsError
from aifinops.model.focus import FocusVersion, all_columns, mandatory_columns

#: Column names of the FOCUS 0.5 preview; a file with them but not their 1.0 successors is pre-1.0.
PRE_1_0_NAMES = ("Provider", "Publisher", "InvoiceIssuer", "ChargeType", "AmortizedCost")

#: Stored column -> source columns to copy from, in order of preference, when the file lacks it.
#: 1.3 replaced ProviderName with ServiceProviderName (who sells) and HostProviderName (who hosts);
#: for earlier files the provider is both. PublisherName has no 1.3+ successor: the service
#: provider is the closest fact a 1.3+ file carries.
DERIVED: dict[str, tuple[str, ...]] = {
    "ServiceProviderName": ("ProviderName",),
    "HostProviderName": ("ProviderName", "ServiceProviderName"),
    "ProviderName": ("ServiceProviderName",),
    "PublisherName": ("ServiceProviderName", "ProviderName"),
    # Before 1.2 there was no pricing currency: prices were in the billing currency.
    "PricingCurrency": ("BillingCurrency",),
    "PricingCurrencyEffectiveCost": ("EffectiveCost",),
    "PricingCurrencyListUnitPrice": ("ListUnitPrice",),
    "PricingCurrencyContractedUnitPrice": ("ContractedUnitPrice",),
}

#: Stored column -> the source column it is computed from, when the file lacks it (see
#: ``aifinops.sources.focus``): ServiceSubcategory (1.1) becomes ``Other (<ServiceCategory>)``, the
#: spec's catch-all; SubAccountType (1.2) is the provider's name for a sub account;
#: BillingAccountType (1.2) is the generic "Billing Account" (the file does not say which kind).
COMPUTED: dict[str, str] = {
    "ServiceSubcategory": "ServiceCategory",
    "SubAccountType": "SubAccountId",
    "BillingAccountType": "BillingAccountId",
}

#: SubAccountType by provider (lower-case prefix of ServiceProviderName/ProviderName).
SUB_ACCOUNT_TYPES = {
    "aws": "AWS Account",
    "amazon": "AWS Account",
    "microsoft": "Subscription",
    "azure": "Subscription",
    "google": "Project",
    "oracle": "Compartment",
    "oci": "Compartment",
}


@dataclass(frozen=True)
class SchemaPlan:
    """How one file's header becomes stored columns."""

    version: FocusVersion
    #: source column name -> stored column name, for every source column
    renames: dict[str, str]
    #: stored column -> source column it is copied from (see DERIVED)
    derived: dict[str, str]
    #: stored columns computed from others (see COMPUTED)
    computed: tuple[str, ...] = ()
    #: source names that matched a FOCUS column only when case was ignored
    case_repaired: tuple[str, ...] = ()
    #: mandatory columns of ``version`` the file does not have
    missing_mandatory: tuple[str, ...] = field(default=())

    @property
    def extension_columns(self) -> dict[str, str]:
        """Source column -> ``x_`` column, for columns that are not FOCUS columns."""
        focus = {c.name for c in all_columns()}
        return {src: dst for src, dst in self.renames.items() if dst not in focus}


def detect_version(names: Iterable[str]) -> FocusVersion:
    """The lowest FOCUS version that has every FOCUS column in ``names``.

    Columns added in later versions are all optional or conditional, so a file that uses none of
    them is read as the earlier version; its rows are the same either way.
    """
    canonical = {c.name.lower(): c for c in all_columns()}
    present = [canonical[n.lower()] for n in names if n.lower() in canonical]
    if not present:
        raise AifinopsError(
            "no FOCUS columns found in the header",
            hint="is this a FOCUS Cost and Usage export? Native exports have their own sources "
            "(see `aifinops sources`)",
        )
    return max((c.introduced for c in present), key=lambda v: v.key)


def _check_pre_1_0(names: Sequence[str]) -> None:
    lowered = {n.lower() for n in names}
    old = [n for n in PRE_1_0_NAMES if n.lower() in lowered]
    if old and "providername" not in lowered and "serviceprovidername" not in lowered:
        raise AifinopsError(
            f"this is a FOCUS 0.5 (pre-1.0) file (columns {', '.join(old)})",
            hint="FOCUS 1.0 to 1.4 are supported; re-export the data as FOCUS 1.0 or later",
        )


def _extension_name(name: str, taken: set[str]) -> str:
    base = name if name.startswith("x_") else f"x_{name}"
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}_{n}"
    return candidate


def plan(names: Sequence[str], version: FocusVersion | None = None) -> SchemaPlan:
    """Map a file header onto the stored shape; raise if mandatory columns are missing."""
    _check_pre_1_0(names)
    duplicates = sorted({n for n in names if list(names).count(n) > 1})
    if duplicates:
        raise AifinopsError(f"the header repeats column(s) {', '.join(duplicates)}")
    version = version or detect_version(names)
    canonical = {c.name.lower(): c.name for c in all_columns()}
    renames: dict[str, str] = {}
    repaired: list[str] = []
    for name in names:
        target = canonical.get(name.lower())
        if target is not None and target not in renames.values():
            renames[name] = target
            if target != name:
                repaired.append(name)
    taken = set(renames.values())
    for name in names:
        if name not in renames:
            renames[name] = _extension_name(name, taken)
            taken.add(renames[name])
    present = set(renames.values())
    derived = {
        dst: next(s for s in sources if s in present)
        for dst, sources in DERIVED.items()
        if dst not in present and any(s in present for s in sources)
    }
    computed = tuple(
        dst for dst, src in COMPUTED.items() if dst not in present and src in present | set(derived)
    )
    available = present | set(derived) | set(computed)
    missing = tuple(c for c in mandatory_columns(version) if c not in available)
    return SchemaPlan(version, renames, derived, computed, tuple(repaired), missing)
