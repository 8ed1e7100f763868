"""Composition root for Google Cloud: environment -> adapters -> the one runtime, per role.

Each Cloud Function deployment serves one role (a consumer, an endpoint or a schedule, named by
``EVENTSUITE_CONSUMER`` / ``_ENDPOINT`` / ``_SCHEDULE``). Nothing is built at import time: the
runtime of a role is composed on its first invocation, and each adapter on first use, so a
function builds only what its handler's signature asks for. Tests :func:`install` their own
dependencies for a role and :func:`reset` afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from functions.common.composition import (
    base_container,
    install_overrides,
    register_publisher,
    register_smtp_mailer,
    stripe_api_key,
)
from functions.common.runtime import Runtime, Runtimes
from functions.gcp.clients import GcpClients
from shared.catalog import Catalog
from shared.inject import Container, Dependencies
from shared.ports import (
    DeadLetterSink,
    EventPublisher,
    IdempotencyStore,
    MetadataIndex,
    ObjectStore,
    OrderStore,
    Settings,
)
from shared.settings import settings_from_env


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
    container = base_container(settings_from_env(env), stripe_api_key=stripe_api_key(env))
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
    register_smtp_mailer(container, env)
    return install_overrides(container, overrides)


_runtimes = Runtimes(build_container)


def _publisher(gcp: GcpClients, topic: str, container: Container) -> EventPublisher:
    from functions.gcp.pubsub import PubSubPublisher

    return PubSubPublisher(gcp.publisher, gcp.topic_path(topic), catalog=container.get(Catalog))


def _dead_letters(gcp: GcpClients, topic: str) -> DeadLetterSink:
    from functions.gcp.pubsub import PubSubDeadLetterSink

    return PubSubDeadLetterSink(gcp.publisher, gcp.topic_path(topic))


def runtime(role: str) -> Runtime:
    """The runtime of ``role`` (``consumer:<name>`` ...), composed from the environment once."""
    return _runtimes.get(role)


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
    return _runtimes.install(dependencies, roles[0])


def reset() -> None:
    """Forget every composed runtime."""
    _runtimes.reset()
