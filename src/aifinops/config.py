"""Workspace settings: one pydantic model, a default and a help text per field.

Read from the workspace's ``aifinops.toml``; environment variables override it
(``AIFINOPS_<SECTION>__<FIELD>``, e.g. ``AIFINOPS_ENGINE__MEMORY_LIMIT=4GB``). Settings are loaded
at the edge (CLI, API) and passed in; nothing else reads the environment.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from aifinops.errors import ConfigError
from aifinops.model.allocation import AllocationRules
from aifinops.model.budgets import Budgets
from aifinops.model.carbon import CarbonSettings
from aifinops.model.compute_savings import ComputeRecommendSettings
from aifinops.model.llm_savings import LlmRecommendSettings
from aifinops.model.metrics import CostMetric
from aifinops.model.onprem import OnPremInventory
from aifinops.model.storage_prices import StorageRecommendSettings
from aifinops.notify.settings import CHANNELS_EXAMPLE, ExecutorsSettings, NotifySettings

CONFIG_FILE = "aifinops.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class WorkspaceSection(_Section):
    database: str = Field(
        "aifinops.duckdb", description="Database file, relative to the workspace."
    )


class EngineSection(_Section):
    threads: int = Field(0, ge=0, description="DuckDB threads; 0 uses every core.")
    memory_limit: str = Field(
        "2GB", description="DuckDB memory limit (e.g. 2GB); larger work spills to disk."
    )


class IngestSection(_Section):
    strict: bool = Field(
        False, description="Fail an ingest when any row is quarantined (same as --strict)."
    )


class ReportSection(_Section):
    metric: CostMetric = Field(
        CostMetric.EFFECTIVE,
        description="Default cost metric: billed, effective (amortised), list or contracted.",
    )


class ModelPrices(_Section):
    """Per-million-token prices of one model (``[prices.models."provider/model"]``)."""

    input: Decimal = Field(ge=0, description="Price per million uncached input tokens.")
    output: Decimal = Field(ge=0, description="Price per million output tokens.")
    cache_read: Decimal | None = Field(
        None, ge=0, description="Price per million cached input tokens (default: input)."
    )
    cache_write: Decimal | None = Field(
        None, ge=0, description="Price per million cache-write tokens (default: input)."
    )
    cache_write_1h: Decimal | None = Field(
        None, ge=0, description="Price per million 1-hour cache-write tokens (default: cache_write)"
    )
    reasoning: Decimal | None = Field(
        None, ge=0, description="Price per million reasoning tokens (default: output)."
    )
    currency: str = Field("USD", description="Currency of these prices.")


class PricesSection(_Section):
    discounts: dict[str, Decimal] = Field(
        {},
        description="LLM prices: negotiated discounts in percent off the genai-prices catalog, by "
        '"provider" or "provider/model" (wildcards allowed), e.g. { openai = 10 }.',
    )
    models: dict[str, ModelPrices] = Field(
        {},
        description="LLM prices per million tokens that take precedence over the catalog "
        '(self-hosted models, negotiated price lists), by "provider/model" (wildcards allowed); '
        "see docs/sources/llm.md.",
    )


class GuardSection(_Section):
    no_budget: Literal["allow", "deny"] = Field(
        "allow",
        description="What `aifinops guard` answers for a team or key no budget names: allow "
        '(reason "no budget") or deny.',
    )


class ForecastSection(_Section):
    levels: list[Annotated[int, Field(gt=0, lt=100)]] = Field(
        [80, 95], description="Prediction interval levels (percent, 1-99) forecasts report."
    )
    history_days: int = Field(
        365, ge=7, description="Days of history a forecast is fitted on (--history)."
    )
    season_length: int = Field(7, ge=2, description="Days in a season: 7 is weekly.")
    model: Literal["ets", "seasonal-naive", "auto"] = Field(
        "ets",
        description="ets (a weekly profile plus exponential smoothing), seasonal-naive, or auto "
        "(the one that wins each scope's backtest).",
    )
    backtest_origins: int = Field(
        20, ge=1, description="Cut-offs of the rolling-origin backtest (--backtest)."
    )
    sample_paths: int = Field(
        2000, ge=100, description="Simulated paths behind the intervals of a total."
    )


class AnomaliesSection(_Section):
    sensitivity: float = Field(
        5,
        ge=1,
        description="Score a day must reach to be an anomaly: ln(actual / expected) over the "
        "robust (MAD) spread of the history's errors; higher flags fewer.",
    )
    min_impact: Decimal = Field(
        200,  # validated into a Decimal; a plain number in the default aifinops.toml
        ge=0,
        validate_default=True,
        description="Least amount (billing currency) a day must be above its expected spend.",
    )
    min_relative_pct: float = Field(
        20, ge=0, description="Least percent a day must be above its expected spend."
    )
    recurring_min_relative_pct: float = Field(
        50,
        ge=0,
        description="Recurring and one-time charges are compared with the same day of the month "
        "before: least percent change that is an anomaly.",
    )
    dimensions: list[str] = Field(
        ["team", "provider", "service"],
        description="Besides the whole bill, each value of these is watched on its own: "
        "allocation dimensions (team, project, ...) or provider, service, account, region, "
        "category.",
    )
    drill_down: list[str] = Field(
        ["service", "resource", "account", "team", "project", "api_key", "llm_model", "model",
         "region", "charge"],
        description="What root causes are looked for in: service, account, resource, region, "
        "charge (description), provider, api_key, llm_model, or an allocation dimension.",
    )  # fmt: skip
    history_days: int = Field(
        56, ge=21, description="Days of history the baseline of a day is taken from."
    )
    min_history_days: int = Field(
        21, ge=14, description="Fewest usable history days a day is judged on."
    )
    shift_days: int = Field(
        3,
        ge=2,
        description="Days in a row at a new level after which it is a level shift and becomes "
        "the baseline (one alert, at its first day).",
    )
    decreases: bool = Field(False, description="Flag drops in spend too, not only rises.")
    max_alerts_per_day: int = Field(
        5, ge=1, description="Alert budget: the largest anomalies of a day kept; the rest counted."
    )


class MetricsSection(_Section):
    families: list[Literal["costs", "gpu", "budgets", "llm", "self_hosted", "freshness"]] = Field(
        ["costs", "gpu", "budgets", "llm", "self_hosted", "freshness"],
        description="Metric families `aifinops metrics` exports: costs, gpu, budgets, llm, "
        "self_hosted, freshness (see docs/metrics.md).",
    )
    dimensions: list[str] = Field(
        ["team", "project", "model", "environment", "provider", "service"],
        description="Dimensions of the cost families: allocation dimensions (from "
        "allocated_costs), provider and service; without allocation only provider and service.",
    )
    gpu_dimensions: list[str] = Field(
        ["tag:team", "instance_type"],
        description="Dimensions of the GPU families: tag:KEY, a FOCUS column, machine, "
        "instance_type or gpu_model.",
    )
    top: int = Field(
        10,
        ge=1,
        description="Values kept per dimension (largest month-to-date cost first); the rest are "
        "summed as (other).",
    )
    cache_seconds: int = Field(
        300,
        ge=0,
        description="A computed exposition is served again for this long unless the workspace "
        "was loaded or allocated since (0: compute on every scrape).",
    )


class Settings(BaseSettings):
    """Everything configurable about a workspace."""

    model_config = SettingsConfigDict(
        env_prefix="AIFINOPS_", env_nested_delimiter="__", extra="forbid"
    )

    workspace: WorkspaceSection = Field(default_factory=WorkspaceSection)
    engine: EngineSection = Field(default_factory=EngineSection)
    ingest: IngestSection = Field(default_factory=IngestSection)
    report: ReportSection = Field(default_factory=ReportSection)
    onprem: OnPremInventory = Field(default_factory=OnPremInventory)
    prices: PricesSection = Field(default_factory=PricesSection)
    carbon: CarbonSettings = Field(default_factory=CarbonSettings)
    recommend_compute: ComputeRecommendSettings = Field(default_factory=ComputeRecommendSettings)
    recommend_llm: LlmRecommendSettings = Field(default_factory=LlmRecommendSettings)
    recommend_storage: StorageRecommendSettings = Field(default_factory=StorageRecommendSettings)
    allocation: AllocationRules = Field(default_factory=AllocationRules)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    executors: ExecutorsSettings = Field(default_factory=ExecutorsSettings)
    guard: GuardSection = Field(default_factory=GuardSection)
    forecast: ForecastSection = Field(default_factory=ForecastSection)
    anomalies: AnomaliesSection = Field(default_factory=AnomaliesSection)
    metrics: MetricsSection = Field(default_factory=MetricsSection)
    budgets: Budgets = Field(
        default_factory=list,
        description="Budgets ([[budgets]] tables): see docs/budgets.md.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(folder: Path) -> Settings:
    """Settings of the workspace in ``folder``: its aifinops.toml, then the environment."""
    path = folder / CONFIG_FILE
    _check_toml(path)

    class WorkspaceSettings(Settings):
        model_config = SettingsConfigDict(
            **{**Settings.model_config, "toml_file": path if path.exists() else None}
        )

    try:
        return WorkspaceSettings()
    except ValidationError as exc:
        raise ConfigError(
            _explain(exc), where=_where(path, exc), hint="see docs/configuration.md"
        ) from None


def _where(path: Path, exc: ValidationError) -> str:
    """``file:line`` of the first bad ``[[table]]`` item (``budgets.2`` -> its header line)."""
    loc = exc.errors()[0]["loc"] if exc.errors() else ()
    index = next((i for i, part in enumerate(loc) if isinstance(part, int)), None)
    if index is None or not path.exists():
        return str(path)
    header = "[[" + ".".join(str(p) for p in loc[:index]) + "]]"
    seen = -1
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if line.strip().replace(" ", "").startswith(header):
            seen += 1
            if seen == loc[index]:
                return f"{path}:{number}"
    return str(path)


def _check_toml(path: Path) -> None:
    if not path.exists():
        return
    try:
        tomllib.loads(path.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=str(path)) from None


def _explain(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        location = ".".join(str(p) for p in error["loc"])
        problems.append(f"{location}: {error['msg']}")
    return "invalid settings: " + "; ".join(problems)


def documented_fields() -> list[tuple[str, str, Any, str]]:
    """(section, field, default, help) for every setting, in order."""
    out = []
    for section_name, section_field in Settings.model_fields.items():
        section = section_field.annotation
        if not (isinstance(section, type) and issubclass(section, BaseModel)):
            continue  # [[budgets]]: its keys are in docs/budgets.md (tests check them)
        for name, info in section.model_fields.items():
            out.append((section_name, name, info.default, info.description or ""))
    return out


#: Settings that are lists of tables: ``aifinops init`` writes an example instead of a default.
EXAMPLES = {
    ("onprem", "clusters"): """\
# [[onprem.clusters]]            # one per cluster or site; see docs/sources/onprem.md
# name = "dc1"
# location = "eu-central (Frankfurt colocation)"
# currency = "EUR"
# electricity_price_per_kwh = 0.21
# pue = 1.35
# space_per_month = 3000
# operations_per_month = 8000
# support_per_month = 2500
# tags = { owner = "platform" }
#
# [[onprem.clusters.nodes]]      # one per server model; count = identical servers
# name = "dgx"
# count = 4
# gpu_model = "H100-SXM5-80GB"
# gpus = 8
# purchase_price = 320000
# purchase_date = 2025-03-01
# amortisation_years = 4
# power_kw = 10.2""",
}


EXAMPLES[("allocation", "dimensions")] = """\
# [allocation.dimensions.team]   # a default dimension, redefined; see docs/allocation.md
# tags = ["team", "owner", "squad"]
# rules = [{ value = "research", accounts = ["*-research*"] }]
#
# [allocation.dimensions.product]   # a dimension of your own
# tags = ["product"]
# default = "none"\
"""
EXAMPLES[("allocation", "shared")] = """\
# [[allocation.shared]]          # one per shared cost pool; see docs/allocation.md
# name = "support"
# match = { services = ["AWS Support*"] }
# dimension = "team"
# method = "proportional"\
"""
EXAMPLES[("notify", "channels")] = CHANNELS_EXAMPLE


BUDGETS_EXAMPLE = """\
# [[budgets]]                    # one per budget; see docs/budgets.md
# name = "research-monthly"
# scope = { team = "research" }
# amount = 400000
# period = "monthly"
# thresholds = [50, 80, 100]
# forecast_thresholds = [100]
# owner = "research-lead@example.com"\
"""


def _toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def default_toml() -> str:
    """The commented default aifinops.toml that ``aifinops init`` writes."""
    lines = [
        "# aifinops workspace settings. Every setting is shown with its default, commented out.",
        "# Environment variables override this file: AIFINOPS_<SECTION>__<NAME>,",
        "# e.g. AIFINOPS_ENGINE__MEMORY_LIMIT=4GB. Reference: docs/configuration.md",
    ]
    current = ""
    for section, name, default, help_text in documented_fields():
        if section != current:
            lines += ["", f"[{section}]"]
            current = section
        example = EXAMPLES.get((section, name))
        if example is not None:
            lines += [f"# {help_text}", example]
            continue
        lines += [f"# {help_text}", f"# {name} = {_toml_value(default)}"]
    lines += ["", BUDGETS_EXAMPLE]  # last: a [[budgets]] table takes the keys that follow it
    return "\n".join(lines) + "\n"
