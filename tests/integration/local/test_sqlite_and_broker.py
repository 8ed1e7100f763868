"""The embedded backend's SQLite adapters and broker, on real database files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from functions.local.broker import LocalBroker, Message, Verdict
from functions.local.objects import FilesystemObjectStore
from functions.local.sqlite import (
    Database,
    SqliteIdempotencyStore,
    SqlitePaymentGateway,
)
from shared.envelope import new_event
from shared.errors import ObjectNotFound, PayloadTooLarge, PermanentError
from shared.ports import ClaimState
from tests.builders import image_event, order_v2


class Clock:
    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(tmp_path / "state.db")


def test_a_completed_claim_is_claimable_again_after_its_ttl(db: Database) -> None:
    """SQLite has no TTL deletion: the store itself treats an expired completion as gone."""
    store = SqliteIdempotencyStore(db)
    assert store.claim("c:1", now=0, lease_seconds=10) is ClaimState.ACQUIRED
    store.complete("c:1", now=12, ttl_seconds=100)
    assert store.claim("c:1", now=111, lease_seconds=10) is ClaimState.COMPLETED
    assert store.claim("c:1", now=113, lease_seconds=10) is ClaimState.ACQUIRED


def test_idempotency_state_is_shared_across_connections(tmp_path: Path) -> None:
    first = SqliteIdempotencyStore(Database(tmp_path / "s.db"))
    second = SqliteIdempotencyStore(Database(tmp_path / "s.db"))
    assert first.claim("k", now=0, lease_seconds=60) is ClaimState.ACQUIRED
    assert second.claim("k", now=1, lease_seconds=60) is ClaimState.IN_PROGRESS


def test_payment_gateway_persists_results_per_key(tmp_path: Path) -> None:
    first = SqlitePaymentGateway(Database(tmp_path / "p.db"))
    result = first.charge(
        order_id="o",
        amount_minor=1,
        currency="EUR",
        customer_email="a@b.co",
        idempotency_key="o:charge",
    )
    second = SqlitePaymentGateway(Database(tmp_path / "p.db"))
    assert (
        second.charge(
            order_id="o",
            amount_minor=999_999,
            currency="EUR",
            customer_email="a@b.co",
            idempotency_key="o:charge",
        )
        == result
    )


def test_object_store_refuses_escaping_keys_and_notifies(tmp_path: Path) -> None:
    seen = []
    store = FilesystemObjectStore(tmp_path, on_created=lambda *a: seen.append(a[:3]))
    store.put("uploads", "uploads/a/b.jpg", b"x", content_type="image/jpeg", metadata={"k": "v"})
    stored = store.get("uploads", "uploads/a/b.jpg")
    assert (stored.data, stored.content_type, dict(stored.metadata)) == (
        b"x",
        "image/jpeg",
        {"k": "v"},
    )
    assert store.list_keys("uploads") == ["uploads/a/b.jpg"] and seen == [
        ("uploads", "uploads/a/b.jpg", 1)
    ]
    for bad in ("../etc/passwd", "uploads/../../x", "", "a//b"):
        with pytest.raises(PermanentError):
            store.put("uploads", bad, b"x")
    with pytest.raises(ObjectNotFound):
        store.get("uploads", "uploads/missing")


def test_object_store_bounded_read_goes_by_the_file_size(tmp_path: Path) -> None:
    store = FilesystemObjectStore(tmp_path)
    store.put("uploads", "uploads/photo.jpg", b"x" * 100, content_type="image/jpeg")
    store.put("uploads", "uploads/empty.jpg", b"")
    assert store.get("uploads", "uploads/photo.jpg", max_bytes=100).data == b"x" * 100
    assert store.get("uploads", "uploads/empty.jpg", max_bytes=100).data == b""
    with pytest.raises(PayloadTooLarge, match="is 100 bytes, limit is 99"):
        store.get("uploads", "uploads/photo.jpg", max_bytes=99)
    # Overwritten by a 4 GiB file (sparse: nothing is written): refused by its size, unread.
    os.truncate(tmp_path / "uploads" / "uploads" / "photo.jpg", 4 * 1024**3)
    with pytest.raises(PayloadTooLarge, match=f"is {4 * 1024**3} bytes, limit is 100"):
        store.get("uploads", "uploads/photo.jpg", max_bytes=100)
    with pytest.raises(ObjectNotFound):
        store.get("uploads", "uploads/missing.jpg", max_bytes=100)


def test_broker_routes_by_catalog_and_backs_off_then_dead_letters(tmp_path: Path) -> None:
    clock = Clock()
    broker = LocalBroker(tmp_path / "b.db", base_backoff=1.0, clock=clock)
    broker.publish([new_event("OrderPlaced", order_v2(), source="urn:test")])
    assert broker.pending("payments") == 1 and broker.pending("notifier") == 1
    assert broker.pending("thumbnailer") == 0
    max_attempts = broker.catalog.consumer("payments").max_delivery_attempts
    for attempt in range(1, max_attempts + 1):
        (message,) = broker.receive("payments")
        assert message.attempt == attempt
        assert broker.receive("payments") == []  # leased: invisible to others
        parked = broker.nack(message, "still down")
        assert parked is (attempt == max_attempts)
        clock.value += 2**attempt * 1.3  # wait out the backoff
    (letter,) = broker.dead_letters("payments")
    assert letter.reason.startswith(f"max delivery attempts ({max_attempts}) reached: still down")
    assert json.loads(letter.body)["type"] == "io.eventsuite.OrderPlaced"
    assert broker.pending("payments") == 0 and broker.pending("notifier") == 1


def test_waiting_for_a_held_lease_never_spends_attempts_nor_parks(tmp_path: Path) -> None:
    clock = Clock()
    broker = LocalBroker(tmp_path / "b.db", base_backoff=0.5, clock=clock)
    broker.publish([new_event("OrderPlaced", order_v2(), source="urn:test")])
    max_attempts = broker.catalog.consumer("payments").max_delivery_attempts
    for _ in range(3 * max_attempts):  # far more than the attempts a delivery has
        (message,) = broker.receive("payments")
        assert message.attempt == 1  # the lease waits were not counted
        assert broker.nack(message, "another delivery holds the lease", retry_after=46.0) is False
        assert broker.receive("payments") == []  # not back before the lease expires
        clock.value += 45.0
        assert broker.receive("payments") == []
        clock.value += 1.5
    assert broker.dead_letters() == []
    (message,) = broker.receive("payments")
    assert message.attempt == 1


def test_broker_redelivers_after_the_visibility_timeout(tmp_path: Path) -> None:
    clock = Clock()
    broker = LocalBroker(tmp_path / "b.db", visibility_timeout=30, clock=clock)
    broker.publish([image_event()])
    first = broker.receive("indexer")
    assert first and broker.receive("indexer") == []
    clock.value += 31  # the worker crashed without acking
    (again,) = broker.receive("indexer")
    assert again.id == first[0].id and again.attempt == 2


def test_broker_state_survives_reopening(tmp_path: Path) -> None:
    LocalBroker(tmp_path / "b.db").publish([image_event()])
    assert LocalBroker(tmp_path / "b.db").pending() == 2


def test_the_broker_records_every_event_and_each_attempts_outcome(tmp_path: Path) -> None:
    """The console's live view and traces read this log: outcome, attempt and latency of every
    delivery, and every published event under its correlation id."""
    broker = LocalBroker(tmp_path / "b.db", base_backoff=0.0)
    event = new_event("OrderPlaced", order_v2(), source="urn:test")
    broker.publish([event])
    fails_once: set[str] = set()

    def deliver(message: Message) -> Verdict:
        if message.consumer == "payments" and message.consumer not in fails_once:
            fails_once.add(message.consumer)
            return Verdict(False, "gateway down")
        return Verdict(True)

    broker.run_until_idle(deliver, max_seconds=10, sleep=lambda _: None)
    events, deliveries = broker.trace(str(event["correlationid"]))
    assert [e.event_id for e in events] == [str(event["id"])]
    assert events[0].consumers == 2 and events[0].event_type == str(event["type"])
    outcomes = sorted((d.consumer, d.attempt, d.outcome, d.reason) for d in deliveries)
    assert outcomes == [
        ("notifier", 1, "acknowledged", None),
        ("payments", 1, "retry", "gateway down"),
        ("payments", 2, "acknowledged", None),
    ]
    assert all(d.latency_ms >= 0 and d.event_type == str(event["type"]) for d in deliveries)
    newest = broker.recent_deliveries()
    assert [d.log_id for d in broker.recent_deliveries(after=newest[0].log_id)] == [
        d.log_id for d in newest[1:]
    ]
    assert broker.trace("no-such-correlation") == ([], [])
    broker.prune_logs(keep=1)
    assert len(broker.recent_deliveries()) == 1 and len(broker.recent_events()) == 1


def test_delivering_keeps_the_logs_pruned_to_their_newest_rows(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path / "b.db", base_backoff=0.0, log_rows_kept=3)
    for _ in range(4):
        broker.publish([image_event()])  # two consumers each
        broker.run_until_idle(lambda message: Verdict(acknowledged=True), max_seconds=10)
    assert broker.pending() == 0
    deliveries, events = broker.recent_deliveries(limit=100), broker.recent_events(limit=100)
    assert len(deliveries) == 3 and len(events) == 3
    assert [d.log_id for d in deliveries] == [6, 7, 8]  # the newest of the 8 attempts
