"""Google Cloud deliveries -> CloudEvent -> Dispatcher -> platform response.

What ``handle_event`` accepts (functions-framework has already turned the request into a
CloudEvent):

* ``google.cloud.pubsub.topic.v1.messagePublished`` - from Eventarc, or functions-framework's
  own conversion of a raw Pub/Sub push body ``{"message": {...}, "subscription": ...}`` (it
  converts bodies whose message has ``data`` and ``messageId``). The message carries either
  our event (binary or structured mode, see :mod:`functions.gcp.translate`) or a Cloud Storage
  notification (``eventType=OBJECT_FINALIZE``), which becomes ``ImageUploaded``;
* ``google.cloud.storage.object.v1.finalized`` from Eventarc -> ``ImageUploaded``;
* our own CloudEvents posted directly in binary or structured HTTP mode (``make serve``, tests).

Storage events that are not uploads (deletes, metadata updates, keys outside the uploads
prefix, e.g. with an Eventarc trigger, which cannot filter by prefix) are acknowledged and
ignored.

``handle_schedule`` runs a catalog schedule (the order reconciler) for Cloud Scheduler: 200 with
the job's report as JSON, 500 when it failed (Cloud Scheduler retries).

Failure handling - permanent vs transient, so there is no retry storm:

* permanent (bad envelope, schema violation, unknown version, corrupt image, ...): the
  dispatcher hands the delivery to the ``PubSubDeadLetterSink``, which publishes it to this
  consumer's dead-letter topic with attributes ``reason``, ``consumer`` and ``attempts``; the
  function then returns normally, so Pub/Sub acknowledges and never redelivers it;
* transient (a dependency down, a lease held elsewhere, an unexpected bug): the function
  raises :class:`RetryDelivery`, functions-framework answers 500, and Pub/Sub redelivers with
  the subscription's ``retry_policy`` backoff. At the consumer's ``max_delivery_attempts`` the
  dispatcher itself dead-letters with the last reason and acknowledges; should even that
  fail, the subscription's ``dead_letter_policy`` (same max attempts) moves the message to the
  dead-letter topic.

The attempt number is the push body's ``deliveryAttempt``, which Pub/Sub sets when the
subscription has a dead-letter policy; functions-framework drops it during conversion, so it
is read from the raw request (``flask.request``). Without it (Eventarc, direct posts) the
attempt is taken as 1 and the subscription's ``max_delivery_attempts`` bounds the retries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cloudevents.abstract import CloudEvent

from functions.gcp import bootstrap, translate
from shared.dispatch import Decoder, Delivery, DeliveryResult
from shared.envelope import to_json_bytes
from shared.errors import InvalidEnvelope
from shared.http import HttpRequest, HttpResponse, problem, problem_for


class RetryDelivery(RuntimeError):
    """Raised to make functions-framework answer 500 so that Pub/Sub redelivers."""


def _raw_request() -> tuple[Mapping[str, Any] | None, bytes | None]:
    """The current request's JSON body and raw bytes (when serving a request)."""
    try:
        import flask
    except ImportError:  # pragma: no cover - functions-framework always ships flask
        return None, None
    if not flask.has_request_context():
        return None, None
    body = flask.request.get_json(silent=True)
    return (body if isinstance(body, Mapping) else None), flask.request.get_data()


def _attempt(*candidates: Any) -> int:
    for value in candidates:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        if isinstance(value, str) and value.isdigit() and int(value) >= 1:
            return int(value)
    return 1


def _fail(error: Exception) -> Decoder:
    def decoder() -> CloudEvent:
        raise error

    return decoder


def _pubsub_delivery(
    message_id: str, payload: Mapping[str, Any], attempt: int, raw_body: bytes | None
) -> Delivery:
    try:
        message = translate.PubSubMessage.from_json(payload.get("message"))
    except InvalidEnvelope as exc:
        return Delivery(message_id, _fail(exc), attempt, raw_body)
    raw = message.to_json_bytes()
    if not translate.is_storage_notification(message):
        return Delivery(message_id, lambda: translate.decode_message(message), attempt, raw)
    skip = translate.notification_skip_reason(message)
    if skip:
        return Delivery(message_id, None, attempt, raw, ignored=skip)
    return Delivery(message_id, lambda: translate.notification_event(message), attempt, raw)


def classify(cloud_event: CloudEvent) -> Delivery:
    """Work out what a CloudEvent handed over by functions-framework carries."""
    body, raw_body = _raw_request()
    event_type = str(cloud_event["type"])
    message_id = str(cloud_event["id"])
    if event_type == translate.PUBSUB_MESSAGE_PUBLISHED:
        data = cloud_event.get_data()
        payload = data if isinstance(data, Mapping) else {}
        attempt = _attempt((body or {}).get("deliveryAttempt"), payload.get("deliveryAttempt"))
        return _pubsub_delivery(message_id, payload, attempt, raw_body)
    if event_type.startswith(translate.STORAGE_TYPE_PREFIX):
        skip = translate.finalized_skip_reason(cloud_event)
        if skip:
            return Delivery(message_id, None, ignored=skip)
        return Delivery(
            message_id,
            lambda: translate.finalized_event(cloud_event),
            raw=raw_body or to_json_bytes(cloud_event),
        )
    # Our own CloudEvent posted directly (a binary post without ce-id never gets here:
    # functions-framework rejects it with 400 instead of inventing an id).
    return Delivery(message_id, lambda: cloud_event, raw=raw_body)


def handle_event(cloud_event: CloudEvent, consumer: str) -> DeliveryResult | None:
    """Deliver one CloudEvent to ``consumer``; raise :class:`RetryDelivery` to be redelivered.

    Returns the dispatcher's result, or None when the delivery is not for us (acknowledged).
    """
    delivery = classify(cloud_event)
    function = bootstrap.runtime(f"consumer:{consumer}").consumer(consumer)
    result = function.deliver(delivery)
    if result is not None and not result.acknowledged:
        raise RetryDelivery(
            f"{consumer}: delivery {result.event_id} not processed, "
            f"attempt {delivery.attempt}: {result.reason}"
        )
    return result


def to_http_request(request: Any) -> HttpRequest:
    """A ``flask.Request`` as the core's platform-neutral request."""
    return HttpRequest(
        method=request.method,
        path=request.path,
        headers={key: value for key, value in request.headers.items()},
        body=request.get_data(),
    )


def _flask(response: HttpResponse) -> tuple[bytes, int, dict[str, str]]:
    return response.json_bytes(), response.status, response.all_headers()


def handle_http(request: Any, endpoint: str) -> tuple[bytes, int, dict[str, str]]:
    """Serve the catalog endpoint ``endpoint`` (the function's URL is its route)."""
    runtime = bootstrap.runtime(f"endpoint:{endpoint}")
    trace = request.headers.get("X-Cloud-Trace-Context")
    return _flask(
        runtime.answer(endpoint, to_http_request(request), request_id=trace, root_is_route=True)
    )


def handle_schedule(request: Any, schedule: str) -> tuple[bytes, int, dict[str, str]]:
    """Run the catalog schedule ``schedule`` once for Cloud Scheduler's POST.

    200 with ``{"schedule", "report"}`` when the job ran; 500 when it failed, so Cloud
    Scheduler retries with its ``retry_config`` backoff (re-running is safe: the reconciler
    re-publishes with derived event ids, which consumers dedupe); 405 for anything but POST.
    """
    if request.method != "POST":
        return _flask(problem(405, "method not allowed", headers={"Allow": "POST"}))
    try:
        report = bootstrap.runtime(f"schedule:{schedule}").schedule(schedule)()
    except Exception as exc:  # logged by the runtime; 500 makes Cloud Scheduler retry
        return _flask(problem_for(exc))
    return json.dumps(report, default=str).encode(), 200, {"Content-Type": "application/json"}
