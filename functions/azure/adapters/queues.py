"""Storage-queue adapters: the dead-letter sink (poison queues) and a local Event Grid stand-in.

Messages are plain text (no base64), like the ones Event Grid writes; ``host.json`` sets the
queue trigger's ``messageEncoding`` to ``none`` accordingly.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from cloudevents.abstract import CloudEvent

from functions.azure.errors import transient_azure_errors
from functions.azure.names import poison_queue_name, queue_name
from shared.catalog import Catalog, default_catalog
from shared.envelope import to_json_bytes
from shared.errors import UnknownEventType

JsonDict = dict[str, Any]
# A Storage queue message holds at most 64 KiB of (UTF-8) text.
MAX_MESSAGE_BYTES = 64 * 1024
POISON_MARKER = "eventsuite.deadletter"


def _send(service: Any, queue: str, text: str) -> None:
    client = service.get_queue_client(queue)
    try:
        client.send_message(text)
    except ResourceNotFoundError:
        # Terraform pre-creates every queue; against azurite (or after a manual delete) create it.
        client.create_queue()
        client.send_message(text)


def dead_letter_message(
    *,
    consumer: str,
    event: JsonDict | None,
    raw: bytes | None,
    reason: str,
    attempts: int,
    now: datetime | None = None,
) -> str:
    """The JSON text parked in a poison queue: why, who, how often, and the original message."""
    document: JsonDict = {
        "kind": POISON_MARKER,
        "reason": reason,
        "consumer": consumer,
        "attempts": attempts,
        "dead_lettered_at": (now or datetime.now(UTC)).isoformat(timespec="milliseconds"),
        "event": event,
    }
    if raw is not None:
        try:
            document["original"] = raw.decode("utf-8")
        except UnicodeDecodeError:
            document["original_base64"] = base64.b64encode(raw).decode("ascii")
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > MAX_MESSAGE_BYTES and event is not None and raw is not None:
        # The original message is the ground truth; the parsed event is a convenience copy.
        document["event"] = None
        text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    return text


class QueueDeadLetterSink:
    """Implements ``shared.ports.DeadLetterSink``: writes to ``<consumer>-events-poison``.

    That is the queue the Functions runtime itself moves a message to after ``maxDequeueCount``
    failed attempts, so operators (and the poison-queue alert) look in one place. Our entries
    are JSON objects with ``kind = "eventsuite.deadletter"`` and the reason; the runtime's are
    the bare original message.
    """

    def __init__(self, service: Any) -> None:
        self._service = service

    def dead_letter(
        self,
        *,
        consumer: str,
        event: JsonDict | None,
        raw: bytes | None,
        reason: str,
        attempts: int,
    ) -> None:
        """Park the delivery with its reason (raises on failure, so the message is kept)."""
        text = dead_letter_message(
            consumer=consumer, event=event, raw=raw, reason=reason, attempts=attempts
        )
        with transient_azure_errors(f"writing to {poison_queue_name(consumer)}"):
            _send(self._service, poison_queue_name(consumer), text)


class QueueFanoutPublisher:
    """An ``EventPublisher`` that does what the Event Grid subscriptions do, without Event Grid.

    For azurite and local runs (``EVENTSUITE_PUBLISHER=queues``): each event is written, as
    structured CloudEvents JSON, into the queue of every catalog consumer subscribed to its
    type - the same filter (included event types) Terraform gives each subscription.
    """

    def __init__(self, service: Any, *, catalog: Catalog | None = None) -> None:
        self._service = service
        self._catalog = catalog or default_catalog()

    def routes(self, ce_type: str) -> list[str]:
        """Queues an event of this CloudEvents ``type`` is delivered to."""
        spec = self._catalog.event_by_type(ce_type)
        if spec is None:
            raise UnknownEventType(f"event type {ce_type!r} is not in the catalog")
        return [queue_name(c.name) for c in self._catalog.consumers_of(spec.name)]

    def publish(self, events: Sequence[CloudEvent]) -> None:
        """Deliver every event to its subscribers' queues."""
        for event in events:
            text = to_json_bytes(event).decode()
            for queue in self.routes(str(event["type"])):
                with transient_azure_errors(f"writing to {queue}"):
                    _send(self._service, queue, text)
