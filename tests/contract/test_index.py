"""MetadataIndex contract: upsert, get, and search as shared/ports.py documents it."""

from __future__ import annotations

from shared.ports import IndexQuery, MetadataIndex
from tests.builders import image_document

DOCUMENTS = [
    image_document(
        "a1",
        camera_make="Fujifilm",
        camera_model="X-T5",
        width=6000,
        captured_at="2026-08-14T18:32:05",
        gps={"lat": 38.7223, "lon": -9.1393},
    ),
    image_document(
        "b2",
        camera_make="Canon",
        camera_model="EOS R6",
        width=1200,
        captured_at="2025-01-01T00:00:00",
    ),
    image_document(
        "c3",
        camera_make="NIKON CORPORATION",
        camera_model="Z 6",
        width=4000,
        captured_at="2025-06-30T23:59:59",
    ),
    image_document("d4", width=640),  # no EXIF at all
]


def _ids(index: MetadataIndex, **filters: object) -> list[str]:
    return [d["image_id"] for d in index.search(IndexQuery(**filters))]  # type: ignore[arg-type]


def _load(index: MetadataIndex) -> None:
    for document in reversed(DOCUMENTS):  # stored order must not matter
        index.put(document)


def test_get_returns_the_document_as_put(metadata_index: MetadataIndex) -> None:
    _load(metadata_index)
    for document in DOCUMENTS:  # floats, nesting, None and big ints survive the round trip
        assert metadata_index.get(document["image_id"]) == document
    assert metadata_index.get("zz") is None


def test_put_is_an_upsert_by_image_id(metadata_index: MetadataIndex) -> None:
    _load(metadata_index)
    replaced = image_document("b2", camera_make="Sony", camera_model="A7 IV", width=7000)
    metadata_index.put(replaced)
    assert metadata_index.get("b2") == replaced
    assert _ids(metadata_index, camera="canon") == []
    assert _ids(metadata_index, camera="sony") == ["b2"]
    assert _ids(metadata_index, min_width=6500) == ["b2"]
    assert _ids(metadata_index) == ["a1", "b2", "c3", "d4"]


def test_without_filters_search_returns_everything_by_image_id(
    metadata_index: MetadataIndex,
) -> None:
    _load(metadata_index)
    assert metadata_index.search(IndexQuery()) == DOCUMENTS
    assert _ids(metadata_index, limit=2) == ["a1", "b2"]


def test_camera_is_a_case_insensitive_substring_of_make_or_model(
    metadata_index: MetadataIndex,
) -> None:
    _load(metadata_index)
    assert _ids(metadata_index, camera="x-t") == ["a1"]  # model
    assert _ids(metadata_index, camera="FUJI") == ["a1"]  # make
    assert _ids(metadata_index, camera="nikon corp") == ["c3"]
    assert _ids(metadata_index, camera="o") == ["b2", "c3"]
    assert _ids(metadata_index, camera="leica") == []


def test_the_capture_range_is_inclusive_and_skips_undated_images(
    metadata_index: MetadataIndex,
) -> None:
    _load(metadata_index)
    assert _ids(metadata_index, captured_from="2026-01-01") == ["a1"]
    assert _ids(metadata_index, captured_to="2025-06-30T23:59:59") == ["b2", "c3"]
    assert _ids(
        metadata_index, captured_from="2025-01-01T00:00:00", captured_to="2025-06-30T23:59:59"
    ) == ["b2", "c3"]
    assert _ids(metadata_index, captured_from="2025-01-01T00:00:01", captured_to="2026") == ["c3"]


def test_min_width_is_inclusive_and_filters_combine(metadata_index: MetadataIndex) -> None:
    _load(metadata_index)
    assert _ids(metadata_index, min_width=4000) == ["a1", "c3"]
    assert _ids(metadata_index, min_width=1200, captured_to="2025-12-31") == ["b2", "c3"]
    assert _ids(metadata_index, min_width=1000, camera="o", limit=1) == ["b2"]
    assert _ids(metadata_index, min_width=10_000) == []


def test_the_index_keeps_a_copy_of_what_was_put(metadata_index: MetadataIndex) -> None:
    document = image_document("e5", width=900, gps={"lat": 1.5, "lon": 2.5})
    metadata_index.put(document)
    document["width"] = 1
    document["gps"]["lat"] = 0.0  # the caller reuses its dict: the stored one must not move
    stored = metadata_index.get("e5")
    assert stored is not None
    assert (stored["width"], stored["gps"]) == (900, {"lat": 1.5, "lon": 2.5})
    stored["width"] = 2
    assert metadata_index.get("e5") == image_document("e5", width=900, gps={"lat": 1.5, "lon": 2.5})
