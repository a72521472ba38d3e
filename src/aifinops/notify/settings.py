"""Settings of notification channels (``[notify.channels.NAME]``) and executors
(``[executors.NAME]``). Secrets never live here: a setting ending in ``_env`` names the environment
variable that holds one (a signing secret, an SMTP password, a Slack webhook URL)."""

from __future__ import annotations

import fnmatch
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aifinops.notify.alert import Alert, Severity


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


def _http_url(value: str | None) -> str | None:
    if value is not None and not value.lower().startswith(("http://", "https://")):
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    return value


class _Routed(_Model):
    kinds: list[str] = Field(
        [], description="Alert kinds this channel takes, as globs (budget.*, anomaly); empty: all."
    )
    min_severity: Severity = Field(
        Severity.INFO, description="Least severity this channel takes: info, warning or critical."
    )
    timeout_seconds: float = Field(10, gt=0, description="Seconds to wait for the server.")

    def takes(self, alert: Alert) -> bool:
        """Whether routing sends ``alert`` here."""
        if alert.severity.rank < self.min_severity.rank:
            return False
        return not self.kinds or any(fnmatch.fnmatchcase(alert.kind, k) for k in self.kinds)


class _UrlTarget(_Model):
    url: str | None = Field(None, description="URL to POST to.")
    url_env: str | None = Field(
        None, description="Environment variable holding the URL instead (for secret URLs)."
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return _http_url(value)

    @model_validator(mode="after")
    def _one_url(self) -> _UrlTarget:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("set exactly one of url and url_env")
        return self


class WebhookChannel(_Routed, _UrlTarget):
    """POST the alert as JSON; signed with HMAC-SHA256 when ``secret_env`` is set."""

    type: Literal["webhook"]
    secret_env: str | None = Field(
        None, description="Environment variable holding the HMAC-SHA256 signing secret."
    )
    headers: dict[str, str] = Field({}, description="Extra HTTP headers.")


class SlackChannel(_Routed, _UrlTarget):
    """A Slack incoming webhook (the URL is a secret: prefer ``url_env``)."""

    type: Literal["slack"]


class EmailChannel(_Routed):
    """Email over SMTP, as plain text and HTML."""

    type: Literal["email"]
    host: str = Field(description="SMTP server.")
    port: int | None = Field(
        None, ge=1, le=65535, description="Port; default 587 (starttls), 465 (ssl) or 25 (none)."
    )
    security: Literal["starttls", "ssl", "none"] = Field(
        "starttls", description="starttls, ssl (implicit TLS) or none (a local relay only)."
    )
    username: str | None = Field(None, description="SMTP user name.")
    username_env: str | None = Field(None, description="Environment variable with the user name.")
    password_env: str | None = Field(None, description="Environment variable with the password.")
    ca_file: str | None = Field(
        None, description="CA certificates (PEM) to trust for this server, e.g. a private CA."
    )
    sender: str = Field(description="From address.")
    to: list[str] = Field(min_length=1, description="Recipients.")
    cc: list[str] = Field([], description="Copy recipients.")
    subject_prefix: str = Field("[aifinops]", description="Put before every subject.")

    @property
    def smtp_port(self) -> int:
        return self.port or {"starttls": 587, "ssl": 465, "none": 25}[self.security]

    @model_validator(mode="after")
    def _user_once(self) -> EmailChannel:
        if self.username is not None and self.username_env is not None:
            raise ValueError("set username or username_env, not both")
        return self


class FileChannel(_Routed):
    """Append each alert as one JSON line to a file (for a log shipper or SIEM to pick up)."""

    type: Literal["file"]
    path: str = Field(
        min_length=1,
        description="The JSON Lines file; a relative path is inside the workspace folder.",
    )


Channel = Annotated[
    WebhookChannel | SlackChannel | EmailChannel | FileChannel, Field(discriminator="type")
]


class NotifySettings(_Model):
    """``[notify]``: channels and how hard to try each."""

    attempts: int = Field(
        3,
        ge=1,
        description="Tries per alert and channel in one delivery before it waits in the "
        "outbox for the next one.",
    )
    backoff_seconds: float = Field(
        1, ge=0, description="First wait between tries; doubles each try, with jitter."
    )
    max_backoff_seconds: float = Field(30, ge=0, description="Longest wait between tries.")
    down_seconds: float = Field(
        60,
        ge=0,
        description="After a channel fails every try, deliveries in the next this many "
        "seconds leave its alerts in the outbox untried; `aifinops notify retry` always tries.",
    )
    # Last: in aifinops.toml the keys after a [notify.channels.NAME] table belong to it.
    channels: dict[str, Channel] = Field(
        {},
        description="Notification channels by name: type webhook, slack, email or file, with "
        "routing (kinds, min_severity): see docs/notifications.md.",
    )


class _Executor(_Model):
    attempts: int = Field(3, ge=1, description="Tries before the action counts as failed.")
    backoff_seconds: float = Field(1, ge=0, description="First wait between tries; doubles.")
    max_backoff_seconds: float = Field(30, ge=0, description="Longest wait between tries.")
    timeout_seconds: float = Field(60, gt=0, description="Seconds one try may take.")


class CommandExecutor(_Executor):
    """Run a program (no shell); ``{placeholders}`` in argv come from the request."""

    type: Literal["command"]
    argv: list[str] = Field(min_length=1, description="Program and arguments.")
    env: dict[str, str] = Field({}, description="Environment variables set for the program.")
    cwd: str | None = Field(None, description="Folder to run in (default: the workspace).")


class WebhookExecutor(_Executor, _UrlTarget):
    """POST the request as JSON with an ``Idempotency-Key`` header."""

    type: Literal["webhook"]
    secret_env: str | None = Field(
        None, description="Environment variable holding the HMAC-SHA256 signing secret."
    )
    headers: dict[str, str] = Field({}, description="Extra HTTP headers.")


Executor = Annotated[CommandExecutor | WebhookExecutor, Field(discriminator="type")]


class ExecutorsSettings(BaseModel):
    """``[executors.NAME]``: one table per executor, named by the user."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Executor] = Field(init=False)

    def named(self) -> dict[str, CommandExecutor | WebhookExecutor]:
        return dict(self.__pydantic_extra__ or {})


#: What ``aifinops init`` shows for ``[notify.channels]`` (valid settings: a test checks).
CHANNELS_EXAMPLE = """\
# [notify.channels.finops-slack]   # one per channel; see docs/notifications.md
# type = "slack"
# url_env = "FINOPS_SLACK_URL"     # the environment variable holding the webhook URL
# min_severity = "warning"
#
# [notify.channels.ops-webhook]
# type = "webhook"
# url = "https://ops.example.com/hooks/finops"
# secret_env = "FINOPS_WEBHOOK_SECRET"
# kinds = ["budget.*", "anomaly"]
#
# [notify.channels.finance-email]
# type = "email"
# host = "smtp.example.com"
# username = "finops@example.com"
# password_env = "FINOPS_SMTP_PASSWORD"
# sender = "finops@example.com"
# to = ["finance@example.com"]\
"""
