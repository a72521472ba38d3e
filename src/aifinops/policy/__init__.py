"""Policy-as-code: YAML policies that find resources (GPU machines, jobs, endpoints, storage
prefixes, LLM keys and teams, budgets), filter them and act on them, dry run first.

>>> from aifinops.policy import load, run_policies       # doctest: +SKIP
>>> policies = load([Path("idle-gpus.yaml")], ws.settings)  # doctest: +SKIP
>>> report = run_policies(ws, policies, as_of=date(2026, 10, 20))  # dry run  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from aifinops.policy.policies import Policy, PolicyErrors, Problem, check, load
from aifinops.policy.runner import RunReport, run_policies
from aifinops.policy.schema import schema

if TYPE_CHECKING:
    import pyarrow as pa

    from aifinops.config import Settings

__all__ = [
    "Policy",
    "PolicyErrors",
    "Problem",
    "RunReport",
    "check_files",
    "load",
    "marks_table",
    "run_policies",
    "schema",
]


def check_files(
    files: Sequence[Path], settings: Settings | None
) -> tuple[list[Policy], list[Problem]]:
    """The policies of ``files`` and every problem in them (``aifinops policy validate``)."""
    return check(files, settings)


def marks_table(ws_path: Path) -> pa.Table:
    """Pending and acted marks: policy, resource, owner, marked on, due, status."""
    import pyarrow as pa

    from aifinops.policy.marks import MarkStore

    rows = sorted(MarkStore(ws_path).all().values(), key=lambda m: (m.due, m.policy, m.resource_id))
    columns = {
        "policy": [m.policy for m in rows],
        "resource_kind": [m.resource_kind for m in rows],
        "resource": [m.resource_name for m in rows],
        "resource_id": [m.resource_id for m in rows],
        "owner": [m.owner for m in rows],
        "op": [m.op for m in rows],
        "marked_on": [m.marked_on for m in rows],
        "due": [m.due for m in rows],
        "status": [m.status for m in rows],
        "acted_on": [m.acted_on for m in rows],
    }
    types = {"marked_on": pa.date32(), "due": pa.date32(), "acted_on": pa.date32()}
    return pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in columns.items()})
