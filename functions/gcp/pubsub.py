"""Pub/Sub adapters: the ``EventPublisher`` and the ``DeadLetterSink``.

Both take a factory for a ``PublisherClient`` (see :class:`functions.gcp.clients.GcpClients`),
so ``google.cloud.pubsub`` is imported only when something is actually published: the image
functions, which never publish events, import it at their first dead letter, not before.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from cloudevents.abstract import CloudEvent

from functions.gcp.clients import ClientFactory, as_transient
from functions.gcp.translate import STRUCTURED_CONTENT_TYPE, encode_binary
from shared.catalog import Catalog, default_catalog
from shared.deadletter import DeadLetterRecord
from shared.errors import TransientError

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
