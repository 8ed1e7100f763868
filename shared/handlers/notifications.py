"""The notifier consumer: one email per order fact."""

from __future__ import annotations

from shared.envelope import Event
from shared.notifications import render
from shared.ports import Mailer


def notify_customer(event: Event, *, mailer: Mailer) -> None:
    """Email the customer about ``event`` through the ``Mailer`` port."""
    mailer.send(render(event))
