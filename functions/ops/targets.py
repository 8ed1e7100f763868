"""Where the operator's commands act: one :class:`Target` per backend, built from the
environment variables the functions read (functions/README.md) or from ``terraform output
-json`` of the cloud's root configuration.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.catalog import default_catalog
from shared.ports import DeadLetterAdmin, MetadataIndex, ObjectStore, OrderStore

if TYPE_CHECKING:
    from functions.local.backend import LocalBackend

BACKENDS = ("local", "aws", "gcp", "azure")
LOCAL_HOMES = (Path(".eventsuite/serve"), Path(".eventsuite/demo"))


class TargetError(Exception):
    """The target cannot be resolved (missing configuration, no state folder)."""


@dataclass
class Target:
    """The ports the operator's commands use, built lazily."""

    name: str
    uploads_bucket: str
    uploads_prefix: str
    _dead_letters: Callable[[], DeadLetterAdmin]
    _orders: Callable[[], OrderStore]
    _index: Callable[[], MetadataIndex]
    _objects: Callable[[], ObjectStore]
    after_redrive: str = ""
    close: Callable[[], None] = field(default=lambda: None)
    _built: dict[str, Any] = field(default_factory=dict)

    def _get(self, name: str, build: Callable[[], Any]) -> Any:
        if name not in self._built:
            self._built[name] = build()
        return self._built[name]

    @property
    def dead_letters(self) -> DeadLetterAdmin:
        """The backend's ``DeadLetterAdmin``."""
        return self._get("dead_letters", self._dead_letters)  # type: ignore[no-any-return]

    @property
    def orders(self) -> OrderStore:
        """The backend's ``OrderStore``."""
        return self._get("orders", self._orders)  # type: ignore[no-any-return]

    @property
    def index(self) -> MetadataIndex:
        """The backend's ``MetadataIndex``."""
        return self._get("index", self._index)  # type: ignore[no-any-return]

    @property
    def objects(self) -> ObjectStore:
        """The backend's ``ObjectStore``."""
        return self._get("objects", self._objects)  # type: ignore[no-any-return]


def terraform_outputs(cloud: str, root: Path | None = None) -> dict[str, Any]:
    """``terraform output -json`` of ``terraform/<cloud>`` as plain values."""
    directory = root or Path(__file__).resolve().parents[2] / "terraform" / cloud
    binary = shutil.which("terraform")
    if binary is None:
        raise TargetError(
            f"no {cloud} configuration: set the EVENTSUITE_* variables or install terraform "
            f"to read the outputs of {directory}"
        )
    result = subprocess.run(
        [binary, f"-chdir={directory}", "output", "-json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise TargetError(
            f"terraform output in {directory} failed: {detail[-1] if detail else 'no output'}"
        )
    outputs = {name: value.get("value") for name, value in json.loads(result.stdout).items()}
    if not outputs:
        raise TargetError(f"{directory} has no outputs: deploy it first (make deploy-{cloud})")
    return outputs


# -- local ----------------------------------------------------------------------------------


def local_home(home: Path | None, env: Mapping[str, str]) -> Path:
    """The state folder to use; never created here (a missing one is an error).

    Without ``--home`` or ``EVENTSUITE_HOME``: a running ``make serve``'s folder (it keeps
    ``ports.json`` while it runs), else the newer of ``.eventsuite/serve`` and ``.eventsuite/demo``.
    """
    if home is None and env.get("EVENTSUITE_HOME"):
        home = Path(env["EVENTSUITE_HOME"])
    if home is not None:
        if not (home / "broker.db").is_file():
            raise TargetError(
                f"no local state in {home}/ (run `make demo` or `make serve`, or pass --home)"
            )
        return home
    found = [h for h in LOCAL_HOMES if (h / "broker.db").is_file()]
    running = [h for h in found if (h / "ports.json").is_file()]  # a live `make serve`
    if running:
        return running[0]
    if not found:
        raise TargetError(
            "no local state in .eventsuite/serve/ or .eventsuite/demo/ "
            "(run `make demo` or `make serve`, or pass --home)"
        )
    return max(found, key=lambda h: (h / "broker.db").stat().st_mtime)


def _required(port: Any, name: str) -> Any:
    if port is None:
        raise TargetError(f"the local backend has no {name} port")
    return port


def local_target(home: Path, backend: LocalBackend | None = None) -> Target:
    """The embedded backend rooted at an existing ``home`` (or the given open ``backend``,
    which the caller then closes: the console shares its own)."""
    from functions.local.backend import LocalBackend

    owned = backend is None
    backend = backend or LocalBackend.open(home)
    catalog = backend.catalog
    return Target(
        name=f"local ({home})",
        uploads_bucket=backend.settings.uploads_bucket,
        uploads_prefix=catalog.storage["uploads_prefix"],
        _dead_letters=lambda: backend.broker,
        _orders=lambda: _required(backend.ports.orders, "orders"),
        _index=lambda: _required(backend.ports.index, "index"),
        _objects=lambda: backend.objects,
        after_redrive=(
            "the running `make serve` delivers them; otherwise run "
            f"`python -m functions.local --home {home} run`"
        ),
        close=backend.close if owned else (lambda: None),
    )


# -- AWS ------------------------------------------------------------------------------------


def aws_target(
    env: Mapping[str, str], outputs: Callable[[], dict[str, Any]], clients: Any = None
) -> Target:
    """SQS DLQs, DynamoDB orders and index, the S3 uploads bucket.

    From the environment: ``EVENTSUITE_AWS_PREFIX`` (queues ``<prefix>-<consumer>`` and
    ``<prefix>-<consumer>-dlq``, tables ``<prefix>-orders`` / ``<prefix>-index`` unless
    ``EVENTSUITE_ORDERS_TABLE`` / ``EVENTSUITE_INDEX_TABLE`` name them) and
    ``EVENTSUITE_UPLOADS_BUCKET``; otherwise the outputs ``queues``, ``table_names`` and
    ``uploads_bucket`` of terraform/aws.
    """
    from functions.aws.adapters.dynamodb import DynamoMetadataIndex, DynamoOrderStore
    from functions.aws.adapters.s3 import S3ObjectStore
    from functions.aws.adapters.sqs import SqsDeadLetterAdmin
    from functions.aws.clients import AwsClients

    aws = clients or AwsClients(
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
    )
    catalog = default_catalog()
    prefix = env.get("EVENTSUITE_AWS_PREFIX")
    if prefix:
        tables = {
            "orders": env.get("EVENTSUITE_ORDERS_TABLE") or f"{prefix}-orders",
            "index": env.get("EVENTSUITE_INDEX_TABLE") or f"{prefix}-index",
        }
        bucket = env.get("EVENTSUITE_UPLOADS_BUCKET") or ""

        def queues() -> dict[str, tuple[str, str]]:
            from functions.aws.errors import transient_errors

            found = {}
            for consumer in catalog.consumers:
                with transient_errors(f"SQS GetQueueUrl {prefix}-{consumer}"):
                    found[consumer] = (
                        aws.sqs.get_queue_url(QueueName=f"{prefix}-{consumer}")["QueueUrl"],
                        aws.sqs.get_queue_url(QueueName=f"{prefix}-{consumer}-dlq")["QueueUrl"],
                    )
            return found
    else:
        values = outputs()
        tables = values["table_names"]
        bucket = env.get("EVENTSUITE_UPLOADS_BUCKET") or values["uploads_bucket"]

        def queues() -> dict[str, tuple[str, str]]:
            return {c: (q["queue_url"], q["dlq_url"]) for c, q in values["queues"].items()}

    return Target(
        name="aws",
        uploads_bucket=bucket,
        uploads_prefix=catalog.storage["uploads_prefix"],
        _dead_letters=lambda: SqsDeadLetterAdmin(aws, queues()),
        _orders=lambda: DynamoOrderStore(aws, tables["orders"]),
        _index=lambda: DynamoMetadataIndex(aws, tables["index"]),
        _objects=lambda: S3ObjectStore(aws),
    )


# -- Google Cloud ---------------------------------------------------------------------------

NEEDS_FILE = Path(__file__).resolve().parents[2] / "shared" / "catalog" / "needs.json"
_NEEDS_SECTIONS = ("consumers", "http_endpoints", "schedules")


def _needs() -> dict[str, dict[str, Any]]:
    """``shared/catalog/needs.json``: what each function uses and emits (Terraform reads it)."""
    needs: dict[str, dict[str, Any]] = json.loads(NEEDS_FILE.read_text(encoding="utf-8"))
    return needs


def _producers() -> list[str]:
    """Functions that publish (each has its own Pub/Sub topic on Google Cloud)."""
    needs = _needs()
    return [
        name
        for section in _NEEDS_SECTIONS
        for name, need in needs.get(section, {}).items()
        if "publisher" in need["ports"]
    ]


def event_topics_of(producer_topics: Mapping[str, str]) -> dict[str, str]:
    """CloudEvents type -> the topic of a producer that emits it (consumers before endpoints
    before schedules; any works, every consumer subscribes to each producer of its types)."""
    catalog, needs = default_catalog(), _needs()
    topics: dict[str, str] = {}
    for section in _NEEDS_SECTIONS:
        for name, need in needs.get(section, {}).items():
            if name in producer_topics:
                for event in need["emits"]:
                    topics.setdefault(catalog.event(event).type, producer_topics[name])
    return topics


def gcp_target(
    env: Mapping[str, str], outputs: Callable[[], dict[str, Any]], clients: Any = None
) -> Target:
    """Pub/Sub dead-letter subscriptions, Firestore orders and index, the GCS uploads bucket.

    From the environment: ``EVENTSUITE_GCP_PROJECT``, ``EVENTSUITE_GCP_PREFIX`` (producer topics
    ``<prefix>-events-<producer>``, ``<prefix>-uploads``, subscriptions
    ``<prefix>-<consumer>-dlq-sub``, ``_`` as ``-``), ``EVENTSUITE_FIRESTORE_DATABASE`` and
    ``EVENTSUITE_UPLOADS_BUCKET``; otherwise the outputs of terraform/gcp.
    """
    from functions.gcp.clients import GcpClients
    from functions.gcp.firestore_stores import FirestoreMetadataIndex, FirestoreOrderStore
    from functions.gcp.gcs import GcsObjectStore
    from functions.gcp.pubsub import PubSubDeadLetterAdmin

    catalog = default_catalog()
    prefix = env.get("EVENTSUITE_GCP_PREFIX")
    if prefix:
        project = env.get("EVENTSUITE_GCP_PROJECT") or env.get("GOOGLE_CLOUD_PROJECT")
        database = env.get("EVENTSUITE_FIRESTORE_DATABASE")
        subscriptions = {c: f"{prefix}-{c.replace('_', '-')}-dlq-sub" for c in catalog.consumers}
        producers = {p: f"{prefix}-events-{p.replace('_', '-')}" for p in _producers()}
        uploads_topic = f"{prefix}-uploads"
        bucket = env.get("EVENTSUITE_UPLOADS_BUCKET") or ""
    else:
        values = outputs()
        project = env.get("EVENTSUITE_GCP_PROJECT") or values.get("project_id")
        database = values.get("firestore_database")
        subscriptions = values["dead_letter_subscriptions"]
        producers = values["producer_topics"]
        uploads_topic = values["uploads_topic"]
        bucket = env.get("EVENTSUITE_UPLOADS_BUCKET") or values["buckets"]["uploads"]
    if not project:
        raise TargetError("set EVENTSUITE_GCP_PROJECT (the Google Cloud project id)")
    event_topics = event_topics_of(producers)
    gcp = clients or GcpClients(project=project, database=database or None)
    return Target(
        name="gcp",
        uploads_bucket=bucket,
        uploads_prefix=catalog.storage["uploads_prefix"],
        _dead_letters=lambda: PubSubDeadLetterAdmin(
            gcp, subscriptions, event_topics=event_topics, uploads_topic=uploads_topic
        ),
        _orders=lambda: FirestoreOrderStore(gcp.firestore),
        _index=lambda: FirestoreMetadataIndex(gcp.firestore),
        _objects=lambda: GcsObjectStore(gcp.storage),
    )


# -- Azure ----------------------------------------------------------------------------------


def azure_target(
    env: Mapping[str, str], outputs: Callable[[], dict[str, Any]], clients: Any = None
) -> Target:
    """Poison queues and Event Grid dead-letter blobs, Table Storage orders and index, the
    uploads container.

    The storage account comes from the variables the function app reads
    (``EVENTSUITE_STORAGE_CONNECTION_STRING``, ``EVENTSUITE_STORAGE_ACCOUNT_URL``, ...) or,
    failing those, from the output ``storage_account_name`` (Entra ID sign-in). Tables and
    containers: ``EVENTSUITE_ORDERS_TABLE``, ``EVENTSUITE_INDEX_TABLE``,
    ``EVENTSUITE_UPLOADS_BUCKET``, ``EVENTSUITE_DEADLETTER_CONTAINER`` and
    ``EVENTSUITE_AZURE_PREFIX`` (Event Grid subscriptions ``<prefix>-<consumer>[-uploads]``),
    else the outputs of terraform/azure, else the defaults of the module.
    """
    from functions.azure.adapters.blob import BlobObjectStore
    from functions.azure.adapters.queues import StorageDeadLetterAdmin
    from functions.azure.adapters.tables import TableMetadataIndex, TableOrderStore
    from functions.azure.clients import AzureClients
    from functions.azure.names import DEFAULT_TABLES

    catalog = default_catalog()
    environ = dict(env)
    configured = any(
        environ.get(name)
        for name in (
            "EVENTSUITE_STORAGE_CONNECTION_STRING",
            "EVENTSUITE_STORAGE_ACCOUNT_URL",
            "AzureWebJobsStorage",
            "AzureWebJobsStorage__accountName",
        )
    )
    values: dict[str, Any] = {} if configured else outputs()
    if not configured:
        account = values["storage_account_name"]
        environ["EVENTSUITE_STORAGE_ACCOUNT_URL"] = f"https://{account}.blob.core.windows.net"
    tables = {**DEFAULT_TABLES, **(values.get("table_names") or {})}
    containers = values.get("container_names") or {}
    prefix = environ.get("EVENTSUITE_AZURE_PREFIX")
    if prefix:
        subscriptions = {
            name: c
            for c in catalog.consumers
            for name in (f"{prefix}-{c}", f"{prefix}-{c}-uploads")
        }
    else:
        subscriptions = {
            name: key.rsplit("-", 1)[0]
            for key, name in (values.get("event_subscriptions") or {}).items()
        }
    azure = clients or AzureClients(environ)
    orders_table = environ.get("EVENTSUITE_ORDERS_TABLE") or tables["orders"]
    index_table = environ.get("EVENTSUITE_INDEX_TABLE") or tables["index"]
    return Target(
        name="azure",
        uploads_bucket=environ.get("EVENTSUITE_UPLOADS_BUCKET")
        or containers.get("uploads", "uploads"),
        uploads_prefix=catalog.storage["uploads_prefix"],
        _dead_letters=lambda: StorageDeadLetterAdmin(
            azure.queue,
            azure.blob,
            consumers=list(catalog.consumers),
            deadletter_container=environ.get("EVENTSUITE_DEADLETTER_CONTAINER")
            or containers.get("deadletter", "deadletters"),
            subscriptions=subscriptions,
        ),
        _orders=lambda: TableOrderStore(azure.table.get_table_client(orders_table)),
        _index=lambda: TableMetadataIndex(azure.table.get_table_client(index_table)),
        _objects=lambda: BlobObjectStore(azure.blob),
    )


def resolve(
    backend: str,
    *,
    home: Path | None = None,
    terraform_root: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Target:
    """The target of a backend name."""
    environ = os.environ if env is None else env
    if backend == "local":
        return local_target(local_home(home, environ))

    def outputs() -> dict[str, Any]:
        return terraform_outputs(backend, terraform_root)

    builders = {"aws": aws_target, "gcp": gcp_target, "azure": azure_target}
    if backend not in builders:
        raise TargetError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    return builders[backend](environ, outputs)
