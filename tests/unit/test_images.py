"""Thumbnails and metadata on real images made at run time, including hostile ones."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageStat

from functions.local import samples
from shared.errors import CorruptImage, ImageTooLarge, UnsupportedImage
from shared.images.metadata import extract_metadata
from shared.images.thumbnails import fit, render_thumbnails
from shared.index import matches
from shared.ports import IndexQuery


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _jpeg(size: tuple[int, int], mode: str = "RGB", colour: object = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def test_fit_keeps_aspect_and_never_upscales() -> None:
    assert fit((6000, 4000), 256) == (256, 171)
    assert fit((4000, 6000), 1024) == (683, 1024)
    assert fit((100, 50), 256) == (100, 50)


def test_renditions_fit_their_boxes_in_requested_order() -> None:
    renditions = render_thumbnails(_jpeg((3000, 2000)), [256, 1024])
    assert [(r.box, r.width, r.height, r.format) for r in renditions] == [
        (256, 256, 171, "JPEG"),
        (1024, 1024, 683, "JPEG"),
    ]
    assert _decode(renditions[0].data).size == (256, 171)
    assert renditions[0].content_type == "image/jpeg"


def test_exif_orientation_is_applied() -> None:
    rendition = render_thumbnails(samples.jpeg_with_exif((1200, 800), orientation=6), [256])[0]
    assert (rendition.width, rendition.height) == (171, 256)  # rotated to portrait
    thumbnail = _decode(rendition.data)
    assert "exif" not in thumbnail.info  # GPS and camera data are not copied into renditions


def test_colours_survive_the_dct_fast_path() -> None:
    thumbnail = _decode(render_thumbnails(_jpeg((4000, 3000)), [256])[0].data)
    red, green, blue = ImageStat.Stat(thumbnail).mean
    assert red > 180 and green < 60 and blue < 60


def test_cmyk_jpeg_becomes_rgb_jpeg() -> None:
    rendition = render_thumbnails(samples.cmyk_jpeg((800, 600)), [256])[0]
    assert rendition.format == "JPEG"
    assert _decode(rendition.data).mode == "RGB"


def test_16_bit_png_is_scaled_not_clipped() -> None:
    thumbnail = _decode(render_thumbnails(samples.png_16bit((512, 384)), [256])[0].data)
    low, high = thumbnail.getextrema()
    assert low < 30 and high > 220  # a full ramp survives; clipping would make it white
    assert 90 < ImageStat.Stat(thumbnail).mean[0] < 165


def test_alpha_sources_become_webp_with_alpha() -> None:
    rendition = render_thumbnails(samples.png_with_alpha((600, 400)), [256])[0]
    assert (rendition.format, rendition.content_type) == ("WEBP", "image/webp")
    thumbnail = _decode(rendition.data)
    assert thumbnail.mode == "RGBA"
    assert thumbnail.getpixel((0, 0))[3] == 0  # transparent corner stays transparent
    assert thumbnail.getpixel((128, 85))[3] == 255


def test_gif_uses_the_first_frame_and_keeps_transparency() -> None:
    rendition = render_thumbnails(samples.gif_animation(), [256])[0]
    thumbnail = _decode(rendition.data).convert("RGBA")
    r, g, _, a = thumbnail.getpixel((128, 85))
    assert a == 255 and r > 150 and g < 90  # frame 1's red disc, not frame 2's green one
    assert thumbnail.getpixel((1, 1))[3] == 0  # the transparent background stays transparent


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (samples.truncated_jpeg(), CorruptImage, "truncated"),
        (samples.not_an_image(), UnsupportedImage, "not a supported image"),
        (b"", UnsupportedImage, "empty"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, UnsupportedImage, "not a supported image"),
    ],
)
def test_hostile_inputs_fail_permanently_with_a_reason(
    data: bytes, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        render_thumbnails(data, [256])
    with pytest.raises(error):
        extract_metadata(data, bucket="b", key="k")


def test_decompression_bomb_beyond_our_limit_is_refused_before_decoding() -> None:
    bomb = samples.decompression_bomb(30_000_000)
    assert len(bomb) < 100_000
    with pytest.raises(ImageTooLarge, match="limit is 20000000"):
        render_thumbnails(bomb, [256], max_pixels=20_000_000)


def test_pillow_warning_zone_counts_as_an_error() -> None:
    # Between 1x and 2x Pillow's own MAX_IMAGE_PIXELS Pillow only warns; we refuse.
    limit = Image.MAX_IMAGE_PIXELS
    assert limit is not None
    bomb = samples.decompression_bomb(int(limit * 1.3))
    with pytest.raises(ImageTooLarge):
        render_thumbnails(bomb, [256], max_pixels=limit * 4)


def test_metadata_reads_camera_time_orientation_and_gps() -> None:
    data = samples.jpeg_with_exif((1200, 800), orientation=6)
    document = extract_metadata(data, bucket="uploads", key="uploads/harbour.jpg")
    assert document["format"] == "JPEG" and document["mode"] == "RGB"
    assert (document["width"], document["height"]) == (800, 1200)  # as displayed
    assert document["camera_make"] == "Fujifilm" and document["camera_model"] == "X-T5"
    assert document["captured_at"] == "2026-08-14T18:32:05"
    assert document["orientation"] == 6
    assert document["gps"] == pytest.approx({"lat": 38.7223, "lon": -9.1393}, abs=1e-4)
    assert document["bytes"] == len(data) and len(document["sha256"]) == 64
    assert len(document["image_id"]) == 40


def test_metadata_without_exif_has_nulls() -> None:
    document = extract_metadata(samples.png_with_alpha((300, 200)), bucket="b", key="k.png")
    assert document["camera_make"] is None and document["gps"] is None
    assert document["captured_at"] is None and document["orientation"] == 1


def test_index_query_semantics() -> None:
    document = {
        "camera_make": "Fujifilm",
        "camera_model": "X-T5",
        "captured_at": "2026-08-14T18:32:05",
        "width": 2000,
    }
    assert matches(document, IndexQuery(camera="x-t5"))
    assert matches(document, IndexQuery(captured_from="2026-08-01", captured_to="2026-08-31"))
    assert not matches(
        document, IndexQuery(captured_to="2026-08-14")
    )  # 18:32 is after the day's start
    assert matches(document, IndexQuery(min_width=2000))
    assert not matches(document, IndexQuery(min_width=2001))
    assert not matches({"width": 10}, IndexQuery(captured_from="2000-01-01"))
    assert not matches(document, IndexQuery(camera="canon"))


def _webp(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", **options)
    return buffer.getvalue()


def test_rgba_webp_keeps_its_alpha() -> None:
    source = Image.new("RGBA", (800, 400), (0, 0, 0, 0))
    source.paste((20, 200, 20, 255), (200, 100, 600, 300))
    thumbnail = _decode(render_thumbnails(_webp(source, lossless=True), [256])[0].data)
    assert thumbnail.mode == "RGBA"
    assert thumbnail.getpixel((2, 2))[3] == 0
    assert thumbnail.getpixel((128, 64))[3] == 255


def test_animated_webp_uses_the_first_frame() -> None:
    frames = [Image.new("RGB", (400, 300), colour) for colour in ((220, 20, 20), (20, 20, 220))]
    data = _webp(frames[0], save_all=True, append_images=frames[1:], duration=100, lossless=True)
    thumbnail = _decode(render_thumbnails(data, [256])[0].data)
    red, _, blue = ImageStat.Stat(thumbnail.convert("RGB")).mean
    assert red > 180 and blue < 60


def test_truncated_webp_is_corrupt() -> None:
    data = _webp(Image.effect_noise((600, 400), 60).convert("RGB"), quality=90)
    with pytest.raises((CorruptImage, UnsupportedImage)):
        render_thumbnails(data[: len(data) // 2], [256])


def test_16_bit_png_with_orientation_is_scaled_and_rotated() -> None:
    ramp = Image.linear_gradient("L").resize((600, 300)).convert("I").point(lambda v: v * 257)
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    ramp.convert("I;16").save(buffer, "PNG", exif=exif)
    rendition = render_thumbnails(buffer.getvalue(), [256])[0]
    assert (rendition.width, rendition.height) == (128, 256)
    low, high = _decode(rendition.data).getextrema()
    assert low < 30 and high > 220
