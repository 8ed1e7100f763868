"""Metadata-index query semantics shared by every adapter that filters in process."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.ports import IndexQuery


def _within(value: Any, low: float | None, high: float | None) -> bool:
    if low is None and high is None:
        return True
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return (low is None or number >= low) and (high is None or number <= high)


def in_box(gps: Any, box: tuple[float, float, float, float]) -> bool:
    """Whether a ``{"lat", "lon"}`` position lies in ``(south, west, north, east)``.

    A box whose west edge is east of its east edge crosses the 180th meridian.
    """
    if not isinstance(gps, Mapping):
        return False
    try:
        lat, lon = float(gps["lat"]), float(gps["lon"])
    except (KeyError, TypeError, ValueError):
        return False
    south, west, north, east = box
    if not south <= lat <= north:
        return False
    return west <= lon <= east if west <= east else (lon >= west or lon <= east)


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
    if query.format and str(document.get("format") or "").lower() != query.format.lower():
        return False
    bounds = (
        ("width", query.min_width, query.max_width),
        ("height", query.min_height, query.max_height),
        ("bytes", query.min_bytes, query.max_bytes),
    )
    if not all(_within(document.get(name) or 0, low, high) for name, low, high in bounds):
        return False
    return query.gps_box is None or in_box(document.get("gps"), query.gps_box)
