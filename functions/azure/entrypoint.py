"""Thin entry points: an ``azure.functions`` delivery -> the core -> the platform's answer.

Queue-triggered consumers: the message body becomes a CloudEvent (``functions.azure.events``),
the runtime's consumer function runs it with ``attempt = dequeue_count``.

* processed, duplicate, or dead-lettered (the sink wrote it to ``<consumer>-events-poison``
  with its reason): the function returns and the runtime deletes the message;
* retry: :class:`RetryDelivery` is raised, the runtime makes the message visible again after
  ``visibilityTimeout`` and, after ``maxDequeueCount`` dequeues, moves it to the poison queue.

``maxDequeueCount`` is one value per app (the largest catalog ``max_delivery_attempts``); a
consumer with a smaller limit is still cut off at its own: the dispatcher dead-letters once
``dequeue_count`` reaches that consumer's ``max_delivery_attempts``.

HTTP endpoints: the request becomes a ``shared.http.HttpRequest``; the runtime answers with
the one error policy of every backend.

Timer-triggered schedules: the runtime runs the catalog schedule and logs its report. A
failure propagates: the invocation is recorded as failed (the alert on failed runs counts
it) and the timer, which never retries an invocation, runs the job again at its next tick; the
jobs are idempotent (the reconciler re-publishes with derived event ids).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func

from functions.azure import bootstrap
from functions.azure.events import decode_queue_message, ignored_reason
from shared.dispatch import Delivery, DeliveryResult
from shared.http import HttpRequest, HttpResponse

logger = logging.getLogger("eventsuite.azure")


class RetryDelivery(Exception):
    """Raised to make the Functions runtime redeliver the queue message later."""


def handle_queue_message(consumer: str, message: func.QueueMessage) -> DeliveryResult | None:
    """Deliver one queue message to ``consumer``; raise :class:`RetryDelivery` to retry it."""
    body = message.get_body()
    # The worker passes azure.functions.queue.QueueMessage (with dequeue_count); the base class
    # exported as func.QueueMessage has none, so a bare one counts as a first attempt.
    attempt = max(1, int(getattr(message, "dequeue_count", None) or 1))
    function = bootstrap.runtime().consumer(consumer)
    ignored = ignored_reason(body)
    delivery = Delivery(
        str(getattr(message, "id", None) or ""),
        None if ignored else lambda: decode_queue_message(body),
        attempt,
        body,
        ignored=ignored,
    )
    result = function.deliver(delivery)
    if result is not None and not result.acknowledged:
        raise RetryDelivery(
            f"{consumer}: attempt {attempt} of "
            f"{function.dispatcher.spec.max_delivery_attempts} failed, will retry: {result.reason}"
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
    request_id = request.headers.get("x-ms-request-id") or request.headers.get("traceparent")
    answer = bootstrap.runtime().answer(endpoint, to_core_request(request), request_id=request_id)
    return to_azure_response(answer)


def handle_timer(schedule: str, timer: func.TimerRequest) -> Any:
    """Run the catalog schedule ``schedule`` once; returns its report, raises what it raises."""
    if timer.past_due:
        # The host was down or busy at the scheduled time; this run catches up (one run, not one
        # per missed tick: the job looks at the store's state, not at the time it was due).
        logger.warning("schedule %s: running late (past due)", schedule)
    return bootstrap.runtime().schedule(schedule)()
