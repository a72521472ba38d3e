"""aifinops: FinOps for AI workloads on one FOCUS-based model of every cost.

``Workspace`` and ``job`` are imported when first used, so ``import aifinops`` (and every CLI
command) starts without loading what it does not need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aifinops.errors import AifinopsError

if TYPE_CHECKING:
    from aifinops.agent.jobs import job
    from aifinops.workspace import Workspace

__version__ = "0.1.0"
__all__ = ["AifinopsError", "Workspace", "__version__", "job"]


def __getattr__(name: str) -> Any:
    if name == "Workspace":
        from aifinops.workspace import Workspace

        return Workspace
    if name == "job":
        from aifinops.agent.jobs import job

        return job
    raise AttributeError(f"module 'aifinops' has no attribute {name!r}")
