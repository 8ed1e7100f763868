"""Pure translation of AWS payloads (captured sample events under tests/events/aws)."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from functions.aws.translate import (
    attempt_of,
    batch_response,
    cloud_event_from_body,
    http_request,
    http_response,
)
from shared.envelope import decode, to_json_bytes
from shared.errors import InvalidEnvelope, PermanentError
from shared.http import HttpResponse

EVENTS = Path(__file__).resolve().parents[2] / "events" / "aws"


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def s3_envelope() -> dict[str, Any]:
    return json.loads(load("sqs_s3_object_created.json")["Records"][0]["body"])


def test_s3_object_created_becomes_image_uploaded() -> None:
    record = load("sqs_s3_object_created.json")["Records"][0]
    event = decode(cloud_event_from_body(record["body"]))
    assert event.name == "ImageUploaded"
    assert dict(event.data) == {
        "bucket": "suite-uploads-111122223333-eu-west-1",
        "key": "uploads/2026/harbour.jpg",
        "size": 482133,
        "content_type": None,
        "etag": "b1946ac92492d2347c6235b4d2611184",
        "uploaded_at": "2026-11-26T10:15:30Z",
    }
    assert event.source == "arn:aws:s3:::suite-uploads-111122223333-eu-west-1"
    assert event.correlation_id == "2d1c7fa4-4b0c-1d0a-9d1a-6b7e0f1c2a3b"
    assert attempt_of(record) == 1


def test_the_image_event_id_is_stable_per_notification_and_object_version() -> None:
    envelope = s3_envelope()
    first = cloud_event_from_body(json.dumps(envelope))["id"]
    assert cloud_event_from_body(json.dumps(envelope))["id"] == first  # a redelivery dedupes
    newer = copy.deepcopy(envelope)
    newer["detail"]["object"]["version-id"] = "another-version"
    assert cloud_event_from_body(json.dumps(newer))["id"] != first  # same key, new object
    other = copy.deepcopy(envelope)
    other["id"] = "a-different-notification"
    assert cloud_event_from_body(json.dumps(other))["id"] != first


def test_moto_style_s3_events_are_understood_too() -> None:
    envelope = s3_envelope()
    obj = envelope["detail"]["object"]
    obj["eTag"] = obj.pop("etag")
    obj["version-id"] = "null"  # unversioned bucket
    event = decode(cloud_event_from_body(json.dumps(envelope)))
    assert event.data["etag"] == "b1946ac92492d2347c6235b4d2611184"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda e: e["detail"]["object"].update(key="thumbnails/x.jpg"),
            "outside the uploads prefix",
        ),
        (lambda e: e.update({"detail-type": "Object Deleted"}), "unsupported S3 notification"),
        (lambda e: e["detail"].pop("bucket"), "malformed S3"),
    ],
)
def test_s3_events_we_cannot_use_are_permanent(change: Any, message: str) -> None:
    envelope = s3_envelope()
    change(envelope)
    with pytest.raises(PermanentError, match=message):
        cloud_event_from_body(json.dumps(envelope))


def test_an_eventbridge_app_event_carries_our_cloud_event() -> None:
    record = load("sqs_order_placed.json")["Records"][0]
    event = decode(cloud_event_from_body(record["body"]))
    assert (event.name, event.version, event.id) == (
        "OrderPlaced",
        3,  # sent as v2, upcast to the current version
        "5f0e4c1a-2b61-5d8e-9c3e-0e1d2c3b4a59",
    )
    assert event.correlation_id == "c0ffee00-1234-4abc-8def-0123456789ab"
    assert event.traceparent.startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")


def test_a_bare_structured_cloud_event_is_accepted() -> None:
    detail = json.loads(load("sqs_order_placed.json")["Records"][0]["body"])["detail"]
    event = cloud_event_from_body(json.dumps(detail).encode())
    assert to_json_bytes(event) == to_json_bytes(cloud_event_from_body(json.dumps(detail)))
    assert event["type"] == "io.eventsuite.OrderPlaced"


@pytest.mark.parametrize(
    "body",
    [
        "",
        "{nope",
        "[1,2]",
        '{"hello": "world"}',
        '{"detail-type": "x", "detail": "not an object"}',
        '{"specversion": "1.0", "type": "t"}',
    ],
)
def test_unreadable_bodies_are_invalid_envelopes(body: str) -> None:
    with pytest.raises(InvalidEnvelope):
        cloud_event_from_body(body)


def test_attempt_is_the_approximate_receive_count() -> None:
    assert attempt_of({"attributes": {"ApproximateReceiveCount": "7"}}) == 7
    assert attempt_of({"attributes": {}}) == 1
    assert attempt_of({"attributes": {"ApproximateReceiveCount": "x"}}) == 1


def test_api_gateway_v2_requests_translate() -> None:
    request = http_request(load("apigw_v2_post_orders.json"))
    assert (request.method, request.path) == ("POST", "/orders")
    assert request.header("Idempotency-Key") == "checkout-7f3a9c21"
    assert json.loads(request.body)["currency"] == "EUR"
    plain = http_request(
        {
            "requestContext": {"http": {"method": "post"}},
            "rawPath": "/x",
            "headers": {"X-Mixed": "1"},
            "body": "héllo",
            "isBase64Encoded": False,
        }
    )
    assert (plain.method, plain.body, plain.headers) == ("POST", "héllo".encode(), {"x-mixed": "1"})
    with pytest.raises(ValueError, match="base64"):
        http_request({"body": "***", "isBase64Encoded": True})
    assert (
        http_request({"body": base64.b64encode(b"\x00\xff").decode(), "isBase64Encoded": True}).body
        == b"\x00\xff"
    )


def test_responses_translate() -> None:
    payload = http_response(HttpResponse(202, {"order_id": "ord_1"}, {"Location": "/orders/ord_1"}))
    assert payload == {
        "statusCode": 202,
        "isBase64Encoded": False,
        "body": '{"order_id":"ord_1"}',
        "headers": {"Content-Type": "application/json", "Location": "/orders/ord_1"},
    }
    assert batch_response(["a", "b"]) == {
        "batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "b"}]
    }
    assert batch_response([]) == {"batchItemFailures": []}
