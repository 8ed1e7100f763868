"""Dead letters carry the same attribute names on every cloud (``shared.deadletter``)."""

from __future__ import annotations

from typing import Any

from functions.aws.adapters.sqs import SqsDeadLetterSink
from functions.aws.clients import AwsClients
from functions.gcp.pubsub import PubSubDeadLetterSink

EVENT = {
    "specversion": "1.0",
    "id": "evt-dl-7",
    "type": "io.eventsuite.OrderPlaced",
    "source": "urn:test",
    "data": {},
}


class RecordingSqs:
    def __init__(self) -> None:
        self.attributes: dict[str, Any] = {}

    def send_message(self, **request: Any) -> dict[str, Any]:
        self.attributes = request["MessageAttributes"]
        return {"MessageId": "m-1"}


class RecordingPubSub:
    def __init__(self) -> None:
        self.attributes: dict[str, str] = {}

    def publish(self, topic: str, data: bytes, **attributes: str) -> Any:
        self.attributes = attributes

        class Done:
            def result(self, timeout: float | None = None) -> str:
                return "1"

        return Done()


def test_sqs_and_pubsub_dead_letters_name_the_event_alike() -> None:
    sqs, pubsub = RecordingSqs(), RecordingPubSub()
    for sink in (
        SqsDeadLetterSink(AwsClients(overrides={"sqs": sqs}), "https://sqs/dlq"),
        PubSubDeadLetterSink(lambda: pubsub, "projects/p/topics/dlq"),
    ):
        sink.dead_letter(consumer="payments", event=EVENT, raw=None, reason="bad", attempts=2)

    common = {"reason", "consumer", "attempts", "event_id", "event_type"}
    assert set(sqs.attributes) == common
    assert set(pubsub.attributes) == common | {"content-type"}  # the payload's media type
    assert sqs.attributes["event_id"]["StringValue"] == pubsub.attributes["event_id"] == "evt-dl-7"
    assert pubsub.attributes["event_type"] == "io.eventsuite.OrderPlaced"
    # Pub/Sub attribute keys: any UTF-8 up to 256 bytes, not starting with "goog".
    assert all(len(k.encode()) <= 256 and not k.startswith("goog") for k in pubsub.attributes)
