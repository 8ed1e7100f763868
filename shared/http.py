"""HTTP producers shared by every cloud: the orders API and the payment webhook.

Entry points translate their platform's request into :class:`HttpRequest`, call
:func:`handle_endpoint` and translate the :class:`HttpResponse` back.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cloudevents.http import CloudEvent

from shared.catalog import default_catalog
from shared.dispatch import resolve_handler
from shared.envelope import new_event, utc_now_iso
from shared.errors import InvalidSignature, SchemaViolation, TransientError, ValidationFailed
from shared.ids import derived_event_id
from shared.orders import IDEMPOTENCY_KEY, new_order, order_placed_data, parse_order_request
from shared.ports import EventPublisher, OrderRecord, OrderStore, Ports
from shared.webhooks import SIGNATURE_HEADER, verify

logger = logging.getLogger("eventsuite.http")
MAX_BODY_BYTES = 64 * 1024
_CORRELATION = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
WEBHOOK_KINDS = {"payment.refunded", "payment.disputed"}


@dataclass(frozen=True)
class HttpRequest:
    """A platform-neutral HTTP request. Header names are matched case-insensitively."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """Header value by case-insensitive name."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None


@dataclass(frozen=True)
class HttpResponse:
    """A JSON response."""

    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)

    def json_bytes(self) -> bytes:
        """The body as compact JSON."""
        return json.dumps(self.body, separators=(",", ":")).encode()

    def all_headers(self) -> dict[str, str]:
        """Headers including the content type."""
        return {"Content-Type": "application/json", **self.headers}


def _problem(
    status: int,
    title: str,
    problems: list[str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    body: dict[str, Any] = {"error": title}
    if problems:
        body["problems"] = problems
    return HttpResponse(status, body, dict(headers or {}))


def _json_body(request: HttpRequest) -> Any:
    if len(request.body) > MAX_BODY_BYTES:
        raise ValidationFailed([f"body larger than {MAX_BODY_BYTES} bytes"])
    try:
        return json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed([f"body is not valid JSON: {exc}"]) from exc


def _correlation_id(request: HttpRequest) -> str:
    supplied = request.header("X-Correlation-Id")
    return supplied if supplied and _CORRELATION.match(supplied) else str(uuid.uuid4())


def _same_order(stored: OrderRecord, candidate: OrderRecord) -> bool:
    return (stored.customer_email, stored.amount_minor, stored.currency, list(stored.items)) == (
        candidate.customer_email,
        candidate.amount_minor,
        candidate.currency,
        list(candidate.items),
    )


def place_order(request: HttpRequest, ports: Ports) -> HttpResponse:
    """``POST /orders``: validate, store, publish ``OrderPlaced``; 202 with the order id.

    An ``Idempotency-Key`` header makes retries safe: the same key returns the same order
    (and re-publishes its ``OrderPlaced`` with the same event id, which consumers dedupe);
    the same key with a different body is a 409. Once the order is stored it is accepted, even
    if announcing it fails (``"announcement": "deferred"``: the order reconciler announces it);
    503 means nothing was stored.
    """
    if request.method.upper() != "POST":
        return _problem(405, "method not allowed", headers={"Allow": "POST"})
    correlation_id = _correlation_id(request)
    reply_headers = {"X-Correlation-Id": correlation_id}
    key = request.header("Idempotency-Key")
    try:
        if key is not None and not IDEMPOTENCY_KEY.match(key):
            raise ValidationFailed(["Idempotency-Key must be 8-128 characters [A-Za-z0-9._:-]"])
        fields = parse_order_request(_json_body(request))
    except ValidationFailed as exc:
        return _problem(400, "invalid order", exc.problems, reply_headers)
    orders: OrderStore = ports.require("orders")
    publisher: EventPublisher = ports.require("publisher")
    candidate = new_order(
        fields,
        placed_at=utc_now_iso(ports.clock.now()),
        idempotency_key=key,
        correlation_id=correlation_id,
    )
    try:
        stored, created = orders.create(candidate)
    except TransientError as exc:
        return _problem(503, f"order store unavailable: {exc.reason}", headers={"Retry-After": "2"})
    if not created and not _same_order(stored, candidate):
        return _problem(
            409, "Idempotency-Key was already used for a different order", headers=reply_headers
        )
    event = new_event(
        "OrderPlaced",
        order_placed_data(stored),
        source=f"{default_catalog().source}/orders-api",
        correlation_id=correlation_id,
        subject=stored.order_id,
        event_id=derived_event_id("OrderPlaced", stored.order_id),
    )
    announced = True
    try:
        publisher.publish([event])
    except TransientError as exc:
        # The order is stored, so it is accepted: the order reconciler announces it within
        # minutes with this same event id. Answering an error here would invite a client
        # without an Idempotency-Key to place (and pay for) the order twice.
        announced = False
        logger.warning(
            "order %s stored but not announced (%s); the reconciler will announce it",
            stored.order_id,
            exc.reason,
            extra={"correlation_id": correlation_id},
        )
    status = 202 if created else 200
    body = {"order_id": stored.order_id, "status": stored.status.value, "event_id": event["id"]}
    if not announced:
        body["announcement"] = "deferred"
    return HttpResponse(status, body, {**reply_headers, "Location": f"/orders/{stored.order_id}"})


def _webhook_event(body: Any, now: float) -> CloudEvent | None:
    """The ``PaymentWebhookReceived`` event for a verified body; None for ignored types."""
    if not isinstance(body, Mapping) or not isinstance(body.get("data"), Mapping):
        raise ValidationFailed(["body must be an object with 'id', 'type' and 'data'"])
    provider_id, kind, data = body.get("id"), body.get("type"), body["data"]
    if not isinstance(provider_id, str) or not provider_id:
        raise ValidationFailed(["'id' must be a non-empty string"])
    if kind not in WEBHOOK_KINDS:
        return None
    amount = None
    if "amount_minor" in data:
        amount = {"amount_minor": data.get("amount_minor"), "currency": data.get("currency")}
    payload = {
        "provider_event_id": provider_id,
        "kind": kind,
        "order_id": data.get("order_id"),
        "payment_id": data.get("payment_id"),
        "amount": amount,
        "received_at": utc_now_iso(now),
    }
    try:
        return new_event(
            "PaymentWebhookReceived",
            payload,
            source=f"{default_catalog().source}/payment-webhook",
            subject=str(data.get("order_id")),
            event_id=derived_event_id("PaymentWebhookReceived", provider_id),
        )
    except SchemaViolation as exc:  # the provider sent data our event cannot represent
        raise ValidationFailed([exc.reason]) from exc


def receive_payment_webhook(request: HttpRequest, ports: Ports) -> HttpResponse:
    """``POST /webhooks/payments``: verify the signature, publish ``PaymentWebhookReceived``.

    Body: ``{"id": provider event id, "type": "payment.refunded" | "payment.disputed" | ...,
    "data": {"order_id", "payment_id"?, "amount_minor"?, "currency"?}}``. Other types are
    acknowledged and ignored so the provider stops resending them.
    """
    if request.method.upper() != "POST":
        return _problem(405, "method not allowed", headers={"Allow": "POST"})
    if len(request.body) > MAX_BODY_BYTES:
        return _problem(413, "body too large")
    settings = ports.settings
    try:
        verify(
            request.body,
            request.header(SIGNATURE_HEADER),
            settings.webhook_secrets,
            now=ports.clock.now(),
            tolerance_seconds=settings.webhook_tolerance_seconds,
        )
        event = _webhook_event(_json_body(request), ports.clock.now())
    except InvalidSignature as exc:
        return _problem(401, f"invalid signature: {exc}")
    except ValidationFailed as exc:
        return _problem(400, "invalid webhook", exc.problems)
    if event is None:
        return HttpResponse(200, {"ignored": True})
    try:
        ports.require("publisher").publish([event])
    except TransientError as exc:
        return _problem(503, f"could not publish: {exc.reason}", headers={"Retry-After": "5"})
    return HttpResponse(202, {"accepted": True, "event_id": event["id"]})


EndpointHandler = Callable[[HttpRequest, Ports], HttpResponse]


def handle_endpoint(name: str, request: HttpRequest, ports: Ports) -> HttpResponse:
    """Call the catalog endpoint ``name``'s handler."""
    spec = default_catalog().endpoint(name)
    handler: EndpointHandler = resolve_handler(spec.handler)  # type: ignore[assignment]
    return handler(request, ports)
