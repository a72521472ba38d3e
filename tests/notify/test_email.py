"""Email channel against a real SMTP server (aiosmtpd): plain on loopback, STARTTLS, SSL."""

from __future__ import annotations

import email
import email.policy
import shutil
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from aifinops.notify import DeliveryStatus, deliver, pending
from tests.notify.conftest import budget_alert, notify_settings
from tests.notify.servers import Authenticator, MailHandler, free_port, self_signed, smtp_server

ENV = {"SMTP_PASSWORD": "hunter2"}


def email_channel(port: int, **changes: Any) -> dict[str, Any]:
    return {
        "type": "email", "host": "127.0.0.1", "port": port, "security": "none",
        "sender": "finops@example.com", "to": ["finance@example.com", "lead@example.com"],
        "cc": ["audit@example.com"], **changes,
    }  # fmt: skip


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, MailHandler, Authenticator]]:
    auth = Authenticator("finops", "hunter2")
    controller, handler = smtp_server(authenticator=auth, auth_require_tls=False)
    yield controller, handler, auth
    controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    return self_signed(tmp_path_factory.mktemp("tls"))


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_an_email_arrives_with_subject_body_and_recipients(
    tmp_path: Path, smtp: tuple[Controller, MailHandler, Authenticator]
) -> None:
    controller, handler, auth = smtp
    channel = email_channel(controller.port, username="finops", password_env="SMTP_PASSWORD")
    settings = notify_settings({"mail": channel})
    report = deliver(tmp_path, settings, [budget_alert()], environ=ENV)

    assert [(d.channel, d.status) for d in report.sent] == [("mail", DeliveryStatus.SENT)]
    assert auth.tries == [(b"finops", b"hunter2")]
    (mail,) = handler.messages
    assert mail.sender == "finops@example.com"
    assert mail.recipients == ["finance@example.com", "lead@example.com", "audit@example.com"]
    message = parse(mail.data)
    assert message["Subject"] == "[aifinops] [WARNING] research-monthly passed 80% of its budget"
    assert message["To"] == "finance@example.com, lead@example.com"
    assert message["Cc"] == "audit@example.com"
    assert message["Date"] is not None
    assert message["Message-ID"].endswith("@example.com>")
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    plain = text.get_content().replace("\r\n", "\n")
    assert "Spend 3,250.40 USD of 4,000.00 USD with 11 days left." in plain
    assert "Amount: 3,250.40 USD\n" in plain
    assert "alert key: budget:research:2026-10:80" in plain
    assert "<th align='left'>Amount</th><td>3,250.40 USD</td>" in html.get_content()


def test_html_in_an_alert_is_escaped(
    tmp_path: Path, smtp: tuple[Controller, MailHandler, Authenticator]
) -> None:
    controller, handler, _ = smtp
    settings = notify_settings({"mail": email_channel(controller.port)})
    deliver(tmp_path, settings, [budget_alert(title="<script>x</script>")])
    html = parse(handler.messages[0].data).get_body(("html",))
    assert html is not None
    assert "<h2>&lt;script&gt;x&lt;/script&gt;</h2>" in html.get_content()


def test_a_wrong_password_fails_without_retry_and_waits(
    tmp_path: Path, smtp: tuple[Controller, MailHandler, Authenticator]
) -> None:
    controller, handler, auth = smtp
    channel = email_channel(controller.port, username="finops", password_env="SMTP_PASSWORD")
    report = deliver(
        tmp_path, notify_settings({"mail": channel}), [budget_alert()],
        environ={"SMTP_PASSWORD": "wrong"},
    )  # fmt: skip
    (failure,) = report.failed
    assert failure.detail.startswith("SMTP login refused: 535")
    assert failure.attempts == 1  # smtplib itself tries each mechanism offered (PLAIN, LOGIN)
    assert set(auth.tries) == {(b"finops", b"wrong")}
    assert handler.messages == [] and len(pending(tmp_path)) == 1


def test_the_password_is_never_sent_unencrypted_off_this_machine(tmp_path: Path) -> None:
    channel = email_channel(25, host="smtp.example.com", username="u", password_env="SMTP_PASSWORD")
    report = deliver(tmp_path, notify_settings({"mail": channel}), [budget_alert()], environ=ENV)
    (failure,) = report.failed
    assert failure.detail.startswith("refusing to send the SMTP password unencrypted")


def test_an_smtp_server_that_is_down_is_retried_then_kept(tmp_path: Path) -> None:
    settings = notify_settings({"mail": email_channel(free_port())}, attempts=2)
    report = deliver(tmp_path, settings, [budget_alert()])
    (failure,) = report.failed
    assert failure.attempts == 2 and failure.detail.startswith("SMTP 127.0.0.1:")
    assert len(pending(tmp_path)) == 1


def test_starttls_with_a_private_ca(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    auth = Authenticator("finops", "hunter2")
    controller, handler = smtp_server(
        tls_context=context, require_starttls=True, authenticator=auth
    )
    try:
        channel = email_channel(
            controller.port, security="starttls", ca_file=str(cert),
            username="finops", password_env="SMTP_PASSWORD",
        )  # fmt: skip
        report = deliver(
            tmp_path, notify_settings({"mail": channel}), [budget_alert()], environ=ENV
        )
        assert [d.status for d in report.sent] == [DeliveryStatus.SENT]
        assert len(handler.messages) == 1 and auth.tries == [(b"finops", b"hunter2")]
        # Without the private CA the certificate is not trusted: a final failure, no retries.
        other = budget_alert(key="other")
        channel.pop("ca_file")
        report = deliver(tmp_path, notify_settings({"mail": channel}), [other], environ=ENV)
        (failure,) = report.failed
        assert "CERTIFICATE_VERIFY_FAILED" in failure.detail and failure.attempts == 1
    finally:
        controller.stop()


def test_implicit_ssl(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = MailHandler()
    controller = Controller(
        handler, hostname="127.0.0.1", port=free_port(), ssl_context=context,
        server_hostname="localhost",
    )  # fmt: skip
    controller.start()
    try:
        channel = email_channel(controller.port, security="ssl", ca_file=str(cert))
        report = deliver(tmp_path, notify_settings({"mail": channel}), [budget_alert()])
        assert [d.status for d in report.sent] == [DeliveryStatus.SENT]
        assert len(handler.messages) == 1
    finally:
        controller.stop()
