"""The payments consumer: charges placed orders and reconciles provider webhooks."""

from __future__ import annotations

import logging
from datetime import datetime

from shared.catalog import default_catalog
from shared.envelope import Event, new_event, utc_now_iso
from shared.errors import PermanentError
from shared.ids import derived_event_id
from shared.ports import (
    EventPublisher,
    OrderRecord,
    OrderStatus,
    OrderStore,
    PaymentGateway,
    Ports,
)

logger = logging.getLogger("eventsuite.payments")


def _source() -> str:
    return f"{default_catalog().source}/consumers/payments"


def process_payment(event: Event, ports: Ports) -> None:
    """Handle ``OrderPlaced`` (charge) and ``PaymentWebhookReceived`` (refunds, disputes)."""
    orders: OrderStore = ports.require("orders")
    publisher: EventPublisher = ports.require("publisher")
    if event.name == "OrderPlaced":
        _charge(event, orders, ports.require("payments"), publisher, ports)
    elif event.name == "PaymentWebhookReceived":
        _reconcile(event, orders, publisher, ports)
    else:  # the dispatcher only routes subscribed events; this guards catalog edits
        raise PermanentError(f"payments cannot handle {event.name}")


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
    publisher: EventPublisher,
    ports: Ports,
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
        now = utc_now_iso(ports.clock.now())
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
    _announce_outcome(event, order, publisher)


def _announce_outcome(cause: Event, order: OrderRecord, publisher: EventPublisher) -> None:
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
    publisher.publish(
        [
            new_event(
                name,
                data,
                source=_source(),
                cause=cause,
                subject=order.order_id,
                event_id=derived_event_id(name, order.order_id),
            )
        ]
    )


def _reconcile(event: Event, orders: OrderStore, publisher: EventPublisher, ports: Ports) -> None:
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
            now=utc_now_iso(ports.clock.now()),
        )
        order = orders.get(order.order_id) or order
    if order.status is not OrderStatus.REFUNDED:
        raise PermanentError(f"cannot refund order {order.order_id} in status {order.status}")
    amount = data.get("amount") or {"amount_minor": order.amount_minor, "currency": order.currency}
    publisher.publish(
        [
            new_event(
                "PaymentRefunded",
                {
                    "order_id": order.order_id,
                    "payment_id": order.payment_id,
                    "amount": amount,
                    "customer_email": order.customer_email,
                },
                source=_source(),
                cause=event,
                subject=order.order_id,
                event_id=derived_event_id("PaymentRefunded", order.order_id),
            )
        ]
    )
