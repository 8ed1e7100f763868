"""Image metadata for the index: geometry, format, hash, EXIF camera, capture time and GPS."""

from __future__ import annotations

import hashlib
from fractions import Fraction
from typing import Any

from PIL import Image

from shared.images.decoding import (
    DEFAULT_MAX_PIXELS,
    check_structure,
    decoding_errors,
    open_untrusted,
)

_MAKE, _MODEL, _ORIENTATION, _DATETIME = 0x010F, 0x0110, 0x0112, 0x0132
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATETIME_ORIGINAL = 0x9003


def image_id(bucket: str, key: str) -> str:
    """Stable index key for an object (safe as a DynamoDB, Firestore or Table Storage key)."""
    return hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()[:40]


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    cleaned = value.replace("\x00", "").strip()
    return cleaned[:200] or None


def _exif_time(value: Any) -> str | None:
    text = _text(value)
    if not text or len(text) < 19:
        return None
    date, _, time = text[:19].partition(" ")
    parts = date.split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts) or parts[0] == "0000":
        return None
    return f"{parts[0]}-{parts[1]}-{parts[2]}T{time}"


def _degrees(value: Any, ref: Any) -> float | None:
    try:
        d, m, s = (
            Fraction(str(float(x))) if not isinstance(x, tuple) else Fraction(x[0], x[1])
            for x in value
        )
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    result = float(d + m / 60 + s / 3600)
    if _text(ref) in ("S", "W"):
        result = -result
    return round(result, 7)


def _gps(exif: Image.Exif) -> dict[str, float] | None:
    gps = exif.get_ifd(_GPS_IFD)
    if not gps or 2 not in gps or 4 not in gps:
        return None
    lat, lon = _degrees(gps[2], gps.get(1)), _degrees(gps[4], gps.get(3))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return {"lat": lat, "lon": lon}


def extract_metadata(
    data: bytes, *, bucket: str, key: str, max_pixels: int = DEFAULT_MAX_PIXELS
) -> dict[str, Any]:
    """The index document for an image, from its header and bytes alone (no pixel decode).

    The container is checked whole (:func:`check_structure`: truncated or damaged files are
    refused with ``CorruptImage`` at the first attempt); decoding the pixels is the
    thumbnailer's job, and a file that passes here but fails to decode is refused there.
    """
    with open_untrusted(data, max_pixels=max_pixels) as image, decoding_errors():
        structure = check_structure(data, image.format)
        if image.format == "PNG":
            # PNG's getexif() would decode the whole image to look for an eXIf chunk
            # after the pixels; the structure walk has already found it.
            exif = Image.Exif()
            raw = structure.exif or image.info.get("exif")
            if raw:
                exif.load(raw)
        else:
            exif = image.getexif()
        exif_ifd = exif.get_ifd(_EXIF_IFD)
        orientation = int(exif.get(_ORIENTATION, 1) or 1)
        width, height = image.size
        if orientation in (5, 6, 7, 8):
            width, height = height, width
        return {
            "image_id": image_id(bucket, key),
            "bucket": bucket,
            "key": key,
            "format": image.format,
            "mode": image.mode,
            "width": width,
            "height": height,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "camera_make": _text(exif.get(_MAKE)),
            "camera_model": _text(exif.get(_MODEL)),
            "captured_at": _exif_time(exif_ifd.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)),
            "orientation": orientation,
            "gps": _gps(exif),
        }
