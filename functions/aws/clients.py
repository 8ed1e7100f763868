"""boto3 clients, created lazily (first use) and once per process; injectable for tests.

boto3 is imported only when the first client is needed, so a function that never publishes
never builds an EventBridge client. Tests pass ``endpoint_url`` (moto server) or ready-made
client objects through ``overrides``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from functions.common.cache import LazyClients

# Fail fast inside a Lambda invocation: a few quick attempts, short timeouts. Lambda's own
# timeout and the queue's redelivery are the outer retry loop.
CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 10.0
MAX_ATTEMPTS = 3


class AwsClients(LazyClients):
    """A per-process cache of boto3 clients.

    ``endpoint_url`` points every client at one endpoint (moto server in tests); ``overrides``
    maps a service name (``"s3"``, ``"dynamodb"``, ...) to a client object to use as is.
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        read_timeout: float = READ_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(overrides)
        self.region = region
        self.endpoint_url = endpoint_url
        self._session: Any = None
        self._max_attempts = max_attempts
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout

    def _build(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        if self._session is None:
            self._session = boto3.session.Session(region_name=self.region)
        config = Config(
            retries={"mode": "standard", "max_attempts": self._max_attempts},
            connect_timeout=self._connect_timeout,
            read_timeout=self._read_timeout,
            # S3 virtual-hosted addressing needs DNS for <bucket>.<host>; path style works
            # everywhere an endpoint_url is given (moto, LocalStack) and is harmless on AWS.
            s3={"addressing_style": "path"} if self.endpoint_url else None,
        )
        return self._session.client(service, endpoint_url=self.endpoint_url, config=config)

    @property
    def s3(self) -> Any:
        """S3 client."""
        return self.client("s3")

    @property
    def dynamodb(self) -> Any:
        """DynamoDB client."""
        return self.client("dynamodb")

    @property
    def events(self) -> Any:
        """EventBridge client."""
        return self.client("events")

    @property
    def sqs(self) -> Any:
        """SQS client."""
        return self.client("sqs")

    @property
    def sesv2(self) -> Any:
        """SES v2 client."""
        return self.client("sesv2")

    @property
    def secretsmanager(self) -> Any:
        """Secrets Manager client."""
        return self.client("secretsmanager")
