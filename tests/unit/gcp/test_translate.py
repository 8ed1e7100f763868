"""Pure translations between Google Cloud deliveries and our CloudEvents (no I/O)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cloudevents.http import CloudEvent

from functions.gcp.translate import (
    PubSubMessage,
    decode_binary,
    decode_message,
    encode_binary,
    finalized_event,
    finalized_skip_reason,
    notification_event,
    notification_skip_reason,
    ordering_key,
    uploaded_event,
)
from shared.envelope import ClaimCheckPublisher, decode, new_event
from shared.errors import InvalidEnvelope, PermanentError
from shared.ids import derived_event_id
from tests.fakes import FakeObjectStore, FakePublisher

EVENTS = Path(__file__).resolve().parents[2] / "events" / "gcp"


def sample(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def order_placed() -> CloudEvent:
    return new_event(
        "OrderPlaced",
        {
            "order_id": "ord_0123456789abcdef",
            "customer": {"email": "ü@example.com", "name": "Zoë"},
            "total": {"amount_minor": 500, "currency": "EUR"},
            "items": [{"sku": "A", "name": None, "quantity": 1, "unit_price_minor": 500}],
            "placed_at": "2026-01-01T00:00:00.000Z",
        },
        source="urn:eventsuite/tests",
        subject="ord_0123456789abcdef",
    )


def received(message: Any, message_id: str = "42") -> PubSubMessage:
    return PubSubMessage(message.data, message.attributes, message_id)


def test_binary_encoding_round_trips_every_attribute_and_the_data() -> None:
    event = order_placed()

    message = encode_binary(event)
    back = decode_binary(received(message))

    assert message.attributes["ce-type"] == "io.eventsuite.OrderPlaced"
    assert message.attributes["content-type"] == "application/json"
    assert "ce-datacontenttype" not in message.attributes
    assert all(isinstance(v, str) for v in message.attributes.values())
    assert back.get_attributes() == event.get_attributes()
    assert back.get_data() == event.get_data()
    assert json.loads(message.data.decode("utf-8"))["customer"]["name"] == "Zoë"


def test_order_events_are_keyed_by_order_id_and_images_are_not() -> None:
    image = new_event(
        "ImageUploaded",
        {"bucket": "b", "key": "uploads/x.jpg", "size": 1, "uploaded_at": "2026-01-01T00:00:00Z"},
        source="urn:x",
        subject="uploads/x.jpg",
    )
    assert encode_binary(order_placed()).ordering_key == "ord_0123456789abcdef"
    assert ordering_key(image) == ""


def test_claim_checked_event_travels_as_json_null_and_is_resolved_on_decode() -> None:
    objects, inner = FakeObjectStore(), FakePublisher()
    ClaimCheckPublisher(inner, lambda: objects, bucket="claims", threshold_bytes=10).publish(
        [order_placed()]
    )
    [checked] = inner.events

    message = encode_binary(checked)
    event = decode(decode_binary(received(message)), objects=objects)

    assert message.data == b"null"  # never an empty message: push bodies keep their 'data'
    assert message.ordering_key == "ord_0123456789abcdef"  # from the subject
    assert message.attributes["ce-dataref"].startswith("claim://claims/")
    assert event.data["customer"]["name"] == "Zoë"


def test_structured_message_is_read_and_old_versions_upcast() -> None:
    push = sample("pubsub_push_order_placed_v1_structured.json")

    event = decode(decode_message(PubSubMessage.from_json(push["message"])))

    assert (event.name, event.version, event.original_version) == ("OrderPlaced", 3, 1)
    assert event.data["total"] == {"amount_minor": 1250, "currency": "USD"}


def test_binary_sample_decodes_with_its_trace_and_correlation() -> None:
    push = sample("pubsub_push_order_placed_binary.json")

    event = decode(decode_message(PubSubMessage.from_json(push["message"])))

    assert event.id == "8c0f9a3e-1d2b-4c5a-9e7f-0a1b2c3d4e5f"
    assert event.correlation_id == "corr-7d1e2f3a4b5c6d7e"
    assert event.traceparent == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ({"data": "%%%", "messageId": "1"}, "not base64"),
        ({"data": "", "attributes": ["x"], "messageId": "1"}, "attributes are not an object"),
        (None, "no 'message' object"),
    ],
)
def test_malformed_push_messages_are_invalid_envelopes(message: Any, problem: str) -> None:
    with pytest.raises(InvalidEnvelope, match=problem):
        PubSubMessage.from_json(message)


def test_binary_message_without_required_attributes_names_them() -> None:
    message = encode_binary(order_placed())
    attributes = {k: v for k, v in message.attributes.items() if k not in ("ce-source", "ce-id")}

    with pytest.raises(InvalidEnvelope, match="ce-id, ce-source"):
        decode_binary(PubSubMessage(message.data, attributes, "1"))


def test_message_json_keeps_everything_for_a_dead_letter() -> None:
    message = PubSubMessage(b"\x00\xff", {"a": "b"}, "7", "2026-01-01T00:00:00Z", "key")

    again = PubSubMessage.from_json(json.loads(message.to_json_bytes()))

    assert again == message


def test_storage_notification_becomes_image_uploaded() -> None:
    message = PubSubMessage.from_json(sample("pubsub_push_storage_finalize.json")["message"])

    event = notification_event(message)

    assert notification_skip_reason(message) is None
    assert event["id"] == derived_event_id("ImageUploaded", "11937214285830003")
    assert (
        event["source"]
        == "//storage.googleapis.com/projects/_/buckets/test-project-eventsuite-uploads"
    )
    assert event.get_data() == {
        "bucket": "test-project-eventsuite-uploads",
        "key": "uploads/holiday/beach.jpg",
        "size": 48213,
        "content_type": "image/jpeg",
        "etag": "CMDi9bGx6YIDEAE=",
        "uploaded_at": "2026-03-01T10:00:00.123Z",
    }


def test_eventarc_finalized_event_carries_the_same_data() -> None:
    delivery = sample("eventarc_storage_finalized.json")
    headers = delivery["headers"]
    attributes = {k[3:]: v for k, v in headers.items() if k.startswith("ce-")}
    incoming = CloudEvent(attributes, delivery["body"])
    notified = notification_event(
        PubSubMessage.from_json(sample("pubsub_push_storage_finalize.json")["message"])
    )

    event = finalized_event(incoming)

    assert finalized_skip_reason(incoming) is None
    assert event["id"] == derived_event_id("ImageUploaded", "11937214285830004")
    assert event.get_data() == notified.get_data()


def test_storage_notifications_that_are_not_uploads_say_why() -> None:
    message = PubSubMessage.from_json(sample("pubsub_push_storage_finalize.json")["message"])
    deleted = PubSubMessage(message.data, {**message.attributes, "eventType": "OBJECT_DELETE"}, "1")
    outside = PubSubMessage(message.data, {**message.attributes, "objectId": "thumbs/x.jpg"}, "1")

    assert "OBJECT_DELETE is not an upload" in str(notification_skip_reason(deleted))
    assert "outside the uploads prefix" in str(notification_skip_reason(outside))


def test_storage_notification_without_payload_is_permanent() -> None:
    message = PubSubMessage.from_json(sample("pubsub_push_storage_finalize.json")["message"])
    empty = PubSubMessage(b"", message.attributes, "1")

    with pytest.raises(PermanentError, match="JSON_API_V1"):
        notification_event(empty)


def test_object_resource_with_a_bad_size_is_an_invalid_envelope() -> None:
    with pytest.raises(InvalidEnvelope, match="size"):
        uploaded_event(
            {"bucket": "b", "name": "uploads/x.jpg", "size": "many"}, notification_id="1"
        )


def test_structured_data_in_a_notification_resource_is_base64_decoded_once() -> None:
    payload = {"bucket": "b", "name": "uploads/x.jpg", "size": "3", "timeCreated": "bad"}
    message = PubSubMessage.from_json(
        {
            "data": base64.b64encode(json.dumps(payload).encode()).decode(),
            "attributes": {
                "eventType": "OBJECT_FINALIZE",
                "bucketId": "b",
                "objectId": "uploads/x.jpg",
            },
            "messageId": "9",
        }
    )

    event = notification_event(message)

    assert event.get_data()["size"] == 3
    assert event.get_data()["uploaded_at"].endswith("Z")  # unparsable time: now, not garbage
