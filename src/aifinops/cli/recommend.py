"""``aifinops recommend``: every recommendation, ranked by monthly saving, with its evidence."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from aifinops.analysis.recommend import RECOMMENDERS
from aifinops.cli.common import (
    FormatOption,
    FromOption,
    MetricOption,
    OutputOption,
    PeriodOption,
    ToOption,
    WorkspaceOption,
    open_workspace,
)
from aifinops.errors import AifinopsError
from aifinops.output import OutputFormat, money, render

if TYPE_CHECKING:
    from aifinops.analysis.recommend import Ranked, Recommendation

KindOption = Annotated[
    list[str] | None,
    typer.Option(
        "--kind",
        "-k",
        help=f"Only these kinds ({', '.join(RECOMMENDERS)}); repeat or comma-separate. "
        "Default: all.",
    ),
]
TeamOption = Annotated[
    str | None, typer.Option("--team", "-t", help="Only the recommendations of this team.")
]
MinSavingOption = Annotated[
    str | None,
    typer.Option("--min-saving", help="Only those saving at least this much a month."),
]


def recommend(
    kind: KindOption = None,
    period: PeriodOption = None,
    start: FromOption = None,
    end: ToOption = None,
    team: TeamOption = None,
    min_saving: MinSavingOption = None,
    metric: MetricOption = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
) -> None:
    """What to change, ranked by monthly saving, each with its evidence and a confidence.

    Learns from the last 30 days with costs unless --period or --from/--to say otherwise.
    """
    from aifinops.analysis.recommend import to_table

    kinds = [k.strip() for item in kind or [] for k in item.split(",") if k.strip()]
    with open_workspace(workspace, read_only=True) as ws:
        found = ws.recommend(
            kinds,
            period=period,
            start=start,
            end=end,
            team=team,
            min_saving=_amount(min_saving),
            metric=metric,
        )
    if fmt is OutputFormat.TABLE:
        show(found, output)
    else:
        render(to_table(found), fmt, output=output)


def _amount(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text.replace(",", "").strip())
    except InvalidOperation:
        raise AifinopsError(
            f"--min-saving {text!r} is not an amount", hint="write a number, e.g. 100"
        ) from None


def show(found: Ranked, output: Path | None = None) -> None:
    """The terminal view: a ranked table, then each recommendation's action and evidence as a
    numbered paragraph (readable at any width), then the totals per currency."""
    from rich.console import Console

    console = Console(file=output.open("w", encoding="utf-8"), width=120) if output else Console()
    try:
        console.print(_table(found))
        for rank, r in enumerate(found, 1):
            console.print(_paragraph(rank, r))
        console.print(_footer(found), highlight=False)
    finally:
        if output:
            console.file.close()


def _table(found: Ranked) -> Any:
    from rich.table import Table

    table = Table(
        title=f"recommendations from {found.window}, largest monthly saving first",
        title_justify="left",
    )
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("saving/month", justify="right", no_wrap=True)
    table.add_column("conf.", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("target")
    table.add_column("team")
    for rank, r in enumerate(found, 1):
        saving = f"{money(r.monthly_saving)} {r.currency}"
        cells = (str(rank), saving, r.confidence.value, r.kind, r.target, r.team or "—")
        table.add_row(*(Text(c) for c in cells))
    return table


def _paragraph(rank: int, r: Recommendation) -> Any:
    from rich.padding import Padding

    text = Text(f"{rank}. ", style="bold")
    text.append(f"{r.kind} · {r.target}", style="bold")
    text.append(f"\n{r.action}\n")
    text.append(r.evidence, style="dim")
    return Padding(text, (1, 0, 0, 0))


def _footer(found: Ranked) -> str:
    if not found:
        return "[dim]nothing to recommend in this window[/dim]"
    totals: dict[str, Decimal] = {}
    for r in found:
        totals[r.currency] = totals.get(r.currency, Decimal(0)) + r.monthly_saving
    sums = ", ".join(f"{money(v)} {c}" for c, v in sorted(totals.items()))
    return (
        f"{len(found)} recommendation(s), {sums} a month in all. Savings on the same spend "
        "overlap (a machine stopped is no longer to commit to): do not add them up blindly."
    )


def register(app: typer.Typer) -> None:
    app.command("recommend")(recommend)
