"""Non-interlaced 8-bit PNG decoded in bands of rows, each box-reduced as it is decoded.

A whole-image decode keeps every pixel at once (Pillow stores RGB at 4 bytes a pixel: 46 MB for
12 MP), which alone is half of what a naive full decode and resize needs. Here the zlib stream
of the ``IDAT`` chunks is inflated a band of rows at a time (``max_length`` bounds every step,
so a small stream cannot expand past one band), and each band is handed to Pillow's own PNG
row decoder (``zip``: the five PNG filters) as a stored (level 0) zlib stream, preceded by the
previous band's last row unfiltered, which is what the band's first row may refer to. The band
is then reduced by an integer factor (``Image.reduce``, the same block average Pillow's
``resize(reducing_gap=...)`` applies to a whole decode) into the result: only the reduced
image and one band are ever held.

Where it does not apply (interlaced, animated, palette, 16-bit, a ``tRNS`` colour key, a factor
of 1) :func:`decode` returns None and the caller decodes whole.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from PIL import Image, ImageFile

from shared.errors import CorruptImage

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Modes whose rows are decoded here: 8 bits a sample, rawmode == mode.
_BYTES_PER_PIXEL = {"L": 1, "RGB": 3, "RGBA": 4}
BAND_BYTES = 1 << 20
"""Filtered bytes inflated per band (rounded to whole groups of ``factor`` rows)."""


@dataclass(frozen=True)
class Banded:
    """The reduced pixels, the original region they cover, and the ``eXIf`` payload."""

    image: Image.Image
    extent: tuple[float, float]
    exif: bytes | None


def applies(image: Image.Image) -> bool:
    """Whether ``image`` (opened, not loaded) can be decoded in bands."""
    if image.format != "PNG" or image.mode not in _BYTES_PER_PIXEL:
        return False
    if image.info.get("interlace") or getattr(image, "is_animated", False):
        return False
    if "transparency" in image.info:  # a tRNS colour key: Pillow turns it into alpha on load
        return False
    tiles = getattr(image, "tile", [])
    if not isinstance(image, ImageFile.ImageFile) or len(tiles) != 1:
        return False
    tile = tiles[0]
    return bool(
        tile.codec_name == "zip"
        and tile.args == image.mode
        and tuple(tile.extents or ()) == (0, 0, *image.size)
    )


def _chunks(data: bytes) -> tuple[list[memoryview], bytes | None]:
    """The ``IDAT`` payloads (views, no copy) and the ``eXIf`` payload of ``data``."""
    view = memoryview(data)
    position, idat, exif = len(_PNG_SIGNATURE), [], None
    while position + 8 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = bytes(data[position + 4 : position + 8])
        start, end = position + 8, position + 8 + length
        if end > len(data):
            raise CorruptImage(f"PNG chunk {kind!r} runs past the end of the data (truncated)")
        if kind == b"IDAT":
            idat.append(view[start:end])
        elif kind == b"eXIf":
            exif = bytes(view[start:end])
        elif kind == b"IEND":
            break
        position = end + 4
    if not idat:
        raise CorruptImage("PNG has no image data (IDAT)")
    return idat, exif


def _inflate(idat: list[memoryview], step: int) -> Iterator[bytes]:
    """The inflated ``IDAT`` stream, at most ``step`` bytes at a time (a bomb cannot expand
    past one step), until the stream ends."""
    inflater = zlib.decompressobj()
    for chunk in idat:
        pending: bytes | memoryview = chunk
        while pending:
            output = inflater.decompress(pending, step)
            pending = inflater.unconsumed_tail
            if output:
                yield output
            if inflater.eof:
                return


def decode(
    data: bytes,
    image: Image.Image,
    factor: int,
    convert: Callable[[Image.Image], Image.Image] | None = None,
) -> Banded | None:
    """``image`` (opened from ``data``) reduced by ``factor`` in both directions, decoded a
    band at a time, each band passed through ``convert`` (colour management) before it is
    reduced; None where banding does not apply. Damaged data raises ``CorruptImage``,
    ``zlib.error`` or Pillow's ``OSError``/``ValueError`` (mapped by ``decoding_errors``)."""
    if factor < 2 or not applies(image):
        return None
    mode, (width, height) = image.mode, image.size
    stride = 1 + width * _BYTES_PER_PIXEL[mode]
    rows_per_band = max(factor, BAND_BYTES // stride // factor * factor)
    idat, exif = _chunks(data)
    reduced_size = (-(-width // factor), -(-height // factor))
    result: Image.Image | None = None
    # The band being filled: the previous band's last row, unfiltered (filter byte 0; the
    # band's first row may refer to it), then the band's own filtered rows.
    band = bytearray()
    prefix = top = 0
    for output in _inflate(idat, rows_per_band * stride):
        band += output
        while top < height:
            rows = min(rows_per_band, height - top)
            if len(band) - prefix < rows * stride:
                break
            first, size = (1 if prefix else 0), prefix + rows * stride
            with memoryview(band) as view:
                stream = zlib.compress(view[:size], 0)
            pixels = Image.frombytes(mode, (width, rows + first), stream, "zip", mode)
            last = pixels.crop((0, rows + first - 1, width, rows + first)).tobytes()
            if convert is not None:
                pixels = convert(pixels)
            reduced = pixels.reduce(factor, box=(0, first, width, rows + first))
            if result is None:
                result = Image.new(reduced.mode, reduced_size)
            result.paste(reduced, (0, top // factor))
            top += rows
            del band[:size]
            band[:0] = b"\x00" + last
            prefix = stride
        if top >= height:
            break
    if top < height or result is None:
        raise CorruptImage(f"PNG image data is truncated: {top} of {height} rows decompressed")
    return Banded(result, (width / factor, height / factor), exif)
