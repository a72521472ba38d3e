"""``aifinops policy validate | schema | run | marks``: policy-as-code (docs/policies.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from aifinops.cli.common import (
    AsOfOption,
    FormatOption,
    OutputOption,
    WorkspaceOption,
    as_of_date,
    console,
    err_console,
    open_workspace,
)
from aifinops.output import OutputFormat, render

if TYPE_CHECKING:
    from aifinops.config import Settings

policy_app = typer.Typer(
    help="Policies as code: YAML rules that find idle GPUs, stale checkpoints, runaway LLM keys "
    "... and notify, mark or act (dry run unless --execute). See docs/policies.md.",
    no_args_is_help=True,
)
FilesArgument = Annotated[
    list[Path], typer.Argument(help="Policy files (YAML).", show_default=False)
]


def validate(files: FilesArgument, workspace: WorkspaceOption = None) -> None:
    """Check policy files against the schema and the workspace (channels, executors, fields);
    every problem with file:line. Exit 0 when valid, 2 otherwise."""
    from aifinops.policy import check_files

    settings = _settings(workspace)
    policies, problems = check_files(files, settings)
    for problem in problems:
        err_console.print(f"[red]{problem}[/red]", highlight=False, markup=False)
    if problems:
        err_console.print(f"{len(problems)} problem(s)")
        sys.exit(2)
    console.print(f"{len(policies)} policies in {len(files)} file(s): valid")


def schema() -> None:
    """Print the JSON Schema of policy files (generated from the registered resources, filters
    and actions)."""
    from aifinops.policy.schema import schema as make

    typer.echo(json.dumps(make(), indent=2))


def run(
    files: FilesArgument,
    execute: Annotated[
        bool, typer.Option("--execute", help="Really notify, mark and act (default: dry run).")
    ] = False,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Only the policies of this name; repeatable.")
    ] = None,
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
) -> None:
    """Run policies: list what matches and what each action does (dry run: would do). Exit 0
    when nothing matched, 1 when something matched or was acted on, 2 on an error (a policy
    that cannot run is reported and the others still run)."""
    from aifinops.policy import load, run_policies

    day = as_of_date(as_of)
    with open_workspace(workspace) as ws:
        policies = load(files, ws.settings)
        report = run_policies(ws, policies, as_of=day, execute=execute, only=only or ())
    mode = "executed" if execute else "dry run: nothing was sent, marked or run"
    title = f"policies as of {day} ({mode})"
    render(report.table(), fmt, output=output, title=title)
    for name, error in report.errors.items():
        err_console.print(f"[red]{name}: could not run:[/red] {escape(error)}", highlight=False)
    for result in report.results:
        err_console.print(
            f"{result.policy}: {len(result.matched)} of {result.resources} {result.resource_kind} "
            f"matched (data through {result.data_through or 'no data'})",
            highlight=False,
        )
    sys.exit(report.exit_code)


def marks(
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
) -> None:
    """Resources marked for a later action, with their due dates."""
    from aifinops.policy import marks_table

    with open_workspace(workspace, read_only=True) as ws:
        render(marks_table(ws.path), fmt, output=output, title="policy marks")


def _settings(workspace: Path | None) -> Settings | None:
    from aifinops.errors import WorkspaceNotFoundError

    try:
        with open_workspace(workspace, read_only=True) as ws:
            return ws.settings
    except WorkspaceNotFoundError:
        if workspace is not None:
            raise
        return None  # no workspace: the schema and the fields are still checked


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy")
    policy_app.command("validate")(validate)
    policy_app.command("schema")(schema)
    policy_app.command("run")(run)
    policy_app.command("marks")(marks)
