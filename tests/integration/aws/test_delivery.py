"""Delivery on SQS: partial batch failures, dead letters with reasons, the redrive backstop."""

from __future__ import annotations

import json

import pytest

from functions.aws.adapters.eventbridge import EventBridgePublisher
from functions.aws.clients import AwsClients
from shared.envelope import new_event, to_json_bytes
from tests.integration.aws.conftest import unique_prefix
from tests.integration.aws.harness import Deployment
from tests.integration.aws.topology import create_topology
from tests.support import SmtpRecorder

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def suite(clients: AwsClients, smtp: tuple[SmtpRecorder, int]) -> Deployment:
    topology = create_topology(clients, unique_prefix("dlv"), visibility_timeout_seconds=30)
    return Deployment(
        clients,
        topology,
        env={
            "EVENTSUITE_MAILER": "smtp",
            "EVENTSUITE_SMTP_HOST": "127.0.0.1",
            "EVENTSUITE_SMTP_PORT": str(smtp[1]),
            "EVENTSUITE_SMTP_STARTTLS": "false",
        },
    )


@pytest.fixture(autouse=True)
def _clean(suite: Deployment, smtp: tuple[SmtpRecorder, int]) -> None:
    suite.purge()
    smtp[0].messages.clear()
    smtp[0].tempfail.clear()


def payment_received(n: int, email: str) -> object:
    return new_event(
        "PaymentReceived",
        {
            "order_id": f"ord_{n:024x}",
            "payment_id": f"pay_{n}",
            "amount": {"amount_minor": 1000 + n, "currency": "EUR"},
            "customer_email": email,
        },
        source="urn:eventsuite/tests",
    )


def test_one_failing_record_in_a_batch_of_ten_fails_only_itself(
    suite: Deployment, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, _ = smtp
    recorder.tempfail.add("later@example.com")  # the relay answers 451 for this one
    events = [
        payment_received(n, "later@example.com" if n == 6 else f"c{n}@example.com")
        for n in range(10)
    ]
    EventBridgePublisher(suite.clients, suite.topology.names.bus).publish(events)

    invocation = suite.pollers["notifier"].poll_once()

    assert invocation is not None and len(invocation.message_ids) == 10  # one batch of ten
    (failed,) = invocation.failures
    assert (
        json.loads(invocation.bodies[failed])["detail"]["data"]["customer_email"]
        == "later@example.com"
    )
    assert len(recorder.messages) == 9
    assert suite.queue_depth("notifier") == 1  # only the failure comes back

    recorder.tempfail.clear()  # the relay recovers: the retry succeeds
    suite.pollers["notifier"].drain()
    assert len(recorder.to("later@example.com")) == 1
    assert suite.dead_letters("notifier") == []


def test_a_poison_record_is_parked_while_its_batch_succeeds(
    suite: Deployment, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, _ = smtp
    for n in range(4):
        suite.send_raw(
            "notifier", to_json_bytes(payment_received(100 + n, f"p{n}@example.com")).decode()
        )
    suite.send_raw("notifier", "{this is not json")
    unknown = json.loads(to_json_bytes(payment_received(200, "q@example.com")))
    unknown["eventversion"] = "9"  # a future version this deployment does not know
    suite.send_raw("notifier", json.dumps(unknown))

    history = suite.pollers["notifier"].drain()

    assert [i.failures for i in history] == [[]]  # permanent failures are acknowledged...
    assert len(recorder.messages) == 4
    letters = {letter.body: letter for letter in suite.dead_letters("notifier")}  # ...and parked
    assert set(letters) == {"{this is not json", json.dumps(unknown)}
    assert "not JSON" in letters["{this is not json"].attributes["reason"]
    assert "version 9" in letters[json.dumps(unknown)].attributes["reason"]
    assert letters[json.dumps(unknown)].attributes["event_id"] == unknown["id"]


def test_a_record_failing_transiently_is_dead_lettered_after_max_attempts(
    suite: Deployment, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, _ = smtp
    recorder.tempfail.add("never@example.com")
    EventBridgePublisher(suite.clients, suite.topology.names.bus).publish(
        [payment_received(300, "never@example.com")]
    )

    history = suite.pollers["notifier"].drain()

    # notifier.max_delivery_attempts = 8: seven retries, then the dispatcher parks it itself.
    assert [len(i.failures) for i in history] == [1] * 7 + [0]
    (letter,) = suite.dead_letters("notifier")
    assert letter.attributes["attempts"] == "8"
    assert letter.attributes["reason"].startswith("gave up after 8 attempts")
    assert "451" in letter.attributes["reason"]
    assert suite.queue_depth("notifier") == 0


def test_the_queue_redrive_policy_is_the_backstop_when_the_function_crashes(
    suite: Deployment,
) -> None:
    # A crash or timeout reports nothing: SQS itself moves the message after maxReceiveCount.
    EventBridgePublisher(suite.clients, suite.topology.names.bus).publish(
        [payment_received(400, "crash@example.com")]
    )
    poller = suite.pollers["notifier"]

    invocations = poller.drain(crash=True)

    assert len(invocations) == 8  # maxReceiveCount = catalog max_delivery_attempts
    (letter,) = suite.dead_letters("notifier")
    assert "reason" not in letter.attributes  # moved by SQS, not by our sink
    assert json.loads(letter.body)["detail"]["data"]["customer_email"] == "crash@example.com"


def test_a_misrouted_event_is_dead_lettered_not_retried(suite: Deployment) -> None:
    image = new_event(
        "ImageUploaded",
        {"bucket": "b", "key": "uploads/x.jpg", "size": 1, "uploaded_at": "2026-11-26T10:00:00Z"},
        source="urn:test",
    )
    suite.send_raw("payments", to_json_bytes(image).decode())
    history = suite.pollers["payments"].drain()
    assert [i.failures for i in history] == [[]]
    (letter,) = suite.dead_letters("payments")
    assert "does not subscribe" in letter.attributes["reason"]


def test_a_consumer_without_its_dlq_url_refuses_to_start(suite: Deployment) -> None:
    from functions.aws.functions import queue_function
    from shared.inject import MissingDependency

    config = suite.config(consumer="payments", extra={"EVENTSUITE_DLQ_URL": ""})
    with pytest.raises(MissingDependency, match="EVENTSUITE_DLQ_URL is not set"):
        queue_function(config, suite.clients)


def test_a_crashed_attempt_is_retried_after_its_lease_and_never_after_completion(
    suite: Deployment, smtp: tuple[SmtpRecorder, int]
) -> None:
    import time

    from functions.aws.adapters.dynamodb import DynamoIdempotencyStore
    from functions.aws.functions import queue_function
    from tests.fakes import FakeClock
    from tests.integration.aws.harness import Poller

    recorder, _ = smtp
    clock = FakeClock(time.time())
    notifier = queue_function(suite.config(consumer="notifier"), suite.clients, clock=clock)
    poller = Poller(suite.clients, suite.topology, "notifier", notifier)
    event = payment_received(500, "lease@example.com")
    # A previous attempt claimed the event and died (Lambda timeout) before finishing.
    store = DynamoIdempotencyStore(suite.clients, suite.topology.names.tables["idempotency"])
    lease = notifier.function.dispatcher.lease_seconds
    store.claim(f"notifier:{event['id']}", now=clock.now(), lease_seconds=lease)
    EventBridgePublisher(suite.clients, suite.topology.names.bus).publish([event])

    blocked = poller.poll_once()
    assert blocked is not None and len(blocked.failures) == 1  # the lease is live: retry later
    assert recorder.to("lease@example.com") == []

    clock.advance(lease + 1)  # the crashed attempt's lease ran out
    done = poller.poll_once()
    assert done is not None and done.failures == []
    assert len(recorder.to("lease@example.com")) == 1

    EventBridgePublisher(suite.clients, suite.topology.names.bus).publish([event])  # again
    clock.advance(10 * lease)
    assert [i.failures for i in poller.drain()] == [[]]
    assert len(recorder.to("lease@example.com")) == 1  # completed is final
