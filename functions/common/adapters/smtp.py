"""The SMTP mailer: any relay, STARTTLS by default (every backend can use it)."""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Mapping

from shared.errors import PermanentError, TransientError
from shared.mail import to_message
from shared.ports import OutgoingEmail


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
        except smtplib.SMTPNotSupportedError as exc:
            # The relay lacks an extension the message needs (SMTPUTF8 for a non-ASCII
            # address): the same relay refuses every retry the same way.
            raise PermanentError(
                f"SMTP relay {self.host}:{self.port} cannot send it: {exc}"
            ) from exc
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


def smtp_mailer_from_env(sender: str, environ: Mapping[str, str] | None = None) -> SmtpMailer:
    """An SMTP mailer configured by ``EVENTSUITE_SMTP_*``; fails clearly when no host is set."""
    env = os.environ if environ is None else environ
    host = env.get("EVENTSUITE_SMTP_HOST")
    if not host:
        raise RuntimeError("EVENTSUITE_SMTP_HOST is not set (EVENTSUITE_MAILER=smtp needs a relay)")
    return SmtpMailer(
        host,
        int(env.get("EVENTSUITE_SMTP_PORT", "587")),
        sender=sender,
        username=env.get("EVENTSUITE_SMTP_USERNAME") or None,
        password=env.get("EVENTSUITE_SMTP_PASSWORD") or None,
        starttls=env.get("EVENTSUITE_SMTP_STARTTLS", "true").lower() not in ("0", "false", "no"),
    )
