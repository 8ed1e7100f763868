"""What arrives in a consumer's Storage queue, turned into our CloudEvent.

Forms accepted (Event Grid subscriptions deliver one event per queue message):

1. Our application events, as an Event Grid subscription with ``CloudEventSchemaV1_0``
   delivery writes them: the structured CloudEvents JSON we published, extensions included.
2. ``Microsoft.Storage.BlobCreated`` from the storage account's system topic (CloudEvents
   schema; the older Event Grid schema is read too) -> ``ImageUploaded`` through
   ``shared.storage_events.image_uploaded`` with the notification id, so a redelivered
   notification maps to the same event id and is deduplicated.
3. Either of the above base64-encoded. Event Grid never does that, but the Functions queue
   default and several tools (portal, Storage Explorer, older SDK producers) do. The two forms
   cannot be confused - a JSON object starts with ``{``, which is not in the base64 alphabet -
   so decoding is unambiguous; rejecting such a message would only dead-letter a good event.

Anything else is an ``InvalidEnvelope`` (permanent: dead-lettered with the reason).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from cloudevents.abstract import CloudEvent

from shared.envelope import from_structured, utc_now_iso
from shared.errors import InvalidEnvelope
from shared.storage_events import image_uploaded, is_upload, marker_reason

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
_BLOB_SUBJECT = "/blobServices/default/containers/"


def parse_queue_body(body: bytes | str) -> dict[str, Any]:
    """The JSON object in a queue message: plain JSON, or base64-encoded JSON."""
    text = body.decode("utf-8", errors="strict") if isinstance(body, bytes) else body
    stripped = text.strip()
    if not stripped:
        raise InvalidEnvelope("queue message is empty")
    try:
        payload = json.loads(stripped)
    except ValueError as plain_error:
        try:
            decoded = base64.b64decode(stripped, validate=True)
            payload = json.loads(decoded)
        except (binascii.Error, ValueError):
            raise InvalidEnvelope(
                f"queue message is neither JSON nor base64-encoded JSON: {plain_error}"
            ) from None
    if isinstance(payload, list):
        raise InvalidEnvelope(
            "queue message holds a JSON array: Event Grid writes one event per message"
        )
    if not isinstance(payload, dict):
        raise InvalidEnvelope("queue message is not a JSON object")
    return payload


def _blob_location(subject: str | None, url: str | None) -> tuple[str, str]:
    """(container, blob name) from the event subject, else from the blob URL."""
    if subject and subject.startswith(_BLOB_SUBJECT):
        container, marker, name = subject[len(_BLOB_SUBJECT) :].partition("/blobs/")
        if container and marker and name:
            return container, name
    if url:
        path = unquote(urlsplit(url).path).lstrip("/")
        container, _, name = path.partition("/")
        if container and name:
            return container, name
    raise InvalidEnvelope(f"BlobCreated event names no blob (subject {subject!r}, url {url!r})")


def _normalise_time(value: Any) -> str | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidEnvelope(f"BlobCreated event has an invalid time {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return utc_now_iso(moment.timestamp())


def blob_created_to_image_uploaded(payload: Mapping[str, Any]) -> CloudEvent:
    """A ``Microsoft.Storage.BlobCreated`` notification (either schema) as ``ImageUploaded``."""
    data = payload.get("data")
    if not isinstance(data, Mapping):
        raise InvalidEnvelope("BlobCreated event has no data object")
    event_id = payload.get("id")
    if not event_id:
        raise InvalidEnvelope("BlobCreated event has no id")
    container, name = _blob_location(payload.get("subject"), data.get("url"))
    length = data.get("contentLength")
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise InvalidEnvelope(f"BlobCreated event has an invalid contentLength {length!r}")
    source = payload.get("source") or payload.get("topic")  # CloudEvents / Event Grid schema
    return image_uploaded(
        bucket=container,
        key=name,
        size=length,
        content_type=data.get("contentType"),
        etag=data.get("eTag"),
        uploaded_at=_normalise_time(payload.get("time") or payload.get("eventTime")),
        notification_id=str(event_id),
        source=str(source or "urn:azure:storage"),
        correlation_id=str(event_id),
    )


def to_cloud_event(payload: Mapping[str, Any]) -> CloudEvent:
    """A parsed queue message as our CloudEvent (storage notifications translated)."""
    if payload.get("type") == BLOB_CREATED or payload.get("eventType") == BLOB_CREATED:
        return blob_created_to_image_uploaded(payload)
    return from_structured(payload)


def ignored_reason(body: bytes | str) -> str | None:
    """Why a queue message is acknowledged without running the consumer (None: run it).

    Only a ``BlobCreated`` for a folder marker or an empty blob under the uploads prefix
    qualifies: the prefix holds them legitimately, so they are logged, not sent to the poison
    queue. Anything unreadable is left to :func:`decode_queue_message`, which refuses it.
    """
    try:
        payload = parse_queue_body(body)
    except (InvalidEnvelope, UnicodeDecodeError):
        return None
    if payload.get("type") != BLOB_CREATED and payload.get("eventType") != BLOB_CREATED:
        return None
    data = payload.get("data")
    if not isinstance(data, Mapping):
        return None
    try:
        _, name = _blob_location(payload.get("subject"), data.get("url"))
    except InvalidEnvelope:
        return None
    length = data.get("contentLength")
    if not is_upload(name):
        return None
    return marker_reason(name, length if isinstance(length, int) else None)


def decode_queue_message(body: bytes | str) -> CloudEvent:
    """Queue message body -> CloudEvent; permanent ``InvalidEnvelope`` when unreadable."""
    try:
        return to_cloud_event(parse_queue_body(body))
    except UnicodeDecodeError as exc:
        raise InvalidEnvelope(f"queue message is not UTF-8 text: {exc}") from None
