"""azurite (tests/emulators.py, once per session), an Event Grid stand-in, SMTP on loopback.

Without ``tests/node/node_modules`` (``npm ci --prefix tests/node``) these tests skip locally
and fail in CI (``CI=true``) with that instruction.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions.azure import bootstrap
from tests.integration.azure.harness import (
    Azurite,
    Deployment,
    EventGridEmulator,
    ServiceClients,
)
from tests.support import LOOPBACK, SmtpRecorder, smtp_server


@pytest.fixture(scope="session")
def storage(azure_storage: ServiceClients) -> ServiceClients:
    """The tests' own Blob/Queue/Table clients (azurite: tests/emulators.py)."""
    return azure_storage


@pytest.fixture(scope="session")
def eventgrid(storage: ServiceClients) -> Iterator[EventGridEmulator]:
    """Custom topic + subscriptions stand-in writing into the azurite queues."""
    emulator = EventGridEmulator(storage).start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def smtp() -> Iterator[tuple[SmtpRecorder, int]]:
    """A real SMTP server (aiosmtpd) on loopback; STARTTLS off."""
    with smtp_server() as server:
        yield server


@pytest.fixture
def deployment(azurite: Azurite, storage: ServiceClients) -> Deployment:
    """Fresh containers and tables, empty consumer queues."""
    return Deployment.create(storage, azurite)


@pytest.fixture
def app_environ(
    deployment: Deployment, eventgrid: EventGridEmulator, smtp: tuple[SmtpRecorder, int]
) -> Iterator[dict[str, str]]:
    """The function app configured like Terraform does, against the emulators."""
    environ = deployment.environ(
        EVENTSUITE_EVENTGRID_ENDPOINT=eventgrid.endpoint,
        EVENTSUITE_EVENTGRID_KEY=eventgrid.key,
        EVENTSUITE_MAILER="smtp",
        EVENTSUITE_SMTP_HOST=LOOPBACK,
        EVENTSUITE_SMTP_PORT=str(smtp[1]),
        EVENTSUITE_SMTP_STARTTLS="false",
    )
    bootstrap.configure(environ)
    try:
        yield environ
    finally:
        bootstrap.reset()
