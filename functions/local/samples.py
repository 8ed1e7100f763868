"""Sample images made at run time (deterministic), for the demo and the tests."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

_MAKE, _MODEL, _ORIENTATION, _EXIF_IFD, _GPS_IFD, _DATETIME_ORIGINAL = (
    0x010F,
    0x0110,
    0x0112,
    0x8769,
    0x8825,
    0x9003,
)


def _scene(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A photo-like scene: sky gradient, sea, a sun, some texture."""
    width, height = size
    sky = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    tinted = Image.merge(
        "RGB",
        (
            sky.getchannel(0).point(lambda v: 90 + v // 3),
            sky.getchannel(0).point(lambda v: 140 + v // 4),
            sky.getchannel(0).point(lambda v: 230 - v // 5),
        ),
    )
    draw = ImageDraw.Draw(tinted)
    draw.rectangle((0, height * 2 // 3, width, height), fill=(20, 70, 120))
    radius = min(width, height) // 8
    draw.ellipse(
        (
            width * 2 // 3 - radius,
            height // 4 - radius,
            width * 2 // 3 + radius,
            height // 4 + radius,
        ),
        fill=(250, 210, 90),
    )
    noise = Image.effect_noise((max(1, width // 4), max(1, height // 4)), 12).resize(
        (width, height)
    )
    textured = Image.blend(tinted, Image.merge("RGB", (noise, noise, noise)), 0.08)
    return textured.convert(mode) if mode != "RGB" else textured


def jpeg_with_exif(size: tuple[int, int] = (3000, 2000), *, orientation: int = 6) -> bytes:
    """A JPEG with camera, capture time, GPS (Lisbon) and an orientation tag."""
    exif = Image.Exif()
    exif[_MAKE] = "Fujifilm"
    exif[_MODEL] = "X-T5"
    exif[_ORIENTATION] = orientation
    exif.get_ifd(_EXIF_IFD)[_DATETIME_ORIGINAL] = "2026:08:14 18:32:05"
    exif.get_ifd(_GPS_IFD).update({1: "N", 2: (38.0, 43.0, 20.28), 3: "W", 4: (9.0, 8.0, 21.48)})
    buffer = io.BytesIO()
    _scene(size).save(buffer, "JPEG", quality=90, exif=exif)
    return buffer.getvalue()


def png_with_alpha(size: tuple[int, int] = (1200, 800)) -> bytes:
    """An RGBA PNG with a transparent background."""
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle(
        (size[0] // 8, size[1] // 8, size[0] * 7 // 8, size[1] * 7 // 8),
        radius=size[1] // 6,
        fill=(30, 120, 200, 255),
    )
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def gif_animation(size: tuple[int, int] = (480, 320)) -> bytes:
    """A two-frame palette GIF: transparent background, a red disc, then a green one."""
    frames = []
    for index in (1, 2):
        frame = Image.new("P", size, 0)
        frame.putpalette([0, 0, 0, 200, 40, 40, 40, 200, 40, 255, 255, 255])
        ImageDraw.Draw(frame).ellipse((40, 40, size[0] - 40, size[1] - 40), fill=index)
        frames.append(frame)
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        "GIF",
        save_all=True,
        append_images=frames[1:],
        duration=200,
        loop=0,
        transparency=0,
        disposal=2,
    )
    return buffer.getvalue()


def cmyk_jpeg(size: tuple[int, int] = (1600, 1200)) -> bytes:
    """A CMYK JPEG, as print workflows produce."""
    buffer = io.BytesIO()
    _scene(size, "CMYK").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def png_16bit(size: tuple[int, int] = (1024, 768)) -> bytes:
    """A 16-bit greyscale PNG (scanner output)."""
    ramp = Image.linear_gradient("L").resize(size).convert("I").point(lambda v: v * 257)
    buffer = io.BytesIO()
    ramp.convert("I;16").save(buffer, "PNG")
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    """A JPEG cut in half: the upload died mid-way."""
    data = jpeg_with_exif((1200, 800), orientation=1)
    return data[: len(data) // 2]


def not_an_image() -> bytes:
    """Text with an image file name: the wrong content type."""
    return b"%PDF-1.7 this is not an image at all\n"


def decompression_bomb(pixels: int) -> bytes:
    """A tiny PNG that declares ``pixels`` pixels (a 1-bit image compresses enormously)."""
    side = int(pixels**0.5) + 1
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()
