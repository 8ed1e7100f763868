"""Composition root for Azure: ports built on the first invocation, once per process.

One Flex Consumption app hosts every function, so the SDK clients (:class:`AzureClients`) are
shared by all of them while each consumer or endpoint gets the ports its catalog group needs:

* ``images`` consumers: Blob object store, Table metadata index, idempotency, poison queues;
* ``orders`` consumers: Table orders, Event Grid publisher (claim-checked), simulated payment
  gateway, SMTP mailer, idempotency, poison queues;
* HTTP endpoints: orders, publisher and the object store for claim checks;
* timer-triggered catalog schedules: the ports of their catalog group, like a consumer of it.

Every adapter is built on first use (:class:`LazyPort`), so a function never builds, nor
imports the SDK of, a port it does not touch. Nothing here runs at import time. Tests call
:func:`configure` with an environment pointing at azurite (and, optionally, ready-made clients
or port overrides) and :func:`reset` after.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from functions.azure.clients import AzureClients
from functions.azure.names import DEFAULT_TABLES
from functions.common.adapters.smtp import smtp_mailer_from_env
from functions.common.cache import OnceCache
from shared.catalog import Catalog, default_catalog
from shared.dispatch import Dispatcher
from shared.envelope import ClaimCheckPublisher
from shared.ports import Ports, Settings
from shared.settings import settings_from_env

# Which ports each catalog group gets (unknown groups get everything).
GROUP_PORTS: Mapping[str, frozenset[str]] = {
    "images": frozenset({"objects", "index", "idempotency", "dead_letters"}),
    "orders": frozenset(
        {"objects", "orders", "publisher", "payments", "mailer", "idempotency", "dead_letters"}
    ),
}
ENDPOINT_PORTS = frozenset({"objects", "orders", "publisher"})
ALL_PORTS = frozenset(
    {"objects", "index", "idempotency", "orders", "publisher", "payments", "mailer", "dead_letters"}
)


# Event Grid delivers each event into a Storage queue, and a queue message holds at most
# 64 KiB: a bigger event is never delivered (Event Grid dead-letters it into a blob after its
# retries, so the order is never charged). The catalog's claim-check threshold (256 KB) suits
# EventBridge and Pub/Sub, not this; 16 KiB are left for the envelope (id, type, source, time,
# our extensions) around the data, which is measured with non-ASCII characters escaped.
MAX_INLINE_EVENT_DATA_BYTES = 48 * 1024


def claim_check_threshold_bytes(catalog: Catalog) -> int:
    """Event data larger than this goes to the claims container instead of the queue message."""
    return min(catalog.claim_check_threshold_bytes, MAX_INLINE_EVENT_DATA_BYTES)


class LazyPort:
    """A port adapter built on first use.

    One app hosts every function, and a group's port set is a superset of what each consumer
    needs (the notifier never publishes, payments never mails). Building on first use means a
    missing setting fails only the function that needs it, with a clear reason (retried, then
    dead-lettered), instead of every function of the group at start-up.
    """

    def __init__(self, name: str, factory: Callable[[], Any]) -> None:
        self._name = name
        self._factory = factory
        self._target: Any = None
        self._lock = threading.Lock()

    def resolve(self) -> Any:
        """The adapter, built now if it was not yet."""
        if self._target is None:
            with self._lock:
                if self._target is None:
                    self._target = self._factory()
        return self._target

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.resolve(), attribute)

    def __repr__(self) -> str:
        state = "unbuilt" if self._target is None else repr(self._target)
        return f"<LazyPort {self._name}: {state}>"


class AzureRuntime:
    """Ports and dispatchers for every function of the app, built lazily and cached."""

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        clients: AzureClients | None = None,
        overrides: Mapping[str, Any] | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.environ: Mapping[str, str] = dict(os.environ if environ is None else environ)
        self.clients = clients or AzureClients(self.environ)
        self.catalog = catalog or default_catalog()
        self.settings: Settings = settings_from_env(self.environ)
        self._overrides = dict(overrides or {})
        self._shared: OnceCache[str, LazyPort] = OnceCache(
            lambda name: LazyPort(name, self._factories()[name])
        )
        self._ports: OnceCache[str, Ports] = OnceCache(self._new_endpoint_ports)
        self._schedule_ports: OnceCache[str, Ports] = OnceCache(self._new_schedule_ports)
        self._dispatchers: OnceCache[str, Dispatcher] = OnceCache(self._new_dispatcher)

    # -- public ------------------------------------------------------------------------------

    def dispatcher(self, consumer: str) -> Dispatcher:
        """The cached dispatcher of a catalog consumer."""
        return self._dispatchers.get(consumer)

    def endpoint_ports(self, endpoint: str) -> Ports:
        """The cached ports of a catalog HTTP endpoint."""
        return self._ports.get(endpoint)

    def schedule_ports(self, schedule: str) -> Ports:
        """The cached ports of a catalog schedule (its group's, as for a consumer)."""
        return self._schedule_ports.get(schedule)

    # -- construction ------------------------------------------------------------------------

    def _new_dispatcher(self, consumer: str) -> Dispatcher:
        spec = self.catalog.consumer(consumer)
        ports = self._build_ports(GROUP_PORTS.get(spec.group, ALL_PORTS))
        return Dispatcher(consumer, ports, catalog=self.catalog)

    def _new_endpoint_ports(self, endpoint: str) -> Ports:
        self.catalog.endpoint(endpoint)  # fail clearly on an unknown name
        return self._build_ports(ENDPOINT_PORTS)

    def _new_schedule_ports(self, schedule: str) -> Ports:
        spec = self.catalog.schedule(schedule)  # fails clearly on an unknown name
        return self._build_ports(GROUP_PORTS.get(spec.group, ALL_PORTS))

    def _build_ports(self, names: frozenset[str]) -> Ports:
        values = {name: self._port(name) for name in sorted(names)}
        clock = self._overrides.get("clock")
        return Ports(settings=self.settings, **values, **({"clock": clock} if clock else {}))

    def _port(self, name: str) -> Any:
        if name in self._overrides:
            return self._overrides[name]
        return self._shared.get(name)

    def _table_name(self, kind: str) -> str:
        return self.environ.get(f"EVENTSUITE_{kind.upper()}_TABLE") or DEFAULT_TABLES[kind]

    def _factories(self) -> dict[str, Callable[[], Any]]:
        return {
            "objects": self._objects,
            "index": self._index,
            "idempotency": self._idempotency,
            "orders": self._orders,
            "publisher": self._publisher,
            "payments": self._payments,
            "mailer": self._mailer,
            "dead_letters": self._dead_letters,
        }

    def _objects(self) -> Any:
        from functions.azure.adapters.blob import BlobObjectStore

        return BlobObjectStore(self.clients.blob)

    def _index(self) -> Any:
        from functions.azure.adapters.tables import TableMetadataIndex

        return TableMetadataIndex(self.clients.table.get_table_client(self._table_name("index")))

    def _idempotency(self) -> Any:
        from functions.azure.adapters.tables import TableIdempotencyStore

        table = self.clients.table.get_table_client(self._table_name("idempotency"))
        return TableIdempotencyStore(table)

    def _orders(self) -> Any:
        from functions.azure.adapters.tables import TableOrderStore

        return TableOrderStore(self.clients.table.get_table_client(self._table_name("orders")))

    def _publisher(self) -> Any:
        inner: Any
        if self.environ.get("EVENTSUITE_EVENTGRID_ENDPOINT"):
            from functions.azure.adapters.eventgrid import EventGridPublisher

            inner = EventGridPublisher(self.clients.eventgrid)
        elif self.environ.get("EVENTSUITE_PUBLISHER") == "queues":
            from functions.azure.adapters.queues import QueueFanoutPublisher

            inner = QueueFanoutPublisher(self.clients.queue, catalog=self.catalog)
        else:
            raise RuntimeError(
                "no event publisher configured: set EVENTSUITE_EVENTGRID_ENDPOINT (Azure) or "
                "EVENTSUITE_PUBLISHER=queues (azurite: write straight into the consumer queues)"
            )
        return ClaimCheckPublisher(
            inner,
            self._port("objects"),
            bucket=self.settings.claims_bucket,
            threshold_bytes=claim_check_threshold_bytes(self.catalog),
            prefix=self.catalog.storage["claims_prefix"],
        )

    def _payments(self) -> Any:
        from functions.common.adapters.simulated_payments import SimulatedPaymentGateway

        return SimulatedPaymentGateway()

    def _mailer(self) -> Any:
        kind = self.environ.get("EVENTSUITE_MAILER", "smtp")
        if kind != "smtp":
            raise RuntimeError(f"EVENTSUITE_MAILER={kind!r} is not available on Azure (use smtp)")
        return smtp_mailer_from_env(self.settings.mail_from, self.environ)

    def _dead_letters(self) -> Any:
        from functions.azure.adapters.queues import QueueDeadLetterSink

        return QueueDeadLetterSink(self.clients.queue)


_runtime: AzureRuntime | None = None
_runtime_lock = threading.Lock()


def runtime() -> AzureRuntime:
    """The process-wide runtime, created from ``os.environ`` on first use."""
    global _runtime  # noqa: PLW0603 - the cached composition root of this process
    current = _runtime
    if current is not None:
        return current
    with _runtime_lock:
        if _runtime is None:
            _runtime = AzureRuntime()
        return _runtime


def configure(
    environ: Mapping[str, str] | None = None,
    *,
    clients: AzureClients | None = None,
    overrides: Mapping[str, Any] | None = None,
    catalog: Catalog | None = None,
) -> AzureRuntime:
    """Replace the process-wide runtime (tests, local runs); returns it."""
    global _runtime  # noqa: PLW0603
    with _runtime_lock:
        _runtime = AzureRuntime(environ, clients=clients, overrides=overrides, catalog=catalog)
        return _runtime


def reset() -> None:
    """Forget the runtime: the next invocation bootstraps again from the environment."""
    global _runtime  # noqa: PLW0603
    with _runtime_lock:
        _runtime = None
