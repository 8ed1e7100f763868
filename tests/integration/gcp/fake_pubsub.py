"""A hand-written stand-in for Pub/Sub: a ``PublisherClient`` plus push subscriptions.

No Pub/Sub emulator can be installed here, so the adapters publish through this object
(``publish(topic, data, ordering_key=..., **attributes)`` returning a future, and
``resume_publish``), and :meth:`FakePubSub.deliver_all` pushes every message to the
functions-framework test clients the way a push subscription does: the raw push body
``{"message": {...}, "subscription": ..., "deliveryAttempt": n}``, a filter on attributes (the
Terraform ``attributes.ce-type = ...`` filters, derived from the catalog), redelivery on any
non-2xx answer and, after ``max_delivery_attempts``, forwarding to the dead-letter topic.
The real Pub/Sub behaviour is covered by the contract tests under ``PUBSUB_EMULATOR_HOST``.
"""

from __future__ import annotations

import base64
import itertools
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from shared.catalog import Catalog, default_catalog

PROJECT = "test-project"
ACK_STATUSES = {102, 200, 201, 202, 204}


def topic_path(name: str) -> str:
    return f"projects/{PROJECT}/topics/{name}"


@dataclass
class PushSubscription:
    """A push subscription to a functions-framework test client."""

    name: str
    topic: str
    client: Any
    accepts: Callable[[Mapping[str, str]], bool]
    max_delivery_attempts: int
    dead_letter_topic: str | None = None

    @property
    def path(self) -> str:
        # Terraform pushes to <function url>/projects/<p>/topics/<topic>.
        return "/" + self.topic


@dataclass
class Push:
    """One push attempt and the function's answer."""

    subscription: str
    message_id: str
    attempt: int
    status: int


@dataclass
class FakePubSub:
    """Topics, messages and push subscriptions in memory."""

    topics: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    subscriptions: list[PushSubscription] = field(default_factory=list)
    pushes: list[Push] = field(default_factory=list)
    resumed: list[tuple[str, str]] = field(default_factory=list)
    fail_next: int = 0
    _queue: deque[tuple[PushSubscription, dict[str, Any], int]] = field(default_factory=deque)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- the PublisherClient surface the adapters use ------------------------------------------
    def publish(
        self, topic: str, data: bytes, ordering_key: str = "", **attributes: str
    ) -> Future[str]:
        future: Future[str] = Future()
        if self.fail_next:
            self.fail_next -= 1
            future.set_exception(RuntimeError("simulated publish failure"))
            return future
        if not isinstance(data, bytes):
            raise TypeError("data must be bytes")  # the real client refuses str too
        if not all(isinstance(v, str) for v in attributes.values()):
            raise TypeError("attribute values must be str")
        message_id = str(next(self._ids))
        message: dict[str, Any] = {
            "data": base64.b64encode(data).decode(),
            "attributes": dict(attributes),
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": "2026-03-01T10:00:00.000Z",
            "publish_time": "2026-03-01T10:00:00.000Z",
        }
        if ordering_key:
            message["orderingKey"] = ordering_key
        self.topics[topic].append(message)
        for subscription in self.subscriptions:
            if subscription.topic == topic and subscription.accepts(attributes):
                self._queue.append((subscription, message, 1))
        future.set_result(message_id)
        return future

    def resume_publish(self, topic: str, ordering_key: str) -> None:
        self.resumed.append((topic, ordering_key))

    # -- push delivery ----------------------------------------------------------------------------
    def subscribe(self, subscription: PushSubscription) -> None:
        self.subscriptions.append(subscription)

    def deliver_all(self, *, limit: int = 500) -> list[Push]:
        """Push until every queue is empty (messages published meanwhile included)."""
        done: list[Push] = []
        while self._queue:
            if len(done) >= limit:
                raise AssertionError(f"more than {limit} pushes: a delivery loop?")
            subscription, message, attempt = self._queue.popleft()
            body = {
                "message": message,
                "subscription": f"projects/{PROJECT}/subscriptions/{subscription.name}",
                "deliveryAttempt": attempt,
            }
            response = subscription.client.post(subscription.path, json=body)
            push = Push(subscription.name, message["messageId"], attempt, response.status_code)
            done.append(push)
            self.pushes.append(push)
            if response.status_code in ACK_STATUSES:
                continue
            if attempt < subscription.max_delivery_attempts:
                self._queue.append((subscription, message, attempt + 1))
            elif subscription.dead_letter_topic:  # what the dead_letter_policy does
                forwarded = dict(message["attributes"])
                forwarded["CloudPubSubDeadLetterSourceDeliveryCount"] = str(attempt)
                forwarded["CloudPubSubDeadLetterSourceSubscription"] = subscription.name
                self.publish(
                    subscription.dead_letter_topic, base64.b64decode(message["data"]), **forwarded
                )
        return done

    def redeliver(self, topic: str, message_id: str, *, attempt: int = 1) -> None:
        """Queue an already delivered message again for every matching subscription (Pub/Sub
        delivers at least once: an acknowledged message can still come back)."""
        path = topic if topic.startswith("projects/") else topic_path(topic)
        [message] = [m for m in self.messages(path) if m["messageId"] == message_id]
        for subscription in self.subscriptions:
            if subscription.topic == path and subscription.accepts(message["attributes"]):
                self._queue.append((subscription, message, attempt))

    def messages(self, topic: str) -> list[dict[str, Any]]:
        """Messages published to a topic (full path or short name)."""
        return list(self.topics[topic if topic.startswith("projects/") else topic_path(topic)])

    @staticmethod
    def data(message: Mapping[str, Any]) -> bytes:
        return base64.b64decode(message["data"])


def type_filter(types: set[str]) -> Callable[[Mapping[str, str]], bool]:
    """``attributes.ce-type = "a" OR ...``."""
    return lambda attributes: attributes.get("ce-type") in types


def catalog_event_types(consumer: str, catalog: Catalog | None = None) -> set[str]:
    """The CloudEvents types a consumer's events-topic subscription lets through."""
    catalog = catalog or default_catalog()
    return {catalog.event(name).type for name in catalog.consumer(consumer).subscribes}


def finalize_filter(attributes: Mapping[str, str]) -> bool:
    """``attributes.eventType = "OBJECT_FINALIZE"`` (the uploads subscriptions)."""
    return attributes.get("eventType") == "OBJECT_FINALIZE"
