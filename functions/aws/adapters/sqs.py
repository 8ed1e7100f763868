"""SQS implementations of ``DeadLetterSink`` (park a failed delivery in the consumer's DLQ) and
``DeadLetterAdmin`` (list, show, redrive and purge those DLQs).

The DLQ message body is the original SQS record body (so a redrive to the source queue
replays exactly what was delivered); message attributes say why: ``reason``, ``consumer``,
``attempts`` and, when the event could be read, ``event_id`` and ``event_type``. Messages the
queue's redrive policy moved after ``maxReceiveCount`` receives carry no attributes.

A redrive is SendMessage to the consumer's queue (same body and event id, the original
attributes, and the count as attribute ``redrive_count`` and CloudEvents extension
``redrivecount``), then DeleteMessage on the DLQ: a failure between the two leaves the message
parked and delivered, and the consumer deduplicates on the event id. SQS message move tasks
(``StartMessageMoveTask``) move a whole DLQ at once but can neither pick messages nor add the
counter, so they are left to the console for bulk moves.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from functions.aws.clients import AwsClients
from functions.aws.errors import transient_errors
from functions.common.deadletters import by_consumer, collect_parked, find_parked, oldest_first
from shared.deadletter import (
    REDRIVE_COUNT,
    DeadLetterRecord,
    count_redrive,
    redrive_count,
    structured_event,
    subject_of,
)
from shared.envelope import to_structured
from shared.ports import ParkedMessage, RedriveResult

MAX_REASON_CHARS = 1024
_ATTRIBUTE_CHARS = {"reason": MAX_REASON_CHARS, "event_id": 256, "event_type": 256}
# Characters SQS accepts in bodies and attribute values (XML 1.0 character ranges).
_INVALID = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str, limit: int | None = None) -> str:
    cleaned = _INVALID.sub("\ufffd", text)
    return cleaned if limit is None or len(cleaned) <= limit else cleaned[: limit - 1] + "\u2026"


def _string(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


class SqsDeadLetterSink:
    """Sends failed deliveries to a dead-letter queue URL."""

    def __init__(self, clients: AwsClients, queue_url: str) -> None:
        self._clients = clients
        self.queue_url = queue_url

    def dead_letter(
        self,
        *,
        consumer: str,
        event: dict[str, Any] | None,
        raw: bytes | None,
        reason: str,
        attempts: int,
    ) -> None:
        """SendMessage to the DLQ; raises (so the delivery is retried) if SQS is unavailable."""
        if raw is not None:
            body = raw.decode("utf-8", errors="replace")
        else:
            body = json.dumps(event if event is not None else {}, separators=(",", ":"))
        record = DeadLetterRecord.of(consumer, event, reason=reason, attempts=attempts)
        # SQS refuses empty attribute values: only the reason can be empty.
        attributes = {
            name: _string(_clean(value, _ATTRIBUTE_CHARS.get(name)) or "unknown")
            for name, value in record.attributes().items()
        }
        attributes["attempts"] = {"DataType": "Number", "StringValue": str(attempts)}
        with transient_errors("SQS SendMessage (dead-letter queue)"):
            self._clients.sqs.send_message(
                QueueUrl=self.queue_url,
                MessageBody=_clean(body) or "{}",
                MessageAttributes=attributes,
            )


MOVED_BY_POLICY = "maxReceiveCount reached: moved to the DLQ by the queue's redrive policy"
# How long a listed message stays hidden while it is read; it is made visible again at once.
_PEEK_SECONDS = 30
_RECEIVE_ROUNDS = 100


def _event_of(body: str) -> dict[str, Any] | None:
    event = structured_event(body)
    if event is not None:
        return event
    from functions.aws.translate import cloud_event_from_body  # operator tools only

    try:  # an S3 "Object Created" event: the ImageUploaded it stands for
        return to_structured(cloud_event_from_body(body))
    except Exception:
        return None


class SqsDeadLetterAdmin:
    """``DeadLetterAdmin`` over the consumers' DLQs (``queues``: consumer -> (queue, DLQ) URLs)."""

    def __init__(
        self,
        clients: AwsClients,
        queues: Mapping[str, tuple[str, str]],
        *,
        clock: Any = time.time,
    ) -> None:
        self._clients = clients
        self._queues = dict(queues)
        self.consumers = list(self._queues)
        self._clock = clock

    def _receive(self, consumer: str, limit: int) -> list[dict[str, Any]]:
        """Hold up to ``limit`` DLQ messages (hidden for a short while), oldest first."""
        url = self._queues[consumer][1]
        held: dict[str, dict[str, Any]] = {}
        for _ in range(_RECEIVE_ROUNDS):
            if len(held) >= limit:
                break
            with transient_errors(f"SQS ReceiveMessage {url}"):
                messages = self._clients.sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=min(10, max(1, limit - len(held))),
                    WaitTimeSeconds=0,
                    VisibilityTimeout=_PEEK_SECONDS,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                held.setdefault(message["MessageId"], message)
        return sorted(held.values(), key=lambda m: int(m["Attributes"].get("SentTimestamp", 0)))

    def _release(self, consumer: str, messages: Sequence[Mapping[str, Any]]) -> None:
        url = self._queues[consumer][1]
        for message in messages:
            with transient_errors(f"SQS ChangeMessageVisibility {url}"):
                self._clients.sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )

    def _parked(self, consumer: str, message: Mapping[str, Any]) -> ParkedMessage:
        attributes = {
            name: str(value.get("StringValue", ""))
            for name, value in message.get("MessageAttributes", {}).items()
        }
        event = _event_of(message["Body"])
        sent = message.get("Attributes", {}).get("SentTimestamp")
        return ParkedMessage(
            id=message["MessageId"],
            consumer=consumer,
            reason=attributes.get("reason") or MOVED_BY_POLICY,
            attempts=int(attributes.get("attempts") or 0),
            event_id=attributes.get("event_id") or (str(event["id"]) if event else None),
            event_type=attributes.get("event_type") or (str(event["type"]) if event else None),
            subject=subject_of(event),
            dead_lettered_at=int(sent) / 1000 if sent else None,
            redrive_count=max(int(attributes.get(REDRIVE_COUNT) or 0), redrive_count(event)),
            event=event,
            body=message["Body"].encode(),
            attributes=attributes,
        )

    def parked(self, consumer: str | None = None, *, limit: int = 100) -> list[ParkedMessage]:
        """Every consumer's (or one's) DLQ messages, read and made visible again."""
        names = [consumer] if consumer else self.consumers
        found = collect_parked(
            names, lambda name: self._receive(name, limit), self._parked, self._release
        )
        return oldest_first(found, limit)

    def show(self, message_id: str) -> ParkedMessage | None:
        """A DLQ message by message id or event id."""
        return find_parked(self, message_id)

    def redrive(self, messages: Sequence[ParkedMessage]) -> RedriveResult:
        """Send each message to its consumer's queue, then delete it from the DLQ."""
        redriven: list[str] = []
        failed: list[tuple[str, str]] = []
        for consumer, ids in by_consumer(messages).items():
            queue_url, dlq_url = self._queues[consumer]
            held = {m["MessageId"]: m for m in self._receive(consumer, 10_000)}
            try:
                for message_id in sorted(ids):
                    parked = held.pop(message_id, None)
                    if parked is None:
                        failed.append((message_id, "not in the dead-letter queue any more"))
                        continue
                    attributes = {
                        name: value
                        for name, value in parked.get("MessageAttributes", {}).items()
                        if name != REDRIVE_COUNT
                    }
                    previous = int(
                        parked.get("MessageAttributes", {})
                        .get(REDRIVE_COUNT, {})
                        .get("StringValue", 0)
                    )
                    body, count = count_redrive(parked["Body"], previous)
                    attributes[REDRIVE_COUNT] = {"DataType": "Number", "StringValue": str(count)}
                    try:
                        with transient_errors(f"SQS SendMessage {queue_url}"):
                            self._clients.sqs.send_message(
                                QueueUrl=queue_url,
                                MessageBody=body.decode(),
                                MessageAttributes=attributes,
                            )
                    except Exception as exc:
                        held[message_id] = parked  # still parked: made visible below
                        failed.append((message_id, f"{type(exc).__name__}: {exc}"))
                        continue
                    with transient_errors(f"SQS DeleteMessage {dlq_url}"):
                        self._clients.sqs.delete_message(
                            QueueUrl=dlq_url, ReceiptHandle=parked["ReceiptHandle"]
                        )
                    redriven.append(message_id)
            finally:
                self._release(consumer, list(held.values()))
        return RedriveResult(tuple(redriven), tuple(failed))

    def purge(self, consumer: str) -> int:
        """Receive and delete every DLQ message (``PurgeQueue`` is allowed once a minute)."""
        url = self._queues[consumer][1]
        deleted = 0
        while True:
            messages = self._receive(consumer, 10)
            if not messages:
                return deleted
            with transient_errors(f"SQS DeleteMessageBatch {url}"):
                self._clients.sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(messages)
                    ],
                )
            deleted += len(messages)
