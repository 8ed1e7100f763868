"""Benchmark inputs, made at run time from packaged real photographs or from a seed.

* **photo mosaics** (the main inputs): the real photographs that scikit-image ships in its
  wheel (``astronaut``, ``coffee``, ``chelsea``, ``rocket``, ``motorcycle_left``,
  ``hubble_deep_field``, ``retina``, ``ihc`` and the ``grass``, ``gravel`` and ``brick``
  texture photographs: foliage, stone, masonry, fabric of a space suit, fur) tiled at their
  *native* resolution (never upscaled), randomly cropped and flipped, into a 12 or 24 MP
  canvas. Each tile keeps the photograph's own fine detail, and the seams add hard edges;
  nothing is smoothed. Read straight from the installed package's data folder (no download,
  no import of scikit-image itself).
* **synthetic detail** (named as synthetic): generated foliage-like, fabric-like and text
  textures with energy up to the pixel level, the hardest case for aliasing.
* **CMYK + ICC**: a mosaic converted to CMYK through a real press profile (Ghostscript's
  ``default_cmyk.icc`` from Debian's ``libgs-common``) with that profile embedded; skipped,
  with the reason, where the profile is not installed.

Everything is deterministic (``random.Random(seed)``); nothing is committed.
"""

from __future__ import annotations

import importlib.util
import io
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageCms, ImageDraw, ImageFilter, ImageFont

ORIENTATION_TAG = 0x0112
CMYK_PROFILE_PATHS = (
    Path("/usr/share/color/icc/ghostscript/default_cmyk.icc"),
    Path("/usr/share/color/icc/ghostscript/ps_cmyk.icc"),
)
PHOTOS = (
    "astronaut.png",
    "coffee.png",
    "chelsea.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "hubble_deep_field.jpg",
    "retina.jpg",
    "ihc.png",
    "grass.png",
    "gravel.png",
    "brick.png",
)
ROW_HEIGHT = 288


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


def photo_directory() -> Path | None:
    """scikit-image's packaged data folder, if the package is installed."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "data"
    return folder if all((folder / name).exists() for name in PHOTOS) else None


def cmyk_profile_path() -> Path | None:
    """A CMYK ICC profile installed on this machine, if any."""
    return next((path for path in CMYK_PROFILE_PATHS if path.exists()), None)


def mosaic(width: int, height: int, seed: int, folder: Path) -> Image.Image:
    """Real photographs at native resolution, shelf-packed into ``width`` x ``height``."""
    rng = random.Random(seed)
    photos = [Image.open(folder / name).convert("RGB") for name in PHOTOS]
    canvas = Image.new("RGB", (width, height))
    y = 0
    while y < height:
        x = 0
        while x < width:
            photo = rng.choice(photos)
            tile_w = min(photo.width, rng.randrange(200, 520), width - x)
            top = rng.randrange(0, photo.height - ROW_HEIGHT + 1)
            left = rng.randrange(0, photo.width - tile_w + 1)
            tile = photo.crop((left, top, left + tile_w, top + ROW_HEIGHT))
            if rng.random() < 0.5:
                tile = tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            canvas.paste(tile, (x, y))
            x += tile_w
        y += ROW_HEIGHT
    return canvas


def synthetic_detail(width: int, height: int, seed: int) -> Image.Image:
    """Synthetic photo-like detail: foliage (noise), fabric (fine weave) and text bands."""
    rng = random.Random(seed)
    third = height // 3
    # Foliage: multi-scale noise, green-tinted, with energy at every frequency.
    leaves = Image.new("L", (width, third), 110)
    for scale in (1, 3, 9, 27):
        w, h = max(1, width // scale), max(1, third // scale)
        layer = Image.frombytes("L", (w, h), rng.randbytes(w * h)).resize(
            (width, third), Image.Resampling.BICUBIC
        )
        leaves = ImageChops.add(leaves, layer.point(lambda v: v // 5), 1.0, -25)
    foliage = Image.merge(
        "RGB", (leaves.point(lambda v: v // 2), leaves, leaves.point(lambda v: v // 3))
    )
    # Fabric: a two-pixel weave modulated by a slow colour field.
    weave = Image.new("L", (width, third))
    pattern = bytes((180 if (i // 2) % 2 == 0 else 70) for i in range(width))
    rows = [pattern if (r // 2) % 2 == 0 else pattern[2:] + pattern[:2] for r in range(4)]
    weave = Image.frombytes("L", (width, third), b"".join(rows[r % 4] for r in range(third)))
    tint = Image.new("RGB", (8, 8))
    tint.putdata([tuple(rng.randrange(40, 220) for _ in range(3)) for _ in range(64)])
    tint = tint.resize((width, third), Image.Resampling.BICUBIC)
    fabric = ImageChops.multiply(tint, Image.merge("RGB", (weave, weave, weave)))
    # Text: lines of small type, black on paper.
    paper = Image.new("RGB", (width, height - 2 * third), (236, 232, 220))
    draw = ImageDraw.Draw(paper)
    font = ImageFont.load_default(size=14)
    words = ["thumbnail", "aliasing", "moire", "lanczos", "photograph", "detail", "ink"]
    for line_y in range(4, paper.height - 16, 17):
        text = " ".join(rng.choice(words) for _ in range(width // 60))
        draw.text((6, line_y), text, fill=(20, 20, 30), font=font)
    canvas = Image.new("RGB", (width, height))
    canvas.paste(foliage, (0, 0))
    canvas.paste(fabric, (0, third))
    canvas.paste(paper, (0, 2 * third))
    return canvas


def scene(width: int, height: int, seed: int) -> Image.Image:
    """A smooth photo-like scene (used by the throughput benchmark's small uploads)."""
    rng = random.Random(seed)
    base = Image.new("RGB", (16, 12))
    base.putdata([tuple(rng.randrange(30, 230) for _ in range(3)) for _ in range(16 * 12)])
    image = base.resize((width, height), Image.Resampling.BICUBIC)
    grain = Image.frombytes("L", (width, height), rng.randbytes(width * height))
    grain = grain.filter(ImageFilter.BoxBlur(1)).point(lambda v: v * 16 // 255)
    return ImageChops.add(image, Image.merge("RGB", (grain, grain, grain)), 1.0, -8)


def _jpeg(image: Image.Image, *, orientation: int | None = None, **options: object) -> bytes:
    out = io.BytesIO()
    if orientation is not None:
        exif = Image.Exif()
        exif[ORIENTATION_TAG] = orientation
        options["exif"] = exif.tobytes()
    image.save(out, "JPEG", quality=90, **options)
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


def cmyk_with_profile(image: Image.Image, profile: Path) -> bytes:
    """``image`` converted to CMYK through ``profile`` (relative colorimetric), profile embedded."""
    srgb = ImageCms.createProfile("sRGB")
    cmyk = ImageCms.getOpenProfile(str(profile))
    converted = ImageCms.profileToProfile(image, srgb, cmyk, outputMode="CMYK")
    assert converted is not None
    return _jpeg(converted, icc_profile=cmyk.tobytes())


def make_samples(directory: Path, *, seed: int = 7) -> tuple[list[Sample], list[str]]:
    """Write every benchmark sample into ``directory``; also say what was skipped and why."""
    directory.mkdir(parents=True, exist_ok=True)
    skipped: list[str] = []
    specs: list[tuple[str, str, bytes]] = []
    folder = photo_directory()
    if folder is None:
        skipped.append(
            "real-photograph mosaics: scikit-image (its packaged photographs) is not installed"
        )
    else:
        what = "mosaic of real photographs at native resolution"
        big = mosaic(6000, 4000, seed, folder)
        specs.append(("photo-24mp.jpg", f"JPEG 6000x4000 q90, {what}", _jpeg(big)))
        del big
        medium = mosaic(4240, 2832, seed + 1, folder)
        specs += [
            ("photo-12mp.jpg", f"JPEG 4240x2832 q90, {what}", _jpeg(medium)),
            (
                "photo-12mp-exif6.jpg",
                f"JPEG 4240x2832 q90, EXIF orientation 6, {what}",
                _jpeg(medium, orientation=6),
            ),
            ("photo-12mp.png", f"PNG 4240x2832 RGB, {what}", _png(medium)),
            ("photo-12mp.webp", f"WebP 4240x2832 q90, {what}", _webp(medium)),
        ]
        profile = cmyk_profile_path()
        if profile is None:
            skipped.append(
                "CMYK JPEG with an ICC profile: no CMYK profile installed "
                f"(looked for {', '.join(map(str, CMYK_PROFILE_PATHS))}; "
                "Debian package libgs-common)"
            )
        else:
            specs.append(
                (
                    "photo-12mp-cmyk-icc.jpg",
                    f"CMYK JPEG 4240x2832 q90 with embedded ICC ({profile.name}), {what}",
                    cmyk_with_profile(medium, profile),
                )
            )
        small = mosaic(1728, 1152, seed + 2, folder)
        specs.append(("photo-2mp.jpg", f"JPEG 1728x1152 q90, {what}", _jpeg(small)))
        grey = mosaic(3000, 2016, seed + 3, folder)
        specs.append(
            ("photo-6mp-16bit.png", f"16-bit greyscale PNG 3000x2016, {what}", _png(_grey16(grey)))
        )
        del medium, small, grey
    detail = synthetic_detail(4240, 2832, seed + 4)
    specs.append(
        (
            "synthetic-12mp.jpg",
            "JPEG 4240x2832 q90, SYNTHETIC foliage/fabric/text detail",
            _jpeg(detail),
        )
    )
    samples = []
    for name, description, data in specs:
        path = directory / name
        path.write_bytes(data)
        samples.append(Sample(name.replace(".", "-"), description, path))
    return samples, skipped
