"""ObjectStore contract: put/get/exists/list_keys, ObjectNotFound, bounded reads."""

from __future__ import annotations

import pytest

from shared.errors import ObjectNotFound, PayloadTooLarge
from tests.contract.conftest import ObjectBackend

BIG = bytes(range(256)) * 40  # 10 240 bytes: an upload overwritten by a bigger object


def test_put_then_get_keeps_bytes_content_type_and_metadata(object_backend: ObjectBackend) -> None:
    store, bucket = object_backend.store, object_backend.bucket
    key = "uploads/a b/photo 1.jpg"
    store.put(
        bucket,
        key,
        b"\x89PNG\x00data",
        content_type="image/png",
        metadata={"source-key": "uploads/x.jpg", "correlation-id": "c-1"},
    )
    stored = store.get(bucket, key)
    assert stored.data == b"\x89PNG\x00data"
    assert stored.content_type == "image/png"
    assert dict(stored.metadata) == {"source-key": "uploads/x.jpg", "correlation-id": "c-1"}


def test_put_replaces_an_object(object_backend: ObjectBackend) -> None:
    store, bucket = object_backend.store, object_backend.bucket
    store.put(bucket, "thumbnails/k/256.jpg", b"first", content_type="image/png")
    store.put(bucket, "thumbnails/k/256.jpg", b"second", content_type="image/jpeg")
    stored = store.get(bucket, "thumbnails/k/256.jpg")
    assert (stored.data, stored.content_type) == (b"second", "image/jpeg")


def test_exists_and_sorted_prefix_listing(object_backend: ObjectBackend) -> None:
    store, bucket = object_backend.store, object_backend.bucket
    for key in ("uploads/b.jpg", "uploads/a.jpg", "other/c.jpg", "uploads/sub/d.jpg"):
        store.put(bucket, key, b"x")
    assert store.exists(bucket, "uploads/a.jpg")
    assert not store.exists(bucket, "uploads/missing.jpg")
    assert not store.exists(bucket, "uploads")  # a prefix is not an object
    assert store.list_keys(bucket, "uploads/") == [
        "uploads/a.jpg",
        "uploads/b.jpg",
        "uploads/sub/d.jpg",
    ]
    assert store.list_keys(bucket) == [
        "other/c.jpg",
        "uploads/a.jpg",
        "uploads/b.jpg",
        "uploads/sub/d.jpg",
    ]
    assert store.list_keys(bucket, "nothing/") == []


def test_a_missing_object_is_object_not_found(object_backend: ObjectBackend) -> None:
    store, bucket = object_backend.store, object_backend.bucket
    with pytest.raises(ObjectNotFound):
        store.get(bucket, "uploads/never.jpg")
    with pytest.raises(ObjectNotFound):
        store.get(bucket, "uploads/never.jpg", max_bytes=100)


def test_a_bounded_read_refuses_a_larger_object_reading_at_most_the_limit_plus_one(
    object_backend: ObjectBackend,
) -> None:
    store, bucket, downloads = object_backend.store, object_backend.bucket, object_backend.downloads
    store.put(bucket, "uploads/big.bin", BIG, content_type="image/jpeg")
    store.put(bucket, "uploads/empty.bin", b"")
    if downloads is not None:
        downloads.clear()

    with pytest.raises(PayloadTooLarge, match="limit"):
        store.get(bucket, "uploads/big.bin", max_bytes=100)
    if downloads is not None:
        assert all(size <= 101 for size in downloads), downloads  # never the whole object
    with pytest.raises(PayloadTooLarge):
        store.get(bucket, "uploads/big.bin", max_bytes=len(BIG) - 1)
    exact = store.get(bucket, "uploads/big.bin", max_bytes=len(BIG))
    assert (exact.data, exact.content_type) == (BIG, "image/jpeg")
    if downloads is not None:
        assert len(BIG) in downloads  # the probe sees the transfers it bounds
    assert store.get(bucket, "uploads/empty.bin", max_bytes=100).data == b""
    assert store.get(bucket, "uploads/empty.bin", max_bytes=0).data == b""
    if downloads is not None:
        assert max(downloads) <= len(BIG) + 1
