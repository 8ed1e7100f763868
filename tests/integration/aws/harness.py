"""What Lambda would do around our functions, against moto: pollers, contexts, deployments.

``Poller`` is the event source mapping: receive up to the consumer's batch size, invoke the
function with a Lambda-shaped SQS event, delete every record except the reported failures.
Failed records would reappear after the visibility timeout; the poller "fast-forwards" that
by setting their visibility to 0, so retries happen at once without sleeping.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from functions.aws.clients import AwsClients
from functions.aws.config import AwsConfig
from functions.aws.functions import (
    HttpFunction,
    QueueFunction,
    ScheduleFunction,
    http_function,
    queue_function,
    schedule_function,
)
from shared.catalog import default_catalog
from tests.integration.aws.topology import Topology

QueueHandler = Callable[[Mapping[str, Any], Any], Mapping[str, Any]]


class FakeLambdaContext:
    """The parts of the Lambda context object our functions read."""

    def __init__(self, function_name: str = "test", remaining_ms: int = 60_000) -> None:
        self.function_name = function_name
        self.aws_request_id = str(uuid.uuid4())
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """A ReceiveMessage message as the event source mapping hands it to Lambda."""
    attributes = {k: str(v) for k, v in message.get("Attributes", {}).items()}
    message_attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        for name, value in message.get("MessageAttributes", {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


@dataclass
class Invocation:
    """One function invocation by the poller."""

    message_ids: list[str]
    failures: list[str]
    bodies: dict[str, str] = field(default_factory=dict)


class Poller:
    """The SQS event source mapping of one consumer."""

    def __init__(
        self, clients: AwsClients, topology: Topology, consumer: str, function: QueueHandler
    ) -> None:
        self.clients = clients
        self.consumer = consumer
        self.function = function
        self.queue_url = topology.queue_urls[consumer]
        self.queue_arn = topology.queue_arns[consumer]
        self.region = topology.region
        self.batch_size = default_catalog().consumer(consumer).batch_size

    def receive(self) -> list[dict[str, Any]]:
        """Up to one batch of visible messages (no long polling)."""
        messages: list[dict[str, Any]] = []
        while len(messages) < self.batch_size:
            response = self.clients.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.batch_size - len(messages)),
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received = response.get("Messages", [])
            if not received:
                break
            messages.extend(received)
        return messages

    def peek(self) -> list[dict[str, Any]]:
        """Receive a batch and make it visible again at once (look without consuming)."""
        messages = self.receive()
        for message in messages:
            self.clients.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        return messages

    def poll_once(self, *, crash: bool = False) -> Invocation | None:
        """Receive a batch and invoke the function; ``crash`` simulates a timeout/crash."""
        messages = self.receive()
        if not messages:
            return None
        event = {"Records": [sqs_record(m, self.queue_arn, self.region) for m in messages]}
        by_id = {m["MessageId"]: m for m in messages}
        if crash:  # the invocation failed as a whole: every record comes back
            failures = list(by_id)
        else:
            response = self.function(event, FakeLambdaContext(self.consumer))
            failures = [f["itemIdentifier"] for f in response.get("batchItemFailures", [])]
            unknown = set(failures) - set(by_id)
            assert not unknown, f"batchItemFailures names unknown ids {unknown}"
        done = [m for mid, m in by_id.items() if mid not in failures]
        for start in range(0, len(done), 10):
            self.clients.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )
        for message_id in failures:  # fast-forward the visibility timeout
            self.clients.sqs.change_message_visibility(
                QueueUrl=self.queue_url,
                ReceiptHandle=by_id[message_id]["ReceiptHandle"],
                VisibilityTimeout=0,
            )
        return Invocation(list(by_id), failures, {mid: m["Body"] for mid, m in by_id.items()})

    def drain(self, *, max_invocations: int = 50, crash: bool = False) -> list[Invocation]:
        """Invoke until the queue is empty (or the bound is hit)."""
        invocations = []
        for _ in range(max_invocations):
            invocation = self.poll_once(crash=crash)
            if invocation is None:
                return invocations
            invocations.append(invocation)
        raise AssertionError(
            f"{self.consumer}: queue not empty after {max_invocations} invocations"
        )


@dataclass
class DeadLetter:
    """A message in a DLQ with its attributes decoded."""

    body: str
    attributes: dict[str, str]
    receive_count: int

    def json(self) -> Any:
        return json.loads(self.body)


class Deployment:
    """One suite deployment in moto: topology + one function per consumer, endpoint, schedule.

    A schedule function is called directly, as EventBridge Scheduler would invoke it.
    """

    def __init__(
        self,
        clients: AwsClients,
        topology: Topology,
        *,
        env: Mapping[str, str] | None = None,
        **port_overrides: Any,
    ) -> None:
        self.clients = clients
        self.topology = topology
        self.env = dict(env or {})
        catalog = default_catalog()
        self.functions: dict[str, QueueFunction] = {
            name: queue_function(self.config(consumer=name), clients, **port_overrides)
            for name in catalog.consumers
        }
        self.http: dict[str, HttpFunction] = {
            name: http_function(self.config(endpoint=name), clients, **port_overrides)
            for name in catalog.endpoints
        }
        self.schedules: dict[str, ScheduleFunction] = {
            name: schedule_function(self.config(schedule=name), clients, **port_overrides)
            for name in catalog.schedules
        }
        self.pollers = {
            name: Poller(clients, topology, name, fn) for name, fn in self.functions.items()
        }

    def environment(self, **kwargs: Any) -> dict[str, str]:
        """The environment Terraform would set for a function."""
        extra = {**self.env, **kwargs.pop("extra", {})}
        return self.topology.environment(
            **{"mailer": extra.pop("EVENTSUITE_MAILER", "smtp"), "extra": extra, **kwargs}
        )

    def config(self, **kwargs: Any) -> AwsConfig:
        """``AwsConfig`` from that environment."""
        return AwsConfig.from_env(self.environment(**kwargs))

    def drain_all(
        self, consumers: Iterable[str] | None = None, *, rounds: int = 20
    ) -> dict[str, list[Invocation]]:
        """Poll every queue until all are empty (events cascade: OrderPlaced -> Payment*)."""
        names = list(consumers or self.pollers)
        history: dict[str, list[Invocation]] = {n: [] for n in names}
        for _ in range(rounds):
            progressed = False
            for name in names:
                invocations = self.pollers[name].drain()
                history[name].extend(invocations)
                progressed = progressed or bool(invocations)
            if not progressed:
                return history
        raise AssertionError("queues did not settle")

    def queue_depth(self, consumer: str, *, dlq: bool = False) -> int:
        """Visible + in-flight messages of a queue."""
        url = self.topology.dlq_urls[consumer] if dlq else self.topology.queue_urls[consumer]
        attributes = self.clients.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def dead_letters(self, consumer: str) -> list[DeadLetter]:
        """Every message in the consumer's DLQ (received, then made visible again)."""
        url = self.topology.dlq_urls[consumer]
        found: dict[str, DeadLetter] = {}
        handles = []
        for _ in range(10):
            response = self.clients.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages = response.get("Messages", [])
            if not messages:
                break
            for m in messages:
                handles.append(m["ReceiptHandle"])
                found[m["MessageId"]] = DeadLetter(
                    body=m["Body"],
                    attributes={
                        k: v.get("StringValue", "")
                        for k, v in m.get("MessageAttributes", {}).items()
                    },
                    receive_count=int(m["Attributes"].get("ApproximateReceiveCount", 0)),
                )
        for handle in handles:
            self.clients.sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0
            )
        return list(found.values())

    def purge(self) -> None:
        """Empty every queue and DLQ (between tests sharing one deployment).

        Receive-and-delete, because PurgeQueue is allowed once a minute per queue (moto
        enforces that too).
        """
        sqs = self.clients.sqs
        for url in [*self.topology.queue_urls.values(), *self.topology.dlq_urls.values()]:
            for _ in range(100):
                messages = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=0
                ).get("Messages", [])
                if not messages:
                    break
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(messages)
                    ],
                )

    def send_raw(self, consumer: str, body: str) -> str:
        """Put a body straight on a consumer's queue (a redrive, or a hand-made delivery)."""
        return str(
            self.clients.sqs.send_message(
                QueueUrl=self.topology.queue_urls[consumer], MessageBody=body
            )["MessageId"]
        )
