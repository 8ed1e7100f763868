"""The Azure adapters against azurite: Blob, Table (index, idempotency, orders), queues, and the
Event Grid publisher against the local topic stand-in."""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import Any

import pytest

from functions.azure.adapters.blob import BlobObjectStore
from functions.azure.adapters.eventgrid import EventGridPublisher
from functions.azure.adapters.queues import QueueDeadLetterSink, QueueFanoutPublisher
from functions.azure.adapters.tables import (
    TableIdempotencyStore,
    TableMetadataIndex,
    TableOrderStore,
)
from functions.azure.clients import AzureClients
from functions.azure.names import INDEX_PARTITION, poison_queue_name
from shared.envelope import from_structured, new_event
from shared.errors import ObjectNotFound, PayloadTooLarge, TransientError
from shared.ports import ClaimState, IndexQuery, OrderRecord, OrderStatus
from tests.integration.azure.harness import Azurite, Deployment, EventGridEmulator, ServiceClients

pytestmark = pytest.mark.integration


# -- Blob ----------------------------------------------------------------------------------------


def test_blob_store_round_trip(storage: ServiceClients, deployment: Deployment) -> None:
    store = BlobObjectStore(storage.blob)
    key = "uploads/été/photo 1.jpg"
    store.put(
        deployment.uploads,
        key,
        b"\x89PNG data",
        content_type="image/png",
        metadata={"source-key": key, "correlation-id": "c-1"},
    )
    stored = store.get(deployment.uploads, key)
    assert stored.data == b"\x89PNG data"
    assert stored.content_type == "image/png"
    assert dict(stored.metadata) == {"source-key": key, "correlation-id": "c-1"}
    assert store.exists(deployment.uploads, key)
    assert not store.exists(deployment.uploads, "uploads/missing.jpg")
    store.put(deployment.uploads, "uploads/b.jpg", b"2")
    store.put(deployment.uploads, "other/c.jpg", b"3")
    assert store.list_keys(deployment.uploads, "uploads/") == ["uploads/b.jpg", key]
    store.put(deployment.uploads, "uploads/b.jpg", b"replaced")
    assert store.get(deployment.uploads, "uploads/b.jpg").data == b"replaced"


def test_missing_blobs_and_containers_are_object_not_found(
    storage: ServiceClients, deployment: Deployment
) -> None:
    store = BlobObjectStore(storage.blob)
    with pytest.raises(ObjectNotFound):
        store.get(deployment.uploads, "uploads/never.jpg")
    with pytest.raises(ObjectNotFound):
        store.get("no-such-container", "x")


def test_a_bounded_read_fetches_at_most_the_limit_plus_one_byte(
    azurite: Azurite, deployment: Deployment
) -> None:
    from azure.storage.blob import BlobServiceClient

    downloaded: list[int] = []  # bytes in the body of every blob GET

    def record(response: Any) -> None:
        http = response.http_response
        if http.request.method == "GET" and http.status_code in (200, 206):
            downloaded.append(int(http.headers.get("Content-Length") or 0))

    client = BlobServiceClient.from_connection_string(
        azurite.connection_string, raw_response_hook=record
    )
    store = BlobObjectStore(client)
    data = bytes(range(256)) * 40  # 10 240 bytes: an upload overwritten by a bigger object
    store.put(deployment.uploads, "uploads/big.bin", data, content_type="image/jpeg")
    store.put(deployment.uploads, "uploads/empty.bin", b"")

    with pytest.raises(PayloadTooLarge, match="is 10240 bytes, limit is 100"):
        store.get(deployment.uploads, "uploads/big.bin", max_bytes=100)
    assert downloaded == [101]  # a ranged GET, not the whole blob
    with pytest.raises(PayloadTooLarge, match="limit is 10239"):
        store.get(deployment.uploads, "uploads/big.bin", max_bytes=len(data) - 1)
    exact = store.get(deployment.uploads, "uploads/big.bin", max_bytes=len(data))
    assert (exact.data, exact.content_type) == (data, "image/jpeg")
    assert store.get(deployment.uploads, "uploads/empty.bin", max_bytes=100).data == b""
    with pytest.raises(ObjectNotFound):
        store.get(deployment.uploads, "uploads/never.bin", max_bytes=100)
    assert max(downloaded) <= len(data) + 1


def test_an_unreachable_account_is_transient() -> None:
    from azure.storage.blob import BlobServiceClient, ExponentialRetry

    from tests.support import free_port

    text = (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"BlobEndpoint=http://127.0.0.1:{free_port()}/devstoreaccount1;"
    )
    # No SDK retries here (the production policy retries twice, ~3 s): only the mapping counts.
    client = BlobServiceClient.from_connection_string(
        text, retry_policy=ExponentialRetry(retry_total=0)
    )
    with pytest.raises(TransientError, match="reading blob"):
        BlobObjectStore(client).get("uploads", "x")


# -- Metadata index -------------------------------------------------------------------------------


def _document(image_id: str, **fields: object) -> dict[str, object]:
    document: dict[str, object] = {
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


def test_index_round_trip_and_search(storage: ServiceClients, deployment: Deployment) -> None:
    table = storage.table.get_table_client(deployment.tables["index"])
    index = TableMetadataIndex(table)
    documents = [
        _document(
            "a1",
            camera_make="Canon",
            camera_model="EOS R5",
            captured_at="2024-05-01T10:00:00",
            gps={"lat": 48.8583701, "lon": 2.2944813},
        ),
        _document(
            "b2",
            camera_make="NIKON CORPORATION",
            camera_model="Z 6",
            width=4000,
            captured_at="2024-07-14T09:30:00",
        ),
        _document("c3", width=200),
    ]
    for document in documents:
        index.put(document)
    assert index.get("a1") == documents[0]  # exactly what was put, None values included
    assert index.get("nope") is None
    raw = table.get_entity(INDEX_PARTITION, "a1")
    assert (raw["gps_lat"], raw["gps_lon"], raw["width"]) == (48.8583701, 2.2944813, 800)

    def ids(query: IndexQuery) -> list[str]:
        return [str(d["image_id"]) for d in index.search(query)]

    assert ids(IndexQuery()) == ["a1", "b2", "c3"]
    assert ids(IndexQuery(camera="nikon")) == ["b2"]
    assert ids(IndexQuery(camera="eos r")) == ["a1"]
    assert ids(IndexQuery(min_width=800)) == ["a1", "b2"]
    assert ids(IndexQuery(captured_from="2024-06-01")) == ["b2"]
    assert ids(IndexQuery(captured_to="2024-06-01")) == ["a1"]
    year = IndexQuery(captured_from="2024-01-01", captured_to="2024-12-31", min_width=1000)
    assert ids(year) == ["b2"]
    assert ids(IndexQuery(limit=2)) == ["a1", "b2"]
    index.put(_document("a1", width=100))
    assert ids(IndexQuery(min_width=800)) == ["b2"]


# -- Idempotency ----------------------------------------------------------------------------------


def test_idempotency_claims(storage: ServiceClients, deployment: Deployment) -> None:
    store = TableIdempotencyStore(storage.table.get_table_client(deployment.tables["idempotency"]))
    key = "thumbnailer:0b3c1f5e-1111-4d2b-9c1d-000000000001"
    assert store.claim(key, now=100.0, lease_seconds=60) is ClaimState.ACQUIRED
    assert store.claim(key, now=110.0, lease_seconds=60) is ClaimState.IN_PROGRESS
    # The lease expired: one contender takes it over.
    assert store.claim(key, now=200.0, lease_seconds=60) is ClaimState.ACQUIRED
    store.release(key)
    assert store.claim(key, now=201.0, lease_seconds=60) is ClaimState.ACQUIRED
    store.complete(key, now=202.0, ttl_seconds=3600)
    assert store.claim(key, now=5000.0, lease_seconds=60) is ClaimState.COMPLETED
    store.release(key)  # never drops a completed record
    assert store.claim(key, now=5001.0, lease_seconds=60) is ClaimState.COMPLETED
    # Keys with characters Table Storage forbids are stored under a hash.
    odd = "indexer:weird/id#with?chars"
    assert store.claim(odd, now=1.0, lease_seconds=60) is ClaimState.ACQUIRED
    assert store.claim(odd, now=2.0, lease_seconds=60) is ClaimState.IN_PROGRESS


@pytest.mark.parametrize("expired", [False, True])
def test_one_winner_among_concurrent_claims(
    storage: ServiceClients, deployment: Deployment, expired: bool
) -> None:
    store = TableIdempotencyStore(storage.table.get_table_client(deployment.tables["idempotency"]))
    key = f"payments:contended-{expired}"
    if expired:  # a crashed earlier delivery left a lease that has run out
        store.claim(key, now=0.0, lease_seconds=1)
    results: list[ClaimState] = []
    barrier = threading.Barrier(8)

    def contend() -> None:
        barrier.wait()
        results.append(store.claim(key, now=1000.0, lease_seconds=60))

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(ClaimState.ACQUIRED) == 1, results
    assert results.count(ClaimState.IN_PROGRESS) == 7


# -- Orders ---------------------------------------------------------------------------------------


def _order(order_id: str = "ord_aaaaaaaaaaaaaaaaaaaaaaaa", key: str | None = None) -> OrderRecord:
    return OrderRecord(
        order_id=order_id,
        status=OrderStatus.PLACED,
        customer_email="ann@example.com",
        customer_name=None,
        amount_minor=3_000_000_000,
        currency="EUR",
        items=({"sku": "mug", "name": "Mug", "quantity": 2, "unit_price_minor": 1250},),
        placed_at="2025-01-01T00:00:00.000Z",
        idempotency_key=key,
        updated_at="2025-01-01T00:00:00.000Z",
    )


def test_orders_create_dedupe_and_transition(
    storage: ServiceClients, deployment: Deployment
) -> None:
    orders = TableOrderStore(storage.table.get_table_client(deployment.tables["orders"]))
    first, created = orders.create(_order(key="key-00000001"))
    assert created and orders.get(first.order_id) == first
    # Same idempotency key, new order id: the first order is returned.
    again, created = orders.create(_order("ord_bbbbbbbbbbbbbbbbbbbbbbbb", key="key-00000001"))
    assert (again, created) == (first, False)
    assert orders.get("ord_bbbbbbbbbbbbbbbbbbbbbbbb") is None
    # Same id without a key.
    assert orders.create(_order())[1] is False
    assert orders.transition(
        first.order_id,
        from_status=OrderStatus.PLACED,
        to_status=OrderStatus.PAID,
        now="2025-01-01T00:01:00.000Z",
        payment_id="pay_1",
    )
    assert not orders.transition(
        first.order_id,
        from_status=OrderStatus.PLACED,
        to_status=OrderStatus.PAYMENT_FAILED,
        now="x",
    )
    paid = orders.get(first.order_id)
    assert paid == dataclasses.replace(
        first,
        status=OrderStatus.PAID,
        payment_id="pay_1",
        updated_at="2025-01-01T00:01:00.000Z",
        paid_at="2025-01-01T00:01:00.000Z",
    )
    assert not orders.transition(
        "ord_missing000000", from_status=OrderStatus.PLACED, to_status=OrderStatus.PAID, now="x"
    )
    assert [o.order_id for o in orders.iter_orders()] == [first.order_id]


def test_a_crash_between_key_claim_and_order_is_healed(
    storage: ServiceClients, deployment: Deployment
) -> None:
    table = storage.table.get_table_client(deployment.tables["orders"])
    table.create_entity(
        {
            "PartitionKey": "idempotency-key:key-crashed1",
            "RowKey": "order",
            "order_id": "ord_cccccccccccccccccccccccc",
        }
    )
    order, created = TableOrderStore(table).create(
        _order("ord_dddddddddddddddddddddddd", key="key-crashed1")
    )
    assert created and order.order_id == "ord_cccccccccccccccccccccccc"


def test_concurrent_transitions_have_one_winner(
    storage: ServiceClients, deployment: Deployment
) -> None:
    orders = TableOrderStore(storage.table.get_table_client(deployment.tables["orders"]))
    order, _ = orders.create(_order())
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def contend(i: int) -> None:
        barrier.wait()
        target = OrderStatus.PAID if i % 2 else OrderStatus.PAYMENT_FAILED
        results.append(
            orders.transition(
                order.order_id, from_status=OrderStatus.PLACED, to_status=target, now=f"t{i}"
            )
        )

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1


def test_stale_placed_orders_are_filtered_by_status_and_time_oldest_first_across_pages(
    storage: ServiceClients, deployment: Deployment
) -> None:
    table = storage.table.get_table_client(deployment.tables["orders"])
    # Two entities per page, so the query runs over several continuation tokens.
    orders = TableOrderStore(table, page_size=2)

    def placed(n: int, minute: int, *, key: str | None = None) -> OrderRecord:
        # Order ids run against time (n=9 is the oldest), so key order is not time order.
        return dataclasses.replace(
            _order(f"ord_{n:024d}", key=key), placed_at=f"2025-01-01T00:{minute:02d}:00.000Z"
        )

    for n, minute in enumerate([59, 50, 40, 31, 30, 29, 20, 10, 5, 0]):
        orders.create(placed(n, minute, key=f"key-stale-{n:04d}"))  # + an Idempotency-Key entity
    orders.transition(
        f"ord_{6:024d}", from_status=OrderStatus.PLACED, to_status=OrderStatus.PAID, now="x"
    )
    window = {
        "placed_after": "2025-01-01T00:05:00.000Z",
        "placed_before": "2025-01-01T00:50:00.000Z",
    }

    stale = orders.stale_placed(**window, limit=100)
    # [00:05, 00:50): 00:05 is in, 00:50 is out, the PAID order at 00:20 is skipped.
    assert [o.placed_at[14:16] for o in stale] == ["05", "10", "29", "30", "31", "40"]
    assert all(o.status is OrderStatus.PLACED for o in stale)
    assert stale[0] == orders.get(f"ord_{8:024d}")  # whole records, as stored
    assert [o.order_id for o in orders.stale_placed(**window, limit=3)] == [
        f"ord_{n:024d}" for n in (8, 7, 5)
    ]
    assert orders.stale_placed(**window, limit=0) == []
    assert orders.stale_placed(placed_after="2026", placed_before="2027", limit=10) == []


# -- Queues and Event Grid ------------------------------------------------------------------------


def _payment_failed() -> object:
    return new_event(
        "PaymentFailed",
        {
            "order_id": "ord_0123456789abcdef01234567",
            "decline_code": "card_declined",
            "reason": "declined",
            "amount": {"amount_minor": 100, "currency": "EUR"},
            "customer_email": "ann@example.com",
        },
        source="urn:test",
        correlation_id="corr-12345678",
    )


def test_dead_letter_sink_writes_the_poison_queue(
    storage: ServiceClients, deployment: Deployment
) -> None:
    sink = QueueDeadLetterSink(storage.queue)
    sink.dead_letter(
        consumer="notifier",
        event={"id": "e1"},
        raw=b'{"id": "e1"}',
        reason="schema violation",
        attempts=3,
    )
    [entry] = storage.poison_entries("notifier")
    assert entry["reason"] == "schema violation"
    assert (entry["consumer"], entry["attempts"], entry["event"]) == ("notifier", 3, {"id": "e1"})
    assert entry["original"] == '{"id": "e1"}'
    # A poison queue that does not exist yet (not created by Terraform) is created.
    storage.queue.delete_queue(poison_queue_name("indexer"))
    sink.dead_letter(consumer="indexer", event=None, raw=None, reason="r", attempts=1)
    assert [e["reason"] for e in storage.poison_entries("indexer")] == ["r"]


def test_queue_fanout_routes_by_subscription(
    storage: ServiceClients, deployment: Deployment
) -> None:
    event = _payment_failed()
    QueueFanoutPublisher(storage.queue).publish([event])  # type: ignore[list-item]
    assert [from_structured(m)["id"] for m in storage.messages("notifier-events")] == [event["id"]]  # type: ignore[index]
    assert storage.messages("payments-events") == []


def test_event_grid_publisher_delivers_cloudevents_with_extensions(
    storage: ServiceClients, deployment: Deployment, eventgrid: EventGridEmulator
) -> None:
    clients = AzureClients(
        {
            "EVENTSUITE_EVENTGRID_ENDPOINT": eventgrid.endpoint,
            "EVENTSUITE_EVENTGRID_KEY": eventgrid.key,
        }
    )
    event = _payment_failed()
    EventGridPublisher(clients.eventgrid).publish([event])  # type: ignore[list-item]
    [message] = storage.messages("notifier-events")
    delivered = json.loads(message)
    assert delivered["id"] == event["id"]  # type: ignore[index]
    assert delivered["correlationid"] == "corr-12345678"
    assert delivered["eventversion"] == "1"
    assert delivered["traceparent"] == event["traceparent"]  # type: ignore[index]
    assert delivered["data"] == event.get_data()  # type: ignore[attr-defined]
    assert from_structured(message).get_attributes()["type"] == "io.eventsuite.PaymentFailed"
    assert storage.messages("payments-events") == []


def test_event_grid_rejections_are_not_silently_dropped(
    storage: ServiceClients, deployment: Deployment, eventgrid: EventGridEmulator
) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    clients = AzureClients(
        {
            "EVENTSUITE_EVENTGRID_ENDPOINT": eventgrid.endpoint,
            "EVENTSUITE_EVENTGRID_KEY": "wrong-key",
        }
    )
    with pytest.raises(ClientAuthenticationError):
        EventGridPublisher(clients.eventgrid).publish([_payment_failed()])  # type: ignore[list-item]
    assert storage.messages("notifier-events") == []
