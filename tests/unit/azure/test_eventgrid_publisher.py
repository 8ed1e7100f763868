"""The Event Grid publisher passes its retry and timeout limits on every send."""

from __future__ import annotations

from typing import Any

from functions.azure.adapters.eventgrid import DEFAULT_SEND_OPTIONS, EventGridPublisher
from shared.envelope import new_event
from tests.conftest import order_v2


class RecordingClient:
    def __init__(self) -> None:
        self.calls: list[tuple[list[Any], dict[str, Any]]] = []

    def send(self, events: list[Any], **options: Any) -> None:
        self.calls.append((events, options))


def test_every_send_carries_the_retry_and_timeout_limits() -> None:
    # The SDK ignores these when given to the client's constructor (basic topics): a 300 s
    # read timeout would outlive the function, so they must travel with each call.
    client = RecordingClient()
    events = [new_event("OrderPlaced", order_v2(), source="urn:test") for _ in range(3)]
    EventGridPublisher(client).publish(events)
    ((sent, options),) = client.calls
    assert len(sent) == 3
    assert options == dict(DEFAULT_SEND_OPTIONS)
    assert options["read_timeout"] < 60 and options["retry_total"] <= 3
