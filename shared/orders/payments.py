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
    """Handle ``OrderPlaced`` (charge) and ``PaymentWebhookReceived`` (the provider's late
    outcomes, refunds, disputes)."""
    order: OrderRecord | None
    if event.name == "OrderPlaced":
        order = _charge(event, orders, gateway, clock, catalog)
    elif event.name == "PaymentWebhookReceived":
        order = _webhook(event, orders, gateway, clock, catalog)
    else:  # the dispatcher only routes subscribed events; this guards catalog edits
        raise PermanentError(f"payments cannot handle {event.name}")
    if order is not None:
        # Whatever this or an earlier (crashed) attempt wrote, the outbox holds what is not
        # announced yet; publishing it again after a crash is deduplicated downstream.
        relay(orders, publisher, order)


def _announcement(
    name: str,
    data: Mapping[str, Any],
    cause: Event,
    order: OrderRecord,
    catalog: Catalog,
    *,
    causation_id: str | None = None,
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
    if causation_id:
        event["causationid"] = causation_id
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


def _outcome(
    cause: Event, order: OrderRecord, catalog: Catalog, *, causation_id: str | None = None
) -> dict[str, Any]:
    amount = {"amount_minor": order.amount_minor, "currency": order.currency}
    if order.status is OrderStatus.PAID:
        data: dict[str, Any] = {
            "order_id": order.order_id,
            "payment_id": order.payment_id or "unknown",
            "amount": amount,
            "customer_email": order.customer_email,
            "locale": order.locale,
        }
        return _announcement(
            "PaymentReceived", data, cause, order, catalog, causation_id=causation_id
        )
    data = {
        "order_id": order.order_id,
        "decline_code": order.decline_code or "declined",
        "reason": order.failure_reason or "declined",
        "amount": amount,
        "customer_email": order.customer_email,
        "locale": order.locale,
    }
    return _announcement("PaymentFailed", data, cause, order, catalog, causation_id=causation_id)


def _webhook_order(event: Event, orders: OrderStore, gateway: PaymentGateway) -> OrderRecord:
    """The order a webhook is about: named by it, or the one its payment was made for."""
    data = event.data
    order_id, payment_id = data.get("order_id"), data.get("payment_id")
    if not order_id and payment_id:
        order_id = gateway.order_of_payment(payment_id)
        if not order_id:
            raise PermanentError(f"webhook for unknown PaymentIntent {payment_id}: no order")
    order = orders.get(order_id) if order_id else None
    if order is None:
        raise PermanentError(f"webhook for unknown order {order_id} (payment {payment_id})")
    if payment_id and order.payment_id and order.payment_id != payment_id:
        raise PermanentError(
            f"webhook for payment {payment_id} of order {order.order_id}, "
            f"which was paid by {order.payment_id}"
        )
    return order


def _settle(
    event: Event, order: OrderRecord, orders: OrderStore, clock: Clock, catalog: Catalog
) -> OrderRecord:
    """A provider's late outcome (``payment.succeeded`` / ``payment.failed``) of a charge that
    was pending; an order already decided keeps its outcome (the synchronous answer and the
    webhook tell the same story, and either may come first)."""
    data = event.data
    if order.status is not OrderStatus.PLACED:
        return order
    approved = data["kind"] == "payment.succeeded"
    target = OrderStatus.PAID if approved else OrderStatus.PAYMENT_FAILED
    decline_code = None if approved else data.get("decline_code") or "declined"
    reason = None if approved else data.get("reason") or "the provider declined the payment"
    changes = transition_changes(
        target, utc_now_iso(clock.now()), data.get("payment_id"), decline_code, reason
    )
    # The customer reads "payment received" after "order confirmed": the outcome follows the
    # order's placement, whatever delivered it.
    placed_id = derived_event_id("OrderPlaced", order.order_id)
    outcome = _outcome(event, transitioned(order, changes), catalog, causation_id=placed_id)
    orders.transition(
        order.order_id,
        from_status=OrderStatus.PLACED,
        to_status=target,
        now=changes["updated_at"],
        payment_id=data.get("payment_id"),
        decline_code=decline_code,
        failure_reason=reason,
        outbox=(*order.outbox, outcome),
    )
    return orders.get(order.order_id) or order


def _webhook(
    event: Event, orders: OrderStore, gateway: PaymentGateway, clock: Clock, catalog: Catalog
) -> OrderRecord | None:
    data = event.data
    order = _webhook_order(event, orders, gateway)
    if data["kind"] in ("payment.succeeded", "payment.failed"):
        return _settle(event, order, orders, clock, catalog)
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
