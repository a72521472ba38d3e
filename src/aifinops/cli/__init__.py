"""The ``aifinops`` command: thin Typer commands, each calling one library function."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from aifinops.cli import allocate, convert, demo, ingest, recommend, report, run, workspace
from aifinops.cli import anomalies as anomaly_commands
from aifinops.cli import budgets as budget_commands
from aifinops.cli import forecast as forecast_commands
from aifinops.cli import guard as guard_commands
from aifinops.cli import metrics as metrics_commands
from aifinops.cli import notify as notify_commands
from aifinops.cli import policy as policy_commands
from aifinops.cli import strategy as strategy_commands
from aifinops.cli import unit as unit_commands
from aifinops.cli.common import err_console
from aifinops.errors import AifinopsError

app = typer.Typer(
    name="aifinops",
    help="FinOps for AI workloads: FOCUS cost data from every source, answered in one place.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
workspace.register(app)
ingest.register(app)
convert.register(app)
report.register(app)
allocate.register(app)
unit_commands.register(app)
recommend.register(app)
strategy_commands.register(app)
notify_commands.register(app)
budget_commands.register(app)
anomaly_commands.register(app)
forecast_commands.register(app)
guard_commands.register(app)
policy_commands.register(app)
metrics_commands.register(app)
run.register(app)
demo.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors print a message (no traceback) and exit with status 2."""
    try:
        app(args=argv, prog_name="aifinops")
    except AifinopsError as exc:
        err_console.print(f"[bold red]error:[/bold red] {escape(exc.message)}", highlight=False)
        sys.exit(2)
