"""Thumbnail renditions that fit square boxes, fast and memory-frugal.

Where the time goes, and what this module does about it (numbers: BENCHMARKS.md):

* JPEG: libjpeg can decode at 1/2, 1/4 or 1/8 scale in the DCT domain (``Image.draft``). We ask
  for the fitted size of the largest box itself (Pillow's ``thumbnail()`` asks for twice it), so a
  24 MP photo decodes as 750x500 for 256 px and 1500x1000 for 1024 px. (Keeping YCbCr from
  decoder to encoder was measured and is slower: libjpeg-turbo's SIMD colour conversion beats
  its plain-C pass-through.)
* ``reducing_gap``: shrink by an integer box filter (``Image.reduce``) until the remaining factor
  is below the gap, then one LANCZOS pass, instead of a LANCZOS kernel dozens of pixels wide.
* WebP: Pillow decodes a frame into a ``bytes`` canvas and then copies it into the image; we
  map that canvas without the copy (``Image.frombuffer``), falling back to ``load()`` if the
  Pillow internals used for it change.
* 16-bit greyscale PNG is decoded straight to 8 bits (the high byte of each sample, which is
  v/257 within one level), so no 16- or 32-bit full-size image ever exists.
* EXIF orientation is applied to the small result (a transpose of 0.2 MP, not of 24 MP), and
  nothing is copied or converted at full size that does not have to be.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageFile

from shared.errors import CorruptImage
from shared.images.decoding import DEFAULT_MAX_PIXELS, decoding_errors, open_untrusted

REDUCING_GAP = 1.25
RESAMPLE = Image.Resampling.LANCZOS
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
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_JPEG_OUTPUT_MODES = ("L", "RGB")


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


def _webp_canvas(image: Image.Image) -> Image.Image | None:
    """The first WebP frame mapped over Pillow's decoded canvas (no copy), if possible."""
    decoder = getattr(image, "_decoder", None)
    rawmode = getattr(image, "rawmode", None)
    if decoder is None or rawmode not in ("RGBX", "RGBA") or not hasattr(decoder, "get_next"):
        return None
    frame = decoder.get_next()
    if not frame:
        raise CorruptImage("failed to decode the WebP frame")
    canvas = Image.frombuffer(rawmode, image.size, frame[0], "raw", rawmode, 0, 1)
    if canvas.size != image.size:
        raise CorruptImage("WebP frame does not match the image size")
    return canvas


def _png16_as_8bit(image: Image.Image) -> None:
    """Make a 16-bit greyscale PNG decode as 8-bit L (like JPEG's draft, for bit depth)."""
    if not isinstance(image, ImageFile.ImageFile) or len(image.tile) != 1:
        return
    tile = image.tile[0]
    if getattr(tile, "codec_name", None) != "zip" or getattr(tile, "args", None) != "I;16B":
        return
    image.tile = [tile._replace(args="L;16B")]
    image._mode = "L"


def _decode(image: Image.Image, largest: tuple[int, int], alpha: bool) -> Image.Image:
    """Decode as little as the largest rendition needs; the result is L, RGB, RGBX, RGBA,
    CMYK or I (made L, RGB or RGBA after the resize, where it is cheap)."""
    if image.format == "JPEG" and image.mode in ("RGB", "L", "CMYK"):
        image.draft(image.mode, largest)
    elif image.format == "PNG" and image.mode == "I;16":
        _png16_as_8bit(image)
    elif image.format == "WEBP" and not getattr(image, "is_animated", False):
        canvas = _webp_canvas(image)
        if canvas is not None:
            return canvas
    image.load()
    if image.mode in _SIXTEEN_BIT:
        return image if image.mode == "I" else image.convert("I")
    if image.mode not in ("L", "RGB", "RGBA", "RGBX", "CMYK"):
        # Palette, LA, PA, 1, ...: resizing needs a continuous-tone mode.
        return image.convert("RGBA" if alpha else "RGB")
    return image


def _to_output_mode(image: Image.Image, alpha: bool) -> Image.Image:
    """L/RGB for JPEG, RGBA for WebP; 32-bit scaled (a plain convert would clip)."""
    if image.mode == "I":
        return image.point(lambda v: v * (1 / 257)).convert("L")
    if alpha:
        return image if image.mode == "RGBA" else image.convert("RGBA")
    if image.mode in _JPEG_OUTPUT_MODES:
        return image
    return image.convert("RGB")


def _encode(image: Image.Image, alpha: bool, quality: int) -> tuple[str, str, bytes]:
    buffer = io.BytesIO()
    if alpha:
        image.save(buffer, "WEBP", quality=quality, method=4)
        return "WEBP", "image/webp", buffer.getvalue()
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
        alpha = _has_alpha(image)
        original = image.size
        with decoding_errors():
            source = _decode(image, fit(original, max(boxes)), alpha)
            # Read after decoding: PNG's getexif() loads the image (eXIf may follow the
            # pixels), which would come before the 8-bit decode set up in _decode.
            orientation = int(image.getexif().get(_ORIENTATION_TAG, 1) or 1)
            renditions: dict[int, Rendition] = {}
            for box in sorted(set(boxes), reverse=True):
                # Fit against the original size: the DCT-scaled size may round differently.
                target = fit(original, box)
                scaled = (
                    source
                    if target == source.size
                    else source.resize(target, RESAMPLE, reducing_gap=REDUCING_GAP)
                )
                scaled = _to_output_mode(scaled, alpha)
                if orientation in _TRANSPOSE:
                    scaled = scaled.transpose(_TRANSPOSE[orientation])
                fmt, content_type, encoded = _encode(scaled, alpha, quality)
                renditions[box] = Rendition(
                    box, scaled.width, scaled.height, fmt, content_type, encoded
                )
    if not renditions:
        raise CorruptImage("no rendition produced")
    return [renditions[box] for box in boxes]
