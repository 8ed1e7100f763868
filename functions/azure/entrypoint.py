"""Thin entry points: an ``azure.functions`` delivery -> the core -> the platform's answer.

Queue-triggered consumers: the message body becomes a CloudEvent (``functions.azure.events``),
the consumer's :class:`~shared.dispatch.Dispatcher` runs it with ``attempt = dequeue_count``.

* processed, duplicate, or dead-lettered (the sink wrote it to ``<consumer>-events-poison``
  with its reason): the function returns and the runtime deletes the message;
* retry: :class:`RetryDelivery` is raised, the runtime makes the message visible again after
  ``visibilityTimeout`` and, after ``maxDequeueCount`` dequeues, moves it to the poison queue.

``maxDequeueCount`` is one value per app (the largest catalog ``max_delivery_attempts``); a
consumer with a smaller limit is still cut off at its own: the dispatcher dead-letters once
``dequeue_count`` reaches that consumer's ``max_delivery_attempts``.

HTTP endpoints: the request becomes a ``shared.http.HttpRequest``; the catalog endpoint's
handler answers; an unexpected failure is a 500 without internals (logged with the trace).

Timer-triggered schedules: the catalog schedule runs with its cached ports and its report is
logged. A failure propagates: the invocation is recorded as failed (the alert on failed runs
counts it) and the timer, which never retries an invocation, runs the job again at its next
tick; the jobs are idempotent (the reconciler re-publishes with derived event ids).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func

from functions.azure import bootstrap
from functions.azure.events import decode_queue_message
from shared.dispatch import DeliveryResult
from shared.http import HttpRequest, HttpResponse, handle_endpoint
from shared.schedules import run_schedule

logger = logging.getLogger("eventsuite.azure")


class RetryDelivery(Exception):
    """Raised to make the Functions runtime redeliver the queue message later."""


def handle_queue_message(consumer: str, message: func.QueueMessage) -> DeliveryResult:
    """Deliver one queue message to ``consumer``; raise :class:`RetryDelivery` to retry it."""
    body = message.get_body()
    # The worker passes azure.functions.queue.QueueMessage (with dequeue_count); the base class
    # exported as func.QueueMessage has none, so a bare one counts as a first attempt.
    attempt = max(1, int(getattr(message, "dequeue_count", None) or 1))
    dispatcher = bootstrap.runtime().dispatcher(consumer)
    result = dispatcher.deliver(lambda: decode_queue_message(body), attempt=attempt, raw=body)
    if not result.acknowledged:
        raise RetryDelivery(
            f"{consumer}: attempt {attempt} of {dispatcher.spec.max_delivery_attempts} failed, "
            f"will retry: {result.reason}"
        )
    return result


def to_core_request(request: func.HttpRequest) -> HttpRequest:
    """An ``azure.functions.HttpRequest`` as the core's platform-neutral request."""
    return HttpRequest(
        method=request.method,
        path=urlsplit(request.url).path or "/",
        headers=dict(request.headers.items()),
        body=request.get_body() or b"",
    )


def to_azure_response(response: HttpResponse) -> func.HttpResponse:
    """The core's response as an ``azure.functions.HttpResponse``."""
    headers = response.all_headers()
    return func.HttpResponse(
        body=response.json_bytes(),
        status_code=response.status,
        headers={k: v for k, v in headers.items() if k.lower() != "content-type"},
        mimetype=headers.get("Content-Type", "application/json"),
        charset="utf-8",
    )


def handle_http(endpoint: str, request: func.HttpRequest) -> func.HttpResponse:
    """Run the catalog endpoint ``endpoint`` for one request."""
    try:
        ports = bootstrap.runtime().endpoint_ports(endpoint)
        response = handle_endpoint(endpoint, to_core_request(request), ports)
    except Exception:
        logger.exception("endpoint %s failed", endpoint)
        response = HttpResponse(500, {"error": "internal error"})
    return to_azure_response(response)


def handle_timer(schedule: str, timer: func.TimerRequest) -> Any:
    """Run the catalog schedule ``schedule`` once; returns its report, raises what it raises."""
    if timer.past_due:
        # The host was down or busy at the scheduled time; this run catches up (one run, not one
        # per missed tick: the job looks at the store's state, not at the time it was due).
        logger.warning("schedule %s: running late (past due)", schedule)
    ports = bootstrap.runtime().schedule_ports(schedule)
    report = run_schedule(schedule, ports)
    logger.info("schedule %s: %s", schedule, report)
    return report
