"""Classifying boto3/botocore failures into the core's typed errors.

Only throttling, server-side (5xx) and connection problems are transient; anything else
(access denied, validation, missing resources) is left to the caller, because retrying a
misconfiguration only hides it. The dispatcher still retries unexpected errors a bounded number
of times and then dead-letters them with their reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shared.errors import TransientError

TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "LimitExceededException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "SlowDown",
        "Throttled",
        "ThrottledException",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "TransactionConflictException",
        "TransactionInProgressException",
    }
)

_TRANSIENT_BOTOCORE = (
    "ConnectionClosedError",
    "ConnectTimeoutError",
    "EndpointConnectionError",
    "ReadTimeoutError",
    "ConnectionError",
    "HTTPClientError",
    "ResponseStreamingError",
    "IncompleteReadError",
)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ``ClientError`` (``""`` for anything else)."""
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def http_status(exc: BaseException) -> int | None:
    """The HTTP status code of a ``ClientError``, if any."""
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(status) if status is not None else None
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether a retry may succeed: throttling, 5xx or a network failure."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        status = http_status(exc)
        return error_code(exc) in TRANSIENT_CODES or (status is not None and status >= 500)
    if isinstance(exc, BotoCoreError):
        return any(cls.__name__ in _TRANSIENT_BOTOCORE for cls in type(exc).__mro__)
    return False


def describe(exc: BaseException) -> str:
    """A short reason: the AWS error code or exception type plus its message."""
    code = error_code(exc) or type(exc).__name__
    return f"{code}: {exc}"


@contextmanager
def transient_errors(what: str) -> Iterator[None]:
    """Re-raise transient AWS failures inside the block as ``TransientError(what: ...)``."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        if is_transient(exc):
            raise TransientError(f"{what}: {describe(exc)}") from exc
        raise
