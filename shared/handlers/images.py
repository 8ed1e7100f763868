"""Image consumers: the thumbnailer and the metadata indexer."""

from __future__ import annotations

from shared.envelope import Event, utc_now_iso
from shared.errors import PayloadTooLarge, PermanentError
from shared.images.metadata import extract_metadata
from shared.images.thumbnails import render_thumbnails
from shared.ports import Clock, ImageSettings, MetadataIndex, ObjectStore, Settings


def _load_upload(event: Event, objects: ObjectStore, limit: int) -> bytes:
    size = int(event.data.get("size") or 0)
    if size > limit:
        raise PayloadTooLarge(f"upload is {size} bytes, limit is {limit}")
    # The event's size is the object's size when it was sent: the key may have been
    # overwritten since, so the store enforces the limit too, without reading past it.
    stored = objects.get(event.data["bucket"], event.data["key"], max_bytes=limit)
    if len(stored.data) > limit:  # a store that could not bound the read still must not pass
        raise PayloadTooLarge(f"upload is {len(stored.data)} bytes, limit is {limit}")
    return stored.data


def thumbnail_key(upload_key: str, box: int, extension: str, images: ImageSettings) -> str:
    """Where a rendition is stored in the thumbnails bucket (deterministic: retries overwrite)."""
    prefix = images.uploads_prefix
    relative = upload_key[len(prefix) :] if upload_key.startswith(prefix) else upload_key
    return f"{images.thumbnails_prefix}{relative}/{box}.{extension}"


def make_thumbnails(
    event: Event, *, objects: ObjectStore, settings: Settings, images: ImageSettings
) -> None:
    """Render every configured box and write it to the thumbnails bucket, never the uploads one."""
    if settings.thumbnails_bucket == event.data["bucket"]:
        raise PermanentError("refusing to write thumbnails into the bucket that triggers us")
    renditions = render_thumbnails(
        _load_upload(event, objects, images.max_upload_bytes),
        list(images.thumbnail_sizes),
        max_pixels=images.max_pixels,
        quality=images.jpeg_quality,
    )
    for rendition in renditions:
        objects.put(
            settings.thumbnails_bucket,
            thumbnail_key(event.data["key"], rendition.box, rendition.extension, images),
            rendition.data,
            content_type=rendition.content_type,
            metadata={
                "source-bucket": event.data["bucket"],
                "source-key": event.data["key"],
                "correlation-id": event.correlation_id,
                "width": str(rendition.width),
                "height": str(rendition.height),
            },
        )


def index_metadata(
    event: Event,
    *,
    objects: ObjectStore,
    index: MetadataIndex,
    clock: Clock,
    images: ImageSettings,
) -> None:
    """Extract the image's metadata and upsert it into the metadata index."""
    document = extract_metadata(
        _load_upload(event, objects, images.max_upload_bytes),
        bucket=event.data["bucket"],
        key=event.data["key"],
        max_pixels=images.max_pixels,
    )
    document["indexed_at"] = utc_now_iso(clock.now())
    document["correlation_id"] = event.correlation_id
    index.put(document)
