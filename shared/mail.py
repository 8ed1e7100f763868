"""Email rendering shared by every mailer adapter (SMTP, SES, the local outbox)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate

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
