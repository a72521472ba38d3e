"""The Python API: a workspace folder holding settings, the DuckDB store and exports.

>>> from aifinops import Workspace
>>> ws = Workspace.init("my-workspace")            # doctest: +SKIP
>>> ws.ingest(["exports/"])                        # doctest: +SKIP
>>> ws.costs(by=["ServiceName"], period="last-month")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aifinops.config import CONFIG_FILE, Settings, default_toml, load_settings
from aifinops.errors import QueryError, WorkspaceNotFoundError
from aifinops.model.focus import FocusVersion
from aifinops.model.metrics import CostMetric
from aifinops.model.timewindow import Granularity, Window, resolve_window
from aifinops.store import db

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from aifinops.analysis.allocation import AllocationSummary
    from aifinops.analysis.anomalies import AnomalyReport
    from aifinops.analysis.budgets import BudgetStatus
    from aifinops.analysis.forecast_report import ForecastResult
    from aifinops.analysis.recommend import Ranked
    from aifinops.analysis.strategy import CloudVsOnPremQuery, StrategyResult
    from aifinops.analysis.strategy_finetune import FineTuneVsApiQuery
    from aifinops.engine import Engine
    from aifinops.model.scope import Scope
    from aifinops.store.ingest import IngestSummary, Progress

ENV_VAR = "AIFINOPS_WORKSPACE"


def find_workspace(explicit: str | Path | None, environ: Mapping[str, str], cwd: Path) -> Path:
    """The workspace folder: ``explicit``, else $AIFINOPS_WORKSPACE, else cwd or a parent of it."""
    chosen = explicit or environ.get(ENV_VAR)
    if chosen:
        folder = Path(chosen).expanduser().resolve()
        if not (folder / CONFIG_FILE).exists():
            raise WorkspaceNotFoundError(
                f"no aifinops workspace here (no {CONFIG_FILE})",
                where=str(folder),
                hint=f"run `aifinops init {chosen}` first",
            )
        return folder
    for folder in (cwd, *cwd.parents):
        if (folder / CONFIG_FILE).exists():
            return folder
    raise WorkspaceNotFoundError(
        f"no aifinops workspace in {cwd} or its parents",
        hint=f"run `aifinops init DIR`, then cd into it, pass --workspace DIR or set {ENV_VAR}=DIR",
    )


class Workspace:
    """A workspace folder. Reads go anywhere; writes go through the one connection it owns."""

    def __init__(
        self,
        path: str | Path = ".",
        *,
        settings: Settings | None = None,
        read_only: bool = False,
    ) -> None:
        self.path = Path(path).expanduser().resolve()
        if not (self.path / CONFIG_FILE).exists():
            raise WorkspaceNotFoundError(
                f"no aifinops workspace here (no {CONFIG_FILE})",
                where=str(self.path),
                hint=f"run `aifinops init {path}`",
            )
        self.settings = settings or load_settings(self.path)
        self.read_only = read_only
        self._con: duckdb.DuckDBPyConnection | None = None
        self._engine: Engine | None = None

    @classmethod
    def init(cls, path: str | Path, *, settings: Settings | None = None) -> Workspace:
        """Create a workspace (a commented aifinops.toml and an empty store); keep existing ones."""
        folder = Path(path).expanduser().resolve()
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / CONFIG_FILE
        if not config.exists():
            config.write_text(default_toml(), encoding="utf-8")
        workspace = cls(folder, settings=settings)
        _ = workspace.connection  # creates and migrates the database
        return workspace

    # -- connections -------------------------------------------------------------------------

    @property
    def database_path(self) -> Path:
        return self.path / self.settings.workspace.database

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            engine = self.settings.engine
            self._con = db.connect(
                self.database_path,
                read_only=self.read_only,
                threads=engine.threads or None,
                memory_limit=engine.memory_limit,
            )
        return self._con

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from aifinops.engine import Engine

            self._engine = Engine.from_duckdb(self.connection)
        return self._engine

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
            self._engine = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- ingest ------------------------------------------------------------------------------

    def ingest(
        self,
        paths: Iterable[str | Path],
        *,
        source: str = "focus",
        strict: bool | None = None,
        force: bool = False,
        focus_version: str | None = None,
        progress: Progress | None = None,
        options: dict[str, object] | None = None,
    ) -> IngestSummary:
        """Load files (paths, folders, globs) from a registered source; see :mod:`store.ingest`.

        ``options`` go to the source's reader (``aifinops sources`` lists each source's).
        """
        from aifinops.store.ingest import Ingestor

        options = dict(options or {})
        paths = list(paths)
        if not paths:
            import aifinops.sources

            spec = aifinops.sources.source(source)
            paths = [self.path / p for p in (spec.default_paths if spec else ())]
        if focus_version:
            options["focus_version"] = focus_version
        if "prices" in _source_options(source):
            options.setdefault("prices", self.settings.prices)  # LLM sources price with [prices]
        strict = self.settings.ingest.strict if strict is None else strict
        # Staged Parquet goes beside the database: same disk, cleaned up after each file.
        ingestor = Ingestor(self.connection, progress, stage_dir=self.database_path.parent)
        return ingestor.run(paths, source=source, strict=strict, force=force, options=options)

    # -- questions ---------------------------------------------------------------------------

    def window(
        self,
        period: str | None = None,
        start: str | None = None,
        end: str | None = None,
        *,
        today: date | None = None,
    ) -> Window:
        return resolve_window(
            period=period, start=start, end=end, today=today or datetime.now(UTC).date()
        )

    def costs(
        self,
        by: Sequence[str] = (),
        *,
        metric: str | CostMetric | None = None,
        period: str | None = None,
        start: str | None = None,
        end: str | None = None,
        granularity: str | None = None,
        top: int | None = None,
        today: date | None = None,
    ) -> pa.Table:
        """Cost by dimensions (FOCUS columns or ``tag:KEY``) as an Arrow table (exact decimals)."""
        from aifinops.analysis.costs import CostQuery, cost_report

        query = CostQuery(
            by=tuple(by),
            metric=self._metric(metric),
            window=self.window(period, start, end, today=today),
            granularity=Granularity.parse(granularity) if granularity else None,
            top=top,
        )
        return self.engine.execute(cost_report(self.engine, query))

    def tag_coverage(self, *, metric: str | CostMetric | None = None, **window: Any) -> pa.Table:
        from aifinops.analysis.tags import tag_coverage

        return self.engine.execute(
            tag_coverage(self.engine, metric=self._metric(metric), window=self.window(**window))
        )

    def untagged_resources(
        self,
        *,
        key: str | None = None,
        top: int = 10,
        metric: str | CostMetric | None = None,
        **window: Any,
    ) -> pa.Table:
        from aifinops.analysis.tags import untagged_resources

        expr = untagged_resources(
            self.engine,
            metric=self._metric(metric),
            window=self.window(**window),
            key=key,
            top=top,
        )
        return self.engine.execute(expr)

    def trend(
        self,
        *,
        by: str = "ServiceName",
        metric: str | CostMetric | None = None,
        **window: Any,
    ) -> pa.Table:
        """Change against the previous window of the same length (default: last month)."""
        from aifinops.analysis.trend import trend

        if not any(window.get(k) for k in ("period", "start", "end")):
            window["period"] = "last-month"
        current = self.window(**window)
        if current.start is None or current.end is None:
            raise QueryError(
                "a trend needs a closed window", hint="use --period or --from and --to"
            )
        expr = trend(
            self.engine,
            by=by,
            metric=self._metric(metric),
            window=current,
            previous=current.previous(),
        )
        return self.engine.execute(expr)

    def gpu_efficiency(
        self,
        by: Sequence[str] | None = None,
        *,
        metric: str | CostMetric | None = None,
        idle_below: float = 5.0,
        busy_from: float = 50.0,
        pattern: bool = False,
        **window: Any,
    ) -> pa.Table:
        """GPU cost with utilisation: idle and under-used GPU cost per team, machine and type
        (``by``; see :mod:`aifinops.analysis.gpu`); ``pattern``: idle cost by weekday/weekend
        and UTC hour band instead."""
        from aifinops.analysis.gpu import (
            DEFAULT_BY,
            GpuEfficiencyQuery,
            gpu_efficiency,
            idle_pattern,
        )

        query = GpuEfficiencyQuery(
            by=tuple(by) if by is not None else ((), DEFAULT_BY)[not pattern],
            metric=self._metric(metric),
            window=self.window(**window),
            idle_below=idle_below,
            busy_from=busy_from,
        )
        expr = idle_pattern if pattern else gpu_efficiency
        return self.engine.execute(expr(self.engine, query))

    def llm_costs(
        self,
        by: Sequence[str] | None = None,
        *,
        granularity: str | None = None,
        **window: Any,
    ) -> pa.Table:
        """LLM unit costs from ``llm_usage`` (usage rows): requests, tokens by kind, cost, $ per
        1M tokens, per 1M output tokens and per request, cache read share, per ``by`` (default
        provider, model; see :mod:`aifinops.analysis.llm_costs`)."""
        from aifinops.analysis.llm_costs import DEFAULT_BY, LlmCostQuery, llm_costs

        query = LlmCostQuery(
            by=tuple(by) if by else DEFAULT_BY,
            window=self.window(**window),
            granularity=Granularity.parse(granularity) if granularity else None,
        )
        return llm_costs(self.engine, query)

    def carbon(
        self,
        by: Sequence[str] | None = None,
        *,
        view: str = "costs",
        metric: str | CostMetric | None = None,
        **window: Any,
    ) -> pa.Table:
        """Energy (kWh) and emissions (kg CO2e) of GPU machines beside their cost per ``by``
        (``view="costs"``), per job or job label (``"jobs"``), or the lower-carbon region of each
        GPU instance type in use (``"regions"``); see :mod:`aifinops.analysis.carbon`."""
        from aifinops.analysis.carbon import CarbonView, carbon_report

        return carbon_report(
            self.engine,
            CarbonView.parse(view),
            tuple(by) if by else None,
            metric=self._metric(metric),
            window=self.window(**window),
            settings=self.settings.carbon,
            onprem=self.settings.onprem,
        )

    def allocate(self) -> AllocationSummary:
        """(Re)build ``allocated_costs`` from the ``[allocation]`` rules, in one transaction;
        fails (and keeps the previous table) if any month does not add up to ``costs``."""
        import time

        from aifinops.analysis import allocation

        started = time.perf_counter()
        plan = allocation.make_plan(self.engine, self.settings.allocation, self._metric(None))
        con = self.connection
        con.begin()
        try:
            allocation.materialise(self.engine, plan)
            result = allocation.summary(self.engine, plan, time.perf_counter() - started)
            if result.mismatches.num_rows:
                raise QueryError(
                    "allocation does not add up to the costs in "
                    f"{result.mismatches.num_rows} month(s); nothing was changed",
                    hint="this is a bug: please report it with `aifinops allocate --debug`",
                )
            con.execute("DELETE FROM meta WHERE key = ?", [allocation.STATE_KEY])
            con.execute(
                "INSERT INTO meta VALUES (?, ?)", [allocation.STATE_KEY, self._allocation_state()]
            )
            con.commit()
        except BaseException:
            con.rollback()
            raise
        return result

    def _allocation_state(self) -> str:
        from aifinops.analysis.allocation import state

        row = self.connection.execute("SELECT coalesce(max(load_id), 0) FROM ingest_log").fetchone()
        return state(self.settings.allocation, int(row[0]) if row else 0)

    def allocation_stale(self) -> str | None:
        """Why ``allocated_costs`` no longer matches the costs or the rules (None if it does)."""
        from aifinops.analysis.allocation import STATE_KEY

        row = self.connection.execute(
            "SELECT value FROM meta WHERE key = ?", [STATE_KEY]
        ).fetchone()
        if row is None:
            return "costs have not been allocated yet: run `aifinops allocate`"
        if row[0] != self._allocation_state():
            return (
                "allocated_costs is older than the latest ingest or the [allocation] rules: "
                "run `aifinops allocate` to bring it up to date"
            )
        return None

    def allocated(
        self,
        by: Sequence[str] = ("team",),
        *,
        metric: str | CostMetric | None = None,
        granularity: str | None = None,
        **window: Any,
    ) -> pa.Table:
        """Allocated cost by dimensions (``team``, ``project`` ... ``allocation``, ``job``) from
        ``allocated_costs`` (run :meth:`allocate` first)."""
        from aifinops.analysis.allocation import report

        self._need_allocation()
        expr = report(
            self.engine,
            list(by),
            self._metric(metric),
            self.window(**window),
            Granularity.parse(granularity) if granularity else None,
        )
        return self.engine.execute(expr)

    def showback(
        self,
        *,
        dimension: str = "team",
        values: Sequence[str] = (),
        metric: str | CostMetric | None = None,
        detail_by: str | None = None,
        **window: Any,
    ) -> pa.Table:
        """The showback statement per ``dimension`` value and month (see
        :mod:`aifinops.analysis.showback`); with ``detail_by``, each value's cost by that column
        instead."""
        from aifinops.analysis import showback

        self._need_allocation()
        chosen, when = self._metric(metric), self.window(**window)
        if detail_by:
            expr = showback.statement_detail(
                self.engine,
                metric=chosen,
                window=when,
                dimension=dimension,
                values=list(values),
                by=detail_by,
            )
        else:
            expr = showback.statement(
                self.engine, metric=chosen, window=when, dimension=dimension, values=list(values)
            )
        return self.engine.execute(expr)

    def unit_costs(
        self,
        per: str = "job",
        *,
        by: Sequence[str] = (),
        kinds: Sequence[str] = (),
        metric: str | CostMetric | None = None,
        granularity: str | None = None,
        **window: Any,
    ) -> pa.Table:
        """Cost per job, training run, fine-tune, evaluation, experiment, GPU-hour, request, 1K or
        1M tokens, or per value of an allocation dimension (``team``, ``model``, ``feature``);
        see :mod:`aifinops.analysis.unit_costs`."""
        from aifinops.analysis.unit_costs import Unit, UnitQuery, unit_costs

        unit = Unit.parse(per)
        if not (isinstance(unit, Unit) and unit.of_tokens):
            self._need_allocation()
        query = UnitQuery(
            per=unit,
            by=tuple(by),
            metric=self._metric(metric),
            window=self.window(**window),
            granularity=Granularity.parse(granularity) if granularity else None,
            kinds=tuple(k.strip().lower().replace("_", "-") for k in kinds),
        )
        return unit_costs(self.engine, self.settings.allocation, query)

    def self_hosted(
        self,
        key: str = "model",
        *,
        compare: Sequence[str] = (),
        providers: Sequence[str] = (),
        metric: str | CostMetric | None = None,
        granularity: str | None = None,
        **window: Any,
    ) -> pa.Table:
        """Self-hosted inference: GPU cost of each deployment / tokens served, beside comparable
        API models at list price; see :mod:`aifinops.analysis.self_hosted`."""
        from aifinops.analysis.self_hosted import SelfHostedQuery, self_hosted
        from aifinops.model.prices import Catalog

        self._need_allocation()
        query = SelfHostedQuery(
            key=key,
            metric=self._metric(metric),
            window=self.window(**window),
            granularity=Granularity.parse(granularity) if granularity else None,
            providers=tuple(providers),
            compare=tuple(compare),
        )
        return self_hosted(self.engine, self.settings.allocation, query, Catalog())

    def roi(
        self,
        by: str = "product",
        *,
        spend_by: str | None = None,
        metric: str | CostMetric | None = None,
        granularity: str = "month",
        revenue_metric: str = "revenue",
        requests_metric: str = "requests",
        **window: Any,
    ) -> pa.Table:
        """Revenue, AI spend, revenue/spend, ROI and cost per request per product, team or model
        and period, with the change from the period before; see :mod:`aifinops.analysis.roi`."""
        from aifinops.analysis.roi import RoiQuery, roi

        self._need_allocation()
        query = RoiQuery(
            by=by,
            spend_by=spend_by,
            metric=self._metric(metric),
            window=self.window(**window),
            granularity=Granularity.parse(granularity),
            revenue_metric=revenue_metric,
            requests_metric=requests_metric,
        )
        return roi(self.engine, self.settings.allocation, query)

    def _need_allocation(self) -> None:
        if not self.engine.has_table("allocated_costs"):
            raise QueryError(
                "costs have not been allocated yet", hint="run `aifinops allocate` first"
            )

    def recommend(
        self,
        kinds: Sequence[str] = (),
        *,
        period: str | None = None,
        start: str | None = None,
        end: str | None = None,
        team: str | None = None,
        min_saving: Decimal | int | None = None,
        metric: str | CostMetric | None = None,
        today: date | None = None,
    ) -> Ranked:
        """Every recommendation of ``kinds`` (default: all), largest monthly saving first, from
        the window's history (default: the last 30 days with costs; ``.window`` says which; see
        :mod:`aifinops.analysis.recommend`)."""
        from aifinops.analysis import recommend as rec

        today = today or datetime.now(UTC).date()
        asked = self.window(period, start, end, today=today)
        context = rec.RecommendContext(
            window=rec.history(asked, *rec.cost_span(self.engine)),
            metric=self._metric(metric),
            today=today,
            settings=self.settings,
        )
        found = rec.recommend(self.engine, context, kinds)
        return rec.Ranked(rec.select(found, team=team, min_saving=min_saving), context.window)

    def cloud_vs_onprem(self, query: CloudVsOnPremQuery) -> StrategyResult:
        """A GPU demand on owned servers against cloud on-demand, spot and committed prices: cost
        per used GPU-hour, per month, over the horizon, and on-prem's break-even utilisation;
        inputs not given come from ``[onprem]`` and the bills (see
        :mod:`aifinops.analysis.strategy`)."""
        from aifinops.analysis.strategy import cloud_vs_onprem

        return cloud_vs_onprem(self.engine, self.settings.onprem, query)

    def finetune_vs_api(
        self, query: FineTuneVsApiQuery, *, when: datetime | None = None
    ) -> StrategyResult:
        """A fine-tuned self-hosted model against an API model: cost per request, break-even
        requests a month, a table over volumes; API prices as of ``when`` (default now; see
        :mod:`aifinops.analysis.strategy_finetune`)."""
        from aifinops.analysis.strategy_finetune import finetune_vs_api

        moment = when or datetime.now(UTC)
        return finetune_vs_api(self.engine, self.settings.prices, query, when=moment)

    def forecast(
        self,
        scope: Scope | Sequence[str] | None = None,
        *,
        by: str | None = None,
        top: int | None = 10,
        horizon: str | int | None = None,
        to: str | date | None = None,
        levels: Sequence[int] | None = None,
        as_of: date | None = None,
        history: str | int | None = None,
        model: str | None = None,
        metric: str | CostMetric | None = None,
    ) -> ForecastResult:
        """Daily spend forecast of ``scope`` (or each of the ``top`` values of ``by``) from the
        data's cut-off to ``as_of`` + ``horizon`` (default 30d) or ``to``, with intervals and a
        backtest against seasonal-naive; defaults from ``[forecast]`` (docs/forecasting.md)."""
        from aifinops.analysis.forecast import forecast
        from aifinops.analysis.forecast_report import days_in, forecast_end
        from aifinops.model.scope import Scope

        day = as_of or datetime.now(UTC).date()
        chosen = scope if isinstance(scope, Scope) else Scope.parse(scope or [])
        update: dict[str, Any] = {"levels": list(levels or self.settings.forecast.levels)}
        if history is not None:
            update["history_days"] = days_in(history, option="--history", since=day)
        if model is not None:
            update["model"] = model
        return forecast(
            self.engine,
            chosen,
            list(self.settings.allocation.all_dimensions()),
            self._metric(metric),
            as_of=day,
            end=forecast_end(day, horizon=horizon, to=to),
            by=by,
            top=top,
            options=self.settings.forecast.model_copy(update=update),
        )

    def budget_status(
        self, *, as_of: date | None = None, names: Sequence[str] | None = None
    ) -> list[BudgetStatus]:
        """Each budget (or those ``names``) as on ``as_of`` (default today): spend, burn,
        forecast at period end, thresholds crossed, state; see docs/budgets.md."""
        from aifinops.analysis.budgets import budget_status

        day = as_of or datetime.now(UTC).date()
        return budget_status(self.engine, self.settings, as_of=day, names=names)

    def anomalies(
        self,
        *,
        as_of: date | None = None,
        days: int = 30,
        scopes: Sequence[Scope] | None = None,
        by: Sequence[str] | None = None,
    ) -> AnomalyReport:
        """Cost anomalies of the ``days`` days before ``as_of`` (default today) in the whole bill
        (or ``scopes``) and each value of ``by`` (default ``[anomalies] dimensions``), each with
        its root cause; see docs/anomalies.md."""
        from aifinops.analysis.anomalies import detect_report

        day = as_of or datetime.now(UTC).date()
        return detect_report(self.engine, self.settings, as_of=day, days=days, scopes=scopes, by=by)

    def sql(self, query: str) -> pa.Table:
        """Run read-only SQL; ``focus_data_table`` is the FOCUS view of the costs."""
        from aifinops.store.sql import run_read_only

        return run_read_only(self.connection, query)

    def export_focus(
        self, out_dir: str | Path, *, version: str = "1.2", formats: Sequence[str] = ("parquet",)
    ) -> list[Path]:
        from aifinops.store.export import export_focus

        return export_focus(
            self.connection,
            Path(out_dir),
            version=FocusVersion.parse(version),
            formats=tuple(formats),
        )

    def status(self) -> pa.Table:
        """One row per billing currency and provider: rows, files, periods, costs."""
        return self.sql(
            "SELECT coalesce(ServiceProviderName, ProviderName) AS provider, BillingCurrency, "
            "count(*) AS rows, count(DISTINCT x_IngestFileId) AS files, "
            "min(BillingPeriodStart)::DATE AS first_period, "
            "max(BillingPeriodStart)::DATE AS last_period, "
            "sum(BilledCost) AS BilledCost, sum(EffectiveCost) AS EffectiveCost "
            "FROM costs GROUP BY ALL ORDER BY provider, BillingCurrency"
        )

    def usage_status(self) -> pa.Table:
        """One row per usage table (GPU samples, LLM usage, jobs ...): rows, files, time span."""
        from aifinops.store.schema import USAGE_TABLES

        parts = [
            f"SELECT '{table}' AS table_name, count(*) AS rows, "
            f"count(DISTINCT x_IngestFileId) AS files, min({column})::DATE AS first_day, "
            f"max({column})::DATE AS last_day FROM {table}"
            for table, column in USAGE_TABLES.items()
        ]
        return self.sql(" UNION ALL ".join(parts))

    def quarantined(self, *, limit: int = 50) -> pa.Table:
        """Quarantined records, newest files first: where, which column, why, the raw value."""
        return self.connection.execute(
            "SELECT q.path, q.line, q.record, q.column_name, q.reason, q.value "
            "FROM quarantine q ORDER BY q.file_id DESC, q.record LIMIT ?",
            [limit],
        ).to_arrow_table()

    def _metric(self, metric: str | CostMetric | None) -> CostMetric:
        if metric is None:
            return self.settings.report.metric
        return metric if isinstance(metric, CostMetric) else CostMetric.parse(metric)


def _source_options(source: str) -> dict[str, str]:
    import aifinops.sources

    spec = aifinops.sources.source(source)
    return spec.options if spec is not None else {}
