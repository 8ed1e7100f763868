"""The stored shapes every backend shares: orders as documents, dead-letter records, and the
entry points' build-once client cache."""

from __future__ import annotations

import dataclasses
import json
import threading
import time

from functions.common.cache import LazyClients, OnceCache
from shared.deadletter import DeadLetterRecord
from shared.orders import order_from_dict, order_to_dict, transition_changes, transitioned
from shared.ports import OrderRecord, OrderStatus

ORDER = OrderRecord(
    order_id="ord_0123456789abcdef01234567",
    status=OrderStatus.PLACED,
    customer_email="ann@example.com",
    customer_name=None,
    amount_minor=2500,
    currency="EUR",
    items=({"sku": "mug", "name": None, "quantity": 2, "unit_price_minor": 1250},),
    placed_at="2024-05-01T10:00:00.000Z",
    idempotency_key="key-00000001",
    updated_at="2024-05-01T10:00:00.000Z",
)


def test_an_order_document_holds_every_field_under_its_stored_name() -> None:
    document = order_to_dict(ORDER)
    # Deployed stores hold these names: renaming one makes stored orders unreadable.
    assert list(document) == [
        "order_id", "status", "customer_email", "customer_name", "amount_minor", "currency",
        "items", "placed_at", "idempotency_key", "payment_id", "decline_code",
        "failure_reason", "updated_at", "correlation_id", "paid_at", "payment_failed_at",
        "refunded_at", "locale", "payment_method", "outbox", "outbox_pending",
    ]  # fmt: skip
    # Every field, plus the marker of a pending outbox (a sparse index key in some stores).
    assert set(document) == {f.name for f in dataclasses.fields(OrderRecord)} | {"outbox_pending"}
    assert document["status"] == "PLACED"
    assert document["items"] == [dict(ORDER.items[0])]
    assert json.loads(json.dumps(document)) == document  # plain JSON values only


def test_an_order_reads_back_from_its_document_whatever_the_store_adds_or_omits() -> None:
    assert order_from_dict(order_to_dict(ORDER)) == ORDER
    stored = {
        key: value for key, value in order_to_dict(ORDER).items() if value is not None
    }  # stores without nulls leave absent fields out
    stored |= {"kind": "order", "PartitionKey": "p", "amount_minor": 2500.0}
    assert order_from_dict(stored) == ORDER


def test_a_transition_sets_status_and_time_and_only_the_outcome_fields_given() -> None:
    changes = transition_changes(to_status=OrderStatus.PAID, now="t2", payment_id="pay_1")
    assert changes == {"status": "PAID", "updated_at": "t2", "paid_at": "t2", "payment_id": "pay_1"}
    declined = dataclasses.replace(ORDER, decline_code="card_declined")
    moved = transitioned(declined, changes)
    assert moved.status is OrderStatus.PAID
    assert (moved.updated_at, moved.paid_at, moved.payment_id) == ("t2", "t2", "pay_1")
    assert moved.decline_code == "card_declined"  # not given: kept


def test_a_dead_letter_record_names_the_event_only_when_it_was_readable() -> None:
    event = {"id": "evt-1", "type": "com.example.OrderPlaced", "data": {}}
    record = DeadLetterRecord.of("payments", event, reason="bad", attempts=3)
    assert record.attributes() == {
        "reason": "bad",
        "consumer": "payments",
        "attempts": "3",
        "event_id": "evt-1",
        "event_type": "com.example.OrderPlaced",
    }
    unreadable = DeadLetterRecord.of("payments", None, reason="x", attempts=1)
    assert (unreadable.event_id, unreadable.event_type) == (None, None)
    assert unreadable.attributes() == {"reason": "x", "consumer": "payments", "attempts": "1"}


def test_the_once_cache_builds_each_key_once_even_under_concurrent_first_use() -> None:
    built: list[str] = []

    def build(key: str) -> str:
        time.sleep(0.01)  # widen the race window
        built.append(key)
        return key.upper()

    cache = OnceCache(build, {"seeded": "READY"})
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("s3"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["S3"] * 8
    assert built == ["s3"]
    assert cache.get("seeded") == "READY"
    assert sorted(cache.keys()) == ["s3", "seeded"]


def test_lazy_clients_build_on_first_use_and_take_overrides_as_is() -> None:
    class Clients(LazyClients):
        def _build(self, service: str) -> object:
            return f"client:{service}"

    ready = object()
    clients = Clients({"queue": ready})
    assert clients.created() == ["queue"]
    assert clients.client("queue") is ready
    assert clients.client("blob") == "client:blob"
    assert clients.created() == ["blob", "queue"]
