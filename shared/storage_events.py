"""Turning a platform's "object created" notification into our ``ImageUploaded`` fact.

Every cloud adapter calls :func:`image_uploaded` with what its notification carries, so the
event id is derived the same way everywhere: from the provider's own notification id when it
has one (redeliveries of one notification dedupe), else from bucket, key and version/etag.

Before that, :func:`skip_reason` says which notifications are not uploads at all (a key outside
the uploads prefix, a console "folder" such as ``uploads/2025/``, an empty object): those are
acknowledged and logged, never dead-lettered, so they do not fire the dead-letter alarm.
"""

from __future__ import annotations

from cloudevents.abstract import CloudEvent

from shared.catalog import default_catalog
from shared.envelope import new_event, utc_now_iso
from shared.errors import InvalidObjectKey, PermanentError
from shared.ids import derived_event_id

# S3 and Cloud Storage limit keys to 1,024 bytes of UTF-8 (Blob Storage to 1,024 characters).
MAX_KEY_BYTES = 1024


def check_object_key(key: str, *, max_segment_bytes: int | None = None) -> str:
    """``key`` if every store can hold it, else ``InvalidObjectKey`` (permanent: retrying a
    key cannot make it valid). Refused: empty keys, control characters (NUL, CR, LF, ...),
    text that is not valid UTF-8 (lone surrogates), more than ``MAX_KEY_BYTES`` bytes, and a
    ``/``-separated segment longer than ``max_segment_bytes`` when the store has such a limit
    (a file system's name length)."""
    if not key:
        raise InvalidObjectKey("object key is empty")
    control = next((c for c in key if ord(c) < 0x20 or ord(c) == 0x7F), None)
    if control is not None:
        raise InvalidObjectKey(
            f"object key {key[:80]!r} contains the control character {control!r}"
        )
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidObjectKey(f"object key {key[:80]!r} is not valid UTF-8: {exc}") from None
    if len(encoded) > MAX_KEY_BYTES:
        raise InvalidObjectKey(
            f"object key {key[:80]!r}... is {len(encoded)} bytes, limit is {MAX_KEY_BYTES}"
        )
    if max_segment_bytes is not None:
        for segment in key.split("/"):
            if len(segment.encode("utf-8")) > max_segment_bytes:
                raise InvalidObjectKey(
                    f"object key segment {segment[:80]!r}... is longer than "
                    f"{max_segment_bytes} bytes"
                )
    return key


def is_upload(key: str) -> bool:
    """Whether an object key lies under the uploads prefix (anything else is not ours)."""
    return key.startswith(default_catalog().storage["uploads_prefix"])


def skip_reason(key: str, size: int | None) -> str | None:
    """Why an "object created" notification is not an upload to process (None when it is):
    a key outside the uploads prefix, or a :func:`marker_reason`."""
    if not is_upload(key):
        return f"object {key[:200]!r} is outside the uploads prefix"
    return marker_reason(key, size)


def marker_reason(key: str, size: int | None) -> str | None:
    """Why an object under the uploads prefix is not an image to process (None when it may be).

    A key ending in ``/`` is a folder marker (the S3 console's "Create folder", Storage
    Explorer and ``gsutil`` placeholders) and an empty object holds no image: the uploads
    prefix legitimately holds both, so they are acknowledged and logged, not dead-lettered.
    """
    if key.endswith("/"):
        return f"object {key[:200]!r} is a folder marker, not an upload"
    if size == 0:
        return f"object {key[:200]!r} is empty (0 bytes), not an image"
    return None


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
    """The ``ImageUploaded`` CloudEvent for an object; refuses keys outside the uploads prefix
    and keys no store can hold (``InvalidObjectKey``)."""
    check_object_key(key)
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
