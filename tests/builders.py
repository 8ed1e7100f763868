"""Builders of test data used across the suite: orders, image documents, CloudEvents.

Each returns a valid value with defaults; keyword arguments change only what a test is about.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from shared.envelope import new_event
from shared.orders import new_order_id
from shared.ports import OrderRecord, OrderStatus

PLACED_AT = "2026-11-26T10:00:00.000Z"


def order_record(
    order_id: str | None = None,
    *,
    idempotency_key: str | None = None,
    placed_at: str = PLACED_AT,
    email: str = "ann@example.com",
    amount_minor: int = 2500,
    status: OrderStatus = OrderStatus.PLACED,
    **changes: Any,
) -> OrderRecord:
    """A placed order (a fresh id unless given) of two mugs, as the orders API stores it."""
    order = OrderRecord(
        order_id=order_id or new_order_id(),
        status=status,
        customer_email=email,
        customer_name="Ann",
        amount_minor=amount_minor,
        currency="EUR",
        items=(
            {"sku": "mug", "name": "Mug", "quantity": 2, "unit_price_minor": amount_minor // 2},
        ),
        placed_at=placed_at,
        idempotency_key=idempotency_key,
        updated_at=placed_at,
        correlation_id="corr-12345678",
    )
    return dataclasses.replace(order, **changes) if changes else order


def image_document(image_id: str, **fields: Any) -> dict[str, Any]:
    """A metadata-index document as the indexer writes it (fields override the defaults)."""
    document: dict[str, Any] = {
        "image_id": image_id,
        "bucket": "uploads",
        "key": f"uploads/{image_id}.jpg",
        "format": "JPEG",
        "mode": "RGB",
        "width": 800,
        "height": 600,
        "bytes": 3_000_000_000,
        "sha256": "ab" * 32,
        "camera_make": None,
        "camera_model": None,
        "captured_at": None,
        "orientation": 1,
        "gps": None,
        "indexed_at": "2025-01-01T00:00:00.000Z",
        "correlation_id": "c",
    }
    document.update(fields)
    return document


def order_v2(
    order_id: str = "ord_0123456789abcdef01234567",
    email: str = "ann@example.com",
    amount: int = 2500,
) -> dict[str, Any]:
    """Valid ``OrderPlaced`` v2 data."""
    return {
        "order_id": order_id,
        "customer": {"email": email, "name": "Ann"},
        "total": {"amount_minor": amount, "currency": "EUR"},
        "items": [{"sku": "mug", "name": "Mug", "quantity": 2, "unit_price_minor": amount // 2}],
        "placed_at": "2026-11-26T10:00:00.000Z",
    }


def payment_received_data(
    order_id: str = "ord_0123456789abcdef01234567",
    email: str = "ann@example.com",
    amount: int = 2500,
    payment_id: str = "pay_1",
) -> dict[str, Any]:
    """Valid ``PaymentReceived`` v1 data."""
    return {
        "order_id": order_id,
        "payment_id": payment_id,
        "customer_email": email,
        "amount": {"amount_minor": amount, "currency": "EUR"},
    }


def payment_failed_data(
    order_id: str = "ord_0123456789abcdef01234567",
    email: str = "ann@example.com",
    amount: int = 2500,
    reason: str = "declined",
) -> dict[str, Any]:
    """Valid ``PaymentFailed`` v1 data (a declined card)."""
    return {
        "order_id": order_id,
        "decline_code": "card_declined",
        "reason": reason,
        "amount": {"amount_minor": amount, "currency": "EUR"},
        "customer_email": email,
    }


def order_v1(order_id: str = "ord_0123456789abcdef01234567") -> dict[str, Any]:
    """Valid ``OrderPlaced`` v1 data (the superseded shape)."""
    return {
        "order_id": order_id,
        "customer_email": "ann@example.com",
        "amount_cents": 2500,
        "currency": "EUR",
        "items": [{"sku": "mug", "quantity": 2, "unit_price_cents": 1250}],
    }


def image_event(key: str = "uploads/a.jpg", size: int = 100, bucket: str = "uploads") -> Any:
    """An ``ImageUploaded`` CloudEvent."""
    return new_event(
        "ImageUploaded",
        {
            "bucket": bucket,
            "key": key,
            "size": size,
            "content_type": "image/jpeg",
            "uploaded_at": "2026-11-26T10:00:00Z",
        },
        source="urn:test",
    )


def searchable_images() -> list[dict[str, Any]]:
    """Two index documents that every filter of ``index search`` tells apart: a large JPEG
    with a GPS position and a small PNG without one."""
    return [
        {
            "image_id": "a1",
            "key": "uploads/a.jpg",
            "format": "JPEG",
            "width": 4000,
            "height": 3000,
            "bytes": 900_000,
            "gps": {"lat": 38.72, "lon": -9.14},
        },
        {
            "image_id": "b2",
            "key": "uploads/b.png",
            "format": "PNG",
            "width": 800,
            "height": 600,
            "bytes": 40_000,
            "gps": None,
        },
    ]
