"""The operator CLI against Google's emulators: Pub/Sub dead-letter subscriptions (park, list,
fix, redrive, processed once), Firestore orders by status and index search, GCS uploads.

Parking uses the real ``PubSubDeadLetterSink`` (as the dispatcher does) and a message
forwarded the way Pub/Sub's dead-letter policy does (the original attributes plus
``CloudPubSubDeadLetterSourceDeliveryCount``). The redriven messages are pulled from the
consumer's subscription, decoded by the Google Cloud translator and delivered by the embedded
backend's dispatcher, so "processed once" is checked on the event ids they carry. The emulator
stores subscription filters without applying them, so the filter match is asserted on the
attributes.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.gcp.clients import GcpClients
from functions.gcp.firestore_stores import FirestoreMetadataIndex, FirestoreOrderStore
from functions.gcp.pubsub import DELIVERY_COUNT, PubSubDeadLetterSink
from functions.gcp.translate import PubSubMessage, decode_message, encode_binary
from functions.local.backend import LocalBackend
from functions.ops.targets import _producers
from shared.envelope import to_structured
from shared.ports import OrderStatus
from tests.builders import order_record, searchable_images
from tests.integration.operate_support import SwitchableMailer, cli, payment_received
from tests.support import free_port

pytestmark = pytest.mark.integration
PROJECT = os.environ.get("PUBSUB_PROJECT_ID", "test-project")


@pytest.fixture(scope="module")
def clients(pubsub_host: str) -> GcpClients:
    return GcpClients(project=PROJECT)


@pytest.fixture
def deployment(clients: GcpClients) -> Iterator[dict[str, Any]]:
    """Topics and subscriptions named as terraform/modules/gcp-suite names them."""
    from shared.catalog import default_catalog

    prefix = f"ops{uuid.uuid4().hex[:6]}"
    publisher, subscriber = clients.publisher(), clients.subscriber()
    producers = [f"{prefix}-events-{p.replace('_', '-')}" for p in _producers()]
    topics = [*producers, f"{prefix}-uploads"]
    subscriptions = {}
    for consumer in default_catalog().consumers:
        dlq = f"{prefix}-{consumer.replace('_', '-')}-dlq"
        topics.append(dlq)
        subscriptions[f"{dlq}-sub"] = dlq
    # The notifier's subscription to the payments function's topic (PaymentReceived).
    subscriptions[f"{prefix}-notifier-from-payments"] = f"{prefix}-events-payments"
    subscriptions[f"{prefix}-thumbnailer"] = f"{prefix}-uploads"
    for topic in topics:
        publisher.create_topic(request={"name": clients.topic_path(topic)})
    for name, topic in subscriptions.items():
        subscriber.create_subscription(
            request={
                "name": clients.subscription_path(name),
                "topic": clients.topic_path(topic),
                "ack_deadline_seconds": 60,
            }
        )
    yield {
        "prefix": prefix,
        "env": {"EVENTSUITE_GCP_PROJECT": PROJECT, "EVENTSUITE_GCP_PREFIX": prefix},
    }
    for name in subscriptions:
        subscriber.delete_subscription(request={"subscription": clients.subscription_path(name)})
    for topic in topics:
        publisher.delete_topic(request={"topic": clients.topic_path(topic)})


def gcp(*args: str) -> list[str]:
    return ["--backend", "gcp", *args]


def pull_all(clients: GcpClients, subscription: str) -> list[Any]:
    """Pull and acknowledge everything waiting (the emulator answers at once)."""
    subscriber, path = clients.subscriber(), clients.subscription_path(subscription)
    messages: list[Any] = []
    for _ in range(20):
        response = subscriber.pull(
            request={"subscription": path, "max_messages": 100, "return_immediately": True},
            timeout=10,
        )
        if not response.received_messages:
            if messages:
                break
            continue
        subscriber.acknowledge(
            request={
                "subscription": path,
                "ack_ids": [m.ack_id for m in response.received_messages],
            }
        )
        messages.extend(m.message for m in response.received_messages)
    return messages


def test_park_list_fix_redrive_processed_once(
    clients: GcpClients, deployment: dict[str, Any], tmp_path: Path
) -> None:
    prefix, env = deployment["prefix"], deployment["env"]
    event = payment_received()
    # The dispatcher's sink parks it with the reason; Pub/Sub's policy forwards another copy.
    PubSubDeadLetterSink(
        clients.publisher, clients.topic_path(f"{prefix}-notifier-dlq")
    ).dead_letter(
        consumer="notifier",
        event=to_structured(event),
        raw=None,
        reason="gave up after 8 attempts: SMTP relay refused the customer",
        attempts=8,
    )
    binary = encode_binary(event)
    clients.publisher().publish(
        clients.topic_path(f"{prefix}-notifier-dlq"),
        binary.data,
        **{**binary.attributes, DELIVERY_COUNT: "8"},
    ).result(timeout=30)
    # A storage notification the thumbnailer could not take, forwarded by the policy.
    clients.publisher().publish(
        clients.topic_path(f"{prefix}-thumbnailer-dlq"),
        json.dumps(
            {
                "bucket": "uploads",
                "name": "uploads/a.jpg",
                "size": "10",
                "generation": "1",
                "timeCreated": "2026-01-01T00:00:00Z",
            }
        ).encode(),
        eventType="OBJECT_FINALIZE",
        bucketId="uploads",
        objectId="uploads/a.jpg",
        objectGeneration="1",
        payloadFormat="JSON_API_V1",
        **{DELIVERY_COUNT: "5"},
    ).result(timeout=30)

    listed = cli(gcp("--json", "dlq", "list"), env)
    assert listed.code == 0, listed.err
    parked = json.loads(listed.out)
    notifier = [p for p in parked if p["consumer"] == "notifier"]
    assert {p["event_id"] for p in notifier} == {event["id"]}
    assert sorted(p["reason"].split(":")[0] for p in notifier) == [
        "gave up after 8 attempts",
        "max delivery attempts reached",
    ]
    assert {p["attempts"] for p in notifier} == {8}
    [upload] = [p for p in parked if p["consumer"] == "thumbnailer"]
    assert upload["event_type"] == "io.eventsuite.ImageUploaded" and upload["attempts"] == 5
    shown = cli(gcp("dlq", "show", notifier[0]["id"]), env)
    assert shown.code == 0 and '"payment_id": "pay_operate1"' in shown.out

    dry = cli(gcp("dlq", "redrive", "--all", "--dry-run"), env)
    assert dry.out.count("would redrive") == 3
    redriven = cli(gcp("dlq", "redrive", "--all"), env)
    assert redriven.code == 0, redriven.err
    assert redriven.out.count("redriven ") == 3
    assert json.loads(cli(gcp("--json", "dlq", "list"), env).out) == []

    # The consumer's path: both copies on the topic of the producer of PaymentReceived (the
    # payments function), with a ce-type the subscription filter matches; the notification on
    # the uploads topic as OBJECT_FINALIZE.
    on_events = pull_all(clients, f"{prefix}-notifier-from-payments")
    assert len(on_events) == 2
    assert {m.attributes.get("ce-type") for m in on_events} == {event["type"]}
    assert {m.attributes["redrive_count"] for m in on_events} == {"1"}
    [on_uploads] = pull_all(clients, f"{prefix}-thumbnailer")
    assert on_uploads.attributes["eventType"] == "OBJECT_FINALIZE"
    assert on_uploads.attributes["objectId"] == "uploads/a.jpg"

    decoded = [
        decode_message(PubSubMessage(bytes(m.data), dict(m.attributes), m.message_id))
        for m in on_events
    ]
    assert {str(e["id"]) for e in decoded} == {event["id"]}
    mailer = SwitchableMailer(broken=False)  # the fix is deployed
    backend = LocalBackend.open(tmp_path / "home", mailer=mailer, base_backoff=0.01)
    try:
        backend.broker.publish(decoded)
        backend.run(max_seconds=20)
        assert len(mailer.sent) == 1  # two copies, one email: deduplicated on the event id
        assert backend.broker.parked() == []
    finally:
        backend.close()
    gone = cli(gcp("dlq", "redrive", "--id", notifier[0]["id"]), env)
    assert gone.code == 2 and "not dead-lettered" in gone.err


def test_purge_bad_input_and_an_unreachable_backend(
    clients: GcpClients, deployment: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix, env = deployment["prefix"], deployment["env"]
    for n in range(3):
        clients.publisher().publish(
            clients.topic_path(f"{prefix}-indexer-dlq"), b"junk", n=str(n)
        ).result(timeout=30)
    assert cli(gcp("dlq", "purge", "--consumer", "indexer"), env).code == 2
    assert cli(gcp("dlq", "list", "--consumer", "nobody"), env).code == 2
    purged = cli(gcp("dlq", "purge", "--consumer", "indexer", "--yes"), env)
    assert purged.out.strip() == "purged 3 dead letters of indexer"
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{free_port()}")
    run = cli(gcp("dlq", "list", "--consumer", "indexer"), env)
    assert run.code == 1 and run.err.startswith("eventsuite: error: gcp: ")
    assert run.err.count("\n") == 1


def test_orders_by_status_and_index_search_on_firestore(
    firestore_host: str, deployment: dict[str, Any]
) -> None:
    project = f"ops-{uuid.uuid4().hex[:8]}"
    firestore = GcpClients(project=project)
    store = FirestoreOrderStore(firestore.firestore)
    for n in range(4):
        store.create(
            order_record(
                f"ord_ops{n}",
                customer_name=None,
                amount_minor=500,
                items=({"sku": "mug", "quantity": 1, "unit_price_minor": 500},),
                placed_at=f"2026-03-0{n + 1}T10:00:00.000Z",
                idempotency_key=f"key-{n}",
            )
        )
    store.transition(
        "ord_ops0",
        from_status=OrderStatus.PLACED,
        to_status=OrderStatus.PAID,
        now="2026-03-02T00:00:00.000Z",
        payment_id="pay_0",
    )
    assert [o.order_id for o in store.by_status(OrderStatus.PLACED, limit=2)] == [
        "ord_ops1",
        "ord_ops2",
    ]
    newest = store.by_status(OrderStatus.PLACED, limit=2, newest_first=True)
    assert [o.order_id for o in newest] == ["ord_ops3", "ord_ops2"]
    env = {**deployment["env"], "EVENTSUITE_GCP_PROJECT": project}
    paid = json.loads(cli(gcp("--json", "orders", "list", "--status", "PAID"), env).out)
    assert [o["order_id"] for o in paid] == ["ord_ops0"]

    index = FirestoreMetadataIndex(firestore.firestore)
    for document in searchable_images():
        index.put(document)
    found = cli(gcp("--json", "index", "search", "--format", "PNG", "--limit", "1"), env)
    assert [d["image_id"] for d in json.loads(found.out)] == ["b2"]
    boxed = cli(gcp("--json", "index", "search", "--gps-box", "38,-10,39,-9"), env)
    assert [d["image_id"] for d in json.loads(boxed.out)] == ["a1"]


def test_upload_to_the_uploads_bucket(
    storage_client: Any, buckets: dict[str, str], deployment: dict[str, Any], tmp_path: Path
) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff not really")
    env = {**deployment["env"], "EVENTSUITE_UPLOADS_BUCKET": buckets["uploads"]}
    uploaded = cli(gcp("upload", str(photo)), env)
    assert uploaded.code == 0, uploaded.err
    blob = storage_client.bucket(buckets["uploads"]).blob("uploads/photo.jpg")
    assert blob.download_as_bytes() == photo.read_bytes()
