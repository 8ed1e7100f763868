"""Shared fixtures."""

from __future__ import annotations

from typing import Any

import pytest

from shared.envelope import new_event
from shared.ports import Ports
from tests.fakes import fake_ports


@pytest.fixture
def ports() -> Ports:
    """A complete set of in-memory fake ports."""
    return fake_ports()


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


def pytest_report_header(config: Any) -> str:
    """The fault suite's seed and size, so that any run can be replayed (tests/fault)."""
    from tests.fault.harness import fault_seed, fault_size

    return (
        f"fault suite: EVENTSUITE_FAULT_SEED={fault_seed()} "
        f"EVENTSUITE_FAULT_ORDERS={fault_size(0) or 'default'} (set them to replay a run)"
    )
