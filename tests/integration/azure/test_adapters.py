"""The Azure adapters against azurite: what is specific to Blob, Table and Queue storage, and the
Event Grid publisher against the local topic stand-in. The ports' behaviour common to every
backend is in tests/contract."""

from __future__ import annotations

import dataclasses
import json

import pytest

from functions.azure.adapters.blob import BlobObjectStore
from functions.azure.adapters.eventgrid import EventGridPublisher
from functions.azure.adapters.queues import QueueDeadLetterSink, QueueFanoutPublisher
from functions.azure.adapters.tables import (
    TableMetadataIndex,
    TableOrderStore,
)
from functions.azure.clients import AzureClients
from functions.azure.names import INDEX_PARTITION, poison_queue_name
from shared.envelope import from_structured, new_event
from shared.errors import ObjectNotFound, TransientError
from shared.ports import OrderRecord, OrderStatus
from tests.builders import image_document, order_record, payment_failed_data
from tests.integration.azure.harness import Deployment, EventGridEmulator, ServiceClients

pytestmark = pytest.mark.integration


# -- Blob ----------------------------------------------------------------------------------------


def test_missing_blobs_and_containers_are_object_not_found(
    storage: ServiceClients, deployment: Deployment
) -> None:
    store = BlobObjectStore(storage.blob)
    with pytest.raises(ObjectNotFound):
        store.get(deployment.uploads, "uploads/never.jpg")
    with pytest.raises(ObjectNotFound):
        store.get("no-such-container", "x")


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


def test_index_fields_are_columns_for_server_side_filters(
    storage: ServiceClients, deployment: Deployment
) -> None:
    table = storage.table.get_table_client(deployment.tables["index"])
    index = TableMetadataIndex(table)
    document = image_document("a1", gps={"lat": 48.8583701, "lon": 2.2944813})
    index.put(document)
    assert index.get("a1") == document
    raw = table.get_entity(INDEX_PARTITION, "a1")
    assert (raw["gps_lat"], raw["gps_lon"], raw["width"]) == (48.8583701, 2.2944813, 800)


# -- Idempotency ----------------------------------------------------------------------------------


# -- Orders ---------------------------------------------------------------------------------------


def test_iter_orders_lists_orders_not_idempotency_key_entities(
    storage: ServiceClients, deployment: Deployment
) -> None:
    orders = TableOrderStore(storage.table.get_table_client(deployment.tables["orders"]))
    first, created = orders.create(order_record(idempotency_key="key-00000001"))
    assert created
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
        order_record("ord_dddddddddddddddddddddddd", idempotency_key="key-crashed1")
    )
    assert created and order.order_id == "ord_cccccccccccccccccccccccc"


def test_stale_placed_orders_are_filtered_by_status_and_time_oldest_first_across_pages(
    storage: ServiceClients, deployment: Deployment
) -> None:
    table = storage.table.get_table_client(deployment.tables["orders"])
    # Two entities per page, so the query runs over several continuation tokens.
    orders = TableOrderStore(table, page_size=2)

    def placed(n: int, minute: int, *, key: str | None = None) -> OrderRecord:
        # Order ids run against time (n=9 is the oldest), so key order is not time order.
        return dataclasses.replace(
            order_record(f"ord_{n:024d}", idempotency_key=key),
            placed_at=f"2025-01-01T00:{minute:02d}:00.000Z",
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
        "PaymentFailed", payment_failed_data(), source="urn:test", correlation_id="corr-12345678"
    )


def test_dead_letter_sink_writes_the_poison_queue(
    storage: ServiceClients, deployment: Deployment
) -> None:
    sink = QueueDeadLetterSink(lambda: storage.queue)
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
    assert delivered["eventversion"] == "2"
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
