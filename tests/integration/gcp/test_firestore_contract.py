"""Contract tests of the Firestore adapters against Google's Firestore emulator.

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
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.gcp.clients import GcpClients
from functions.gcp.firestore_stores import (
    FirestoreIdempotencyStore,
    FirestoreMetadataIndex,
    FirestoreOrderStore,
    document_id,
)
from shared.dispatch import Dispatcher, Outcome
from shared.envelope import new_event, utc_now_iso
from shared.ports import ClaimState, IndexQuery, OrderRecord, OrderStatus
from tests.fakes import fake_ports, with_pending_announcement
from tests.integration.gcp.conftest import emulator_host

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def firestore_host() -> Iterator[str]:
    with emulator_host("firestore", "FIRESTORE_EMULATOR_HOST") as host:
        yield host


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


def test_claim_life_cycle(claims: FirestoreIdempotencyStore, clients: GcpClients) -> None:
    key = _key()
    assert claims.claim(key, now=100.0, lease_seconds=30) is ClaimState.ACQUIRED
    assert claims.claim(key, now=110.0, lease_seconds=30) is ClaimState.IN_PROGRESS

    claims.complete(key, now=120.0, ttl_seconds=3600)

    assert claims.claim(key, now=121.0, lease_seconds=30) is ClaimState.COMPLETED
    claims.release(key)  # never drops a completed record
    assert claims.claim(key, now=122.0, lease_seconds=30) is ClaimState.COMPLETED
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


def test_release_lets_the_next_delivery_claim_at_once(claims: FirestoreIdempotencyStore) -> None:
    key = _key()
    assert claims.claim(key, now=100.0, lease_seconds=300) is ClaimState.ACQUIRED
    claims.release(key)
    assert claims.claim(key, now=101.0, lease_seconds=300) is ClaimState.ACQUIRED


def test_an_expired_lease_is_taken_over(claims: FirestoreIdempotencyStore) -> None:
    key = _key()
    assert claims.claim(key, now=100.0, lease_seconds=10) is ClaimState.ACQUIRED
    assert claims.claim(key, now=109.0, lease_seconds=10) is ClaimState.IN_PROGRESS
    assert claims.claim(key, now=111.0, lease_seconds=10) is ClaimState.ACQUIRED
    assert claims.claim(key, now=112.0, lease_seconds=10) is ClaimState.IN_PROGRESS


def test_concurrent_first_claims_acquire_once(claims: FirestoreIdempotencyStore) -> None:
    key = _key()
    results = race(5, lambda: claims.claim(key, now=100.0, lease_seconds=60))
    assert (
        sorted(str(r) for r in results)
        == [str(ClaimState.ACQUIRED)] + [str(ClaimState.IN_PROGRESS)] * 4
    )


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


def _order(order_id: str, key: str | None) -> OrderRecord:
    return OrderRecord(
        order_id=order_id,
        status=OrderStatus.PLACED,
        customer_email="c@example.com",
        customer_name="C",
        amount_minor=2500,
        currency="EUR",
        items=({"sku": "A", "name": None, "quantity": 1, "unit_price_minor": 2500},),
        placed_at="2026-01-01T00:00:00.000Z",
        idempotency_key=key,
        updated_at="2026-01-01T00:00:00.000Z",
    )


def test_order_create_dedupes_on_idempotency_key_and_order_id(clients: GcpClients) -> None:
    store = FirestoreOrderStore(clients.firestore)
    key = f"key-{uuid.uuid4().hex}"
    first = _order(f"ord_{uuid.uuid4().hex[:24]}", key)

    assert store.create(first) == (first, True)
    assert store.create(_order(f"ord_{uuid.uuid4().hex[:24]}", key)) == (first, False)
    assert store.create(_order(first.order_id, None)) == (first, False)
    other_key = f"key-{uuid.uuid4().hex}"
    assert store.create(_order(first.order_id, other_key)) == (first, False)
    # the batch is all or nothing: the losing request left no key document behind
    keys = clients.firestore().collection("order_keys")
    assert keys.document(document_id(other_key)).get().exists is False
    assert keys.document(document_id(key)).get().get("order_id") == first.order_id
    assert store.get(first.order_id) == first
    assert store.get("ord_doesnotexist00") is None


def test_transition_is_a_compare_and_set(clients: GcpClients) -> None:
    store = FirestoreOrderStore(clients.firestore)
    order = _order(f"ord_{uuid.uuid4().hex[:24]}", None)
    store.create(order)

    moved = store.transition(
        order.order_id,
        from_status=OrderStatus.PLACED,
        to_status=OrderStatus.PAID,
        now="2026-01-01T00:01:00.000Z",
        payment_id="pay_123",
    )
    again = store.transition(
        order.order_id,
        from_status=OrderStatus.PLACED,
        to_status=OrderStatus.PAYMENT_FAILED,
        now="2026-01-01T00:02:00.000Z",
        decline_code="card_declined",
    )
    missing = store.transition(
        "ord_doesnotexist00",
        from_status=OrderStatus.PLACED,
        to_status=OrderStatus.PAID,
        now="2026-01-01T00:03:00.000Z",
    )

    assert (moved, again, missing) == (True, False, False)
    stored = store.get(order.order_id)
    assert stored is not None
    assert (stored.status, stored.payment_id, stored.decline_code, stored.updated_at) == (
        OrderStatus.PAID,
        "pay_123",
        None,
        "2026-01-01T00:01:00.000Z",
    )


def _document(image_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "image_id": image_id,
        "bucket": "b",
        "key": f"uploads/{image_id}.jpg",
        "width": 800,
        "height": 600,
        "camera_make": None,
        "camera_model": None,
        "captured_at": None,
        **fields,
    }


def test_metadata_index_put_get_and_search(clients: GcpClients) -> None:
    index = FirestoreMetadataIndex(clients.firestore, collection=f"images-{uuid.uuid4().hex[:8]}")
    documents = [
        _document(
            "a1",
            camera_make="FUJIFILM",
            camera_model="X100V",
            width=6240,
            captured_at="2025-08-14T09:30:00",
        ),
        _document(
            "b2",
            camera_make="Canon",
            camera_model="EOS R5",
            width=8192,
            captured_at="2024-01-02T10:00:00",
        ),
        _document("c3", width=640),
        _document(
            "d4",
            camera_make="Apple",
            camera_model="iPhone 15 Pro",
            width=4032,
            captured_at="2025-09-01T18:45:10",
            gps={"lat": 48.8584, "lon": 2.2945},
        ),
    ]
    for document in documents:
        index.put(document)
    index.put(dict(documents[2], width=1024))  # upsert

    assert index.get("d4") == documents[3]
    assert index.get("zz") is None

    def ids(query: IndexQuery) -> list[str]:
        return [d["image_id"] for d in index.search(query)]

    assert ids(IndexQuery()) == ["a1", "b2", "c3", "d4"]
    assert ids(IndexQuery(limit=2)) == ["a1", "b2"]
    assert ids(IndexQuery(camera="fuji")) == ["a1"]
    assert ids(IndexQuery(camera="eos")) == ["b2"]
    assert ids(IndexQuery(captured_from="2025-01-01T00:00:00")) == ["a1", "d4"]
    assert ids(
        IndexQuery(captured_from="2025-01-01T00:00:00", captured_to="2025-08-31T23:59:59")
    ) == ["a1"]
    assert ids(IndexQuery(min_width=4032)) == ["a1", "b2", "d4"]
    assert ids(IndexQuery(min_width=1000, camera="iphone")) == ["d4"]
    assert ids(IndexQuery(captured_from="2024-01-01T00:00:00", min_width=7000)) == ["b2"]


def _placed(order_id: str, placed_at: str, status: OrderStatus = OrderStatus.PLACED) -> OrderRecord:
    return replace(_order(order_id, None), status=status, placed_at=placed_at, updated_at=placed_at)


def test_stale_placed_is_a_range_of_placed_orders_oldest_first(clients: GcpClients) -> None:
    """The reconciler's query: status == PLACED, placed_at in [after, before), ordered, limited
    (in production served by the composite index declared in the gcp-suite module)."""
    store = FirestoreOrderStore(clients.firestore, orders=f"orders-{uuid.uuid4().hex[:8]}")
    after, before = "2026-03-01T10:00:00.000Z", "2026-03-01T11:55:00.000Z"
    orders = {
        "ord_too_old": _placed("ord_too_old", "2026-03-01T09:59:59.999Z"),
        "ord_at_start": _placed("ord_at_start", after),  # the lower bound is inclusive
        "ord_middle": _placed("ord_middle", "2026-03-01T11:00:00.000Z"),
        "ord_paid": _placed("ord_paid", "2026-03-01T10:30:00.000Z", OrderStatus.PAID),
        "ord_failed": _placed("ord_failed", "2026-03-01T10:40:00.000Z", OrderStatus.PAYMENT_FAILED),
        "ord_late": _placed("ord_late", "2026-03-01T11:54:59.999Z"),
        "ord_at_end": _placed("ord_at_end", before),  # the upper bound is exclusive
        "ord_fresh": _placed("ord_fresh", "2026-03-01T11:59:00.000Z"),
    }
    for order in reversed(
        orders.values()
    ):  # stored newest first: the order must come from the query
        store.create(order)

    def stale(limit: int = 50) -> list[str]:
        found = store.stale_placed(placed_after=after, placed_before=before, limit=limit)
        return [o.order_id for o in found]

    assert stale() == ["ord_at_start", "ord_middle", "ord_late"]
    assert store.stale_placed(placed_after=after, placed_before=before, limit=1) == [
        orders["ord_at_start"]
    ]  # whole records, read back intact
    assert stale(limit=0) == []
    # once charged, an order is no longer stale
    store.transition(
        "ord_middle",
        from_status=OrderStatus.PLACED,
        to_status=OrderStatus.PAID,
        now="2026-03-01T12:00:00.000Z",
        payment_id="pay_1",
    )
    assert stale() == ["ord_at_start", "ord_late"]
    assert (
        store.stale_placed(
            placed_after="2026-03-02T00:00:00.000Z",
            placed_before="2026-03-03T00:00:00.000Z",
            limit=5,
        )
        == []
    )


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
