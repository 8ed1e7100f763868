"""Composition root for Azure: environment -> adapters -> the one runtime, once per process.

One Function App hosts several functions, so they share one :class:`Runtime` and one set of
lazily built adapters over shared SDK clients (:class:`AzureClients`); each function builds
only what its handler's signature asks for. Nothing runs at import time. Tests call
:func:`configure` with an environment pointing at azurite (and clients or port overrides) and
:func:`reset` after.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from functions.azure.clients import AzureClients
from functions.azure.names import DEFAULT_TABLES
from functions.common.composition import (
    base_container,
    install_overrides,
    register_publisher,
    register_smtp_mailer,
    stripe_api_key,
)
from functions.common.runtime import Runtime, Runtimes
from shared.catalog import Catalog
from shared.inject import Container
from shared.ports import (
    DeadLetterSink,
    EventPublisher,
    IdempotencyStore,
    MetadataIndex,
    ObjectStore,
    OrderStore,
)
from shared.settings import settings_from_env

# Event Grid delivers each event into a Storage queue, and a queue message holds at most
# 64 KiB: a bigger event is never delivered. The catalog's claim-check threshold (256 KB)
# suits EventBridge and Pub/Sub, not this; 16 KiB are left for the envelope around the data.
MAX_INLINE_EVENT_DATA_BYTES = 48 * 1024
TABLE_PORTS = {
    MetadataIndex: ("index", "TableMetadataIndex"),
    IdempotencyStore: ("idempotency", "TableIdempotencyStore"),
    OrderStore: ("orders", "TableOrderStore"),
}


def build_container(
    environ: Mapping[str, str] | None = None,
    *,
    clients: AzureClients | None = None,
    catalog: Catalog | None = None,
    **overrides: Any,
) -> Container:
    """Every adapter an Azure function may need, each built on first use."""
    env: Mapping[str, str] = dict(os.environ if environ is None else environ)
    azure = clients or AzureClients(env)
    container = base_container(
        settings_from_env(env), catalog=catalog, stripe_api_key=stripe_api_key(env)
    )
    from functions.azure.adapters import blob, queues, tables

    container.register(ObjectStore, lambda: blob.BlobObjectStore(azure.blob))
    for kind, (name, adapter) in TABLE_PORTS.items():
        table = env.get(f"EVENTSUITE_{name.upper()}_TABLE") or DEFAULT_TABLES[name]
        container.register(kind, _table(azure, tables, adapter, table))
    container.register(DeadLetterSink, lambda: _dead_letters(azure, queues))
    if env.get("EVENTSUITE_EVENTGRID_ENDPOINT"):
        from functions.azure.adapters.eventgrid import EventGridPublisher

        register_publisher(
            container,
            lambda: EventGridPublisher(azure.eventgrid),
            max_inline_bytes=MAX_INLINE_EVENT_DATA_BYTES,
        )
    elif env.get("EVENTSUITE_PUBLISHER") == "queues":  # azurite: straight into the queues
        register_publisher(
            container,
            lambda: queues.QueueFanoutPublisher(azure.queue, catalog=container.get(Catalog)),
            max_inline_bytes=MAX_INLINE_EVENT_DATA_BYTES,
        )
    else:
        container.refuse(
            EventPublisher,
            "set EVENTSUITE_EVENTGRID_ENDPOINT (Azure) or EVENTSUITE_PUBLISHER=queues (azurite)",
        )
    register_smtp_mailer(container, env)
    return install_overrides(container, overrides)


def _table(azure: AzureClients, module: Any, adapter: str, table: str) -> Any:
    return lambda: getattr(module, adapter)(azure.table.get_table_client(table))


_runtimes = Runtimes(build_container)


def runtime() -> Runtime:
    """The process-wide runtime, composed from ``os.environ`` on first use."""
    return _runtimes.get()


def configure(
    environ: Mapping[str, str] | None = None,
    *,
    clients: AzureClients | None = None,
    overrides: Mapping[str, Any] | None = None,
    catalog: Catalog | None = None,
) -> Runtime:
    """Replace the process-wide runtime (tests, local runs); ``overrides`` replace ports by
    name. Returns it."""
    container = build_container(environ, clients=clients, catalog=catalog, **(overrides or {}))
    return _runtimes.install(container)


def reset() -> None:
    """Forget the runtime: the next invocation composes it again from the environment."""
    _runtimes.reset()


def _dead_letters(azure: AzureClients, queues: Any) -> DeadLetterSink:
    """The poison-queue sink: its endpoint is checked when the consumer starts, its client
    (azure.storage.queue, ~20 ms of imports) built on the first dead letter."""
    azure.check_configured("queue")
    sink: DeadLetterSink = queues.QueueDeadLetterSink(lambda: azure.queue)
    return sink
