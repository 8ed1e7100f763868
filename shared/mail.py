"""Mailers that need no cloud SDK: SMTP (any relay, STARTTLS) and an ``.eml`` outbox folder."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

from shared.errors import PermanentError, TransientError
from shared.ports import OutgoingEmail


def to_message(email: OutgoingEmail, sender: str) -> EmailMessage:
    """The RFC 5322 message for an email."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Message-ID"] = email.message_id
    message["Date"] = formatdate(usegmt=True)
    for name, value in email.headers.items():
        message[name] = value
    message.set_content(email.body)
    return message


class SmtpMailer:
    """Sends through an SMTP relay; STARTTLS unless explicitly disabled (local test servers)."""

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password = username, password
        self.starttls, self.timeout = starttls, timeout
        self.ssl_context = ssl_context

    def send(self, email: OutgoingEmail) -> None:
        """Send one email; connection problems and 4xx replies are transient, 5xx permanent."""
        message = to_message(email, self.sender)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as client:
                if self.starttls:
                    client.starttls(context=self.ssl_context or ssl.create_default_context())
                if self.username:
                    client.login(self.username, self.password or "")
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise PermanentError(f"recipient refused: {exc.recipients}") from exc
            raise TransientError(f"recipient temporarily refused: {exc.recipients}") from exc
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500:
                raise PermanentError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
            raise TransientError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientError(f"SMTP relay {self.host}:{self.port} unavailable: {exc}") from exc


class OutboxMailer:
    """Writes each email to ``<outbox>/<message-id>.eml``; a redelivery overwrites it."""

    def __init__(self, outbox: Path, *, sender: str) -> None:
        self.outbox = outbox
        self.sender = sender

    def send(self, email: OutgoingEmail) -> None:
        """Write the message file atomically."""
        self.outbox.mkdir(parents=True, exist_ok=True)
        name = "".join(
            c if c.isalnum() or c in "-._" else "_" for c in email.message_id.strip("<>")
        )
        target = self.outbox / f"{name}.eml"
        temporary = target.with_suffix(".tmp")
        temporary.write_bytes(bytes(to_message(email, self.sender)))
        temporary.replace(target)
