"""Composition root for Google Cloud: environment -> adapters -> the one runtime, per role.

Each Cloud Function deployment serves one role (a consumer, an endpoint or a schedule, named by
``EVENTSUITE_CONSUMER`` / ``_ENDPOINT`` / ``_SCHEDULE``). Nothing is built at import time: the
runtime of a role is composed on its first invocation, and each adapter on first use, so a
function builds only what its handler's signature asks for. Tests :func:`install` their own
dependencies for a role and :func:`reset` afterwards.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from functions.common.composition import base_container, install_overrides, register_publisher
from functions.common.runtime import Runtime
from functions.gcp.clients import GcpClients
from shared.catalog import Catalog
from shared.inject import Container, Dependencies
from shared.ports import (
    DeadLetterSink,
    EventPublisher,
    IdempotencyStore,
    Mailer,
    MetadataIndex,
    ObjectStore,
    OrderStore,
    Settings,
)
from shared.settings import settings_from_env

_lock = threading.RLock()
_runtimes: dict[str, Runtime] = {}


def build_container(
    *,
    environ: Mapping[str, str] | None = None,
    clients: GcpClients | None = None,
    **overrides: Any,
) -> Container:
    """Every adapter a Google Cloud function may need, each built on first use;
    ``overrides`` replace any port or setting by name."""
    env = os.environ if environ is None else environ
    gcp = clients or GcpClients.from_env(env)
    provider = env.get("EVENTSUITE_PAYMENT_PROVIDER", "simulated").lower()
    container = base_container(settings_from_env(env), payment_provider=provider)
    from functions.gcp import firestore_stores as stores
    from functions.gcp.gcs import GcsObjectStore

    ttl = container.get(Settings).idempotency_ttl_seconds
    container.register(ObjectStore, lambda: GcsObjectStore(gcp.storage))
    container.register(MetadataIndex, lambda: stores.FirestoreMetadataIndex(gcp.firestore))
    container.register(OrderStore, lambda: stores.FirestoreOrderStore(gcp.firestore))
    container.register(
        IdempotencyStore,
        lambda: stores.FirestoreIdempotencyStore(gcp.firestore, ttl_seconds=ttl),
    )
    events_topic = env.get("EVENTSUITE_EVENTS_TOPIC")
    if events_topic:
        register_publisher(container, lambda: _publisher(gcp, events_topic, container))
    else:
        container.refuse(EventPublisher, "EVENTSUITE_EVENTS_TOPIC is not set")
    dead_letter_topic = env.get("EVENTSUITE_DEAD_LETTER_TOPIC")
    if dead_letter_topic:
        container.register(DeadLetterSink, lambda: _dead_letters(gcp, dead_letter_topic))
    else:
        container.refuse(DeadLetterSink, "EVENTSUITE_DEAD_LETTER_TOPIC is not set")
    mailer = env.get("EVENTSUITE_MAILER", "smtp").lower()
    if mailer != "smtp":
        container.refuse(Mailer, f"EVENTSUITE_MAILER={mailer!r} is not available here (smtp)")
    elif env.get("EVENTSUITE_SMTP_HOST"):
        from functions.common.adapters.smtp import smtp_mailer_from_env

        sender = container.get(Settings).mail_from
        container.register(Mailer, lambda: smtp_mailer_from_env(sender, env))
    else:
        container.refuse(Mailer, "EVENTSUITE_SMTP_HOST is not set")
    return install_overrides(container, overrides)


def _publisher(gcp: GcpClients, topic: str, container: Container) -> EventPublisher:
    from functions.gcp.pubsub import PubSubPublisher

    return PubSubPublisher(gcp.publisher, gcp.topic_path(topic), catalog=container.get(Catalog))


def _dead_letters(gcp: GcpClients, topic: str) -> DeadLetterSink:
    from functions.gcp.pubsub import PubSubDeadLetterSink

    return PubSubDeadLetterSink(gcp.publisher, gcp.topic_path(topic))


def runtime(role: str) -> Runtime:
    """The runtime of ``role`` (``consumer:<name>`` ...), composed from the environment once."""
    with _lock:
        if role not in _runtimes:
            _runtimes[role] = Runtime(build_container())
        return _runtimes[role]


def install(
    dependencies: Dependencies,
    *,
    consumer: str | None = None,
    endpoint: str | None = None,
    schedule: str | None = None,
) -> Runtime:
    """Serve one consumer, endpoint or schedule from ``dependencies`` in this process
    (tests, local serving)."""
    roles = [
        f"{kind}:{name}"
        for kind, name in (("consumer", consumer), ("endpoint", endpoint), ("schedule", schedule))
        if name
    ]
    if len(roles) != 1:
        raise ValueError("give exactly one of consumer, endpoint or schedule")
    with _lock:
        _runtimes[roles[0]] = Runtime(dependencies)
        return _runtimes[roles[0]]


def reset() -> None:
    """Forget every composed runtime."""
    with _lock:
        _runtimes.clear()
