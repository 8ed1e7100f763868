"""Customer emails rendered from the plain-text templates in ``shared/templates``.

A template's first line is the subject, the rest the body; ``string.Template`` placeholders
(``$order_id``) are filled from the event. Missing placeholders fail loudly in tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

from shared import money
from shared.envelope import Event
from shared.errors import PermanentError
from shared.ports import OutgoingEmail

TEMPLATES = Path(__file__).with_name("templates")


@cache
def _template(name: str) -> tuple[Template, Template]:
    text = (TEMPLATES / f"{name}.txt").read_text(encoding="utf-8")
    subject, _, body = text.partition("\n")
    return Template(subject), Template(body)


def format_money(amount: Mapping[str, Any], locale: str | None = None) -> str:
    """``{"amount_minor": 1999, "currency": "EUR"}`` -> ``"19.99 EUR"``; 1250 JPY ->
    ``"1,250 JPY"``; with the customer's locale ``de_DE`` -> ``"19,99\xa0€"``
    (:func:`shared.money.format_money`)."""
    try:
        return money.format_money(int(amount["amount_minor"]), str(amount["currency"]), locale)
    except money.UnknownCurrency as exc:  # no email is better than a wrong amount
        raise PermanentError(f"cannot write the amount: {exc}") from exc


def recipient(event: Event) -> str:
    """Who the event's email goes to."""
    data = event.data
    if event.name == "OrderPlaced":
        return str(data["customer"]["email"])
    return str(data["customer_email"])


def render(event: Event, *, consumer: str = "notifier") -> OutgoingEmail:
    """The email for an event; raises ``KeyError`` for events without a template."""
    data = event.data
    values: dict[str, Any] = {"order_id": data["order_id"]}
    if event.name == "OrderPlaced":
        locale = data["customer"].get("locale")
        values["greeting"] = data["customer"].get("name") or "there"
        values["total"] = format_money(data["total"], locale)
        currency = data["total"]["currency"]
        values["lines"] = "\n".join(
            f"  {item['quantity']} x {item.get('name') or item['sku']}  "
            + format_money({"amount_minor": item["unit_price_minor"], "currency": currency}, locale)
            for item in data["items"]
        )
    else:
        values["total"] = format_money(data["amount"], data.get("locale"))
        values["payment_id"] = data.get("payment_id") or "n/a"
        values["reason"] = data.get("reason", "")
    subject, body = _template(event.name)
    return OutgoingEmail(
        to=recipient(event),
        subject=subject.substitute(values),
        body=body.substitute(values).lstrip("\n"),
        message_id=f"<{event.id}.{consumer}@eventsuite>",
        headers={"X-Correlation-Id": event.correlation_id, "X-Event-Type": event.name},
    )
