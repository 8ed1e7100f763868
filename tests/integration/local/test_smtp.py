"""The SMTP mailer against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import email
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from functions.common.adapters.smtp import SmtpMailer
from shared.errors import PermanentError, TransientError
from shared.ports import OutgoingEmail
from tests.support import LOOPBACK, free_port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Envelope] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Envelope, address: str, rcpt_options: Any
    ) -> str:
        if address.endswith("@bounce.test"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 Message accepted"


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname=LOOPBACK, port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _email(to: str = "ann@example.com") -> OutgoingEmail:
    return OutgoingEmail(
        to=to,
        subject="Payment received",
        body="Thanks!\n",
        message_id="<evt-1.notifier@eventsuite>",
        headers={"X-Correlation-Id": "corr-1"},
    )


def test_email_reaches_the_server_with_headers(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    SmtpMailer(LOOPBACK, port, sender="orders@shop.test", starttls=False).send(_email())
    envelope = inbox.messages[-1]
    assert envelope.rcpt_tos == ["ann@example.com"] and envelope.mail_from == "orders@shop.test"
    message = email.message_from_bytes(envelope.content)
    assert message["Subject"] == "Payment received"
    assert message["Message-ID"] == "<evt-1.notifier@eventsuite>"
    assert message["X-Correlation-Id"] == "corr-1"


def test_refused_recipient_is_permanent(smtp_server: tuple[Inbox, int]) -> None:
    _, port = smtp_server
    with pytest.raises(PermanentError, match="recipient refused"):
        SmtpMailer(LOOPBACK, port, sender="o@shop.test", starttls=False).send(
            _email("x@bounce.test")
        )


def test_unreachable_relay_is_transient() -> None:
    with pytest.raises(TransientError, match="unavailable"):
        SmtpMailer(LOOPBACK, free_port(), sender="o@shop.test", starttls=False, timeout=2).send(
            _email()
        )


def test_starttls_is_required_by_default(smtp_server: tuple[Inbox, int]) -> None:
    _, port = smtp_server  # this test server offers no STARTTLS: refuse to send in clear text
    with pytest.raises((TransientError, PermanentError)):
        SmtpMailer(LOOPBACK, port, sender="o@shop.test").send(_email())


def _self_signed(tmp_path: Any) -> tuple[str, str]:
    """A throwaway certificate for 127.0.0.1, made at run time."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "eventsuite test relay")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "relay.pem", tmp_path / "relay.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def test_starttls_relay_with_a_verified_certificate(tmp_path: Any) -> None:
    import ssl

    cert, key = _self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox, hostname=LOOPBACK, port=port, tls_context=server_context, require_starttls=True
    )
    controller.start()
    try:
        client_context = ssl.create_default_context(cafile=cert)
        SmtpMailer(LOOPBACK, port, sender="o@shop.test", ssl_context=client_context).send(_email())
        assert inbox.messages[-1].rcpt_tos == ["ann@example.com"]
        with pytest.raises(TransientError):  # an unknown certificate is refused, not ignored
            SmtpMailer(LOOPBACK, port, sender="o@shop.test").send(_email())
    finally:
        controller.stop()


def test_a_relay_without_smtputf8_refuses_a_non_ascii_address_permanently() -> None:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname=LOOPBACK, port=port, enable_SMTPUTF8=False)
    controller.start()
    try:
        # The same relay refuses every retry the same way: permanent, not eight retries.
        with pytest.raises(PermanentError, match="cannot send it"):
            SmtpMailer(LOOPBACK, port, sender="o@shop.test", starttls=False).send(
                _email("zoë@exämple.test")
            )
        assert inbox.messages == []
    finally:
        controller.stop()
