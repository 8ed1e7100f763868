"""A Lambda invocation killed inside the payments handler, on moto's SQS with its real
visibility timeout (no fast-forward): the charge and the PAID transition are durable, the
process dies before announcing and before the completion mark.

What the platform does next is what a real event source mapping does: the message comes back
after the visibility timeout, the next invocation (a fresh process) gets it with a higher
``ApproximateReceiveCount``, and after ``max_delivery_attempts`` receives the queue's redrive
policy parks it in the DLQ.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest

from functions.aws.clients import AwsClients
from functions.aws.functions import QueueFunction, queue_function
from shared.ids import derived_event_id
from tests.integration.aws.conftest import REGION, unique_prefix
from tests.integration.aws.harness import Deployment, FakeLambdaContext, sqs_record
from tests.integration.aws.test_orders_flow import order_body, post_order, stored_order
from tests.integration.aws.topology import create_topology
from tests.support import ROOT, SmtpRecorder

pytestmark = pytest.mark.integration

VISIBILITY = 2


@pytest.fixture
def suite(clients: AwsClients, smtp: tuple[SmtpRecorder, int]) -> Deployment:
    topology = create_topology(
        clients, unique_prefix("crash"), visibility_timeout_seconds=VISIBILITY
    )
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


def _payments(suite: Deployment, lease: float) -> QueueFunction:
    config = suite.config(consumer="payments")
    settings = dataclasses.replace(config.settings, idempotency_lease_seconds=lease)
    return queue_function(config, suite.clients, settings=settings)


def _crash_inside_the_handler(suite: Deployment, lease: float) -> None:
    """Receive the payments message and hand it to a process that dies after the transition."""
    poller = suite.pollers["payments"]
    (message,) = poller.receive()
    event = {"Records": [sqs_record(message, poller.queue_arn, poller.region)]}
    config = {
        "environment": suite.environment(consumer="payments"),
        "lease": lease,
        "region": REGION,
        "endpoint_url": suite.clients.endpoint_url,
    }
    child = subprocess.run(
        [sys.executable, "-m", "tests.integration.aws.crashing_lambda", json.dumps(config)],
        input=json.dumps(event).encode(),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == -9, child.stderr.decode(errors="replace")[-2000:]


def _event_source_mapping(suite: Deployment, function: QueueFunction, seconds: float) -> None:
    """Poll as Lambda does, honouring whatever visibility the queue (or the function) set."""
    poller = suite.pollers["payments"]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if suite.queue_depth("payments") == 0:
            return
        messages = poller.receive()
        if not messages:
            time.sleep(0.25)
            continue
        event = {"Records": [sqs_record(m, poller.queue_arn, poller.region) for m in messages]}
        failed = {
            f["itemIdentifier"]
            for f in function(event, FakeLambdaContext("payments"))["batchItemFailures"]
        }
        for message in messages:
            if message["MessageId"] not in failed:
                suite.clients.sqs.delete_message(
                    QueueUrl=poller.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
    raise AssertionError(f"payments queue not drained in {seconds}s")


def _outcome(suite: Deployment, recorder: SmtpRecorder, order_id: str) -> dict[str, Any]:
    suite.drain_all(["notifier"])
    received = derived_event_id("PaymentReceived", order_id)
    return {
        "status": stored_order(suite, order_id)["status"]["S"],
        "payments DLQ": len(suite.dead_letters("payments")),
        "PaymentReceived emails": [
            m["Message-ID"] for m in recorder.to("crash@example.com") if received in m["Message-ID"]
        ],
    }


def test_a_crashed_invocation_is_finished_by_the_redelivery(
    suite: Deployment, smtp: tuple[SmtpRecorder, int]
) -> None:
    """The lease is shorter than the visibility timeout: the redelivery takes it over, finds
    the order PAID (the charge is not repeated) and announces it."""
    recorder, _ = smtp
    recorder.messages.clear()
    status, body, _ = post_order(suite, order_body("crash@example.com"))
    assert status == 202, body
    _crash_inside_the_handler(suite, lease=1.0)
    assert stored_order(suite, body["order_id"])["status"]["S"] == "PAID"

    _event_source_mapping(suite, _payments(suite, lease=1.0), seconds=30)

    outcome = _outcome(suite, recorder, body["order_id"])
    assert outcome["status"] == "PAID" and outcome["payments DLQ"] == 0, outcome
    assert len(outcome["PaymentReceived emails"]) == 1, outcome


def test_a_crash_under_a_live_lease_is_announced_not_parked(
    suite: Deployment, smtp: tuple[SmtpRecorder, int]
) -> None:
    """The lease outlives the redeliveries (as the 46 s payments lease outlives a short
    visibility timeout): a retry because the lease is held must not use up the receives, and
    the PAID order must be announced whatever crashed."""
    recorder, _ = smtp
    recorder.messages.clear()
    status, body, _ = post_order(suite, order_body("crash@example.com"))
    assert status == 202, body
    _crash_inside_the_handler(suite, lease=15.0)

    _event_source_mapping(suite, _payments(suite, lease=15.0), seconds=60)

    assert _outcome(suite, recorder, body["order_id"]) == {
        "status": "PAID",
        "payments DLQ": 0,
        "PaymentReceived emails": [
            f"<{derived_event_id('PaymentReceived', body['order_id'])}.notifier@eventsuite>"
        ],
    }
