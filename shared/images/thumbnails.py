"""Thumbnail renditions that fit square boxes: one decode, no aliasing, sRGB out.

How (the measurements behind each choice are in BENCHMARKS.md):

* **One decode** for every box, as small as quality allows: JPEG is decoded in the DCT domain
  at the smallest of 1/1, 1/2, 1/4, 1/8 that leaves the largest box a reduction of at least
  :data:`MIN_FINAL_FACTOR` (2, like libvips and Pillow's ``thumbnail()``); 8-bit PNG is
  decoded in bands of rows, each block-averaged by the largest integer factor that leaves the
  same reduction, so the whole image never exists (:mod:`shared.images.pngbands`). A
  DCT-scaled decode is a block average: asking for just the box size (a remaining factor near
  1) aliases fine detail, 3-5 dB PSNR worse on photographs.
* **Engine**: an RGB or greyscale JPEG whose smaller boxes cascade from the largest (the
  default 256 + 1024) gets its largest rendition from libvips doing exactly this work, faster
  and streaming (:mod:`shared.images.vips`); everything else, and any JPEG libvips cannot
  render, goes through Pillow (:func:`shared.images.decoding.decode`), which also refuses bad
  input with its reason.
* **Resize**: integer box reduction (``Image.reduce``) only while at least
  :data:`REDUCING_GAP` (2) remains for the final LANCZOS pass, which then does the
  anti-aliasing. A gap of 1.25 left a short LANCZOS pass after a large block average: aliasing.
* **Smaller boxes cascade** from the largest rendition's pixels (before encoding) when that is
  at least twice their size, by LANCZOS alone: from an already band-limited 1024 px image it
  is better than a box-reduced decode, and nearly free.
* **Colour**: CMYK and embedded ICC profiles are converted to sRGB with LittleCMS before any
  resizing (resampling in CMYK or a wide-gamut space shifts colours); renditions are sRGB, and
  carry a compact sRGB profile when their source had a profile, so colour-managed viewers and
  the web's "untagged is sRGB" rule agree.
* **Orientation** (EXIF) is applied to each small result, never to the full-size image.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from types import ModuleType

from PIL import Image

from shared.errors import CorruptImage
from shared.images import decoding
from shared.images.decoding import DEFAULT_MAX_PIXELS, SRGB_PROFILE, decoding_errors, has_alpha

_log = logging.getLogger(__name__)
RESAMPLE = Image.Resampling.LANCZOS
REDUCING_GAP = 2.0
MIN_FINAL_FACTOR = 2
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


def _to_output_mode(image: Image.Image, alpha: bool) -> Image.Image:
    """L/RGB for JPEG, RGBA for WebP; 32-bit scaled (a plain convert would clip)."""
    if image.mode == "I":
        return image.point(lambda v: v * (1 / 257)).convert("L")
    if alpha:
        return image if image.mode == "RGBA" else image.convert("RGBA")
    if image.mode in ("L", "RGB"):
        return image
    return image.convert("RGB")


def _encode(image: Image.Image, alpha: bool, quality: int, profile: bool) -> tuple[str, str, bytes]:
    buffer = io.BytesIO()
    options: dict[str, object] = {"icc_profile": SRGB_PROFILE} if profile else {}
    if alpha:
        image.save(buffer, "WEBP", quality=quality, method=4, **options)
        return "WEBP", "image/webp", buffer.getvalue()
    image.save(buffer, "JPEG", quality=quality, optimize=False, **options)
    return "JPEG", "image/jpeg", buffer.getvalue()


def _resize(
    source: Image.Image,
    target: tuple[int, int],
    *,
    decoded: bool,
    extent: tuple[float, float] | None = None,
) -> Image.Image:
    """LANCZOS to ``target``; from the decode, box-reduce first while a gap of 2 remains.
    A rendition being cascaded is resized by LANCZOS alone: it is small, and a 2x2 block
    average of it costs ~5 dB on fine detail. ``extent`` is the part of ``source`` that
    covers the original (a reduced decode's last row and column cover less)."""
    if source.size == target and extent is None:
        return source
    box = (0.0, 0.0, *extent) if extent is not None else None
    return source.resize(target, RESAMPLE, box=box, reducing_gap=REDUCING_GAP if decoded else None)


def render_thumbnails(
    data: bytes,
    boxes: Sequence[int] = (256, 1024),
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    quality: int = 85,
) -> list[Rendition]:
    """Render one rendition per box from a single decode, in the order of ``boxes``."""
    if not boxes or min(boxes) < 1:
        raise ValueError("boxes must be positive sizes")
    with decoding.open_untrusted(data, max_pixels=max_pixels) as image:
        alpha = has_alpha(image)
        original = image.size
        largest = fit(original, max(boxes))
        at_least = (largest[0] * MIN_FINAL_FACTOR, largest[1] * MIN_FINAL_FACTOR)
        targets = {box: fit(original, box) for box in set(boxes)}
        with decoding_errors():
            decoded = _through_libvips(image, data, targets, at_least)
            # The renditions' pixels (largest first): each smaller box cascades from the
            # smallest of them that is at least twice its size, else from the decode.
            rendered: list[Image.Image] = []
            renditions: dict[int, Rendition] = {}
            for box in sorted(targets, reverse=True):
                target = targets[box]
                source = min(
                    (s for s in rendered if s.width >= MIN_FINAL_FACTOR * target[0]),
                    key=lambda s: s.width,
                    default=None,
                )
                if source is not None:
                    scaled = _resize(source, target, decoded=False)
                else:
                    if decoded is None:
                        decoded = decoding.decode(image, data, at_least=at_least)
                    scaled = _resize(decoded.image, target, decoded=True, extent=decoded.extent)
                rendered.append(scaled)
                output = _to_output_mode(scaled, alpha)
                if decoded is not None and decoded.orientation in _TRANSPOSE:
                    output = output.transpose(_TRANSPOSE[decoded.orientation])
                managed = decoded is not None and decoded.colour_managed
                fmt, content_type, encoded = _encode(output, alpha, quality, managed)
                renditions[box] = Rendition(
                    box, output.width, output.height, fmt, content_type, encoded
                )
    if not renditions:
        raise CorruptImage("no rendition produced")
    return [renditions[box] for box in boxes]


def _through_libvips(
    image: Image.Image,
    data: bytes,
    targets: dict[int, tuple[int, int]],
    at_least: tuple[int, int],
) -> decoding.Decoded | None:
    """The largest rendition's pixels from libvips (:mod:`shared.images.vips`) where it
    applies: an RGB or greyscale JPEG whose other boxes all cascade from the largest one (so
    it is still the only decode). None where it does not apply or libvips fails: the Pillow
    path then decodes, and renders or refuses the image with its reason."""
    largest = max(targets.values(), key=lambda size: size[0])
    others = [size for size in targets.values() if size != largest]
    if (
        image.format != "JPEG"
        or image.mode not in ("RGB", "L")
        or any(MIN_FINAL_FACTOR * size[0] > largest[0] for size in others)
    ):
        return None
    vips = _libvips()
    if vips is None:
        return None
    icc = image.info.get("icc_profile")
    to_srgb = image.mode == "RGB" and isinstance(icc, bytes) and decoding.needs_srgb(icc)
    try:
        pixels = vips.render_jpeg(
            data, size=image.size, target=largest, at_least=at_least, to_srgb=to_srgb
        )
    except vips.VipsFailed as exc:
        _log.debug("libvips did not render this JPEG, Pillow will: %s", exc)
        return None
    orientation = int(image.getexif().get(0x0112, 1) or 1)
    return decoding.Decoded(pixels, orientation, to_srgb)


@cache
def _libvips() -> ModuleType | None:
    """:mod:`shared.images.vips`, imported on the first JPEG (only the thumbnailer loads
    libvips; the indexer shares this package), or None when libvips cannot be loaded (a
    broken install): JPEG then renders through Pillow, slower, and it is logged once."""
    try:
        from shared.images import vips
    except Exception as exc:  # a broken native library must not refuse images
        _log.error("libvips cannot be loaded, JPEG thumbnails render with Pillow: %r", exc)
        return None
    return vips
