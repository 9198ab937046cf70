"""Content signals for images: MD5, SHA-256 and PDQ (with its quality), plus a fast path for large JPEGs.

PDQ is Meta's 256-bit perceptual hash: luminance, a two-pass box ("Jarosz" tent) filter whose window
is 1/128 of each side, a 64x64 sample, the 16x16 lowest DCT frequencies, and one bit per coefficient
above their median. Two ways to compute it live here:

* The reference path hands the decoded RGB pixels to `pdqhash` (Meta's C++ behind Cython). It is
  what every exchange partner computes, and what tests compare against.
* The fast path, for large JPEGs, asks libjpeg for the luma (Y) plane only, at a reduced scale (DCT
  scaling via Pillow's `draft()`: no chroma upsampling, no colour conversion, 1/4 of the pixels at
  scale 1/2), and computes PDQ in numpy: the tent filter sampled only at the 64x64 points that PDQ
  keeps, written as two small weight matrices, with each full-resolution weight folded onto the
  reduced pixel that covers it. JPEG's Y is the same 0.299/0.587/0.114 luminance PDQ uses. The scale
  is chosen by measurement (docs/bench-media.md; asserted by tests/media/test_hashing.py): the reduced
  image keeps at least FAST_PATH_MIN_SIDE pixels on its short side, where the hash stayed within 6 bits
  of the reference on the test corpus (the test allows 8); smaller JPEGs are decoded at full size.

`pdqhash` converts RGB to grey in float64 (a few ms for a large image) and, as with any large buffer,
its timings depend on the allocator (MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_); the fast path
avoids both costs. A PDQ with quality below PDQ_MIN_ACTIONABLE_QUALITY (flat or nearly featureless
images) is kept and matched for review but never acted on automatically (`pdq_actionable`).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pdqhash
from PIL import Image

from staydown.media.decode import (
    DEFAULT_LIMITS,
    DecodeLimits,
    OpenedImage,
    _check_dimensions,
    _frame_plan,
    _map_exception,
    apply_orientation,
    check_decode_memory,
    decode_opened,
    open_image,
    to_rgb,
)
from staydown.media.errors import MediaError

__all__ = [
    "DIHEDRAL_NAMES",
    "FAST_PATH_MIN_SIDE",
    "PDQ_MIN_ACTIONABLE_QUALITY",
    "FramePdq",
    "LumaImage",
    "MediaSignals",
    "PdqResult",
    "compute_signals",
    "hamming",
    "luma_from_rgb",
    "pdq_detail",
    "pdq_dihedral",
    "pdq_dihedral_exact",
    "pdq_from_image",
    "pdq_from_luma",
    "pdq_hex",
    "pdq_hex_of_buffer",
    "prepare_luma",
    "shrink",
]

PDQ_MIN_ACTIONABLE_QUALITY = 50
# Short side, in pixels, that a reduced-size JPEG decode must keep (see the module docstring).
FAST_PATH_MIN_SIDE = 384
_FAST_PATH_SCALES = (8, 4, 2)

# The 8 dihedral transforms, in pdqhash.compute_dihedral's order. "flip_x" mirrors about the
# horizontal axis (upside down), "flip_y" about the vertical axis (left-right mirror).
DIHEDRAL_NAMES = (
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flip_x",
    "flip_y",
    "transpose",
    "transverse",
)


@dataclass(frozen=True, slots=True)
class PdqResult:
    pdq: str  # 64 hex digits, the usual exchange format
    quality: int  # 0..100

    @property
    def actionable(self) -> bool:
        return self.quality >= PDQ_MIN_ACTIONABLE_QUALITY


@dataclass(frozen=True, slots=True)
class FramePdq:
    index: int  # frame number in the file
    pdq: str
    quality: int


@dataclass(frozen=True, slots=True)
class MediaSignals:
    """Everything staydown records about one image file's content."""

    md5: str
    sha256: str
    pdq: str  # of the first frame, as displayed (EXIF orientation applied, alpha on white)
    pdq_quality: int
    width: int  # as displayed
    height: int
    format: str
    frame_count: int = 1
    frames: tuple[FramePdq, ...] = ()  # PDQ of the other sampled frames of an animation
    fast_path: bool = False  # PDQ computed from a reduced-size JPEG decode

    @property
    def pdq_actionable(self) -> bool:
        """A low-quality PDQ is matched and queued for people, never acted on automatically."""
        return self.pdq_quality >= PDQ_MIN_ACTIONABLE_QUALITY


@dataclass(frozen=True, slots=True)
class LumaImage:
    """Float luminance ready for PDQ, possibly at reduced scale.

    `pixels` is (rows, cols) float32. `source_size` is the (width, height) of the full-resolution
    image that `pixels` stands for; the PDQ filter is computed as if at that size.
    """

    pixels: np.ndarray
    source_size: tuple[int, int]

    @property
    def scale(self) -> float:
        return self.source_size[0] / self.pixels.shape[1]

    def crop(self, left: int, top: int, right: int, bottom: int) -> LumaImage:
        """A region in `pixels` coordinates; its source size scales with it."""
        s = self.scale
        sub = self.pixels[top:bottom, left:right]
        return LumaImage(sub, (max(1, round(sub.shape[1] * s)), max(1, round(sub.shape[0] * s))))


def hamming(a: str, b: str) -> int:
    """Bits that differ between two PDQ hex strings."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _vector_to_hex(vector: np.ndarray) -> str:
    # pdqhash returns the bits most-significant first, as the hex format lists them.
    return np.packbits(np.asarray(vector, dtype=np.uint8)).tobytes().hex()


def _rgb_array(img: Image.Image) -> np.ndarray:
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(img))


def pdq_from_image(img: Image.Image) -> PdqResult:
    """Reference PDQ of an image's pixels via pdqhash (the value exchange partners compute)."""
    vector, quality = pdqhash.compute(_rgb_array(img))
    return PdqResult(_vector_to_hex(vector), int(quality))


def luma_from_rgb(img: Image.Image) -> LumaImage:
    """PDQ's luminance, computed as pdqhash does (float64 products, stored as float32)."""
    a = _rgb_array(img)
    y = (a[:, :, 0] * 0.299 + a[:, :, 1] * 0.587 + a[:, :, 2] * 0.114).astype(np.float32)
    return LumaImage(y, (img.width, img.height))


# ---- PDQ in numpy -------------------------------------------------------------------------------


def _box_bounds(n: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    # One 1-D box pass as PDQ runs it: output k averages inputs lo[k] .. hi[k]-1, that is
    # k-(window-half) .. k+half-1 with half = (window+2)//2, the window shrinking at both ends.
    half = (window + 2) // 2
    k = np.arange(n)
    return np.maximum(0, k - (window - half)), np.minimum(n, k + half)


@functools.lru_cache(maxsize=1024)  # ~64 x 300 floats each for variant copies
def _tent_weights(n_source: int, n_have: int) -> np.ndarray:
    """64 x n_have weights giving PDQ's 64 samples along one axis of n_source pixels.

    Two box passes then sampling means: sample r = (row idx[r] of B) @ B, with B the box operator.
    Row idx[r] of B is one box; multiplying by B spreads each of its entries over that input's box,
    done with difference arrays so that no n x n matrix is ever built. When the image is held at
    reduced size (n_have < n_source), each source pixel's weight goes to the reduced pixel covering it.
    """
    window = (n_source + 127) // 128
    lo, hi = _box_bounds(n_source, window)
    idx = ((np.arange(64) + 0.5) * n_source / 64).astype(np.int64)
    inv = 1.0 / (hi - lo)
    # ks[r, m]: the m-th input averaged by the first pass at sample idx[r] (padded rows masked out).
    ks = lo[idx][:, None] + np.arange(window + 1)[None, :]
    valid = ks < hi[idx][:, None]
    ks = np.where(valid, ks, 0)
    contrib = np.where(valid, inv[idx][:, None] * inv[ks], 0.0)
    rows = np.broadcast_to(np.arange(64)[:, None], ks.shape)
    # Scatter-adds as bincounts (np.add.at is slow, and region and uncrop sizes change every scan).
    width = n_source + 1
    diff = np.bincount((rows * width + lo[ks]).ravel(), contrib.ravel(), minlength=64 * width) - np.bincount(
        (rows * width + hi[ks]).ravel(), contrib.ravel(), minlength=64 * width
    )
    w = np.cumsum(diff.reshape(64, width), axis=1)[:, :n_source]
    if n_have != n_source:
        # The owner of source pixel i is (i * n_have) // n_source: non-decreasing, so each reduced
        # pixel's weights are one contiguous run, summed by reduceat.
        owner = np.minimum((np.arange(n_source) * n_have) // n_source, n_have - 1)
        starts = np.searchsorted(owner, np.arange(n_have))
        folded = np.zeros((64, n_have))
        present = starts < n_source
        runs = np.add.reduceat(w, np.minimum(starts, n_source - 1), axis=1)
        # A reduced pixel that owns no source pixel (only when n_have > n_source) gets no weight.
        empty = np.append(starts[1:] == starts[:-1], False) | ~present
        folded[:, ~empty] = runs[:, ~empty]
        w = folded
    return np.ascontiguousarray(w, dtype=np.float32)


@functools.lru_cache(maxsize=1)
def _dct_16x64() -> np.ndarray:
    i = np.arange(1, 17)[:, None]
    j = np.arange(64)[None, :]
    return (np.sqrt(2.0 / 64) * np.cos(np.pi / 2.0 / 64 * i * (2 * j + 1))).astype(np.float64)


def _quality(buf: np.ndarray) -> int:
    # PDQ's heuristic: count gradients between neighbouring samples in units of 100/255, truncated.
    dv = np.trunc((buf[:-1, :] - buf[1:, :]) * 100.0 / 255.0)
    dh = np.trunc((buf[:, :-1] - buf[:, 1:]) * 100.0 / 255.0)
    total = int(np.abs(dv).sum() + np.abs(dh).sum())
    return min(100, total // 90)


def pdq_coefficients(luma: LumaImage) -> tuple[np.ndarray, int]:
    """The 16x16 DCT coefficients PDQ thresholds, and PDQ's quality, from float luminance."""
    c, q, _ = _coefficients_and_buffer(luma)
    return c, q


def pdq_detail(luma: LumaImage) -> PdqResult:
    """PDQ of the luminance with `quality` replaced by detail_of (quality and flatness): for
    variants, whose matches pass the gate in matching.gate."""
    c, q, buf = _coefficients_and_buffer(luma)
    return PdqResult(_coefficients_to_hex(c), detail_of(buf, q) if buf is not None else q)


def _filtered(luma: LumaImage) -> np.ndarray | None:
    """PDQ's 64 x 64 filtered samples, or None for slivers (pdqhash gives them an all-zero hash of
    quality 0)."""
    rows, cols = luma.pixels.shape
    src_w, src_h = luma.source_size
    if src_w < 5 or src_h < 5 or rows < 1 or cols < 1:
        return None
    if (src_w, src_h) == (64, 64) and (rows, cols) == (64, 64):
        return luma.pixels.astype(np.float64)
    return (_tent_weights(src_h, rows) @ luma.pixels @ _tent_weights(src_w, cols).T).astype(np.float64)


def _coefficients_and_buffer(luma: LumaImage) -> tuple[np.ndarray, int, np.ndarray | None]:
    buf = _filtered(luma)
    if buf is None:
        return np.zeros((16, 16)), 0, None
    d = _dct_16x64()
    return d @ buf @ d.T, _quality(buf), buf


def _coefficients_to_hex(c: np.ndarray) -> str:
    flat = c.ravel()
    median = np.partition(flat, 127)[127]  # PDQ thresholds at the 128th smallest value
    bits = (flat > median)[::-1]  # bit 255 first, as the hex format lists them
    return np.packbits(bits.astype(np.uint8)).tobytes().hex()


def _dihedral_coefficients(c: np.ndarray) -> list[np.ndarray]:
    # Mirroring an axis negates that axis's odd-numbered DCT frequencies (1-based), i.e. even indexes;
    # a quarter turn is a transpose plus one mirror. Order as DIHEDRAL_NAMES.
    s = np.where(np.arange(16) % 2 == 0, -1.0, 1.0)
    flip_rows = s[:, None] * c
    flip_cols = c * s[None, :]
    both = s[:, None] * c * s[None, :]
    return [c, flip_cols.T, both, flip_rows.T, flip_rows, flip_cols, c.T, both.T]


def _flat_share(buf: np.ndarray) -> float:
    """Share of PDQ's 64 x 64 samples whose 3 x 3 neighbourhood spans at most one grey level: the
    flat areas of icons, logos, clip art, text screenshots and interface chrome. PDQ's quality
    does not see them (a sharp shape on white scores 100), and they are where variants collide."""
    lo = np.minimum.reduce([buf[1:-1, 1:-1], buf[:-2, 1:-1], buf[2:, 1:-1], buf[1:-1, :-2], buf[1:-1, 2:]])
    hi = np.maximum.reduce([buf[1:-1, 1:-1], buf[:-2, 1:-1], buf[2:, 1:-1], buf[1:-1, :-2], buf[1:-1, 2:]])
    return float(((hi - lo) <= 1.0).mean())


def detail_of(buf: np.ndarray, quality: int) -> int:
    """PDQ's quality, lowered by flatness: min(quality, 100 x the share of non-flat samples)."""
    return min(quality, round(100 * (1.0 - _flat_share(buf))))


def pdq_hex_of_buffer(buf: np.ndarray) -> str:
    """PDQ's bits from its 64 x 64 filtered samples."""
    d = _dct_16x64()
    return _coefficients_to_hex(d @ buf @ d.T)


def pdq_hex(luma: LumaImage) -> str:
    """The hash alone, without PDQ's quality (variants that carry their original's detail)."""
    buf = _filtered(luma)
    return _coefficients_to_hex(np.zeros((16, 16))) if buf is None else pdq_hex_of_buffer(buf)


def pdq_from_luma(luma: LumaImage) -> PdqResult:
    c, q = pdq_coefficients(luma)
    return PdqResult(_coefficients_to_hex(c), q)


def pdq_dihedral(luma: LumaImage) -> tuple[dict[str, str], int]:
    """All 8 rotation/flip hashes from one filter pass (as pdqhash.compute_dihedral), and the quality."""
    c, q = pdq_coefficients(luma)
    return {n: _coefficients_to_hex(x) for n, x in zip(DIHEDRAL_NAMES, _dihedral_coefficients(c), strict=True)}, q


# ---- from bytes ----------------------------------------------------------------------------------


def _fast_scale(width: int, height: int) -> int:
    for s in _FAST_PATH_SCALES:
        if min(width, height) // s >= FAST_PATH_MIN_SIDE:
            return s
    return 1


def prepare_luma(opened: OpenedImage, *, fast: bool = True) -> tuple[LumaImage, Image.Image | None]:
    """Luminance for PDQ from an opened image: (luma, decoded RGB first frame or None on the fast path).

    The fast path is taken for single-frame JPEGs large enough that a reduced decode keeps
    FAST_PATH_MIN_SIDE pixels; everything else decodes fully through decode_opened().
    """
    info = opened.info
    im = opened.image
    if fast and info.format == "JPEG" and im.mode in ("L", "RGB", "YCbCr"):
        scale = _fast_scale(info.width, info.height)
        if scale > 1:
            try:
                im.draft("L", (-(-info.width // scale), -(-info.height // scale)))
                if im.mode != "L":  # libjpeg could not give luma alone (e.g. CMYK): no fast path
                    raise _NoFastPath
                check_decode_memory("RGB", im.width, im.height, opened.limits, "JPEG image")
                im.load()
            except _NoFastPath:
                pass
            except MediaError:
                raise
            except Exception as exc:  # noqa: BLE001 - hostile input: see decode.open_image
                raise _map_exception(exc, "JPEG") from None
            else:
                opened.check_time("reduced decode")
                oriented = apply_orientation(im, info.orientation)
                display = info.display_size
                return LumaImage(np.asarray(oriented, dtype=np.float32), display), None
    if fast and info.frame_count == 1 and _fast_scale(info.width, info.height) > 1:
        return _reduced_luma(opened), None
    decoded = decode_opened(opened)
    return luma_from_rgb(decoded.image), decoded.image


def _reduced_luma(opened: OpenedImage) -> LumaImage:
    """Formats without reduced-size decoding (PNG, WebP, GIF, BMP, TIFF, HEIF): decode once, then
    average k x k blocks in Pillow's C code *before* anything else touches the pixels, so that no
    full-size float array is ever made (a 7000 x 7000 PNG as float64 luma was 1.2 GB per copy).
    k keeps FAST_PATH_MIN_SIDE pixels on the short side, as for JPEG's DCT scaling, and PDQ's
    full-resolution filter weights are folded onto the reduced pixels (same drift bound)."""
    info = opened.info
    im = opened.image
    scale = _fast_scale(info.width, info.height)
    check_decode_memory(im.mode, info.width, info.height, opened.limits, f"{info.format} image")
    try:
        im.load()
        opened.check_time("decode")
        rgb, _ = to_rgb(im)
        del im
        small = rgb.reduce(scale)
        del rgb  # the full-size RGB copy is freed before the next step
        opened.check_time("reduce")
        oriented = apply_orientation(small, info.orientation) if info.format != "HEIF" else small
    except MediaError:
        raise
    except Exception as exc:  # noqa: BLE001 - hostile input: see decode.open_image
        raise _map_exception(exc, info.format) from None
    display = info.display_size if info.format != "HEIF" else (info.width, info.height)
    return LumaImage(luma_from_rgb(oriented).pixels, display)


class _NoFastPath(Exception):
    pass


def compute_signals(
    data: bytes,
    *,
    limits: DecodeLimits = DEFAULT_LIMITS,
    fast: bool = True,
) -> MediaSignals:
    """Decode safely and compute MD5, SHA-256 and PDQ. Raises a MediaError subclass on bad input."""
    signals, _ = compute_signals_and_luma(data, limits=limits, fast=fast)
    return signals


def compute_signals_and_luma(
    data: bytes,
    *,
    limits: DecodeLimits = DEFAULT_LIMITS,
    fast: bool = True,
) -> tuple[MediaSignals, LumaImage]:
    """As compute_signals, also returning the luminance it hashed (query variants reuse it)."""
    opened = open_image(data, limits=limits)
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    sha256 = hashlib.sha256(data).hexdigest()
    info = opened.info
    if info.frame_count > 1:
        frames = list(_animation_lumas(opened, fast=fast))
        _, luma, first = frames[0]
        others = tuple(FramePdq(index, r.pdq, r.quality) for index, _, r in frames[1:])
        width, height = luma.source_size
        signals = MediaSignals(
            md5, sha256, first.pdq, first.quality, width, height, info.format, info.frame_count, others, False
        )
        return signals, luma
    luma, rgb = prepare_luma(opened, fast=fast)
    if rgb is not None:
        result = pdq_from_image(rgb)  # the reference value, bit for bit
        fast_path = False
    else:
        result = pdq_from_luma(luma)
        fast_path = True
    width, height = luma.source_size
    signals = MediaSignals(
        md5, sha256, result.pdq, result.quality, width, height, info.format, info.frame_count, (), fast_path
    )
    return signals, luma


def _animation_lumas(opened: OpenedImage, *, fast: bool = True) -> Iterator[tuple[int, LumaImage, PdqResult]]:
    """The sampled frames of an animation one at a time, each reduced as soon as it is decoded
    (large frames) so that at most one full-size frame is held: (frame index, luma, PDQ)."""
    info, limits = opened.info, opened.limits
    scale = _fast_scale(info.width, info.height) if fast else 1
    try:
        for index in _frame_plan(info, limits):
            im = opened.image
            if index:
                im.seek(index)
                _check_dimensions(im.width, im.height, info.byte_size, limits, f"{info.format} frame {index}")
            check_decode_memory(im.mode, im.width, im.height, limits, f"{info.format} frame {index}")
            im.load()
            opened.check_time(f"frame {index}")
            rgb, _ = to_rgb(im)
            if scale > 1:
                small = apply_orientation(rgb.reduce(scale), info.orientation)
                luma = LumaImage(luma_from_rgb(small).pixels, info.display_size)
                result = pdq_from_luma(luma)
            else:
                oriented = apply_orientation(rgb, info.orientation)
                luma = luma_from_rgb(oriented)
                result = pdq_from_image(oriented)  # the reference value, bit for bit
            opened.check_time(f"frame {index}")
            yield index, luma, result
    except MediaError:
        raise
    except Exception as exc:  # noqa: BLE001 - see decode.open_image: hostile input raises anything
        raise _map_exception(exc, info.format) from None


# ---- variant work on a working copy ---------------------------------------------------------------


def shrink(luma: LumaImage, max_side: int) -> LumaImage:
    """The same luminance averaged down so its longer side is at most `max_side` (Pillow's BOX
    filter, in C). The source size is kept, so PDQ's filter is still computed as at full size
    (folded weights): variants need no more pixels than PDQ's 64 x 64 samples can use. (Taking the
    small copy as an image of its own size instead moved unedited photos 16-24 bits.)"""
    rows, cols = luma.pixels.shape
    if max(rows, cols) <= max_side:
        return luma
    f = max_side / max(rows, cols)
    size = (max(1, round(cols * f)), max(1, round(rows * f)))
    im = Image.fromarray(np.ascontiguousarray(luma.pixels, dtype=np.float32), "F")
    return LumaImage(np.asarray(im.resize(size, Image.Resampling.BOX), dtype=np.float32), luma.source_size)


def pdq_dihedral_exact(luma: LumaImage) -> list[tuple[str, PdqResult]]:
    """The hashes of the 8 rotated and mirrored images themselves, in DIHEDRAL_NAMES order, for
    about the price of two: mirroring the pixels is mirroring the filter weights, and a quarter
    turn transposes PDQ's 64 x 64 samples exactly (the weights of a transposed image are the
    other axis's). Bit for bit the hashes of the transformed pixels, unlike pdq_dihedral, whose
    DCT-sign shortcut is off by up to ~20 bits (PDQ's even box window is half a pixel off-centre).
    Their quality is detail_of's (PDQ quality lowered by flatness), for the variant gate."""
    rows, cols = luma.pixels.shape
    src_w, src_h = luma.source_size
    if src_w < 5 or src_h < 5 or rows < 1 or cols < 1:
        zero = PdqResult(_coefficients_to_hex(np.zeros((16, 16))), 0)
        return [(n, zero) for n in DIHEDRAL_NAMES]
    wr = _tent_weights(src_h, rows)
    wc = _tent_weights(src_w, cols)
    x = luma.pixels
    a = wr @ x
    af = wr[:, ::-1] @ x
    b00 = (a @ wc.T).astype(np.float64)  # as is
    b01 = (a @ wc[:, ::-1].T).astype(np.float64)  # left-right mirror
    b10 = (af @ wc.T).astype(np.float64)  # upside down
    b11 = (af @ wc[:, ::-1].T).astype(np.float64)  # half turn
    d = _dct_16x64()
    detail = detail_of(b00, _quality(b00))  # flatness is the same under every flip and turn
    buffers = {
        "original": b00,
        "rotate90": b10.T,
        "rotate180": b11,
        "rotate270": b01.T,
        "flip_x": b10,
        "flip_y": b01,
        "transpose": b00.T,
        "transverse": b11.T,
    }
    out = []
    for name in DIHEDRAL_NAMES:
        buf = buffers[name]
        out.append((name, PdqResult(_coefficients_to_hex(d @ buf @ d.T), detail)))
    return out
