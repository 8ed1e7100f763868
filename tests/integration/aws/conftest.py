"""moto server (once per session, 127.0.0.1, free port), fake credentials, SMTP on loopback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from functions.aws.clients import AwsClients
from tests.support import LOOPBACK, SmtpRecorder, smtp_server

REGION = "us-east-1"
# Never let boto3 find real credentials, profiles or endpoints while these tests run.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
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


@pytest.fixture(scope="module", autouse=True)
def fake_aws_environment() -> Iterator[None]:
    """Fake credentials and region for every AWS test module; no profile, no real endpoint.

    Module-scoped so the patch is undone before other test directories run.
    """
    with pytest.MonkeyPatch.context() as patch:
        for name in REMOVED_AWS_ENV:
            patch.delenv(name, raising=False)
        for name, value in FAKE_AWS_ENV.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A moto server in this process, on 127.0.0.1 and a free port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def clients(moto_url: str) -> AwsClients:
    """boto3 clients aimed at moto."""
    assert moto_url.startswith(f"http://{LOOPBACK}:")
    return AwsClients(region=REGION, endpoint_url=moto_url)


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[SmtpRecorder, int]]:
    """A real SMTP server (aiosmtpd) on loopback; STARTTLS off."""
    with smtp_server() as server:
        yield server


def unique_prefix(stem: str) -> str:
    """A resource-name prefix no other test uses (3-20 chars, like Terraform's name_prefix)."""
    return f"{stem}-{uuid.uuid4().hex[:8]}"
