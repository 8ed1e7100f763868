"""End-to-end flows on the Google Cloud wiring, with everything real that can run here.

Real: functions-framework apps built from ``functions/gcp/main.py``, the composition root
(``bootstrap.build_container``), the Cloud Storage adapter on gcp-storage-emulator, the Pub/Sub
publisher and dead-letter adapters, the SMTP mailer against an aiosmtpd server.
Stand-ins: Firestore (the in-memory fakes: no emulator runs here; see the contract tests) and
Pub/Sub itself (:mod:`tests.integration.gcp.fake_pubsub`, which pushes raw push bodies to the
functions through catalog-derived filters, redelivers on 500 and dead-letters after the
subscription's max delivery attempts, as the Terraform subscriptions do).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from cloudevents.http import CloudEvent

from functions.common.runtime import Runtime
from functions.gcp import bootstrap
from functions.gcp.clients import GcpClients
from functions.gcp.gcs import GcsObjectStore
from functions.gcp.translate import STRUCTURED_CONTENT_TYPE, encode_binary, storage_source
from shared.catalog import default_catalog
from shared.images.metadata import image_id
from shared.inject import Container
from shared.ports import (
    DeadLetterSink,
    EventPublisher,
    IdempotencyStore,
    Mailer,
    MetadataIndex,
    OrderStatus,
    OrderStore,
    PaymentGateway,
)
from tests.fakes import FakeClock, FakeIdempotencyStore, FakeMetadataIndex, FakeOrderStore
from tests.integration.gcp.conftest import PROJECT, SmtpSink, make_app, sample_jpeg
from tests.integration.gcp.fake_pubsub import (
    FakePubSub,
    PushSubscription,
    catalog_event_types,
    finalize_filter,
    topic_path,
    type_filter,
)
from tests.support import free_port

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

EVENTS_TOPIC = "eventsuite-events"
UPLOADS_TOPIC = "eventsuite-uploads"


def dead_letter_topic(consumer: str) -> str:
    return f"eventsuite-{consumer}-dlq"


class Deployment:
    """The Google Cloud suite in one process: one app per catalog role, wired by Pub/Sub."""

    def __init__(
        self, storage_client: Any, buckets: Mapping[str, str], *, smtp_port: int | None = None
    ) -> None:
        self.pubsub = FakePubSub()
        self.clients = GcpClients(project=PROJECT, storage=storage_client, publisher=self.pubsub)
        self.objects = GcsObjectStore(lambda: storage_client)
        self.buckets = buckets
        self.orders = FakeOrderStore()
        self.index = FakeMetadataIndex()
        self.idempotency = FakeIdempotencyStore()
        self.env = {
            "EVENTSUITE_GCP_PROJECT": PROJECT,
            "EVENTSUITE_EVENTS_TOPIC": EVENTS_TOPIC,
            "EVENTSUITE_UPLOADS_BUCKET": buckets["uploads"],
            "EVENTSUITE_THUMBNAILS_BUCKET": buckets["thumbnails"],
            "EVENTSUITE_CLAIMS_BUCKET": buckets["claims"],
            "EVENTSUITE_MAIL_FROM": "orders@eventsuite.test",
            "EVENTSUITE_MAILER": "smtp",
        }
        if smtp_port is not None:
            self.env |= {
                "EVENTSUITE_SMTP_HOST": "127.0.0.1",
                "EVENTSUITE_SMTP_PORT": str(smtp_port),
                "EVENTSUITE_SMTP_STARTTLS": "false",
            }
        self.ports: dict[str, Container] = {}

    def firestore_fakes(self) -> dict[str, Any]:
        return {"orders": self.orders, "index": self.index, "idempotency": self.idempotency}

    def consumer(
        self, name: str, *, topic: str, accepts: Callable[[Mapping[str, str]], bool]
    ) -> Any:
        """Deploy a consumer function and its push subscription."""
        env = {**self.env, "EVENTSUITE_DEAD_LETTER_TOPIC": dead_letter_topic(name)}
        fakes = self.firestore_fakes()
        spec = default_catalog().consumer(name)
        if spec.group == "images":
            fakes.pop("orders")
        else:
            fakes.pop("index")
        ports = bootstrap.build_container(environ=env, clients=self.clients, **fakes)
        bootstrap.install(ports, consumer=name)
        self.ports[name] = ports
        client = make_app("handle_event", consumer=name)
        self.pubsub.subscribe(
            PushSubscription(
                name=f"eventsuite-{name}",
                topic=topic_path(topic),
                client=client,
                accepts=accepts,
                max_delivery_attempts=spec.max_delivery_attempts,
                dead_letter_topic=topic_path(dead_letter_topic(name)),
            )
        )
        return client

    def endpoint(self, name: str) -> Any:
        ports = bootstrap.build_container(
            environ=self.env, clients=self.clients, orders=self.orders
        )
        bootstrap.install(ports, endpoint=name)
        self.ports[name] = ports
        return make_app("handle_http", endpoint=name)

    def schedule(self, name: str, clock: FakeClock) -> Any:
        """Deploy a catalog schedule's function (what Cloud Scheduler posts to), on ``clock``."""
        ports = bootstrap.build_container(
            environ=self.env, clients=self.clients, orders=self.orders, clock=clock
        )
        bootstrap.install(ports, schedule=name)
        self.ports[name] = ports
        return make_app("handle_schedule", schedule=name)

    def order_consumers(self) -> None:
        for name in ("payments", "notifier"):
            self.consumer(name, topic=EVENTS_TOPIC, accepts=type_filter(catalog_event_types(name)))

    def image_consumers(self) -> dict[str, Any]:
        return {
            name: self.consumer(name, topic=UPLOADS_TOPIC, accepts=finalize_filter)
            for name in ("thumbnailer", "indexer")
        }

    def dead_letters(self, consumer: str) -> list[dict[str, Any]]:
        return self.pubsub.messages(dead_letter_topic(consumer))


def mails_to(sink: SmtpSink, address: str) -> list[Any]:
    return [m for m in sink.messages if m["To"] == address]


ORDER_ITEMS = [{"sku": "BOOK-1", "name": "Notes", "quantity": 2, "unit_price_minor": 1500}]


@pytest.mark.parametrize(
    ("email", "outcome", "status"),
    [
        ("ada.flow@example.com", "PaymentReceived", OrderStatus.PAID),
        ("bob.flow@decline.test", "PaymentFailed", OrderStatus.PAYMENT_FAILED),
    ],
)
def test_order_over_http_flows_through_payments_to_the_customer_mailbox(
    storage_client: Any,
    buckets: dict[str, str],
    smtp_server: tuple[int, SmtpSink],
    email: str,
    outcome: str,
    status: OrderStatus,
) -> None:
    port, sink = smtp_server
    suite = Deployment(storage_client, buckets, smtp_port=port)
    suite.order_consumers()
    api = suite.endpoint("orders_api")

    response = api.post(
        "/orders",
        json={
            "customer": {"email": email, "name": "Flow"},
            "currency": "EUR",
            "items": ORDER_ITEMS,
        },
        headers={"Idempotency-Key": f"flow-{outcome}"},
    )
    assert response.status_code == 202
    order_id = response.get_json()["order_id"]

    pushes = suite.pubsub.deliver_all()

    assert {p.status for p in pushes} == {200}
    assert suite.orders.get(order_id).status is status
    published = suite.pubsub.messages(EVENTS_TOPIC)
    assert [m["attributes"]["ce-type"] for m in published] == [
        "io.eventsuite.OrderPlaced",
        f"io.eventsuite.{outcome}",
    ]
    for message in published:  # binary content mode, ordered by order id
        assert message["orderingKey"] == order_id
        assert message["attributes"]["ce-subject"] == order_id
        assert message["attributes"]["content-type"] == "application/json"
        assert json.loads(suite.pubsub.data(message))["order_id"] == order_id
    assert published[1]["attributes"]["ce-causationid"] == published[0]["attributes"]["ce-id"]
    assert sorted((p.subscription, p.attempt) for p in pushes) == [
        ("eventsuite-notifier", 1),
        ("eventsuite-notifier", 1),
        ("eventsuite-payments", 1),
    ]
    mails = mails_to(sink, email)
    assert len(mails) == 2
    assert all(order_id in m.get_payload() + m["Subject"] for m in mails)
    assert suite.dead_letters("payments") == suite.dead_letters("notifier") == []

    # Pub/Sub may deliver an acknowledged message again: nobody is charged or mailed twice.
    suite.pubsub.redeliver(EVENTS_TOPIC, published[0]["messageId"])
    again = suite.pubsub.deliver_all()
    assert [p.status for p in again] == [200, 200]
    assert len(mails_to(sink, email)) == 2
    assert len(suite.pubsub.messages(EVENTS_TOPIC)) == 2


def test_unreachable_mail_relay_is_retried_then_dead_lettered_with_the_reason(
    storage_client: Any, buckets: dict[str, str]
) -> None:
    closed_port = free_port()  # nothing listens here
    suite = Deployment(storage_client, buckets, smtp_port=closed_port)
    suite.order_consumers()
    api = suite.endpoint("orders_api")
    assert (
        api.post(
            "/orders",
            json={"customer": {"email": "cy@example.com"}, "currency": "EUR", "items": ORDER_ITEMS},
        ).status_code
        == 202
    )

    pushes = suite.pubsub.deliver_all()

    notifier = [p for p in pushes if p.subscription == "eventsuite-notifier"]
    max_attempts = default_catalog().consumer("notifier").max_delivery_attempts
    # Two facts (OrderPlaced, PaymentReceived), each: 500 until the last attempt, then acked.
    assert [p.status for p in notifier if p.message_id == notifier[0].message_id] == [500] * (
        max_attempts - 1
    ) + [200]
    dead = suite.dead_letters("notifier")
    assert len(dead) == 2
    reasons = sorted(message["attributes"]["reason"] for message in dead)
    assert reasons[0].startswith(f"gave up after {max_attempts} attempts: SMTP relay")
    # The payment email waited for the confirmation, which never went out.
    assert reasons[1].startswith(f"gave up after {max_attempts} attempts: waiting for the Order")
    for message in dead:
        attributes = message["attributes"]
        assert attributes["consumer"] == "notifier"
        assert attributes["attempts"] == str(max_attempts)
        assert attributes["content-type"] == STRUCTURED_CONTENT_TYPE
        assert "CloudPubSubDeadLetterSourceDeliveryCount" not in attributes  # we acked it
        assert json.loads(suite.pubsub.data(message))["id"] == attributes["event_id"]
    assert suite.dead_letters("payments") == []


def test_unknown_event_version_is_dead_lettered_once_per_consumer_without_retries(
    storage_client: Any, buckets: dict[str, str]
) -> None:
    suite = Deployment(storage_client, buckets, smtp_port=free_port())
    suite.order_consumers()
    future_event = CloudEvent(
        {
            "id": "evt-from-the-future",
            "source": "urn:eventsuite/orders-api-v4",
            "type": "io.eventsuite.OrderPlaced",
            "specversion": "1.0",
            "eventversion": "4",
            "subject": "ord_futurefuture01",
            "datacontenttype": "application/json",
        },
        {"order_id": "ord_futurefuture01", "shiny": True},
    )
    message = encode_binary(future_event)
    suite.pubsub.publish(
        topic_path(EVENTS_TOPIC),
        message.data,
        ordering_key=message.ordering_key,
        **message.attributes,
    )

    pushes = suite.pubsub.deliver_all()

    assert sorted((p.subscription, p.attempt, p.status) for p in pushes) == [
        ("eventsuite-notifier", 1, 200),
        ("eventsuite-payments", 1, 200),
    ]
    for consumer in ("payments", "notifier"):
        [dead] = suite.dead_letters(consumer)
        assert "OrderPlaced version 4 is unknown" in dead["attributes"]["reason"]
        assert dead["attributes"]["attempts"] == "1"
        assert json.loads(suite.pubsub.data(dead))["data"]["shiny"] is True


# -- the order reconciler, as Cloud Scheduler runs it -------------------------------------------


def place_unannounced_order(suite: Deployment, email: str) -> str:
    """POST an order whose OrderPlaced publish fails: stored, accepted (202), not announced."""
    api = suite.endpoint("orders_api")
    suite.pubsub.fail_next = 1
    response = api.post(
        "/orders",
        json={"customer": {"email": email}, "currency": "EUR", "items": ORDER_ITEMS},
        headers={"Idempotency-Key": "unannounced-" + email.replace("@", ".")},
    )
    assert response.status_code == 202
    assert response.get_json()["announcement"] == "deferred"
    [order] = [o for o in suite.orders.orders.values() if o.customer_email == email]
    assert suite.pubsub.messages(EVENTS_TOPIC) == []
    return order.order_id


def test_scheduled_reconciler_announces_a_stranded_order_and_payments_charges_it(
    storage_client: Any, buckets: dict[str, str], smtp_server: tuple[int, SmtpSink]
) -> None:
    from shared.catalog import default_catalog
    from shared.ids import derived_event_id

    # A stranded order is first re-announced once it is one schedule period old.
    grace = default_catalog().schedule("order_reconciler").every_minutes * 60

    port, sink = smtp_server
    suite = Deployment(storage_client, buckets, smtp_port=port)
    suite.order_consumers()
    order_id = place_unannounced_order(suite, "dee.sched@example.com")
    clock = FakeClock(time.time())
    reconciler = suite.schedule("order_reconciler", clock)

    early = reconciler.post("/")  # Cloud Scheduler's POST, within the grace period
    assert early.status_code == 200
    assert early.get_json() == {
        "schedule": "order_reconciler",
        "report": {"relayed": 0, "order_ids": []},
    }
    assert suite.pubsub.messages(EVENTS_TOPIC) == []

    clock.advance(grace + 1)
    answer = reconciler.post("/")

    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.get_json()["report"] == {"relayed": 1, "order_ids": [order_id]}
    [message] = suite.pubsub.messages(EVENTS_TOPIC)
    assert message["attributes"]["ce-type"] == "io.eventsuite.OrderPlaced"
    assert message["attributes"]["ce-id"] == derived_event_id("OrderPlaced", order_id)
    assert message["attributes"]["ce-source"].endswith("/orders-api")  # stored with the order
    assert message["orderingKey"] == order_id
    pushes = suite.pubsub.deliver_all()
    assert {p.status for p in pushes} == {200}
    assert suite.orders.get(order_id).status is OrderStatus.PAID  # the payments function charged it
    assert len(mails_to(sink, "dee.sched@example.com")) == 2  # confirmation, then payment
    assert suite.dead_letters("payments") == suite.dead_letters("notifier") == []

    clock.advance(300)  # the next tick: every outbox is empty
    assert reconciler.post("/").get_json()["report"] == {"relayed": 0, "order_ids": []}
    assert len(suite.pubsub.messages(EVENTS_TOPIC)) == 2  # OrderPlaced, PaymentReceived


def test_a_failed_scheduled_run_answers_5xx_so_cloud_scheduler_retries(
    storage_client: Any, buckets: dict[str, str]
) -> None:
    suite = Deployment(storage_client, buckets)
    order_id = place_unannounced_order(suite, "eve.sched@example.com")
    clock = FakeClock(time.time() + 301)
    reconciler = suite.schedule("order_reconciler", clock)

    suite.pubsub.fail_next = 1  # Pub/Sub is down for this run
    failed = reconciler.post("/")
    retried = reconciler.post("/")  # Cloud Scheduler's retry
    not_post = reconciler.get("/")

    # A transient failure is a 503 like on every backend; Cloud Scheduler retries any 5xx.
    assert failed.status_code == 503
    assert failed.get_json()["title"] == "temporarily unavailable"
    assert retried.status_code == 200
    assert retried.get_json()["report"]["order_ids"] == [order_id]
    assert not_post.status_code == 405
    assert not_post.headers["Allow"] == "POST"
    assert len(suite.pubsub.messages(EVENTS_TOPIC)) == 1


def test_schedule_ports_hold_what_the_job_needs_and_nothing_that_charges_or_mails(
    storage_client: Any, buckets: dict[str, str]
) -> None:
    suite = Deployment(storage_client, buckets, smtp_port=free_port())
    container = bootstrap.build_container(environ=suite.env, clients=suite.clients)
    Runtime(container).schedule("order_reconciler")  # binds the job: builds what it asks for

    assert container.built(OrderStore) and container.built(EventPublisher)
    unused = (PaymentGateway, Mailer, IdempotencyStore, DeadLetterSink, MetadataIndex)
    assert not any(container.built(kind) for kind in unused)
    with pytest.raises(ValueError, match="exactly one of consumer, endpoint or schedule"):
        bootstrap.install(container, schedule="order_reconciler", endpoint="orders_api")


def test_a_schedule_function_without_its_role_fails_loudly() -> None:
    unnamed = make_app("handle_schedule")
    unknown = make_app("handle_schedule", schedule="no_such_schedule")

    assert unnamed.post("/").status_code == 500
    answer = unknown.post("/")
    assert answer.status_code == 500
    assert answer.get_json()["title"] == "internal error"  # the reason is logged, not leaked


def storage_resource(storage_client: Any, bucket: str, key: str) -> dict[str, Any]:
    """The object's JSON API resource as the emulator reports it (what GCS notifies with)."""
    blob = storage_client.bucket(bucket).get_blob(key)
    return dict(blob._properties)


def notify_upload(suite: Deployment, resource: Mapping[str, Any]) -> None:
    """What ``google_storage_notification`` (JSON_API_V1, OBJECT_FINALIZE) publishes."""
    suite.pubsub.publish(
        topic_path(UPLOADS_TOPIC),
        json.dumps(resource).encode(),
        eventType="OBJECT_FINALIZE",
        payloadFormat="JSON_API_V1",
        bucketId=resource["bucket"],
        objectId=resource["name"],
        objectGeneration=str(resource.get("generation", "1")),
        notificationConfig=f"projects/_/buckets/{resource['bucket']}/notificationConfigs/1",
        **{"eventsuite-event": "ImageUploaded"},
    )


def eventarc_finalized(resource: Mapping[str, Any], event_id: str) -> tuple[dict[str, str], bytes]:
    """What an Eventarc ``google.cloud.storage.object.v1.finalized`` trigger posts."""
    headers = {
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-type": "google.cloud.storage.object.v1.finalized",
        "ce-source": storage_source(resource["bucket"]),
        "ce-subject": f"objects/{resource['name']}",
        "ce-time": resource["timeCreated"],
    }
    return headers, json.dumps(resource).encode()


def _jpeg_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.size


@pytest.mark.parametrize("delivery", ["pubsub-notification", "eventarc"])
def test_uploaded_image_gets_thumbnails_and_an_index_document(
    storage_client: Any, buckets: dict[str, str], delivery: str
) -> None:
    suite = Deployment(storage_client, buckets)
    apps = suite.image_consumers()
    key = "uploads/trip/lake.jpg"
    suite.objects.put(
        buckets["uploads"],
        key,
        sample_jpeg(make="Leica", model="Q3", size=(1600, 1200)),
        content_type="image/jpeg",
    )
    resource = storage_resource(storage_client, buckets["uploads"], key)

    if delivery == "pubsub-notification":
        notify_upload(suite, resource)
        pushes = suite.pubsub.deliver_all()
        assert sorted((p.subscription, p.status) for p in pushes) == [
            ("eventsuite-indexer", 200),
            ("eventsuite-thumbnailer", 200),
        ]
    else:
        headers, body = eventarc_finalized(resource, "eventarc-evt-1")
        for app in apps.values():
            assert app.post("/", headers=headers, data=body).status_code == 200

    thumbs = suite.objects.list_keys(buckets["thumbnails"])
    assert thumbs == ["thumbnails/trip/lake.jpg/1024.jpg", "thumbnails/trip/lake.jpg/256.jpg"]
    small = suite.objects.get(buckets["thumbnails"], "thumbnails/trip/lake.jpg/256.jpg")
    assert max(_jpeg_size(small.data)) == 256
    assert small.content_type == "image/jpeg"
    assert small.metadata["source-key"] == key
    # renditions never land in the uploads bucket, so they cannot trigger us again
    assert suite.objects.list_keys(buckets["uploads"]) == [key]
    document = suite.index.get(image_id(buckets["uploads"], key))
    assert (document["camera_make"], document["camera_model"]) == ("Leica", "Q3")
    assert (document["width"], document["height"]) == (1600, 1200)
    for name in ("thumbnailer", "indexer"):
        assert suite.dead_letters(name) == []


def test_redelivered_upload_notification_does_not_render_again(
    storage_client: Any, buckets: dict[str, str]
) -> None:
    suite = Deployment(storage_client, buckets)
    suite.image_consumers()
    key = "uploads/again.jpg"
    suite.objects.put(buckets["uploads"], key, sample_jpeg(), content_type="image/jpeg")
    notify_upload(suite, storage_resource(storage_client, buckets["uploads"], key))
    suite.pubsub.deliver_all()
    thumbnails = storage_client.bucket(buckets["thumbnails"])
    generations = {b.name: b.generation for b in thumbnails.list_blobs()}
    [notification] = suite.pubsub.messages(UPLOADS_TOPIC)

    suite.pubsub.redeliver(UPLOADS_TOPIC, notification["messageId"])
    pushes = suite.pubsub.deliver_all()

    assert [p.status for p in pushes] == [200, 200]
    assert {b.name: b.generation for b in thumbnails.list_blobs()} == generations


def test_corrupt_upload_is_dead_lettered_at_once_by_both_image_consumers(
    storage_client: Any, buckets: dict[str, str]
) -> None:
    suite = Deployment(storage_client, buckets)
    suite.image_consumers()
    key = "uploads/broken.jpg"
    suite.objects.put(
        buckets["uploads"],
        key,
        b"\xff\xd8\xff\xe0 definitely not a jpeg",
        content_type="image/jpeg",
    )
    notify_upload(suite, storage_resource(storage_client, buckets["uploads"], key))

    pushes = suite.pubsub.deliver_all()

    assert sorted((p.subscription, p.attempt, p.status) for p in pushes) == [
        ("eventsuite-indexer", 1, 200),
        ("eventsuite-thumbnailer", 1, 200),
    ]
    for consumer in ("thumbnailer", "indexer"):
        [dead] = suite.dead_letters(consumer)
        assert dead["attributes"]["consumer"] == consumer
        assert dead["attributes"]["attempts"] == "1"
        assert dead["attributes"]["event_type"] == "io.eventsuite.ImageUploaded"
        event = json.loads(suite.pubsub.data(dead))
        assert event["data"]["key"] == key
        assert event["source"] == storage_source(buckets["uploads"])
    assert suite.objects.list_keys(buckets["thumbnails"]) == []
    assert suite.index.documents == {}
