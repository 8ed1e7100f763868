"""Storage-queue adapters: the dead-letter sink (poison queues), the operator's dead-letter admin
(poison queues and Event Grid's dead-letter blobs) and a local Event Grid stand-in.

Messages are plain text (no base64), like the ones Event Grid writes; ``host.json`` sets the
queue trigger's ``messageEncoding`` to ``none`` accordingly.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from cloudevents.abstract import CloudEvent

from functions.azure.errors import transient_azure_errors
from functions.azure.names import poison_queue_name, queue_name
from functions.common.deadletters import collect_parked, find_parked, oldest_first
from shared.catalog import Catalog, default_catalog
from shared.deadletter import count_redrive, redrive_count, structured_event, subject_of
from shared.envelope import to_json_bytes
from shared.errors import UnknownEventType
from shared.ports import ParkedMessage, RedriveResult

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

    def __init__(self, service: Callable[[], Any]) -> None:
        # A factory: the Queue client (and its 20 ms of imports) is built on the first dead
        # letter, not when the consumer starts.
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
            _send(self._service(), poison_queue_name(consumer), text)


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


RUNTIME_POISONED = "maxDequeueCount reached: moved to the poison queue by the Functions runtime"
BLOB_PREFIX = "blob:"
_HIDE_SECONDS = 30
_DEAD_LETTER_KEYS = {
    "deadLetterReason",
    "deliveryAttempts",
    "lastDeliveryOutcome",
    "lastHttpStatusCode",
    "publishTime",
    "lastDeliveryAttemptTime",
}


def _with_redrive_count(text: str) -> tuple[str, int]:
    """The message text to send back (storage queue messages have no attributes: the count
    travels as the event's ``redrivecount`` extension)."""
    body, count = count_redrive(text)
    return body.decode(), count


def _epoch(text: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class _BlobEntry:
    blob: str
    index: int
    consumer: str
    item: JsonDict
    created: float | None

    @property
    def id(self) -> str:
        return f"{BLOB_PREFIX}{self.blob}#{self.index}"

    @property
    def event(self) -> JsonDict:
        inner = self.item.get("event")
        if isinstance(inner, dict):
            return inner
        return {k: v for k, v in self.item.items() if k not in _DEAD_LETTER_KEYS}

    @property
    def properties(self) -> JsonDict:
        for name in ("deadLetterProperties", "deadletterproperties"):
            if isinstance(self.item.get(name), dict):
                return {k.lower(): v for k, v in self.item[name].items()}
        return {k.lower(): v for k, v in self.item.items() if k in _DEAD_LETTER_KEYS}


class StorageDeadLetterAdmin:
    """``DeadLetterAdmin`` over the poison queues and Event Grid's dead-letter container.

    Poison-queue messages are ours (``kind = eventsuite.deadletter``, with the reason and the
    original message) or the runtime's (the bare message, after ``maxDequeueCount``). Event
    Grid writes undeliverable events as JSON arrays into blobs named
    ``<SUBSCRIPTION NAME IN CAPITALS>/yyyy/m/d/h/<guid>.json``; ``subscriptions`` maps each
    subscription name to its consumer. A redrive sends the original message to
    ``<consumer>-events``, then deletes the poison message (or rewrites the blob without the
    entry, conditional on its ETag).
    """

    def __init__(
        self,
        queue_service: Any,
        blob_service: Any | None = None,
        *,
        consumers: Sequence[str] | None = None,
        deadletter_container: str = "deadletters",
        subscriptions: Mapping[str, str] | None = None,
    ) -> None:
        self._queues = queue_service
        self._blobs = blob_service
        self.consumers = list(consumers or default_catalog().consumers)
        self._container = deadletter_container
        self._subscriptions = {k.upper(): v for k, v in (subscriptions or {}).items()}

    # -- poison queues ------------------------------------------------------------------------
    def _hold(self, consumer: str) -> list[Any]:
        """Receive every poison message (hidden for a short while)."""
        client = self._queues.get_queue_client(poison_queue_name(consumer))
        held: dict[str, Any] = {}
        try:
            with transient_azure_errors(f"reading {poison_queue_name(consumer)}"):
                for message in client.receive_messages(
                    messages_per_page=32, visibility_timeout=_HIDE_SECONDS
                ):
                    held.setdefault(message.id, message)
        except ResourceNotFoundError:
            return []
        return sorted(
            held.values(), key=lambda m: m.inserted_on or datetime.min.replace(tzinfo=UTC)
        )

    def _release(self, consumer: str, messages: Sequence[Any]) -> None:
        client = self._queues.get_queue_client(poison_queue_name(consumer))
        for message in messages:
            with transient_azure_errors(f"releasing a message of {poison_queue_name(consumer)}"):
                client.update_message(message, visibility_timeout=0)

    @staticmethod
    def _original(text: str) -> tuple[JsonDict | None, str]:
        """(our dead-letter document or None, the original message text)."""
        try:
            document = json.loads(text)
        except ValueError:
            return None, text
        if not isinstance(document, dict) or document.get("kind") != POISON_MARKER:
            return None, text
        if isinstance(document.get("original"), str):
            return document, document["original"]
        if document.get("original_base64"):
            return document, base64.b64decode(document["original_base64"]).decode(errors="replace")
        return document, json.dumps(document.get("event") or {}, separators=(",", ":"))

    def _from_queue(self, consumer: str, message: Any) -> ParkedMessage:
        document, original = self._original(message.content)
        event = structured_event(original) or (document or {}).get("event")
        dead_lettered = (document or {}).get("dead_lettered_at")
        return ParkedMessage(
            id=message.id,
            consumer=consumer,
            reason=str((document or {}).get("reason") or RUNTIME_POISONED),
            attempts=int((document or {}).get("attempts") or message.dequeue_count or 0),
            event_id=str(event["id"]) if event else None,
            event_type=str(event["type"]) if event else None,
            subject=subject_of(event),
            dead_lettered_at=_epoch(dead_lettered)
            if dead_lettered
            else (message.inserted_on.timestamp() if message.inserted_on else None),
            redrive_count=redrive_count(event),
            event=event,
            body=original.encode(),
            attributes={"source": poison_queue_name(consumer)},
        )

    # -- Event Grid dead-letter blobs ---------------------------------------------------------
    def _container_client(self) -> Any:
        return self._blobs.get_container_client(self._container) if self._blobs else None

    def _blob_entries(self, consumer: str | None = None) -> Iterator[_BlobEntry]:
        container = self._container_client()
        if container is None:
            return
        try:
            with transient_azure_errors(f"listing {self._container}"):
                blobs = list(container.list_blobs())
        except ResourceNotFoundError:
            return
        for blob in blobs:
            owner = self._subscriptions.get(blob.name.split("/", 1)[0].upper())
            if owner is None or (consumer and owner != consumer):
                continue
            with transient_azure_errors(f"reading {self._container}/{blob.name}"):
                items = json.loads(container.download_blob(blob.name).readall())
            for index, item in enumerate(items if isinstance(items, list) else [items]):
                if isinstance(item, dict):
                    created = blob.creation_time.timestamp() if blob.creation_time else None
                    yield _BlobEntry(blob.name, index, owner, item, created)

    @staticmethod
    def _from_blob(entry: _BlobEntry) -> ParkedMessage:
        event, properties = entry.event, entry.properties
        reason = " - ".join(
            str(properties[k])
            for k in ("deadletterreason", "lastdeliveryoutcome")
            if properties.get(k)
        )
        return ParkedMessage(
            id=entry.id,
            consumer=entry.consumer,
            reason=f"Event Grid: {reason or 'dead-lettered'}",
            attempts=int(properties.get("deliveryattempts") or 0),
            event_id=str(event.get("id")) if event.get("id") else None,
            event_type=str(event.get("type")) if event.get("type") else None,
            subject=subject_of(event),
            dead_lettered_at=entry.created,
            redrive_count=redrive_count(event),
            event=event,
            body=json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode(),
            attributes={"source": f"{entry.blob}#{entry.index}"},
        )

    def _remove_blob_entries(self, blob: str, indexes: set[int]) -> None:
        from azure.core import MatchConditions

        container = self._container_client()
        downloader = container.download_blob(blob)
        etag = downloader.properties.etag
        items = json.loads(downloader.readall())
        kept = [item for i, item in enumerate(items) if i not in indexes]
        client = container.get_blob_client(blob)
        if kept:
            client.upload_blob(
                json.dumps(kept).encode(),
                overwrite=True,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
        else:
            client.delete_blob(etag=etag, match_condition=MatchConditions.IfNotModified)

    # -- DeadLetterAdmin ----------------------------------------------------------------------
    def parked(self, consumer: str | None = None, *, limit: int = 100) -> list[ParkedMessage]:
        """Poison-queue messages and dead-letter blob entries, oldest first."""
        names = [consumer] if consumer else self.consumers
        found = collect_parked(names, self._hold, self._from_queue, self._release)
        found.extend(self._from_blob(entry) for entry in self._blob_entries(consumer))
        return oldest_first(found, limit)

    def show(self, message_id: str) -> ParkedMessage | None:
        """One dead letter by id (poison message id or ``blob:<name>#<n>``) or event id."""
        return find_parked(self, message_id)

    def redrive(self, messages: Sequence[ParkedMessage]) -> RedriveResult:
        """Send each original message to its consumer's queue, then remove the dead letter."""
        redriven: list[str] = []
        failed: list[tuple[str, str]] = []
        by_consumer: dict[str, set[str]] = {}
        for message in messages:
            if not message.id.startswith(BLOB_PREFIX):
                by_consumer.setdefault(message.consumer, set()).add(message.id)
        for consumer, ids in by_consumer.items():
            self._redrive_poison(consumer, ids, redriven, failed)
        blob_ids = {m.id for m in messages if m.id.startswith(BLOB_PREFIX)}
        if blob_ids:
            self._redrive_blobs(blob_ids, redriven, failed)
        return RedriveResult(tuple(redriven), tuple(failed))

    def _redrive_poison(
        self,
        consumer: str,
        ids: set[str],
        redriven: list[str],
        failed: list[tuple[str, str]],
    ) -> None:
        held = {m.id: m for m in self._hold(consumer)}
        poison = self._queues.get_queue_client(poison_queue_name(consumer))
        try:
            for message_id in sorted(ids):
                message = held.pop(message_id, None)
                if message is None:
                    failed.append((message_id, "not in the poison queue any more"))
                    continue
                text, _ = _with_redrive_count(self._original(message.content)[1])
                try:
                    with transient_azure_errors(f"writing to {queue_name(consumer)}"):
                        _send(self._queues, queue_name(consumer), text)
                except Exception as exc:
                    held[message_id] = message
                    failed.append((message_id, f"{type(exc).__name__}: {exc}"))
                    continue
                with transient_azure_errors(f"deleting from {poison_queue_name(consumer)}"):
                    poison.delete_message(message)
                redriven.append(message_id)
        finally:
            self._release(consumer, list(held.values()))

    def _redrive_blobs(
        self, ids: set[str], redriven: list[str], failed: list[tuple[str, str]]
    ) -> None:
        entries = {e.id: e for e in self._blob_entries()}
        done: dict[str, set[int]] = {}
        for message_id in sorted(ids):
            entry = entries.get(message_id)
            if entry is None:
                failed.append((message_id, "not in the dead-letter container any more"))
                continue
            text, _ = _with_redrive_count(json.dumps(entry.event, separators=(",", ":")))
            try:
                with transient_azure_errors(f"writing to {queue_name(entry.consumer)}"):
                    _send(self._queues, queue_name(entry.consumer), text)
            except Exception as exc:
                failed.append((message_id, f"{type(exc).__name__}: {exc}"))
                continue
            done.setdefault(entry.blob, set()).add(entry.index)
            redriven.append(message_id)
        for blob, indexes in done.items():
            with transient_azure_errors(f"rewriting {self._container}/{blob}"):
                self._remove_blob_entries(blob, indexes)

    def purge(self, consumer: str) -> int:
        """Clear the consumer's poison queue and delete its dead-letter blobs."""
        deleted = 0
        held = self._hold(consumer)
        poison = self._queues.get_queue_client(poison_queue_name(consumer))
        for message in held:
            with transient_azure_errors(f"deleting from {poison_queue_name(consumer)}"):
                poison.delete_message(message)
            deleted += 1
        blobs: dict[str, int] = {}
        for entry in self._blob_entries(consumer):
            blobs[entry.blob] = blobs.get(entry.blob, 0) + 1
        container = self._container_client()
        for blob, count in blobs.items():
            with transient_azure_errors(f"deleting {self._container}/{blob}"):
                container.delete_blob(blob)
            deleted += count
        return deleted
