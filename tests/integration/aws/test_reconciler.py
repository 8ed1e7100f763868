"""The order reconciler on AWS: the schedule function against moto, as the schedule invokes it.

The orders API stores an order and then announces it; when the announcement fails the order
would stay PLACED for ever. The schedule function (``handle_schedule``'s composition, with an
injected clock) re-publishes ``OrderPlaced`` through EventBridge after the grace period, the
payments consumer charges it, and an event that was only slow is charged once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from cloudevents.abstract import CloudEvent

from functions.aws.clients import AwsClients
from functions.aws.functions import http_function
from shared.errors import TransientError
from shared.ids import derived_event_id
from tests.fakes import FakeClock
from tests.integration.aws.conftest import unique_prefix
from tests.integration.aws.harness import Deployment, FakeLambdaContext
from tests.integration.aws.test_orders_flow import api_event, order_body
from tests.integration.aws.topology import create_topology
from tests.support import SmtpRecorder

pytestmark = pytest.mark.integration
GRACE = 300
SCHEDULE_INPUT = {"schedule": "order_reconciler", "scheduled_time": "-", "execution_id": "-"}


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def suite(clients: AwsClients, smtp: tuple[SmtpRecorder, int], clock: FakeClock) -> Deployment:
    topology = create_topology(clients, unique_prefix("rec"), visibility_timeout_seconds=30)
    _, port = smtp
    return Deployment(
        clients,
        topology,
        env={
            "EVENTSUITE_MAILER": "smtp",
            "EVENTSUITE_SMTP_HOST": "127.0.0.1",
            "EVENTSUITE_SMTP_PORT": str(port),
            "EVENTSUITE_SMTP_STARTTLS": "false",
        },
        clock=clock,
    )


@pytest.fixture(autouse=True)
def _clean(suite: Deployment, smtp: tuple[SmtpRecorder, int], clock: FakeClock) -> None:
    suite.purge()
    smtp[0].messages.clear()
    clock.advance(2 * 24 * 3600)  # whatever an earlier test left PLACED is past the horizon


class DownBus:
    """EventBridge unreachable: the orders API stores the order, then cannot announce it."""

    def __init__(self) -> None:
        self.attempted: list[CloudEvent] = []

    def publish(self, events: Sequence[CloudEvent]) -> None:
        self.attempted.extend(events)
        raise TransientError("EventBridge PutEvents: ServiceUnavailable")


def reconcile(suite: Deployment) -> dict[str, Any]:
    answer = suite.schedules["order_reconciler"](
        SCHEDULE_INPUT, FakeLambdaContext("order_reconciler")
    )
    assert answer["schedule"] == "order_reconciler"
    report: dict[str, Any] = answer["report"]
    return report


def order_status(suite: Deployment, order_id: str) -> str:
    item = suite.clients.dynamodb.get_item(
        TableName=suite.topology.names.tables["orders"],
        Key={"order_id": {"S": order_id}},
        ConsistentRead=True,
    )["Item"]
    return str(item["status"]["S"])


def test_an_order_whose_announcement_failed_is_republished_and_charged(
    suite: Deployment, smtp: tuple[SmtpRecorder, int], clock: FakeClock
) -> None:
    recorder, _ = smtp
    bus = DownBus()
    api = http_function(
        suite.config(endpoint="orders_api"), suite.clients, clock=clock, publisher=bus
    )
    response = api(
        api_event("/orders", order_body("lost@example.com"), {"Idempotency-Key": "lost-0001"}),
        FakeLambdaContext("orders_api"),
    )
    assert response["statusCode"] == 202, response["body"]  # stored: accepted, announced later
    assert json.loads(response["body"])["announcement"] == "deferred"
    (attempt,) = bus.attempted
    order_id = attempt.get_data()["order_id"]
    assert order_status(suite, order_id) == "PLACED"
    assert suite.queue_depth("payments") == suite.queue_depth("notifier") == 0

    clock.advance(GRACE - 1)
    assert reconcile(suite) == {"relayed": 0, "order_ids": []}  # still in its grace period
    clock.advance(2)
    assert reconcile(suite) == {"relayed": 1, "order_ids": [order_id]}

    (message,) = suite.pollers["payments"].peek()
    envelope = json.loads(message["Body"])
    assert envelope["detail-type"] == "io.eventsuite.OrderPlaced"
    assert envelope["detail"]["id"] == attempt["id"] == derived_event_id("OrderPlaced", order_id)
    assert envelope["detail"]["source"].endswith("/orders-api")  # the event stored with it
    history = suite.drain_all(["payments", "notifier"])
    assert all(not i.failures for runs in history.values() for i in runs)
    assert order_status(suite, order_id) == "PAID"
    assert sorted(m["X-Event-Type"] for m in recorder.to("lost@example.com")) == [
        "OrderPlaced",
        "PaymentReceived",
    ]
    assert reconcile(suite) == {"relayed": 0, "order_ids": []}  # every outbox is empty


def test_an_announced_order_is_not_relayed_again_while_its_consumers_are_slow(
    suite: Deployment, smtp: tuple[SmtpRecorder, int], clock: FakeClock
) -> None:
    recorder, _ = smtp
    response = suite.http["orders_api"](
        api_event("/orders", order_body("slow@example.com")), FakeLambdaContext("orders_api")
    )
    assert response["statusCode"] == 202, response["body"]
    order_id = json.loads(response["body"])["order_id"]
    clock.advance(GRACE + 60)  # announced, but its consumers have not run yet

    assert reconcile(suite) == {"relayed": 0, "order_ids": []}

    bodies = [json.loads(m["Body"]) for m in suite.pollers["payments"].peek()]
    assert [b["detail"]["id"] for b in bodies] == [derived_event_id("OrderPlaced", order_id)]
    history = suite.drain_all(["payments", "notifier"])
    assert all(not i.failures for runs in history.values() for i in runs)
    assert order_status(suite, order_id) == "PAID"
    # One charge, one PaymentReceived, one email per fact: the duplicate was a no-op.
    assert sorted(m["X-Event-Type"] for m in recorder.to("slow@example.com")) == [
        "OrderPlaced",
        "PaymentReceived",
    ]
    assert sum(len(i.message_ids) for i in history["payments"]) == 1
