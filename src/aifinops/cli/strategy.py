"""``aifinops strategy cloud-vs-onprem | finetune-vs-api``: owning against renting GPUs, and a
fine-tuned self-hosted model against an API (see docs/strategy.md)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aifinops.cli.common import (
    FormatOption,
    FromOption,
    OutputOption,
    PeriodOption,
    ToOption,
    WorkspaceOption,
    console,
    open_workspace,
)
from aifinops.output import OutputFormat, render

if TYPE_CHECKING:
    from aifinops.analysis.strategy import StrategyResult

strategy_app = typer.Typer(
    help="Strategy: cloud against on-prem GPUs, a fine-tuned model against an API.",
    no_args_is_help=True,
)


def _decimal(text: str | Decimal) -> Decimal:
    if isinstance(text, Decimal):  # a default
        return text
    try:
        value = Decimal(text.strip().rstrip("%"))
    except InvalidOperation:
        raise typer.BadParameter(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise typer.BadParameter(f"{text!r} is not a finite number")
    return value


def _volumes(text: str) -> list[int]:
    values = [_decimal(v.replace("_", "")) for v in text.split(",") if v.strip()]
    if not values or any(v != v.to_integral_value() or v < 1 for v in values):
        raise typer.BadParameter(f"{text!r}: whole numbers of requests >= 1, comma-separated")
    return [int(v) for v in values]


def _num(help_text: str, *names: str) -> Any:
    """An option holding an exact decimal."""
    return typer.Option(
        *names, help=help_text, parser=_decimal, metavar="NUMBER", show_default=False
    )


Num = Decimal | None
AssumptionsOption = Annotated[
    bool,
    typer.Option("--assumptions", help="Output the inputs used and their sources instead."),
]
CloudOption = Annotated[
    str | None, typer.Option("--cloud", help="Catalog prices of this cloud only: aws, azure, gcp.")
]
RegionOption = Annotated[
    str | None, typer.Option("--region", help="Catalog prices of this region only.")
]


def _show(
    result: StrategyResult, fmt: OutputFormat, output: Path | None, assumptions: bool
) -> None:
    """On a terminal: the assumptions, the result and the verdict; otherwise one table (the
    result, or the assumptions with ``--assumptions``)."""
    from aifinops.analysis.strategy import for_terminal

    if assumptions:
        render(result.assumptions, fmt, output=output, title="assumptions")
        return
    if fmt is not OutputFormat.TABLE or output is not None:
        table = for_terminal(result.table) if fmt is OutputFormat.TABLE else result.table
        render(table, fmt, output=output, title=result.title)
        return
    render(result.assumptions, fmt, title="assumptions")
    render(for_terminal(result.table), fmt, title=result.title)
    for line in result.verdict:
        console.print(line, highlight=False, markup=False)


@strategy_app.command("cloud-vs-onprem")
def cloud_vs_onprem(
    gpu: Annotated[str, typer.Option("--gpu", help="GPU model or family: H100, A100-80GB, L40S.")],
    gpus: Annotated[
        int | None, typer.Option("--gpus", help="GPUs needed at the peak (default: observed).")
    ] = None,
    utilisation: Annotated[Num, _num("% of the peak GPUs' hours used.", "--utilisation")] = None,
    avg_gpus: Annotated[
        Num, _num("Average GPUs busy (instead of --utilisation).", "--avg-gpus")
    ] = None,
    hours_per_day: Annotated[Num, _num("Hours a day the GPUs are busy.", "--hours-per-day")] = None,
    days_per_week: Annotated[Num, _num("Busy days a week (default 7).", "--days-per-week")] = None,
    years: Annotated[Decimal, _num("Horizon in years (default 3).", "--years")] = Decimal(3),
    inventory: Annotated[
        Path | None,
        typer.Option(
            "--inventory", help="A TOML file with an \\[onprem] section (as for `ingest onprem`)."
        ),
    ] = None,
    gpus_per_server: Annotated[
        int | None, typer.Option("--gpus-per-server", help="GPUs in one server.")
    ] = None,
    server_price: Annotated[Num, _num("Price of one server.", "--server-price")] = None,
    amortisation_years: Annotated[
        Num, _num("Years a server is amortised over.", "--amortisation-years")
    ] = None,
    power_kw: Annotated[
        Num, _num("Average power per server at the wall, kW.", "--power-kw")
    ] = None,
    pue: Annotated[Num, _num("Power usage effectiveness of the room (>= 1).", "--pue")] = None,
    electricity_price: Annotated[
        Num, _num("Electricity price per kWh.", "--electricity-price")
    ] = None,
    space: Annotated[Num, _num("Rack space per server and month.", "--space-per-month")] = None,
    operations: Annotated[
        Num, _num("Operations (staff, spares) per server and month.", "--operations-per-month")
    ] = None,
    support: Annotated[
        Num, _num("Support contracts per server and month.", "--support-per-month")
    ] = None,
    cloud: CloudOption = None,
    region: RegionOption = None,
    instance_type: Annotated[
        str | None, typer.Option("--instance-type", help="Catalog price of this type only.")
    ] = None,
    on_demand_price: Annotated[
        Num, _num("On-demand price per GPU-hour (instead of the catalog).", "--on-demand-price")
    ] = None,
    spot_price: Annotated[Num, _num("Spot price per GPU-hour.", "--spot-price")] = None,
    commit_1y: Annotated[
        Num,
        _num("1-year commitment discount, % off on-demand (default 37).", "--commit-1y-discount"),
    ] = None,
    commit_3y: Annotated[
        Num,
        _num("3-year commitment discount, % off on-demand (default 55).", "--commit-3y-discount"),
    ] = None,
    period: PeriodOption = None,
    start: FromOption = None,
    end: ToOption = None,
    assumptions: AssumptionsOption = False,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
) -> None:
    """On-prem GPUs against cloud on-demand, spot and committed prices: cost per used GPU-hour,
    monthly and over the horizon, and the utilisation above which on-prem is cheaper."""
    from aifinops.analysis import strategy as s

    with open_workspace(workspace, read_only=True) as ws:
        query = s.CloudVsOnPremQuery(
            gpu=gpu,
            demand=s.DemandInput(gpus, utilisation, avg_gpus, hours_per_day, days_per_week, years),
            onprem=s.OnPremInput(
                inventory,
                gpus_per_server,
                server_price,
                amortisation_years,
                power_kw,
                pue,
                electricity_price,
                space,
                operations,
                support,
            ),
            cloud=s.CloudInput(
                cloud, region, instance_type, on_demand_price, spot_price, commit_1y, commit_3y
            ),
            window=ws.window(period, start, end),
        )
        result = ws.cloud_vs_onprem(query)
    _show(result, fmt, output, assumptions)


@strategy_app.command("finetune-vs-api")
def finetune_vs_api(
    api_model: Annotated[
        str, typer.Option("--api-model", help="The API model, provider/model: openai/gpt-4.1.")
    ],
    input_tokens: Annotated[
        int | None, typer.Option("--input-tokens", help="Prompt tokens per request.")
    ] = None,
    output_tokens: Annotated[
        int | None, typer.Option("--output-tokens", help="Output tokens per request.")
    ] = None,
    cached_tokens: Annotated[
        int | None, typer.Option("--cached-tokens", help="Prompt tokens read from the cache.")
    ] = None,
    batch: Annotated[bool, typer.Option("--batch", help="Price the API's batch mode.")] = False,
    negotiated: Annotated[
        bool, typer.Option("--negotiated", help="Apply the workspace's \\[prices] rules.")
    ] = False,
    training_cost: Annotated[
        Num, _num("Training cost (0: already trained).", "--training-cost")
    ] = None,
    training_gpu_hours: Annotated[Num, _num("Training GPU-hours.", "--training-gpu-hours")] = None,
    training_gpu_price: Annotated[
        Num, _num("Training price per GPU-hour.", "--training-gpu-price")
    ] = None,
    training_job: Annotated[
        list[str] | None,
        typer.Option("--training-job", help="A job id or name from the jobs table; repeatable."),
    ] = None,
    serving_gpu: Annotated[
        str | None, typer.Option("--serving-gpu", help="Serving GPU model (catalog price).")
    ] = None,
    serving_gpus: Annotated[int, typer.Option("--serving-gpus", help="GPUs per replica.")] = 1,
    serving_gpu_price: Annotated[
        Num, _num("Serving price per GPU-hour.", "--serving-gpu-price")
    ] = None,
    tokens_per_second: Annotated[
        Num, _num("Output tokens per second one replica sustains.", "--tokens-per-second")
    ] = None,
    requests_per_hour: Annotated[
        Num, _num("Requests per hour one replica serves.", "--requests-per-hour")
    ] = None,
    min_replicas: Annotated[
        int, typer.Option("--min-replicas", help="Replicas always running.")
    ] = 1,
    peak_factor: Annotated[
        Decimal, _num("Busiest hour's traffic / the average hour's.", "--peak-factor")
    ] = Decimal(1),
    cloud: CloudOption = None,
    region: RegionOption = None,
    months: Annotated[
        Decimal, _num("Horizon in months; the training is spread over it (default 12).", "--months")
    ] = Decimal(12),
    volumes: Annotated[
        str | None, typer.Option("--volumes", help="Requests per month to tabulate: 1e5,1e6 ...")
    ] = None,
    period: PeriodOption = None,
    start: FromOption = None,
    end: ToOption = None,
    assumptions: AssumptionsOption = False,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
) -> None:
    """A fine-tuned self-hosted model (training + serving GPUs) against an API model at list
    prices: cost per request, break-even requests a month, a table over volumes."""
    from aifinops.analysis import strategy_finetune as f

    with open_workspace(workspace, read_only=True) as ws:
        query = f.FineTuneVsApiQuery(
            training=f.TrainingInput(
                training_cost, training_gpu_hours, training_gpu_price, tuple(training_job or ())
            ),
            serving=f.ServingInput(
                serving_gpu,
                serving_gpus,
                serving_gpu_price,
                tokens_per_second,
                requests_per_hour,
                min_replicas,
                peak_factor,
                cloud,
                region,
            ),
            api=f.ApiInput(
                api_model, input_tokens, output_tokens, cached_tokens, batch, negotiated
            ),
            months=months,
            volumes=tuple(_volumes(volumes)) if volumes else (),
            window=ws.window(period, start, end),
        )
        result = ws.finetune_vs_api(query)
    _show(result, fmt, output, assumptions)


def register(app: typer.Typer) -> None:
    app.add_typer(strategy_app, name="strategy")
