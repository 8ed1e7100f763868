"""functions-framework's real app (``create_app(...).test_client()``) receiving real Google Cloud
deliveries: raw Pub/Sub push bodies (binary and structured CloudEvents, storage notifications),
Eventarc CloudEvents and direct posts. Ports are the in-memory fakes; the adapters have their
own tests."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from cloudevents.conversion import to_binary, to_structured

from functions.gcp import bootstrap
from shared.envelope import new_event
from shared.errors import TransientError
from shared.ids import derived_event_id
from shared.images.metadata import image_id
from shared.orders.webhooks import SIGNATURE_HEADER, sign
from shared.ports import OrderRecord, OrderStatus, OutgoingEmail, Ports
from tests.fakes import FakeMailer, fake_ports
from tests.integration.gcp.conftest import load_event, make_app, sample_jpeg

pytestmark = pytest.mark.integration

PUSH_PATH = "/projects/test-project/topics/eventsuite-events"
BINARY_ORDER_ID = "ord_5f1c2b7a9d3e4c60a1b2c3d4"
BINARY_EVENT_ID = "8c0f9a3e-1d2b-4c5a-9e7f-0a1b2c3d4e5f"


def consumer_client(consumer: str, ports: Ports) -> Any:
    bootstrap.install(ports, consumer=consumer)
    return make_app("handle_event", consumer=consumer)


def push_with(
    body: dict[str, Any],
    *,
    attributes: dict[str, str] | None = None,
    data: bytes | None = None,
    attempt: int | None = None,
) -> dict[str, Any]:
    """A copy of a push body with attributes/data/deliveryAttempt replaced."""
    body = copy.deepcopy(body)
    if attributes is not None:
        body["message"]["attributes"] = attributes
    if data is not None:
        body["message"]["data"] = base64.b64encode(data).decode()
    if attempt is not None:
        body["deliveryAttempt"] = attempt
    return body


def test_raw_push_binary_order_placed_is_processed_by_payments() -> None:
    ports = fake_ports()
    client = consumer_client("payments", ports)

    response = client.post(PUSH_PATH, json=load_event("pubsub_push_order_placed_binary.json"))

    assert response.status_code == 200
    assert ports.orders.get(BINARY_ORDER_ID).status is OrderStatus.PAID
    [received] = ports.publisher.of_type("PaymentReceived")
    assert received["causationid"] == BINARY_EVENT_ID
    assert received["correlationid"] == "corr-7d1e2f3a4b5c6d7e"
    assert received["traceparent"].split("-")[1] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert ports.idempotency.records[f"payments:{BINARY_EVENT_ID}"]["state"] == "completed"
    assert ports.dead_letters.entries == []


def test_raw_push_structured_v1_event_is_upcast_for_the_notifier() -> None:
    ports = fake_ports()
    client = consumer_client("notifier", ports)

    response = client.post(
        PUSH_PATH, json=load_event("pubsub_push_order_placed_v1_structured.json")
    )

    assert response.status_code == 200
    [email] = ports.mailer.sent
    assert email.to == "grace@example.com"
    assert "ord_0a1b2c3d4e5f60718293a4b5" in email.subject + email.body
    assert "12.50 USD" in email.body  # v1 amount_cents became v2 total.amount_minor


def test_eventarc_pubsub_trigger_carries_the_same_message() -> None:
    ports = fake_ports()
    client = consumer_client("payments", ports)
    sample = load_event("eventarc_pubsub_order_placed.json")

    response = client.post("/", headers=sample["headers"], data=json.dumps(sample["body"]))

    assert response.status_code == 200
    assert ports.orders.get(BINARY_ORDER_ID).status is OrderStatus.PAID


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_our_cloudevent_posted_directly(mode: str) -> None:
    ports = fake_ports()
    client = consumer_client("notifier", ports)
    event = new_event(
        "PaymentFailed",
        {
            "order_id": "ord_1234567890abcdef",
            "decline_code": "card_declined",
            "reason": "the card was declined",
            "amount": {"amount_minor": 999, "currency": "EUR"},
            "customer_email": "bob@decline.test",
        },
        source="urn:eventsuite/tests",
        subject="ord_1234567890abcdef",
    )
    headers, body = to_binary(event) if mode == "binary" else to_structured(event)

    response = client.post("/", headers=headers, data=body)

    assert response.status_code == 200
    [email] = ports.mailer.sent
    assert email.to == "bob@decline.test"
    assert ports.idempotency.records[f"notifier:{event['id']}"]["state"] == "completed"


def test_redelivered_push_is_acknowledged_without_running_the_handler_again() -> None:
    ports = fake_ports()
    client = consumer_client("notifier", ports)
    body = load_event("pubsub_push_order_placed_binary.json")

    first = client.post(PUSH_PATH, json=body)
    second = client.post(PUSH_PATH, json=push_with(body, attempt=2))

    assert (first.status_code, second.status_code) == (200, 200)
    assert len(ports.mailer.sent) == 1


def test_schema_violation_is_dead_lettered_with_its_reason_and_acknowledged() -> None:
    ports = fake_ports()
    client = consumer_client("payments", ports)
    body = load_event("pubsub_push_order_placed_binary.json")
    broken = push_with(body, data=json.dumps({"order_id": BINARY_ORDER_ID}).encode(), attempt=3)

    response = client.post(PUSH_PATH, json=broken)

    assert response.status_code == 200  # acknowledged: no retry storm
    [entry] = ports.dead_letters.entries
    assert entry["consumer"] == "payments"
    assert entry["attempts"] == 3  # read from the push body's deliveryAttempt
    assert "violates its schema" in entry["reason"]
    assert entry["event"]["id"] == BINARY_EVENT_ID
    assert ports.publisher.events == []


def test_unknown_future_version_is_a_permanent_failure_with_a_clear_reason() -> None:
    ports = fake_ports()
    client = consumer_client("payments", ports)
    body = load_event("pubsub_push_order_placed_binary.json")
    attributes = dict(body["message"]["attributes"], **{"ce-eventversion": "4"})

    response = client.post(PUSH_PATH, json=push_with(body, attributes=attributes))

    assert response.status_code == 200
    [entry] = ports.dead_letters.entries
    assert "version 4 is unknown (newer than this deployment" in entry["reason"]


def test_unreadable_message_is_dead_lettered_with_the_raw_message() -> None:
    ports = fake_ports()
    client = consumer_client("notifier", ports)
    body = push_with(
        load_event("pubsub_push_order_placed_binary.json"),
        attributes={"origin": "someone-else"},
        data=b"\x00 not an event",
    )

    response = client.post(PUSH_PATH, json=body)

    assert response.status_code == 200
    [entry] = ports.dead_letters.entries
    assert entry["event"] is None
    assert "not JSON" in entry["reason"]
    raw = json.loads(entry["raw"])
    assert raw["messageId"] == "11937214285830001"
    assert raw["attributes"] == {"origin": "someone-else"}
    assert base64.b64decode(raw["data"]) == b"\x00 not an event"


def test_binary_message_missing_required_attributes_is_dead_lettered() -> None:
    ports = fake_ports()
    client = consumer_client("payments", ports)
    body = load_event("pubsub_push_order_placed_binary.json")
    attributes = {k: v for k, v in body["message"]["attributes"].items() if k != "ce-id"}

    response = client.post(PUSH_PATH, json=push_with(body, attributes=attributes))

    assert response.status_code == 200
    [entry] = ports.dead_letters.entries
    assert "ce-id" in entry["reason"]


def test_binary_post_without_ce_id_is_refused_rather_than_given_a_random_id() -> None:
    ports = fake_ports()
    client = consumer_client("notifier", ports)
    event = new_event(
        "PaymentFailed",
        {
            "order_id": "ord_1234567890abcdef",
            "decline_code": "x",
            "reason": "y",
            "amount": {"amount_minor": 1, "currency": "EUR"},
            "customer_email": "a@b.test",
        },
        source="urn:eventsuite/tests",
    )
    headers, body = to_binary(event)
    headers = {k: v for k, v in headers.items() if k.lower() != "ce-id"}

    response = client.post("/", headers=headers, data=body)

    assert response.status_code == 400  # functions-framework: not a CloudEvent
    assert ports.mailer.sent == []
    assert ports.idempotency.records == {}


class FlakyMailer(FakeMailer):
    def send(self, email: OutgoingEmail) -> None:
        raise TransientError("relay unavailable")


def test_transient_failure_returns_500_until_the_last_attempt_then_dead_letters() -> None:
    ports = fake_ports(mailer=FlakyMailer())
    client = consumer_client("notifier", ports)  # max_delivery_attempts 8 in the catalog
    body = load_event("pubsub_push_order_placed_binary.json")

    early = client.post(PUSH_PATH, json=push_with(body, attempt=1))
    assert early.status_code == 500  # Pub/Sub redelivers with the retry policy's backoff
    assert ports.dead_letters.entries == []
    assert ports.idempotency.records == {}  # the claim was released for the retry

    last = client.post(PUSH_PATH, json=push_with(body, attempt=8))
    assert last.status_code == 200
    [entry] = ports.dead_letters.entries
    assert entry["reason"] == "gave up after 8 attempts: relay unavailable"
    assert entry["attempts"] == 8


def test_a_consumer_without_its_dead_letter_topic_refuses_to_start() -> None:
    from functions.common.runtime import Runtime
    from shared.inject import MissingDependency

    with pytest.raises(MissingDependency, match="consumer 'payments' cannot start: dead_letters"):
        Runtime(fake_ports(dead_letters=None)).consumer("payments")


def test_storage_notification_push_becomes_image_uploaded_for_the_indexer() -> None:
    ports = fake_ports()
    body = load_event("pubsub_push_storage_finalize.json")
    bucket, key = "test-project-eventsuite-uploads", "uploads/holiday/beach.jpg"
    ports.objects.put(bucket, key, sample_jpeg(make="Fujifilm", model="X100V"))
    client = consumer_client("indexer", ports)

    response = client.post("/projects/test-project/topics/eventsuite-uploads", json=body)

    assert response.status_code == 200
    document = ports.index.get(image_id(bucket, key))
    assert (document["camera_make"], document["camera_model"]) == ("Fujifilm", "X100V")
    assert document["captured_at"] == "2025-08-14T09:30:00"
    # the event id derives from the notification's message id: redeliveries dedupe
    expected_id = derived_event_id("ImageUploaded", "11937214285830003")
    assert ports.idempotency.records[f"indexer:{expected_id}"]["state"] == "completed"


def test_eventarc_finalized_event_becomes_image_uploaded_for_the_thumbnailer() -> None:
    ports = fake_ports()
    sample = load_event("eventarc_storage_finalized.json")
    bucket, key = "test-project-eventsuite-uploads", "uploads/holiday/beach.jpg"
    ports.objects.put(bucket, key, sample_jpeg(size=(1600, 1200)))
    client = consumer_client("thumbnailer", ports)

    response = client.post("/", headers=sample["headers"], data=json.dumps(sample["body"]))

    assert response.status_code == 200
    keys = ports.objects.list_keys(ports.settings.thumbnails_bucket)
    assert "thumbnails/holiday/beach.jpg/256.jpg" in keys
    assert "thumbnails/holiday/beach.jpg/1024.jpg" in keys
    expected_id = derived_event_id("ImageUploaded", "11937214285830004")
    assert f"thumbnailer:{expected_id}" in ports.idempotency.records


def _not_uploads() -> list[tuple[str, Any]]:
    push = load_event("pubsub_push_storage_finalize.json")
    delete = copy.deepcopy(push)
    delete["message"]["attributes"]["eventType"] = "OBJECT_DELETE"
    outside = copy.deepcopy(push)
    outside["message"]["attributes"]["objectId"] = "thumbnails/holiday/beach.jpg/256.jpg"
    eventarc = load_event("eventarc_storage_finalized.json")
    deleted = copy.deepcopy(eventarc)
    deleted["headers"]["ce-type"] = "google.cloud.storage.object.v1.deleted"
    elsewhere = copy.deepcopy(eventarc)
    elsewhere["body"]["name"] = "exports/report.csv"
    return [("push", delete), ("push", outside), ("eventarc", deleted), ("eventarc", elsewhere)]


@pytest.mark.parametrize(
    ("kind", "delivery"),
    _not_uploads(),
    ids=["delete", "outside-prefix", "eventarc-deleted", "eventarc-outside"],
)
def test_storage_events_that_are_not_uploads_are_acknowledged_and_ignored(
    kind: str, delivery: Any
) -> None:
    ports = fake_ports()
    client = consumer_client("thumbnailer", ports)

    if kind == "push":
        response = client.post("/", json=delivery)
    else:
        response = client.post("/", headers=delivery["headers"], data=json.dumps(delivery["body"]))

    assert response.status_code == 200
    assert ports.idempotency.records == {}
    assert ports.dead_letters.entries == []
    assert ports.objects.puts == 0


def test_a_body_that_is_neither_cloudevent_nor_push_is_rejected_by_functions_framework() -> None:
    client = consumer_client("notifier", fake_ports())

    response = client.post("/", data=b"not json", headers={"Content-Type": "application/json"})

    assert response.status_code == 400


def test_unknown_consumer_name_fails_every_delivery_loudly() -> None:
    client = make_app("handle_event", consumer="no_such_consumer")

    response = client.post(PUSH_PATH, json=load_event("pubsub_push_order_placed_binary.json"))

    assert response.status_code == 500


# -- HTTP endpoints -----------------------------------------------------------------------------

ORDER = {
    "customer": {"email": "ada@example.com", "name": "Ada"},
    "currency": "EUR",
    "items": [{"sku": "BOOK-1", "name": "Notes", "quantity": 2, "unit_price_minor": 1500}],
}


def endpoint_client(endpoint: str, ports: Ports) -> Any:
    bootstrap.install(ports, endpoint=endpoint)
    return make_app("handle_http", endpoint=endpoint)


def test_orders_api_over_http() -> None:
    ports = fake_ports()
    client = endpoint_client("orders_api", ports)
    headers = {"Idempotency-Key": "checkout-0001", "X-Correlation-Id": "corr-http-000001"}

    first = client.post("/orders", json=ORDER, headers=headers)
    again = client.post("/orders", json=ORDER, headers=headers)
    invalid = client.post("/orders", json={"currency": "eur"})

    assert first.status_code == 202
    order_id = first.get_json()["order_id"]
    assert first.headers["Location"] == f"/orders/{order_id}"
    assert first.headers["X-Correlation-Id"] == "corr-http-000001"
    assert (again.status_code, again.get_json()["order_id"]) == (200, order_id)
    assert invalid.status_code == 400
    assert invalid.get_json()["problems"]
    # Announced once: the retry found the order's outbox empty.
    [placed] = ports.publisher.of_type("OrderPlaced")
    assert placed["subject"] == order_id
    assert placed["correlationid"] == "corr-http-000001"


def test_payment_webhook_checks_the_signature_and_publishes() -> None:
    ports = fake_ports()
    ports.orders.create(
        OrderRecord(
            order_id="ord_abcdef1234567890",
            status=OrderStatus.PAID,
            customer_email="a@example.com",
            customer_name=None,
            amount_minor=1000,
            currency="EUR",
            items=({"sku": "X", "quantity": 1, "unit_price_minor": 1000},),
            placed_at="2026-01-01T00:00:00Z",
            payment_id="pay_1",
        )
    )
    client = endpoint_client("payment_webhook", ports)
    body = json.dumps(
        {
            "id": "evt_provider_1",
            "type": "payment.refunded",
            "data": {"order_id": "ord_abcdef1234567890", "payment_id": "pay_1"},
        }
    ).encode()
    signature = sign(body, "whsec_test", int(ports.clock.now()))

    forged = client.post(
        "/webhooks/payments",
        data=body,
        headers={SIGNATURE_HEADER: sign(body, "wrong", int(ports.clock.now()))},
    )
    accepted = client.post("/webhooks/payments", data=body, headers={SIGNATURE_HEADER: signature})

    assert forged.status_code == 401
    assert accepted.status_code == 202
    [event] = ports.publisher.of_type("PaymentWebhookReceived")
    assert event["id"] == derived_event_id("PaymentWebhookReceived", "evt_provider_1")


@pytest.mark.parametrize("consumer", ["payments", "notifier"])
def test_an_attribute_only_push_message_reaches_our_code_and_is_dead_lettered_with_a_reason(
    consumer: str,
) -> None:
    """Pub/Sub allows messages with attributes and no data; functions-framework alone answers
    400 to such a push body (Pub/Sub would retry it until the subscription parks it with no
    reason). main.py's middleware completes it with empty data, so the dispatcher sees it."""
    ports = fake_ports()
    client = consumer_client(consumer, ports)
    body = load_event("pubsub_push_order_placed_binary.json")
    del body["message"]["data"]
    body["deliveryAttempt"] = 2

    response = client.post(PUSH_PATH, json=body)

    assert response.status_code == 200, response.get_data(as_text=True)
    [entry] = ports.dead_letters.entries
    assert entry["consumer"] == consumer
    assert entry["attempts"] == 2
    assert entry["reason"], entry
    assert json.loads(entry["raw"])["data"] == ""
    assert ports.publisher.events == []


def test_the_push_completion_leaves_every_other_body_unchanged() -> None:
    from functions.gcp.entrypoint import complete_attribute_only_push

    with_data = json.dumps(load_event("pubsub_push_order_placed_binary.json")).encode()
    assert complete_attribute_only_push(with_data) == with_data
    for body in (b"", b"not json", b'{"message": 1, "subscription": "s"}', b"[1]"):
        assert complete_attribute_only_push(body) == body
    background = {"context": {}, "message": {"messageId": "1"}, "subscription": "s"}
    raw = json.dumps(background).encode()
    assert complete_attribute_only_push(raw) == raw
    attribute_only = {"message": {"messageId": "1", "attributes": {"a": "b"}}, "subscription": "s"}
    completed = json.loads(complete_attribute_only_push(json.dumps(attribute_only).encode()))
    assert completed["message"] == {"messageId": "1", "attributes": {"a": "b"}, "data": ""}
