"""Session-wide emulators, shared by the contract suite and the per-cloud integration tests.

Loaded as a pytest plugin by ``tests/conftest.py``: each emulator starts at most once per
session, on 127.0.0.1 and free ports, when a test first asks for it, and stops at the end.
A missing emulator skips the test with the reason locally and fails it under ``CI=true``
(:func:`tests.support.unavailable`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import LOOPBACK, background_process, free_port, python_command, unavailable

GCP_PROJECT = "test-project"
AWS_REGION = "us-east-1"
# Never let boto3 find real credentials, profiles or endpoints while AWS tests run.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": AWS_REGION,
    "AWS_REGION": AWS_REGION,
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
}
REMOVED_AWS_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)


@contextlib.contextmanager
def fake_aws_env() -> Iterator[None]:
    """Fake credentials and region; no profile, no real endpoint (undone on exit)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in REMOVED_AWS_ENV:
            patch.delenv(name, raising=False)
        for name, value in FAKE_AWS_ENV.items():
            patch.setenv(name, value)
        yield


class OneDynamoDBRequestAtATime:
    """WSGI middleware for moto: DynamoDB applies each (conditional) write atomically, moto's
    backend takes no lock, so two concurrent conditional puts could both pass their condition.
    Serialising DynamoDB requests (only those: SQS long polls must not wait) restores that."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            return self._app(environ, start_response)
        with self._lock:
            return list(self._app(environ, start_response))


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A moto server in this process, on 127.0.0.1 and a free port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
    server.start()
    wsgi = server._server
    assert wsgi is not None
    wsgi.app = OneDynamoDBRequestAtATime(wsgi.app)  # read by each request's handler
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def azurite() -> Iterator[Any]:
    """One in-memory azurite for the session (``tests.integration.azure.harness.Azurite``)."""
    from tests.integration.azure.harness import run_azurite

    with run_azurite() as running:
        yield running


@pytest.fixture(scope="session")
def azure_storage(azurite: Any) -> Any:
    """The tests' own Blob/Queue/Table clients on azurite (``ServiceClients``)."""
    from tests.integration.azure.harness import ServiceClients

    return ServiceClients.connect(azurite)


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """``gcp-storage-emulator`` on 127.0.0.1 (in memory), once per session; yields its URL."""
    port = free_port()
    command = python_command(
        "-m",
        "gcp_storage_emulator",
        "start",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--in-memory",
        "--quiet",
    )
    with background_process(command, port=port):
        url = f"http://{LOOPBACK}:{port}"
        with pytest.MonkeyPatch.context() as patch:
            # The SDK talks to the emulator (anonymously) whenever this is set.
            patch.setenv("STORAGE_EMULATOR_HOST", url)
            yield url


@pytest.fixture(scope="session")
def storage_client(gcs_emulator: str) -> Any:
    """A ``google.cloud.storage.Client`` on the emulator, with anonymous credentials."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        project=GCP_PROJECT,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": gcs_emulator},
    )


def gcloud_emulator(kind: str) -> list[str] | None:
    """The command of an installed gcloud emulator (``pubsub`` or ``firestore``), or None.

    The apt packages ``google-cloud-cli-pubsub-emulator`` / ``-firestore-emulator`` (plus a
    Java runtime) install them under the Cloud SDK's ``platform/`` folder.
    """
    gcloud, java = shutil.which("gcloud"), shutil.which("java")
    if not gcloud or not java:
        return None
    root = Path(os.environ.get("CLOUDSDK_ROOT_DIR") or Path(os.path.realpath(gcloud)).parents[1])
    binary = {
        "pubsub": root / "platform" / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator",
        "firestore": root / "platform" / "cloud-firestore-emulator" / "cloud_firestore_emulator",
    }[kind]
    if not binary.is_file():
        return None
    return [str(binary), "start"] if kind == "firestore" else [str(binary)]


@contextlib.contextmanager
def emulator_host(kind: str, variable: str) -> Iterator[str]:
    """``host:port`` of a Google emulator: the one named by ``variable`` (the GitHub workflow
    starts them), else one started here on 127.0.0.1 when installed; otherwise unavailable."""
    if os.environ.get(variable):
        yield os.environ[variable]
        return
    command = gcloud_emulator(kind)
    if command is None:
        unavailable(
            f"{kind} tests need {variable} (Google's {kind} emulator, as the GitHub workflow "
            f"starts it) or the installed gcloud {kind} emulator (apt "
            f"google-cloud-cli-{kind}-emulator and Java); neither is available"
        )
    port = free_port()
    with (
        background_process(
            [*command, f"--host={LOOPBACK}", f"--port={port}"], port=port, timeout=120
        ),
        pytest.MonkeyPatch.context() as patch,
    ):
        host = f"{LOOPBACK}:{port}"
        patch.setenv(variable, host)
        yield host


@contextlib.contextmanager
def private_emulator(kind: str) -> Iterator[str | None]:
    """A gcloud emulator of its own on 127.0.0.1 (environment untouched): its ``host:port``, or
    None when no emulator is installed here (the caller then falls back to the shared one)."""
    command = gcloud_emulator(kind)
    if command is None:
        yield None
        return
    port = free_port()
    with background_process(
        [*command, f"--host={LOOPBACK}", f"--port={port}"], port=port, timeout=120
    ):
        yield f"{LOOPBACK}:{port}"


@pytest.fixture(scope="session")
def firestore_host() -> Iterator[str]:
    """Google's Firestore emulator, once per session (projects keep the tests apart)."""
    with emulator_host("firestore", "FIRESTORE_EMULATOR_HOST") as host:
        yield host


@pytest.fixture(scope="session")
def pubsub_host() -> Iterator[str]:
    """Google's Pub/Sub emulator, once per session."""
    with emulator_host("pubsub", "PUBSUB_EMULATOR_HOST") as host:
        yield host


def pubsub_pull(
    subscriber: Any, subscription: str, expected: int, *, wait: float = 30.0
) -> list[Any]:
    """Pull and acknowledge until ``expected`` messages arrived (or the wait is over)."""
    from google.api_core.exceptions import DeadlineExceeded

    received: list[Any] = []
    deadline = time.monotonic() + wait
    while len(received) < expected and time.monotonic() < deadline:
        try:
            response = subscriber.pull(
                request={"subscription": subscription, "max_messages": 10}, timeout=5
            )
        except DeadlineExceeded:
            continue
        if response.received_messages:
            subscriber.acknowledge(
                request={
                    "subscription": subscription,
                    "ack_ids": [m.ack_id for m in response.received_messages],
                }
            )
            received.extend(m.message for m in response.received_messages)
    return received
