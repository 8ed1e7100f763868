"""Opening, checking and decoding untrusted images: where pixels are decoded.

* only JPEG, PNG, WebP and GIF are accepted (Pillow is told so: no other plugin parses input);
* the pixel count is checked from the header before any decoding (decompression bombs), and
  Pillow's ``DecompressionBombWarning`` (between 1x and 2x its limit) is raised as an error;
* :func:`check_structure` verifies a file's container without decoding pixels (JPEG markers up
  to the end-of-image marker, PNG chunk CRCs up to ``IEND``, the WebP RIFF sizes, the GIF block
  chain up to its trailer), so the indexer refuses truncated or damaged files at the first
  attempt without a full decode;
* :func:`decode` decodes pixels with Pillow: as small as the caller allows (JPEG DCT scaling;
  8-bit PNG decoded in bands of rows, each reduced as it goes), in sRGB (CMYK and embedded
  ICC profiles converted with LittleCMS through ``ImageCms`` *before* any resizing), with
  truncated or damaged data a permanent ``CorruptImage`` carrying the decoder's reason. The
  only other decoder is libvips, for the largest rendition of an RGB or greyscale JPEG
  (:mod:`shared.images.vips`), and only on an image opened and sized here.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageCms, ImageFile, UnidentifiedImageError

from shared.errors import CorruptImage, ImageTooLarge, UnsupportedImage
from shared.images import pngbands, webp

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
DEFAULT_MAX_PIXELS = 40_000_000
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
# Modes ImageCms converts to sRGB (8-bit RGB with or without a fourth band, and CMYK).
_MANAGED_MODES = {"RGB": "RGB", "RGBX": "RGBX", "RGBA": "RGBA", "CMYK": "RGB"}


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
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
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
        except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as exc:
            raise CorruptImage(f"image data is corrupt or truncated: {exc}") from exc


# -- structure checks (no pixel decoding) ---------------------------------------------------


@dataclass(frozen=True)
class Structure:
    """What a container walk found besides "it is whole": PNG's ``eXIf`` payload, if any."""

    exif: bytes | None = None


def check_structure(data: bytes, image_format: str | None) -> Structure:
    """Verify the container of ``data`` without decoding pixels; ``CorruptImage`` if damaged."""
    check = {"JPEG": _check_jpeg, "PNG": _check_png, "WEBP": _check_webp, "GIF": _check_gif}
    if image_format not in check:
        raise UnsupportedImage(f"unsupported format {image_format!r}")
    try:
        return check[image_format](data)
    except (IndexError, struct.error) as exc:
        raise CorruptImage(f"{image_format} structure is truncated: {exc}") from exc


def _check_jpeg(data: bytes) -> Structure:
    position = 2  # after SOI
    while True:
        if data[position] != 0xFF:
            raise CorruptImage(f"JPEG marker expected at byte {position}")
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            position += 2
            continue
        (length,) = struct.unpack_from(">H", data, position + 2)
        if length < 2 or position + 2 + length > len(data):
            raise CorruptImage("JPEG segment runs past the end of the data (truncated)")
        position += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
    # 0xFFD9 cannot occur inside entropy-coded data (0xFF is stuffed there), so its absence
    # after the first scan means the file was cut short. Searched from the end, where it is.
    if data.rfind(b"\xff\xd9", position) < 0:
        raise CorruptImage("JPEG is truncated: no end-of-image marker after the scan data")
    return Structure()


def _check_png(data: bytes) -> Structure:
    position, exif, seen_idat = len(_PNG_SIGNATURE), None, False
    while True:
        length, kind = struct.unpack_from(">I4s", data, position)
        end = position + 8 + length
        if end + 4 > len(data):
            raise CorruptImage(f"PNG chunk {kind!r} runs past the end of the data (truncated)")
        (crc,) = struct.unpack_from(">I", data, end)
        if zlib.crc32(data[position + 4 : end]) != crc:
            raise CorruptImage(f"PNG chunk {kind!r} at byte {position} fails its CRC (damaged)")
        if kind == b"IDAT":
            seen_idat = True
        elif kind == b"eXIf":
            exif = data[position + 8 : end]
        elif kind == b"IEND":
            break
        position = end + 4
    if not seen_idat:
        raise CorruptImage("PNG has no image data (IDAT)")
    return Structure(exif=exif)


def _check_webp(data: bytes) -> Structure:
    riff, size, kind = struct.unpack_from("<4sI4s", data, 0)
    if riff != b"RIFF" or kind != b"WEBP":
        raise CorruptImage("WebP does not start with a RIFF/WEBP header")
    if size + 8 > len(data):
        raise CorruptImage(f"WebP is truncated: RIFF says {size + 8} bytes, got {len(data)}")
    position, end, frames = 12, size + 8, 0
    while position < end:
        chunk, length = struct.unpack_from("<4sI", data, position)
        position += 8 + length + (length & 1)
        if position > end + (length & 1):
            raise CorruptImage(f"WebP chunk {chunk!r} runs past the end of the data (truncated)")
        frames += chunk in (b"VP8 ", b"VP8L", b"ANMF")
    if not frames:
        raise CorruptImage("WebP has no image data")
    return Structure()


def _skip_sub_blocks(data: bytes, position: int) -> int:
    while (length := data[position]) != 0:
        position += 1 + length
    return position + 1


def _check_gif(data: bytes) -> Structure:
    flags = data[10]
    position = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    images = 0
    while (block := data[position]) != 0x3B:  # trailer
        if block == 0x21:  # extension: label, then sub-blocks
            position = _skip_sub_blocks(data, position + 2)
        elif block == 0x2C:  # image descriptor, optional local table, LZW size, sub-blocks
            local = data[position + 9]
            position += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0)
            position = _skip_sub_blocks(data, position + 1)
            images += 1
        else:
            raise CorruptImage(f"GIF has an unknown block 0x{block:02x} at byte {position}")
    if not images:
        raise CorruptImage("GIF has no image")
    return Structure()


# -- colour ---------------------------------------------------------------------------------

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
SRGB_PROFILE = _SRGB.tobytes()


@lru_cache(maxsize=8)
def _transform(icc: bytes, in_mode: str, out_mode: str) -> ImageCms.ImageCmsTransform | None:
    """A cached LittleCMS transform from an embedded profile to sRGB; None if it is sRGB
    already or unusable (a broken profile is ignored, not a reason to refuse the image)."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if in_mode != "CMYK" and "srgb" in (profile.profile.profile_description or "").lower():
            return None
        return ImageCms.buildTransform(
            profile, _SRGB, in_mode, out_mode, ImageCms.Intent.PERCEPTUAL
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


def needs_srgb(icc: bytes) -> bool:
    """Whether pixels of an RGB image tagged with ``icc`` are converted to sRGB (a usable
    profile that is not sRGB itself)."""
    return _transform(icc, "RGB", "RGB") is not None


def to_srgb(image: Image.Image, icc: bytes | None) -> tuple[Image.Image, bool]:
    """``image`` in sRGB (CMYK always ends RGB); True when an ICC profile was applied."""
    if icc and image.mode in _MANAGED_MODES:
        transform = _transform(icc, image.mode, _MANAGED_MODES[image.mode])
        if transform is not None:
            return transform.apply(image), True
    if image.mode == "CMYK":
        return image.convert("RGB"), False
    return image, False


# -- decoding -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decoded:
    """Decoded pixels (mode L, RGB, RGBX, RGBA or I) and what the renderer needs to know."""

    image: Image.Image
    orientation: int
    colour_managed: bool
    extent: tuple[float, float] | None = None
    """The region of ``image`` that covers the whole original, where a reduced decode does
    not divide it evenly (band-reduced PNG); None when it is the whole image."""


def has_alpha(image: Image.Image) -> bool:
    """Whether the opened image has transparency."""
    return image.mode in _ALPHA_MODES or "transparency" in image.info


def _png16_as_8bit(image: Image.Image) -> None:
    """Make a 16-bit greyscale PNG decode as 8-bit L (the high byte of each sample, within
    one level of v/257), so no 16- or 32-bit full-size image ever exists."""
    if not isinstance(image, ImageFile.ImageFile) or len(image.tile) != 1:
        return
    tile = image.tile[0]
    if getattr(tile, "codec_name", None) != "zip" or getattr(tile, "args", None) != "I;16B":
        return
    image.tile = [tile._replace(args="L;16B")]
    image._mode = "L"


def decode(image: Image.Image, data: bytes, *, at_least: tuple[int, int]) -> Decoded:
    """Decode ``image`` (opened from ``data``) once, at the smallest size that is still at
    least ``at_least`` where the format can (JPEG: 1/2, 1/4, 1/8 in the DCT domain), in sRGB.

    Call inside :func:`decoding_errors`. The result is L, RGB, RGBX, RGBA or I (32-bit).
    """
    alpha = has_alpha(image)
    icc = image.info.get("icc_profile")
    icc = icc if isinstance(icc, bytes) else None
    if image.format == "PNG" and (banded := _png_in_bands(image, data, at_least, icc)):
        return banded
    if image.format == "JPEG" and image.mode in ("RGB", "L", "CMYK"):
        image.draft(image.mode, at_least)
    elif image.format == "PNG" and image.mode == "I;16":
        _png16_as_8bit(image)
    pixels: Image.Image | None = None
    if image.format == "WEBP" and not getattr(image, "is_animated", False):
        pixels = webp.decode(data, image.size, alpha=alpha)
    if pixels is None:
        image.load()
        pixels = image
    # After loading: PNG's eXIf may follow the pixel data, and getexif() would load it.
    orientation = int(image.getexif().get(0x0112, 1) or 1)
    if pixels.mode in _SIXTEEN_BIT:
        pixels = pixels if pixels.mode == "I" else pixels.convert("I")
    elif pixels.mode not in ("L", "RGB", "RGBA", "RGBX", "CMYK"):
        # Palette, LA, PA, 1, ...: resizing needs a continuous-tone mode.
        pixels = pixels.convert("RGBA" if alpha else "RGB")
    pixels, managed = to_srgb(pixels, icc)
    return Decoded(pixels, orientation, managed)


def _png_in_bands(
    image: Image.Image, data: bytes, at_least: tuple[int, int], icc: bytes | None
) -> Decoded | None:
    """An 8-bit PNG decoded a band of rows at a time and reduced by the largest integer
    factor that keeps it at least ``at_least`` (:mod:`shared.images.pngbands`): the whole
    image never exists. Colour management runs on each band, before the reduction."""
    factor = min(side // wanted for side, wanted in zip(image.size, at_least, strict=True))
    managed = False

    def convert(band: Image.Image) -> Image.Image:
        nonlocal managed
        band, managed = to_srgb(band, icc)
        return band

    banded = pngbands.decode(data, image, factor, convert)
    if banded is None:
        return None
    orientation = 1
    if banded.exif:
        exif = Image.Exif()
        exif.load(banded.exif)
        orientation = int(exif.get(0x0112, 1) or 1)
    return Decoded(banded.image, orientation, managed, banded.extent)
