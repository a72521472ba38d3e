"""The GPU catalog: which cloud instance type has how many GPUs of which model, and GPU specs.

Package data built by ``scripts/build_gpu_catalog.py`` from the project's reference tables (see
``data/NOTICE.md`` for sources and licences). Instance type names are unique across clouds
(``p5.48xlarge``, ``Standard_ND96isr_H100_v5``, ``a3-highgpu-8g``). Azure's NV A10 v5 sizes hold a
fraction of one GPU, so ``gpu_count`` is a decimal (``0.167`` is a sixth, as upstream writes it).
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources


@dataclass(frozen=True)
class GpuInstanceType:
    cloud: str  # "aws" | "azure" | "gcp"
    name: str  # the provider's instance type (machine type, VM size)
    gpu_model: str
    gpu_count: Decimal
    gpu_memory_mib: int | None  # per GPU, where upstream states it


@dataclass(frozen=True)
class GpuSpec:
    gpu: str
    variant: str
    tdp_watts: int
    memory_gb: int
    memory_type: str


def _read(name: str) -> list[dict[str, str]]:
    text = resources.files("aifinops.model").joinpath(f"data/{name}").read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


@functools.cache
def instance_types() -> tuple[GpuInstanceType, ...]:
    """Every GPU instance type of the catalog, by cloud then name."""
    return tuple(
        GpuInstanceType(
            cloud=r["cloud"],
            name=r["instance_type"],
            gpu_model=r["gpu_model"],
            gpu_count=Decimal(r["gpu_count"]),
            gpu_memory_mib=int(r["gpu_memory_mib_per_gpu"])
            if r["gpu_memory_mib_per_gpu"]
            else None,
        )
        for r in _read("gpu_instance_types.csv")
    )


@functools.cache
def _by_name() -> dict[str, GpuInstanceType]:
    return {t.name.lower(): t for t in instance_types()}


def instance_type(name: str) -> GpuInstanceType | None:
    """The catalog entry for ``name`` (case-insensitive), or None for a type it does not know."""
    return _by_name().get(name.strip().lower())


@functools.cache
def name_pattern() -> str:
    """A regular expression (RE2 and Java compatible) whose group 1 is a catalog instance type
    standing as a whole word in free text such as a charge description.

    Longer names come first so ``g5.12xlarge`` is never read as ``g5.1``-something; a name inside
    a longer token (``ml.g5.2xlarge``, a SageMaker type) does not match.
    """
    names = sorted({t.name for t in instance_types()}, key=lambda n: (-len(n), n))
    edge = r"[^A-Za-z0-9_.\-]"
    return rf"(?i)(?:^|{edge})({'|'.join(re.escape(n) for n in names)})(?:$|{edge})"


@functools.cache
def gpu_specs() -> tuple[GpuSpec, ...]:
    """GPU models with their board power (TDP) and memory."""
    return tuple(
        GpuSpec(
            gpu=r["gpu"],
            variant=r["variant"],
            tdp_watts=int(r["tdp_watts"]),
            memory_gb=int(r["memory_gb"]),
            memory_type=r["memory_type"],
        )
        for r in _read("gpu_specs.csv")
    )
