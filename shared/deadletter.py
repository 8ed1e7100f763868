"""What every ``DeadLetterSink`` records about a failed delivery, besides the payload itself.

The dispatcher hands a sink the consumer, the structured event (when it could be read), the
raw delivery, the reason and the attempt count. Every sink keeps the same facts next to the
payload - the SQS DLQ and the Pub/Sub dead-letter topic as message attributes, the local
broker as columns - so an operator finds the same names on every platform:

``reason``, ``consumer``, ``attempts`` and, when the event was readable, ``event_id`` and
``event_type``.

Transport limits (attribute sizes, allowed characters) are the sink's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DeadLetterRecord:
    """The facts kept with a dead-lettered delivery."""

    consumer: str
    reason: str
    attempts: int
    event_id: str | None = None
    event_type: str | None = None

    @classmethod
    def of(
        cls, consumer: str, event: Mapping[str, Any] | None, *, reason: str, attempts: int
    ) -> DeadLetterRecord:
        """The record of a delivery; ``event`` is the structured CloudEvent, if readable."""
        return cls(
            consumer=consumer,
            reason=reason,
            attempts=attempts,
            event_id=_text(event, "id"),
            event_type=_text(event, "type"),
        )

    def attributes(self) -> dict[str, str]:
        """The record as string attributes; the event's are present only when known."""
        attributes = {
            "reason": self.reason,
            "consumer": self.consumer,
            "attempts": str(self.attempts),
        }
        for name, value in (("event_id", self.event_id), ("event_type", self.event_type)):
            if value is not None:
                attributes[name] = value
        return attributes


def _text(event: Mapping[str, Any] | None, name: str) -> str | None:
    value = event.get(name) if event is not None else None
    return str(value) if value else None


# How often the operator tools sent a message back: a transport attribute where the transport
# has attributes (SQS, Pub/Sub), and a CloudEvents extension attribute on the event itself
# (names are lowercase letters and digits), which survives being parked again by the
# dispatcher, since sinks keep the structured event.
REDRIVE_COUNT = "redrive_count"
REDRIVE_EXTENSION = "redrivecount"


def structured_event(body: bytes | str | None) -> dict[str, Any] | None:
    """The structured CloudEvent in a parked payload, when there is one.

    Reads a bare structured CloudEvent and an EventBridge event whose ``detail`` is one (the
    SQS form); anything else (a storage notification, a truncated body) gives None.
    """
    if body is None:
        return None
    import json

    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(payload, dict) and isinstance(payload.get("detail"), dict):
        payload = payload["detail"]
    if isinstance(payload, dict) and "specversion" in payload and "id" in payload:
        return payload
    return None


def subject_of(event: Mapping[str, Any] | None) -> str | None:
    """What a parked event is about: its ``subject``, else an order id or an object key."""
    if not event:
        return None
    if event.get("subject"):
        return str(event["subject"])
    data = event.get("data")
    if isinstance(data, Mapping):
        for name in ("order_id", "key", "image_id"):
            if data.get(name):
                return str(data[name])
    return None


def redrive_count(event: Mapping[str, Any] | None) -> int:
    """The redrive count an event carries (0 without the extension)."""
    try:
        return int((event or {}).get(REDRIVE_EXTENSION) or 0)
    except (TypeError, ValueError):
        return 0


def count_redrive(body: bytes | str, previous: int = 0) -> tuple[bytes, int]:
    """The body to send back and its new redrive count.

    A structured CloudEvent (bare, or as an EventBridge ``detail``) gets the count as its
    ``redrivecount`` extension, id and data untouched; any other body is returned as is.
    """
    import json

    raw = body.encode() if isinstance(body, str) else body
    count = max(previous, redrive_count(structured_event(raw))) + 1
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw, count
    holder = payload.get("detail") if isinstance(payload, dict) and "detail" in payload else payload
    if structured_event(json.dumps(holder)) is None or not isinstance(holder, dict):
        return raw, count
    holder[REDRIVE_EXTENSION] = str(count)
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode(), count
