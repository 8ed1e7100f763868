"""Platform-neutral HTTP types and the one error policy of every HTTP endpoint.

Entry points translate their platform's request into :class:`HttpRequest` and the
:class:`HttpResponse` back; the runtime (``functions.common.runtime``) runs the catalog
endpoint's handler and maps every failure through :func:`problem_for`, so the same failure gets
the same status and ``application/problem+json`` body (RFC 9457) on every backend.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.errors import InvalidSignature, TransientError, ValidationFailed

MAX_BODY_BYTES = 64 * 1024
PROBLEM_JSON = "application/problem+json"
CORRELATION_HEADER = "X-Correlation-Id"
_CORRELATION = re.compile(r"[A-Za-z0-9._:-]{8,128}")


@dataclass(frozen=True)
class HttpRequest:
    """A platform-neutral HTTP request. Header names are matched case-insensitively."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    # Values of the route's ``{placeholders}``, filled in by the runtime.
    params: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """Header value by case-insensitive name."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None


@dataclass(frozen=True)
class HttpResponse:
    """A JSON response."""

    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def json_bytes(self) -> bytes:
        """The body as compact JSON."""
        return json.dumps(self.body, separators=(",", ":")).encode()

    def all_headers(self) -> dict[str, str]:
        """Headers including the content type; CR/LF can never reach a header value."""
        headers = {"Content-Type": self.content_type, **self.headers}
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ValueError(f"refusing a CR/LF in response header {name!r}")
        return headers


class HttpProblem(Exception):
    """A refusal with its HTTP status: raised by handlers, answered by the runtime."""

    def __init__(
        self,
        status: int,
        title: str,
        problems: list[str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(title)
        self.status, self.title = status, title
        self.problems = list(problems or [])
        self.headers = dict(headers or {})


def problem(
    status: int,
    title: str,
    problems: list[str] | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> HttpResponse:
    """An ``application/problem+json`` response (``problems`` lists every reason)."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if problems:
        body["problems"] = problems
    body.update({key: value for key, value in extra.items() if value is not None})
    return HttpResponse(status, body, dict(headers or {}), PROBLEM_JSON)


def problem_for(error: BaseException, request_id: str | None = None) -> HttpResponse:
    """The one mapping from a failure to an HTTP answer, used by every backend."""
    if isinstance(error, HttpProblem):
        return problem(error.status, error.title, error.problems, error.headers)
    if isinstance(error, ValidationFailed):
        return problem(400, "invalid request", error.problems)
    if isinstance(error, InvalidSignature):
        return problem(401, "invalid signature", [str(error)])
    if isinstance(error, TransientError):
        return problem(503, "temporarily unavailable", headers={"Retry-After": "2"})
    return problem(500, "internal error", request_id=request_id)


def json_body(request: HttpRequest) -> Any:
    """The request body parsed as JSON; ``ValidationFailed`` for anything unreadable.

    Deeply nested documents exhaust Python's recursion limit inside the parser: that is the
    client's mistake, answered 400 like any other unreadable body.
    """
    if len(request.body) > MAX_BODY_BYTES:
        raise HttpProblem(413, "body too large", [f"body larger than {MAX_BODY_BYTES} bytes"])
    try:
        return json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed([f"body is not valid JSON: {exc}"]) from exc
    except RecursionError as exc:
        raise ValidationFailed(["body is nested too deeply"]) from exc


def correlation_id(request: HttpRequest) -> str:
    """The caller's ``X-Correlation-Id`` when it is well-formed, else a fresh one."""
    supplied = request.header(CORRELATION_HEADER)
    return supplied if supplied and _CORRELATION.fullmatch(supplied) else str(uuid.uuid4())
