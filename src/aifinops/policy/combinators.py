"""The ``or``, ``and`` and ``not`` filters: each holds a list of filters (``- or: [...]``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aifinops.policy.filters  # noqa: F401 - the plain filters register (and are listed) first
from aifinops.policy.model import Resource, Verdict
from aifinops.policy.registry import Filter, filters

if TYPE_CHECKING:
    from aifinops.policy.context import PolicyContext
    from aifinops.policy.policies import Policy


class _Combinator(Filter):
    def __init__(self, data: dict[str, Any], path: tuple[str | int, ...]) -> None:
        from aifinops.policy.policies import make_filter

        super().__init__(data, path)
        self.items = [make_filter(d, (*path, self.name, i)) for i, d in enumerate(data[self.name])]

    def children(self) -> list[Filter]:
        return list(self.items)

    def verdicts(self, ctx: PolicyContext, policy: Policy, resource: Resource) -> list[Verdict]:
        return [f.check(ctx, policy, resource) for f in self.items]


@filters.register("or")
class Or(_Combinator):
    """Any of the filters listed matches.

    Example::

        - or:
            - type: tag
              key: team
              state: absent
            - type: tag
              key: owner
              state: absent
    """

    def check(self, ctx: PolicyContext, policy: Policy, resource: Resource) -> Verdict:
        found = self.verdicts(ctx, policy, resource)
        matched = any(v.matched for v in found)
        return Verdict(matched, "any of (" + "; ".join(v.reason for v in found) + ")")


@filters.register("and")
class And(_Combinator):
    """All of the filters listed match (inside ``or``/``not``; a policy's own list already means
    all).

    Example::

        - and:
            - type: value
              key: status
              value: failed
            - type: cost
              min: 1000
    """

    def check(self, ctx: PolicyContext, policy: Policy, resource: Resource) -> Verdict:
        found = self.verdicts(ctx, policy, resource)
        matched = all(v.matched for v in found)
        return Verdict(matched, "all of (" + "; ".join(v.reason for v in found) + ")")


@filters.register("not")
class Not(_Combinator):
    """None of the filters listed matches.

    Example::

        - not:
            - type: value
              key: tags.env
              value: prod
    """

    def check(self, ctx: PolicyContext, policy: Policy, resource: Resource) -> Verdict:
        found = self.verdicts(ctx, policy, resource)
        matched = not any(v.matched for v in found)
        return Verdict(matched, "none of (" + "; ".join(v.reason for v in found) + ")")
