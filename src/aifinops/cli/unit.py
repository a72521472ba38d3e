"""``aifinops report unit-costs | self-hosted | roi``: unit economics and value."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from aifinops.cli.common import (
    FormatOption,
    FromOption,
    MetricOption,
    OutputOption,
    PeriodOption,
    ToOption,
    WorkspaceOption,
    err_console,
    open_workspace,
    split_values,
)
from aifinops.cli.report import GranularityOption, report_app
from aifinops.output import OutputFormat, render

if TYPE_CHECKING:
    import pyarrow as pa


def _distinct(table: pa.Table) -> pa.Table:
    import pyarrow as pa

    rows = list(dict.fromkeys(tuple(r.values()) for r in table.to_pylist()))
    return pa.table({n: [r[i] for r in rows] for i, n in enumerate(table.column_names)})


def _warn_stale(reason: str | None) -> None:
    if reason:
        err_console.print(f"[yellow]warning:[/yellow] {reason}")


def unit_costs(
    per: Annotated[
        str,
        typer.Option(
            "--per",
            help="job, training-run, fine-tune, evaluation, experiment, gpu-hour, request, "
            "1k-tokens, 1m-tokens, or an allocation dimension (team, model, feature ...).",
        ),
    ] = "job",
    by: Annotated[
        list[str] | None,
        typer.Option(
            "--by",
            "-b",
            help="Jobs: group by label:KEY, name, kind, status, host or a dimension. GPU-hours: "
            "gpu_model, instance_type, machine or a dimension. Tokens: an llm-costs dimension "
            "(model, label:team ...). Repeat or comma-separate.",
        ),
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option("--kind", "-k", help="Only jobs of these kinds (job units)."),
    ] = None,
    metric: MetricOption = None,
    period: PeriodOption = None,
    start: FromOption = None,
    end: ToOption = None,
    granularity: GranularityOption = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
) -> None:
    """Cost per job, run, experiment, fine-tune, GPU-hour, team, model, feature, request or
    1K/1M tokens (from `aifinops allocate` and llm_usage)."""
    window = {"period": period, "start": start, "end": end}
    with open_workspace(workspace, read_only=True) as ws:
        if not per.strip().lower().endswith(("tokens", "request", "requests")):
            _warn_stale(ws.allocation_stale())
        table = ws.unit_costs(
            per,
            by=split_values(by),
            kinds=split_values(kind),
            metric=metric,
            granularity=granularity,
            **window,
        )
        if fmt is OutputFormat.TABLE:
            from aifinops.analysis.llm_costs import PLACES
            from aifinops.analysis.unit_costs import for_terminal

            table = for_terminal(table, PLACES, keep=tuple(split_values(by)))
        title = f"cost per {per} ({ws._metric(metric).value}), {ws.window(period, start, end)}"
        render(table, fmt, output=output, title=title)


def self_hosted(
    key: Annotated[
        str,
        typer.Option("--key", help="The allocation dimension naming a deployment."),
    ] = "model",
    compare: Annotated[
        list[str] | None,
        typer.Option(
            "--compare",
            help="API models (provider/model) to compare with, instead of the size-class table.",
        ),
    ] = None,
    provider: Annotated[
        list[str] | None,
        typer.Option("--provider", help="More llm_usage providers that are self-hosted."),
    ] = None,
    metric: MetricOption = None,
    period: PeriodOption = None,
    start: FromOption = None,
    end: ToOption = None,
    granularity: GranularityOption = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
) -> None:
    """Self-hosted inference: $ per 1M tokens from the serving GPUs' cost and the tokens served,
    next to comparable API models at their list price."""
    window = {"period": period, "start": start, "end": end}
    with open_workspace(workspace, read_only=True) as ws:
        _warn_stale(ws.allocation_stale())
        table = ws.self_hosted(
            key,
            compare=split_values(compare),
            providers=split_values(provider),
            metric=metric,
            granularity=granularity,
            **window,
        )
        if not table.num_rows:
            err_console.print(
                f"[yellow]note:[/yellow] no tokens served by a self-hosted deployment: record "
                f"them in llm_usage (a self-hosted provider such as hosted_vllm, or --provider) "
                f"or as business metrics input_tokens_served / output_tokens_served labelled "
                f"{key} (docs/unit-economics.md)"
            )
        if fmt is OutputFormat.TABLE:
            from aifinops.analysis.self_hosted import PLACES
            from aifinops.analysis.unit_costs import for_terminal

            why = table.select(["priced_as", "basis"])
            table = for_terminal(table, PLACES)
        title = f"self-hosted inference by {key}, {ws.window(period, start, end)}"
        render(table, fmt, output=output, title=title)
        if fmt is OutputFormat.TABLE and output is None and table.num_rows:
            render(_distinct(why), fmt, title="what each row is priced from")


def roi(
    by: Annotated[
        str,
        typer.Option("--by", "-b", help="The business_metrics label: product, team, model ..."),
    ] = "product",
    spend_by: Annotated[
        str | None,
        typer.Option(
            "--spend-by", help="The allocation dimension holding the same values (default: --by)."
        ),
    ] = None,
    revenue_metric: Annotated[
        str, typer.Option("--revenue-metric", help="The business metric of revenue.")
    ] = "revenue",
    requests_metric: Annotated[
        str, typer.Option("--requests-metric", help="The business metric of requests served.")
    ] = "requests",
    metric: MetricOption = None,
    period: PeriodOption = None,
    start: FromOption = None,
    end: ToOption = None,
    granularity: Annotated[
        str, typer.Option("--granularity", "-g", help="day, week, month, quarter, year.")
    ] = "month",
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
) -> None:
    """Revenue to AI spend and ROI per product, team or model, period by period."""
    window = {"period": period, "start": start, "end": end}
    with open_workspace(workspace, read_only=True) as ws:
        _warn_stale(ws.allocation_stale())
        table = ws.roi(
            by,
            spend_by=spend_by,
            metric=metric,
            granularity=granularity,
            revenue_metric=revenue_metric,
            requests_metric=requests_metric,
            **window,
        )
        if fmt is OutputFormat.TABLE:
            from aifinops.analysis.roi import PLACES
            from aifinops.analysis.unit_costs import for_terminal

            table = for_terminal(table, PLACES)
        render(table, fmt, output=output, title=f"ROI by {by}, {ws.window(period, start, end)}")


def register(app: typer.Typer) -> None:
    del app  # the commands are report subcommands
    report_app.command("unit-costs")(unit_costs)
    report_app.command("self-hosted")(self_hosted)
    report_app.command("roi")(roi)
