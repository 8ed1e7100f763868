"""The payments consumer: charges placed orders and reconciles provider webhooks."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.catalog import Catalog
from shared.envelope import Event, new_event, utc_now_iso
from shared.errors import PermanentError
from shared.ids import derived_event_id
from shared.ports import (
    Clock,
    EventPublisher,
    OrderRecord,
    OrderStatus,
    OrderStore,
    PaymentGateway,
)

logger = logging.getLogger("eventsuite.payments")


def process_payment(
    event: Event,
    *,
    orders: OrderStore,
    gateway: PaymentGateway,
    publisher: EventPublisher,
    clock: Clock,
    catalog: Catalog,
) -> None:
    """Handle ``OrderPlaced`` (charge) and ``PaymentWebhookReceived`` (refunds, disputes)."""
    announce = _Announcer(publisher, catalog)
    if event.name == "OrderPlaced":
        _charge(event, orders, gateway, announce, clock)
    elif event.name == "PaymentWebhookReceived":
        _reconcile(event, orders, announce, clock)
    else:  # the dispatcher only routes subscribed events; this guards catalog edits
        raise PermanentError(f"payments cannot handle {event.name}")


class _Announcer:
    """Publishes the payment outcome events of one order (ids derived from the order)."""

    def __init__(self, publisher: EventPublisher, catalog: Catalog) -> None:
        self.publisher, self.catalog = publisher, catalog

    def __call__(
        self, name: str, data: Mapping[str, Any], cause: Event, order: OrderRecord
    ) -> None:
        self.publisher.publish(
            [
                new_event(
                    name,
                    data,
                    source=f"{self.catalog.source}/consumers/payments",
                    cause=cause,
                    # Every event of an order carries the order's correlation id, also when
                    # the cause (a provider webhook) came in without it.
                    correlation_id=order.correlation_id or cause.correlation_id,
                    subject=order.order_id,
                    event_id=derived_event_id(name, order.order_id),
                    catalog=self.catalog,
                )
            ]
        )


def _record_from_event(event: Event) -> OrderRecord:
    data = event.data
    return OrderRecord(
        order_id=data["order_id"],
        status=OrderStatus.PLACED,
        customer_email=data["customer"]["email"],
        customer_name=data["customer"].get("name"),
        amount_minor=data["total"]["amount_minor"],
        currency=data["total"]["currency"],
        items=tuple(dict(i) for i in data["items"]),
        # Stored times compare as strings (the reconciler's windows): normalise to UTC "Z".
        placed_at=utc_now_iso(datetime.fromisoformat(data["placed_at"]).timestamp()),
    )


def _charge(
    event: Event,
    orders: OrderStore,
    gateway: PaymentGateway,
    announce: _Announcer,
    clock: Clock,
) -> None:
    order_id = event.data["order_id"]
    order = orders.get(order_id)
    if order is None:  # produced elsewhere (e.g. a v1 producer): adopt the order
        order, _ = orders.create(_record_from_event(event))
    if order.status is OrderStatus.PLACED:
        result = gateway.charge(
            order_id=order_id,
            amount_minor=order.amount_minor,
            currency=order.currency,
            customer_email=order.customer_email,
            idempotency_key=f"{order_id}:charge",
        )
        now = utc_now_iso(clock.now())
        target = OrderStatus.PAID if result.approved else OrderStatus.PAYMENT_FAILED
        orders.transition(
            order_id,
            from_status=OrderStatus.PLACED,
            to_status=target,
            now=now,
            payment_id=result.payment_id,
            decline_code=result.decline_code,
            failure_reason=result.reason,
        )
        # Whoever won a concurrent transition, the stored state is the truth we announce.
        order = orders.get(order_id) or order
    # Re-announcing after a crash is safe: the outcome's event id is derived from the order.
    _announce_outcome(event, order, announce)


def _announce_outcome(cause: Event, order: OrderRecord, announce: _Announcer) -> None:
    amount = {"amount_minor": order.amount_minor, "currency": order.currency}
    if order.status in (OrderStatus.PAID, OrderStatus.REFUNDED):
        name, data = (
            "PaymentReceived",
            {
                "order_id": order.order_id,
                "payment_id": order.payment_id or "unknown",
                "amount": amount,
                "customer_email": order.customer_email,
            },
        )
    elif order.status is OrderStatus.PAYMENT_FAILED:
        name, data = (
            "PaymentFailed",
            {
                "order_id": order.order_id,
                "decline_code": order.decline_code or "declined",
                "reason": order.failure_reason or "declined",
                "amount": amount,
                "customer_email": order.customer_email,
            },
        )
    else:
        raise PermanentError(f"order {order.order_id} is in unexpected status {order.status}")
    announce(name, data, cause, order)


def _reconcile(event: Event, orders: OrderStore, announce: _Announcer, clock: Clock) -> None:
    data = event.data
    order = orders.get(data["order_id"])
    if order is None:
        raise PermanentError(f"webhook for unknown order {data['order_id']}")
    if data["kind"] == "payment.disputed":
        logger.warning(
            "payment disputed for order %s; manual review needed",
            order.order_id,
            extra={"correlation_id": event.correlation_id},
        )
        return
    if order.status is OrderStatus.PAID:
        orders.transition(
            order.order_id,
            from_status=OrderStatus.PAID,
            to_status=OrderStatus.REFUNDED,
            now=utc_now_iso(clock.now()),
        )
        order = orders.get(order.order_id) or order
    if order.status is not OrderStatus.REFUNDED:
        raise PermanentError(f"cannot refund order {order.order_id} in status {order.status}")
    amount = data.get("amount") or {"amount_minor": order.amount_minor, "currency": order.currency}
    refunded = {
        "order_id": order.order_id,
        "payment_id": order.payment_id,
        "amount": amount,
        "customer_email": order.customer_email,
    }
    announce("PaymentRefunded", refunded, event, order)
