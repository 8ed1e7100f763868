"""Fake credentials, boto3 clients on the session's moto server (tests/emulators.py), SMTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from functions.aws.clients import AwsClients
from tests.emulators import AWS_REGION, fake_aws_env
from tests.support import LOOPBACK, SmtpRecorder, smtp_server

REGION = AWS_REGION


@pytest.fixture(scope="module", autouse=True)
def fake_aws_environment() -> Iterator[None]:
    """Fake credentials and region for every AWS test module; no profile, no real endpoint.

    Module-scoped so the patch is undone before other test directories run.
    """
    with fake_aws_env():
        yield


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
