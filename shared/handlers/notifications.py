"""The notifier consumer: one email per order fact."""

from __future__ import annotations

from shared.envelope import Event
from shared.notifications import render
from shared.ports import Mailer, Ports


def notify_customer(event: Event, ports: Ports) -> None:
    """Email the customer about ``event`` through the ``Mailer`` port."""
    mailer: Mailer = ports.require("mailer")
    mailer.send(render(event))
