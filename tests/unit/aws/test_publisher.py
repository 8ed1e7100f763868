"""EventBridge publishing rules, with a hand-written fake client (no network)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.aws.adapters.eventbridge import (
    MAX_REQUEST_BYTES,
    EventBridgePublisher,
    chunks,
    entry_size,
    to_entry,
)
from functions.aws.clients import AwsClients
from shared.envelope import new_event
from shared.errors import PayloadTooLarge, TransientError


def received(n: int) -> Any:
    return new_event(
        "PaymentReceived",
        {
            "order_id": f"ord_{n:024x}",
            "payment_id": f"pay_{n}",
            "customer_email": "a@b.co",
            "amount": {"amount_minor": n, "currency": "EUR"},
        },
        source="urn:eventsuite/tests",
    )


class FakeEventsClient:
    """Accepts PutEvents calls; the first ``flaky_calls`` reject the entries at ``reject``."""

    def __init__(self, *, flaky_calls: int = 0, reject: tuple[int, ...] = (0,)) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.flaky_calls = flaky_calls
        self.reject = reject

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        if len(self.calls) <= self.flaky_calls:
            results = [
                {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}
                if i in self.reject
                else {"EventId": f"e{i}"}
                for i in range(len(Entries))
            ]
            return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}
        return {
            "FailedEntryCount": 0,
            "Entries": [{"EventId": f"e{i}"} for i in range(len(Entries))],
        }


def publisher(fake: FakeEventsClient, sleeps: list[float]) -> EventBridgePublisher:
    return EventBridgePublisher(
        AwsClients(overrides={"events": fake}), "suite-events", sleep=sleeps.append, max_attempts=4
    )


def test_entries_carry_the_structured_cloud_event() -> None:
    event = received(1)
    entry = to_entry(event, "suite-events")
    assert entry["EventBusName"] == "suite-events"
    assert entry["DetailType"] == "io.eventsuite.PaymentReceived"
    assert entry["Source"] == "urn:eventsuite/tests"
    detail = json.loads(entry["Detail"])
    assert (detail["id"], detail["specversion"], detail["eventversion"]) == (
        event["id"],
        "1.0",
        "2",
    )
    assert detail["data"]["order_id"] == event.get_data()["order_id"]


def test_chunks_respect_count_and_size() -> None:
    entries = [to_entry(received(n), "b") for n in range(23)]
    assert [len(c) for c in chunks(entries)] == [10, 10, 3]
    big = {"Source": "s", "DetailType": "t", "Detail": "x" * (MAX_REQUEST_BYTES // 3)}
    assert [len(c) for c in chunks([big] * 7)] == [2, 2, 2, 1]
    assert all(sum(entry_size(e) for e in c) <= MAX_REQUEST_BYTES for c in chunks([big] * 7))
    with pytest.raises(PayloadTooLarge):
        list(
            chunks(
                [
                    {
                        "Source": "s",
                        "DetailType": "t",
                        "Detail": json.dumps({"id": "1", "x": "y" * MAX_REQUEST_BYTES}),
                    }
                ]
            )
        )


def test_failed_entries_are_retried_alone_with_backoff() -> None:
    fake, sleeps = FakeEventsClient(flaky_calls=2, reject=(1, 3)), []
    events = [received(n) for n in range(5)]
    publisher(fake, sleeps).publish(events)
    # entries 1 and 3 fail, then (positions 0 and 1 of the retry) entry 3 fails again
    assert [len(c) for c in fake.calls] == [5, 2, 1]
    ids = [[json.loads(e["Detail"])["id"] for e in call] for call in fake.calls[1:]]
    assert ids == [[events[1]["id"], events[3]["id"]], [events[3]["id"]]]
    assert len(sleeps) == 2 and all(0 <= s <= 2.0 for s in sleeps)


def test_entries_that_keep_failing_raise_transient_error() -> None:
    fake, sleeps = FakeEventsClient(flaky_calls=99), []
    with pytest.raises(TransientError, match="InternalFailure"):
        publisher(fake, sleeps).publish([received(1)])
    assert len(fake.calls) == 4 and len(sleeps) == 3


def test_nothing_to_publish_makes_no_call() -> None:
    fake = FakeEventsClient()
    publisher(fake, []).publish([])
    assert fake.calls == []
