"""Dispatch: exactly-once effect, classification of errors, per-record batch results."""

from __future__ import annotations

from typing import Any

import pytest

from functions.common.runtime import ConsumerFunction
from shared.dispatch import Delivery, Dispatcher, Outcome
from shared.envelope import (
    ClaimCheckPublisher,
    Event,
    from_structured,
    new_event,
    to_json_bytes,
    to_structured,
)
from shared.errors import PermanentError, TransientError
from shared.ports import ObjectStore, Settings
from tests.builders import order_v2
from tests.fakes import FakeClock, FakeDeadLetters, FakePublisher, fake_ports


class RecordingHandler:
    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[Event] = []
        self.error = error

    def __call__(self, event: Event) -> None:
        self.calls.append(event)
        if self.error is not None:
            raise self.error


def _event(**overrides: Any) -> Any:
    return new_event("OrderPlaced", order_v2(**overrides), source="urn:test")


def test_processed_once_then_duplicate() -> None:
    ports, handler = fake_ports(), RecordingHandler()
    dispatcher = Dispatcher("payments", ports, handler=handler)
    event = _event()
    assert dispatcher.deliver(event).outcome is Outcome.PROCESSED
    assert dispatcher.deliver(from_structured(to_json_bytes(event))).outcome is Outcome.DUPLICATE
    assert len(handler.calls) == 1


def test_consumers_are_independent() -> None:
    ports = fake_ports()
    event = _event()
    first, second = RecordingHandler(), RecordingHandler()
    Dispatcher("payments", ports, handler=first).deliver(event)
    Dispatcher("notifier", ports, handler=second).deliver(event)
    assert len(first.calls) == len(second.calls) == 1


def test_live_lease_makes_a_concurrent_delivery_retry_and_expired_lease_is_taken_over() -> None:
    clock = FakeClock()
    ports = fake_ports(clock=clock)
    event = _event()
    ports.idempotency.claim(
        f"payments:{event['id']}", now=clock.now(), lease_seconds=120
    )  # a crashed attempt
    handler = RecordingHandler()
    dispatcher = Dispatcher("payments", ports, handler=handler)
    result = dispatcher.deliver(event, attempt=2)
    assert result.outcome is Outcome.RETRY
    assert "lease" in (result.reason or "")
    clock.advance(121)
    assert dispatcher.deliver(event, attempt=3).outcome is Outcome.PROCESSED
    assert len(handler.calls) == 1


def test_a_held_lease_is_never_dead_lettered_even_at_the_last_attempt() -> None:
    clock = FakeClock()
    ports = fake_ports(clock=clock)
    event = _event()
    dispatcher = Dispatcher("payments", ports, handler=RecordingHandler())
    ports.idempotency.claim(f"payments:{event['id']}", now=clock.now(), lease_seconds=60)
    last = dispatcher.spec.max_delivery_attempts
    result = dispatcher.deliver(event, attempt=last)
    assert result.outcome is Outcome.RETRY
    assert ports.dead_letters.entries == []


def test_lease_is_derived_from_the_consumer_timeout_unless_overridden() -> None:
    dispatcher = Dispatcher("thumbnailer", fake_ports(), handler=RecordingHandler())
    timeout = dispatcher.spec.timeout_seconds
    assert timeout < dispatcher.lease_seconds <= timeout * 1.2 + 10
    pinned = fake_ports(settings=Settings(idempotency_lease_seconds=5.0))
    assert Dispatcher("thumbnailer", pinned, handler=RecordingHandler()).lease_seconds == 5.0


def test_transient_failure_is_retried_and_released_then_dead_lettered_at_max_attempts() -> None:
    ports = fake_ports()
    handler = RecordingHandler(TransientError("gateway timeout"))
    dispatcher = Dispatcher("payments", ports, handler=handler)
    event = _event()
    max_attempts = dispatcher.spec.max_delivery_attempts
    for attempt in range(1, max_attempts):
        result = dispatcher.deliver(event, attempt=attempt)
        assert result.outcome is Outcome.RETRY and result.reason == "gateway timeout"
    final = dispatcher.deliver(event, attempt=max_attempts)
    assert final.outcome is Outcome.DEAD_LETTERED
    assert len(handler.calls) == max_attempts  # the claim was released after every failure
    entry = ports.dead_letters.entries[-1]
    assert entry["reason"] == f"gave up after {max_attempts} attempts: gateway timeout"
    assert entry["event"]["id"] == event["id"] and entry["consumer"] == "payments"


def test_permanent_failure_is_dead_lettered_at_once_with_its_reason() -> None:
    ports = fake_ports()
    dispatcher = Dispatcher(
        "payments", ports, handler=RecordingHandler(PermanentError("order is cursed"))
    )
    result = dispatcher.deliver(_event())
    assert result.outcome is Outcome.DEAD_LETTERED and result.acknowledged
    assert ports.dead_letters.entries[0]["reason"] == "order is cursed"
    assert ports.dead_letters.entries[0]["attempts"] == 1


def test_unexpected_exception_is_retried_not_crash_looped() -> None:
    ports = fake_ports()
    dispatcher = Dispatcher("payments", ports, handler=RecordingHandler(KeyError("boom")))
    result = dispatcher.deliver(_event(), attempt=1)
    assert result.outcome is Outcome.RETRY and "KeyError" in (result.reason or "")


def test_undecodable_delivery_is_dead_lettered_with_raw_bytes() -> None:
    ports = fake_ports()
    dispatcher = Dispatcher("payments", ports, handler=RecordingHandler())
    raw = b"\x00not json"
    result = dispatcher.deliver(lambda: from_structured(raw), raw=raw)
    assert result.outcome is Outcome.DEAD_LETTERED
    assert ports.dead_letters.entries[0]["raw"] == raw
    assert "not JSON" in ports.dead_letters.entries[0]["reason"]


def test_misrouted_event_is_dead_lettered() -> None:
    ports = fake_ports()
    event = new_event(
        "ImageUploaded",
        {"bucket": "b", "key": "uploads/x", "size": 1, "uploaded_at": "2026-01-01T00:00:00Z"},
        source="urn:test",
    )
    result = Dispatcher("payments", ports, handler=RecordingHandler()).deliver(event)
    assert result.outcome is Outcome.DEAD_LETTERED and "does not subscribe" in (result.reason or "")


def test_without_a_sink_permanent_failures_are_left_to_the_platform_redrive() -> None:
    ports = fake_ports(dead_letters=None)
    dispatcher = Dispatcher("payments", ports, handler=RecordingHandler(PermanentError("bad")))
    result = dispatcher.deliver(_event())
    assert result.outcome is Outcome.RETRY and not result.acknowledged


def test_failing_sink_keeps_the_message() -> None:
    class BrokenSink(FakeDeadLetters):
        def dead_letter(self, **kwargs: Any) -> None:
            raise OSError("disk full")

    ports = fake_ports(dead_letters=BrokenSink())
    result = Dispatcher("payments", ports, handler=RecordingHandler(PermanentError("bad"))).deliver(
        _event()
    )
    assert result.outcome is Outcome.RETRY and "dead-letter failed" in (result.reason or "")


def test_one_bad_record_in_a_batch_of_ten_fails_only_itself() -> None:
    ports = fake_ports(dead_letters=None)
    handler = RecordingHandler()
    dispatcher = Dispatcher("payments", ports, handler=handler)
    deliveries = []
    for i in range(10):
        wire = to_json_bytes(_event(order_id=f"ord_batch{i:020d}"))
        if i == 4:
            payload = to_structured(from_structured(wire))
            payload["eventversion"] = "9"
            wire = to_json_bytes(from_structured(payload))
        deliveries.append(Delivery(f"m{i}", lambda w=wire: from_structured(w), 1, wire))
    assert ConsumerFunction(dispatcher).run_batch(deliveries) == ["m4"]
    assert len(handler.calls) == 9


@pytest.mark.parametrize("consumer", ["thumbnailer", "indexer", "payments", "notifier"])
def test_dispatchers_build_for_every_catalog_consumer(consumer: str) -> None:
    assert Dispatcher(consumer, fake_ports()).spec.name == consumer


def test_a_held_lease_asks_for_a_retry_after_the_lease_without_counting_an_attempt() -> None:
    ports = fake_ports()
    dispatcher = Dispatcher("payments", ports, handler=RecordingHandler())
    event = _event()
    ports.idempotency.claim(
        f"payments:{event['id']}", now=ports.clock.now(), lease_seconds=dispatcher.lease_seconds
    )
    result = dispatcher.deliver(event, attempt=5)  # even at the last attempt
    assert result.outcome is Outcome.RETRY and not result.counts_attempt
    assert result.retry_after == dispatcher.lease_seconds
    failed = dispatcher.deliver(_event(order_id="ord_other000000000000000"), attempt=1)
    assert failed.counts_attempt  # an ordinary outcome counts


class CountingObjectStoreLookups:
    """The fake ports, counting how often a consumer asks for the object store."""

    def __init__(self) -> None:
        self.ports = fake_ports()
        self.object_store_lookups = 0

    def provides(self, kind: type[Any]) -> bool:
        return self.ports.provides(kind)

    def missing_reason(self, kind: type[Any]) -> str:
        return self.ports.missing_reason(kind)

    def get(self, kind: type[Any]) -> Any:
        if kind is ObjectStore:
            self.object_store_lookups += 1
        return self.ports.get(kind)


def test_the_object_store_is_looked_up_for_a_claim_checked_event_only() -> None:
    dependencies, handler = CountingObjectStoreLookups(), RecordingHandler()
    dispatcher = Dispatcher("payments", dependencies, handler=handler)
    assert dispatcher.deliver(_event()).outcome is Outcome.PROCESSED
    assert dependencies.object_store_lookups == 0  # no storage client built to start
    publisher = FakePublisher()
    ClaimCheckPublisher(
        publisher, lambda: dependencies.ports.objects, bucket="claims", threshold_bytes=10
    ).publish([_event()])
    [checked] = publisher.events
    assert dispatcher.deliver(checked).outcome is Outcome.PROCESSED
    assert dependencies.object_store_lookups == 1
    assert handler.calls[-1].data["items"]  # the payload came back from the claims store
