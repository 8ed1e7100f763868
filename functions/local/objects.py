"""Filesystem object store: ``<root>/<bucket>/<key>``, metadata in a sidecar JSON file.

An optional notification hook fires after each successful put, the way S3 -> EventBridge,
GCS -> Pub/Sub and Blob Storage -> Event Grid do in the clouds.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from shared.errors import ObjectNotFound, PayloadTooLarge, PermanentError
from shared.ports import StoredObject
from shared.storage_events import check_object_key

ObjectCreated = Callable[[str, str, int, str | None, str], None]
_META_SUFFIX = ".meta.json"
# A file name holds at most 255 bytes; the sidecar adds ".meta.json" and the temporary file
# ".<name>.<pid>.tmp" (pid up to 7 digits) to a segment, so segments stop 15 bytes short.
MAX_SEGMENT_BYTES = 240


def _check_size(bucket: str, key: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise PayloadTooLarge(f"{bucket}/{key} is {size} bytes, limit is {max_bytes}")


class FilesystemObjectStore:
    """Buckets are directories; keys may contain ``/`` but never escape their bucket."""

    def __init__(self, root: Path, *, on_created: ObjectCreated | None = None) -> None:
        self.root = root
        self.on_created = on_created

    def _path(self, bucket: str, key: str) -> Path:
        if not bucket or "/" in bucket or bucket in (".", ".."):
            raise PermanentError(f"invalid bucket name {bucket!r}")
        check_object_key(bucket, max_segment_bytes=MAX_SEGMENT_BYTES)
        # Checked before anything touches the disk: a key no store can hold is refused as a
        # permanent error, never written first and rejected afterwards.
        check_object_key(key, max_segment_bytes=MAX_SEGMENT_BYTES)
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts) or key.endswith(_META_SUFFIX):
            raise PermanentError(f"invalid object key {key!r}")
        return self.root / bucket / Path(*parts)

    def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Write atomically (temp file + rename), then notify."""
        path = self._path(bucket, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_bytes(data)
        temporary.replace(path)
        sidecar = {"content_type": content_type, "metadata": dict(metadata or {})}
        path.with_name(path.name + _META_SUFFIX).write_text(json.dumps(sidecar), encoding="utf-8")
        if self.on_created is not None:
            etag = f"{path.stat().st_mtime_ns:x}-{len(data):x}"
            self.on_created(bucket, key, len(data), content_type, etag)

    def get(self, bucket: str, key: str, *, max_bytes: int | None = None) -> StoredObject:
        """Read an object or raise ``ObjectNotFound``.

        With ``max_bytes``, a larger file is ``PayloadTooLarge`` by its ``stat()`` size, and at
        most ``max_bytes + 1`` bytes are read (a file replaced meanwhile stays bounded).
        """
        path = self._path(bucket, key)
        try:
            with path.open("rb") as file:
                if max_bytes is None:
                    data = file.read()
                else:
                    _check_size(bucket, key, os.fstat(file.fileno()).st_size, max_bytes)
                    data = file.read(max_bytes + 1)
        except FileNotFoundError:
            raise ObjectNotFound(f"{bucket}/{key} does not exist") from None
        if max_bytes is not None:
            _check_size(bucket, key, len(data), max_bytes)
        try:
            sidecar = json.loads(path.with_name(path.name + _META_SUFFIX).read_text("utf-8"))
        except FileNotFoundError:
            sidecar = {}
        return StoredObject(data, sidecar.get("content_type"), sidecar.get("metadata", {}))

    def exists(self, bucket: str, key: str) -> bool:
        """Whether the object exists."""
        return self._path(bucket, key).is_file()

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Keys under a prefix, sorted."""
        base = self.root / bucket
        if not base.is_dir():
            return []
        keys = (
            p.relative_to(base).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.endswith(_META_SUFFIX) and not p.name.endswith(".tmp")
        )
        return sorted(k for k in keys if k.startswith(prefix))
