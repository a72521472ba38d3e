"""Object storage list prices by class, and the ``[recommend_storage]`` settings.

Pure domain (package data only). ``data/storage_prices.csv`` holds, per provider, region and
storage class: the price per GB-month, the retrieval price per GB, the lifecycle transition price
per 1,000 objects moved into the class, the minimum storage duration and billable object size,
and whether reads are instant, each row with the provider's public pricing page and the date it
was taken (see ``data/NOTICE.md``). Providers bill storage in binary gigabytes (2^30 bytes,
"GB" on AWS and GCP pages), as :data:`GB` does here.

Covered: AWS S3 (us-east-1) and Google Cloud Storage (us-central1). Prices differ by region and
S3 Standard is tiered by volume (first 50 TB); where the bills show a bucket's own unit price
(``costs``), the recommenders use that instead (see ``aifinops.analysis.recommend.storage``).
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field, field_validator

GB = 2**30
DEFAULT_CLASS = "STANDARD"  # what S3 and GCS store an object in unless told otherwise


@dataclass(frozen=True)
class StorageClassPrice:
    provider: str
    region: str
    storage_class: str
    per_gb_month: Decimal
    retrieval_per_gb: Decimal
    transition_per_1000: Decimal
    min_storage_days: int
    min_object_kb: int
    instant_access: bool
    source: str
    as_of: str


@functools.cache
def storage_prices() -> dict[tuple[str, str], StorageClassPrice]:
    """Every row of the table by (provider, storage class)."""
    text = resources.files("aifinops.model").joinpath("data/storage_prices.csv").read_text("utf-8")
    out = {}
    for r in csv.DictReader(text.splitlines()):
        price = StorageClassPrice(
            provider=r["provider"],
            region=r["region"],
            storage_class=r["storage_class"],
            per_gb_month=Decimal(r["per_gb_month"]),
            retrieval_per_gb=Decimal(r["retrieval_per_gb"]),
            transition_per_1000=Decimal(r["transition_per_1000"]),
            min_storage_days=int(r["min_storage_days"]),
            min_object_kb=int(r["min_object_kb"]),
            instant_access=r["instant_access"] == "true",
            source=r["source"],
            as_of=r["as_of"],
        )
        out[(price.provider, price.storage_class)] = price
    return out


_PROVIDERS = {"aws": "aws", "s3": "aws", "amazon": "aws", "gcp": "gcp", "gcs": "gcp",
              "google": "gcp", "google cloud": "gcp"}  # fmt: skip


def canonical_provider(provider: str | None) -> str | None:
    """``aws`` or ``gcp`` for the names inventories use, else None (no prices for it)."""
    return _PROVIDERS.get((provider or "").strip().lower())


def canonical_class(storage_class: str | None) -> str:
    """A storage class as the table names it (upper case, ``-`` and spaces as ``_``); an empty
    class is the provider's default, ``STANDARD``."""
    name = (storage_class or "").strip().upper().replace("-", "_").replace(" ", "_")
    return name or DEFAULT_CLASS


def class_price(provider: str | None, storage_class: str | None) -> StorageClassPrice | None:
    """The list price of a class, or None where the table has none (never zero)."""
    name = canonical_provider(provider)
    return storage_prices().get((name, canonical_class(storage_class))) if name else None


# -- checkpoint keys ---------------------------------------------------------------------------

#: ``<run>/<...>checkpoint-<step>/...``: Hugging Face ``checkpoint-500/``, DeepSpeed
#: ``global_step500/``, ``step=500/``, ``step-500.pt``, Lightning ``epoch=3-step=500.ckpt``,
#: ``ckpt-500``. The run is the folder the first checkpoint segment is in.
CHECKPOINT_PATTERN = (
    r"^(?P<run>.+?)/(?:[^/]*[-_])?(?:global_step|checkpoint|ckpt|step)"
    r"[-_=]?(?P<step>\d+)(?:[/._-]|$)"
)
_NAMED = re.compile(r"\(\?P<(\w+)>")
_UNPORTABLE = re.compile(r"\(\?<?[=!]|\\[1-9]|\(\?P=")


@dataclass(frozen=True)
class CheckpointPattern:
    """A regular expression over object keys with groups ``run`` and ``step``, in the form the
    engines take (RE2 and Java: numbered groups, no look-around, no back-references)."""

    text: str

    @property
    def compiled(self) -> re.Pattern[str]:
        return re.compile(self.text)

    @property
    def portable(self) -> str:
        return _NAMED.sub("(", self.text)

    @property
    def run_group(self) -> int:
        return self.compiled.groupindex["run"]

    @property
    def step_group(self) -> int:
        return self.compiled.groupindex["step"]

    def step_of(self, path: str) -> int | None:
        """The step of a checkpoint path (``s3://bucket/run/checkpoint-500``), or None."""
        found = self.compiled.search(path)
        return int(found.group("step")) if found else None


def check_pattern(text: str) -> str:
    """``text`` if it is a usable checkpoint pattern; raises ValueError saying why not."""
    try:
        compiled = re.compile(text)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    missing = {"run", "step"} - set(compiled.groupindex)
    if missing:
        raise ValueError(f"needs named groups (?P<run>...) and (?P<step>...); missing {missing}")
    if _UNPORTABLE.search(text):
        raise ValueError("look-around and back-references do not run on every engine")
    return text


class StorageRecommendSettings(BaseModel):
    """``[recommend_storage]``: lifecycle tiering of cold objects, checkpoint retention."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    tiering: dict[str, int] = Field(
        {"STANDARD_IA": 30, "GLACIER_IR": 90, "NEARLINE": 30, "COLDLINE": 90},
        description="Storage class to move objects to -> days without use (last access, else "
        "last modification) after which they go; each object gets the cheapest class it "
        "qualifies for (classes of its provider only).",
    )
    amortise_months: int = Field(
        12, gt=0, description="Months over which one-off transition request charges are spread."
    )
    checkpoint_pattern: str = Field(
        CHECKPOINT_PATTERN,
        description="Regular expression over object keys with named groups run and step: the "
        "objects of one checkpoint of one training run.",
    )
    keep_last: int = Field(2, ge=1, description="Checkpoints kept per run (the newest steps).")
    run_idle_days: int = Field(
        7,
        ge=0,
        description="Days since a run's newest checkpoint after which the run counts as "
        "finished (runs still writing are left alone).",
    )
    run_labels: list[str] = Field(
        ["checkpoint_dir", "output_dir", "checkpoint_prefix"],
        description="Job label keys naming the folder (s3://bucket/run or run) a job wrote its "
        "checkpoints to: links a run to its job's metrics.",
    )
    best_metrics: list[str] = Field(
        ["best_model_checkpoint", "best_checkpoint", "best_step"],
        description="Job metric keys naming the best checkpoint (a path or a step), kept besides "
        "the newest.",
    )

    @field_validator("checkpoint_pattern")
    @classmethod
    def _usable(cls, value: str) -> str:
        return check_pattern(value)

    @property
    def pattern(self) -> CheckpointPattern:
        return CheckpointPattern(self.checkpoint_pattern)
