"""Email rendering shared by every mailer adapter (SMTP, SES, the local outbox).

Every header value is refused with ``PermanentError`` if it holds CR or LF: an address such as
``"ann@example.com\\nBcc: everyone@example.com"`` from an order would otherwise inject
headers. :func:`render_message` writes the RFC 5322 bytes directly (a few string joins);
building an ``EmailMessage`` runs the ``email`` package's header parser and folder for every
header and was 82 % of a local delivery. :func:`to_message` gives the same message as an
``EmailMessage`` for adapters whose client wants one (``smtplib.send_message``).
"""

from __future__ import annotations

import email
import email.policy
import re
from email.header import Header
from email.message import EmailMessage
from email.utils import formatdate
from quopri import encodestring

from shared.errors import PermanentError
from shared.ports import OutgoingEmail

# RFC 5322 field names: printable ASCII except the colon (and no space).
_FIELD_NAME = re.compile(r"[!-9;-~]+")
_RESERVED = frozenset(
    name.lower()
    for name in (
        "From",
        "To",
        "Subject",
        "Message-ID",
        "Date",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
    )
)
_MAX_LINE = 998  # RFC 5322 section 2.1.1, without the CRLF


def _value(name: str, value: str) -> str:
    """A header's value as written (RFC 2047 and folded only when it must be), or
    ``PermanentError`` naming the header."""
    if not _FIELD_NAME.fullmatch(name):
        raise PermanentError(f"mail header name {name!r} is not a valid field name")
    if "\r" in value or "\n" in value:
        raise PermanentError(f"mail header {name} contains CR or LF (header injection refused)")
    if value.isascii() and len(name) + 2 + len(value) <= _MAX_LINE:
        return value
    return Header(value, "utf-8", header_name=name).encode(linesep="\n")


def _body(text: str) -> tuple[str, str]:
    """The transfer encoding and the encoded (ASCII) body, with LF line ends."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    if text.isascii() and all(len(line) <= _MAX_LINE for line in text.split("\n")):
        return "7bit", text
    return "quoted-printable", encodestring(text.encode("utf-8")).decode("ascii")


def _parts(
    email_: OutgoingEmail, sender: str, date: str | None
) -> tuple[list[tuple[str, str]], str]:
    for name in email_.headers:
        if name.lower() in _RESERVED:
            raise PermanentError(f"mail header {name} is set by the mailer, not by the caller")
    encoding, body = _body(email_.body)
    fields = [
        ("From", sender),
        ("To", email_.to),
        ("Subject", email_.subject),
        ("Message-ID", email_.message_id),
        ("Date", date or formatdate(usegmt=True)),
        *email_.headers.items(),
    ]
    headers = [(name, _value(name, value)) for name, value in fields]
    headers += [
        ("MIME-Version", "1.0"),
        ("Content-Type", 'text/plain; charset="utf-8"'),
        ("Content-Transfer-Encoding", encoding),
    ]
    return headers, body


def render_message(email_: OutgoingEmail, sender: str, *, date: str | None = None) -> bytes:
    """The RFC 5322 message for an email, as bytes (LF line ends, like ``bytes(message)``)."""
    headers, body = _parts(email_, sender, date)
    head = "".join(f"{name}: {value}\n" for name, value in headers)
    return (head + "\n" + body).encode("ascii")


def to_message(email_: OutgoingEmail, sender: str) -> EmailMessage:
    """The same message as an ``EmailMessage`` (checked the same way). Headers are stored as
    written (``set_raw``), so the ``email`` package does not parse and refold each one."""
    headers, body = _parts(email_, sender, None)
    message = EmailMessage(policy=email.policy.default)
    for name, value in headers:
        message.set_raw(name, value)
    message.set_payload(body)
    return message
