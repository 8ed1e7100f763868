"""S3 implementation of the ``ObjectStore`` port."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from botocore.exceptions import ClientError

from functions.aws.clients import AwsClients
from functions.aws.errors import error_code, http_status, transient_errors
from shared.errors import ObjectNotFound, PermanentError
from shared.ports import StoredObject

_MISSING = {"NoSuchKey", "NotFound", "404"}


def _ascii_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """S3 user metadata travels in HTTP headers: percent-encode anything outside ASCII."""
    return {
        key: value if value.isascii() else quote(value, safe=" /-_.~:@")
        for key, value in metadata.items()
    }


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
        arguments: dict[str, object] = {"Bucket": bucket, "Key": key, "Body": data}
        if content_type:
            arguments["ContentType"] = content_type
        if metadata:
            arguments["Metadata"] = _ascii_metadata(metadata)
        with transient_errors(f"S3 PutObject s3://{bucket}/{key}"):
            self._clients.s3.put_object(**arguments)

    def get(self, bucket: str, key: str) -> StoredObject:
        """GetObject; ``ObjectNotFound`` when the key (or bucket) does not exist."""
        try:
            with transient_errors(f"S3 GetObject s3://{bucket}/{key}"):
                response = self._clients.s3.get_object(Bucket=bucket, Key=key)
                data = response["Body"].read()
        except ClientError as exc:
            code = error_code(exc)
            if code in _MISSING or (http_status(exc) == 404 and code != "NoSuchBucket"):
                raise ObjectNotFound(f"s3://{bucket}/{key} does not exist") from exc
            if code == "NoSuchBucket":
                raise PermanentError(f"bucket {bucket!r} does not exist") from exc
            raise
        return StoredObject(
            data=data,
            content_type=response.get("ContentType"),
            metadata=dict(response.get("Metadata") or {}),
        )

    def exists(self, bucket: str, key: str) -> bool:
        """HeadObject; False on 404."""
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
