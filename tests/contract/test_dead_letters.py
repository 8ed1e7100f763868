"""DeadLetterSink contract: a parked delivery keeps why, for whom, after how many attempts, and
the event, readable back from the backend's dead-letter destination."""

from __future__ import annotations

import json
import uuid

from tests.builders import image_event
from tests.contract.conftest import DeadLetterBackend, Parked


def test_a_parked_event_keeps_reason_consumer_attempts_and_the_event(
    dead_letter_backend: DeadLetterBackend,
) -> None:
    from cloudevents.conversion import to_dict

    consumer = f"contract{uuid.uuid4().hex[:8]}"
    event = to_dict(image_event("uploads/broken.jpg"))
    dead_letter_backend.sink.dead_letter(
        consumer=consumer,
        event=event,
        raw=json.dumps(event).encode(),
        reason="corrupt image: cannot identify image file",
        attempts=3,
    )
    [parked] = dead_letter_backend.read(consumer)
    assert (parked.consumer, parked.reason, parked.attempts) == (
        consumer,
        "corrupt image: cannot identify image file",
        3,
    )
    assert parked.event is not None
    assert (parked.event["id"], parked.event["type"], parked.event["data"]) == (
        event["id"],
        event["type"],
        event["data"],
    )


def test_an_unreadable_delivery_is_parked_with_its_reason(
    dead_letter_backend: DeadLetterBackend,
) -> None:
    consumer = f"contract{uuid.uuid4().hex[:8]}"
    dead_letter_backend.sink.dead_letter(
        consumer=consumer, event=None, raw=b"not json", reason="bad JSON", attempts=1
    )
    assert dead_letter_backend.read(consumer) == [Parked(consumer, "bad JSON", 1, None)]
