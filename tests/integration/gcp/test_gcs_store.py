"""The Cloud Storage ObjectStore against gcp-storage-emulator: what is specific to GCS (the
ObjectStore behaviour common to every backend is in tests/contract)."""

from __future__ import annotations

from typing import Any

import pytest

from functions.gcp.clients import GcpClients
from functions.gcp.gcs import GcsObjectStore
from shared.catalog import default_catalog
from shared.envelope import ClaimCheckPublisher, decode, new_event
from shared.errors import ObjectNotFound, PayloadTooLarge, TransientError
from tests.builders import payment_failed_data
from tests.fakes import FakePublisher

pytestmark = pytest.mark.integration


@pytest.fixture
def store(storage_client: Any) -> GcsObjectStore:
    return GcsObjectStore(lambda: storage_client)


def test_a_bounded_read_checks_the_size_and_fetches_at_most_the_limit_plus_one_byte(
    store: GcsObjectStore, buckets: dict[str, str], storage_client: Any
) -> None:
    data = bytes(range(256)) * 40  # 10 240 bytes: an upload overwritten by a bigger object
    store.put(buckets["uploads"], "uploads/big.bin", data, content_type="image/jpeg")
    store.put(buckets["uploads"], "uploads/empty.bin", b"")
    downloaded: list[int] = []  # Content-Length of every media download

    def record(response: Any, *args: Any, **kwargs: Any) -> None:
        if "alt=media" in response.url:
            downloaded.append(int(response.headers["content-length"]))

    session = storage_client._http
    session.hooks["response"].append(record)
    try:
        with pytest.raises(PayloadTooLarge, match="is 10240 bytes, limit is 100"):
            store.get(buckets["uploads"], "uploads/big.bin", max_bytes=100)
        assert downloaded == []  # the object's size said no before any byte was fetched
        exact = store.get(buckets["uploads"], "uploads/big.bin", max_bytes=len(data))
        assert (exact.data, exact.content_type) == (data, "image/jpeg")
        assert downloaded == [len(data)]  # a range of max_bytes + 1 holds the whole object
        assert store.get(buckets["uploads"], "uploads/empty.bin", max_bytes=100).data == b""
        with pytest.raises(ObjectNotFound):
            store.get(buckets["uploads"], "uploads/never.bin", max_bytes=100)
    finally:
        session.hooks["response"].remove(record)


def test_a_ranged_download_is_bounded_even_if_the_size_was_not_known(
    store: GcsObjectStore, buckets: dict[str, str], storage_client: Any
) -> None:
    """The metadata said the object was small, the download is cut at max_bytes + 1 anyway."""
    data = b"x" * 5000
    store.put(buckets["uploads"], "uploads/grew.bin", data)
    blob = storage_client.bucket(buckets["uploads"]).get_blob("uploads/grew.bin")
    blob._properties["size"] = "10"  # what get_blob saw before the object was overwritten
    client = _SingleBlobClient(storage_client, blob)

    with pytest.raises(PayloadTooLarge, match="is 101 bytes, limit is 100"):
        GcsObjectStore(lambda: client).get(buckets["uploads"], "uploads/grew.bin", max_bytes=100)


class _SingleBlobClient:
    """A storage client whose ``get_blob`` answers with one prepared (real) blob."""

    def __init__(self, client: Any, blob: Any) -> None:
        self._client, self._blob = client, blob

    def bucket(self, name: str) -> Any:
        return self

    def get_blob(self, key: str, **kwargs: Any) -> Any:
        return self._blob


def test_a_missing_bucket_is_a_transient_error_naming_the_object(store: GcsObjectStore) -> None:
    with pytest.raises(TransientError, match="gs://no-such-bucket-for-eventsuite/k"):
        store.put("no-such-bucket-for-eventsuite", "k", b"x")


def test_client_is_built_lazily_from_the_environment(
    store: GcsObjectStore, buckets: dict[str, str]
) -> None:
    store.put(buckets["uploads"], "uploads/lazy.jpg", b"x")
    clients = GcpClients(project="test-project")  # STORAGE_EMULATOR_HOST is set: anonymous
    lazy = GcsObjectStore(clients.storage)
    assert clients.created() == []  # building the adapter touched nothing

    assert lazy.exists(buckets["uploads"], "uploads/lazy.jpg") is True
    assert clients.created() == ["storage"]
    assert clients.storage() is clients.storage()  # one client per process


def test_claim_check_through_cloud_storage(store: GcsObjectStore, buckets: dict[str, str]) -> None:
    inner = FakePublisher()
    publisher = ClaimCheckPublisher(
        inner,
        lambda: store,
        bucket=buckets["claims"],
        threshold_bytes=512,
        prefix=default_catalog().storage["claims_prefix"],
    )
    big = new_event(
        "PaymentFailed",
        payment_failed_data(
            "ord_1234567890abcdef", email="x" * 200 + "@example.com", amount=1, reason="r" * 500
        ),
        source="urn:eventsuite/tests",
    )

    publisher.publish([big])

    [sent] = inner.events
    assert sent.get_data() is None
    assert sent["dataref"] == f"claim://{buckets['claims']}/claims/{big['id']}.json"
    assert store.list_keys(buckets["claims"]) == [f"claims/{big['id']}.json"]
    event = decode(sent, objects=store)
    assert event.data["reason"] == "r" * 500
