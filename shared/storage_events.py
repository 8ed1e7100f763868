"""Turning a platform's "object created" notification into our ``ImageUploaded`` fact.

Every cloud adapter calls :func:`image_uploaded` with what its notification carries, so the
event id is derived the same way everywhere: from the provider's own notification id when it
has one (redeliveries of one notification dedupe), else from bucket, key and version/etag.
"""

from __future__ import annotations

from cloudevents.abstract import CloudEvent

from shared.catalog import default_catalog
from shared.envelope import new_event, utc_now_iso
from shared.errors import PermanentError
from shared.ids import derived_event_id


def is_upload(key: str) -> bool:
    """Whether an object key lies under the uploads prefix (anything else is not ours)."""
    return key.startswith(default_catalog().storage["uploads_prefix"])


def image_uploaded(
    *,
    bucket: str,
    key: str,
    size: int,
    content_type: str | None = None,
    etag: str | None = None,
    uploaded_at: str | None = None,
    notification_id: str | None = None,
    source: str,
    correlation_id: str | None = None,
) -> CloudEvent:
    """The ``ImageUploaded`` CloudEvent for an object; refuses keys outside the uploads prefix."""
    if not is_upload(key):
        raise PermanentError(f"object {key!r} is outside the uploads prefix; not an upload")
    identity = notification_id or f"{bucket}/{key}@{etag or size}"
    return new_event(
        "ImageUploaded",
        {
            "bucket": bucket,
            "key": key,
            "size": int(size),
            "content_type": content_type,
            "etag": etag,
            "uploaded_at": uploaded_at or utc_now_iso(),
        },
        source=source,
        subject=key,
        event_id=derived_event_id("ImageUploaded", identity),
        correlation_id=correlation_id,
        time=uploaded_at,
    )
