"""The Firestore adapters against Google's Firestore emulator: what is specific to Firestore
(document shapes, TTL timestamps, the dispatcher and reconciler on it); the ports' common
behaviour is in tests/contract.

The emulator is the one named by ``FIRESTORE_EMULATOR_HOST`` (the GitHub workflow starts it),
or the installed gcloud one (apt ``google-cloud-cli-firestore-emulator``), started here on
127.0.0.1; with neither, every test is reported as skipped with that reason. Each module run
uses its own project id, which the emulator keeps apart.

Concurrency: racing first claims (plain ``create``) is tested. Races between conditional
writes (lease takeovers, order batches) are not: the emulator (528.0.0) answers concurrent
conflicting precondition updates and batch creates correctly a few times, then starts to
stall the losers until DeadlineExceeded and stays wedged. Their atomicity rests on
Firestore's documented semantics of ``create``, batched writes and ``last_update_time``
preconditions, which the sequential tests below pin down.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.gcp.clients import GcpClients
from functions.gcp.firestore_stores import (
    FirestoreIdempotencyStore,
    FirestoreOrderStore,
    document_id,
)
from shared.dispatch import Dispatcher, Outcome
from shared.envelope import new_event, utc_now_iso
from shared.ports import ClaimState, OrderRecord, OrderStatus
from tests.builders import order_record
from tests.fakes import fake_ports, with_pending_announcement

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def clients(firestore_host: str) -> GcpClients:
    return GcpClients(project=f"eventsuite-contract-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def claims(clients: GcpClients) -> FirestoreIdempotencyStore:
    return FirestoreIdempotencyStore(clients.firestore)


def _key() -> str:
    return f"consumer:{uuid.uuid4()}"


def race(count: int, attempt: Callable[[], Any]) -> list[Any]:
    """Run ``attempt`` from ``count`` threads at once; exceptions are returned, not lost."""
    barrier = threading.Barrier(count)
    results: list[Any] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        try:
            outcome = attempt()
        except Exception as exc:  # reported by the assertion that reads the results
            outcome = exc
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_a_claim_document_names_its_key_and_has_a_ttl_timestamp(
    claims: FirestoreIdempotencyStore, clients: GcpClients
) -> None:
    key = _key()
    assert claims.claim(key, now=100.0, lease_seconds=30) is ClaimState.ACQUIRED
    claims.complete(key, now=120.0, ttl_seconds=3600)
    record = clients.firestore().collection("idempotency").document(document_id(key)).get()
    assert record.get("key") == key
    assert isinstance(record.get("expires_at"), datetime)  # a timestamp, for a TTL policy


def test_an_in_progress_claim_expires_for_the_ttl_policy_too(clients: GcpClients) -> None:
    """A crashed attempt that is never redelivered must not leave its claim forever."""
    claims = FirestoreIdempotencyStore(clients.firestore, ttl_seconds=3600)
    key = _key()
    document = clients.firestore().collection("idempotency").document(document_id(key))

    assert claims.claim(key, now=100.0, lease_seconds=30) is ClaimState.ACQUIRED
    record = document.get()
    assert record.get("state") == "in_progress"
    assert record.get("expires_at") == datetime.fromtimestamp(100.0 + 30 + 3600, UTC)
    # still a claim: a live lease blocks, an expired one is taken over and expires later
    assert claims.claim(key, now=110.0, lease_seconds=30) is ClaimState.IN_PROGRESS
    assert claims.claim(key, now=200.0, lease_seconds=30) is ClaimState.ACQUIRED
    assert document.get().get("expires_at") == datetime.fromtimestamp(200.0 + 30 + 3600, UTC)

    claims.complete(key, now=220.0, ttl_seconds=7200)
    assert document.get().get("expires_at") == datetime.fromtimestamp(220.0 + 7200, UTC)


def test_dispatcher_with_firestore_claims_runs_a_handler_once(clients: GcpClients) -> None:
    calls: list[str] = []
    ports = fake_ports(idempotency=FirestoreIdempotencyStore(clients.firestore))
    dispatcher = Dispatcher("notifier", ports, handler=lambda event: calls.append(event.id))
    event = new_event(
        "PaymentFailed",
        {
            "order_id": "ord_contract000001",
            "decline_code": "x",
            "reason": "y",
            "amount": {"amount_minor": 1, "currency": "EUR"},
            "customer_email": "a@b.test",
        },
        source="urn:eventsuite/contract",
    )

    first, second = dispatcher.deliver(event), dispatcher.deliver(event)

    assert (first.outcome, second.outcome) == (Outcome.PROCESSED, Outcome.DUPLICATE)
    assert calls == [event["id"]]


def test_a_losing_create_leaves_no_idempotency_key_document(clients: GcpClients) -> None:
    store = FirestoreOrderStore(clients.firestore)
    key, other_key = f"key-{uuid.uuid4().hex}", f"key-{uuid.uuid4().hex}"
    first = order_record(idempotency_key=key)
    assert store.create(first) == (first, True)
    assert store.create(order_record(first.order_id, idempotency_key=other_key)) == (first, False)
    # the batch is all or nothing: the losing request left no key document behind
    keys = clients.firestore().collection("order_keys")
    assert keys.document(document_id(other_key)).get().exists is False
    assert keys.document(document_id(key)).get().get("order_id") == first.order_id


def _placed(order_id: str, placed_at: str, status: OrderStatus = OrderStatus.PLACED) -> OrderRecord:
    return order_record(order_id, status=status, placed_at=placed_at)


def test_the_relay_announces_an_unannounced_firestore_order_once(clients: GcpClients) -> None:
    from functions.common.runtime import Runtime
    from shared.ids import derived_event_id

    store = FirestoreOrderStore(clients.firestore, orders=f"orders-{uuid.uuid4().hex[:8]}")
    ports = fake_ports(orders=store)
    placed_at = utc_now_iso(ports.clock.now())
    store.create(with_pending_announcement(_placed("ord_unannounced01", placed_at)))
    relay = Runtime(ports).schedule("order_reconciler").job

    assert relay().relayed == 0  # within the grace period
    ports.clock.advance(301)
    report = relay()

    assert report.order_ids == ("ord_unannounced01",)
    assert store.get("ord_unannounced01").outbox == ()  # relayed: removed from the outbox
    ports.clock.advance(301)
    assert relay().relayed == 0
    [event] = ports.publisher.events
    assert event["id"] == derived_event_id("OrderPlaced", "ord_unannounced01")
    assert event.get_data()["order_id"] == "ord_unannounced01"
