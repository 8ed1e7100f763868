"""Pub/Sub adapters: the ``EventPublisher``, the ``DeadLetterSink`` and the ``DeadLetterAdmin``.

Both take a factory for a ``PublisherClient`` (see :class:`functions.gcp.clients.GcpClients`),
so ``google.cloud.pubsub`` is imported only when something is actually published: the image
functions, which never publish events, import it at their first dead letter, not before.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cloudevents.abstract import CloudEvent

from functions.common.deadletters import by_consumer, collect_parked, find_parked, oldest_first
from functions.gcp.clients import ClientFactory, GcpClients, as_transient
from functions.gcp.translate import (
    ATTRIBUTE_PREFIX,
    CONTENT_TYPE_ATTRIBUTE,
    NOTIFICATION_FINALIZE,
    STRUCTURED_CONTENT_TYPE,
    PubSubMessage,
    decode_binary,
    encode_binary,
    is_storage_notification,
    is_structured,
    notification_event,
)
from shared.catalog import Catalog, default_catalog
from shared.deadletter import (
    REDRIVE_COUNT,
    REDRIVE_EXTENSION,
    DeadLetterRecord,
    count_redrive,
    redrive_count,
    structured_event,
    subject_of,
)
from shared.envelope import to_structured
from shared.errors import TransientError
from shared.ports import ParkedMessage, RedriveResult

logger = logging.getLogger("eventsuite.gcp.pubsub")
PUBLISH_TIMEOUT_SECONDS = 30.0
MAX_ATTRIBUTE_BYTES = 1024  # Pub/Sub's limit on an attribute value


def _fit(value: str, limit: int = MAX_ATTRIBUTE_BYTES) -> str:
    encoded = value.encode()
    if len(encoded) <= limit:
        return value
    return encoded[: limit - 3].decode(errors="ignore") + "..."


class PubSubPublisher:
    """Publishes CloudEvents to the events topic in binary content mode.

    Events whose catalog entry has an ``ordering_key`` (the order events) are published with
    that key (the order id), so a subscription with message ordering sees one order's facts
    in order. Every future is awaited with a timeout; any failure is a ``TransientError``
    (the caller's delivery is retried, and re-publishing is safe: event ids are derived).
    """

    def __init__(
        self,
        client: ClientFactory,
        topic: str,
        *,
        catalog: Catalog | None = None,
        timeout: float = PUBLISH_TIMEOUT_SECONDS,
    ) -> None:
        self._client = client
        self.topic = topic
        self._catalog = catalog or default_catalog()
        self._timeout = timeout

    def publish(self, events: Sequence[CloudEvent]) -> None:
        """Publish every event or raise ``TransientError``."""
        if not events:
            return
        client = self._client()
        pending: list[tuple[str, str, Any]] = []
        failures: list[str] = []
        for event in events:
            message = encode_binary(event, self._catalog)
            try:
                future = client.publish(
                    self.topic,
                    message.data,
                    ordering_key=message.ordering_key,
                    **message.attributes,
                )
            except Exception as exc:  # e.g. ordering key paused by an earlier failure
                self._resume(client, message.ordering_key)
                failures.append(f"{event['id']}: {type(exc).__name__}: {exc}")
                continue
            pending.append((str(event["id"]), message.ordering_key, future))
        for event_id, key, future in pending:
            try:
                future.result(timeout=self._timeout)
            except Exception as exc:
                self._resume(client, key)
                failures.append(f"{event_id}: {type(exc).__name__}: {exc}")
        if failures:
            raise TransientError(f"publishing to {self.topic} failed: " + "; ".join(failures))

    def _resume(self, client: Any, key: str) -> None:
        # After a failed publish with an ordering key, the client refuses that key until resumed.
        if key:
            try:
                client.resume_publish(self.topic, key)
            except Exception:  # resuming is best effort; the retry will report the real error
                logger.warning("could not resume ordering key %s on %s", key, self.topic)


class PubSubDeadLetterSink:
    """Records a permanently failed delivery on the consumer's dead-letter topic.

    The message data is the original payload: the structured CloudEvent (``content-type:
    application/cloudevents+json``, so it can be replayed as is) when it could be read, else
    the raw delivery (for Pub/Sub deliveries, the received message as JSON with its
    attributes). Attributes: ``reason``, ``consumer``, ``attempts`` and, when known,
    ``event_id`` and ``event_type``: the names of :mod:`shared.deadletter`, the same as on the
    SQS dead-letter queues (Pub/Sub attribute keys may hold any UTF-8 up to 256 bytes that does
    not start with ``goog``, underscores included). The Pub/Sub client is created (and
    ``google.cloud.pubsub`` imported) at the first dead letter.
    """

    def __init__(
        self, client: ClientFactory, topic: str, *, timeout: float = PUBLISH_TIMEOUT_SECONDS
    ) -> None:
        self._client = client
        self.topic = topic
        self._timeout = timeout

    def dead_letter(
        self,
        *,
        consumer: str,
        event: dict[str, Any] | None,
        raw: bytes | None,
        reason: str,
        attempts: int,
    ) -> None:
        """Publish the failed delivery with its reason; raise ``TransientError`` on failure."""
        record = DeadLetterRecord.of(consumer, event, reason=reason, attempts=attempts)
        attributes = {name: _fit(value) for name, value in record.attributes().items()}
        if event is not None:
            data = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
            attributes["content-type"] = STRUCTURED_CONTENT_TYPE
        else:
            data = raw or b""
            attributes["content-type"] = "application/octet-stream"
        try:
            future = self._client().publish(self.topic, data, **attributes)
            future.result(timeout=self._timeout)
        except Exception as exc:
            raise as_transient(exc, f"dead-lettering to {self.topic}") from exc


# Attributes Pub/Sub adds when its dead-letter policy forwards a message.
DELIVERY_COUNT = "CloudPubSubDeadLetterSourceDeliveryCount"
FORWARDED_BY_POLICY = "max delivery attempts reached: forwarded by the dead-letter policy"
_PULL_TIMEOUT_SECONDS = 10.0
_EMPTY_PULLS = 3


@dataclass(frozen=True)
class _Replay:
    """What goes back on a topic for one parked message."""

    topic: str
    data: bytes
    attributes: dict[str, str]


class PubSubDeadLetterAdmin:
    """``DeadLetterAdmin`` over each consumer's dead-letter subscription.

    A redrive republishes to a topic the consumer subscribes to, in a form its subscription
    filter lets through: for an application event, the topic of a producer of its type
    (``event_topics``: CloudEvents type -> topic; each producer has its own topic and every
    consumer subscribes to each producer of its types), with ``ce-type`` set so the type filter
    matches a structured event too; for a storage notification or ``ImageUploaded``, the
    uploads topic as ``eventType = OBJECT_FINALIZE``. Other consumers subscribed to the same
    type receive it again and deduplicate on its event id. The dead letter is acknowledged only
    after the publish is confirmed.
    """

    def __init__(
        self,
        clients: GcpClients,
        dead_letter_subscriptions: Mapping[str, str],
        *,
        event_topics: Mapping[str, str],
        uploads_topic: str,
        storage_event_type: str | None = None,
    ) -> None:
        self._clients = clients
        self._subscriptions = {
            c: clients.subscription_path(s) for c, s in dead_letter_subscriptions.items()
        }
        self.consumers = list(self._subscriptions)
        self._event_topics = {t: clients.topic_path(topic) for t, topic in event_topics.items()}
        self._uploads_topic = clients.topic_path(uploads_topic)
        catalog = default_catalog()
        self._storage_type = storage_event_type or catalog.event("ImageUploaded").type

    def _pull(self, consumer: str, limit: int) -> list[Any]:
        """Lease up to ``limit`` messages of the dead-letter subscription."""
        from google.api_core.exceptions import DeadlineExceeded

        subscription, subscriber = self._subscriptions[consumer], self._clients.subscriber()
        held: dict[str, Any] = {}
        empty = 0
        # An immediate pull may come back empty while messages wait (Pub/Sub answers from
        # whichever server it reaches): only a few empty answers in a row mean "no more".
        while len(held) < limit and empty < _EMPTY_PULLS:
            if empty:
                time.sleep(0.2)
            try:
                response = subscriber.pull(
                    request={
                        "subscription": subscription,
                        "max_messages": min(1000, limit - len(held)),
                        "return_immediately": True,
                    },
                    timeout=_PULL_TIMEOUT_SECONDS,
                )
            except DeadlineExceeded:
                break
            except Exception as exc:
                raise as_transient(exc, f"pulling {subscription}") from exc
            fresh = [m for m in response.received_messages if m.message.message_id not in held]
            empty = 0 if fresh else empty + 1
            held.update((m.message.message_id, m) for m in fresh)
        return sorted(held.values(), key=lambda m: m.message.publish_time.timestamp())

    def _release(self, consumer: str, received: Sequence[Any]) -> None:
        if received:
            self._clients.subscriber().modify_ack_deadline(
                request={
                    "subscription": self._subscriptions[consumer],
                    "ack_ids": [m.ack_id for m in received],
                    "ack_deadline_seconds": 0,
                }
            )

    def _acknowledge(self, consumer: str, received: Sequence[Any]) -> None:
        if received:
            self._clients.subscriber().acknowledge(
                request={
                    "subscription": self._subscriptions[consumer],
                    "ack_ids": [m.ack_id for m in received],
                }
            )

    @staticmethod
    def _original(data: bytes, attributes: Mapping[str, str]) -> tuple[bytes, dict[str, str]]:
        """The delivered message inside a raw dead letter (our sink keeps it as JSON)."""
        if attributes.get(CONTENT_TYPE_ATTRIBUTE) == "application/octet-stream":
            try:
                inner = json.loads(data)
                return base64.b64decode(inner.get("data") or ""), {
                    **{str(k): str(v) for k, v in (inner.get("attributes") or {}).items()},
                    **{k: v for k, v in attributes.items() if k != CONTENT_TYPE_ATTRIBUTE},
                }
            except (ValueError, TypeError, AttributeError):
                pass
        return data, dict(attributes)

    def _event(self, data: bytes, attributes: Mapping[str, str]) -> dict[str, Any] | None:
        message = PubSubMessage(data=data, attributes=attributes, message_id="")
        try:
            if is_structured(message):
                return structured_event(data)
            if is_storage_notification(message):
                return to_structured(notification_event(message))
            if any(k.startswith(ATTRIBUTE_PREFIX) for k in attributes):
                return to_structured(decode_binary(message))
        except Exception:
            return None
        return structured_event(data)

    def _parked(self, consumer: str, received: Any) -> ParkedMessage:
        message = received.message
        attributes = {str(k): str(v) for k, v in message.attributes.items()}
        data, original = self._original(bytes(message.data), attributes)
        event = self._event(data, original)
        attempts = attributes.get("attempts") or attributes.get(DELIVERY_COUNT) or 0
        return ParkedMessage(
            id=str(message.message_id),
            consumer=consumer,
            reason=attributes.get("reason") or FORWARDED_BY_POLICY,
            attempts=int(attempts),
            event_id=attributes.get("event_id") or (str(event["id"]) if event else None),
            event_type=attributes.get("event_type") or (str(event["type"]) if event else None),
            subject=subject_of(event),
            dead_lettered_at=message.publish_time.timestamp(),
            redrive_count=max(int(attributes.get(REDRIVE_COUNT) or 0), redrive_count(event)),
            event=event,
            body=bytes(message.data),
            attributes=attributes,
        )

    def _replay(self, parked: ParkedMessage) -> _Replay:
        data, attributes = self._original(parked.body or b"", parked.attributes)
        count = parked.redrive_count + 1
        attributes[REDRIVE_COUNT] = str(count)
        message = PubSubMessage(data=data, attributes=attributes, message_id="")
        if is_structured(message):
            data, count = count_redrive(data, parked.redrive_count)
        elif any(k.startswith(ATTRIBUTE_PREFIX) for k in attributes):
            attributes[ATTRIBUTE_PREFIX + REDRIVE_EXTENSION] = str(count)
        if is_storage_notification(message):
            return _Replay(self._uploads_topic, data, attributes)
        if parked.event_type == self._storage_type:
            attributes["eventType"] = NOTIFICATION_FINALIZE
            return _Replay(self._uploads_topic, data, attributes)
        topic = self._event_topics.get(parked.event_type or "")
        if topic is None:
            raise TransientError(
                f"no producer topic carries {parked.event_type or 'an unreadable event'}"
            )
        if parked.event_type and is_structured(message):
            attributes[ATTRIBUTE_PREFIX + "type"] = parked.event_type
        return _Replay(topic, data, attributes)

    def parked(self, consumer: str | None = None, *, limit: int = 100) -> list[ParkedMessage]:
        """Dead letters of every consumer (or one), leased briefly and released again."""
        names = [consumer] if consumer else self.consumers
        found = collect_parked(
            names, lambda name: self._pull(name, limit), self._parked, self._release
        )
        return oldest_first(found, limit)

    def show(self, message_id: str) -> ParkedMessage | None:
        """A dead letter by message id or event id."""
        return find_parked(self, message_id)

    def redrive(self, messages: Sequence[ParkedMessage]) -> RedriveResult:
        """Republish each message (confirmed), then acknowledge it on the dead-letter topic."""
        redriven: list[str] = []
        failed: list[tuple[str, str]] = []
        publisher = self._clients.publisher()
        for consumer, ids in by_consumer(messages).items():
            held = {m.message.message_id: m for m in self._pull(consumer, 10_000)}
            done: list[Any] = []
            try:
                for message_id in sorted(ids):
                    received = held.pop(message_id, None)
                    if received is None:
                        failed.append((message_id, "not in the dead-letter subscription any more"))
                        continue
                    try:
                        replay = self._replay(self._parked(consumer, received))
                        publisher.publish(replay.topic, replay.data, **replay.attributes).result(
                            timeout=PUBLISH_TIMEOUT_SECONDS
                        )
                    except Exception as exc:
                        held[message_id] = received
                        failed.append((message_id, f"{type(exc).__name__}: {exc}"))
                        continue
                    done.append(received)
                    redriven.append(message_id)
            finally:
                self._acknowledge(consumer, done)
                self._release(consumer, list(held.values()))
        return RedriveResult(tuple(redriven), tuple(failed))

    def purge(self, consumer: str) -> int:
        """Acknowledge every dead letter of ``consumer``."""
        deleted = 0
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            received = self._pull(consumer, 1000)
            if not received:
                break
            self._acknowledge(consumer, received)
            deleted += len(received)
        return deleted
