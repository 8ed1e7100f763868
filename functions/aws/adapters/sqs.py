"""SQS implementation of the ``DeadLetterSink`` port: park a failed delivery in the consumer's DLQ.

The DLQ message body is the original SQS record body (so a redrive to the source queue
replays exactly what was delivered); message attributes say why: ``reason``, ``consumer``,
``attempts`` and, when the event could be read, ``event_id`` and ``event_type``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from functions.aws.clients import AwsClients
from functions.aws.errors import transient_errors
from shared.deadletter import DeadLetterRecord

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
