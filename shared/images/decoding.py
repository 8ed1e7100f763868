"""Opening untrusted images safely.

* only JPEG, PNG, WebP and GIF are accepted (Pillow is told so: no other plugin parses input);
* the pixel count is checked from the header before any decoding (decompression bombs), and
  Pillow's ``DecompressionBombWarning`` (between 1x and 2x its limit) is raised as an error;
* truncated or damaged data is a permanent ``CorruptImage`` with Pillow's reason.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image, UnidentifiedImageError

from shared.errors import CorruptImage, ImageTooLarge, UnsupportedImage

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
DEFAULT_MAX_PIXELS = 40_000_000


@contextmanager
def open_untrusted(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Iterator[Image.Image]:
    """Open ``data`` as an image (header only) and check its size; decoding stays lazy."""
    if not data:
        raise UnsupportedImage("object is empty")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        except UnidentifiedImageError as exc:
            raise UnsupportedImage(
                f"not a supported image (accepted: {', '.join(ACCEPTED_FORMATS)})"
            ) from exc
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge(f"image exceeds the pixel limit: {exc}") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise CorruptImage(f"cannot read image header: {exc}") from exc
    with image:
        width, height = image.size
        if width <= 0 or height <= 0:
            raise CorruptImage(f"image has invalid dimensions {width}x{height}")
        if width * height > max_pixels:
            raise ImageTooLarge(
                f"image is {width}x{height} = {width * height} pixels, limit is {max_pixels}"
            )
        yield image


@contextmanager
def decoding_errors() -> Iterator[None]:
    """Map Pillow's decode-time failures to typed permanent errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge(f"image exceeds the pixel limit: {exc}") from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise CorruptImage(f"image data is corrupt or truncated: {exc}") from exc
