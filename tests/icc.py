"""A small CMYK ICC profile built in code, for tests that must not depend on installed files.

ICC v2 output profile, CMYK -> CIELAB through one ``lut8Type`` A2B0 table with a 2-point grid
(multilinear between the 16 corners of the CMYK cube). Its colours are deliberately not what
Pillow's profile-less ``convert("RGB")`` gives (pure cyan here is a dark teal, not (0,255,255)),
so a test can tell whether a converter honoured the embedded profile.
"""

from __future__ import annotations

import itertools
import struct


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _lab(c: int, m: int, y: int, k: int) -> tuple[float, float, float]:
    """CIELAB of one corner of the CMYK cube (0 or 1 per ink)."""
    if k:
        return 12.0, 0.0, 0.0
    lightness = 96.0 - 38.0 * c - 30.0 * m - 8.0 * y - 10.0 * (c * m + m * y + c * y)
    a = -22.0 * c + 60.0 * m - 6.0 * y
    b = -28.0 * c - 40.0 * m + 70.0 * y
    return max(lightness, 10.0), a, b


def _lut8_a2b0() -> bytes:
    head = b"mft1" + b"\0" * 4 + bytes([4, 3, 2, 0])
    matrix = b"".join(_s15(1.0 if row == col else 0.0) for row in range(3) for col in range(3))
    identity = bytes(range(256))
    clut = bytearray()
    for c, m, y, k in itertools.product((0, 1), repeat=4):  # first channel slowest
        lightness, a, b = _lab(c, m, y, k)
        clut += bytes([round(lightness * 255 / 100), round(a + 128), round(b + 128)])
    return head + matrix + identity * 4 + bytes(clut) + identity * 3


def _desc(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    return (
        b"desc"
        + b"\0" * 4
        + struct.pack(">I", len(ascii_text))
        + ascii_text
        + b"\0" * 8  # unicode language code and count
        + b"\0" * 3  # scriptcode code and count
        + b"\0" * 67
    )


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + b"\0" * 4 + _s15(x) + _s15(y) + _s15(z)


def cmyk_profile(description: str = "eventsuite test CMYK") -> bytes:
    """The bytes of a valid CMYK output profile (PCS Lab)."""
    tags = [
        (b"desc", _desc(description)),
        (b"wtpt", _xyz(0.9642, 1.0, 0.8249)),
        (b"cprt", b"text" + b"\0" * 4 + b"public domain\0"),
        (b"A2B0", _lut8_a2b0()),
    ]
    return _profile(b"prtr", b"CMYK", b"Lab ", tags)


def _gamma(value: float) -> bytes:
    return b"curv" + b"\0" * 4 + struct.pack(">IH", 1, round(value * 256)) + b"\0" * 2


def _profile(device: bytes, space: bytes, pcs: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        padded = data + b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += padded
    header = (
        struct.pack(">I", offset + len(body))
        + b"\0" * 4
        + struct.pack(">I", 0x02100000)
        + device
        + space
        + pcs
        + struct.pack(">6H", 2026, 1, 1, 0, 0, 0)
        + b"acsp"
        + b"\0" * 24
        + struct.pack(">I", 0)
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def wide_rgb_profile(description: str = "eventsuite test wide-gamut RGB") -> bytes:
    """The bytes of a valid RGB display profile that is not sRGB: Adobe RGB (1998)-like
    primaries (D50-adapted) and gamma 2.2, so a saturated green in it is greener than sRGB's."""
    tags = [
        (b"desc", _desc(description)),
        (b"wtpt", _xyz(0.9642, 1.0, 0.8249)),
        (b"cprt", b"text" + b"\0" * 4 + b"public domain\0"),
        (b"rXYZ", _xyz(0.6097, 0.3111, 0.0195)),
        (b"gXYZ", _xyz(0.2053, 0.6257, 0.0609)),
        (b"bXYZ", _xyz(0.1492, 0.0632, 0.7446)),
        (b"rTRC", _gamma(2.2)),
        (b"gTRC", _gamma(2.2)),
        (b"bTRC", _gamma(2.2)),
    ]
    return _profile(b"mntr", b"RGB ", b"XYZ ", tags)
