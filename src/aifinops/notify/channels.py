"""Sending one alert to one channel: generic webhook JSON, a Slack incoming webhook, email, or a
JSON Lines file.

Each ``send_*`` makes one try and raises :class:`SendError` when it fails; retries, the outbox and
deduplication are the caller's (``outbox.deliver``).
"""

from __future__ import annotations

import html
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from aifinops.notify.alert import Alert, Severity
from aifinops.notify.http import SendError, body_of, post_json, signature_headers
from aifinops.notify.settings import (
    Channel,
    EmailChannel,
    FileChannel,
    SlackChannel,
    WebhookChannel,
)

_SLACK_EMOJI = {
    Severity.INFO: ":information_source:",
    Severity.WARNING: ":warning:",
    Severity.CRITICAL: ":rotating_light:",
}
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def send(
    channel: Channel, alert: Alert, environ: Mapping[str, str], folder: Path | None = None
) -> str:
    """Make one try; return what the server said (e.g. ``HTTP 200``). ``folder``: where a file
    channel's relative path starts (the workspace folder)."""
    if isinstance(channel, FileChannel):
        return send_file(channel, alert, folder or Path.cwd())
    if isinstance(channel, WebhookChannel):
        return send_webhook(channel, alert, environ)
    if isinstance(channel, SlackChannel):
        return send_slack(channel, alert, environ)
    return send_email(channel, alert, environ)


def send_file(channel: FileChannel, alert: Alert, folder: Path) -> str:
    """Append the alert (its webhook JSON) as one line, fsync'd."""
    from aifinops.notify.files import append_line

    path = Path(channel.path).expanduser()
    path = path if path.is_absolute() else folder / path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        append_line(path, alert.to_json())
    except OSError as exc:
        raise SendError(f"cannot append to {path}: {exc.strerror or exc}", retryable=True) from exc
    return f"appended to {path}"


def secret(environ: Mapping[str, str], name: str, setting: str) -> str:
    """The value of environment variable ``name``; a clear, final error when it is unset."""
    value = environ.get(name)
    if not value:
        raise SendError(f"environment variable {name} ({setting}) is not set", retryable=False)
    return value


def facts(alert: Alert) -> list[tuple[str, str]]:
    """Label/value pairs every channel shows: severity, kind, scope, amount, owner, fields."""
    pairs = [("Severity", alert.severity.value.upper()), ("Kind", alert.kind)]
    optional = [("Scope", alert.scope), ("Amount", alert.money()), ("Owner", alert.owner)]
    pairs += [(label, value) for label, value in optional if value]
    return pairs + list(alert.fields.items())


def send_webhook(channel: WebhookChannel, alert: Alert, environ: Mapping[str, str]) -> str:
    body = body_of(alert.to_json())
    headers = {**channel.headers, "Idempotency-Key": alert.digest}
    if channel.secret_env:
        headers |= signature_headers(secret(environ, channel.secret_env, "secret_env"), body)
    url = channel.url or secret(environ, channel.url_env or "", "url_env")
    answer = post_json(url, body, headers, channel.timeout_seconds)
    return f"HTTP {answer.status}"


def slack_payload(alert: Alert) -> dict[str, Any]:
    """Slack incoming-webhook JSON: ``text`` (the notification line) and Block Kit blocks."""
    label = alert.severity.value.upper()
    emoji = _SLACK_EMOJI[alert.severity]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(f"{label}: {alert.title}", 150)},
        }
    ]
    if alert.text.strip():
        blocks.append(_mrkdwn_section(_cut(_slack_escape(alert.text), 3000)))
    pairs = facts(alert)
    for start in range(0, min(len(pairs), 40), 10):  # Slack: at most 10 fields a section
        cells = [
            {"type": "mrkdwn", "text": _cut(f"*{_slack_escape(k)}*\n{_slack_escape(v)}", 2000)}
            for k, v in pairs[start : start + 10]
        ]
        blocks.append({"type": "section", "fields": cells})
    context = f"{emoji} aifinops · {_slack_escape(alert.kind)} · `{_slack_escape(alert.key)}`"
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(context, 3000)}]}
    )
    text = f"{emoji} [{label}] {_slack_escape(alert.title)}"
    return {"text": _cut(text, 3000), "blocks": blocks}


def send_slack(channel: SlackChannel, alert: Alert, environ: Mapping[str, str]) -> str:
    url = channel.url or secret(environ, channel.url_env or "", "url_env")
    answer = post_json(url, body_of(slack_payload(alert)), {}, channel.timeout_seconds)
    return f"HTTP {answer.status}"


def email_message(channel: EmailChannel, alert: Alert) -> EmailMessage:
    """The email: subject with severity, a plain-text body and an HTML alternative."""
    message = EmailMessage()
    label = alert.severity.value.upper()
    message["Subject"] = f"{channel.subject_prefix} [{label}] {alert.title}".strip()
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.to)
    if channel.cc:
        message["Cc"] = ", ".join(channel.cc)
    message["Date"] = formatdate(usegmt=True)
    # The sender's domain: without one, make_msgid asks DNS for this host's name (can be slow).
    domain = channel.sender.rpartition("@")[2].strip("> ") or "aifinops.invalid"
    message["Message-ID"] = make_msgid(idstring=alert.digest, domain=domain)
    message["X-Aifinops-Alert"] = alert.digest
    lines = [alert.title, "", alert.text, ""] + [f"{k}: {v}" for k, v in facts(alert)]
    message.set_content("\n".join([*lines, "", f"alert key: {alert.key}"]) + "\n")
    message.add_alternative(_email_html(alert), subtype="html")
    return message


def _email_html(alert: Alert) -> str:
    rows = "".join(
        f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
        for k, v in facts(alert)
    )
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in alert.text.split("\n\n") if p)
    return (
        f"<html><body><h2>{html.escape(alert.title)}</h2>{paragraphs}"
        f"<table>{rows}</table><p><small>alert key: {html.escape(alert.key)}</small></p>"
        "</body></html>"
    )


def send_email(channel: EmailChannel, alert: Alert, environ: Mapping[str, str]) -> str:
    message = email_message(channel, alert)
    login = _login(channel, environ)
    try:
        with _connect(channel) as smtp:
            if login is not None:
                smtp.login(*login)
            refused = smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise SendError(
            f"SMTP login refused: {exc.smtp_code} {_smtp_text(exc)}", retryable=False
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        reason = f"every recipient refused: {sorted(exc.recipients)}"
        raise SendError(reason, retryable=False) from None
    except smtplib.SMTPResponseException as exc:
        reason = f"SMTP {exc.smtp_code} {_smtp_text(exc)}"
        raise SendError(reason, retryable=400 <= exc.smtp_code < 500) from None
    except (smtplib.SMTPNotSupportedError, ssl.SSLCertVerificationError) as exc:
        raise SendError(f"SMTP {_where(channel)}: {exc}", retryable=False) from None
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        reason = f"SMTP {_where(channel)}: {exc or type(exc).__name__}"
        raise SendError(reason, retryable=True) from None
    if refused:
        return f"sent; refused by the server for {sorted(refused)}"
    return f"SMTP accepted for {len(channel.to) + len(channel.cc)} recipient(s)"


def _connect(channel: EmailChannel) -> smtplib.SMTP:
    context = ssl.create_default_context(cafile=channel.ca_file)
    timeout = channel.timeout_seconds
    if channel.security == "ssl":
        return smtplib.SMTP_SSL(channel.host, channel.smtp_port, timeout=timeout, context=context)
    smtp = smtplib.SMTP(channel.host, channel.smtp_port, timeout=timeout)
    if channel.security == "starttls":
        try:
            smtp.starttls(context=context)
        except BaseException:
            smtp.close()
            raise
    return smtp


def _where(channel: EmailChannel) -> str:
    return f"{channel.host}:{channel.smtp_port}"


def _login(channel: EmailChannel, environ: Mapping[str, str]) -> tuple[str, str] | None:
    user = channel.username
    if channel.username_env:
        user = secret(environ, channel.username_env, "username_env")
    if user is None:
        return None
    if channel.password_env is None:
        raise SendError("username set but no password_env", retryable=False)
    if channel.security == "none" and channel.host.lower() not in _LOOPBACK:
        raise SendError(
            f"refusing to send the SMTP password unencrypted to {channel.host}: "
            'use security = "starttls" or "ssl"',
            retryable=False,
        )
    return user, secret(environ, channel.password_env, "password_env")


def _smtp_text(exc: smtplib.SMTPResponseException) -> str:
    error = exc.smtp_error
    return error.decode(errors="replace") if isinstance(error, bytes) else str(error)


def _mrkdwn_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _slack_escape(text: str) -> str:
    """Slack's three control characters (so user text cannot ping @channel or forge links)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
