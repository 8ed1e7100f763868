"""The envelope: CloudEvents 1.0 plus our extensions, and the decode path every consumer uses.

Extensions (CloudEvents attribute names are lowercase alphanumerics):

* ``eventversion`` - the schema version of ``data`` (every event carries one);
* ``correlationid`` - shared by every event of one business flow;
* ``causationid`` - the id of the event that caused this one;
* ``traceparent`` - W3C trace context (CloudEvents distributed-tracing extension);
* ``dataref`` - claim check: where the payload lives when it was too large to inline
  (CloudEvents "dataref" extension), as ``claim://<bucket>/<key>``.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cloudevents.abstract import CloudEvent as AnyCloudEvent
from cloudevents.conversion import to_dict
from cloudevents.http import CloudEvent, from_dict

from shared.catalog import Catalog, EventSpec, default_catalog
from shared.errors import (
    InvalidEnvelope,
    ObjectNotFound,
    PermanentError,
    SchemaViolation,
    TransientError,
    UnknownEventType,
    UnknownEventVersion,
)
from shared.ports import EventPublisher, ObjectStore
from shared.upcasters import UPCASTERS

JsonDict = dict[str, Any]
CLAIM_SCHEME = "claim://"
_REQUIRED_ATTRIBUTES = ("id", "source", "type", "specversion")


@dataclass(frozen=True)
class Event:
    """An immutable, validated, upcast event as handlers see it."""

    id: str
    name: str
    type: str
    source: str
    version: int
    original_version: int
    time: str
    data: Mapping[str, Any]
    correlation_id: str
    traceparent: str
    causation_id: str | None = None
    subject: str | None = None
    extensions: Mapping[str, Any] = field(default_factory=dict)


def utc_now_iso(now: float | None = None) -> str:
    """RFC 3339 UTC timestamp with milliseconds."""
    moment = datetime.now(UTC) if now is None else datetime.fromtimestamp(now, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_traceparent(parent: str | None = None) -> str:
    """A W3C traceparent: a child span of ``parent`` when given, else a new trace."""
    trace_id = None
    if parent:
        parts = parent.split("-")
        if len(parts) == 4 and len(parts[1]) == 32 and parts[1] != "0" * 32:
            trace_id = parts[1]
    return f"00-{trace_id or secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def new_event(
    name: str,
    data: Mapping[str, Any],
    *,
    source: str,
    cause: Event | None = None,
    correlation_id: str | None = None,
    event_id: str | None = None,
    subject: str | None = None,
    time: str | None = None,
    version: int | None = None,
    catalog: Catalog | None = None,
) -> CloudEvent:
    """Build a CloudEvent for catalog event ``name`` at its current version.

    Correlation and trace context flow from ``cause``; the data is validated before it leaves,
    so a producer can never emit an event its consumers would reject.
    """
    spec = (catalog or default_catalog()).event(name)
    emitted_version = version or spec.current_version
    if emitted_version not in spec.versions:
        raise UnknownEventVersion(f"{name} has no version {emitted_version}")
    _validate(spec, emitted_version, data)
    attributes: JsonDict = {
        "id": event_id or str(uuid.uuid4()),
        "source": source,
        "type": spec.type,
        "specversion": "1.0",
        "time": time or utc_now_iso(),
        "datacontenttype": "application/json",
        "dataschema": str(spec.versions[emitted_version].schema.get("$id", "")) or None,
        "eventversion": str(emitted_version),
        "correlationid": (
            correlation_id or (cause.correlation_id if cause else None) or str(uuid.uuid4())
        ),
        "traceparent": new_traceparent(cause.traceparent if cause else None),
    }
    if cause is not None:
        attributes["causationid"] = cause.id
    if subject is not None:
        attributes["subject"] = subject
    return CloudEvent({k: v for k, v in attributes.items() if v is not None}, dict(data))


def to_structured(event: AnyCloudEvent) -> JsonDict:
    """The structured-mode JSON object of an event."""
    return to_dict(event)


def to_json_bytes(event: AnyCloudEvent) -> bytes:
    """Structured-mode JSON bytes (compact, UTF-8)."""
    return json.dumps(to_dict(event), separators=(",", ":"), ensure_ascii=False).encode()


def from_structured(payload: Mapping[str, Any] | bytes | str) -> CloudEvent:
    """Parse a structured-mode CloudEvent; ``InvalidEnvelope`` names what is wrong."""
    if isinstance(payload, bytes | str):
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise InvalidEnvelope(f"delivery is not JSON: {exc}") from exc
    if not isinstance(payload, Mapping):
        raise InvalidEnvelope("delivery is not a JSON object")
    missing = [a for a in _REQUIRED_ATTRIBUTES if not payload.get(a)]
    if missing:
        raise InvalidEnvelope(f"CloudEvent lacks required attribute(s): {', '.join(missing)}")
    if payload.get("specversion") != "1.0":
        raise InvalidEnvelope(f"unsupported CloudEvents specversion {payload.get('specversion')!r}")
    try:
        return from_dict(dict(payload))
    except Exception as exc:  # the SDK raises several unrelated types for bad input
        raise InvalidEnvelope(f"not a CloudEvent: {exc}") from exc


def _validate(spec: EventSpec, version: int, data: Any) -> None:
    spec_version = spec.versions[version]
    if spec_version.is_valid(data):
        return
    errors = sorted(spec_version.validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if not errors:  # the validators disagree only on exotic formats; the reference one decides
        return
    details = "; ".join(
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors[:5]
    )
    raise SchemaViolation(f"{spec.name} v{version} data violates its schema: {details}")


def _parse_version(spec: EventSpec, raw: Any) -> int:
    if raw is None:
        raise InvalidEnvelope(f"{spec.name} event has no 'eventversion' extension")
    text = str(raw)
    if not text.isdigit():
        raise UnknownEventVersion(f"{spec.name} version {text!r} is not a version number")
    version = int(text)
    if version not in spec.versions:
        known = ", ".join(str(v) for v in sorted(spec.versions))
        newer = (
            " (newer than this deployment: upgrade the consumer)"
            if version > max(spec.versions)
            else ""
        )
        raise UnknownEventVersion(
            f"{spec.name} version {version} is unknown{newer}; known versions: {known}"
        )
    return version


def resolve_claim_check(reference: str, objects: ObjectStore | None) -> Any:
    """Fetch a claim-checked payload. Missing objects are permanent; store errors transient."""
    if not reference.startswith(CLAIM_SCHEME):
        raise InvalidEnvelope(f"unsupported dataref {reference!r}")
    if objects is None:
        raise PermanentError("event is claim-checked but this function has no object store")
    bucket, _, key = reference[len(CLAIM_SCHEME) :].partition("/")
    if not bucket or not key:
        raise InvalidEnvelope(f"malformed dataref {reference!r}")
    try:
        stored = objects.get(bucket, key)
    except (ObjectNotFound, PermanentError):
        raise
    except Exception as exc:
        raise TransientError(f"could not read claim-checked payload {reference}: {exc}") from exc
    try:
        return json.loads(stored.data)
    except ValueError as exc:
        raise InvalidEnvelope(f"claim-checked payload {reference} is not JSON: {exc}") from exc


def _refuse_control_characters(attributes: Mapping[str, Any]) -> None:
    """Attribute values end up in log fields and email headers (``X-Correlation-Id``): a CR,
    LF or other control character in one is a forged envelope, refused permanently here
    rather than failing (and being retried) wherever the value is used."""
    for name, value in attributes.items():
        if isinstance(value, str) and any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise InvalidEnvelope(f"CloudEvent attribute {name!r} contains control characters")


def decode(
    cloud_event: AnyCloudEvent,
    *,
    catalog: Catalog | None = None,
    objects: ObjectStore | None = None,
) -> Event:
    """CloudEvent -> validated, upcast :class:`Event`; raises typed permanent errors."""
    catalog = catalog or default_catalog()
    attributes = cloud_event.get_attributes()
    _refuse_control_characters(attributes)
    spec = catalog.event_by_type(str(attributes.get("type")))
    if spec is None:
        raise UnknownEventType(f"event type {attributes.get('type')!r} is not in the catalog")
    version = _parse_version(spec, attributes.get("eventversion"))
    data = cloud_event.get_data()
    reference = attributes.get("dataref")
    if reference:
        data = resolve_claim_check(str(reference), objects)
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise SchemaViolation(f"{spec.name} data is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SchemaViolation(f"{spec.name} data must be a JSON object, got {type(data).__name__}")
    _validate(spec, version, data)
    time = str(attributes.get("time") or utc_now_iso())
    current = version
    while current != spec.current_version:
        target = spec.versions[current].upcast_to
        fn = UPCASTERS.get((spec.name, current))
        if target is None or fn is None:
            raise UnknownEventVersion(f"{spec.name} v{current} has no upcaster")
        data = fn(data, time)
        current = target
        _validate(spec, current, data)
    known = {*_REQUIRED_ATTRIBUTES, "time", "datacontenttype", "dataschema", "subject", "data"}
    return Event(
        id=str(attributes["id"]),
        name=spec.name,
        type=spec.type,
        source=str(attributes["source"]),
        version=current,
        original_version=version,
        time=time,
        data=data,
        correlation_id=str(attributes.get("correlationid") or attributes["id"]),
        traceparent=str(attributes.get("traceparent") or new_traceparent()),
        causation_id=attributes.get("causationid"),
        subject=attributes.get("subject"),
        extensions={k: v for k, v in attributes.items() if k not in known},
    )


class ClaimCheckPublisher:
    """Wraps a publisher: payloads above the threshold go to object storage, events carry a ref.

    The object key is derived from the event id, so a retried publish overwrites the same object.
    """

    def __init__(
        self,
        inner: EventPublisher,
        objects: Callable[[], ObjectStore],
        *,
        bucket: str,
        threshold_bytes: int,
        prefix: str = "claims/",
    ) -> None:
        """``objects`` builds the claims store: called on the first payload over the threshold
        only, so a function that never publishes one never pays for the storage client."""
        self._inner = inner
        self._make_objects = objects
        self._objects: ObjectStore | None = None
        self._bucket = bucket
        self._threshold = threshold_bytes
        self._prefix = prefix

    def publish(self, events: Sequence[AnyCloudEvent]) -> None:
        """Offload large payloads, then publish everything through the inner publisher."""
        self._inner.publish([self._offload(event) for event in events])

    def _offload(self, event: AnyCloudEvent) -> AnyCloudEvent:
        body = json.dumps(event.get_data(), separators=(",", ":")).encode()
        if len(body) <= self._threshold:
            return event
        key = f"{self._prefix}{event['id']}.json"
        if self._objects is None:
            self._objects = self._make_objects()
        self._objects.put(self._bucket, key, body, content_type="application/json")
        attributes = dict(event.get_attributes())
        attributes["dataref"] = f"{CLAIM_SCHEME}{self._bucket}/{key}"
        return CloudEvent(attributes, None)
