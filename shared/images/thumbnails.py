"""Thumbnail renditions that fit square boxes, fast and memory-frugal.

The JPEG fast path asks libjpeg to decode at a DCT-domain scale (``Image.draft``: 1/2, 1/4 or
1/8) just large enough for the biggest box, so a 24 MP photo is decoded as ~0.4 MP for a
256 px thumbnail. ``reducing_gap`` then shrinks by an integer box filter before the final
LANCZOS pass. EXIF orientation is applied to the small result, not the full image.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from shared.errors import CorruptImage
from shared.images.decoding import DEFAULT_MAX_PIXELS, decoding_errors, open_untrusted

REDUCING_GAP = 3.0
_ORIENTATION_TAG = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class Rendition:
    """One encoded thumbnail."""

    box: int
    width: int
    height: int
    format: str
    content_type: str
    data: bytes

    @property
    def extension(self) -> str:
        """File extension for the format."""
        return {"JPEG": "jpg", "WEBP": "webp", "PNG": "png"}[self.format]


def fit(size: tuple[int, int], box: int) -> tuple[int, int]:
    """The largest size with ``size``'s aspect ratio inside ``box`` x ``box`` (never upscales)."""
    width, height = size
    scale = min(box / width, box / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _normalise(image: Image.Image, alpha: bool) -> Image.Image:
    """Bring any accepted mode to L, RGB or RGBA, keeping transparency."""
    if image.mode.startswith("I;16") or image.mode == "I":
        # 16-bit greyscale: scale to 8 bits (a plain convert would clip everything to white).
        return image.convert("I").point(lambda v: v * (1 / 257)).convert("L")
    if alpha:
        return image if image.mode == "RGBA" else image.convert("RGBA")
    if image.mode in ("L", "RGB"):
        return image
    return image.convert("RGB")


def _encode(image: Image.Image, alpha: bool, quality: int) -> tuple[str, str, bytes]:
    buffer = io.BytesIO()
    if alpha:
        image.save(buffer, "WEBP", quality=quality, method=4)
        return "WEBP", "image/webp", buffer.getvalue()
    if image.mode == "CMYK":
        image = image.convert("RGB")
    image.save(buffer, "JPEG", quality=quality, optimize=False)
    return "JPEG", "image/jpeg", buffer.getvalue()


def render_thumbnails(
    data: bytes,
    boxes: Sequence[int] = (256, 1024),
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    quality: int = 85,
) -> list[Rendition]:
    """Render one rendition per box (largest first decoded once), in the order of ``boxes``."""
    if not boxes or min(boxes) < 1:
        raise ValueError("boxes must be positive sizes")
    with open_untrusted(data, max_pixels=max_pixels) as image:
        orientation = int(image.getexif().get(_ORIENTATION_TAG, 1) or 1)
        alpha = _has_alpha(image)
        original = image.size
        largest = fit(original, max(boxes))
        with decoding_errors():
            if image.format == "JPEG" and image.mode in ("RGB", "L", "CMYK"):
                image.draft(image.mode, largest)
            image.load()
            source = _normalise(image, alpha)
            renditions: dict[int, Rendition] = {}
            for box in sorted(set(boxes), reverse=True):
                # Fit against the original size: the DCT-scaled size may round differently.
                target = fit(original, box)
                scaled = (
                    source
                    if target == source.size
                    else source.resize(target, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
                )
                if orientation in _TRANSPOSE:
                    scaled = scaled.transpose(_TRANSPOSE[orientation])
                fmt, content_type, encoded = _encode(scaled, alpha, quality)
                renditions[box] = Rendition(
                    box, scaled.width, scaled.height, fmt, content_type, encoded
                )
    if not renditions:
        raise CorruptImage("no rendition produced")
    return [renditions[box] for box in boxes]
