"""``aifinops guard``: allow or deny an LLM request for a team or key (exit 0 allow, 1 deny)."""

from __future__ import annotations

import json
from typing import Annotated, Literal

import typer
from rich.markup import escape

from aifinops.cli.budgets import exit_2_on_error
from aifinops.cli.common import (
    AsOfOption,
    FormatOption,
    WorkspaceOption,
    as_of_date,
    console,
    open_workspace,
)
from aifinops.output import OutputFormat, money, plain


def guard(
    team: Annotated[str | None, typer.Option("--team", "-t", help="The team asking.")] = None,
    key: Annotated[str | None, typer.Option("--key", "-k", help="The LLM API key id.")] = None,
    cost: Annotated[
        str | None,
        typer.Option("--cost", help="The request's estimated cost, in the budget's currency."),
    ] = None,
    as_of: AsOfOption = None,
    no_budget: Annotated[
        str | None,
        typer.Option(
            "--no-budget",
            help="allow or deny a team/key no budget names (default: [guard] no_budget).",
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Allow or deny a request for a team or API key against its budget (exit 0 allow,
    1 deny): budgets with llm_keys or llm_teams, see docs/budgets.md#guard."""
    from aifinops.errors import QueryError
    from aifinops.guard import Guard

    if team is None and key is None:
        raise QueryError("aifinops guard needs --team or --key")
    with exit_2_on_error(), open_workspace(workspace, read_only=True) as ws:
        decision = Guard(ws, as_of=as_of_date(as_of), no_budget=_choice(no_budget)).check(
            team=team, key=key, cost=cost
        )
    if fmt is OutputFormat.JSON:
        record = {name: plain(value) for name, value in vars(decision).items()}
        console.print_json(json.dumps(record))
    else:
        verdict = "[green]allow[/green]" if decision.allowed else "[red]deny[/red]"
        console.print(f"{verdict}: {escape(decision.reason)}")
        if decision.remaining is not None:
            console.print(f"remaining: {money(decision.remaining)} {decision.currency}")
    raise typer.Exit(0 if decision.allowed else 1)


def _choice(value: str | None) -> Literal["allow", "deny"] | None:
    if value is None:
        return None
    cleaned = value.strip().lower()
    if cleaned == "allow":
        return "allow"
    if cleaned == "deny":
        return "deny"
    from aifinops.errors import QueryError

    raise QueryError(f"--no-budget {value!r} is not allow or deny")


def register(app: typer.Typer) -> None:
    app.command("guard")(guard)
