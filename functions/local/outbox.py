"""The local backend's mailer: one ``.eml`` file per email in an outbox folder."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

from shared.mail import render_message
from shared.ports import OutgoingEmail


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
        temporary.write_bytes(render_message(email, self.sender))
        temporary.replace(target)

    def messages(self, *, correlation_id: str | None = None) -> list[EmailMessage]:
        """The emails written so far, oldest first (only one flow's with ``correlation_id``)."""
        if not self.outbox.is_dir():
            return []
        found: list[tuple[float, EmailMessage]] = []
        for path in self.outbox.glob("*.eml"):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            if correlation_id is None or message["X-Correlation-Id"] == correlation_id:
                found.append((path.stat().st_mtime, message))
        return [message for _, message in sorted(found, key=lambda pair: pair[0])]
