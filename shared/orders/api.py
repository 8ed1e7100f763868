"""The orders HTTP API: ``POST /orders`` places an order."""

from __future__ import annotations

import logging
from dataclasses import replace

from shared.catalog import Catalog
from shared.envelope import new_event, to_structured, utc_now_iso
from shared.errors import TransientError, ValidationFailed
from shared.http import HttpProblem, HttpRequest, HttpResponse, correlation_id, json_body
from shared.ids import derived_event_id
from shared.orders.model import (
    IDEMPOTENCY_KEY,
    ORDER_ID,
    new_order,
    order_placed_data,
    parse_order_request,
    same_order,
)
from shared.orders.outbox import relay
from shared.ports import Clock, EventPublisher, OrderStore

logger = logging.getLogger("eventsuite.orders")


def get_order(request: HttpRequest, *, orders: OrderStore) -> HttpResponse:
    """``GET /orders/{order_id}``: the order's status, amount, payment and the time of each
    transition; 404 for an unknown (or malformed) id. The customer's address is not returned."""
    order_id = request.params.get("order_id", "")
    order = orders.get(order_id) if ORDER_ID.fullmatch(order_id) else None
    if order is None:
        raise HttpProblem(404, "order not found", [f"no order {order_id!r}"])
    body = {
        "order_id": order.order_id,
        "status": order.status.value,
        "amount": {"amount_minor": order.amount_minor, "currency": order.currency},
        "items": [dict(item) for item in order.items],
        "payment_id": order.payment_id,
        "decline_code": order.decline_code,
        "failure_reason": order.failure_reason,
        "correlation_id": order.correlation_id,
        "transitions": {
            status: at
            for status, at in (
                ("PLACED", order.placed_at),
                ("PAID", order.paid_at),
                ("PAYMENT_FAILED", order.payment_failed_at),
                ("REFUNDED", order.refunded_at),
            )
            if at
        },
        "updated_at": order.updated_at,
    }
    headers = {"X-Correlation-Id": order.correlation_id} if order.correlation_id else {}
    return HttpResponse(200, body, headers)


def place_order(
    request: HttpRequest,
    *,
    orders: OrderStore,
    publisher: EventPublisher,
    clock: Clock,
    catalog: Catalog,
) -> HttpResponse:
    """``POST /orders``: validate, store, publish ``OrderPlaced``; 202 with the order id.

    An ``Idempotency-Key`` header makes retries safe: the same key returns the same order
    (and re-publishes its ``OrderPlaced`` with the same event id, which consumers dedupe);
    the same key with a different body is a 409. Once the order is stored it is accepted, even
    if announcing it fails (``"announcement": "deferred"``: the order reconciler announces it);
    503 means nothing was stored.
    """
    correlation = correlation_id(request)
    reply_headers = {"X-Correlation-Id": correlation}
    key = request.header("Idempotency-Key")
    try:
        if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
            raise ValidationFailed(["Idempotency-Key must be 8-128 characters [A-Za-z0-9._:-]"])
        fields = parse_order_request(json_body(request))
    except ValidationFailed as exc:
        raise HttpProblem(400, "invalid order", exc.problems, reply_headers) from exc
    candidate = new_order(
        fields,
        placed_at=utc_now_iso(clock.now()),
        idempotency_key=key,
        correlation_id=correlation,
    )
    event_id = derived_event_id("OrderPlaced", candidate.order_id)
    placed = new_event(
        "OrderPlaced",
        order_placed_data(candidate),
        source=f"{catalog.source}/orders-api",
        correlation_id=correlation,
        subject=candidate.order_id,
        event_id=event_id,
        catalog=catalog,
    )
    # The order and the event that announces it are one write (the order's outbox).
    stored, created = orders.create(replace(candidate, outbox=(to_structured(placed),)))
    if not created and not same_order(stored, candidate):
        raise HttpProblem(
            409, "Idempotency-Key was already used for a different order", headers=reply_headers
        )
    announced = True
    try:
        relay(orders, publisher, stored)
    except TransientError as exc:
        # The order is stored, so it is accepted: the scheduled relay announces it within
        # minutes with this same event id. Answering an error here would invite a client
        # without an Idempotency-Key to place (and pay for) the order twice.
        announced = False
        logger.warning(
            "order %s stored but not announced (%s); the reconciler will announce it",
            stored.order_id,
            exc.reason,
            extra={"correlation_id": correlation},
        )
    body = {
        "order_id": stored.order_id,
        "status": stored.status.value,
        "event_id": derived_event_id("OrderPlaced", stored.order_id),
    }
    if not announced:
        body["announcement"] = "deferred"
    return HttpResponse(
        202 if created else 200,
        body,
        {**reply_headers, "Location": f"/orders/{stored.order_id}"},
    )
