"""``aifinops report costs | tag-coverage | trend | gpu-efficiency | llm-costs | carbon``."""

from __future__ import annotations

from typing import Annotated

import typer

from aifinops.cli.common import (
    FormatOption,
    FromOption,
    MetricOption,
    OutputOption,
    PeriodOption,
    ToOption,
    WorkspaceOption,
    open_workspace,
    split_values,
)
from aifinops.output import OutputFormat, render

report_app = typer.Typer(help="Cost reports.", no_args_is_help=True)


GranularityOption = Annotated[
    str | None, typer.Option("--granularity", "-g", help="day, week, month, quarter, year.")
]


@report_app.command("costs")
def costs(
    by: Annotated[
        list[str] | None,
        typer.Option("--by", "-b", help="FOCUS column or tag:KEY; repeat or comma-separate."),
    ] = None,
    metric: MetricOption = None,
    period: PeriodOption = None,
    start: FromOption = None,
    end: ToOption = None,
    granularity: GranularityOption = None,
    top: Annotated[
        int | None, typer.Option("--top", "-n", help="Keep the N largest groups; sum the rest.")
    ] = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
) -> None:
    """Cost by any dimensions, over any window, at any granularity."""
    with open_workspace(workspace, read_only=True) as ws:
        table = ws.costs(
            split_values(by),
            metric=metric,
            period=period,
            start=start,
            end=end,
            granularity=granularity,
            top=top,
        )
        render(table, fmt, output=output, title=f"cost, {ws.window(period, start, end)}")


@report_app.command("tag-coverage")
def tag_coverage(
    metric: MetricOption = None,
    period: PeriodOption = None,
    start: FromOption = None,
    end: ToOption = None,
    key: Annotated[
        str | None, typer.Option("--key", "-k", help="List resources missing this tag key.")
    ] = None,
    top: Annotated[int, typer.Option("--top", "-n", help="Untagged resources to list.")] = 10,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
) -> None:
    """Share of usage cost carrying each tag key, and the largest untagged resources."""
    window = {"period": period, "start": start, "end": end}
    with open_workspace(workspace, read_only=True) as ws:
        coverage = ws.tag_coverage(metric=metric, **window)
        untagged = ws.untagged_resources(key=key, top=top, metric=metric, **window)
        if fmt is not OutputFormat.TABLE:
            render(coverage, fmt, output=output)
            return
        render(coverage, fmt, output=output, title="tag coverage (share of usage cost)")
        missing = f"without tag {key!r}" if key else "with no tags"
        render(untagged, fmt, title=f"largest resources {missing}")


@report_app.command("trend")
def trend(
    by: Annotated[str, typer.Option("--by", "-b", help="FOCUS column or tag:KEY.")] = "ServiceName",
    metric: MetricOption = None,
    period: PeriodOption = None,
    start: FromOption = None,
    end: ToOption = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
) -> None:
    """Change against the previous period of the same length (default: last month)."""
    with open_workspace(workspace, read_only=True) as ws:
        table = ws.trend(by=by, metric=metric, period=period, start=start, end=end)
        render(table, fmt, output=output, title=f"trend by {by}")


@report_app.command("gpu-efficiency")
def gpu_efficiency(
    by: Annotated[
        list[str] | None,
        typer.Option(
            "--by",
            "-b",
            help="machine, instance_type, gpu_model, a FOCUS column or tag:KEY; repeat or "
            "comma-separate. Default: tag:team, machine, instance_type, gpu_model.",
        ),
    ] = None,
    metric: MetricOption = None,
    period: PeriodOption = None,
    start: FromOption = None,
    end: ToOption = None,
    idle_below: Annotated[
        float, typer.Option("--idle-below", help="A GPU-hour under this % is idle.")
    ] = 5.0,
    busy_from: Annotated[
        float, typer.Option("--busy-from", help="A GPU-hour from this % up is busy.")
    ] = 50.0,
    pattern: Annotated[
        bool, typer.Option("--pattern", help="Idle cost by weekday/weekend and UTC hour band.")
    ] = False,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
) -> None:
    """Idle and under-used GPUs in dollars: GPU cost joined to GPU utilisation."""
    window = {"period": period, "start": start, "end": end}
    with open_workspace(workspace, read_only=True) as ws:
        table = ws.gpu_efficiency(
            split_values(by) or None,
            metric=metric,
            idle_below=idle_below,
            busy_from=busy_from,
            pattern=pattern,
            **window,
        )
        title = "idle GPU cost by day and UTC hour" if pattern else "GPU efficiency"
        render(table, fmt, output=output, title=f"{title}, {ws.window(period, start, end)}")


@report_app.command("llm-costs")
def llm_costs(
    by: Annotated[
        list[str] | None,
        typer.Option(
            "--by",
            "-b",
            help="provider, model, project_id, workspace_id, organization_id, api_key_id, "
            "user_id, service_tier, batch, source, price_source or label:KEY; repeat or "
            "comma-separate. Default: provider, model.",
        ),
    ] = None,
    period: PeriodOption = None,
    start: FromOption = None,
    end: ToOption = None,
    granularity: GranularityOption = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
) -> None:
    """LLM unit costs: tokens by kind, cost, $ per 1M tokens and per request, cache read share."""
    window = {"period": period, "start": start, "end": end}
    with open_workspace(workspace, read_only=True) as ws:
        table = ws.llm_costs(split_values(by), granularity=granularity, **window)
        if fmt is OutputFormat.TABLE:  # fewer columns; ratios as text, not rounded to cents
            from aifinops.analysis.llm_costs import for_terminal

            table = for_terminal(table)
        render(table, fmt, output=output, title=f"LLM unit costs, {ws.window(period, start, end)}")


@report_app.command("carbon")
def carbon(
    by: Annotated[
        list[str] | None,
        typer.Option(
            "--by",
            "-b",
            help="machine, instance_type, gpu_model, a FOCUS column or tag:KEY (with --jobs: "
            "job_id, name, kind, host, user_name, status, gpu_model, source or label:KEY); repeat "
            "or comma-separate. Default: ServiceProviderName, RegionId (--jobs: job_id, name, "
            "kind, host).",
        ),
    ] = None,
    jobs: Annotated[
        bool, typer.Option("--jobs", help="Per job (or job label): jobs joined to telemetry.")
    ] = False,
    regions: Annotated[
        bool,
        typer.Option("--regions", help="The lower-carbon region for each GPU instance type."),
    ] = False,
    metric: MetricOption = None,
    period: PeriodOption = None,
    start: FromOption = None,
    end: ToOption = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
) -> None:
    """GPU energy (kWh) and emissions (kg CO2e) beside cost; per job; lower-carbon regions."""
    from aifinops.analysis.carbon import for_terminal, view_of

    view = view_of(jobs=jobs, regions=regions)
    window = {"period": period, "start": start, "end": end}
    with open_workspace(workspace, read_only=True) as ws:
        table = ws.carbon(split_values(by) or None, view=view, metric=metric, **window)
        if fmt is OutputFormat.TABLE:
            table = for_terminal(table)
        title = f"GPU energy and emissions ({view}), {ws.window(period, start, end)}"
        render(table, fmt, output=output, title=title)


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
