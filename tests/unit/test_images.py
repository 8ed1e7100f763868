"""Thumbnails and metadata on real images made at run time, including hostile ones."""

from __future__ import annotations

import io
from collections.abc import Sequence

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


# -- quality, colour, one decode, refusal at the first attempt ------------------------------


def _detailed(size: tuple[int, int], seed: int = 3) -> Image.Image:
    """Photo-like fine detail: multi-scale noise (foliage), a 3 px weave (fabric), text."""
    import random

    from PIL import ImageChops, ImageDraw, ImageFont

    rng = random.Random(seed)
    width, height = size
    leaves = Image.new("L", size, 100)
    for scale in (1, 2, 5, 13, 40):
        w, h = max(1, width // scale), max(1, height // scale)
        layer = Image.frombytes("L", (w, h), rng.randbytes(w * h)).resize(
            size, Image.Resampling.BICUBIC
        )
        leaves = ImageChops.add(leaves, layer.point(lambda v: v // 6), 1.0, -21)
    tint = Image.new("RGB", (6, 4))
    tint.putdata([tuple(rng.randrange(40, 230) for _ in range(3)) for _ in range(24)])
    image = ImageChops.multiply(
        tint.resize(size, Image.Resampling.BICUBIC), Image.merge("RGB", (leaves,) * 3)
    )
    image = ImageChops.add(image, image, 1.0, 0)  # lift after the multiply
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=13)
    for y in range(height // 2, height - 14, 15):
        draw.text(
            (4, y), "the quick brown fox jumps over the lazy dog " * 8, fill=(15, 15, 25), font=font
        )
    return image


def _encoded(image: Image.Image, quality: int = 85) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return _decode(buffer.getvalue()).convert("RGB")


def _psnr(first: Image.Image, second: Image.Image) -> float:
    import math

    from PIL import ImageChops

    rms = ImageStat.Stat(ImageChops.difference(first.convert("RGB"), second.convert("RGB"))).rms
    mse = sum(value * value for value in rms) / len(rms)
    return math.inf if mse == 0 else 10 * math.log10(255 * 255 / mse)


@pytest.mark.parametrize("file_format", ["JPEG", "PNG"])
def test_renditions_are_close_to_one_full_lanczos_pass_on_fine_detail(file_format: str) -> None:
    # The reference: decode everything, one LANCZOS pass, encoded like the renditions.
    # Aliasing (a large block average before a short LANCZOS pass, or a DCT-scaled decode
    # left with almost no reduction) costs 3-5 dB here; naive thumbnail() is the floor.
    source = _detailed((2400, 1600))
    buffer = io.BytesIO()
    source.save(buffer, file_format, **({"quality": 92} if file_format == "JPEG" else {}))
    data = buffer.getvalue()
    full = _decode(data).convert("RGB")
    for rendition in render_thumbnails(data, [256, 1024], quality=85):
        size = (rendition.width, rendition.height)
        reference = _encoded(full.resize(size, Image.Resampling.LANCZOS))
        naive = Image.open(io.BytesIO(data))
        naive.thumbnail((rendition.box, rendition.box))
        ours = _psnr(_decode(rendition.data), reference)
        floor = _psnr(_encoded(naive.convert("RGB")), reference)
        assert ours >= 37.0, (rendition.box, ours)
        assert ours >= floor - 0.5, (rendition.box, ours, floor)


def _cmyk_jpeg_with_profile(image: Image.Image) -> bytes:
    from tests.icc import cmyk_profile

    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, icc_profile=cmyk_profile())
    return buffer.getvalue()


def _through_profile(image: Image.Image) -> Image.Image:
    from PIL import ImageCms

    from tests.icc import cmyk_profile

    profile = ImageCms.ImageCmsProfile(io.BytesIO(cmyk_profile()))
    converted = ImageCms.profileToProfile(
        image, profile, ImageCms.createProfile("sRGB"), outputMode="RGB"
    )
    assert converted is not None
    return converted


def _distance(first: Sequence[float], second: Sequence[float]) -> float:
    return max(abs(a - b) for a, b in zip(first, second, strict=True))


def test_cmyk_with_an_icc_profile_is_converted_through_it_to_srgb() -> None:
    from PIL import ImageCms

    flat = Image.new("CMYK", (1200, 800), (200, 50, 0, 0))
    rendition = render_thumbnails(_cmyk_jpeg_with_profile(flat), [256])[0]
    thumbnail = _decode(rendition.data)
    assert thumbnail.mode == "RGB"
    mean = ImageStat.Stat(thumbnail).mean
    assert _distance(mean, _through_profile(flat).getpixel((0, 0))) < 4  # the profile's colour
    assert _distance(mean, flat.convert("RGB").getpixel((0, 0))) > 30  # not Pillow's guess
    # Written as sRGB, and tagged so: the embedded profile is sRGB, not the CMYK one.
    profile = ImageCms.ImageCmsProfile(io.BytesIO(thumbnail.info["icc_profile"]))
    assert "srgb" in profile.profile.profile_description.lower()


def test_cmyk_is_converted_before_resizing_not_after() -> None:
    # 2 px stripes of cyan and paper: colour conversion is not linear, so averaging in CMYK
    # and converting the average gives another colour than averaging the converted colours.
    stripes = Image.new("CMYK", (1600, 1000), (0, 0, 0, 0))
    for x in range(0, 1600, 4):
        stripes.paste((255, 0, 0, 0), (x, 0, x + 2, 1000))
    mean = ImageStat.Stat(
        _decode(render_thumbnails(_cmyk_jpeg_with_profile(stripes), [256])[0].data)
    ).mean
    converted_first = ImageStat.Stat(_through_profile(stripes)).mean
    averaged_first = _through_profile(Image.new("CMYK", (1, 1), (128, 0, 0, 0))).getpixel((0, 0))
    assert _distance(converted_first, averaged_first) > 10  # the test can tell them apart
    assert _distance(mean, converted_first) < 5


def test_one_decode_for_every_box_and_none_for_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import ImageFile

    from shared.images import decoding, vips

    decodes: list[str] = []
    loads: list[str] = []
    real_decode, real_load, real_vips = decoding.decode, ImageFile.ImageFile.load, vips.render_jpeg

    def counting_decode(image: Image.Image, data: bytes, **options: object) -> object:
        decodes.append(str(image.format))
        return real_decode(image, data, **options)  # type: ignore[arg-type]

    def counting_vips(data: bytes, **options: object) -> object:
        decodes.append("JPEG")
        return real_vips(data, **options)  # type: ignore[arg-type]

    def counting_load(self: ImageFile.ImageFile) -> object:
        loads.append(str(self.format))
        return real_load(self)

    monkeypatch.setattr(decoding, "decode", counting_decode)
    monkeypatch.setattr(vips, "render_jpeg", counting_vips)
    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    exif = Image.Exif()
    exif[0x0112] = 6
    inputs = {
        "JPEG": samples.jpeg_with_exif((1600, 1200), orientation=6),
        "PNG": _png_with_exif(_detailed((900, 600)), exif),
        "WEBP": _webp(_detailed((900, 600)), quality=80),
    }
    for name, data in inputs.items():
        decodes.clear()
        render_thumbnails(data, [256, 1024])
        assert decodes == [name]
        decodes.clear()
        loads.clear()
        document = extract_metadata(data, bucket="b", key="k")
        assert decodes == [] and loads == [], name  # header and bytes only
        if name != "WEBP":
            assert document["orientation"] == 6, name


def _png_with_exif(image: Image.Image, exif: Image.Exif) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", exif=exif)
    return buffer.getvalue()


def _damaged_png() -> bytes:
    data = bytearray(_png_with_exif(_detailed((400, 300)), Image.Exif()))
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the image data
    return bytes(data)


def _truncated(data: bytes, keep: float = 0.6) -> bytes:
    return data[: int(len(data) * keep)]


HOSTILE = {
    "truncated JPEG": (samples.truncated_jpeg(), CorruptImage, "truncated"),
    "truncated PNG": (
        _truncated(_png_with_exif(_detailed((400, 300)), Image.Exif())),
        CorruptImage,
        "truncated",
    ),
    "damaged PNG": (_damaged_png(), CorruptImage, "corrupt|damaged|CRC"),
    "truncated WebP": (
        _truncated(_webp(_detailed((400, 300)), quality=90)),
        CorruptImage,
        "cannot read image header",
    ),
    "truncated GIF": (_truncated(samples.gif_animation(), 0.5), CorruptImage, "truncat"),
    "PDF named .jpg": (samples.not_an_image(), UnsupportedImage, "not a supported image"),
    "bomb": (samples.decompression_bomb(45_000_000), ImageTooLarge, "limit"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_bad_input_is_refused_by_both_functions_with_its_reason(name: str) -> None:
    data, error, message = HOSTILE[name]
    with pytest.raises(error, match=message):
        render_thumbnails(data, [256, 1024])
    with pytest.raises(error, match=message):
        extract_metadata(data, bucket="b", key="k")


@pytest.mark.parametrize("consumer", ["thumbnailer", "indexer"])
def test_a_truncated_png_is_dead_lettered_at_the_first_attempt(consumer: str) -> None:
    from shared.dispatch import Dispatcher, Outcome
    from tests.builders import image_event
    from tests.fakes import fake_ports

    data = HOSTILE["truncated PNG"][0]
    ports = fake_ports()
    ports.objects.put("uploads", "uploads/cut.png", data, content_type="image/png")
    result = Dispatcher(consumer, ports).deliver(image_event(key="uploads/cut.png", size=len(data)))
    assert result.outcome is Outcome.DEAD_LETTERED
    [entry] = ports.dead_letters.entries
    assert "truncated" in entry["reason"]


def test_metadata_reads_a_png_exif_chunk_that_follows_the_pixels() -> None:
    exif = Image.Exif()
    exif[0x010F] = "Scanner Co"
    exif[0x0112] = 8
    document = extract_metadata(_png_with_exif(_detailed((300, 200)), exif), bucket="b", key="k")
    assert document["camera_make"] == "Scanner Co"
    assert (document["width"], document["height"], document["orientation"]) == (200, 300, 8)


@pytest.mark.parametrize("direct", [True, False])
def test_still_webp_decodes_with_and_without_the_direct_decoder(
    direct: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.images import webp

    if direct and not webp.available():
        pytest.skip("libwebp cannot be loaded through ctypes here")
    if not direct:
        monkeypatch.setattr(webp, "_library", lambda: None)
    opaque = render_thumbnails(_webp(_detailed((900, 600)), quality=90), [256])[0]
    assert (opaque.format, opaque.width, opaque.height) == ("JPEG", 256, 171)
    source = Image.new("RGBA", (800, 400), (0, 0, 0, 0))
    source.paste((20, 200, 20, 255), (200, 100, 600, 300))
    clear = _decode(render_thumbnails(_webp(source, lossless=True), [256])[0].data)
    assert clear.getpixel((2, 2))[3] == 0 and clear.getpixel((128, 64))[3] == 255


def test_an_srgb_profile_needs_no_conversion_and_untagged_output_stays_untagged() -> None:
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for icc in (srgb, None):
        buffer = io.BytesIO()
        Image.new("RGB", (800, 600), (30, 200, 60)).save(
            buffer, "JPEG", quality=95, **({"icc_profile": icc} if icc else {})
        )
        thumbnail = _decode(render_thumbnails(buffer.getvalue(), [256])[0].data)
        assert "icc_profile" not in thumbnail.info
        assert _distance(ImageStat.Stat(thumbnail).mean, (30, 200, 60)) < 3


# -- PNG decoded in bands of rows -------------------------------------------------------------


def _png(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **options)
    return buffer.getvalue()


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
@pytest.mark.parametrize("factor", [2, 3, 8])
def test_a_png_decoded_in_bands_equals_the_whole_decode_reduced(
    mode: str, factor: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.images import pngbands

    # Small bands, so rows of every PNG filter type straddle many band boundaries; an odd
    # size, so the last block row and column are partial.
    monkeypatch.setattr(pngbands, "BAND_BYTES", 20_000)
    source = _detailed((701, 467)).convert(mode)
    if mode == "RGBA":
        source.putalpha(Image.linear_gradient("L").resize(source.size))
    data = _png(source)
    opened = Image.open(io.BytesIO(data))
    banded = pngbands.decode(data, opened, factor)
    assert banded is not None
    assert banded.image.tobytes() == _decode(data).reduce(factor).tobytes()
    assert banded.extent == (701 / factor, 467 / factor)


def test_banding_leaves_out_what_it_cannot_decode_exactly() -> None:
    from shared.images import pngbands

    rgb = _detailed((300, 200))
    for data in (_png(rgb.convert("P")), _png(rgb.convert("LA")), _png(rgb.convert("I;16"))):
        assert pngbands.decode(data, Image.open(io.BytesIO(data)), 2) is None
    data = _png(rgb)
    assert pngbands.decode(data, Image.open(io.BytesIO(data)), 1) is None  # nothing to gain
    keyed = _png(rgb, transparency=(0, 0, 0))
    assert pngbands.decode(keyed, Image.open(io.BytesIO(keyed)), 2) is None


def test_a_large_png_with_a_transparent_colour_key_keeps_its_transparency() -> None:
    source = Image.new("RGB", (1600, 1000), (0, 0, 0))
    source.paste((20, 200, 20), (400, 250, 1200, 750))
    thumbnail = _decode(render_thumbnails(_png(source, transparency=(0, 0, 0)), [256])[0].data)
    assert thumbnail.mode == "RGBA"
    assert thumbnail.getpixel((2, 2))[3] == 0 and thumbnail.getpixel((128, 80))[3] == 255


def test_a_large_png_renders_close_to_one_full_lanczos_pass_through_the_bands() -> None:
    source = _detailed((2400, 1600))
    data = _png(source)
    for box in (256, 1024):
        [rendition] = render_thumbnails(data, [box], quality=85)  # 256 alone: factor 4
        size = (rendition.width, rendition.height)
        reference = _encoded(source.resize(size, Image.Resampling.LANCZOS))
        assert _psnr(_decode(rendition.data), reference) >= 37.0, box


def test_a_banded_png_keeps_its_orientation_from_an_exif_chunk_after_the_pixels() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    rendition = render_thumbnails(_png_with_exif(_detailed((1600, 1000)), exif), [256])[0]
    assert (rendition.width, rendition.height) == (160, 256)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_a_truncated_large_png_is_refused_through_the_bands_with_its_reason(keep: float) -> None:
    data = _png(_detailed((1600, 1000)))
    with pytest.raises(CorruptImage, match="truncated"):
        render_thumbnails(_truncated(data, keep), [256])


def test_a_damaged_large_png_is_refused_through_the_bands_with_its_reason() -> None:
    data = bytearray(_png(_detailed((1600, 1000))))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(CorruptImage, match=r"corrupt|truncated"):
        render_thumbnails(bytes(data), [256])


def test_a_png_stream_longer_than_its_rows_stops_at_the_last_row() -> None:
    import struct
    import zlib

    width, height = 1200, 800
    rows = (b"\x00" + bytes(range(256)) * (width * 3 // 256) + bytes(width * 3 % 256)) * height
    stream = zlib.compress(rows * 200, 9)  # 200x more rows than the header says: 0.6 GB

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", stream)
        + chunk(b"IEND", b"")
    )
    [rendition] = render_thumbnails(data, [256])
    assert (rendition.width, rendition.height) == (256, 171)


def test_a_13_mp_png_never_holds_the_whole_image(tmp_path: object) -> None:
    # In a fresh process: the peak RSS growth of rendering both boxes of a 4400x3000 PNG (a
    # 2x band reduction for the 1024 box) stays well under the whole image at Pillow's 4
    # bytes a pixel (53 MB), which a whole-image decode alone would need (24 MB measured).
    import subprocess
    import sys
    from pathlib import Path

    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("peak RSS cannot be reset on this platform (/proc/self/clear_refs)")
    path = Path(str(tmp_path)) / "big.png"
    size = (4400, 3000)
    gradient = Image.linear_gradient("L").resize(size)
    Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_180), gradient)).save(
        path, "PNG"
    )
    code = """
import sys
from pathlib import Path
from shared.images.thumbnails import render_thumbnails
data = Path(sys.argv[1]).read_bytes()
render_thumbnails(data, [8])  # first-use costs (plugins, profiles) are not the decode's
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
try:
    open("/proc/self/clear_refs", "w").write("5")
except OSError:
    print("-1"); raise SystemExit
before = status("VmRSS")
render_thumbnails(data, [256, 1024])
print(status("VmHWM") - before)
"""
    completed = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    growth = int(completed.stdout.strip())
    if growth < 0:
        pytest.skip("peak RSS cannot be reset here")
    assert growth < size[0] * size[1] * 4 * 0.6, growth / 1e6


def test_a_banded_png_is_colour_managed_band_by_band_before_the_reduction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from PIL import ImageCms

    from shared.images import decoding

    seen: list[tuple[int, int]] = []
    real = decoding.to_srgb

    def recording(image: Image.Image, icc: bytes | None) -> tuple[Image.Image, bool]:
        seen.append(image.size)
        return real(image, icc)

    monkeypatch.setattr(decoding, "to_srgb", recording)
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = _png(_detailed((1600, 1000)), icc_profile=profile)
    render_thumbnails(data, [256])
    assert len(seen) > 1 and all(width == 1600 for width, _ in seen), seen
