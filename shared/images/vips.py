"""The largest JPEG rendition through libvips (pyvips + the pyvips-binary wheel).

libvips does the same work as the Pillow path (:mod:`shared.images.decoding` and
:mod:`shared.images.thumbnails`): DCT shrink-on-load by the same rule as Pillow's ``draft()``
(the largest of 1/2, 1/4, 1/8 that leaves the box a reduction of at least 2), the embedded ICC
profile to sRGB before any resizing, then one lanczos3 pass with a reducing gap of 2. It
streams the image through in strips instead of holding the whole decode, and its resampler is
vectorised: on photographs at 1024 px that is the difference between 1.2-1.4x and about 1.0x
of libvips' own ``thumbnail_buffer`` (BENCHMARKS.md), at the same PSNR.

Pillow stays the judge of untrusted input: libvips only runs on an image Pillow has opened
and sized within the pixel limit, only its JPEG loader is called, untrusted loaders are
blocked, and any failure here (libvips', its binding's, or a size that disagrees with
Pillow's header) is raised as :class:`VipsFailed` so the caller sends the image down the
Pillow path, which renders it or refuses it with its reason.
"""

from __future__ import annotations

from functools import cache

import pyvips
from PIL import Image

MODES = {1: "L", 3: "RGB"}


class VipsFailed(Exception):
    """libvips could not render the image (the Pillow path decides what it is)."""


@cache
def _configure() -> None:
    """Once per process: no operation cache (each image is rendered once, and cached results
    would hold memory between invocations) and untrusted loaders blocked. Worker threads stay
    libvips' default, one per CPU the process sees (``VIPS_CONCURRENCY`` overrides it)."""
    pyvips.cache_set_max(0)
    pyvips.block_untrusted_set(True)


def jpeg_shrink(size: tuple[int, int], at_least: tuple[int, int]) -> int:
    """The DCT shrink-on-load factor that keeps ``size`` at least ``at_least``: the largest
    of 8, 4, 2 (else 1) not above either side's integer ratio, as Pillow's ``draft()``."""
    ratio = min(side // wanted for side, wanted in zip(size, at_least, strict=True))
    return next((shrink for shrink in (8, 4, 2) if ratio >= shrink), 1)


def render_jpeg(
    data: bytes,
    *,
    size: tuple[int, int],
    target: tuple[int, int],
    at_least: tuple[int, int],
    to_srgb: bool,
) -> Image.Image:
    """The JPEG ``data`` (``size`` pixels) resized to exactly ``target``, as an L or RGB
    Pillow image; ``to_srgb`` converts through the embedded ICC profile first."""
    shrink = jpeg_shrink(size, at_least)
    try:
        _configure()
        image = pyvips.Image.jpegload_buffer(
            data,
            shrink=shrink,
            access="sequential",
            fail_on="error",  # truncated or damaged data is an error, not grey rows
            autorotate=False,  # orientation is applied to each small result by the caller
        )
        loaded = (-(-size[0] // shrink), -(-size[1] // shrink))
        if (image.width, image.height) != loaded:
            raise VipsFailed(
                f"libvips reads {image.width}x{image.height} at 1/{shrink}, Pillow's header"
                f" says {size[0]}x{size[1]}"
            )
        if to_srgb:
            image = image.icc_transform("srgb", embedded=True, intent="perceptual")
        if (image.width, image.height) != target:
            image = image.resize(
                target[0] / image.width,
                vscale=target[1] / image.height,
                kernel="lanczos3",
                gap=2.0,
            )
        mode = MODES.get(image.bands)
        if mode is None or image.format != "uchar" or (image.width, image.height) != target:
            raise VipsFailed(
                f"libvips produced {image.width}x{image.height}, {image.bands} bands of"
                f" {image.format}, not {target[0]}x{target[1]} L/RGB"
            )
        return Image.frombytes(mode, target, image.write_to_memory())
    except VipsFailed:
        raise
    except Exception as exc:  # whatever libvips or its binding raise: Pillow decides
        raise VipsFailed(f"{type(exc).__name__}: {str(exc).strip()}") from exc
