"""Composition root for Google Cloud: ports per consumer, endpoint or schedule, built once per
process.

Nothing is built at import time: :func:`dispatcher` and :func:`ports_for` build on the first
invocation and cache. SDK clients are lazier still (see :mod:`functions.gcp.clients`).
Tests call :func:`install` with their own ports (or :func:`build_ports` with emulator-backed
clients) and :func:`reset` afterwards.

What each function gets (``EVENTSUITE_*`` variables, see functions/README.md):

* every consumer: Cloud Storage objects (claim checks, images), Firestore idempotency, the
  dead-letter sink on ``EVENTSUITE_DEAD_LETTER_TOPIC`` (none when unset: the subscription's own
  dead-letter policy then parks permanent failures after its max delivery attempts);
* image consumers (``group: images``): the Firestore metadata index;
* order consumers and the HTTP endpoints (``group: orders``): the Firestore order store, the
  claim-checking Pub/Sub publisher on ``EVENTSUITE_EVENTS_TOPIC``, the simulated payment
  gateway and, when ``EVENTSUITE_SMTP_HOST`` is set, the SMTP mailer;
* catalog schedules (``EVENTSUITE_SCHEDULE``, e.g. the order reconciler, ``group: orders``):
  the objects, the order store and the publisher only - a scheduled job charges nobody and
  mails nobody, it announces facts that the consumers then act on.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from functions.common.adapters.simulated_payments import SimulatedPaymentGateway
from functions.common.adapters.smtp import smtp_mailer_from_env
from functions.gcp.clients import GcpClients
from functions.gcp.firestore_stores import (
    FirestoreIdempotencyStore,
    FirestoreMetadataIndex,
    FirestoreOrderStore,
)
from functions.gcp.gcs import GcsObjectStore
from functions.gcp.pubsub import PubSubDeadLetterSink, PubSubPublisher
from shared.catalog import default_catalog
from shared.dispatch import Dispatcher
from shared.envelope import ClaimCheckPublisher
from shared.ports import Ports
from shared.settings import settings_from_env

logger = logging.getLogger("eventsuite.gcp.bootstrap")

_lock = threading.RLock()
_ports: dict[str, Ports] = {}
_dispatchers: dict[str, Dispatcher] = {}


def _role(consumer: str | None, endpoint: str | None, schedule: str | None = None) -> str:
    given = [
        f"{kind}:{name}"
        for kind, name in (("consumer", consumer), ("endpoint", endpoint), ("schedule", schedule))
        if name is not None
    ]
    if len(given) != 1:
        raise ValueError("give exactly one of consumer, endpoint or schedule")
    return given[0]


def _group(consumer: str | None, endpoint: str | None, schedule: str | None) -> str:
    catalog = default_catalog()
    if consumer:
        return catalog.consumer(consumer).group
    if endpoint:
        return catalog.endpoint(endpoint).group
    return catalog.schedule(str(schedule)).group


def build_ports(
    *,
    consumer: str | None = None,
    endpoint: str | None = None,
    schedule: str | None = None,
    environ: Mapping[str, str] | None = None,
    clients: GcpClients | None = None,
    **overrides: Any,
) -> Ports:
    """The ports of one consumer, endpoint or schedule; ``overrides`` replace any port by name."""
    env = os.environ if environ is None else environ
    catalog = default_catalog()
    role = _role(consumer, endpoint, schedule)
    group = _group(consumer, endpoint, schedule)
    clients = clients or GcpClients.from_env(env)
    settings = settings_from_env(env)
    objects = GcsObjectStore(clients.storage)
    ports = Ports(settings=settings, objects=objects)
    if consumer:
        ports.idempotency = FirestoreIdempotencyStore(
            clients.firestore, ttl_seconds=settings.idempotency_ttl_seconds
        )
        dead_letter_topic = env.get("EVENTSUITE_DEAD_LETTER_TOPIC")
        if dead_letter_topic:
            ports.dead_letters = PubSubDeadLetterSink(
                clients.publisher, clients.topic_path(dead_letter_topic)
            )
        else:
            logger.warning(
                "%s: EVENTSUITE_DEAD_LETTER_TOPIC is not set; permanent failures "
                "are left to the subscription's dead-letter policy",
                role,
            )
    if group == "images":
        ports.index = FirestoreMetadataIndex(clients.firestore)
    else:
        ports.orders = FirestoreOrderStore(clients.firestore)
        events_topic = env.get("EVENTSUITE_EVENTS_TOPIC")
        if events_topic:
            ports.publisher = ClaimCheckPublisher(
                PubSubPublisher(
                    clients.publisher, clients.topic_path(events_topic), catalog=catalog
                ),
                objects,
                bucket=settings.claims_bucket,
                threshold_bytes=catalog.claim_check_threshold_bytes,
                prefix=catalog.storage["claims_prefix"],
            )
    if group != "images" and schedule is None:
        ports.payments = SimulatedPaymentGateway()
        mailer_kind = env.get("EVENTSUITE_MAILER", "smtp").lower()
        if mailer_kind != "smtp":
            raise RuntimeError(
                f"EVENTSUITE_MAILER={mailer_kind!r} is not available on Google Cloud; use smtp"
            )
        if env.get("EVENTSUITE_SMTP_HOST"):
            ports.mailer = smtp_mailer_from_env(settings.mail_from, env)
    for name, value in overrides.items():
        if not hasattr(ports, name):
            raise TypeError(f"Ports has no port {name!r}")
        setattr(ports, name, value)
    return ports


def ports_for(
    *, consumer: str | None = None, endpoint: str | None = None, schedule: str | None = None
) -> Ports:
    """The cached ports of a consumer, endpoint or schedule (built from the environment on
    first use)."""
    role = _role(consumer, endpoint, schedule)
    with _lock:
        if role not in _ports:
            _ports[role] = build_ports(consumer=consumer, endpoint=endpoint, schedule=schedule)
        return _ports[role]


def dispatcher(consumer: str) -> Dispatcher:
    """The cached dispatcher of a consumer."""
    with _lock:
        if consumer not in _dispatchers:
            _dispatchers[consumer] = Dispatcher(consumer, ports_for(consumer=consumer))
        return _dispatchers[consumer]


def install(
    ports: Ports,
    *,
    consumer: str | None = None,
    endpoint: str | None = None,
    schedule: str | None = None,
) -> None:
    """Use ``ports`` for a consumer, endpoint or schedule in this process (tests, local
    serving): e.g. a schedule's ports with a fake clock."""
    role = _role(consumer, endpoint, schedule)
    with _lock:
        _ports[role] = ports
        if consumer:
            _dispatchers.pop(consumer, None)


def reset() -> None:
    """Forget every cached port and dispatcher."""
    with _lock:
        _ports.clear()
        _dispatchers.clear()
