"""What Event Grid writes into the queues, read back as our CloudEvents (no I/O)."""

from __future__ import annotations

import base64
import json

import pytest

from functions.azure.events import decode_queue_message, parse_queue_body
from shared.envelope import decode, new_event, to_json_bytes
from shared.errors import InvalidEnvelope, PermanentError
from tests.unit.azure.app_support import sample


def test_blob_created_cloudevent_becomes_image_uploaded() -> None:
    event = decode(decode_queue_message(sample("blob_created_cloudevent.json")))
    assert event.name == "ImageUploaded"
    assert dict(event.data) == {
        "bucket": "uploads",
        "key": "uploads/2025/holiday photo.jpg",  # from the subject: not URL-encoded
        "size": 524288,
        "content_type": "image/jpeg",
        "etag": "0x8D4BCC2E4835CD0",
        "uploaded_at": "2025-06-26T18:41:00.958Z",
    }
    assert event.source.endswith("/storageAccounts/eventsuitest0a1b2c")
    assert event.subject == "uploads/2025/holiday photo.jpg"


def test_both_event_grid_schemas_and_redeliveries_give_one_event_id() -> None:
    first = decode_queue_message(sample("blob_created_cloudevent.json"))
    again = decode_queue_message(sample("blob_created_cloudevent.json"))
    legacy = decode_queue_message(sample("blob_created_eventgrid_schema.json"))
    assert first["id"] == again["id"] == legacy["id"]
    assert first.get_data() == legacy.get_data()


def test_a_notification_with_a_different_id_is_a_different_event() -> None:
    payload = json.loads(sample("blob_created_cloudevent.json"))
    payload["id"] = "another-notification"
    assert (
        decode_queue_message(json.dumps(payload))["id"]
        != decode_queue_message(sample("blob_created_cloudevent.json"))["id"]
    )


def test_the_blob_url_is_the_fallback_when_the_subject_is_missing() -> None:
    payload = json.loads(sample("blob_created_cloudevent.json"))
    del payload["subject"]
    data = decode_queue_message(json.dumps(payload)).get_data()
    assert (data["bucket"], data["key"]) == ("uploads", "uploads/2025/holiday photo.jpg")


def test_blobs_outside_the_uploads_prefix_are_refused_permanently() -> None:
    payload = json.loads(sample("blob_created_cloudevent.json"))
    payload["subject"] = "/blobServices/default/containers/thumbnails/blobs/thumbnails/a/256.jpg"
    with pytest.raises(PermanentError, match="outside the uploads prefix"):
        decode_queue_message(json.dumps(payload))


@pytest.mark.parametrize("length", [None, -1, "12", True])
def test_a_blob_created_event_needs_a_content_length(length: object) -> None:
    payload = json.loads(sample("blob_created_cloudevent.json"))
    payload["data"]["contentLength"] = length
    with pytest.raises(InvalidEnvelope, match="contentLength"):
        decode_queue_message(json.dumps(payload))


def test_application_events_keep_every_attribute() -> None:
    original = new_event(
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
    received = decode_queue_message(to_json_bytes(original))
    assert received.get_attributes() == original.get_attributes()
    assert received.get_data() == original.get_data()


def test_an_old_version_from_the_queue_is_upcast() -> None:
    event = decode(decode_queue_message(sample("eventgrid_order_placed_v1.json")))
    assert (event.name, event.original_version, event.version) == ("OrderPlaced", 1, 3)
    assert event.data["total"] == {"amount_minor": 2500, "currency": "EUR"}
    assert event.correlation_id == "corr-azure-sample-0001"


def test_a_base64_encoded_message_is_decoded() -> None:
    encoded = base64.b64encode(sample("eventgrid_order_placed_v1.json"))
    assert decode_queue_message(encoded)["id"] == "9f1c2b7e-4c55-4d0e-8a61-3e2f3b2d4a10"
    expected = json.loads(sample("eventgrid_order_placed_v1.json"))
    assert parse_queue_body(encoded.decode()) == expected


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"not json at all", "neither JSON nor base64-encoded JSON"),
        (base64.b64encode(b"still not json"), "neither JSON nor base64-encoded JSON"),
        (b"[1, 2]", "JSON array"),
        (b"42", "not a JSON object"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"id": "1", "type": "io.eventsuite.OrderPlaced"}', "lacks required attribute"),
    ],
)
def test_unreadable_messages_are_invalid_envelopes(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidEnvelope, match=reason):
        decode_queue_message(body)
