"""libvips renders the largest rendition of RGB and greyscale JPEGs; Pillow everything else,
and Pillow alone decides whether bad input is refused (shared/images/vips.py)."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image, ImageCms, ImageStat

from shared.errors import PermanentError
from shared.images import vips
from shared.images.thumbnails import Rendition, render_thumbnails
from tests.icc import cmyk_profile, wide_rgb_profile
from tests.unit.test_images import _detailed, _psnr


def _jpeg(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, **options)
    return buffer.getvalue()


def _pixels(rendition: Rendition) -> Image.Image:
    with Image.open(io.BytesIO(rendition.data)) as image:
        return image.convert("RGB")


@pytest.fixture
def libvips_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The targets libvips rendered (successful calls only), with the Pillow decode disabled:
    a test that expects libvips fails if the image fell back to Pillow."""
    from shared.images import decoding

    calls: list[tuple[int, int]] = []
    real = vips.render_jpeg

    def recording(data: bytes, **options: object) -> Image.Image:
        pixels = real(data, **options)  # type: ignore[arg-type]
        calls.append(options["target"])  # type: ignore[arg-type]
        return pixels

    def no_pillow(image: Image.Image, data: bytes, **options: object) -> object:
        raise AssertionError(f"Pillow decoded a {image.format} that libvips should have")

    monkeypatch.setattr(vips, "render_jpeg", recording)
    monkeypatch.setattr(decoding, "decode", no_pillow)
    return calls


@pytest.fixture
def pillow_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vips, "render_jpeg", _refuse)


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The targets libvips was asked to render (Pillow left working)."""
    calls: list[tuple[int, int]] = []
    real = vips.render_jpeg

    def recording(data: bytes, **options: object) -> Image.Image:
        calls.append(options["target"])  # type: ignore[arg-type]
        return real(data, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(vips, "render_jpeg", recording)
    return calls


def _outcome(data: bytes) -> str:
    try:
        renditions = render_thumbnails(data, [256, 1024])
    except PermanentError as exc:
        return type(exc).__name__
    return "rendered " + ", ".join(f"{r.width}x{r.height}" for r in renditions)


def test_the_largest_rendition_of_an_rgb_jpeg_comes_from_libvips(
    libvips_calls: list[tuple[int, int]],
) -> None:
    data = _jpeg(_detailed((3000, 2000)))
    renditions = render_thumbnails(data, [256, 1024])
    assert libvips_calls == [(1024, 683)]
    assert [(r.width, r.height) for r in renditions] == [(256, 171), (1024, 683)]
    grey = _jpeg(_detailed((2400, 1600)).convert("L"))
    [small] = render_thumbnails(grey, [256])
    assert libvips_calls[-1] == (256, 171)
    assert _pixels(small).size == (256, 171)


def test_libvips_and_pillow_render_the_same_picture(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _jpeg(_detailed((3000, 2000)))
    through_libvips = render_thumbnails(data, [256, 1024])
    monkeypatch.setattr(vips, "render_jpeg", _refuse)
    through_pillow = render_thumbnails(data, [256, 1024])
    for first, second in zip(through_libvips, through_pillow, strict=True):
        assert (first.width, first.height) == (second.width, second.height)
        assert _psnr(_pixels(first), _pixels(second)) > 38


def _refuse(data: bytes, **options: object) -> Image.Image:
    raise vips.VipsFailed("disabled by the test")


@pytest.mark.parametrize(
    ("name", "data", "boxes"),
    [
        ("CMYK JPEG", _jpeg(_detailed((1600, 1200)).convert("CMYK")), [256, 1024]),
        ("PNG", b"png", [256, 1024]),
        ("a smaller box that cannot cascade", _jpeg(_detailed((3000, 2000))), [600, 1024]),
        ("an image smaller than twice the small box", _jpeg(_detailed((400, 300))), [256, 1024]),
    ],
)
def test_pillow_renders_what_libvips_is_not_asked_to(
    asked: list[tuple[int, int]], name: str, data: bytes, boxes: list[int]
) -> None:
    if data == b"png":
        buffer = io.BytesIO()
        _detailed((1600, 1200)).save(buffer, "PNG")
        data = buffer.getvalue()
    renditions = render_thumbnails(data, boxes)
    assert asked == [], name
    assert len(renditions) == len(boxes)


def test_a_jpeg_libvips_fails_on_still_renders_through_pillow(pillow_only: None) -> None:
    renditions = render_thumbnails(_jpeg(_detailed((3000, 2000))), [256, 1024])
    assert [(r.width, r.height) for r in renditions] == [(256, 171), (1024, 683)]


def test_libvips_never_accepts_what_pillow_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _jpeg(_detailed((1800, 1200)))
    progressive = _jpeg(_detailed((1800, 1200), seed=5), progressive=True)
    rng = random.Random(14)
    inputs = [
        source[: rng.randrange(200, len(source))]
        for source in (data, progressive)
        for _ in range(12)
    ]
    for source in (data, progressive):
        for _ in range(12):
            damaged = bytearray(source)
            damaged[rng.randrange(700, len(source))] ^= 1 << rng.randrange(8)
            inputs.append(bytes(damaged))
    outcomes = [_outcome(item) for item in inputs]
    monkeypatch.setattr(vips, "render_jpeg", _refuse)
    assert outcomes == [_outcome(item) for item in inputs]
    truncated = outcomes[:24]
    assert all(outcome == "CorruptImage" for outcome in truncated), truncated


def test_a_jpeg_with_a_wide_gamut_profile_is_converted_to_srgb_by_libvips(
    libvips_calls: list[tuple[int, int]],
) -> None:
    green = Image.new("RGB", (2400, 1600), (40, 200, 60))
    [rendition] = render_thumbnails(_jpeg(green, icc_profile=wide_rgb_profile()), [1024])
    assert libvips_calls == [(1024, 683)]
    expected = ImageCms.profileToProfile(
        Image.new("RGB", (1, 1), (40, 200, 60)),
        ImageCms.ImageCmsProfile(io.BytesIO(wide_rgb_profile())),
        ImageCms.createProfile("sRGB"),
        renderingIntent=ImageCms.Intent.PERCEPTUAL,
    )
    assert expected is not None
    wanted = expected.getpixel((0, 0))
    mean = ImageStat.Stat(_pixels(rendition)).mean
    assert max(abs(a - b) for a, b in zip(mean, wanted, strict=True)) < 3  # type: ignore[arg-type]
    assert abs(mean[2] - 60) > 15  # the test can tell converted from untouched
    with Image.open(io.BytesIO(rendition.data)) as written:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(written.info["icc_profile"]))
    assert "srgb" in str(profile.profile.profile_description).lower()


def test_a_broken_profile_is_ignored_on_both_engines(
    libvips_calls: list[tuple[int, int]],
) -> None:
    broken = wide_rgb_profile()[:200]
    [rendition] = render_thumbnails(
        _jpeg(Image.new("RGB", (2400, 1600), (40, 200, 60)), icc_profile=broken), [1024]
    )
    assert libvips_calls == [(1024, 683)]
    mean = ImageStat.Stat(_pixels(rendition)).mean
    assert abs(mean[1] - 200) < 3 and abs(mean[2] - 60) < 3
    with Image.open(io.BytesIO(rendition.data)) as written:
        assert "icc_profile" not in written.info


def test_cmyk_with_its_profile_stays_on_the_pillow_path(asked: list[tuple[int, int]]) -> None:
    cmyk = Image.new("CMYK", (2400, 1600), (255, 0, 0, 0))
    [rendition] = render_thumbnails(_jpeg(cmyk, icc_profile=cmyk_profile()), [1024])
    assert asked == []
    assert _pixels(rendition).size == (1024, 683)


def test_render_jpeg_gives_the_target_size_in_l_or_rgb() -> None:
    rgb = _jpeg(_detailed((3000, 2000)))
    pixels = vips.render_jpeg(
        rgb, size=(3000, 2000), target=(1024, 683), at_least=(2048, 1366), to_srgb=False
    )
    assert (pixels.mode, pixels.size) == ("RGB", (1024, 683))
    grey = _jpeg(_detailed((1200, 800)).convert("L"))
    pixels = vips.render_jpeg(
        grey, size=(1200, 800), target=(300, 200), at_least=(600, 400), to_srgb=False
    )
    assert (pixels.mode, pixels.size) == ("L", (300, 200))


def test_render_jpeg_converts_through_the_profile_only_when_asked() -> None:
    data = _jpeg(Image.new("RGB", (800, 600), (40, 200, 60)), icc_profile=wide_rgb_profile())
    options = {"size": (800, 600), "target": (400, 300), "at_least": (800, 600)}
    untouched = ImageStat.Stat(vips.render_jpeg(data, to_srgb=False, **options)).mean  # type: ignore[arg-type]
    converted = ImageStat.Stat(vips.render_jpeg(data, to_srgb=True, **options)).mean  # type: ignore[arg-type]
    assert abs(untouched[2] - 60) < 3 and abs(converted[2] - 60) > 15


def test_render_jpeg_refuses_a_size_that_disagrees_with_pillows_header() -> None:
    data = _jpeg(_detailed((1200, 800)))
    with pytest.raises(vips.VipsFailed, match="Pillow's header"):
        vips.render_jpeg(
            data, size=(1300, 800), target=(512, 315), at_least=(1024, 630), to_srgb=False
        )


def test_whatever_libvips_raises_sends_the_jpeg_to_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    import pyvips

    def broken(*args: object, **options: object) -> object:
        raise OSError("cannot load library 'libvips.so.42'")

    monkeypatch.setattr(pyvips.Image, "jpegload_buffer", broken)
    data = _jpeg(_detailed((3000, 2000)))
    with pytest.raises(vips.VipsFailed, match="OSError"):
        vips.render_jpeg(
            data, size=(3000, 2000), target=(1024, 683), at_least=(2048, 1366), to_srgb=False
        )
    renditions = render_thumbnails(data, [256, 1024])
    assert [(r.width, r.height) for r in renditions] == [(256, 171), (1024, 683)]


def test_a_libvips_that_cannot_be_loaded_leaves_jpeg_to_pillow_and_says_so_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import sys

    import shared.images
    from shared.images import thumbnails

    monkeypatch.setitem(sys.modules, "shared.images.vips", None)  # the import fails
    monkeypatch.delattr(shared.images, "vips", raising=False)
    thumbnails._libvips.cache_clear()
    try:
        data = _jpeg(_detailed((3000, 2000)))
        with caplog.at_level("ERROR", logger="shared.images.thumbnails"):
            for _ in range(2):
                renditions = render_thumbnails(data, [256, 1024])
                assert [(r.width, r.height) for r in renditions] == [(256, 171), (1024, 683)]
        errors = [r for r in caplog.records if "libvips cannot be loaded" in r.getMessage()]
        assert len(errors) == 1
    finally:
        thumbnails._libvips.cache_clear()
