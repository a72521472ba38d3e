"""aifinops: FinOps for AI workloads on one FOCUS-based model of every cost."""

from aifinops.agent.jobs import job
from aifinops.errors import AifinopsError
from aifinops.workspace import Workspace

__version__ = "0.1.0"
__all__ = ["AifinopsError", "Workspace", "__version__", "job"]
