"""The order model: request validation, new orders, and orders as stored documents."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from shared.errors import ValidationFailed
from shared.money import (
    InvalidAmount,
    UnknownCurrency,
    check_currency,
    check_locale,
    format_money,
    to_minor,
)
from shared.ports import OrderRecord, OrderStatus

MAX_ITEMS = 100
MAX_ORDER_TOTAL_MINOR = 100_000_000
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_SKU = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Patterns are applied with fullmatch: "$" would also match before a trailing newline.
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:-]{8,128}")
# A provider's reusable payment method reference (Stripe ``pm_...``, test ``pm_card_visa``),
# never card data.
PAYMENT_METHOD = re.compile(r"pm_[A-Za-z0-9_]{1,100}")
ORDER_ID = re.compile(r"ord_[A-Za-z0-9]{8,40}")


def new_order_id() -> str:
    """A fresh order id matching the schema (``ord_`` + 24 hex chars)."""
    return f"ord_{uuid.uuid4().hex[:24]}"


def _positive_int(value: Any, where: str, problems: list[str], *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        problems.append(f"{where} must be an integer >= {minimum}")
        return 0
    return value


def _optional_text(value: Any, where: str, problems: list[str]) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > 200):
        problems.append(f"{where} must be a string of at most 200 characters")
        return None
    return value


def _parse_customer(customer: Any, problems: list[str]) -> dict[str, Any]:
    if not isinstance(customer, Mapping):
        problems.append("customer must be an object with an email")
        return {"email": None, "name": None, "locale": None}
    email = customer.get("email")
    if not isinstance(email, str) or len(email) > 254 or not _EMAIL.fullmatch(email):
        problems.append("customer.email must be a valid email address")
        email = None
    locale = customer.get("locale")
    if locale is not None:
        try:
            locale = check_locale(locale)
        except ValueError as exc:
            problems.append(f"customer.{exc}")
            locale = None
    unknown = sorted(set(customer) - {"email", "name", "locale"})
    if unknown:
        problems.append(f"unknown customer field(s): {', '.join(map(str, unknown))}")
    name = _optional_text(customer.get("name"), "customer.name", problems)
    return {"email": email, "name": name, "locale": locale}


def _parse_price(
    item: Mapping[str, Any], where: str, currency: str | None, problems: list[str]
) -> int:
    """``unit_price_minor`` (integer minor units) or ``unit_price`` (a decimal string in major
    units, checked against the currency's decimals): exactly one of them."""
    if ("unit_price" in item) == ("unit_price_minor" in item):
        problems.append(f"{where} needs exactly one of unit_price_minor or unit_price")
        return 0
    if "unit_price_minor" in item:
        return _positive_int(item.get("unit_price_minor"), f"{where}.unit_price_minor", problems)
    if currency is None:  # the currency's own problem is reported already
        return 0
    try:
        return to_minor(item.get("unit_price"), currency)
    except InvalidAmount as exc:
        problems.append(f"{where}.unit_price {exc}")
        return 0


def _parse_item(
    item: Any, where: str, currency: str | None, problems: list[str]
) -> dict[str, Any] | None:
    if not isinstance(item, Mapping):
        problems.append(f"{where} must be an object")
        return None
    sku = item.get("sku")
    if not isinstance(sku, str) or not _SKU.fullmatch(sku):
        problems.append(f"{where}.sku must be 1-64 letters, digits, '.', '_' or '-'")
    quantity = _positive_int(item.get("quantity"), f"{where}.quantity", problems, minimum=1)
    if quantity > 1000:
        problems.append(f"{where}.quantity must be at most 1000")
    price = _parse_price(item, where, currency, problems)
    name = _optional_text(item.get("name"), f"{where}.name", problems)
    unknown = sorted(set(item) - {"sku", "name", "quantity", "unit_price_minor", "unit_price"})
    if unknown:
        problems.append(f"unknown {where} field(s): {', '.join(map(str, unknown))}")
    return {"sku": sku, "name": name, "quantity": quantity, "unit_price_minor": price}


def _parse_items(items_raw: Any, currency: str | None, problems: list[str]) -> list[dict[str, Any]]:
    if not isinstance(items_raw, list) or not items_raw:
        problems.append("items must be a non-empty list")
        return []
    if len(items_raw) > MAX_ITEMS:
        problems.append(f"at most {MAX_ITEMS} items per order")
        return []
    parsed = (
        _parse_item(item, f"items[{i}]", currency, problems) for i, item in enumerate(items_raw)
    )
    return [item for item in parsed if item is not None]


def parse_order_request(body: Any) -> dict[str, Any]:
    """Validate a ``POST /orders`` body; return normalised fields or raise ``ValidationFailed``.

    Body: ``{"customer": {"email", "name"?, "locale"?}, "currency", "payment_method"?,
    "items": [{"sku", "name"?, "quantity", "unit_price_minor" | "unit_price"}]}``. The currency
    must be ISO 4217 money in use; ``unit_price`` ("12.50") may not have more decimals than the
    currency (JPY none, KWD three). Every problem is reported, not just the first. The total is
    computed here, never trusted from clients.
    """
    if not isinstance(body, Mapping):
        raise ValidationFailed(["body must be a JSON object"])
    problems: list[str] = []
    customer = _parse_customer(body.get("customer"), problems)
    currency: str | None = None
    try:
        currency = check_currency(body.get("currency"))
    except UnknownCurrency as exc:
        problems.append(str(exc))
    payment_method = body.get("payment_method")
    if payment_method is not None and (
        not isinstance(payment_method, str) or not PAYMENT_METHOD.fullmatch(payment_method)
    ):
        problems.append("payment_method must be a payment method id such as pm_card_visa")
        payment_method = None
    items = _parse_items(body.get("items"), currency, problems)
    total = sum(i["quantity"] * i["unit_price_minor"] for i in items)
    if not problems and currency is not None and total > MAX_ORDER_TOTAL_MINOR:
        limit = format_money(MAX_ORDER_TOTAL_MINOR, currency)
        problems.append(f"order total exceeds {limit}")
    unknown = sorted(set(body) - {"customer", "currency", "items", "payment_method"})
    if unknown:
        problems.append(f"unknown field(s): {', '.join(map(str, unknown))}")
    if problems:
        raise ValidationFailed(problems)
    return {
        **customer,
        "currency": currency,
        "payment_method": payment_method,
        "items": items,
        "total": total,
    }


def same_order(stored: OrderRecord, candidate: OrderRecord) -> bool:
    """Whether two orders were placed with the same request (every client-given field)."""
    return (
        stored.customer_email,
        stored.customer_name,
        stored.amount_minor,
        stored.currency,
        [dict(item) for item in stored.items],
    ) == (
        candidate.customer_email,
        candidate.customer_name,
        candidate.amount_minor,
        candidate.currency,
        [dict(item) for item in candidate.items],
    )


def order_placed_data(order: OrderRecord) -> dict[str, Any]:
    """``OrderPlaced`` v3 data for a stored order."""
    return {
        "order_id": order.order_id,
        "customer": {
            "email": order.customer_email,
            "name": order.customer_name,
            "locale": order.locale,
        },
        "total": {"amount_minor": order.amount_minor, "currency": order.currency},
        "items": [dict(item) for item in order.items],
        "placed_at": order.placed_at,
        "payment_method": order.payment_method,
    }


def new_order(
    fields: Mapping[str, Any],
    *,
    placed_at: str,
    idempotency_key: str | None,
    correlation_id: str | None = None,
) -> OrderRecord:
    """A PLACED order from validated request fields."""
    return OrderRecord(
        order_id=new_order_id(),
        status=OrderStatus.PLACED,
        customer_email=fields["email"],
        customer_name=fields["name"],
        amount_minor=fields["total"],
        currency=fields["currency"],
        items=tuple(fields["items"]),
        placed_at=placed_at,
        idempotency_key=idempotency_key,
        updated_at=placed_at,
        correlation_id=correlation_id,
        locale=fields.get("locale"),
        payment_method=fields.get("payment_method"),
    )


# ----------------------------------------------------------------------------------------------
# Orders as stored documents: one field layout for every OrderStore (DynamoDB, Table Storage,
# Firestore, SQLite). The names are what deployed stores hold: renaming one makes stored orders
# unreadable.
# ----------------------------------------------------------------------------------------------


def order_to_dict(order: OrderRecord) -> dict[str, Any]:
    """Every field of ``order`` as plain JSON values (status by value, items as a list of dicts).

    Absent optional fields are ``None``; a store that cannot hold nulls (or keys a secondary
    index on one of them) drops those keys itself.
    """
    return {
        "order_id": order.order_id,
        "status": order.status.value,
        "customer_email": order.customer_email,
        "customer_name": order.customer_name,
        "amount_minor": order.amount_minor,
        "currency": order.currency,
        "items": [dict(item) for item in order.items],
        "placed_at": order.placed_at,
        "idempotency_key": order.idempotency_key,
        "payment_id": order.payment_id,
        "decline_code": order.decline_code,
        "failure_reason": order.failure_reason,
        "updated_at": order.updated_at,
        "correlation_id": order.correlation_id,
        "paid_at": order.paid_at,
        "payment_failed_at": order.payment_failed_at,
        "refunded_at": order.refunded_at,
        "locale": order.locale,
        "payment_method": order.payment_method,
        **outbox_fields(order.outbox),
    }


def order_from_dict(data: Mapping[str, Any]) -> OrderRecord:
    """The order stored as ``data`` (inverse of :func:`order_to_dict`).

    Missing optional fields read as ``None`` and keys that are not order fields (a store's own
    keys or markers) are ignored; ``amount_minor`` is read back as an ``int``.
    """
    return OrderRecord(
        order_id=data["order_id"],
        status=OrderStatus(data["status"]),
        customer_email=data["customer_email"],
        customer_name=data.get("customer_name"),
        amount_minor=int(data["amount_minor"]),
        currency=data["currency"],
        items=tuple(dict(item) for item in data.get("items") or ()),
        placed_at=data["placed_at"],
        idempotency_key=data.get("idempotency_key"),
        payment_id=data.get("payment_id"),
        decline_code=data.get("decline_code"),
        failure_reason=data.get("failure_reason"),
        updated_at=data.get("updated_at"),
        correlation_id=data.get("correlation_id"),
        paid_at=data.get("paid_at"),
        payment_failed_at=data.get("payment_failed_at"),
        refunded_at=data.get("refunded_at"),
        locale=data.get("locale"),
        payment_method=data.get("payment_method"),
        outbox=_outbox(data.get("outbox")),
    )


def outbox_fields(outbox: Sequence[Mapping[str, Any]]) -> dict[str, str | None]:
    """How every store keeps an outbox: one JSON string (``None`` when empty) and a marker
    ``outbox_pending = "1"`` that only orders with pending events carry (a sparse index)."""
    if not outbox:
        return {"outbox": None, "outbox_pending": None}
    text = json.dumps([dict(event) for event in outbox], separators=(",", ":"), sort_keys=True)
    return {"outbox": text, "outbox_pending": "1"}


def _outbox(stored: Any) -> tuple[dict[str, Any], ...]:
    if not stored:
        return ()
    events = json.loads(stored) if isinstance(stored, str) else stored
    return tuple(dict(event) for event in events)


def transition_changes(  # noqa: PLR0917 - mirrors OrderStore.transition's outcome fields
    to_status: OrderStatus,
    now: str,
    payment_id: str | None = None,
    decline_code: str | None = None,
    failure_reason: str | None = None,
    outbox: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, str]:
    """The stored fields an ``OrderStore.transition`` sets, as :func:`order_to_dict` names them.

    Always ``status`` (by value), ``updated_at`` and the time the new status was reached
    (``paid_at`` ...); each outcome field only when given, so ``None`` keeps what the order
    already holds.
    """
    changes = {"status": to_status.value, "updated_at": now, f"{to_status.value.lower()}_at": now}
    outcome = {
        "payment_id": payment_id,
        "decline_code": decline_code,
        "failure_reason": failure_reason,
    }
    changes.update({name: value for name, value in outcome.items() if value is not None})
    if outbox:  # an empty outbox is written by ``announced``, never by a transition
        changes.update({k: v for k, v in outbox_fields(outbox).items() if v is not None})
    return changes


def transitioned(order: OrderRecord, changes: Mapping[str, str]) -> OrderRecord:
    """``order`` with :func:`transition_changes` applied (stores that rewrite whole records)."""
    fields: dict[str, Any] = dict(changes)
    fields["status"] = OrderStatus(fields["status"])
    fields.pop("outbox_pending", None)  # derived from the outbox
    if "outbox" in fields:
        fields["outbox"] = _outbox(fields["outbox"])
    return dataclasses.replace(order, **fields)


def without_announced(order: OrderRecord, event_ids: Sequence[str]) -> tuple[dict[str, Any], ...]:
    """The order's outbox less the events with ``event_ids``."""
    published = set(event_ids)
    return tuple(event for event in order.outbox if event.get("id") not in published)
