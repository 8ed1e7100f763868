"""Functions-framework targets for ``make serve``: the same runtime, the local backend's ports.

Run one process per consumer: ``functions-framework --source functions/local/ff_main.py
--target handle_event --signature-type cloudevent`` with ``EVENTSUITE_CONSUMER`` set; the local
broker posts each delivery as a structured CloudEvent with an ``X-Delivery-Attempt`` header.
A 2xx answer acknowledges; a 5xx makes the broker retry with backoff (as Pub/Sub push does).
"""

from __future__ import annotations

import math
import os
import sys
from functools import cache
from pathlib import Path
from urllib.parse import quote

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # functions-framework loads this file by path
    sys.path.insert(0, str(_ROOT))

import flask  # noqa: E402
import functions_framework  # noqa: E402
from cloudevents.http import CloudEvent  # noqa: E402
from werkzeug.exceptions import ServiceUnavailable  # noqa: E402

from functions.local.backend import (  # noqa: E402
    OUTCOME_HEADER,
    REASON_HEADER,
    LocalBackend,
    verdict_outcome,
)
from shared.dispatch import Delivery  # noqa: E402
from shared.http import HttpRequest  # noqa: E402
from shared.observability import configure_logging  # noqa: E402


@cache
def bootstrap() -> LocalBackend:
    """The backend for this process, opened on first use."""
    configure_logging()
    return LocalBackend.open(Path(os.environ.get("EVENTSUITE_HOME", ".eventsuite")))


@functions_framework.cloud_event
def handle_event(cloud_event: CloudEvent) -> None:
    """Deliver one CloudEvent to ``EVENTSUITE_CONSUMER``; raise to ask for a retry."""
    attempt = int(flask.request.headers.get("X-Delivery-Attempt", "1"))
    function = bootstrap().consumer(os.environ["EVENTSUITE_CONSUMER"])
    result = function.deliver(
        Delivery(str(cloud_event["id"]), lambda: cloud_event, attempt, flask.request.get_data())
    )
    if result is not None and result.retry_after is not None:
        # Another attempt holds the lease: 503 with Retry-After, so the broker redelivers
        # once the lease has expired without counting this as an attempt.
        raise ServiceUnavailable(result.reason, retry_after=math.ceil(result.retry_after))
    if result is not None and not result.acknowledged:
        raise RuntimeError(f"retry requested: {result.reason}")
    outcome = verdict_outcome(result) if result is not None else None
    if outcome is not None:  # tell the broker's delivery log (one line, no CR/LF)
        reason = " ".join((result.reason or "").split())[:500] if result is not None else ""

        @flask.after_this_request
        def tell(response: flask.Response) -> flask.Response:
            response.headers[OUTCOME_HEADER] = outcome
            if reason:
                response.headers[REASON_HEADER] = quote(reason, safe=" :,.;()'/-_")
            return response


@functions_framework.http
def handle_http(request: flask.Request) -> flask.Response:
    """Serve the catalog endpoint named by ``EVENTSUITE_ENDPOINT``."""
    response = bootstrap().runtime.answer(
        os.environ["EVENTSUITE_ENDPOINT"],
        HttpRequest(request.method, request.path, dict(request.headers), request.get_data()),
        root_is_route=True,
    )
    return flask.Response(
        response.json_bytes(), status=response.status, headers=response.all_headers()
    )
