"""Pure translations between Google Cloud deliveries and our CloudEvents (no SDK imports).

Pub/Sub carries our events in the CloudEvents Pub/Sub protocol binding:

* binary mode (what :class:`~functions.gcp.pubsub.PubSubPublisher` emits): every CloudEvents
  attribute becomes a message attribute ``ce-<name>`` (``ce-specversion``, ``ce-type``,
  ``ce-id``, ``ce-source``, ``ce-time``, ``ce-eventversion``, ``ce-correlationid``,
  ``ce-traceparent``, ``ce-causationid``, ``ce-dataref``, ...), ``datacontenttype`` becomes
  ``content-type`` and the message data is the event data as JSON. An event without data (a
  claim-checked one, whose payload sits in object storage) is sent as the JSON ``null`` so that
  the message always has a body (Pub/Sub push omits ``data`` for empty messages, and
  functions-framework only converts push bodies that have one);
* structured mode: the message data is the structured CloudEvent JSON and the ``content-type``
  attribute is ``application/cloudevents+json``.

Cloud Storage uploads arrive either as Pub/Sub notifications (attributes ``eventType``,
``bucketId``, ``objectId``; payload format ``JSON_API_V1``: the object resource) or as Eventarc
``google.cloud.storage.object.v1.finalized`` CloudEvents whose data is the same resource. Both
become ``ImageUploaded`` through :func:`shared.storage_events.image_uploaded`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cloudevents.abstract import CloudEvent as AnyCloudEvent
from cloudevents.http import CloudEvent

from shared.catalog import Catalog, default_catalog
from shared.envelope import from_structured
from shared.errors import InvalidEnvelope, PermanentError
from shared.storage_events import image_uploaded, skip_reason

PUBSUB_MESSAGE_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
STORAGE_TYPE_PREFIX = "google.cloud.storage.object.v1."
STORAGE_FINALIZED = STORAGE_TYPE_PREFIX + "finalized"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
ATTRIBUTE_PREFIX = "ce-"
CONTENT_TYPE_ATTRIBUTE = "content-type"
NOTIFICATION_FINALIZE = "OBJECT_FINALIZE"
_REQUIRED = ("id", "source", "type", "specversion")


@dataclass(frozen=True)
class PubSubMessage:
    """A received Pub/Sub message (push body ``message`` or Eventarc ``data.message``)."""

    data: bytes
    attributes: Mapping[str, str]
    message_id: str
    publish_time: str | None = None
    ordering_key: str | None = None

    @classmethod
    def from_json(cls, message: Any) -> PubSubMessage:
        """Parse the JSON form of a message (``data`` is base64); ``InvalidEnvelope`` if odd."""
        if not isinstance(message, Mapping):
            raise InvalidEnvelope("Pub/Sub delivery has no 'message' object")
        encoded = message.get("data") or ""
        try:
            data = base64.b64decode(encoded, validate=True) if encoded else b""
        except (binascii.Error, TypeError, ValueError) as exc:
            raise InvalidEnvelope(f"Pub/Sub message data is not base64: {exc}") from exc
        attributes = message.get("attributes") or {}
        if not isinstance(attributes, Mapping):
            raise InvalidEnvelope("Pub/Sub message attributes are not an object")
        return cls(
            data=data,
            attributes={str(k): str(v) for k, v in attributes.items()},
            message_id=str(message.get("messageId") or message.get("message_id") or ""),
            publish_time=message.get("publishTime") or message.get("publish_time"),
            ordering_key=message.get("orderingKey") or message.get("ordering_key") or None,
        )

    def to_json_bytes(self) -> bytes:
        """The message as JSON (base64 data), kept as the raw payload of a dead letter."""
        body: dict[str, Any] = {
            "messageId": self.message_id,
            "attributes": dict(self.attributes),
            "data": base64.b64encode(self.data).decode("ascii"),
        }
        if self.publish_time:
            body["publishTime"] = self.publish_time
        if self.ordering_key:
            body["orderingKey"] = self.ordering_key
        return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class OutgoingMessage:
    """What the publisher hands to Pub/Sub for one event."""

    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)
    ordering_key: str = ""


def ordering_key(event: AnyCloudEvent, catalog: Catalog | None = None) -> str:
    """The ordering key of an event: its catalog ``ordering_key`` field (the order id), else
    its ``subject``; empty for event types without an ordering key (``ImageUploaded``)."""
    spec = (catalog or default_catalog()).event_by_type(str(event["type"]))
    if spec is None or not spec.ordering_key:
        return ""
    data = event.get_data()
    if isinstance(data, Mapping) and data.get(spec.ordering_key):
        return str(data[spec.ordering_key])
    subject = event.get_attributes().get("subject")
    return str(subject) if subject else ""


def encode_binary(event: AnyCloudEvent, catalog: Catalog | None = None) -> OutgoingMessage:
    """Binary-mode Pub/Sub message for an event (see the module docstring)."""
    attributes: dict[str, str] = {}
    for name, value in event.get_attributes().items():
        if value is None:
            continue
        if name == "datacontenttype":
            attributes[CONTENT_TYPE_ATTRIBUTE] = str(value)
        else:
            attributes[ATTRIBUTE_PREFIX + name] = (
                value.isoformat() if isinstance(value, datetime) else str(value)
            )
    data = event.get_data()
    if isinstance(data, bytes):
        payload = data
    else:
        payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return OutgoingMessage(payload, attributes, ordering_key(event, catalog))


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # our producers always send JSON; a missing type is read as JSON
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json") or media == "text/json"


def decode_binary(message: PubSubMessage) -> CloudEvent:
    """A binary-mode message -> CloudEvent; ``InvalidEnvelope`` when required attributes lack."""
    attributes: dict[str, Any] = {
        key[len(ATTRIBUTE_PREFIX) :]: value
        for key, value in message.attributes.items()
        if key.startswith(ATTRIBUTE_PREFIX)
    }
    missing = [name for name in _REQUIRED if not attributes.get(name)]
    if missing:
        raise InvalidEnvelope(
            "Pub/Sub message lacks CloudEvents attribute(s): "
            + ", ".join(ATTRIBUTE_PREFIX + name for name in missing)
        )
    if attributes["specversion"] != "1.0":
        raise InvalidEnvelope(f"unsupported CloudEvents specversion {attributes['specversion']!r}")
    content_type = message.attributes.get(CONTENT_TYPE_ATTRIBUTE) or attributes.get(
        "datacontenttype"
    )
    if content_type:
        attributes["datacontenttype"] = content_type
    data: Any = None
    if message.data:
        data = message.data
        if _is_json(content_type):
            try:
                data = json.loads(message.data)
            except ValueError:
                data = message.data  # decode() turns it into a SchemaViolation with the reason
    return CloudEvent(attributes, data)


def is_structured(message: PubSubMessage) -> bool:
    """Whether the message carries a structured-mode CloudEvent."""
    content_type = message.attributes.get(CONTENT_TYPE_ATTRIBUTE, "")
    return content_type.split(";", 1)[0].strip().lower().startswith("application/cloudevents")


def decode_message(message: PubSubMessage) -> CloudEvent:
    """Our CloudEvent from a Pub/Sub message in structured or binary mode."""
    if is_structured(message):
        return from_structured(message.data)
    if any(key.startswith(ATTRIBUTE_PREFIX) for key in message.attributes):
        return decode_binary(message)
    # Neither marker: the only other thing we accept is a structured event without its type.
    return from_structured(message.data)


def is_storage_notification(message: PubSubMessage) -> bool:
    """Whether the message is a Cloud Storage Pub/Sub notification."""
    attributes = message.attributes
    return "eventType" in attributes and "bucketId" in attributes and "objectId" in attributes


def storage_source(bucket: str) -> str:
    """The CloudEvents source Eventarc uses for a bucket (we use it for both delivery paths)."""
    return f"//storage.googleapis.com/projects/_/buckets/{bucket}"


def _rfc3339(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def uploaded_event(resource: Mapping[str, Any], *, notification_id: str) -> AnyCloudEvent:
    """``ImageUploaded`` from a Cloud Storage object resource (JSON API v1 representation)."""
    bucket, key = resource.get("bucket"), resource.get("name")
    if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
        raise InvalidEnvelope("storage object resource lacks 'bucket' or 'name'")
    try:
        size = int(resource.get("size", 0))  # the JSON API sends int64 as a string
    except (TypeError, ValueError) as exc:
        raise InvalidEnvelope(
            f"storage object size {resource.get('size')!r} is not a number"
        ) from exc
    return image_uploaded(
        bucket=bucket,
        key=key,
        size=size,
        content_type=resource.get("contentType"),
        etag=resource.get("etag") or resource.get("md5Hash"),
        uploaded_at=_rfc3339(resource.get("timeCreated")),
        notification_id=notification_id,
        source=storage_source(bucket),
    )


def notification_skip_reason(message: PubSubMessage) -> str | None:
    """Why a storage notification is not an upload for us (None when it is one)."""
    event_type = message.attributes.get("eventType")
    if event_type != NOTIFICATION_FINALIZE:
        return f"storage notification {event_type} is not an upload"
    size: int | None = None
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        size = int(json.loads(message.data).get("size"))  # absent with payload_format NONE
    return skip_reason(message.attributes.get("objectId", ""), size)


def notification_event(message: PubSubMessage) -> AnyCloudEvent:
    """``ImageUploaded`` from a Cloud Storage Pub/Sub notification (payload ``JSON_API_V1``)."""
    if not message.data:
        raise PermanentError(
            "storage notification has no payload; configure payload_format JSON_API_V1"
        )
    try:
        resource = json.loads(message.data)
    except ValueError as exc:
        raise InvalidEnvelope(f"storage notification payload is not JSON: {exc}") from exc
    if not isinstance(resource, Mapping):
        raise InvalidEnvelope("storage notification payload is not an object resource")
    return uploaded_event(resource, notification_id=message.message_id)


def finalized_skip_reason(event: AnyCloudEvent) -> str | None:
    """Why an Eventarc storage event is not an upload for us (None when it is one)."""
    if event["type"] != STORAGE_FINALIZED:
        return f"storage event {event['type']} is not an upload"
    data = event.get_data()
    name = data.get("name") if isinstance(data, Mapping) else None
    if name is None:
        subject = str(event.get_attributes().get("subject") or "")
        name = subject.removeprefix("objects/")
    size: int | None = None
    if isinstance(data, Mapping):
        with contextlib.suppress(ValueError, TypeError):
            size = int(data.get("size"))  # type: ignore[arg-type]
    return skip_reason(str(name), size)


def finalized_event(event: AnyCloudEvent) -> AnyCloudEvent:
    """``ImageUploaded`` from an Eventarc ``google.cloud.storage.object.v1.finalized`` event."""
    data = event.get_data()
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise InvalidEnvelope(f"storage event data is not JSON: {exc}") from exc
    if not isinstance(data, Mapping):
        raise InvalidEnvelope("storage event data is not an object resource")
    return uploaded_event(data, notification_id=str(event["id"]))
