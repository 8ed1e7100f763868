"""What Azure would do around our functions, against azurite on 127.0.0.1.

* :class:`Azurite` - the emulator process (Blob, Queue, Table), started once per session.
* :class:`Deployment` - what Terraform creates (containers, tables, queues) under names no
  other test uses (queues are named by the catalog, so they are emptied instead), and the app
  settings that point the function app at them.
* :class:`QueueHost` - the Functions queue listener: receives a consumer's messages (azurite
  counts the dequeues), calls the registered v2 function with an ``azure.functions`` queue
  message, deletes it on success; on an exception it makes the message visible again at once
  (``visibilityTimeout`` fast-forwarded) or, at ``maxDequeueCount``, moves the original to
  ``<queue>-poison``, as the runtime does.
* :class:`EventGridEmulator` - a custom topic endpoint (``POST /api/events``, ``aeg-sas-key``)
  that delivers every CloudEvent, as JSON, into the queue of each consumer subscribed to its
  type: what the per-consumer Event Grid subscriptions (included event types) do. Inside
  :meth:`EventGridEmulator.down` it answers 503 to every publish (an outage).
* :func:`blob_created_event` - the ``Microsoft.Storage.BlobCreated`` CloudEvent the storage
  system topic emits for a blob, built from the blob's real properties.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from azure.functions.queue import QueueMessage

from functions.azure import hostjson
from functions.azure.adapters.queues import QueueFanoutPublisher
from functions.azure.names import DEFAULT_TABLES, poison_queue_name, queue_name
from shared.catalog import default_catalog
from tests.support import (
    LOOPBACK,
    ROOT,
    background_process,
    free_port,
    unavailable,
    wait_for_port,
)
from tests.unit.azure.app_support import user_function

NODE_DIR = ROOT / "tests" / "node"
AZURITE_JS = NODE_DIR / "node_modules" / "azurite" / "dist" / "src" / "azurite.js"
INSTALL_HINT = "azurite is not installed: run `npm ci --prefix tests/node` (make setup does it)"
ACCOUNT = "devstoreaccount1"
# The storage emulator's well-known, publicly documented development key (not a secret).
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
MAX_QUEUE_MESSAGE_BYTES = 64 * 1024  # a Storage queue message
STORAGE_SOURCE = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/eventsuite-rg"
    f"/providers/Microsoft.Storage/storageAccounts/{ACCOUNT}"
)


def require_azurite() -> None:
    """Fail in CI (CI=true), skip elsewhere, when node or the azurite package is missing."""
    problem = None
    if shutil.which("node") is None:
        problem = "node is not on PATH (azurite runs on Node.js)"
    elif not AZURITE_JS.is_file():
        problem = INSTALL_HINT
    if problem is not None:
        unavailable(problem)


@dataclass(frozen=True)
class Azurite:
    """A running azurite: ports and the connection string for them."""

    blob_port: int
    queue_port: int
    table_port: int

    @property
    def connection_string(self) -> str:
        """Development-storage connection string aimed at these ports."""
        base = f"http://{LOOPBACK}"
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={base}:{self.blob_port}/{ACCOUNT};"
            f"QueueEndpoint={base}:{self.queue_port}/{ACCOUNT};"
            f"TableEndpoint={base}:{self.table_port}/{ACCOUNT};"
        )


@contextmanager
def run_azurite() -> Iterator[Azurite]:
    """Start azurite in memory on 127.0.0.1 (three free ports); stop it by PID afterwards."""
    require_azurite()
    ports = Azurite(free_port(), free_port(), free_port())
    command = [
        "node",
        str(AZURITE_JS),
        "--blobHost",
        LOOPBACK,
        "--blobPort",
        str(ports.blob_port),
        "--queueHost",
        LOOPBACK,
        "--queuePort",
        str(ports.queue_port),
        "--tableHost",
        LOOPBACK,
        "--tablePort",
        str(ports.table_port),
        "--inMemoryPersistence",
        "--silent",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--loose",
    ]
    with background_process(command, port=ports.blob_port, timeout=60) as process:
        wait_for_port(ports.queue_port, process=process)
        wait_for_port(ports.table_port, process=process)
        yield ports


@dataclass
class ServiceClients:
    """Blob, Queue and Table service clients for azurite (the tests' own view)."""

    blob: Any
    queue: Any
    table: Any

    @classmethod
    def connect(cls, azurite: Azurite) -> ServiceClients:
        """Clients from the azurite connection string."""
        from azure.data.tables import TableServiceClient
        from azure.storage.blob import BlobServiceClient
        from azure.storage.queue import QueueServiceClient

        text = azurite.connection_string
        return cls(
            BlobServiceClient.from_connection_string(text),
            QueueServiceClient.from_connection_string(text),
            TableServiceClient.from_connection_string(text),
        )

    def messages(self, queue: str) -> list[str]:
        """Every message text in ``queue`` (peeked: left in place)."""
        client = self.queue.get_queue_client(queue)
        return [m.content for m in client.peek_messages(max_messages=32)]

    def poison_entries(self, consumer: str) -> list[Any]:
        """The poison queue's messages, JSON-decoded where they are JSON."""
        entries = []
        for text in self.messages(poison_queue_name(consumer)):
            try:
                entries.append(json.loads(text))
            except ValueError:
                entries.append(text)
        return entries


@dataclass
class Deployment:
    """Resources Terraform would create, with per-test names, and the app settings."""

    clients: ServiceClients
    connection_string: str
    uploads: str
    thumbnails: str
    claims: str
    tables: dict[str, str]

    @classmethod
    def create(cls, clients: ServiceClients, azurite: Azurite) -> Deployment:
        """Fresh containers and tables; every consumer queue (and poison queue) emptied."""
        suffix = uuid.uuid4().hex[:10]
        deployment = cls(
            clients=clients,
            connection_string=azurite.connection_string,
            uploads=f"uploads-{suffix}",
            thumbnails=f"thumbnails-{suffix}",
            claims=f"claims-{suffix}",
            tables={kind: f"{name}{suffix}" for kind, name in DEFAULT_TABLES.items()},
        )
        for container in (deployment.uploads, deployment.thumbnails, deployment.claims):
            clients.blob.create_container(container)
        for table in deployment.tables.values():
            clients.table.create_table(table)
        from azure.core.exceptions import ResourceExistsError

        for consumer in default_catalog().consumers:
            for queue in (queue_name(consumer), poison_queue_name(consumer)):
                client = clients.queue.get_queue_client(queue)
                with contextlib.suppress(ResourceExistsError):
                    client.create_queue()
                client.clear_messages()  # queue names are fixed: start every test empty
        return deployment

    def environ(self, **extra: str) -> dict[str, str]:
        """App settings as Terraform sets them, aimed at azurite."""
        return {
            "AzureWebJobsStorage": self.connection_string,
            "EVENTSUITE_STORAGE_CONNECTION_STRING": self.connection_string,
            "EVENTSUITE_UPLOADS_BUCKET": self.uploads,
            "EVENTSUITE_THUMBNAILS_BUCKET": self.thumbnails,
            "EVENTSUITE_CLAIMS_BUCKET": self.claims,
            "EVENTSUITE_INDEX_TABLE": self.tables["index"],
            "EVENTSUITE_IDEMPOTENCY_TABLE": self.tables["idempotency"],
            "EVENTSUITE_ORDERS_TABLE": self.tables["orders"],
            "EVENTSUITE_MAIL_FROM": "orders@eventsuite.test",
            "EVENTSUITE_WEBHOOK_SECRET": "whsec_azure_test",
            **extra,
        }


@dataclass(frozen=True)
class Invocation:
    """One invocation by the queue host."""

    message_id: str
    dequeue_count: int
    body: str
    error: BaseException | None


class QueueHost:
    """The Functions runtime's queue listener for one consumer (see module docstring)."""

    def __init__(self, clients: ServiceClients, consumer: str) -> None:
        self.consumer = consumer
        self.queue = clients.queue.get_queue_client(queue_name(consumer))
        self.poison = clients.queue.get_queue_client(poison_queue_name(consumer))
        settings = hostjson.render()["extensions"]["queues"]
        self.max_dequeue_count: int = settings["maxDequeueCount"]
        self.batch_size: int = settings["batchSize"]
        self.function = user_function(consumer)
        self.invocations: list[Invocation] = []

    def run_once(self) -> list[Invocation]:
        """Receive one batch and invoke the function for each message."""
        batch = list(
            self.queue.receive_messages(
                messages_per_page=self.batch_size,
                max_messages=self.batch_size,
                visibility_timeout=60,
            )
        )
        done = []
        for message in batch:
            body = message.content
            delivery = QueueMessage(
                id=message.id,
                body=body.encode(),
                dequeue_count=message.dequeue_count,
                pop_receipt=message.pop_receipt,
                insertion_time=message.inserted_on,
                expiration_time=message.expires_on,
            )
            error: BaseException | None = None
            try:
                self.function(delivery)
            except Exception as exc:
                error = exc
            if error is None:
                self.queue.delete_message(message.id, message.pop_receipt)
            elif message.dequeue_count >= self.max_dequeue_count:
                self.poison.send_message(body)  # the runtime copies the message as is
                self.queue.delete_message(message.id, message.pop_receipt)
            else:
                self.queue.update_message(message.id, message.pop_receipt, visibility_timeout=0)
            invocation = Invocation(message.id, message.dequeue_count, body, error)
            self.invocations.append(invocation)
            done.append(invocation)
        return done

    def drain(self, *, max_rounds: int = 50) -> list[Invocation]:
        """Run until the queue is empty (bounded)."""
        seen = []
        for _ in range(max_rounds):
            batch = self.run_once()
            if not batch:
                return seen
            seen.extend(batch)
        raise AssertionError(f"{self.consumer}: queue not drained after {max_rounds} rounds")


class EventGridEmulator:
    """An Event Grid custom topic plus its per-consumer subscriptions, on 127.0.0.1."""

    key = "eventgrid-test-key"

    def __init__(self, clients: ServiceClients) -> None:
        self.clients = clients
        self.router = QueueFanoutPublisher(clients.queue)
        self.received: list[dict[str, Any]] = []
        self.rejected: list[str] = []
        self.dead_lettered: list[tuple[str, dict[str, Any]]] = []  # (queue, event) undeliverable
        self.unavailable = False
        self.port = free_port()
        self._server = ThreadingHTTPServer((LOOPBACK, self.port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        """The topic endpoint (``EVENTSUITE_EVENTGRID_ENDPOINT``)."""
        return f"http://{LOOPBACK}:{self.port}/api/events"

    def start(self) -> EventGridEmulator:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @contextmanager
    def down(self) -> Iterator[None]:
        """An outage: every publish is answered 503 (the SDK retries, then gives up)."""
        self.unavailable = True
        try:
            yield
        finally:
            self.unavailable = False

    def deliver(self, events: list[dict[str, Any]]) -> None:
        """What the subscriptions do: one queue message (plain JSON) per subscriber.

        The topic takes events of up to 1 MB, a Storage queue message holds at most 64 KiB:
        Event Grid cannot deliver a bigger event to a queue and, after its retries, moves it
        to the subscription's dead-letter container. Here it lands in :attr:`dead_lettered`.
        The message is the event as JSON with non-ASCII characters escaped, the longer of the
        two spellings, so the limit is never underestimated.
        """
        for event in events:
            self.received.append(event)
            text = json.dumps(event)
            for queue in self.router.routes(str(event["type"])):
                if len(text.encode()) > MAX_QUEUE_MESSAGE_BYTES:
                    self.dead_lettered.append((queue, event))
                    continue
                self.clients.queue.get_queue_client(queue).send_message(text)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _reply(self, status: int, text: str = "") -> None:
                # Event Grid answers errors with a JSON error object.
                body = (
                    json.dumps({"error": {"code": str(status), "message": text}}).encode()
                    if text
                    else b""
                )
                self.send_response(status)
                if body:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if emulator.unavailable:
                    self._reply(503, "service unavailable")
                    return
                if self.path.split("?")[0] != "/api/events":
                    self._reply(404, "no such topic")
                    return
                if self.headers.get("aeg-sas-key") != emulator.key:
                    emulator.rejected.append("unauthorized")
                    self._reply(401, "missing or wrong aeg-sas-key")
                    return
                if not str(self.headers.get("Content-Type")).startswith(
                    "application/cloudevents-batch+json"
                ):
                    emulator.rejected.append(f"content type {self.headers.get('Content-Type')}")
                    self._reply(400, "this topic takes the CloudEvents 1.0 schema")
                    return
                events = json.loads(body)
                required = ("id", "source", "type", "specversion")
                if not isinstance(events, list) or not all(
                    isinstance(e, dict) and all(e.get(a) for a in required) for e in events
                ):
                    emulator.rejected.append("invalid batch")
                    self._reply(400, "invalid CloudEvents batch")
                    return
                emulator.deliver(events)
                self._reply(200)

        return Handler


def blob_created_event(clients: ServiceClients, container: str, key: str) -> dict[str, Any]:
    """The BlobCreated CloudEvent the storage system topic emits for an existing blob."""
    properties = clients.blob.get_blob_client(container, key).get_blob_properties()
    url = clients.blob.get_blob_client(container, key).url
    return {
        "source": STORAGE_SOURCE,
        "subject": f"/blobServices/default/containers/{container}/blobs/{key}",
        "type": "Microsoft.Storage.BlobCreated",
        "time": properties.last_modified.isoformat().replace("+00:00", "Z"),
        "id": str(uuid.uuid4()),
        "data": {
            "api": "PutBlob",
            "clientRequestId": str(uuid.uuid4()),
            "requestId": str(uuid.uuid4()),
            "eTag": properties.etag,
            "contentType": properties.content_settings.content_type,
            "contentLength": properties.size,
            "blobType": "BlockBlob",
            "url": url,
            "sequencer": "0000000000000000000000000000000000000000000000a1",
            "storageDiagnostics": {"batchId": str(uuid.uuid4())},
        },
        "specversion": "1.0",
    }
