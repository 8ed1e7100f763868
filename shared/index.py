"""Metadata-index query semantics shared by every adapter that filters in process."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.ports import IndexQuery


def matches(document: Mapping[str, Any], query: IndexQuery) -> bool:
    """Whether ``document`` satisfies every filter of ``query`` (see ``MetadataIndex.search``)."""
    if query.camera:
        needle = query.camera.lower()
        camera = f"{document.get('camera_make') or ''} {document.get('camera_model') or ''}"
        if needle not in camera.lower():
            return False
    captured = document.get("captured_at")
    if query.captured_from and (not captured or captured < query.captured_from):
        return False
    if query.captured_to and (not captured or captured > query.captured_to):
        return False
    return not (query.min_width is not None and int(document.get("width") or 0) < query.min_width)
