"""EventPublisher over an Event Grid custom topic with the CloudEvents 1.0 input schema.

Our events are ``cloudevents`` SDK objects; they are converted to ``azure.core.messaging
.CloudEvent`` keeping every attribute: ``id`` (consumers dedupe on it), ``time``, ``subject``,
``dataschema`` and the extensions (``eventversion``, ``correlationid``, ``causationid``,
``traceparent``, ``dataref``). Event Grid delivers them, as structured JSON, into each
subscribed consumer's Storage queue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cloudevents.abstract import CloudEvent

from functions.azure.clients import (
    CONNECTION_TIMEOUT_SECONDS,
    READ_TIMEOUT_SECONDS,
    RETRY_TOTAL,
)
from functions.azure.errors import is_transient
from functions.common.batching import batches
from shared.envelope import to_json_bytes
from shared.errors import TransientError

# Event Grid accepts at most 1 MB per publish request; claim checks keep events below 256 KB.
MAX_EVENTS_PER_REQUEST = 50
# Event Grid refuses requests over 1 MB (413, permanent); keep headroom for the envelope.
MAX_REQUEST_BYTES = 900 * 1024
_CORE_ATTRIBUTES = {
    "id",
    "source",
    "type",
    "specversion",
    "time",
    "subject",
    "datacontenttype",
    "dataschema",
}


def to_azure_cloud_event(event: CloudEvent) -> Any:
    """A ``cloudevents`` SDK event as ``azure.core.messaging.CloudEvent`` (nothing dropped)."""
    from azure.core.messaging import CloudEvent as AzureCloudEvent

    attributes = dict(event.get_attributes())
    time = attributes.get("time")
    extensions = {k: v for k, v in attributes.items() if k not in _CORE_ATTRIBUTES}
    return AzureCloudEvent(
        source=str(attributes["source"]),
        type=str(attributes["type"]),
        specversion=str(attributes.get("specversion") or "1.0"),
        id=str(attributes["id"]),
        time=datetime.fromisoformat(str(time)) if time else None,
        datacontenttype=attributes.get("datacontenttype"),
        dataschema=attributes.get("dataschema"),
        subject=attributes.get("subject"),
        data=event.get_data(),
        extensions=extensions or None,
    )


DEFAULT_SEND_OPTIONS: Mapping[str, Any] = {
    "connection_timeout": CONNECTION_TIMEOUT_SECONDS,
    "read_timeout": READ_TIMEOUT_SECONDS,
    "retry_total": RETRY_TOTAL,
}


class EventGridPublisher:
    """Implements ``shared.ports.EventPublisher`` with an ``EventGridPublisherClient``."""

    def __init__(self, client: Any, *, send_options: Mapping[str, Any] | None = None) -> None:
        self._client = client
        # azure-eventgrid 4.x ignores retry and timeout options given to the client's
        # constructor for basic topics (measured: SDK defaults, a 300 s read timeout, longer than
        # the function's own timeout); per-call options are honoured, so pass them on every send.
        self._send_options = dict(DEFAULT_SEND_OPTIONS if send_options is None else send_options)

    def publish(self, events: Sequence[CloudEvent]) -> None:
        """Publish all events; throttling, 5xx and network failures raise ``TransientError``.

        A retried publish sends the same event ids again, which consumers dedupe.
        """
        from azure.core.exceptions import AzureError

        sized = [(to_azure_cloud_event(event), len(to_json_bytes(event))) for event in events]
        for batch in batches(
            sized,
            size_of=lambda pair: pair[1],
            max_count=MAX_EVENTS_PER_REQUEST,
            max_bytes=MAX_REQUEST_BYTES,
        ):
            chunk = [converted for converted, _ in batch]
            try:
                self._client.send(chunk, **self._send_options)
            except AzureError as exc:
                if is_transient(exc):
                    raise TransientError(f"Event Grid publish failed: {exc}") from exc
                raise
