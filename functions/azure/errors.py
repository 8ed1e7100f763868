"""Classifying Azure SDK failures into the core's typed errors.

Throttling (429), server-side (5xx), timeouts and connection problems are transient. Anything
else (authorization, bad requests, missing resources that the caller did not expect) is left
as is: retrying a misconfiguration only hides it. The dispatcher still retries unexpected
errors a bounded number of times and then dead-letters them with their reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from azure.core.exceptions import (
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from shared.errors import TransientError


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the Azure call may succeed."""
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return True
    if isinstance(exc, HttpResponseError):
        status = exc.status_code or 0
        return status in (408, 429) or status >= 500
    return False


@contextmanager
def transient_azure_errors(what: str) -> Iterator[None]:
    """Re-raise transient Azure failures of ``what`` as ``TransientError``."""
    try:
        yield
    except (ServiceRequestError, ServiceResponseError, HttpResponseError) as exc:
        if is_transient(exc):
            raise TransientError(f"{what}: {type(exc).__name__}: {_short(exc)}") from exc
        raise


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
