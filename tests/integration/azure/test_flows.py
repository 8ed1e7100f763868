"""Whole flows on azurite: uploads -> thumbnails and index; an order over HTTP -> payments ->
emails; an order whose announcement failed, re-published by the reconciler's timer; poison
messages parked with their reason and nothing lost."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from functions.azure import bootstrap
from functions.azure.adapters.tables import (
    TableMetadataIndex,
    TableOrderStore,
)
from functions.azure.clients import AzureClients
from functions.azure.names import queue_name
from functions.local import samples
from shared.catalog import default_catalog
from shared.envelope import new_event, to_json_bytes
from shared.errors import TransientError
from shared.ids import derived_event_id
from shared.images.metadata import image_id
from shared.ports import OrderStatus
from tests.fakes import FakeClock
from tests.integration.azure.harness import (
    Deployment,
    EventGridEmulator,
    QueueHost,
    ServiceClients,
    blob_created_event,
)
from tests.support import SmtpRecorder, free_port
from tests.unit.azure.app_support import user_function

# A stranded order is first re-announced once it is one reconciler period old.
GRACE_SECONDS = default_catalog().schedule("order_reconciler").every_minutes * 60

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
CATALOG = default_catalog()
IMAGE_CONSUMERS = [c.name for c in CATALOG.consumers_of("ImageUploaded")]


def upload(storage: ServiceClients, deployment: Deployment, key: str, data: bytes) -> None:
    from azure.storage.blob import ContentSettings

    storage.blob.get_blob_client(deployment.uploads, key).upload_blob(
        data, content_settings=ContentSettings(content_type="image/jpeg")
    )


def notify_upload(storage: ServiceClients, event: dict[str, Any]) -> None:
    """The storage system topic's subscriptions: the event, as JSON, into each image queue."""
    for consumer in IMAGE_CONSUMERS:
        storage.queue.get_queue_client(queue_name(consumer)).send_message(json.dumps(event))


@pytest.fixture(autouse=True)
def _clear_mail(smtp: tuple[SmtpRecorder, int]) -> None:
    smtp[0].messages.clear()


# -- Uploads --------------------------------------------------------------------------------------


def test_an_upload_becomes_thumbnails_and_an_index_entity(
    app_environ: dict[str, str], storage: ServiceClients, deployment: Deployment
) -> None:
    key = "uploads/2025/trip/eiffel.jpg"
    upload(storage, deployment, key, samples.jpeg_with_exif((1600, 1200), orientation=1))
    event = blob_created_event(storage, deployment.uploads, key)
    notify_upload(storage, event)

    for consumer in IMAGE_CONSUMERS:
        invocations = QueueHost(storage, consumer).drain()
        assert [i.error for i in invocations] == [None]

    thumbnails = storage.blob.get_container_client(deployment.thumbnails)
    names = sorted(thumbnails.list_blob_names())
    assert names == [
        "thumbnails/2025/trip/eiffel.jpg/1024.jpg",
        "thumbnails/2025/trip/eiffel.jpg/256.jpg",
    ]
    small = thumbnails.get_blob_client(names[1]).get_blob_properties()
    assert small.content_settings.content_type == "image/jpeg"
    assert small.metadata["source_key"] == key  # Azure spelling of "source-key"
    index = TableMetadataIndex(storage.table.get_table_client(deployment.tables["index"]))
    document = index.get(image_id(deployment.uploads, key))
    assert document is not None
    assert (document["width"], document["height"], document["format"]) == (1600, 1200, "JPEG")
    assert document["camera_make"] and document["gps"] is not None
    # Nothing was written where uploads trigger the pipeline (no recursion), nothing poisoned.
    assert storage.blob.get_container_client(deployment.uploads).list_blob_names().next() == key
    assert all(storage.poison_entries(c) == [] for c in IMAGE_CONSUMERS)

    # Event Grid redelivers the same notification: deduplicated, renditions untouched.
    etag = small.etag
    notify_upload(storage, event)
    for consumer in IMAGE_CONSUMERS:
        QueueHost(storage, consumer).drain()
    assert thumbnails.get_blob_client(names[1]).get_blob_properties().etag == etag


def test_a_corrupt_upload_is_dead_lettered_once_with_its_reason(
    app_environ: dict[str, str], storage: ServiceClients, deployment: Deployment
) -> None:
    key = "uploads/broken.jpg"
    upload(storage, deployment, key, samples.truncated_jpeg())
    notify_upload(storage, blob_created_event(storage, deployment.uploads, key))
    for consumer in IMAGE_CONSUMERS:
        invocations = QueueHost(storage, consumer).drain()
        assert [(i.dequeue_count, i.error) for i in invocations] == [(1, None)]  # no retries
        [entry] = storage.poison_entries(consumer)
        assert entry["consumer"] == consumer and entry["attempts"] == 1
        assert "image" in entry["reason"].lower()
        assert json.loads(entry["original"])["type"] == "Microsoft.Storage.BlobCreated"
    assert list(storage.blob.get_container_client(deployment.thumbnails).list_blob_names()) == []


# -- Orders ---------------------------------------------------------------------------------------


def place(order: dict[str, Any], key: str) -> dict[str, Any]:
    request = func.HttpRequest(
        method="POST",
        url="https://eventsuite-func.azurewebsites.net/orders",
        headers={"Content-Type": "application/json", "Idempotency-Key": key},
        body=json.dumps(order, ensure_ascii=False).encode(),  # UTF-8, as clients send it
    )
    response = user_function("orders_api")(request)
    assert response.status_code == 202, response.get_body()
    return dict(json.loads(response.get_body()))


@pytest.mark.parametrize(
    ("email", "status", "outcome_subject"),
    [
        ("ann@example.com", OrderStatus.PAID, "PaymentReceived"),
        ("bob@decline.test", OrderStatus.PAYMENT_FAILED, "PaymentFailed"),
    ],
)
def test_an_order_flows_from_http_to_payment_to_email(
    app_environ: dict[str, str],
    storage: ServiceClients,
    deployment: Deployment,
    smtp: tuple[SmtpRecorder, int],
    email: str,
    status: OrderStatus,
    outcome_subject: str,
) -> None:
    recorder, _ = smtp
    order = {
        "customer": {"email": email, "name": "Ann"},
        "currency": "EUR",
        "items": [{"sku": "mug", "name": "Mug", "quantity": 2, "unit_price_minor": 1250}],
    }
    placed = place(order, key=f"key-flow-{status.value.lower()}")

    assert [i.error for i in QueueHost(storage, "payments").drain()] == [None]
    orders = TableOrderStore(storage.table.get_table_client(deployment.tables["orders"]))
    stored = orders.get(placed["order_id"])
    assert stored is not None and stored.status is status
    # OrderPlaced (from the API) and the payment outcome (from payments) reached the notifier.
    assert [i.error for i in QueueHost(storage, "notifier").drain()] == [None, None]
    mails = recorder.to(email)
    assert len(mails) == 2
    assert {m["X-Event-Type"] for m in mails} == {"OrderPlaced", outcome_subject}
    assert all(placed["order_id"] in m["Subject"] + m.get_payload() for m in mails)
    assert len({m["X-Correlation-Id"] for m in mails}) == 1  # one business flow
    assert all(storage.poison_entries(c) == [] for c in ("payments", "notifier"))


CJK_NAME = "".join(chr(0x4E00 + n) for n in range(200))  # 200 CJK ideographs, the schema's most


def cjk_order(items: int) -> dict[str, Any]:
    """An order whose item names are long and not ASCII (a 6x expansion as JSON escapes)."""
    return {
        "customer": {"email": "mei@example.com", "name": "梅"},
        "currency": "EUR",
        "items": [
            {"sku": f"sku-{n:03d}", "name": CJK_NAME, "quantity": 1, "unit_price_minor": 10}
            for n in range(items)
        ],
    }


@pytest.mark.parametrize(
    ("items", "claim_checked"),
    [
        (30, False),  # items escaped as ASCII JSON would exceed a property's 32K characters
        (90, True),  # a 60 KB body; its OrderPlaced event would not fit a 64 KiB queue message
    ],
)
def test_a_large_order_with_non_ascii_names_is_accepted_and_charged(
    app_environ: dict[str, str],
    storage: ServiceClients,
    deployment: Deployment,
    eventgrid: EventGridEmulator,
    items: int,
    claim_checked: bool,
) -> None:
    undeliverable = len(eventgrid.dead_lettered)
    placed = place(cjk_order(items), key=f"key-cjk-{items:03d}")

    assert eventgrid.dead_lettered[undeliverable:] == []  # every event fit its queues
    [message] = storage.messages(queue_name("payments"))
    assert ("dataref" in json.loads(message)) is claim_checked
    assert [i.error for i in QueueHost(storage, "payments").drain()] == [None]
    orders = TableOrderStore(storage.table.get_table_client(deployment.tables["orders"]))
    stored = orders.get(placed["order_id"])
    assert stored is not None and stored.status is OrderStatus.PAID
    assert [item["name"] for item in stored.items] == [CJK_NAME] * items
    assert stored.amount_minor == 10 * items
    # OrderPlaced and PaymentReceived reach the notifier too (the claim check resolved there).
    assert [i.error for i in QueueHost(storage, "notifier").drain()] == [None, None]
    assert all(storage.poison_entries(c) == [] for c in ("payments", "notifier"))


# -- The order reconciler (timer) -----------------------------------------------------------------


class NoRetries:
    """The app's Event Grid client with retries off, so the outages below cost no back-off.

    The publisher passes its retry limit on every send (the SDK ignores constructor options for
    basic topics); this override turns it down to zero for the test.
    """

    def __init__(self, environ: dict[str, str]) -> None:
        self.client = AzureClients(environ).eventgrid

    def send(self, events: Any, **kwargs: Any) -> None:
        self.client.send(events, **{**kwargs, "retry_total": 0})


def test_an_order_whose_announcement_failed_is_republished_by_the_timer_and_charged(
    app_environ: dict[str, str],
    storage: ServiceClients,
    deployment: Deployment,
    eventgrid: EventGridEmulator,
    smtp: tuple[SmtpRecorder, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder, _ = smtp
    clock = FakeClock(time.time())
    bootstrap.configure(  # app_environ's teardown resets it
        app_environ,
        clients=AzureClients(app_environ, overrides={"eventgrid": NoRetries(app_environ)}),
        overrides={"clock": clock},
    )
    reconciler = user_function("order_reconciler")
    orders = TableOrderStore(storage.table.get_table_client(deployment.tables["orders"]))

    def order(email: str) -> dict[str, Any]:
        return {
            "customer": {"email": email, "name": None},
            "currency": "EUR",
            "items": [{"sku": "mug", "name": "Mug", "quantity": 1, "unit_price_minor": 1250}],
        }

    # Event Grid is down: the API stores the order, cannot announce it and answers 202; the
    # client never retries. Then an order announced normally, still waiting in its queue.
    request = func.HttpRequest(
        method="POST",
        url="https://eventsuite-func.azurewebsites.net/orders",
        headers={"Content-Type": "application/json", "Idempotency-Key": "key-lost-00001"},
        body=json.dumps(order("lost@example.com")).encode(),
    )
    with eventgrid.down():
        assert user_function("orders_api")(request).status_code == 202
    [lost] = list(orders.iter_orders())
    announced = place(order("announced@example.com"), key="key-announced-1")["order_id"]
    assert storage.messages(queue_name("payments")) != []  # only the announced one's event
    published = len(eventgrid.received)

    reconciler(TimerRequest())  # within the grace period: nothing is stale yet
    assert len(eventgrid.received) == published

    clock.advance(GRACE_SECONDS + 1)
    with eventgrid.down(), pytest.raises(TransientError, match=lost.order_id):
        reconciler(TimerRequest())  # a failed run (the alert counts it); the next tick retries
    assert orders.get(lost.order_id).outbox != ()  # still pending after the failed run
    with caplog.at_level(logging.INFO, logger="eventsuite"):
        reconciler(TimerRequest())
    republished = eventgrid.received[published:]
    # Only the lost order's outbox was pending: the announced one is not relayed again.
    assert [e["subject"] for e in republished] == [lost.order_id]
    assert all(e["id"] == derived_event_id("OrderPlaced", e["subject"]) for e in republished)
    assert "order_reconciler" in caplog.text and lost.order_id in caplog.text

    # payments: both orders are charged, each once.
    assert [i.error for i in QueueHost(storage, "payments").drain()] == [None, None]
    for order_id in (lost.order_id, announced):
        stored = orders.get(order_id)
        assert stored is not None and stored.status is OrderStatus.PAID
    assert [i.error for i in QueueHost(storage, "notifier").drain()] == [None] * 4
    for email in ("lost@example.com", "announced@example.com"):
        assert sorted(m["X-Event-Type"] for m in recorder.to(email)) == [
            "OrderPlaced",
            "PaymentReceived",
        ]
    assert all(storage.poison_entries(c) == [] for c in ("payments", "notifier"))

    clock.advance(GRACE_SECONDS)
    reconciler(TimerRequest())  # every outbox is empty
    assert len(eventgrid.received) == published + len(republished) + 2  # + 2 PaymentReceived


# -- Poison messages ------------------------------------------------------------------------------


def test_a_transient_failure_is_retried_up_to_the_consumers_own_limit(
    deployment: Deployment, storage: ServiceClients
) -> None:
    # SMTP relay down for good: notifier (max 8 = the host's maxDequeueCount) retries, then the
    # dispatcher parks the message with its reason in the poison queue. Nothing is lost.
    bootstrap.configure(
        deployment.environ(
            EVENTSUITE_SMTP_HOST="127.0.0.1",
            EVENTSUITE_SMTP_PORT=str(free_port()),
            EVENTSUITE_SMTP_STARTTLS="false",
        )
    )
    event = new_event(
        "PaymentReceived",
        {
            "order_id": "ord_0123456789abcdef01234567",
            "payment_id": "pay_1",
            "amount": {"amount_minor": 100, "currency": "EUR"},
            "customer_email": "ann@example.com",
        },
        source="urn:test",
    )
    body = to_json_bytes(event).decode()
    storage.queue.get_queue_client("notifier-events").send_message(body)
    try:
        invocations = QueueHost(storage, "notifier").drain()
    finally:
        bootstrap.reset()
    limit = CATALOG.consumer("notifier").max_delivery_attempts
    assert [i.dequeue_count for i in invocations] == list(range(1, limit + 1))
    assert all(i.error is not None for i in invocations[:-1]) and invocations[-1].error is None
    [entry] = storage.poison_entries("notifier")
    assert entry["reason"].startswith(f"gave up after {limit} attempts: SMTP relay")
    assert entry["attempts"] == limit and entry["original"] == body
    assert entry["event"]["id"] == event["id"]
    assert storage.messages("notifier-events") == []


class UnreachableStorage:
    """An object store whose every call is a transient failure (storage outage)."""

    def __getattr__(self, name: str) -> Any:
        def fail(*_: Any, **__: Any) -> Any:
            raise TransientError("blob storage unreachable")

        return fail


def test_a_consumer_with_a_lower_limit_gives_up_before_the_host_does(
    app_environ: dict[str, str], storage: ServiceClients, deployment: Deployment
) -> None:
    # The thumbnailer allows 5 attempts; host.json's maxDequeueCount is 8 (the notifier's).
    # Blob storage is down, so every attempt is a transient failure. (A lease held by another
    # delivery would not do: the dispatcher never dead-letters those, the host's count does.)
    key = "uploads/outage.jpg"
    upload(storage, deployment, key, samples.jpeg_with_exif((64, 48), orientation=1))
    event = blob_created_event(storage, deployment.uploads, key)
    storage.queue.get_queue_client("thumbnailer-events").send_message(json.dumps(event))
    bootstrap.configure(app_environ, overrides={"objects": UnreachableStorage()})

    host = QueueHost(storage, "thumbnailer")
    invocations = host.drain()
    limit = CATALOG.consumer("thumbnailer").max_delivery_attempts
    assert limit < host.max_dequeue_count
    assert [i.dequeue_count for i in invocations] == list(range(1, limit + 1))
    [entry] = storage.poison_entries("thumbnailer")
    assert entry["reason"] == f"gave up after {limit} attempts: blob storage unreachable"
    assert json.loads(entry["original"]) == event


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("this is not an event", "neither JSON nor base64-encoded JSON"),
        (
            json.dumps(
                {
                    "id": "x1",
                    "source": "urn:t",
                    "type": "io.eventsuite.PaymentReceived",
                    "specversion": "1.0",
                    "eventversion": "7",
                    "data": {},
                }
            ),
            "newer than this deployment",
        ),
        (
            json.dumps(
                {
                    "id": "x2",
                    "source": "urn:t",
                    "type": "io.example.Unknown",
                    "specversion": "1.0",
                    "data": {},
                }
            ),
            "not in the catalog",
        ),
    ],
)
def test_permanent_failures_are_parked_at_once(
    app_environ: dict[str, str], storage: ServiceClients, body: str, reason: str
) -> None:
    storage.queue.get_queue_client("notifier-events").send_message(body)
    invocations = QueueHost(storage, "notifier").drain()
    assert [(i.dequeue_count, i.error) for i in invocations] == [(1, None)]
    [entry] = storage.poison_entries("notifier")
    assert reason in entry["reason"]
    assert entry["original"] == body and entry["attempts"] == 1


def test_the_runtime_parks_the_message_when_the_sink_is_down(
    deployment: Deployment, storage: ServiceClients
) -> None:
    class BrokenSink:
        def dead_letter(self, **kwargs: object) -> None:
            raise ConnectionError("queue service unreachable")

    bootstrap.configure(deployment.environ(), overrides={"dead_letters": BrokenSink()})
    body = "garbage that can never be processed"
    storage.queue.get_queue_client("notifier-events").send_message(body)
    try:
        host = QueueHost(storage, "notifier")
        invocations = host.drain()
    finally:
        bootstrap.reset()
    # Every attempt failed (the sink could not park it), so after maxDequeueCount the runtime
    # moved the untouched original to the same poison queue: still nothing lost.
    assert [i.dequeue_count for i in invocations] == list(range(1, host.max_dequeue_count + 1))
    assert all(i.error is not None for i in invocations)
    assert storage.poison_entries("notifier") == [body]
    assert storage.messages("notifier-events") == []
