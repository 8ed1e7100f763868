"""The image handlers read uploads through the object store with the catalog's size limit."""

from __future__ import annotations

import pytest

from shared.catalog import default_catalog
from shared.dispatch import Dispatcher, Outcome
from shared.errors import PayloadTooLarge
from shared.ports import StoredObject
from tests.builders import image_event
from tests.fakes import FakeObjectStore, fake_ports

OVERWRITTEN_SIZE = 5 * 1024**3


class OverwrittenUploadStore(FakeObjectStore):
    """An upload that was small when its event was sent and is 5 GiB now.

    An unbounded ``get`` is what ran the function out of memory: here it fails the test
    instead. A bounded one answers as every adapter does, from the object's size.
    """

    def get(self, bucket: str, key: str, *, max_bytes: int | None = None) -> StoredObject:
        self.reads.append((bucket, key, max_bytes))
        if max_bytes is None:
            raise AssertionError(f"unbounded read of {OVERWRITTEN_SIZE} bytes: out of memory")
        raise PayloadTooLarge(f"{bucket}/{key} is {OVERWRITTEN_SIZE} bytes, limit is {max_bytes}")


@pytest.mark.parametrize("consumer", ["thumbnailer", "indexer"])
def test_an_upload_overwritten_by_a_huge_object_is_refused_without_reading_it(
    consumer: str,
) -> None:
    store = OverwrittenUploadStore()
    ports = fake_ports(objects=store)
    event = image_event(key="uploads/holiday.jpg", size=2_000)  # the size when it was uploaded

    result = Dispatcher(consumer, ports).deliver(event)

    limit = default_catalog().images["max_upload_bytes"]
    assert store.reads == [("uploads", "uploads/holiday.jpg", limit)]
    assert result.outcome is Outcome.DEAD_LETTERED
    [entry] = ports.dead_letters.entries
    assert f"is {OVERWRITTEN_SIZE} bytes, limit is {limit}" in entry["reason"]
    assert store.puts == 0 and ports.index.documents == {}


def test_an_upload_within_the_limit_is_read_with_the_limit() -> None:
    from functions.local import samples

    store = FakeObjectStore()
    data = samples.jpeg_with_exif((640, 480), orientation=1)
    store.put("uploads", "uploads/ok.jpg", data, content_type="image/jpeg")
    ports = fake_ports(objects=store)

    result = Dispatcher("thumbnailer", ports).deliver(
        image_event(key="uploads/ok.jpg", size=len(data))
    )

    assert result.outcome is Outcome.PROCESSED
    assert store.reads == [
        ("uploads", "uploads/ok.jpg", default_catalog().images["max_upload_bytes"])
    ]
