"""Uploads: S3 -> EventBridge (default bus) -> both image queues -> thumbnails and index."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from functions.aws.clients import AwsClients
from functions.local import samples
from shared.images.metadata import image_id
from tests.integration.aws.conftest import unique_prefix
from tests.integration.aws.harness import Deployment
from tests.integration.aws.topology import create_topology

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def suite(clients: AwsClients) -> Deployment:
    topology = create_topology(clients, unique_prefix("img"), visibility_timeout_seconds=30)
    return Deployment(clients, topology, env={"EVENTSUITE_MAILER": "ses"})


@pytest.fixture(autouse=True)
def _empty_queues(suite: Deployment) -> None:
    suite.purge()


def _upload(suite: Deployment, key: str, data: bytes, content_type: str = "image/jpeg") -> None:
    suite.clients.s3.put_object(
        Bucket=suite.topology.names.buckets["uploads"], Key=key, Body=data, ContentType=content_type
    )


def test_an_upload_reaches_both_image_queues_through_eventbridge(suite: Deployment) -> None:
    _upload(suite, "uploads/probe/one.jpg", samples.jpeg_with_exif((640, 480)))
    # moto's S3 really emits the "Object Created" event to the default bus, and the uploads
    # rules route it to each image consumer's queue (no emulation with put_events needed).
    for consumer in ("thumbnailer", "indexer"):
        messages = suite.pollers[consumer].peek()
        assert len(messages) == 1
        envelope = json.loads(messages[0]["Body"])
        assert envelope["source"] == "aws.s3"
        assert envelope["detail-type"] == "Object Created"
        assert envelope["detail"]["object"]["key"] == "uploads/probe/one.jpg"
    assert suite.queue_depth("payments") == 0
    assert suite.queue_depth("notifier") == 0


def _versions(suite: Deployment, bucket: str, prefix: str) -> list[str]:
    listing = suite.clients.s3.list_object_versions(Bucket=bucket, Prefix=prefix)
    return sorted(v["VersionId"] for v in listing.get("Versions", []))


def test_upload_becomes_thumbnails_and_an_index_item(suite: Deployment) -> None:
    key = "uploads/2026/lisbon.jpg"
    _upload(suite, key, samples.jpeg_with_exif((1600, 1200), orientation=1))

    history = suite.drain_all(["thumbnailer", "indexer"])

    assert [i.failures for i in history["thumbnailer"]] == [[]]
    assert [i.failures for i in history["indexer"]] == [[]]
    thumbnails = suite.topology.names.buckets["thumbnails"]
    keys = suite.clients.s3.list_objects_v2(Bucket=thumbnails, Prefix="thumbnails/2026/lisbon.jpg/")
    stored = sorted(item["Key"] for item in keys.get("Contents", []))
    assert stored == ["thumbnails/2026/lisbon.jpg/1024.jpg", "thumbnails/2026/lisbon.jpg/256.jpg"]
    body = suite.clients.s3.get_object(Bucket=thumbnails, Key=stored[1])["Body"].read()
    assert max(Image.open(io.BytesIO(body)).size) == 256

    uploads = suite.topology.names.buckets["uploads"]
    item = suite.clients.dynamodb.get_item(
        TableName=suite.topology.names.tables["index"],
        Key={"image_id": {"S": image_id(uploads, key)}},
    )["Item"]
    assert item["camera_make"]["S"] == "Fujifilm"
    assert item["width"]["N"] == "1600"
    assert item["captured_at"]["S"].startswith("2026-08-14T18:32:05")
    # Writing the thumbnails (another bucket) triggered nothing: no recursion.
    assert {c: suite.queue_depth(c) for c in suite.pollers} == dict.fromkeys(suite.pollers, 0)
    assert {c: suite.dead_letters(c) for c in suite.pollers} == {c: [] for c in suite.pollers}


def test_objects_outside_the_uploads_prefix_are_not_delivered(suite: Deployment) -> None:
    _upload(suite, "incoming/not-an-upload.jpg", samples.jpeg_with_exif((64, 64)))
    _upload(suite, "thumbnails/also-not.jpg", samples.jpeg_with_exif((64, 64)))
    assert suite.queue_depth("thumbnailer") == 0
    assert suite.queue_depth("indexer") == 0


def test_a_corrupt_image_is_dead_lettered_with_its_reason(suite: Deployment) -> None:
    good = samples.jpeg_with_exif((800, 600))
    _upload(suite, "uploads/broken.jpg", good[: len(good) // 3])

    history = suite.drain_all(["thumbnailer", "indexer"])

    for consumer in ("thumbnailer", "indexer"):
        # Permanent: parked on the first attempt, acknowledged (no retries burnt).
        assert [i.failures for i in history[consumer]] == [[]]
        assert suite.queue_depth(consumer) == 0
        (letter,) = suite.dead_letters(consumer)
        assert letter.attributes["consumer"] == consumer
        assert letter.attributes["attempts"] == "1"
        assert "image" in letter.attributes["reason"].lower()
        assert letter.attributes["event_type"] == "io.eventsuite.ImageUploaded"
        # The body is the original delivery, so a redrive replays exactly it.
        assert letter.json()["detail"]["object"]["key"] == "uploads/broken.jpg"
    thumbnails = suite.topology.names.buckets["thumbnails"]
    assert "Contents" not in suite.clients.s3.list_objects_v2(
        Bucket=thumbnails, Prefix="thumbnails/broken.jpg/"
    )


def test_a_duplicate_delivery_changes_nothing(suite: Deployment) -> None:
    key = "uploads/dup.jpg"
    _upload(suite, key, samples.jpeg_with_exif((400, 300)))
    first = {c: suite.pollers[c].peek()[0]["Body"] for c in ("thumbnailer", "indexer")}
    suite.purge()
    for consumer, body in first.items():
        suite.send_raw(consumer, body)
    suite.drain_all(["thumbnailer", "indexer"])

    uploads = suite.topology.names.buckets["uploads"]
    thumbnails = suite.topology.names.buckets["thumbnails"]
    table = suite.topology.names.tables["index"]
    index_key = {"image_id": {"S": image_id(uploads, key)}}
    before_item = suite.clients.dynamodb.get_item(TableName=table, Key=index_key)["Item"]
    before_versions = _versions(suite, thumbnails, "thumbnails/dup.jpg/")
    assert len(before_versions) == 2  # two renditions, one version each

    for consumer, body in first.items():  # EventBridge/SQS deliver at least once: again
        suite.send_raw(consumer, body)
    history = suite.drain_all(["thumbnailer", "indexer"])

    assert all(not i.failures for runs in history.values() for i in runs)
    after_item = suite.clients.dynamodb.get_item(TableName=table, Key=index_key)["Item"]
    assert after_item == before_item  # indexed_at (millisecond clock) did not move
    # Buckets are versioned (as Terraform makes them): a second render would add versions.
    assert _versions(suite, thumbnails, "thumbnails/dup.jpg/") == before_versions
    assert suite.dead_letters("thumbnailer") == [] and suite.dead_letters("indexer") == []
