"""Every implementation of every store port, as parameterised fixtures.

A contract test asks for ``idempotency_store``, ``order_store``, ``metadata_index``,
``object_backend`` or ``dead_letter_backend`` and runs once per implementation: the in-memory
fakes (tests/fakes.py), the embedded backend (SQLite, filesystem, local broker), AWS on moto,
Google Cloud on its emulators, Azure on azurite. Each emulator is the session's one
(tests/emulators.py), started only when a test of its backend runs; every test gets fresh
tables, collections, buckets or queues (or, where a table is shared, keys no other test uses).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.ports import DeadLetterSink, IdempotencyStore, MetadataIndex, ObjectStore, OrderStore
from tests.emulators import AWS_REGION, fake_aws_env, pubsub_pull

STORES = ["fake", "sqlite", "dynamodb", "firestore", "tables"]
OBJECT_STORES = ["fake", "filesystem", "s3", "gcs", "blob"]
DEAD_LETTER_SINKS = ["fake", "local-broker", "sqs", "pubsub", "queue"]


def unique(stem: str) -> str:
    """A resource name no other test uses (lowercase letters and digits after the stem)."""
    return f"{stem}{uuid.uuid4().hex[:12]}"


# -- backends' shared resources (one per session) ------------------------------------------------


@dataclass(frozen=True)
class AwsBackend:
    """boto3 clients on the session's moto server and the Terraform-shaped topology there."""

    clients: Any
    topology: Any


@pytest.fixture(scope="session")
def aws_backend(moto_url: str) -> AwsBackend:
    from functions.aws.clients import AwsClients
    from tests.integration.aws.topology import create_topology

    with fake_aws_env():  # botocore resolves credentials when a client is built
        clients = AwsClients(region=AWS_REGION, endpoint_url=moto_url)
        for service in ("dynamodb", "s3", "sqs", "events"):
            getattr(clients, service)
        topology = create_topology(clients, unique("ctr-")[:12], visibility_timeout_seconds=30)
    return AwsBackend(clients, topology)


@pytest.fixture
def firestore_clients(firestore_host: str) -> Any:
    """GcpClients on the Firestore emulator, in a project of its own (the emulator keeps
    projects apart, so every test starts with empty collections)."""
    from functions.gcp.clients import GcpClients

    return GcpClients(project=unique("contract-"))


def _azure_table(azure_storage: Any) -> Any:
    name = unique("contract")
    azure_storage.table.create_table(name)
    return azure_storage.table.get_table_client(name)


def _sqlite(tmp_path: Path) -> Any:
    from functions.local.sqlite import Database

    return Database(tmp_path / "contract.sqlite3")


# -- IdempotencyStore -----------------------------------------------------------------------------


@pytest.fixture(params=STORES)
def idempotency_store(request: pytest.FixtureRequest, tmp_path: Path) -> IdempotencyStore:
    backend = request.param
    if backend == "fake":
        from tests.fakes import FakeIdempotencyStore

        return FakeIdempotencyStore()
    if backend == "sqlite":
        from functions.local.sqlite import SqliteIdempotencyStore

        return SqliteIdempotencyStore(_sqlite(tmp_path))
    if backend == "dynamodb":
        from functions.aws.adapters.dynamodb import DynamoIdempotencyStore

        aws: AwsBackend = request.getfixturevalue("aws_backend")
        return DynamoIdempotencyStore(aws.clients, aws.topology.names.tables["idempotency"])
    if backend == "firestore":
        from functions.gcp.firestore_stores import FirestoreIdempotencyStore

        return FirestoreIdempotencyStore(request.getfixturevalue("firestore_clients").firestore)
    from functions.azure.adapters.tables import TableIdempotencyStore

    return TableIdempotencyStore(_azure_table(request.getfixturevalue("azure_storage")))


@pytest.fixture
def racing_idempotency_store(
    idempotency_store: IdempotencyStore, request: pytest.FixtureRequest
) -> Iterator[IdempotencyStore]:
    """The store, for a race of first claims. On Firestore, an emulator of its own: after such a
    race the emulator stalls later writes until DeadlineExceeded (checked with 528.0.0), which
    would fail the tests after it, not this one."""
    if "firestore" not in request.node.callspec.id:
        yield idempotency_store
        return
    from functions.gcp.clients import GcpClients
    from functions.gcp.firestore_stores import FirestoreIdempotencyStore
    from tests.emulators import private_emulator

    with private_emulator("firestore") as host:
        if host is None:
            yield idempotency_store
            return
        clients = GcpClients(project=unique("contract-"))
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("FIRESTORE_EMULATOR_HOST", host)
            clients.firestore()  # the client binds to the emulator when it is built
        yield FirestoreIdempotencyStore(clients.firestore)


# -- OrderStore -----------------------------------------------------------------------------------


@pytest.fixture(params=STORES)
def order_store(request: pytest.FixtureRequest, tmp_path: Path) -> OrderStore:
    backend = request.param
    if backend == "fake":
        from tests.fakes import FakeOrderStore

        return FakeOrderStore()
    if backend == "sqlite":
        from functions.local.sqlite import SqliteOrderStore

        return SqliteOrderStore(_sqlite(tmp_path))
    if backend == "dynamodb":
        # One table per session (it has the status/placed_at index): tests use fresh ids and
        # time windows of their own.
        from functions.aws.adapters.dynamodb import DynamoOrderStore

        aws: AwsBackend = request.getfixturevalue("aws_backend")
        return DynamoOrderStore(aws.clients, aws.topology.names.tables["orders"])
    if backend == "firestore":
        from functions.gcp.firestore_stores import FirestoreOrderStore

        return FirestoreOrderStore(request.getfixturevalue("firestore_clients").firestore)
    from functions.azure.adapters.tables import TableOrderStore

    return TableOrderStore(_azure_table(request.getfixturevalue("azure_storage")))


# -- MetadataIndex --------------------------------------------------------------------------------


@pytest.fixture(params=STORES)
def metadata_index(request: pytest.FixtureRequest, tmp_path: Path) -> MetadataIndex:
    backend = request.param
    if backend == "fake":
        from tests.fakes import FakeMetadataIndex

        return FakeMetadataIndex()
    if backend == "sqlite":
        from functions.local.sqlite import SqliteMetadataIndex

        return SqliteMetadataIndex(_sqlite(tmp_path))
    if backend == "dynamodb":
        from functions.aws.adapters.dynamodb import DynamoMetadataIndex

        aws: AwsBackend = request.getfixturevalue("aws_backend")
        name = unique("contract-index-")
        aws.clients.dynamodb.create_table(  # as Terraform declares the index table
            TableName=name,
            KeySchema=[{"AttributeName": "image_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "image_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        return DynamoMetadataIndex(aws.clients, name)
    if backend == "firestore":
        from functions.gcp.firestore_stores import FirestoreMetadataIndex

        return FirestoreMetadataIndex(request.getfixturevalue("firestore_clients").firestore)
    from functions.azure.adapters.tables import TableMetadataIndex

    return TableMetadataIndex(_azure_table(request.getfixturevalue("azure_storage")))


# -- ObjectStore ----------------------------------------------------------------------------------


@dataclass
class ObjectBackend:
    """A store, a fresh bucket in it, and the body sizes of its downloads where measurable."""

    store: ObjectStore
    bucket: str
    downloads: list[int] | None


@pytest.fixture(params=OBJECT_STORES)
def object_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectBackend]:
    backend = request.param
    bucket = unique("contract-")
    if backend == "fake":
        from tests.fakes import FakeObjectStore

        yield ObjectBackend(FakeObjectStore(), bucket, None)
    elif backend == "filesystem":
        yield from _filesystem_backend(tmp_path / "objects", bucket)
    elif backend == "s3":
        yield from _s3_backend(request.getfixturevalue("aws_backend"), bucket)
    elif backend == "gcs":
        yield from _gcs_backend(request.getfixturevalue("storage_client"), bucket)
    else:
        yield from _blob_backend(request.getfixturevalue("azurite"), bucket)


class _CountingFile:
    """A binary file that records how many bytes each ``read`` returned."""

    def __init__(self, file: Any, reads: list[int]) -> None:
        self._file, self._reads = file, reads

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._file.read(size)
        self._reads.append(len(data))
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def __enter__(self) -> _CountingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()


def _filesystem_backend(root: Path, bucket: str) -> Iterator[ObjectBackend]:
    from functions.local.objects import FilesystemObjectStore

    reads: list[int] = []
    opened = Path.open

    def counting_open(path: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        file = opened(path, mode, *args, **kwargs)
        if mode == "rb" and path.is_relative_to(root) and not path.name.endswith(".json"):
            return _CountingFile(file, reads)  # object bodies, not the metadata sidecars
        return file

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "open", counting_open)
        yield ObjectBackend(FilesystemObjectStore(root), bucket, reads)


def _s3_backend(aws: AwsBackend, bucket: str) -> Iterator[ObjectBackend]:
    from functions.aws.adapters.s3 import S3ObjectStore

    downloads: list[int] = []

    def record(http_response: Any, **_: Any) -> None:
        downloads.append(int(http_response.headers["content-length"]))

    aws.clients.s3.create_bucket(Bucket=bucket)
    aws.clients.s3.meta.events.register("after-call.s3.GetObject", record)
    try:
        yield ObjectBackend(S3ObjectStore(aws.clients), bucket, downloads)
    finally:
        aws.clients.s3.meta.events.unregister("after-call.s3.GetObject", record)


def _gcs_backend(storage_client: Any, bucket: str) -> Iterator[ObjectBackend]:
    from functions.gcp.gcs import GcsObjectStore

    downloads: list[int] = []

    def record(response: Any, *args: Any, **kwargs: Any) -> None:
        if "alt=media" in response.url:
            downloads.append(int(response.headers["content-length"]))

    storage_client.create_bucket(bucket)
    hooks = storage_client._http.hooks["response"]
    hooks.append(record)
    try:
        yield ObjectBackend(GcsObjectStore(lambda: storage_client), bucket, downloads)
    finally:
        hooks.remove(record)


def _blob_backend(azurite: Any, bucket: str) -> Iterator[ObjectBackend]:
    from azure.storage.blob import BlobServiceClient

    from functions.azure.adapters.blob import BlobObjectStore

    downloads: list[int] = []

    def record(response: Any) -> None:
        http = response.http_response
        if http.request.method == "GET" and http.status_code in (200, 206):
            downloads.append(int(http.headers.get("Content-Length") or 0))

    service = BlobServiceClient.from_connection_string(
        azurite.connection_string, raw_response_hook=record
    )
    service.create_container(bucket)
    yield ObjectBackend(BlobObjectStore(service), bucket, downloads)


# -- DeadLetterSink -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parked:
    """A dead letter as read back from a backend: what every backend must keep."""

    consumer: str
    reason: str
    attempts: int
    event: dict[str, Any] | None


@dataclass
class DeadLetterBackend:
    """A sink and how to read back what it parked for a consumer."""

    sink: DeadLetterSink
    read: Callable[[str], list[Parked]]


def _json_or_none(body: bytes | str | None) -> dict[str, Any] | None:
    try:
        value = json.loads(body) if body else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@pytest.fixture(params=DEAD_LETTER_SINKS)
def dead_letter_backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[DeadLetterBackend]:
    backend = request.param
    if backend == "fake":
        from tests.fakes import FakeDeadLetters

        fake = FakeDeadLetters()
        yield DeadLetterBackend(
            fake,
            lambda consumer: [
                Parked(e["consumer"], e["reason"], e["attempts"], e["event"])
                for e in fake.entries
                if e["consumer"] == consumer
            ],
        )
    elif backend == "local-broker":
        from functions.local.broker import LocalBroker

        broker = LocalBroker(tmp_path / "broker.sqlite3")
        yield DeadLetterBackend(
            broker,
            lambda consumer: [
                Parked(d.consumer, d.reason, d.attempts, _json_or_none(d.body))
                for d in broker.dead_letters(consumer)
            ],
        )
        broker.close()
    elif backend == "sqs":
        yield _sqs_backend(request.getfixturevalue("aws_backend"))
    elif backend == "pubsub":
        yield from _pubsub_backend(request)
    else:
        yield _queue_backend(request.getfixturevalue("azure_storage"))


def _sqs_backend(aws: AwsBackend) -> DeadLetterBackend:
    from functions.aws.adapters.sqs import SqsDeadLetterSink

    sqs = aws.clients.sqs
    url = sqs.create_queue(QueueName=unique("contract-dlq-"))["QueueUrl"]

    def read(consumer: str) -> list[Parked]:
        answer = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=1
        )
        parked = []
        for message in answer.get("Messages", []):
            attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
            if attributes["consumer"] == consumer:
                parked.append(
                    Parked(
                        attributes["consumer"],
                        attributes["reason"],
                        int(attributes["attempts"]),
                        _json_or_none(message["Body"]),
                    )
                )
        return parked

    return DeadLetterBackend(SqsDeadLetterSink(aws.clients, url), read)


def _pubsub_backend(request: pytest.FixtureRequest) -> Iterator[DeadLetterBackend]:
    from google.cloud import pubsub_v1

    from functions.gcp.clients import GcpClients
    from functions.gcp.pubsub import PubSubDeadLetterSink
    from tests.emulators import GCP_PROJECT

    request.getfixturevalue("pubsub_host")
    clients = GcpClients(project=GCP_PROJECT)
    topic = f"projects/{GCP_PROJECT}/topics/{unique('contract-dlq-')}"
    subscription = topic.replace("/topics/", "/subscriptions/")
    publisher, subscriber = clients.publisher(), pubsub_v1.SubscriberClient()
    publisher.create_topic(request={"name": topic})
    subscriber.create_subscription(request={"name": subscription, "topic": topic})

    def read(consumer: str) -> list[Parked]:
        return [
            Parked(
                m.attributes["consumer"],
                m.attributes["reason"],
                int(m.attributes["attempts"]),
                _json_or_none(m.data),
            )
            for m in pubsub_pull(subscriber, subscription, 1, wait=10)
            if m.attributes["consumer"] == consumer
        ]

    try:
        yield DeadLetterBackend(PubSubDeadLetterSink(clients.publisher, topic), read)
    finally:
        subscriber.delete_subscription(request={"subscription": subscription})
        publisher.delete_topic(request={"topic": topic})
        subscriber.close()


def _queue_backend(azure_storage: Any) -> DeadLetterBackend:
    from functions.azure.adapters.queues import QueueDeadLetterSink

    def read(consumer: str) -> list[Parked]:
        return [
            Parked(e["consumer"], e["reason"], e["attempts"], e["event"])
            for e in azure_storage.poison_entries(consumer)
            if isinstance(e, dict)
        ]

    return DeadLetterBackend(QueueDeadLetterSink(lambda: azure_storage.queue), read)
