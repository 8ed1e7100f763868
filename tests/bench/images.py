"""Deterministic, photo-like sample images made at run time (no files in the repository).

A "scene" is a smooth vertical gradient with large blurred blobs (out-of-focus background),
sharp-edged blocks with fine stripes (buildings, windows), a mid-frequency texture and a fine
grain. At JPEG quality 90 a 24 MP scene is ~4 MB, like a camera photo, not a 15 MB noise field.
Everything is drawn from ``random.Random(seed)``: same seed, same bytes.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class Sample:
    """One benchmark input: a name, how it was made, and where its bytes are."""

    name: str
    description: str
    path: Path

    @property
    def size_bytes(self) -> int:
        """Encoded size of the file."""
        return self.path.stat().st_size


def scene(width: int, height: int, seed: int) -> Image.Image:
    """A photo-like RGB image of ``width`` x ``height`` pixels."""
    rng = random.Random(seed)
    low_w, low_h = max(8, width // 16), max(8, height // 16)
    top = tuple(rng.randrange(60, 200) for _ in range(3))
    bottom = tuple(rng.randrange(20, 160) for _ in range(3))
    ramp = Image.linear_gradient("L").resize((low_w, low_h), Image.Resampling.BILINEAR)
    base = Image.composite(
        Image.new("RGB", (low_w, low_h), bottom), Image.new("RGB", (low_w, low_h), top), ramp
    )
    draw = ImageDraw.Draw(base)
    for _ in range(40):
        x, y = rng.randrange(low_w), rng.randrange(low_h)
        radius = rng.randrange(low_w // 30 + 1, low_w // 5 + 2)
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.ellipse((x - radius, y - radius // 2, x + radius, y + radius // 2), fill=colour)
    image = base.filter(ImageFilter.GaussianBlur(2)).resize(
        (width, height), Image.Resampling.BICUBIC
    )
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        x0, y0 = rng.randrange(width), rng.randrange(height // 3, height)
        x1 = x0 + rng.randrange(max(1, width // 40), max(2, width // 8))
        colour = tuple(rng.randrange(40, 220) for _ in range(3))
        draw.rectangle((x0, y0, x1, height), fill=colour)
        darker = tuple(max(0, c - 25) for c in colour)
        for row in range(y0 + 10, height, max(6, height // 150)):
            draw.line((x0, row, x1, row), fill=darker, width=2)
    mid_w, mid_h = max(2, width // 4), max(2, height // 4)
    mid = Image.frombytes("L", (mid_w, mid_h), rng.randbytes(mid_w * mid_h))
    mid = mid.resize((width, height), Image.Resampling.BILINEAR).point(lambda v: v * 24 // 255)
    image = ImageChops.add(image, Image.merge("RGB", (mid, mid, mid)), 1.0, -12)
    grain = Image.frombytes("L", (width, height), rng.randbytes(width * height))
    grain = grain.point(lambda v: v * 8 // 255)
    return ImageChops.add(image, Image.merge("RGB", (grain, grain, grain)), 1.0, -4)


def _jpeg(image: Image.Image, *, orientation: int | None = None) -> bytes:
    out = io.BytesIO()
    options: dict[str, object] = {"quality": 90}
    if orientation is not None:
        exif = Image.Exif()
        exif[ORIENTATION_TAG] = orientation
        options["exif"] = exif.tobytes()
    image.save(out, "JPEG", **options)
    return out.getvalue()


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=6)
    return out.getvalue()


def _webp(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "WEBP", quality=90, method=2)
    return out.getvalue()


def _grey16(image: Image.Image) -> Image.Image:
    """A 16-bit greyscale image whose values use the whole 0..65535 range."""
    return image.convert("L").convert("I").point(lambda v: v * 257).convert("I;16")


def make_samples(directory: Path, *, seed: int = 7) -> list[Sample]:
    """Write every benchmark sample into ``directory`` and describe it."""
    directory.mkdir(parents=True, exist_ok=True)
    big = scene(6000, 4000, seed)
    medium = scene(4240, 2832, seed + 1)
    small = big.resize((1728, 1152), Image.Resampling.LANCZOS)
    specs: list[tuple[str, str, bytes]] = [
        ("jpeg-24mp", "JPEG 6000x4000 q90", _jpeg(big)),
        ("jpeg-12mp", "JPEG 4240x2832 q90", _jpeg(medium)),
        ("jpeg-2mp", "JPEG 1728x1152 q90", _jpeg(small)),
        ("jpeg-exif6", "JPEG 4240x2832 q90, EXIF orientation 6", _jpeg(medium, orientation=6)),
        ("jpeg-cmyk", "CMYK JPEG 4240x2832 q90", _jpeg(medium.convert("CMYK"))),
        ("png-12mp", "PNG 4240x2832 RGB, zlib level 6", _png(medium)),
        ("webp-12mp", "WebP 4240x2832 q90", _webp(medium)),
    ]
    del big
    grey = _grey16(medium.resize((3000, 2000), Image.Resampling.BILINEAR))
    specs.append(("png16-6mp", "16-bit greyscale PNG 3000x2000", _png(grey)))
    samples = []
    for name, description, data in specs:
        path = directory / f"{name}.bin"
        path.write_bytes(data)
        samples.append(Sample(name, description, path))
    return samples
