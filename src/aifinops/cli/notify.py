"""``aifinops notify test|retry|outbox`` and ``aifinops audit``."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from aifinops.cli.common import (
    FormatOption,
    OutputOption,
    WorkspaceOption,
    console,
    err_console,
    open_workspace,
)
from aifinops.output import OutputFormat, render

if TYPE_CHECKING:
    import pyarrow as pa

    from aifinops.audit import AuditEvent, AuditLog, CorruptLine
    from aifinops.notify import DeliveryReport

notify_app = typer.Typer(
    help="Notification channels: test one, retry the outbox, see what waits in it.",
    no_args_is_help=True,
)


@notify_app.command("test")
def test_channel(
    channel: Annotated[str, typer.Argument(help="A channel of [notify.channels].")],
    severity: Annotated[
        str, typer.Option("--severity", help="info, warning or critical.")
    ] = "info",
    workspace: WorkspaceOption = None,
) -> None:
    """Send a test alert to CHANNEL now, whatever its routing; exit 1 if it fails.

    A test alert that fails is not kept in the outbox for retries."""
    from aifinops.notify import Alert, Severity, deliver, discard

    ws = open_workspace(workspace, read_only=True)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    alert = Alert(
        key=f"test:{channel}:{now}",
        kind="test",
        severity=Severity.parse(severity),
        title=f"aifinops test alert for {channel}",
        text=f"A test from the workspace {ws.path} at {now}. If you can read this, "
        f"the channel {channel} works.",
        fields={"channel": channel, "workspace": str(ws.path)},
    )
    report = deliver(ws.path, ws.settings, [alert], channels=[channel])
    for row in report.sent:
        console.print(f"sent a test alert to {escape(channel)}: {escape(row.detail)}")
    for row in report.failed:
        discard(ws.path, alert.key)
        err_console.print(
            f"[bold red]failed[/bold red] after {_tries(row.attempts)}: {escape(row.detail)}\n"
            "(a test alert is not kept for retries)",
            highlight=False,
        )
    if not report.ok:
        raise typer.Exit(1)


@notify_app.command("retry")
def retry_outbox(workspace: WorkspaceOption = None, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """Send what waits in the outbox. Exit 1 when something still fails (it stays there)."""
    from aifinops.notify import retry

    ws = open_workspace(workspace, read_only=True)
    report = retry(ws.path, ws.settings)
    _show(report, fmt)
    if not report.ok:
        raise typer.Exit(1)


@notify_app.command("outbox")
def outbox(
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
) -> None:
    """Alerts waiting to reach a channel: tries so far and the last error."""
    from aifinops.notify import pending
    from aifinops.notify.outbox import pending_table

    ws = open_workspace(workspace, read_only=True)
    table = pending_table(pending(ws.path))
    if fmt is not OutputFormat.TABLE or output is not None:
        render(table, fmt, output=output, console=console)
        return
    for row in table.to_pylist():
        queued = row["queued_at"][:19].replace("T", " ")
        text = f"{row['severity']:<8} {row['channel']:<14} {row['alert']}  (queued {queued}, "
        text += f"{_tries(row['attempts'])}) {row['last_error'] or 'not tried yet'}"
        console.print(escape(text), highlight=False, soft_wrap=True)
    alerts = len(set(table.column("alert").to_pylist()))
    console.print(f"{alerts} alert(s) wait for {table.num_rows} delivery(ies)" if alerts else
                  "the outbox is empty")  # fmt: skip


def _show(report: DeliveryReport, fmt: OutputFormat = OutputFormat.TABLE) -> None:
    if fmt is not OutputFormat.TABLE:
        render(report.table(), fmt, console=console)
        return
    for row in report.table().to_pylist():
        text = f"{row['status']:<12} {row['channel'] or '-':<14} {row['alert']}  "
        text += f"({_tries(row['attempts'])}) {row['detail']}"
        console.print(escape(text), highlight=False, soft_wrap=True)
    console.print(report.summary() if report.rows() or report.unrouted else "nothing to send")


def _tries(count: int) -> str:
    return f"{count} {'try' if count == 1 else 'tries'}"


def audit(
    since: Annotated[
        str | None,
        typer.Option("--since", help="From a date (2026-10-20), a UTC time or an age (24h, 7d)."),
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option("--kind", "-k", help="Kind, prefix or glob: notify, execute.*, policy."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="The last N events.")] = 50,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events (Ctrl-C stops).")
    ] = False,
    workspace: WorkspaceOption = None,
    fmt: Annotated[
        OutputFormat,
        typer.Option("--format", help="table, csv or json (JSON Lines).", case_sensitive=False),
    ] = OutputFormat.TABLE,
) -> None:
    """The audit log: alerts sent or failed, actions planned, tried and done, decisions.

    A line that cannot be read is reported with its line number (exit 1)."""
    from aifinops.audit import AuditEvent, AuditLog, CorruptLine, matches, parse_since

    ws = open_workspace(workspace, read_only=True)
    log = AuditLog(ws.path)
    start = parse_since(since, datetime.now(UTC)) if since else None
    try:
        items, offset, line = log.tail(0, 1)
        events = [i for i in items if isinstance(i, AuditEvent) and matches(i, start, kind)]
        corrupt = [i for i in items if isinstance(i, CorruptLine)]
        _print_events(events[-limit:] if limit else events, fmt)
        _warn(log, corrupt)
        if follow:
            _follow(log, kind, fmt, offset, line)
    except KeyboardInterrupt:
        if not follow:
            raise
        return  # Ctrl-C is how following ends
    if corrupt:
        raise typer.Exit(1)


def _follow(log: AuditLog, kind: str | None, fmt: OutputFormat, offset: int, line: int) -> None:
    """Print new events from byte ``offset`` (line number ``line``) until interrupted."""
    from aifinops.audit import AuditEvent, CorruptLine, matches

    while True:
        items, offset, line = log.tail(offset, line)
        events = [i for i in items if isinstance(i, AuditEvent) and matches(i, None, kind)]
        if events:
            _print_events(events, fmt)
        _warn(log, [i for i in items if isinstance(i, CorruptLine)])
        time.sleep(0.5)


def _print_events(events: list[AuditEvent], fmt: OutputFormat) -> None:
    if fmt is OutputFormat.JSON:
        for event in events:
            typer.echo(json.dumps({"line": event.line, **event.to_json()}, ensure_ascii=False))
        return
    if fmt is OutputFormat.TABLE:
        for event in events:
            console.print(escape(_line(event)), highlight=False, soft_wrap=True)
        return
    render(_events_table(events), fmt, console=console)


def _line(event: AuditEvent) -> str:
    at = event.at.strftime("%Y-%m-%d %H:%M:%S")
    dry = " (dry run)" if event.dry_run else ""
    return f"{event.line:>6}  {at}  {event.kind}{dry}  {event.actor}  {_details(event)}"


def _details(event: AuditEvent) -> str:
    return "  ".join(
        f"{k}={v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"
        for k, v in event.fields.items()
    )


def _events_table(events: list[AuditEvent]) -> pa.Table:
    import pyarrow as pa

    rows = [
        {"line": e.line, "at": e.at.strftime("%Y-%m-%d %H:%M:%S"), "kind": e.kind,
         "actor": e.actor, "dry_run": e.dry_run, "details": _details(e)}
        for e in events
    ]  # fmt: skip
    schema = pa.schema(
        [("line", pa.int64()), ("at", pa.string()), ("kind", pa.string()),
         ("actor", pa.string()), ("dry_run", pa.bool_()), ("details", pa.string())]
    )  # fmt: skip
    return pa.Table.from_pylist(rows, schema=schema)


def _warn(log: AuditLog, corrupt: list[CorruptLine]) -> None:
    for bad in corrupt:
        err_console.print(
            f"[bold red]corrupt audit line:[/bold red] {escape(bad.describe(log.path))}",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    app.add_typer(notify_app, name="notify")
    app.command("audit")(audit)
