"""Signed payment-provider webhooks: signatures and the ``POST /webhooks/payments`` endpoint.

Signature header (Stripe's scheme): ``Eventsuite-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]``
where ``v1 = HMAC-SHA256(secret, f"{t}.".encode() + body)``; Stripe itself sends the same in
``Stripe-Signature`` with its own event bodies (:mod:`shared.orders.stripe_events`). Several
``v1`` values and several secrets are accepted so keys can rotate. Timestamps outside the
tolerance window are rejected to stop replays; comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from cloudevents.http import CloudEvent

from shared.catalog import Catalog
from shared.envelope import new_event, utc_now_iso
from shared.errors import InvalidSignature, SchemaViolation, ValidationFailed
from shared.http import HttpProblem, HttpRequest, HttpResponse, json_body
from shared.ids import derived_event_id
from shared.money import UnknownCurrency, check_currency
from shared.orders.stripe_events import stripe_webhook_data
from shared.ports import Clock, EventPublisher, WebhookConfig

SIGNATURE_HEADER = "Eventsuite-Signature"
STRIPE_SIGNATURE_HEADER = "Stripe-Signature"
MAX_HEADER_LENGTH = 2048
WEBHOOK_KINDS = {"payment.refunded", "payment.disputed"}


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The header value a provider would send for ``body`` at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(
    body: bytes,
    header: str | None,
    secrets: Sequence[str],
    *,
    now: float,
    tolerance_seconds: int = 300,
) -> int:
    """Check a webhook's signature; return its timestamp or raise ``InvalidSignature``."""
    if not secrets:
        raise InvalidSignature("no webhook secret is configured")
    if not header:
        raise InvalidSignature(f"missing {SIGNATURE_HEADER} header")
    if len(header) > MAX_HEADER_LENGTH:
        raise InvalidSignature("signature header too long")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        # isascii(): str.isdigit() also accepts digits like "²" that int() refuses.
        if name == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value.isascii() and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise InvalidSignature("malformed signature header")
    if abs(now - timestamp) > tolerance_seconds:
        raise InvalidSignature("signature timestamp outside the tolerance window")
    signed = f"{timestamp}.".encode() + body
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        # compare_digest on every candidate: no early exit leaks which one matched
        if any(hmac.compare_digest(expected, candidate) for candidate in signatures):
            return timestamp
    raise InvalidSignature("signature does not match")


def _generic_webhook_data(body: Any) -> dict[str, Any] | None:
    """``PaymentWebhookReceived`` data (less ``received_at``) for the suite's own webhook body;
    None for ignored types."""
    if not isinstance(body, Mapping) or not isinstance(body.get("data"), Mapping):
        raise ValidationFailed(["body must be an object with 'id', 'type' and 'data'"])
    provider_id, kind, data = body.get("id"), body.get("type"), body["data"]
    if not isinstance(provider_id, str) or not provider_id:
        raise ValidationFailed(["'id' must be a non-empty string"])
    if kind not in WEBHOOK_KINDS:
        return None
    if not isinstance(data.get("order_id"), str):
        raise ValidationFailed(["data.order_id must name the order"])
    amount = None
    if "amount_minor" in data:
        try:
            currency = check_currency(data.get("currency"))
        except UnknownCurrency as exc:
            raise ValidationFailed([f"data.{exc}"]) from exc
        amount = {"amount_minor": data.get("amount_minor"), "currency": currency}
    return {
        "provider_event_id": provider_id,
        "kind": kind,
        "order_id": data.get("order_id"),
        "payment_id": data.get("payment_id"),
        "amount": amount,
    }


def _webhook_event(data: dict[str, Any] | None, now: float, catalog: Catalog) -> CloudEvent | None:
    """The ``PaymentWebhookReceived`` event for verified webhook data; None for ignored types.

    Its id derives from the provider's event id: a redelivered webhook is the same event.
    """
    if data is None:
        return None
    payload = {**data, "received_at": utc_now_iso(now)}
    try:
        return new_event(
            "PaymentWebhookReceived",
            payload,
            source=f"{catalog.source}/payment-webhook",
            subject=str(data.get("order_id") or data.get("payment_id")),
            event_id=derived_event_id("PaymentWebhookReceived", str(data["provider_event_id"])),
            catalog=catalog,
        )
    except SchemaViolation as exc:  # the provider sent data our event cannot represent
        raise ValidationFailed([exc.reason]) from exc


def receive_payment_webhook(
    request: HttpRequest,
    *,
    webhook: WebhookConfig,
    publisher: EventPublisher,
    clock: Clock,
    catalog: Catalog,
) -> HttpResponse:
    """``POST /webhooks/payments``: verify the signature, publish ``PaymentWebhookReceived``.

    Two bodies, told apart by their signature header: Stripe's events (``Stripe-Signature``,
    :mod:`shared.orders.stripe_events`), and the suite's own (``Eventsuite-Signature``):
    ``{"id": provider event id, "type": "payment.refunded" | "payment.disputed" | ...,
    "data": {"order_id", "payment_id"?, "amount_minor"?, "currency"?}}``. Other types are
    acknowledged and ignored so the provider stops resending them. A publish failure is a 503:
    the provider retries the webhook later.
    """
    stripe_header = request.header(STRIPE_SIGNATURE_HEADER)
    verify(
        request.body,
        stripe_header or request.header(SIGNATURE_HEADER),
        webhook.secrets,
        now=clock.now(),
        tolerance_seconds=webhook.tolerance_seconds,
    )
    try:
        body = json_body(request)
        data = stripe_webhook_data(body) if stripe_header else _generic_webhook_data(body)
        event = _webhook_event(data, clock.now(), catalog)
    except ValidationFailed as exc:
        raise HttpProblem(400, "invalid webhook", exc.problems) from exc
    if event is None:
        return HttpResponse(200, {"ignored": True})
    publisher.publish([event])
    return HttpResponse(202, {"accepted": True, "event_id": event["id"]})
