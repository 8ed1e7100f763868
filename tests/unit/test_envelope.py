"""The envelope: versions, upcasting, correlation, trace context, claim check."""

from __future__ import annotations

import json

import pytest

from shared.envelope import (
    ClaimCheckPublisher,
    decode,
    from_structured,
    new_event,
    new_traceparent,
    to_json_bytes,
    to_structured,
)
from shared.errors import InvalidEnvelope, SchemaViolation, UnknownEventType, UnknownEventVersion
from tests.builders import order_v1, order_v2
from tests.fakes import FakeObjectStore, FakePublisher


def test_new_event_carries_version_correlation_and_trace() -> None:
    event = to_structured(new_event("OrderPlaced", order_v2(), source="urn:test"))
    assert event["specversion"] == "1.0"
    assert event["type"] == "io.eventsuite.OrderPlaced"
    assert event["eventversion"] == "3"
    assert event["dataschema"] == "urn:eventsuite:schema:OrderPlaced.v3"
    assert len(event["correlationid"]) >= 8
    assert event["traceparent"].startswith("00-") and len(event["traceparent"]) == 55


def test_follow_up_events_inherit_correlation_and_trace() -> None:
    cause = decode(
        new_event("OrderPlaced", order_v2(), source="urn:test", correlation_id="corr-123456")
    )
    effect = decode(
        new_event(
            "PaymentReceived",
            {
                "order_id": cause.data["order_id"],
                "payment_id": "pay_1",
                "amount": {"amount_minor": 1, "currency": "EUR"},
                "customer_email": "a@b.co",
            },
            source="urn:test",
            cause=cause,
        )
    )
    assert effect.correlation_id == "corr-123456"
    assert effect.causation_id == cause.id
    assert effect.traceparent.split("-")[1] == cause.traceparent.split("-")[1]  # same trace
    assert effect.traceparent.split("-")[2] != cause.traceparent.split("-")[2]  # new span


def test_malformed_parent_trace_starts_a_new_trace() -> None:
    assert new_traceparent("garbage").split("-")[1] != "garbage"


def test_producers_cannot_emit_invalid_data() -> None:
    with pytest.raises(SchemaViolation, match="total"):
        new_event(
            "OrderPlaced",
            {**order_v2(), "total": {"amount_minor": -1, "currency": "EUR"}},
            source="urn:test",
        )


def test_v1_is_upcast_to_the_current_version_before_handlers_see_it() -> None:
    wire = to_json_bytes(new_event("OrderPlaced", order_v1(), source="urn:legacy", version=1))
    event = decode(from_structured(wire))
    assert (event.version, event.original_version) == (3, 1)
    assert event.data["customer"] == {"email": "ann@example.com", "name": None, "locale": None}
    assert event.data["payment_method"] is None
    assert event.data["total"] == {"amount_minor": 2500, "currency": "EUR"}
    assert event.data["items"][0]["unit_price_minor"] == 1250
    assert event.data["placed_at"] == event.time


def test_unknown_future_version_is_a_clear_permanent_error() -> None:
    payload = to_structured(new_event("OrderPlaced", order_v2(), source="urn:test"))
    payload["eventversion"] = "4"
    with pytest.raises(UnknownEventVersion, match=r"OrderPlaced version 4 is unknown \(newer"):
        decode(from_structured(payload))


def test_missing_version_is_rejected() -> None:
    payload = to_structured(new_event("OrderPlaced", order_v2(), source="urn:test"))
    del payload["eventversion"]
    with pytest.raises(InvalidEnvelope, match="no 'eventversion'"):
        decode(from_structured(payload))


def test_unknown_type_is_rejected() -> None:
    payload = to_structured(new_event("OrderPlaced", order_v2(), source="urn:test"))
    payload["type"] = "io.eventsuite.ProcessOrder"
    with pytest.raises(UnknownEventType, match="ProcessOrder"):
        decode(from_structured(payload))


def test_schema_invalid_data_names_the_field() -> None:
    payload = to_structured(new_event("OrderPlaced", order_v2(), source="urn:test"))
    payload["data"]["customer"]["email"] = "not-an-email"
    with pytest.raises(SchemaViolation, match="customer/email"):
        decode(from_structured(payload))


@pytest.mark.parametrize(
    "wire",
    [
        b"{not json",
        b"[1,2]",
        b'{"id": "1"}',
        b'{"id":"1","source":"s","type":"t","specversion":"0.3"}',
    ],
)
def test_malformed_envelopes_are_invalid(wire: bytes) -> None:
    with pytest.raises(InvalidEnvelope):
        from_structured(wire)


def test_claim_check_round_trip_for_large_payloads() -> None:
    objects, inner = FakeObjectStore(), FakePublisher()
    publisher = ClaimCheckPublisher(inner, lambda: objects, bucket="claims", threshold_bytes=1024)
    data = order_v2()
    data["items"] = [
        {"sku": f"sku-{i}", "name": "x" * 150, "quantity": 1, "unit_price_minor": 1}
        for i in range(40)
    ]
    data["total"]["amount_minor"] = 40
    small = new_event("OrderPlaced", order_v2(), source="urn:test")
    large = new_event("OrderPlaced", data, source="urn:test")
    publisher.publish([small, large])
    sent_small, sent_large = inner.events
    assert sent_small.get_data() == small.get_data()
    assert sent_large.get_data() is None
    assert sent_large["dataref"] == f"claim://claims/claims/{large['id']}.json"
    assert len(to_json_bytes(sent_large)) < 1024
    decoded = decode(from_structured(to_json_bytes(sent_large)), objects=objects)
    assert decoded.data == data


def test_the_claims_store_is_built_for_the_first_large_payload_only() -> None:
    built: list[FakeObjectStore] = []

    def claims_store() -> FakeObjectStore:
        built.append(FakeObjectStore())
        return built[-1]

    publisher = ClaimCheckPublisher(
        FakePublisher(), claims_store, bucket="claims", threshold_bytes=1024
    )
    publisher.publish([new_event("OrderPlaced", order_v2(), source="urn:test")])
    assert built == []  # a function that publishes small events never builds the client
    data = order_v2()
    data["items"] = [
        {"sku": f"sku-{i}", "name": "x" * 150, "quantity": 1, "unit_price_minor": 1}
        for i in range(40)
    ]
    data["total"]["amount_minor"] = 40
    for _ in range(2):
        publisher.publish([new_event("OrderPlaced", data, source="urn:test")])
    assert len(built) == 1 and len(built[0].objects) == 2


def test_claim_check_missing_object_is_permanent() -> None:
    payload = to_structured(new_event("OrderPlaced", order_v2(), source="urn:test"))
    payload["data"] = None
    payload["dataref"] = "claim://claims/claims/gone.json"
    from shared.errors import ObjectNotFound

    with pytest.raises(ObjectNotFound):
        decode(from_structured(payload), objects=FakeObjectStore())


def test_structured_json_is_compact_utf8() -> None:
    body = to_json_bytes(
        new_event(
            "OrderPlaced",
            {**order_v2(), "customer": {"email": "zoë@example.com", "name": "Zoë"}},
            source="urn:test",
        )
    )
    assert "Zoë".encode() in body
    assert json.loads(body)["data"]["customer"]["name"] == "Zoë"
