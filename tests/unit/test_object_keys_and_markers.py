"""Object keys no store can hold are refused permanently at the first attempt, before any
write; folder markers and empty objects under the uploads prefix are acknowledged, not
dead-lettered (issue 12, item 5)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from functions.common.runtime import ConsumerFunction
from functions.local.backend import LocalBackend
from functions.local.objects import FilesystemObjectStore
from shared.dispatch import Dispatcher
from shared.envelope import new_event
from shared.errors import CorruptImage, InvalidObjectKey
from shared.images.metadata import extract_metadata
from shared.storage_events import MAX_KEY_BYTES, check_object_key, image_uploaded, skip_reason
from tests.fakes import FakeDeadLetters, fake_ports

EVENTS = Path(__file__).resolve().parents[1] / "events"
# 6 segments of 200 bytes: every segment fits a file name, the whole key does not fit S3/GCS.
LONG_KEY = "uploads/" + "/".join(["a" * 200] * 6)
BAD_KEYS = {
    "NUL": "uploads/a\x00b.jpg",
    "LF": "uploads/a\nb.jpg",
    "over 1,024 bytes": LONG_KEY,
    "lone surrogate": "uploads/\udcff.jpg",
}


@pytest.mark.parametrize("name", sorted(BAD_KEYS))
def test_keys_no_store_can_hold_are_typed_permanent_errors(name: str) -> None:
    with pytest.raises(InvalidObjectKey):
        check_object_key(BAD_KEYS[name])
    with pytest.raises(InvalidObjectKey):
        image_uploaded(bucket="b", key=BAD_KEYS[name], size=10, source="urn:t")


def test_a_key_of_exactly_the_limit_is_fine_and_counts_bytes_not_characters() -> None:
    assert len(LONG_KEY.encode()) > MAX_KEY_BYTES
    fits = "uploads/" + "é" * ((MAX_KEY_BYTES - 8) // 2)
    assert len(fits.encode()) == MAX_KEY_BYTES
    assert check_object_key(fits) == fits
    with pytest.raises(InvalidObjectKey):
        check_object_key(fits + "x")
    with pytest.raises(InvalidObjectKey, match="segment"):
        check_object_key("uploads/" + "b" * 241 + ".jpg", max_segment_bytes=240)


@pytest.mark.parametrize(
    "key", [*BAD_KEYS.values(), "uploads/" + "x" * 300 + ".jpg"], ids=[*BAD_KEYS, "segment"]
)
def test_the_local_store_refuses_before_writing_anything(tmp_path: Path, key: str) -> None:
    store = FilesystemObjectStore(tmp_path / "objects")
    notified: list[str] = []
    store.on_created = lambda bucket, key, *rest: notified.append(key)
    with pytest.raises(InvalidObjectKey):
        store.put("uploads", key, b"data")
    for call in (lambda: store.get("uploads", key), lambda: store.exists("uploads", key)):
        with pytest.raises(InvalidObjectKey):  # not ValueError / OSError: never retried
            call()
    assert not any((tmp_path / "objects").rglob("*")), "nothing may be written"
    assert notified == []


def test_an_over_long_key_is_neither_written_nor_announced_by_the_local_backend(
    tmp_path: Path,
) -> None:
    backend = LocalBackend.open(tmp_path / "home")
    try:
        with pytest.raises(InvalidObjectKey):
            backend.objects.put(backend.settings.uploads_bucket, LONG_KEY, b"\x89PNG")
        assert backend.objects.list_keys(backend.settings.uploads_bucket) == []
        assert backend.broker.pending() == 0
    finally:
        backend.close()


def _forged_upload(key: str) -> Any:
    return new_event(
        "ImageUploaded",
        {
            "bucket": "uploads",
            "key": key,
            "size": 10,
            "content_type": "image/png",
            "etag": None,
            "uploaded_at": "2026-01-01T00:00:00Z",
        },
        source="urn:t",
    )


@pytest.mark.parametrize("consumer", ["thumbnailer", "indexer"])
@pytest.mark.parametrize(
    "key", ["uploads/a\x00b.png", "uploads/" + "x" * 300 + ".png"], ids=["NUL", "segment"]
)
def test_an_event_naming_such_a_key_is_dead_lettered_at_the_first_attempt(
    tmp_path: Path, consumer: str, key: str
) -> None:
    backend = LocalBackend.open(tmp_path / "home", base_backoff=0.01)
    try:
        backend.broker.publish([_forged_upload(key)])
        stats = backend.run(max_seconds=20)
        letters = backend.broker.dead_letters(consumer)
        assert [
            (d.attempts, "invalid object key" in d.reason or "object key" in d.reason)
            for d in letters
        ] == [(1, True)], letters
        assert stats.retried == 0
    finally:
        backend.close()


class ExplodingClient:
    """Any SDK call fails the test: a refused key must never reach the network."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"SDK touched ({name}) for a key that must be refused first")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("SDK touched for a key that must be refused first")


def _cloud_stores() -> dict[str, Any]:
    from functions.aws.adapters.s3 import S3ObjectStore
    from functions.azure.adapters.blob import BlobObjectStore
    from functions.gcp.gcs import GcsObjectStore

    return {
        "s3": S3ObjectStore(ExplodingClient()),  # type: ignore[arg-type]
        "gcs": GcsObjectStore(ExplodingClient()),
        "blob": BlobObjectStore(ExplodingClient()),
    }


@pytest.mark.parametrize("store_name", ["s3", "gcs", "blob"])
@pytest.mark.parametrize("name", sorted(BAD_KEYS))
def test_cloud_stores_refuse_such_keys_as_permanent_without_a_call(
    store_name: str, name: str
) -> None:
    store = _cloud_stores()[store_name]
    key = BAD_KEYS[name]
    for call in (
        lambda: store.put("b", key, b"x"),
        lambda: store.get("b", key, max_bytes=10),
        lambda: store.exists("b", key),
    ):
        with pytest.raises(InvalidObjectKey):
            call()


# -- folder markers and empty objects -------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "size", "why"),
    [
        ("uploads/2025/", 0, "folder marker"),
        ("uploads/2025/", None, "folder marker"),
        ("uploads/empty.jpg", 0, "empty"),
        ("thumbnails/a.jpg", 10, "outside the uploads prefix"),
    ],
)
def test_skip_reasons(key: str, size: int | None, why: str) -> None:
    assert why in str(skip_reason(key, size))


def test_a_real_upload_is_not_skipped() -> None:
    assert skip_reason("uploads/a.jpg", 10) is None


def _never_called(event: Any) -> None:
    raise AssertionError("a folder marker must not reach the handler")


def _s3_folder_body(key: str = "uploads/2025/", size: int = 0) -> str:
    record = json.loads((EVENTS / "aws" / "sqs_s3_object_created.json").read_text())["Records"][0]
    envelope = json.loads(record["body"])
    envelope["detail"]["object"].update(key=key, size=size)
    return json.dumps(envelope)


@pytest.mark.parametrize("consumer", ["thumbnailer", "indexer"])
def test_an_s3_console_folder_is_acknowledged_not_dead_lettered(consumer: str) -> None:
    from functions.aws.functions import QueueFunction

    ports = fake_ports()
    function = QueueFunction(ConsumerFunction(Dispatcher(consumer, ports, handler=_never_called)))
    records = [
        {"messageId": "m1", "body": _s3_folder_body(), "attributes": {}},
        {"messageId": "m2", "body": _s3_folder_body("uploads/empty.jpg", 0), "attributes": {}},
    ]
    assert function({"Records": records}) == {"batchItemFailures": []}
    dead_letters = ports.dead_letters
    assert isinstance(dead_letters, FakeDeadLetters) and dead_letters.entries == []


def test_an_s3_event_outside_the_prefix_is_still_dead_lettered_as_miswired() -> None:
    from functions.aws.functions import QueueFunction

    ports = fake_ports()
    function = QueueFunction(ConsumerFunction(Dispatcher("indexer", ports, handler=_never_called)))
    body = _s3_folder_body("elsewhere/a.jpg", 10)
    assert function({"Records": [{"messageId": "m", "body": body}]}) == {"batchItemFailures": []}
    assert isinstance(ports.dead_letters, FakeDeadLetters)
    assert "outside the uploads prefix" in ports.dead_letters.entries[0]["reason"]


@pytest.mark.parametrize("key", ["uploads/2025/", "uploads/empty.png"])
def test_an_azure_folder_blob_is_acknowledged_not_poisoned(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import azure.functions as func

    from functions.azure import bootstrap, entrypoint

    payload = json.loads((EVENTS / "azure" / "blob_created_cloudevent.json").read_text())
    payload["subject"] = f"/blobServices/default/containers/uploads/blobs/{key}"
    payload["data"]["contentLength"] = 0
    ports = fake_ports()

    class OneRuntime:
        def consumer(self, name: str) -> ConsumerFunction:
            return ConsumerFunction(Dispatcher(name, ports, handler=_never_called))

    monkeypatch.setattr(bootstrap, "runtime", lambda *a: OneRuntime())
    message = func.QueueMessage(id="q1", body=json.dumps(payload).encode())
    assert entrypoint.handle_queue_message("thumbnailer", message) is None
    assert isinstance(ports.dead_letters, FakeDeadLetters) and ports.dead_letters.entries == []


def test_gcs_folder_markers_and_empty_objects_are_skipped() -> None:
    from functions.gcp.translate import (
        PubSubMessage,
        finalized_skip_reason,
        notification_skip_reason,
    )

    push = json.loads((EVENTS / "gcp" / "pubsub_push_storage_finalize.json").read_text())
    message = PubSubMessage.from_json(push["message"])
    resource = json.loads(message.data)
    folder = PubSubMessage(
        json.dumps({**resource, "name": "uploads/2025/", "size": "0"}).encode(),
        {**message.attributes, "objectId": "uploads/2025/"},
        "1",
    )
    empty = PubSubMessage(
        json.dumps({**resource, "size": "0"}).encode(), dict(message.attributes), "2"
    )
    assert "folder marker" in str(notification_skip_reason(folder))
    assert "empty" in str(notification_skip_reason(empty))
    assert notification_skip_reason(message) is None

    from cloudevents.http import CloudEvent

    delivery = json.loads((EVENTS / "gcp" / "eventarc_storage_finalized.json").read_text())
    attributes = {k[3:]: v for k, v in delivery["headers"].items() if k.startswith("ce-")}
    finalized = CloudEvent(attributes, {**delivery["body"], "size": "0"})
    assert "empty" in str(finalized_skip_reason(finalized))


def test_an_empty_local_upload_is_logged_not_announced(tmp_path: Path) -> None:
    backend = LocalBackend.open(tmp_path / "home")
    try:
        backend.upload("empty.jpg", b"")
        assert backend.broker.pending() == 0
        assert backend.broker.dead_letters() == []
    finally:
        backend.close()


def test_a_truncated_png_is_corrupt_for_the_indexer_too() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buffer, "PNG")
    data = buffer.getvalue()
    with pytest.raises(CorruptImage):
        extract_metadata(data[: len(data) // 2], bucket="b", key="uploads/t.png")


@pytest.mark.parametrize("attribute", ["correlationid", "traceparent", "subject", "source"])
def test_a_cloudevent_attribute_with_a_control_character_is_an_invalid_envelope(
    attribute: str,
) -> None:
    from shared.envelope import decode, from_structured, to_structured
    from shared.errors import InvalidEnvelope
    from tests.builders import order_v2

    body = to_structured(new_event("OrderPlaced", order_v2(), source="urn:t"))
    body[attribute] = "value-1\r\nBcc: evil@example.com"
    with pytest.raises(InvalidEnvelope, match="control characters"):
        decode(from_structured(json.dumps(body).encode()))
