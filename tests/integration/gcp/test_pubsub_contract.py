"""Contract tests of the Pub/Sub adapters against Google's Pub/Sub emulator.

The emulator is the one named by ``PUBSUB_EMULATOR_HOST`` (the GitHub workflow starts it), or
the installed gcloud one (apt ``google-cloud-cli-pubsub-emulator``), started here on
127.0.0.1; with neither, every test is reported as skipped with that reason. The project id
comes from ``PUBSUB_PROJECT_ID`` (default ``test-project``).

Not covered, because the emulator cannot show it: subscription ``filter``s. It stores any
filter string without validating or applying it (checked with emulator 528.0.0: both an
``attributes.ce-type = "..."`` filter and ``bogus((`` are accepted, and every message is
delivered), so the ``ce-type`` routing is exercised by the push broker in ``test_flows.py``
and, in the cloud, by Pub/Sub itself; the dispatcher dead-letters a misrouted event anyway.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from functions.gcp.clients import GcpClients
from functions.gcp.pubsub import PubSubDeadLetterSink, PubSubPublisher
from functions.gcp.translate import STRUCTURED_CONTENT_TYPE, PubSubMessage, decode_message
from shared.envelope import decode, new_event
from shared.errors import TransientError
from tests.builders import order_v2, payment_received_data
from tests.emulators import pubsub_pull as pull

pytestmark = pytest.mark.integration

PROJECT = os.environ.get("PUBSUB_PROJECT_ID", "test-project")
ORDER_ID = "ord_contract0000000001"


@pytest.fixture(scope="module")
def clients(pubsub_host: str) -> GcpClients:
    return GcpClients(project=PROJECT)


@pytest.fixture(scope="module")
def subscriber(pubsub_host: str) -> Iterator[Any]:
    from google.cloud import pubsub_v1

    client = pubsub_v1.SubscriberClient()
    yield client
    client.close()


@pytest.fixture
def topic(clients: GcpClients, subscriber: Any) -> Iterator[dict[str, str]]:
    """A fresh topic with an ordered subscription (as Terraform makes for order consumers)."""
    suffix = uuid.uuid4().hex[:10]
    names = {
        "topic": f"projects/{PROJECT}/topics/contract-{suffix}",
        "all": f"projects/{PROJECT}/subscriptions/contract-{suffix}-all",
    }
    publisher = clients.publisher()
    publisher.create_topic(request={"name": names["topic"]})
    subscriber.create_subscription(
        request={"name": names["all"], "topic": names["topic"], "enable_message_ordering": True}
    )
    yield names
    subscriber.delete_subscription(request={"subscription": names["all"]})
    publisher.delete_topic(request={"topic": names["topic"]})


def _order_events() -> list[Any]:
    placed = new_event(
        "OrderPlaced", order_v2(ORDER_ID), source="urn:eventsuite/contract", subject=ORDER_ID
    )
    paid = new_event(
        "PaymentReceived",
        payment_received_data(ORDER_ID),
        source="urn:eventsuite/contract",
        subject=ORDER_ID,
    )
    return [placed, paid]


def test_publisher_uses_binary_mode_attributes_and_the_order_id_as_ordering_key(
    clients: GcpClients, subscriber: Any, topic: dict[str, str]
) -> None:
    events = _order_events()
    PubSubPublisher(clients.publisher, topic["topic"]).publish(events)

    messages = pull(subscriber, topic["all"], 2)

    assert [m.attributes["ce-id"] for m in messages] == [e["id"] for e in events]  # in order
    for message, event in zip(messages, events, strict=True):
        assert message.ordering_key == ORDER_ID
        attributes = dict(message.attributes)
        assert attributes["ce-type"] == event["type"]
        assert attributes["ce-specversion"] == "1.0"
        assert attributes["ce-eventversion"] == event["eventversion"]
        assert attributes["ce-correlationid"] == event["correlationid"]
        assert attributes["ce-traceparent"] == event["traceparent"]
        assert attributes["content-type"] == "application/json"
        assert json.loads(message.data) == event.get_data()
        received = PubSubMessage(message.data, attributes, message.message_id)
        decoded = decode(decode_message(received))
        assert (decoded.id, decoded.name) == (event["id"], event["type"].rsplit(".", 1)[1])


def test_dead_letter_sink_publishes_the_event_with_reason_consumer_and_attempts(
    clients: GcpClients, subscriber: Any, topic: dict[str, str]
) -> None:
    event = {
        "specversion": "1.0",
        "id": "evt-dl-1",
        "type": "io.eventsuite.OrderPlaced",
        "source": "urn:x",
        "data": {"order_id": ORDER_ID},
    }
    sink = PubSubDeadLetterSink(clients.publisher, topic["topic"])

    sink.dead_letter(consumer="payments", event=event, raw=None, reason="bad " * 400, attempts=3)
    sink.dead_letter(
        consumer="payments", event=None, raw=b"\x00raw", reason="unreadable", attempts=1
    )

    messages = pull(subscriber, topic["all"], 2)
    by_reason = {m.attributes["reason"][:3]: m for m in messages}
    structured = by_reason["bad"]
    assert structured.attributes["consumer"] == "payments"
    assert structured.attributes["attempts"] == "3"
    assert structured.attributes["content-type"] == STRUCTURED_CONTENT_TYPE
    # The names every sink uses (shared.deadletter), as on the SQS dead-letter queues.
    assert structured.attributes["event_id"] == "evt-dl-1"
    assert structured.attributes["event_type"] == event["type"]
    assert not {"event-id", "event-type"} & set(structured.attributes)
    assert len(structured.attributes["reason"].encode()) <= 1024  # Pub/Sub's attribute limit
    assert json.loads(structured.data) == event
    assert by_reason["unr"].data == b"\x00raw"
    assert not {"event_id", "event_type"} & set(by_reason["unr"].attributes)  # unreadable


def test_publishing_to_a_missing_topic_is_transient(clients: GcpClients) -> None:
    missing = f"projects/{PROJECT}/topics/missing-{uuid.uuid4().hex[:8]}"
    publisher = PubSubPublisher(clients.publisher, missing, timeout=30)

    with pytest.raises(TransientError, match=missing):
        publisher.publish(_order_events()[:1])
