"""Outside data -> Arrow tables in the store's schemas. One module per format; pure parsing.

Each source module registers its source(s) when imported. Modules are imported on demand:
:func:`source` imports only the module of the source asked for (a command that reads AWS CUR files
does not load the LLM price catalog), :func:`registered` imports them all.
"""

from __future__ import annotations

import importlib

from aifinops.sources import base
from aifinops.sources.base import SourceSpec

#: Every source name -> the module (in this package) that registers it. A test checks that
#: importing each module registers exactly these names.
MODULES = {
    "aws-cur": "aws_cur",
    "azure": "azure",
    "gcp": "gcp",
    "oci": "oci",
    "focus": "focus",
    "onprem": "onprem",
    "dcgm": "dcgm",
    "prometheus": "prometheus",
    "nvidia-smi": "nvidia_smi",
    "nvidia-smi-apps": "nvidia_smi_apps",
    "openai-usage": "llm",
    "anthropic-usage": "llm",
    "litellm": "llm",
    "otel-genai": "llm",
    "jobs": "jobs",
    "metrics": "metrics",
    "storage": "storage",
}


def source(name: str) -> SourceSpec | None:
    """The registered source ``name`` (its module imported now), or None if there is none."""
    module = MODULES.get(name)
    if module is None:
        return None
    importlib.import_module(f"{__name__}.{module}")
    return base.registered().get(name)


def registered() -> dict[str, SourceSpec]:
    """Every source by name (all source modules imported)."""
    for module in dict.fromkeys(MODULES.values()):
        importlib.import_module(f"{__name__}.{module}")
    return base.registered()


__all__ = ["MODULES", "SourceSpec", "registered", "source"]
