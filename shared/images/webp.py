"""Still WebP decoded straight into the image's memory, through libwebp's simple API.

Pillow decodes every WebP through libwebp's animation decoder, which keeps two full RGBA
canvases and then returns a third copy as ``bytes`` (about 3x the image, then a fourth copy
inside the image): 0.76-0.88 of the naive peak memory in the benchmarks. ``WebPDecodeRGBAInto``
writes the pixels once into a buffer that becomes the image without a copy
(``Image.frombuffer``). libwebp is the one Pillow's wheel bundles (``pillow.libs``) or the
system's; where neither loads, :func:`decode` returns None and the caller uses Pillow.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache
from pathlib import Path

from PIL import Image

from shared.errors import CorruptImage


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL | None:
    import PIL

    bundled = Path(PIL.__file__).resolve().parent.parent / "pillow.libs"
    candidates = sorted(str(p) for p in bundled.glob("libwebp-*.so*"))
    system = ctypes.util.find_library("webp")
    if system:
        candidates.append(system)
    for candidate in candidates:
        try:
            library = ctypes.CDLL(candidate)
            function = library.WebPDecodeRGBAInto
        except (OSError, AttributeError):
            continue
        function.restype = ctypes.c_void_p
        function.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_int,
        ]
        return library
    return None


def available() -> bool:
    """Whether the direct decoder can be used on this machine."""
    return _library() is not None


def decode(data: bytes, size: tuple[int, int], *, alpha: bool) -> Image.Image | None:
    """The still WebP ``data`` of ``size`` as an RGBA (or RGBX) image; None if unavailable."""
    library = _library()
    if library is None:
        return None
    width, height = size
    stride = 4 * width
    buffer = bytearray(stride * height)
    target = (ctypes.c_char * len(buffer)).from_buffer(buffer)
    result = library.WebPDecodeRGBAInto(data, len(data), target, len(buffer), stride)
    del target  # release the export so the buffer can be handed to Pillow
    if not result:
        raise CorruptImage("WebP data is corrupt or truncated (libwebp could not decode it)")
    mode = "RGBA" if alpha else "RGBX"
    return Image.frombuffer(mode, size, buffer, "raw", mode, 0, 1)
