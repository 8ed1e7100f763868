"""ObjectStore over Azure Blob Storage: bucket = container, key = blob name.

Blob metadata names must be C# identifiers and values plain ASCII (they travel as HTTP
headers). The core uses kebab-case names (``source-key``) and arbitrary Unicode values (object
keys), so names map ``-`` <-> ``_`` and values are percent-encoded where needed; both
directions are applied here, so callers see exactly what they stored (names are expected in the
core's kebab-case: an underscore in a name comes back as a hyphen).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceModifiedError, ResourceNotFoundError

from functions.azure.errors import transient_azure_errors
from shared.errors import ObjectNotFound, PayloadTooLarge, TransientError
from shared.ports import StoredObject
from shared.storage_events import check_object_key

_METADATA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Printable ASCII except '%' (the escape) and space (headers are trimmed) stays readable.
_SAFE_VALUE_CHARS = "".join(chr(c) for c in range(33, 127) if chr(c) != "%")
_RANGE_NOT_SATISFIABLE = 416  # what any byte range of an empty blob gets


def encode_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """Core metadata -> valid Azure blob metadata."""
    encoded: dict[str, str] = {}
    for name, value in metadata.items():
        azure_name = name.replace("-", "_")
        if not _METADATA_NAME.match(azure_name):
            raise ValueError(f"metadata name {name!r} cannot be stored on a blob")
        encoded[azure_name] = quote(str(value), safe=_SAFE_VALUE_CHARS)
    return encoded


def decode_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """Azure blob metadata -> core metadata (inverse of :func:`encode_metadata`)."""
    return {name.replace("_", "-"): unquote(value) for name, value in metadata.items()}


def _check_size(where: str, size: int | None, max_bytes: int) -> None:
    if size is not None and size > max_bytes:
        raise PayloadTooLarge(f"{where} is {size} bytes, limit is {max_bytes}")


def _download_at_most(blob: Any, where: str, max_bytes: int) -> Any:
    """A downloader holding at most ``max_bytes + 1`` bytes of the blob, or ``PayloadTooLarge``."""
    try:
        downloader = blob.download_blob(offset=0, length=max_bytes + 1)
    except HttpResponseError as exc:
        if exc.status_code != _RANGE_NOT_SATISFIABLE:
            raise
        # An empty blob has no byte range to ask for: read it by the ETag of the size we
        # checked, so a blob replaced in between (412) is retried instead of read unbounded.
        properties = blob.get_blob_properties()
        _check_size(where, properties.size, max_bytes)
        try:
            return blob.download_blob(
                etag=properties.etag, match_condition=MatchConditions.IfNotModified
            )
        except ResourceModifiedError as changed:
            raise TransientError(f"{where} changed while it was read") from changed
    total = str(downloader.properties.content_range or "").rpartition("/")[2]
    _check_size(where, int(total) if total.isdigit() else None, max_bytes)
    return downloader


class BlobObjectStore:
    """Implements ``shared.ports.ObjectStore`` with a ``BlobServiceClient``."""

    def __init__(self, service: Any) -> None:
        self._service = service

    def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Create or replace a block blob."""
        from azure.storage.blob import ContentSettings

        check_object_key(key)
        blob = self._service.get_blob_client(bucket, key)
        settings = ContentSettings(content_type=content_type) if content_type else None
        with transient_azure_errors(f"writing blob {bucket}/{key}"):
            blob.upload_blob(
                data,
                overwrite=True,
                content_settings=settings,
                metadata=encode_metadata(metadata or {}),
            )

    def get(self, bucket: str, key: str, *, max_bytes: int | None = None) -> StoredObject:
        """Read a blob; ``ObjectNotFound`` when it (or its container) does not exist.

        With ``max_bytes`` only bytes ``0..max_bytes`` are downloaded; the blob's full size,
        from the ranged answer's ``Content-Range``, decides ``PayloadTooLarge``.
        """
        check_object_key(key)
        blob = self._service.get_blob_client(bucket, key)
        where = f"blob {bucket}/{key}"
        try:
            with transient_azure_errors(f"reading {where}"):
                if max_bytes is None:
                    downloader = blob.download_blob()
                else:
                    downloader = _download_at_most(blob, where, max_bytes)
                data = downloader.readall()
        except ResourceNotFoundError:
            raise ObjectNotFound(f"{where} does not exist") from None
        if max_bytes is not None:
            _check_size(where, len(data), max_bytes)
        properties = downloader.properties
        return StoredObject(
            data=data,
            content_type=properties.content_settings.content_type,
            metadata=decode_metadata(properties.metadata or {}),
        )

    def exists(self, bucket: str, key: str) -> bool:
        """Whether the blob exists."""
        check_object_key(key)
        with transient_azure_errors(f"checking blob {bucket}/{key}"):
            return bool(self._service.get_blob_client(bucket, key).exists())

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Blob names under ``prefix``, sorted."""
        container = self._service.get_container_client(bucket)
        with transient_azure_errors(f"listing container {bucket}"):
            return sorted(container.list_blob_names(name_starts_with=prefix or None))
