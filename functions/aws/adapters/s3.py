"""S3 implementation of the ``ObjectStore`` port."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from functions.aws.clients import AwsClients
from functions.aws.errors import error_code, http_status, transient_errors
from shared.errors import ObjectNotFound, PayloadTooLarge, PermanentError
from shared.ports import StoredObject
from shared.storage_events import check_object_key

_MISSING = {"NoSuchKey", "NotFound", "404"}


def _ascii_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """S3 user metadata travels in HTTP headers: percent-encode anything outside ASCII."""
    return {
        key: value if value.isascii() else quote(value, safe=" /-_.~:@")
        for key, value in metadata.items()
    }


def _object_size(response: Mapping[str, Any]) -> int | None:
    """The whole object's size: ``Content-Range: bytes 0-N/<size>`` of a ranged answer, else
    ``Content-Length`` (the server sent the whole object)."""
    content_range = str(response.get("ContentRange") or "")
    total = content_range.rpartition("/")[2]
    if total.isdigit():
        return int(total)
    length = response.get("ContentLength")
    return int(length) if length is not None else None


def _check_size(where: str, size: int | None, max_bytes: int) -> None:
    if size is not None and size > max_bytes:
        raise PayloadTooLarge(f"{where} is {size} bytes, limit is {max_bytes}")


class S3ObjectStore:
    """Objects in S3 buckets; a missing key is ``ObjectNotFound``, throttling is transient."""

    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients

    def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """PutObject (replaces an existing object)."""
        check_object_key(key)
        arguments: dict[str, object] = {"Bucket": bucket, "Key": key, "Body": data}
        if content_type:
            arguments["ContentType"] = content_type
        if metadata:
            arguments["Metadata"] = _ascii_metadata(metadata)
        with transient_errors(f"S3 PutObject s3://{bucket}/{key}"):
            self._clients.s3.put_object(**arguments)

    def get(self, bucket: str, key: str, *, max_bytes: int | None = None) -> StoredObject:
        """GetObject; ``ObjectNotFound`` when the key (or bucket) does not exist.

        With ``max_bytes`` only the first ``max_bytes + 1`` bytes are requested
        (``Range: bytes=0-<max_bytes>``); the object's full size, from ``Content-Range``, decides
        ``PayloadTooLarge`` before the body is read.
        """
        where = f"s3://{bucket}/{key}"
        check_object_key(key)
        try:
            with transient_errors(f"S3 GetObject {where}"):
                response = self._get_object(bucket, key, max_bytes)
                body = response["Body"]
                try:
                    if max_bytes is None:
                        data = body.read()
                    else:
                        _check_size(where, _object_size(response), max_bytes)
                        data = body.read(max_bytes + 1)
                finally:
                    body.close()
        except ClientError as exc:
            code = error_code(exc)
            if code in _MISSING or (http_status(exc) == 404 and code != "NoSuchBucket"):
                raise ObjectNotFound(f"{where} does not exist") from exc
            if code == "NoSuchBucket":
                raise PermanentError(f"bucket {bucket!r} does not exist") from exc
            raise
        if max_bytes is not None:
            _check_size(where, len(data), max_bytes)
        return StoredObject(
            data=data,
            content_type=response.get("ContentType"),
            metadata=dict(response.get("Metadata") or {}),
        )

    def _get_object(self, bucket: str, key: str, max_bytes: int | None) -> dict[str, Any]:
        if max_bytes is None:
            response: dict[str, Any] = self._clients.s3.get_object(Bucket=bucket, Key=key)
            return response
        try:
            response = self._clients.s3.get_object(
                Bucket=bucket, Key=key, Range=f"bytes=0-{max_bytes}"
            )
        except ClientError as exc:
            if error_code(exc) != "InvalidRange":
                raise
            # S3 refuses any range of an empty object (416): read it whole. Its size is
            # checked again before the body is read, in case it was just overwritten.
            response = self._clients.s3.get_object(Bucket=bucket, Key=key)
        return response

    def exists(self, bucket: str, key: str) -> bool:
        """HeadObject; False on 404."""
        check_object_key(key)
        try:
            with transient_errors(f"S3 HeadObject s3://{bucket}/{key}"):
                self._clients.s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in _MISSING or http_status(exc) == 404:
                return False
            raise
        return True

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key under ``prefix`` (ListObjectsV2, paginated), sorted."""
        keys: list[str] = []
        with transient_errors(f"S3 ListObjectsV2 s3://{bucket}/{prefix}"):
            paginator = self._clients.s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)
