"""The Event Grid publisher passes its retry and timeout limits on every send."""

from __future__ import annotations

from typing import Any

from functions.azure.adapters.eventgrid import DEFAULT_SEND_OPTIONS, EventGridPublisher
from shared.envelope import new_event
from tests.builders import order_v2


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


def test_large_publishes_are_split_under_event_grids_request_limit() -> None:
    # Event Grid answers 413 (permanent) above 1 MB per request: 50 orders of ~30 KB each
    # (the reconciler publishes up to hundreds at once) must go out in several requests.
    from functions.azure.adapters.eventgrid import MAX_REQUEST_BYTES
    from shared.envelope import to_json_bytes

    items = [
        {"sku": f"sku-{i}", "name": "n" * 190, "quantity": 1, "unit_price_minor": 1}
        for i in range(100)
    ]
    big = {**order_v2(amount=100), "items": items}
    events = [new_event("OrderPlaced", big, source="urn:test") for _ in range(50)]
    client = RecordingClient()
    EventGridPublisher(client).publish(events)
    assert len(client.calls) > 1
    assert sum(len(sent) for sent, _ in client.calls) == 50
    for sent, _ in client.calls:
        ids = {e.id for e in sent}
        size = sum(len(to_json_bytes(e)) for e in events if e["id"] in ids)
        assert size <= MAX_REQUEST_BYTES
