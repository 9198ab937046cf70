"""Safe decoding: every failure is a typed MediaError; orientation, alpha and frames as documented."""

from __future__ import annotations

import contextlib
import io
import struct
import time
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from staydown.media.decode import DecodeLimits, decode_image, probe, sniff_format
from staydown.media.errors import (
    CorruptMedia,
    DecodeTimeout,
    DecompressionBomb,
    MediaError,
    MediaTooLarge,
    UnsupportedMedia,
)


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height RGB pixels but carries almost no data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def animated_gif(n: int, size=(48, 32)) -> bytes:
    frames = [Image.new("RGB", size, (i * 37 % 256, i * 91 % 256, i * 53 % 256)) for i in range(n)]
    for i, f in enumerate(frames):  # make every frame differ so Pillow keeps them all
        f.putpixel((i % size[0], 0), (255 - i % 256, 0, 0))
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=40, loop=0)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"])
def test_decodes_supported_formats(photo, fmt):
    decoded = decode_image(encode(photo, fmt))
    assert decoded.info.format == fmt
    assert decoded.image.mode == "RGB"
    assert decoded.image.size == photo.size


def test_heif_when_pillow_heif_is_installed(photo):
    pillow_heif = pytest.importorskip("pillow_heif")
    buf = io.BytesIO()
    try:
        pillow_heif.from_pillow(photo).save(buf, format="HEIF", quality=90)
    except Exception as exc:  # noqa: BLE001 - wheels without an HEVC encoder can still decode
        pytest.skip(f"pillow-heif cannot encode HEIF here: {exc}")
    decoded = decode_image(buf.getvalue())
    assert decoded.info.format == "HEIF"
    assert decoded.image.size == photo.size


def test_truncated_jpeg(photo):
    data = encode(photo, "JPEG", quality=90)
    with pytest.raises(CorruptMedia) as err:
        decode_image(data[: len(data) // 2])
    assert err.value.code == "truncated_media"
    assert "truncated" in err.value.message


def test_corrupt_header_checksum(photo):
    data = bytearray(encode(photo, "PNG"))
    data[29:33] = b"\x00\x00\x00\x00"  # IHDR's CRC
    with pytest.raises(CorruptMedia) as err:
        decode_image(bytes(data))
    assert err.value.code == "corrupt_media"


def test_garbage_after_a_valid_signature():
    with pytest.raises(CorruptMedia):
        decode_image(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)


def test_zero_bytes():
    with pytest.raises(CorruptMedia) as err:
        decode_image(b"")
    assert err.value.code == "empty_media"


@pytest.mark.parametrize(
    "data, name",
    [
        (b"%PDF-1.7\n1 0 obj\n", "PDF"),
        (b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>", "SVG"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom", "MP4"),
        (b"8BPS\x00\x01" + b"\x00" * 40, "PSD"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n", "EPS"),
        (b"just some text, not an image at all", None),
    ],
)
def test_wrong_or_unsupported_format(data, name):
    with pytest.raises(UnsupportedMedia) as err:
        decode_image(data)
    assert err.value.code == "unsupported_media"
    if name:
        assert name in err.value.message


def test_too_many_bytes(photo):
    data = encode(photo, "PNG")
    with pytest.raises(MediaTooLarge) as err:
        decode_image(data, limits=DecodeLimits(max_bytes=len(data) - 1))
    assert err.value.code == "too_many_bytes"


def test_too_many_pixels_is_not_called_a_bomb(photo):
    with pytest.raises(MediaTooLarge) as err:
        decode_image(encode(photo, "JPEG"), limits=DecodeLimits(max_pixels=100_000))
    assert not isinstance(err.value, DecompressionBomb)
    assert err.value.code == "too_many_pixels"


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [12_000, 100_000])
def test_decompression_bomb_refused_from_the_header(side):
    # 12,000^2 is between Pillow's warning and error thresholds; 100,000^2 is past both.
    data = png_claiming(side, side)
    assert len(data) < 200
    started = time.perf_counter()
    with pytest.raises(DecompressionBomb) as err:
        decode_image(data)
    assert time.perf_counter() - started < 0.5  # nothing was allocated or decoded
    assert err.value.code == "decompression_bomb"
    assert isinstance(err.value, MediaTooLarge)


def test_dimension_limit():
    with pytest.raises(MediaTooLarge) as err:
        probe(png_claiming(40_000, 2), limits=DecodeLimits(max_dimension=30_000))
    assert err.value.code == "dimension_too_large"


def test_too_many_frames():
    with pytest.raises(MediaTooLarge) as err:
        decode_image(animated_gif(6), limits=DecodeLimits(max_frames=5))
    assert err.value.code == "too_many_frames"


def test_animation_keeps_first_and_spread_frames():
    decoded = decode_image(animated_gif(20), limits=DecodeLimits(keep_frames=4))
    assert decoded.info.frame_count == 20
    assert decoded.frame_indexes == (0, 6, 13, 19)
    assert len(decoded.frames) == 4
    assert all(f.mode == "RGB" for f in decoded.frames)


def test_animation_total_pixel_budget_limits_reach():
    # 48x32 = 1536 px per frame; a budget of 10 frames' pixels means frames 0..9 only.
    decoded = decode_image(animated_gif(20), limits=DecodeLimits(keep_frames=4, max_total_pixels=1536 * 10))
    assert max(decoded.frame_indexes) <= 9


def test_exif_orientation_applied():
    img = Image.new("RGB", (80, 40), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 20, 40))  # red strip on the left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display = rotate 90 degrees clockwise
    decoded = decode_image(encode(img, "JPEG", quality=95, exif=exif.tobytes()))
    assert decoded.info.orientation == 6
    assert decoded.image.size == (40, 80)
    r, _g, b = decoded.image.getpixel((20, 5))  # the red strip is now along the top
    assert r > 200 and b < 60


def test_alpha_flattened_onto_white():
    img = Image.new("RGBA", (20, 20), (255, 0, 0, 0))  # fully transparent red
    img.paste((0, 0, 0, 255), (0, 0, 10, 20))  # opaque black left half
    decoded = decode_image(encode(img, "PNG"))
    assert decoded.had_alpha
    assert decoded.image.getpixel((15, 10)) == (255, 255, 255)
    assert decoded.image.getpixel((5, 10)) == (0, 0, 0)


def test_palette_transparency_flattened_onto_white():
    img = Image.new("P", (10, 10), 1)
    img.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    decoded = decode_image(encode(img, "GIF", transparency=1))
    assert decoded.image.getpixel((5, 5)) == (255, 255, 255)


def test_sixteen_bit_png_is_scaled_not_clipped():
    arr = np.full((8, 8), 32768, dtype=np.uint16)
    decoded = decode_image(encode(Image.fromarray(arr), "PNG"))
    assert decoded.image.getpixel((0, 0)) == (128, 128, 128)


def test_timeout_checked_between_stages(photo):
    with pytest.raises(DecodeTimeout) as err:
        decode_image(encode(photo, "PNG"), limits=DecodeLimits(max_seconds=1e-9))
    assert err.value.code == "decode_timeout"


def test_limits_refuse_a_pixel_ceiling_above_pillows():
    with pytest.raises(ValueError):
        DecodeLimits(max_pixels=(Image.MAX_IMAGE_PIXELS or 0) + 1)


def test_sniff_names():
    assert sniff_format(b"\xff\xd8\xff\xe0") == "JPEG"
    assert sniff_format(b"GIF89a") == "GIF"
    assert sniff_format(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "WEBP"
    assert sniff_format(b"\x00\x00\x00\x18ftypheic") == "HEIF"


def test_errors_carry_code_and_message():
    err = MediaTooLarge("too big", code="too_many_bytes")
    assert (err.code, err.message, str(err)) == ("too_many_bytes", "too big", "too big")
    assert UnsupportedMedia("x").code == "unsupported_media"
    assert issubclass(DecompressionBomb, MediaError)


# ---- property tests: hostile bytes only ever raise MediaError ------------------------------------

_FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_SMALL = DecodeLimits(max_pixels=4_000_000, max_total_pixels=20_000_000, max_frames=200)


def _decode_or_media_error(data: bytes) -> None:
    with contextlib.suppress(MediaError):
        decode_image(data, limits=_SMALL)


@_FAST
@given(st.binary(max_size=2048))
def test_random_bytes_raise_only_media_errors(data):
    _decode_or_media_error(data)


@_FAST
@given(
    prefix=st.sampled_from(
        [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBP", b"BM", b"II*\x00"]
    ),
    rest=st.binary(max_size=1024),
)
def test_random_bytes_behind_real_magic_raise_only_media_errors(prefix, rest):
    _decode_or_media_error(prefix + rest)


_SEEDS: dict[str, bytes] = {}


def _valid_files() -> dict[str, bytes]:
    if not _SEEDS:
        rng = np.random.default_rng(3)
        img = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8), "RGB")
        for fmt in ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"):
            _SEEDS[fmt] = encode(img, fmt)
        _SEEDS["AGIF"] = animated_gif(3, (16, 8))
    return _SEEDS


@_FAST
@given(
    fmt=st.sampled_from(["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AGIF"]),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=12),
    cut=st.one_of(st.none(), st.integers(1, 10_000)),
)
def test_mutated_valid_files_raise_only_media_errors(fmt, edits, cut):
    data = bytearray(_valid_files()[fmt])
    for pos, value in edits:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data)]
    _decode_or_media_error(bytes(data))
