"""``aifinops demo``: build the demo company, ingest it, print an executive summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo(
    directory: Annotated[Path, typer.Argument(help="Workspace folder for the demo.")] = Path(
        "aifinops-demo"
    ),
    rows: Annotated[
        int | None, typer.Option("--rows", help="Scale to about N cost rows (benchmarks).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same company.")] = 42,
    months: Annotated[int, typer.Option(help="Months of history.")] = 3,
) -> None:
    """Generate a realistic AI company's FOCUS exports, ingest them and summarise the spend."""
    from aifinops.cli.common import console, err_console
    from aifinops.cli.ingest import print_summary
    from aifinops.cli.progress import IngestProgress
    from aifinops.cli.summary import print_executive_summary
    from aifinops.demo.generator import DemoOptions, generate, sized_company
    from aifinops.demo.serving import write_serving
    from aifinops.demo.timeline import Timeline
    from aifinops.demo.usage import write_usage
    from aifinops.workspace import Workspace

    data = directory.resolve() / "demo-data"
    console.print(f"generating the demo company into {data} ...")
    manifest = generate(data, seed=seed, rows=rows, months=months)
    manifest.write(data / "manifest.json")
    timeline = Timeline.ending(DemoOptions().end_month, months)
    usage = write_usage(data, sized_company(seed, rows, timeline), timeline)
    usage.append(write_serving(data, usage, seed))
    from aifinops.demo.allocation import add_rules

    Workspace.init(directory).close()
    add_rules(directory)
    with Workspace(directory) as ws:
        with IngestProgress(err_console) as progress:
            summary = ws.ingest([f.path for f in manifest.files], progress=progress)
        print_summary(summary)
        for item in usage:
            with IngestProgress(err_console) as progress:
                extra = ws.ingest(
                    [item.path], source=item.source, options=dict(item.options), progress=progress
                )
            console.print(
                f"{item.source}: {extra.rows_ingested:,} rows from {item.path.relative_to(data)}"
            )
        allocation = ws.allocate()
        console.print(
            f"allocated every cost row to teams, GPU workloads and shared pools in "
            f"{allocation.seconds:.1f} s: `aifinops report showback` shows the statements"
        )
        print_executive_summary(ws, console)
    console.print(
        f"\nnext, in {directory} (the demo's data ends 2026-10-31, so judge as on a day in it):\n"
        "  aifinops budgets status --as-of 2026-10-20\n"
        "  aifinops check --as-of 2026-10-20          # alerts land in alerts.jsonl\n"
        "  aifinops forecast --as-of 2026-10-20 --to end-of-month --backtest\n"
        "  aifinops anomalies --as-of 2026-11-01 --days 31\n"
        "  aifinops recommend\n"
        "  aifinops report showback -p 2026-10 -f html -o showback.html",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command()(demo)
