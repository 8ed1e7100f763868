"""Cloud Storage ``ObjectStore`` (google-cloud-storage)."""

from __future__ import annotations

from collections.abc import Mapping

from functions.gcp.clients import ClientFactory, as_transient
from shared.errors import ObjectNotFound, PayloadTooLarge
from shared.ports import StoredObject
from shared.storage_events import check_object_key

TIMEOUT_SECONDS = 60.0


def _is_not_found(exc: Exception) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    return "NotFound" in names or getattr(exc, "code", None) == 404


def _check_size(where: str, size: int | None, max_bytes: int) -> None:
    if size is not None and size > max_bytes:
        raise PayloadTooLarge(f"{where} is {size} bytes, limit is {max_bytes}")


class GcsObjectStore:
    """Objects in Cloud Storage buckets; the client is built on first use.

    Writes are unconditional overwrites (keys are deterministic, so a retried write replaces
    the same object); we never rely on ``if_generation_match=0``, which the local emulator
    does not enforce.
    """

    def __init__(self, client: ClientFactory) -> None:
        self._client = client

    def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Create or replace ``gs://bucket/key`` (retried by the SDK: our writes are idempotent)."""
        check_object_key(key)
        try:
            from google.cloud.storage.retry import DEFAULT_RETRY

            blob = self._client().bucket(bucket).blob(key)
            if metadata:
                blob.metadata = dict(metadata)
            blob.upload_from_string(
                data,
                content_type=content_type or "application/octet-stream",
                timeout=TIMEOUT_SECONDS,
                retry=DEFAULT_RETRY,
            )
        except Exception as exc:
            raise as_transient(exc, f"writing gs://{bucket}/{key}") from exc

    def get(self, bucket: str, key: str, *, max_bytes: int | None = None) -> StoredObject:
        """Bytes, content type and custom metadata; ``ObjectNotFound`` when absent.

        With ``max_bytes``, the size in the object's metadata decides ``PayloadTooLarge``
        before any byte is downloaded, and the download (of that generation) asks for bytes
        ``0..max_bytes`` only.
        """
        where = f"gs://{bucket}/{key}"
        check_object_key(key)
        try:
            blob = self._client().bucket(bucket).get_blob(key, timeout=TIMEOUT_SECONDS)
            if blob is None:
                raise ObjectNotFound(f"{where} does not exist")
            if max_bytes is None or blob.size == 0:  # GCS answers 416 to a range of nothing
                data = blob.download_as_bytes(timeout=TIMEOUT_SECONDS)
            else:
                _check_size(where, blob.size, max_bytes)
                data = blob.download_as_bytes(timeout=TIMEOUT_SECONDS, start=0, end=max_bytes)
        except (ObjectNotFound, PayloadTooLarge):
            raise
        except Exception as exc:
            if _is_not_found(exc):  # deleted between the metadata read and the download
                raise ObjectNotFound(f"{where} does not exist") from exc
            raise as_transient(exc, f"reading {where}") from exc
        if max_bytes is not None:
            _check_size(where, len(data), max_bytes)
        return StoredObject(data, blob.content_type, dict(blob.metadata or {}))

    def exists(self, bucket: str, key: str) -> bool:
        """Whether ``gs://bucket/key`` exists."""
        check_object_key(key)
        try:
            return bool(self._client().bucket(bucket).blob(key).exists(timeout=TIMEOUT_SECONDS))
        except Exception as exc:
            raise as_transient(exc, f"checking gs://{bucket}/{key}") from exc

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Object names under ``prefix``, sorted."""
        try:
            blobs = self._client().list_blobs(
                bucket, prefix=prefix or None, timeout=TIMEOUT_SECONDS
            )
            return sorted(blob.name for blob in blobs)
        except Exception as exc:
            raise as_transient(exc, f"listing gs://{bucket}/{prefix}") from exc
