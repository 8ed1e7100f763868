"""The payments consumer: charges placed orders and reconciles provider webhooks.

Every status change is written together with the event that announces it (the order's
outbox, :mod:`shared.orders.outbox`) and relayed right after; a crash in between leaves the
event in the outbox for the redelivery of the same cause, or for the scheduled relay.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cloudevents.http import CloudEvent

from shared.catalog import Catalog
from shared.envelope import Event, new_event, to_structured, utc_now_iso
from shared.errors import PermanentError
from shared.ids import derived_event_id
from shared.money import UnknownCurrency, check_currency
from shared.orders.model import transition_changes, transitioned
from shared.orders.outbox import relay
from shared.ports import (
    ChargeResult,
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
    order: OrderRecord | None
    if event.name == "OrderPlaced":
        order = _charge(event, orders, gateway, clock, catalog)
    elif event.name == "PaymentWebhookReceived":
        order = _refund(event, orders, clock, catalog)
    else:  # the dispatcher only routes subscribed events; this guards catalog edits
        raise PermanentError(f"payments cannot handle {event.name}")
    if order is not None:
        # Whatever this or an earlier (crashed) attempt wrote, the outbox holds what is not
        # announced yet; publishing it again after a crash is deduplicated downstream.
        relay(orders, publisher, order)


def _announcement(
    name: str, data: Mapping[str, Any], cause: Event, order: OrderRecord, catalog: Catalog
) -> dict[str, Any]:
    """A structured event about ``order`` for its outbox (id derived from the order)."""
    event: CloudEvent = new_event(
        name,
        data,
        source=f"{catalog.source}/consumers/payments",
        cause=cause,
        # Every event of an order carries the order's correlation id, also when the cause
        # (a provider webhook) came in without it.
        correlation_id=order.correlation_id or cause.correlation_id,
        subject=order.order_id,
        event_id=derived_event_id(name, order.order_id),
        catalog=catalog,
    )
    return to_structured(event)


def _record_from_event(event: Event) -> OrderRecord:
    data = event.data
    placed_at = utc_now_iso(datetime.fromisoformat(data["placed_at"]).timestamp())
    return OrderRecord(
        order_id=data["order_id"],
        status=OrderStatus.PLACED,
        customer_email=data["customer"]["email"],
        customer_name=data["customer"].get("name"),
        amount_minor=data["total"]["amount_minor"],
        currency=data["total"]["currency"],
        items=tuple(dict(i) for i in data["items"]),
        # Stored times compare as strings (the relay's windows): normalise to UTC "Z".
        placed_at=placed_at,
        updated_at=placed_at,
        correlation_id=event.correlation_id,
        locale=data["customer"].get("locale"),
        payment_method=data.get("payment_method"),
    )


def _charge(
    event: Event, orders: OrderStore, gateway: PaymentGateway, clock: Clock, catalog: Catalog
) -> OrderRecord:
    order_id = event.data["order_id"]
    order = orders.get(order_id)
    if order is None:  # produced elsewhere (e.g. a v1 producer): adopt the order
        order, _ = orders.create(_record_from_event(event))
    if order.status is OrderStatus.PLACED:
        result = _charge_decision(order, gateway)
        if result.pending:
            # The provider is still processing: its webhook (payment_intent.succeeded or
            # .payment_failed) decides; a redelivery asks again with the same key.
            logger.info(
                "payment of order %s is pending at the provider (%s)",
                order_id,
                result.payment_id,
                extra={"correlation_id": order.correlation_id or event.correlation_id},
            )
            return order
        target = OrderStatus.PAID if result.approved else OrderStatus.PAYMENT_FAILED
        changes = transition_changes(
            target, utc_now_iso(clock.now()), result.payment_id, result.decline_code, result.reason
        )
        outcome = _outcome(event, transitioned(order, changes), catalog)
        orders.transition(
            order_id,
            from_status=OrderStatus.PLACED,
            to_status=target,
            now=changes["updated_at"],
            payment_id=result.payment_id,
            decline_code=result.decline_code,
            failure_reason=result.reason,
            outbox=(*order.outbox, outcome),
        )
        # Whoever won a concurrent transition, the stored order (and its outbox) is the truth.
        order = orders.get(order_id) or order
    if order.status is OrderStatus.PLACED:
        raise PermanentError(f"order {order_id} is still PLACED after charging it")
    return order


def _charge_decision(order: OrderRecord, gateway: PaymentGateway) -> ChargeResult:
    """The gateway's answer for ``order``; an order whose currency is not ISO 4217 money in use
    (adopted from another producer) is declined without asking the provider."""
    try:
        check_currency(order.currency)
    except UnknownCurrency as exc:
        return ChargeResult(False, decline_code="invalid_currency", reason=str(exc))
    return gateway.charge(
        order_id=order.order_id,
        amount_minor=order.amount_minor,
        currency=order.currency,
        customer_email=order.customer_email,
        idempotency_key=f"{order.order_id}:charge",
        payment_method=order.payment_method,
    )


def _outcome(cause: Event, order: OrderRecord, catalog: Catalog) -> dict[str, Any]:
    amount = {"amount_minor": order.amount_minor, "currency": order.currency}
    if order.status is OrderStatus.PAID:
        data: dict[str, Any] = {
            "order_id": order.order_id,
            "payment_id": order.payment_id or "unknown",
            "amount": amount,
            "customer_email": order.customer_email,
            "locale": order.locale,
        }
        return _announcement("PaymentReceived", data, cause, order, catalog)
    data = {
        "order_id": order.order_id,
        "decline_code": order.decline_code or "declined",
        "reason": order.failure_reason or "declined",
        "amount": amount,
        "customer_email": order.customer_email,
        "locale": order.locale,
    }
    return _announcement("PaymentFailed", data, cause, order, catalog)


def _refund(event: Event, orders: OrderStore, clock: Clock, catalog: Catalog) -> OrderRecord | None:
    data = event.data
    order = orders.get(data["order_id"])
    if order is None:
        raise PermanentError(f"webhook for unknown order {data['order_id']}")
    if data["kind"] == "payment.disputed":
        logger.warning(
            "payment disputed for order %s; manual review needed",
            order.order_id,
            extra={"correlation_id": order.correlation_id or event.correlation_id},
        )
        return None
    if order.status is OrderStatus.PAID:
        amount = data.get("amount") or {
            "amount_minor": order.amount_minor,
            "currency": order.currency,
        }
        refunded = {
            "order_id": order.order_id,
            "payment_id": order.payment_id,
            "amount": amount,
            "customer_email": order.customer_email,
            "locale": order.locale,
        }
        announcement = _announcement("PaymentRefunded", refunded, event, order, catalog)
        orders.transition(
            order.order_id,
            from_status=OrderStatus.PAID,
            to_status=OrderStatus.REFUNDED,
            now=utc_now_iso(clock.now()),
            outbox=(*order.outbox, announcement),
        )
        order = orders.get(order.order_id) or order
    if order.status is not OrderStatus.REFUNDED:
        raise PermanentError(f"cannot refund order {order.order_id} in status {order.status}")
    return order
