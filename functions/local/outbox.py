"""The local backend's mailer: one ``.eml`` file per email in an outbox folder."""

from __future__ import annotations

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
