"""NVIDIA Multi-Instance GPU (MIG) profiles and GPU sizing facts: memory and board power per model.

``data/mig_profiles.csv`` lists, for the MIG-capable data-centre GPUs (A100 40/80 GB, H100 80 GB,
H100 NVL 94 GB, H200 141 GB), each GPU instance profile with its compute slices (of 7), memory
slices (of 8) and how many instances of it one GPU holds — the "Supported MIG Profiles" tables of
NVIDIA's MIG user guide, cross-checked with the profile counts of NVIDIA's mig-parted and GPU
Operator configurations (see ``data/NOTICE.md``). Media-extension profiles (``+me``) are left
out: they are the 1g profile with decoders, one per GPU.

GPU memory and board power (TDP) come from the GPU catalog (``gpu_specs.csv``): a model name that
states its memory (``H100-80GB``, ``A100-80GB-PCIe``) is read as such; otherwise the spec row of
its family (``H100``, ``A10G``, ``L4``), the NVL or PCIe variant when the name says so.
"""

from __future__ import annotations

import csv
import functools
import math
import re
from dataclasses import dataclass
from importlib import resources

from aifinops.model.gpu_catalog import GpuSpec, gpu_specs
from aifinops.model.gpu_prices import gpu_family as family

MIB_PER_GB = 1024
#: Accelerators that are not CUDA GPUs: never proposed as a replacement for one.
NOT_CUDA = ("MI", "INFERENTIA", "TRAINIUM")


@dataclass(frozen=True)
class MigProfile:
    gpu: str  # "H100-80GB"
    name: str  # "2g.20gb"
    compute_slices: int  # of 7
    memory_eighths: int  # of 8
    max_instances: int  # per GPU, all of this profile

    @property
    def compute_share(self) -> float:
        return self.compute_slices / 7

    def memory_mib(self, gpu_memory_mib: int) -> int:
        """The instance's memory: its eighths of the GPU's (a little under the nominal name)."""
        return gpu_memory_mib * self.memory_eighths // 8


@functools.cache
def mig_profiles() -> tuple[MigProfile, ...]:
    text = resources.files("aifinops.model").joinpath("data/mig_profiles.csv").read_text("utf-8")
    return tuple(
        MigProfile(
            gpu=r["gpu"],
            name=r["profile"],
            compute_slices=int(r["compute_slices"]),
            memory_eighths=int(r["memory_eighths"]),
            max_instances=int(r["max_instances"]),
        )
        for r in csv.DictReader(text.splitlines())
    )


def _stated_gb(model: str) -> int | None:
    found = re.search(r"(\d+)\s*GB", model, re.IGNORECASE)
    return int(found.group(1)) if found else None


def _spec(model: str) -> GpuSpec | None:
    rows = [s for s in gpu_specs() if s.gpu.upper() == family(model)]
    upper = model.upper()
    for marker in ("NVL", "PCIE"):
        if marker in upper:
            rows = [s for s in rows if marker in s.variant.upper()] or rows
    return rows[0] if rows else None


def memory_mib(model: str, stated_mib: int | None = None) -> int | None:
    """Memory of one GPU of ``model`` in MiB: as stated (catalog, telemetry), else from the name
    (``80GB``), else from the spec of its family; None when nothing says."""
    if stated_mib:
        return stated_mib
    gb = _stated_gb(model)
    if gb is not None:
        return gb * MIB_PER_GB
    spec = _spec(model)
    return spec.memory_gb * MIB_PER_GB if spec else None


def tdp_watts(model: str) -> int | None:
    """Board power of ``model`` (the compute proxy of rightsizing), None when unknown."""
    spec = _spec(model)
    return spec.tdp_watts if spec else None


def is_cuda_gpu(model: str) -> bool:
    return not family(model).startswith(NOT_CUDA)


def profiles_for(model: str, gpu_memory_mib: int | None) -> tuple[MigProfile, ...]:
    """The MIG profiles of ``model`` (by family and the nearest memory size), smallest first;
    empty for a GPU without MIG."""
    if gpu_memory_mib is None:
        return ()
    tables: dict[str, list[MigProfile]] = {}
    for p in mig_profiles():
        if family(p.gpu) == family(model):
            tables.setdefault(p.gpu, []).append(p)
    if not tables:
        return ()
    gb = gpu_memory_mib / MIB_PER_GB
    nearest = min(tables, key=lambda g: abs((_stated_gb(g) or 0) - gb))
    if abs((_stated_gb(nearest) or 0) - gb) > 0.15 * gb:
        return ()  # no table for this memory size (e.g. a 96 GB GH200)
    return tuple(sorted(tables[nearest], key=lambda p: (p.compute_slices, p.memory_eighths)))


def smallest_fit(
    profiles: tuple[MigProfile, ...],
    *,
    gpu_memory_mib: int,
    need_memory_mib: float,
    need_compute_share: float,
) -> MigProfile | None:
    """The profile packing the most instances per GPU whose memory and compute cover the need
    (needs already include headroom), or None; the whole-GPU profile never counts."""
    fits = [
        p
        for p in profiles
        if p.max_instances > 1
        and p.memory_mib(gpu_memory_mib) >= need_memory_mib
        and p.compute_share >= need_compute_share
    ]
    return max(fits, key=lambda p: (p.max_instances, -p.compute_slices)) if fits else None


def gpus_needed(workloads: int, profile: MigProfile) -> int:
    """Whole GPUs that hold ``workloads`` instances of ``profile``."""
    return math.ceil(workloads / profile.max_instances)
