"""What the operator-CLI tests of every backend share: a mailer that can be broken and fixed,
the event that parks, and a way to run the CLI in process and capture what it prints."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from functions.ops.cli import main
from shared.envelope import new_event
from shared.errors import PermanentError
from shared.ports import OutgoingEmail

ORDER_ID = "ord_operate000000000000001"


def payment_received(order_id: str = ORDER_ID) -> Any:
    """A ``PaymentReceived`` the notifier mails about."""
    return new_event(
        "PaymentReceived",
        {
            "order_id": order_id,
            "payment_id": "pay_operate1",
            "customer_email": "ann@example.com",
            "amount": {"amount_minor": 2500, "currency": "EUR"},
        },
        source="urn:eventsuite:tests:operate",
        subject=order_id,
    )


@dataclass
class SwitchableMailer:
    """A mailer with a bug (every send is a permanent failure) until ``fixed``."""

    broken: bool = True
    sent: list[OutgoingEmail] = field(default_factory=list)

    def send(self, email: OutgoingEmail) -> None:
        if self.broken:
            raise PermanentError("mail template bug: KeyError 'customer_name'")
        self.sent.append(email)


@dataclass
class Run:
    """What one CLI run printed and returned."""

    code: int
    out: str
    err: str


def cli(args: Sequence[str], env: Mapping[str, str] | None = None) -> Run:
    """Run ``eventsuite ARGS`` in process with ``env`` as its environment."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(list(args), out=out, env=dict(env or {}))
    return Run(code, out.getvalue(), err.getvalue())
