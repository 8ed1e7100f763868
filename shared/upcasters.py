"""Upcasters turn an old event version into the next one, so handlers only see the current one.

Register one function per (event name, from version). The catalog says which versions exist
and where each upcasts to; ``tests/unit/test_catalog.py`` checks every ``upcast_to`` has one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

JsonDict = dict[str, Any]
Upcaster = Callable[[JsonDict, str], JsonDict]

UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register ``fn(data, event_time) -> data`` as the upcaster of ``event`` v``from_version``."""

    def register(fn: Upcaster) -> Upcaster:
        UPCASTERS[(event, from_version)] = fn
        return fn

    return register


@upcaster("OrderPlaced", 1)
def order_placed_v1_to_v2(data: JsonDict, event_time: str) -> JsonDict:
    """v1 had a flat email and amount in cents; v2 nests customer and total, names minor units.

    v1 carried no placement time, so the event's own ``time`` stands in for it.
    """
    return {
        "order_id": data["order_id"],
        "customer": {"email": data["customer_email"], "name": None},
        "total": {"amount_minor": data["amount_cents"], "currency": data["currency"]},
        "items": [
            {
                "sku": item["sku"],
                "name": None,
                "quantity": item["quantity"],
                "unit_price_minor": item["unit_price_cents"],
            }
            for item in data["items"]
        ],
        "placed_at": event_time,
    }


@upcaster("OrderPlaced", 2)
def order_placed_v2_to_v3(data: JsonDict, event_time: str) -> JsonDict:
    """v3 adds the customer's locale and the payment method; v2 orders had neither."""
    return {
        **data,
        "customer": {**data["customer"], "locale": None},
        "payment_method": None,
    }


def _with_locale(data: JsonDict, event_time: str) -> JsonDict:
    """v2 of the payment outcomes adds the order's locale; v1 emails use the default format."""
    return {**data, "locale": None}


for _name in ("PaymentReceived", "PaymentFailed", "PaymentRefunded"):
    upcaster(_name, 1)(_with_locale)


@upcaster("PaymentWebhookReceived", 1)
def payment_webhook_v1_to_v2(data: JsonDict, event_time: str) -> JsonDict:
    """v2 adds the payment outcome kinds and their decline code and reason (none in v1)."""
    return {**data, "decline_code": None, "reason": None}
