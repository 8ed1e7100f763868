"""Stripe's webhook events as the suite's ``PaymentWebhookReceived`` (plain data, no SDK).

Stripe signs its webhooks with the scheme :func:`shared.orders.webhooks.verify` checks, in a
``Stripe-Signature`` header. The four event types the suite acts on:

* ``payment_intent.succeeded`` / ``payment_intent.payment_failed`` -> ``payment.succeeded`` /
  ``payment.failed`` (the outcome of a PaymentIntent that was still processing when charged);
* ``charge.refunded`` -> ``payment.refunded``; ``charge.dispute.created`` -> ``payment.disputed``.

The order id comes from the object's ``metadata.order_id`` (the gateway sets it on every
PaymentIntent); a charge or dispute without it names its PaymentIntent, which the payments
consumer resolves through the gateway. Other event types are acknowledged and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.errors import ValidationFailed
from shared.money import UnknownCurrency, check_currency, exponent

KINDS = {
    "payment_intent.succeeded": "payment.succeeded",
    "payment_intent.payment_failed": "payment.failed",
    "charge.refunded": "payment.refunded",
    "charge.dispute.created": "payment.disputed",
}
# Stripe's own decimals per currency (its "zero-decimal" and "three-decimal" lists); every other
# currency takes two, even where ISO 4217 has none (HUF, ISK: Stripe wants the amount x 100).
STRIPE_ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA"}
    | {"PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
STRIPE_THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})


def stripe_decimals(currency: str) -> int:
    """How many decimals Stripe's ``amount`` has for ``currency``."""
    if currency in STRIPE_ZERO_DECIMAL:
        return 0
    return 3 if currency in STRIPE_THREE_DECIMAL else 2


def to_stripe_amount(amount_minor: int, currency: str) -> int:
    """ISO 4217 minor units -> Stripe's ``amount`` (the same number for almost every currency);
    ``ValueError`` when Stripe cannot represent it."""
    shift = stripe_decimals(currency) - exponent(currency)
    if shift >= 0:
        return amount_minor * _power(shift)
    amount, rest = divmod(amount_minor, _power(-shift))
    if rest:
        raise ValueError(f"{currency} amounts at Stripe have {stripe_decimals(currency)} decimals")
    return amount


def from_stripe_amount(amount: int, currency: str) -> int:
    """Stripe's ``amount`` -> ISO 4217 minor units."""
    shift = stripe_decimals(currency) - exponent(currency)
    return amount // _power(shift) if shift >= 0 else amount * _power(-shift)


def _power(digits: int) -> int:
    return int(10**digits)


def _text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def stripe_webhook_data(body: Any) -> dict[str, Any] | None:
    """``PaymentWebhookReceived`` data (less ``received_at``) for a verified Stripe event body;
    None for event types the suite ignores; ``ValidationFailed`` for a malformed one."""
    if not isinstance(body, Mapping) or body.get("object") != "event":
        raise ValidationFailed(["a Stripe webhook body is an event object"])
    event_id, kind = body.get("id"), KINDS.get(str(body.get("type")))
    if not isinstance(event_id, str) or not event_id.startswith("evt_"):
        raise ValidationFailed(["'id' must be a Stripe event id (evt_...)"])
    if kind is None:
        return None
    data = body.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping):
        raise ValidationFailed(["'data.object' must be the Stripe object the event is about"])
    if kind in ("payment.succeeded", "payment.failed"):
        payment_id = obj.get("id")
        amount = obj.get("amount_received") if kind == "payment.succeeded" else obj.get("amount")
    else:
        payment_id = obj.get("payment_intent")
        amount = obj.get("amount_refunded") if kind == "payment.refunded" else obj.get("amount")
    if not isinstance(payment_id, str) or not payment_id.startswith("pi_"):
        raise ValidationFailed([f"a {body.get('type')} event must name its PaymentIntent (pi_...)"])
    metadata = obj.get("metadata")
    order_id = metadata.get("order_id") if isinstance(metadata, Mapping) else None
    try:
        currency = check_currency(str(obj.get("currency", "")).upper())
    except UnknownCurrency as exc:
        raise ValidationFailed([f"data.object.{exc}"]) from exc
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValidationFailed(["data.object's amount must be a non-negative integer"])
    error = obj.get("last_payment_error")
    error = error if isinstance(error, Mapping) else {}
    return {
        "provider_event_id": event_id,
        "kind": kind,
        "order_id": order_id if isinstance(order_id, str) and order_id else None,
        "payment_id": payment_id[:100],
        "amount": {"amount_minor": from_stripe_amount(amount, currency), "currency": currency},
        "decline_code": _text(error.get("decline_code") or error.get("code"), 100)
        if kind == "payment.failed"
        else None,
        "reason": _text(error.get("message"), 500) if kind == "payment.failed" else None,
    }
