"""Pure translation between AWS payloads and the core's types (no SDK, no I/O).

SQS record bodies come in three forms:

* an EventBridge event from the suite's custom bus whose ``detail`` is our structured
  CloudEvent (publishers put ``Detail = CloudEvent JSON``, ``DetailType = type``);
* an EventBridge event from the default bus with ``source = "aws.s3"`` and ``detail-type =
  "Object Created"``, translated by ``shared.storage_events.image_uploaded`` with the
  EventBridge event id as notification id (redeliveries and both image queues agree on it);
* a bare structured CloudEvent (manual redrives, tests).

HTTP requests arrive as API Gateway HTTP API / Lambda function URL payload format 2.0.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any

from cloudevents.abstract import CloudEvent

from shared.envelope import from_structured
from shared.errors import InvalidEnvelope, PermanentError
from shared.http import HttpRequest, HttpResponse
from shared.storage_events import image_uploaded, is_upload, marker_reason

S3_SOURCE = "aws.s3"
OBJECT_CREATED = "Object Created"


def cloud_event_from_body(body: str | bytes) -> CloudEvent:
    """The CloudEvent carried by an SQS message body (see module docstring for the forms)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEnvelope(f"message body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise InvalidEnvelope("message body is not a JSON object")
    if "detail-type" in payload and "detail" in payload:
        if payload.get("source") == S3_SOURCE:
            return image_uploaded_from_s3(payload)
        detail = payload["detail"]
        if not isinstance(detail, dict):
            raise InvalidEnvelope("EventBridge detail is not a JSON object")
        return from_structured(detail)
    if "specversion" in payload:
        return from_structured(payload)
    raise InvalidEnvelope("message is neither an EventBridge event nor a structured CloudEvent")


def image_uploaded_from_s3(envelope: Mapping[str, Any]) -> CloudEvent:
    """``ImageUploaded`` for an S3 "Object Created" EventBridge event.

    Raises ``PermanentError`` for other S3 notifications and for keys outside the uploads
    prefix (the rule filters both; seeing one means the wiring is wrong, so it is dead-lettered
    with its reason rather than silently acknowledged).
    """
    detail_type = envelope.get("detail-type")
    if detail_type != OBJECT_CREATED:
        raise PermanentError(f"unsupported S3 notification {detail_type!r}")
    try:
        detail = envelope["detail"]
        bucket = str(detail["bucket"]["name"])
        obj = detail["object"]
        key = str(obj["key"])
        size = int(obj.get("size") or 0)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidEnvelope(f"malformed S3 Object Created event: {exc!r}") from exc
    etag = obj.get("etag") or obj.get("eTag")  # AWS documents "etag"; some emulators "eTag"
    resources = envelope.get("resources") or []
    source = str(resources[0]) if resources else f"arn:aws:s3:::{bucket}"
    envelope_id = str(envelope.get("id") or "")
    version_id = obj.get("version-id")
    revision = version_id if version_id and version_id != "null" else (etag or size)
    # The EventBridge id identifies the notification (redeliveries keep it). The object's
    # identity is appended because emulators (moto) reuse one id for every S3 event; on AWS it
    # adds nothing but cannot hurt: redeliveries carry the same object fields too.
    notification_id = f"{envelope_id}:{bucket}/{key}@{revision}" if envelope_id else None
    return image_uploaded(
        bucket=bucket,
        key=key,
        size=size,
        content_type=None,  # not in the notification; the handlers sniff the bytes anyway
        etag=str(etag) if etag else None,
        uploaded_at=envelope.get("time"),
        notification_id=notification_id,
        source=source,
        correlation_id=envelope_id or None,
    )


def ignored_reason(body: str | bytes) -> str | None:
    """Why an SQS message body is acknowledged without running the consumer (None: run it).

    Only S3 "Object Created" events for a folder marker (the console's ``uploads/2025/``) or
    an empty object under the uploads prefix qualify: the prefix holds them legitimately, so
    they are logged, not dead-lettered (which would fire the DLQ alarm). Anything else,
    unreadable or outside the prefix (miswired), is left to the decoder, which dead-letters
    it with its reason.
    """
    try:
        payload = json.loads(body)
        if payload.get("source") != S3_SOURCE or payload.get("detail-type") != OBJECT_CREATED:
            return None
        obj = payload["detail"]["object"]
        key, size = obj["key"], obj.get("size")
    except (ValueError, UnicodeDecodeError, AttributeError, KeyError, TypeError):
        return None
    if not isinstance(key, str) or not is_upload(key):
        return None
    return marker_reason(key, size if isinstance(size, int) else None)


def record_decoder(record: Mapping[str, Any]) -> Callable[[], CloudEvent]:
    """A zero-argument decoder for one SQS record (errors surface inside the dispatcher)."""
    return lambda: cloud_event_from_body(record.get("body") or "")


def attempt_of(record: Mapping[str, Any]) -> int:
    """The delivery attempt (SQS ``ApproximateReceiveCount``, 1-based)."""
    try:
        return max(1, int(record.get("attributes", {}).get("ApproximateReceiveCount", 1)))
    except (TypeError, ValueError):
        return 1


def http_request(event: Mapping[str, Any]) -> HttpRequest:
    """``HttpRequest`` from an API Gateway HTTP API (v2) or function URL event.

    Raises ``ValueError`` when a base64 body does not decode.
    """
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    method = str(http.get("method") or event.get("httpMethod") or "GET").upper()
    path = str(event.get("rawPath") or http.get("path") or event.get("path") or "/")
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    raw_body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw_body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"body is not valid base64: {exc}") from exc
    else:
        body = raw_body.encode() if isinstance(raw_body, str) else bytes(raw_body)
    return HttpRequest(method=method, path=path, headers=headers, body=body)


def http_response(response: HttpResponse) -> dict[str, Any]:
    """The payload format 2.0 response for an ``HttpResponse``."""
    return {
        "statusCode": response.status,
        "headers": response.all_headers(),
        "body": response.json_bytes().decode(),
        "isBase64Encoded": False,
    }


def batch_response(failed_message_ids: list[str]) -> dict[str, Any]:
    """The SQS partial-batch response (needs ``ReportBatchItemFailures`` on the mapping)."""
    return {"batchItemFailures": [{"itemIdentifier": m} for m in failed_message_ids]}
