"""Mail rendering: header injection refused, the message parses back to what was sent."""

from __future__ import annotations

import email
import email.policy

import pytest

from shared.errors import PermanentError
from shared.mail import render_message, to_message
from shared.ports import OutgoingEmail


def _email(**changes: object) -> OutgoingEmail:
    fields: dict[str, object] = {
        "to": "ann@example.com",
        "subject": "Payment received",
        "body": "Thanks!\n",
        "message_id": "<evt-1.notifier@eventsuite>",
        "headers": {"X-Correlation-Id": "corr-1"},
    }
    fields.update(changes)
    return OutgoingEmail(**fields)  # type: ignore[arg-type]


INJECTIONS = {
    "To": _email(to="ann@example.com\nBcc: everyone@example.com"),
    "To (trailing LF)": _email(to="ann@example.com\n"),
    "Subject": _email(subject="Hi\r\nBcc: everyone@example.com"),
    "Message-ID": _email(message_id="<evt-1@eventsuite>\rX-Evil: 1"),
    "X-Correlation-Id": _email(headers={"X-Correlation-Id": "corr\n\nbody takeover"}),
    "header name": _email(headers={"X-Evil\nBcc": "x"}),
}


@pytest.mark.parametrize("name", list(INJECTIONS))
@pytest.mark.parametrize("render", [render_message, to_message])
def test_cr_or_lf_in_any_header_is_refused_naming_the_header(name: str, render: object) -> None:
    header = name.split(" ", maxsplit=1)[0]
    expected = "not a valid field name" if name == "header name" else f"mail header {header} "
    with pytest.raises(PermanentError, match=expected):
        render(INJECTIONS[name], "shop@example.test")  # type: ignore[operator]


def test_the_sender_is_checked_too() -> None:
    with pytest.raises(PermanentError, match="mail header From "):
        render_message(_email(), "shop@example.test\nBcc: x@example.com")


def test_reserved_headers_cannot_be_overridden() -> None:
    with pytest.raises(PermanentError, match="Content-Type is set by the mailer"):
        render_message(_email(headers={"Content-Type": "text/html"}), "shop@example.test")


@pytest.mark.parametrize("render", ["bytes", "message"])
def test_message_parses_back_with_every_header_and_the_body(render: str) -> None:
    mail = _email(subject="Zahlung erhalten: 12,50 €", body="Grüße,\n" + "x" * 1200 + "\n")
    raw = (
        render_message(mail, "shop@example.test")
        if render == "bytes"
        else bytes(to_message(mail, "shop@example.test"))
    )
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["From"] == "shop@example.test"
    assert parsed["To"] == "ann@example.com"
    assert parsed["Subject"] == "Zahlung erhalten: 12,50 €"
    assert parsed["Message-ID"] == "<evt-1.notifier@eventsuite>"
    assert parsed["X-Correlation-Id"] == "corr-1"
    assert parsed["Date"].datetime is not None
    assert parsed.get_content() == "Grüße,\n" + "x" * 1200 + "\n"
    assert all(len(line) <= 998 for line in raw.split(b"\n"))
    assert raw.isascii()


def test_plain_ascii_mail_is_7bit_and_readable() -> None:
    raw = render_message(_email(), "shop@example.test", date="Mon, 07 Dec 2026 10:00:00 GMT")
    assert raw == (
        b"From: shop@example.test\n"
        b"To: ann@example.com\n"
        b"Subject: Payment received\n"
        b"Message-ID: <evt-1.notifier@eventsuite>\n"
        b"Date: Mon, 07 Dec 2026 10:00:00 GMT\n"
        b"X-Correlation-Id: corr-1\n"
        b"MIME-Version: 1.0\n"
        b'Content-Type: text/plain; charset="utf-8"\n'
        b"Content-Transfer-Encoding: 7bit\n"
        b"\n"
        b"Thanks!\n"
    )
