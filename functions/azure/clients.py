"""Azure SDK clients, created lazily (first use) and once per process; injectable for tests.

Where the storage account is found (first match wins):

* ``EVENTSUITE_STORAGE_CONNECTION_STRING`` - a connection string (azurite, local runs);
* ``EVENTSUITE_STORAGE_ACCOUNT_URL`` (blob endpoint) and, optionally,
  ``EVENTSUITE_STORAGE_QUEUE_URL`` / ``EVENTSUITE_STORAGE_TABLE_URL`` - Entra ID through
  ``DefaultAzureCredential`` (the app's managed identity in Azure; what Terraform sets);
* ``AzureWebJobsStorage`` when it holds a connection string (local ``func start``);
* ``AzureWebJobsStorage__accountName`` - the identity-based host storage account.

Event Grid: ``EVENTSUITE_EVENTGRID_ENDPOINT`` with ``EVENTSUITE_EVENTGRID_KEY`` (access key,
local emulators) or else ``DefaultAzureCredential`` (role "EventGrid Data Sender").

The SDKs are imported only when a client is first needed: an image function never imports
``azure.eventgrid``; nothing imports ``azure.identity`` when a connection string is given.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from functions.azure.names import STORAGE_CONNECTION
from functions.common.cache import LazyClients

# Fail fast inside an invocation: the queue's redelivery (visibilityTimeout) is the outer retry.
CONNECTION_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 20
RETRY_TOTAL = 2
RETRY_INITIAL_BACKOFF_SECONDS = 1
_SERVICES = ("blob", "queue", "table")


def _quiet_sdk_logging() -> None:
    # azure-core logs every request and response at INFO: noise (and cost) in Application Insights.
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
    logging.getLogger("azure.identity").setLevel(logging.WARNING)


def _service_url(url: str, service: str) -> str:
    """The ``service`` endpoint of the account whose (any service's) endpoint is ``url``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    labels = host.split(".")
    if len(labels) > 2 and labels[1] in _SERVICES:
        labels[1] = service
        return f"{parts.scheme}://{'.'.join(labels)}"
    raise ValueError(f"cannot derive the {service} endpoint from {url!r}; set it explicitly")


class AzureClients(LazyClients):
    """A per-process cache of Azure SDK clients.

    ``overrides`` maps ``"blob"``, ``"queue"``, ``"table"`` or ``"eventgrid"`` to a ready-made
    client (tests); everything else is built from ``environ`` on first use.
    """

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        overrides: Mapping[str, Any] | None = None,
        credential: Any = None,
    ) -> None:
        super().__init__(overrides)
        self.environ: Mapping[str, str] = dict(os.environ if environ is None else environ)
        self._credential = credential
        self._lock = threading.RLock()

    @property
    def blob(self) -> Any:
        """``azure.storage.blob.BlobServiceClient``."""
        return self.client("blob")

    @property
    def queue(self) -> Any:
        """``azure.storage.queue.QueueServiceClient``."""
        return self.client("queue")

    @property
    def table(self) -> Any:
        """``azure.data.tables.TableServiceClient``."""
        return self.client("table")

    @property
    def eventgrid(self) -> Any:
        """``azure.eventgrid.EventGridPublisherClient``."""
        return self.client("eventgrid")

    def check_configured(self, service: str) -> None:
        """Raise now what building the ``"blob"``, ``"queue"`` or ``"table"`` client would
        raise about its settings, without building it (no SDK import): a function with a
        misconfigured endpoint refuses to start instead of failing at the client's first use."""
        if service in self.created() or self._connection_string():
            return
        self._account_url(service)

    # -- construction ------------------------------------------------------------------------

    def credential(self) -> Any:
        """``DefaultAzureCredential`` (managed identity in Azure), created once."""
        with self._lock:
            if self._credential is None:
                from azure.identity import DefaultAzureCredential

                self._credential = DefaultAzureCredential()
            return self._credential

    def _connection_string(self) -> str | None:
        env = self.environ
        explicit = env.get("EVENTSUITE_STORAGE_CONNECTION_STRING")
        if explicit:
            return explicit
        if env.get("EVENTSUITE_STORAGE_ACCOUNT_URL"):
            return None
        host = env.get(STORAGE_CONNECTION, "")
        return host if "=" in host else None

    def _account_url(self, service: str) -> str:
        env = self.environ
        specific = env.get(f"EVENTSUITE_STORAGE_{service.upper()}_URL")
        if specific:
            return specific
        base = env.get("EVENTSUITE_STORAGE_ACCOUNT_URL")
        if base:
            return base if service == "blob" else _service_url(base, service)
        explicit = env.get(f"{STORAGE_CONNECTION}__{service}ServiceUri")
        if explicit:
            return explicit
        account = env.get(f"{STORAGE_CONNECTION}__accountName")
        if account:
            return f"https://{account}.{service}.core.windows.net"
        raise RuntimeError(
            "no storage account configured: set EVENTSUITE_STORAGE_CONNECTION_STRING (azurite/"
            "local), EVENTSUITE_STORAGE_ACCOUNT_URL (managed identity) or AzureWebJobsStorage"
        )

    def _build(self, service: str) -> Any:
        _quiet_sdk_logging()
        if service == "eventgrid":
            return self._build_eventgrid()
        if service not in _SERVICES:
            raise ValueError(f"unknown Azure client {service!r}")
        kind = self._client_class(service)
        options: dict[str, Any] = {
            "connection_timeout": CONNECTION_TIMEOUT_SECONDS,
            "read_timeout": READ_TIMEOUT_SECONDS,
            "retry_total": RETRY_TOTAL,
        }
        if service == "table":
            options["retry_backoff_factor"] = 0.5
        else:
            options["retry_policy"] = self._storage_retry(service)
        connection_string = self._connection_string()
        if connection_string:
            return kind.from_connection_string(connection_string, **options)
        return kind(self._account_url(service), credential=self.credential(), **options)

    @staticmethod
    def _storage_retry(service: str) -> Any:
        # The Blob/Queue SDK default waits 15 s, then 18 s (+-3 s jitter) between retries: an
        # invocation would sit out a storage hiccup for half a minute instead of letting the
        # queue redeliver it. Two quick retries, about 3 s in all.
        policy: Any
        if service == "blob":
            from azure.storage.blob import ExponentialRetry as policy
        else:
            from azure.storage.queue import ExponentialRetry as policy
        return policy(
            initial_backoff=RETRY_INITIAL_BACKOFF_SECONDS,
            increment_base=2,
            retry_total=RETRY_TOTAL,
            random_jitter_range=1,
        )

    @staticmethod
    def _client_class(service: str) -> Any:
        if service == "blob":
            from azure.storage.blob import BlobServiceClient

            return BlobServiceClient
        if service == "queue":
            from azure.storage.queue import QueueServiceClient

            return QueueServiceClient
        from azure.data.tables import TableServiceClient

        return TableServiceClient

    def _build_eventgrid(self) -> Any:
        from azure.eventgrid import EventGridPublisherClient

        endpoint = self.environ.get("EVENTSUITE_EVENTGRID_ENDPOINT")
        if not endpoint:
            raise RuntimeError("EVENTSUITE_EVENTGRID_ENDPOINT (the topic endpoint) is not set")
        key = self.environ.get("EVENTSUITE_EVENTGRID_KEY")
        credential: Any
        if key:
            from azure.core.credentials import AzureKeyCredential

            credential = AzureKeyCredential(key)
        else:
            credential = self.credential()
        return EventGridPublisherClient(
            endpoint,
            credential,
            connection_timeout=CONNECTION_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            retry_total=RETRY_TOTAL,
        )
