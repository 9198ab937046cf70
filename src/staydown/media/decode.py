"""Safe, bounded image decoding: limits checked on the header before any pixel is allocated.

What "bounded" means here, honestly:

* Bytes: refused above `max_bytes` before anything is parsed.
* Pixels: Pillow's `Image.open` is lazy and reads only the header, so the declared width, height and
  frame count are checked against the limits before `load()` allocates anything. A file that declares
  more pixels than allowed while being tiny is a decompression bomb and is refused as such.
* Frames: a file may declare at most `max_frames`; at most `keep_frames` of them are decoded, and
  never more than `max_total_pixels` pixels in all (animated GIF/WebP frames decode in sequence, so
  reaching frame k costs decoding frames 0..k).
* Time: `max_seconds` is checked between stages and between frames. A single frame's decode is C code
  that Python cannot interrupt, so its duration is bounded up front by the pixel limit instead (see
  docs/bench-media.md for the measured cost per megapixel). A hard wall-clock kill needs a separate
  process; callers that want one run the decode in a worker process.

Pillow's process-wide `Image.MAX_IMAGE_PIXELS` is deliberately left alone (other code in the process
may rely on it). Our own `max_pixels` check runs first for every frame; `DecodeLimits` refuses a
`max_pixels` above Pillow's ceiling so that Pillow's own bomb check (a warning, or an error past twice
the ceiling) can never be the thing that decides. Pillow's `DecompressionBombError` is still mapped to
`DecompressionBomb` in case a plugin raises it on its own. `ImageFile.LOAD_TRUNCATED_IMAGES` is also
left at its default (False), so truncated files fail rather than decode half grey.

Alpha is flattened onto white: that is how browsers, chat apps and most viewers show a transparent
image on their default background, so it is the picture people saw and reported, and hashes of copies
re-saved without alpha (screenshots, JPEG re-encodes) then agree with ours.

HEIC/HEIF is supported when the optional `pillow-heif` package is installed; it is imported lazily, on
the first HEIF input, and decoded without registering a plugin into Pillow (no global state change).
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from staydown.media.errors import (
    CorruptMedia,
    DecodeTimeout,
    DecompressionBomb,
    MediaError,
    MediaTooLarge,
    UnsupportedMedia,
)

__all__ = [
    "DEFAULT_LIMITS",
    "SUPPORTED_FORMATS",
    "DecodeLimits",
    "DecodedImage",
    "MediaInfo",
    "OpenedImage",
    "apply_orientation",
    "check_decode_memory",
    "decode_image",
    "open_image",
    "probe",
    "sniff_format",
]

# Pillow plugin names we let Image.open try. Anything else (EPS, which runs Ghostscript; PSD; ICO;
# the long tail of legacy formats) is never handed to a decoder.
PILLOW_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
SUPPORTED_FORMATS = (*PILLOW_FORMATS, "HEIF")

# Declared pixels per byte of input above which an over-limit image is called a bomb rather than
# merely large: photographs hold a few pixels per byte at most; only a crafted or degenerate file
# claims hundreds of pixels for every byte it carries.
_BOMB_PIXELS_PER_BYTE = 100

# EXIF orientation -> Pillow transpose (the same table as the EXIF specification's eight cases).
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Bounds on one decode. The settings layer builds this; the defaults suit photo uploads."""

    max_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 50_000_000  # per frame; a 48 MP phone photo fits, 8K video frames fit
    max_dimension: int = 30_000  # either side; stops 1 x 40,000,000 strips that fit max_pixels
    max_frames: int = 5_000  # frames a file may declare at all
    keep_frames: int = 8  # frames decoded and hashed from an animation (the first always)
    max_total_pixels: int = 200_000_000  # pixels decoded across all frames, including skipped ones
    max_seconds: float = 10.0  # checked between stages and frames (see the module docstring)
    # Bytes one decode may hold: the decoded frame in its own mode plus its RGB conversion, at the
    # size it is decoded at (JPEGs are decoded reduced). Checked on the header, before load().
    max_decode_bytes: int = 335_544_320

    def __post_init__(self) -> None:
        for name in (
            "max_bytes",
            "max_pixels",
            "max_dimension",
            "max_frames",
            "keep_frames",
            "max_total_pixels",
            "max_decode_bytes",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"DecodeLimits.{name} must be at least 1")
        if self.max_seconds <= 0:
            raise ValueError("DecodeLimits.max_seconds must be positive")
        if self.max_pixels > (Image.MAX_IMAGE_PIXELS or self.max_pixels):
            raise ValueError(
                f"DecodeLimits.max_pixels ({self.max_pixels}) is above Pillow's MAX_IMAGE_PIXELS "
                f"({Image.MAX_IMAGE_PIXELS}); raise that first, deliberately, if you mean it"
            )


DEFAULT_LIMITS = DecodeLimits()


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What the header says, checked against the limits; nothing decoded yet."""

    format: str  # one of SUPPORTED_FORMATS ("MPO" camera files are reported as "JPEG")
    width: int  # as stored, before EXIF orientation
    height: int
    frame_count: int
    orientation: int  # EXIF orientation tag, 1 when absent or invalid
    byte_size: int

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as shown, after EXIF orientation."""
        if self.orientation in (5, 6, 7, 8):
            return self.height, self.width
        return self.width, self.height


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """Decoded frames: RGB, EXIF orientation applied, alpha flattened onto white."""

    info: MediaInfo
    frames: tuple[Image.Image, ...]  # frames[0] is the first frame
    frame_indexes: tuple[int, ...]  # which frames of the file these are
    had_alpha: bool = False

    @property
    def image(self) -> Image.Image:
        return self.frames[0]

    @property
    def width(self) -> int:
        return self.frames[0].width

    @property
    def height(self) -> int:
        return self.frames[0].height

    @property
    def animated(self) -> bool:
        return self.info.frame_count > 1


@dataclass(slots=True)
class OpenedImage:
    """A lazily opened, limit-checked image (for callers that decode in their own way, e.g. at
    reduced size). Pixels are allocated only when the caller loads it."""

    image: Image.Image
    info: MediaInfo
    deadline: float
    limits: DecodeLimits
    _heif: object | None = field(default=None, repr=False)

    def check_time(self, stage: str) -> None:
        if time.monotonic() > self.deadline:
            raise DecodeTimeout(f"decoding took longer than {self.limits.max_seconds:g} s (at {stage})")


def sniff_format(data: bytes) -> str | None:
    """Name the container from its magic bytes, for formats we decode and for ones we refuse by name."""
    head = data[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:2] == b"BM":
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"):
            return "HEIF"
        if brand in (b"avif", b"avis"):
            return "AVIF"
        return "MP4"  # ISO media: mp4, mov, 3gp... (video)
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "MP4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "MATROSKA"  # webm / mkv
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    if head.startswith(b"%PDF"):
        return "PDF"
    if head.startswith((b"%!PS", b"\xc5\xd0\xd3\xc6")):
        return "EPS"
    if head.startswith(b"8BPS"):
        return "PSD"
    if head[:4] == b"\x00\x00\x01\x00":
        return "ICO"
    stripped = head.lstrip()
    if stripped.startswith((b"<?xml", b"<svg")):
        return "SVG"
    return None


def _too_many_pixels(width: int, height: int, byte_size: int, limits: DecodeLimits, what: str) -> MediaError:
    pixels = width * height
    if pixels > _BOMB_PIXELS_PER_BYTE * max(byte_size, 1):
        return DecompressionBomb(
            f"{what} declares {width} x {height} pixels in only {byte_size} bytes: refused as a "
            f"decompression bomb (limit {limits.max_pixels} pixels)"
        )
    return MediaTooLarge(
        f"{what} is {width} x {height} = {pixels} pixels, over the limit of {limits.max_pixels}",
        code="too_many_pixels",
    )


def _check_dimensions(width: int, height: int, byte_size: int, limits: DecodeLimits, what: str = "image") -> None:
    if width < 1 or height < 1:
        raise CorruptMedia(f"{what} declares an empty size ({width} x {height})")
    if width * height > limits.max_pixels:
        raise _too_many_pixels(width, height, byte_size, limits, what)
    if max(width, height) > limits.max_dimension:
        raise MediaTooLarge(
            f"{what} is {width} x {height}; a side over {limits.max_dimension} pixels is not accepted",
            code="dimension_too_large",
        )


_BYTES_PER_PIXEL = {
    "1": 1,
    "L": 1,
    "P": 1,
    "LA": 2,
    "PA": 2,
    "La": 2,
    "I;16": 2,
    "I;16L": 2,
    "I;16B": 2,
    "I;16N": 2,
    "RGB": 4,
    "YCbCr": 4,
    "LAB": 3,
    "HSV": 3,
    "RGBA": 4,
    "RGBa": 4,
    "RGBX": 4,
    "CMYK": 4,
    "I": 4,
    "F": 4,
}


def check_decode_memory(mode: str, width: int, height: int, limits: DecodeLimits, what: str = "image") -> None:
    """Refuse a decode whose pixels (in the file's mode, plus an RGB copy unless it is RGB already)
    would exceed `max_decode_bytes`: the memory half of the scan's budget, known from the header."""
    per_pixel = _BYTES_PER_PIXEL.get(mode, 4) + (0 if mode == "RGB" else 4)
    need = width * height * per_pixel
    if need > limits.max_decode_bytes:
        raise MediaTooLarge(
            f"{what} ({width} x {height}, {mode}) needs {need // 1_048_576} MiB to decode, over the limit of "
            f"{limits.max_decode_bytes // 1_048_576} MiB",
            code="too_much_memory",
        )


def _orientation(im: Image.Image) -> int:
    if im.format == "PNG" and "exif" not in im.info:
        # Pillow's PNG getexif() decodes every pixel to look for an eXIf chunk after the image data:
        # a full decode at open, before any limit is checked. Browsers honour only an eXIf chunk
        # before the image data (which Pillow has already read into im.info), and so do we.
        return 1
    try:
        value = im.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not sink an otherwise good image
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _frame_count(im: Image.Image) -> int:
    # For GIF this walks the file's block structure (bounded by max_bytes), without decoding pixels.
    return int(getattr(im, "n_frames", 1) or 1)


def _map_exception(exc: BaseException, fmt: str | None) -> MediaError:
    """Turn whatever a decoder raised into one of our typed errors."""
    if isinstance(exc, MediaError):
        return exc
    name = fmt or "image"
    if isinstance(exc, Image.DecompressionBombError):
        return DecompressionBomb(f"{name} declares more pixels than the decoder allows: {exc}")
    if isinstance(exc, MemoryError):
        return MediaTooLarge(f"{name} needs more memory to decode than is available", code="out_of_memory")
    text = str(exc)
    lowered = text.lower()
    if "truncated" in lowered or "broken data stream" in lowered or isinstance(exc, EOFError):
        return CorruptMedia(f"{name} file is truncated: {text or type(exc).__name__}", code="truncated_media")
    if "decompressed data too large" in lowered:
        return DecompressionBomb(f"{name} holds a metadata chunk that decompresses too far: {text}")
    return CorruptMedia(f"{name} file is corrupt: {text or type(exc).__name__}")


def _load_heif(data: bytes, limits: DecodeLimits, deadline: float) -> OpenedImage:
    try:
        import pillow_heif  # noqa: PLC0415 - optional dependency, imported on the first HEIF input only
    except ImportError:
        raise UnsupportedMedia(
            "HEIC/HEIF images need the optional 'pillow-heif' package, which is not installed"
        ) from None
    try:
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)  # lazy: header only
        width, height = heif.size
        count = len(heif)
    except Exception as exc:  # noqa: BLE001 - libheif's errors on hostile input all mean "corrupt"
        raise _map_exception(exc, "HEIF") from None
    _check_dimensions(width, height, len(data), limits, "HEIF image")
    if count > limits.max_frames:
        raise MediaTooLarge(
            f"HEIF file holds {count} images, over the limit of {limits.max_frames}", code="too_many_frames"
        )
    try:
        im = heif[0].to_pillow()  # libheif applies the container's rotation and mirroring itself
    except Exception as exc:  # noqa: BLE001 - as above: any failure to decode means "corrupt"
        raise _map_exception(exc, "HEIF") from None
    info = MediaInfo("HEIF", width, height, count, 1, len(data))
    return OpenedImage(im, info, deadline, limits, _heif=heif)


def open_image(data: bytes, *, limits: DecodeLimits = DEFAULT_LIMITS) -> OpenedImage:
    """Open lazily and check every limit that the header can answer. Raises a MediaError subclass."""
    deadline = time.monotonic() + limits.max_seconds
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("open_image() takes the file's bytes")
    data = bytes(data)
    if len(data) == 0:
        raise CorruptMedia("the file is empty (0 bytes)", code="empty_media")
    if len(data) > limits.max_bytes:
        raise MediaTooLarge(
            f"the file is {len(data)} bytes, over the limit of {limits.max_bytes}", code="too_many_bytes"
        )
    sniffed = sniff_format(data)
    if sniffed == "HEIF":
        return _load_heif(data, limits, deadline)
    if sniffed not in PILLOW_FORMATS:
        if sniffed is None:
            raise UnsupportedMedia("the file is not in a recognised image format")
        hint = " (video is hashed by staydown.media.video)" if sniffed in ("MP4", "MATROSKA", "AVI") else ""
        raise UnsupportedMedia(f"{sniffed} files are not accepted as images{hint}")
    try:
        # Pillow may warn here for a file that declares more than its ceiling; our own check below
        # refuses it anyway. (Silencing it with warnings.catch_warnings would not be thread-safe.)
        im = Image.open(io.BytesIO(data), formats=PILLOW_FORMATS)
        fmt = "JPEG" if im.format == "MPO" else (im.format or sniffed)
        width, height = im.size
        _check_dimensions(width, height, len(data), limits, f"{fmt} image")
        count = _frame_count(im)
        orientation = _orientation(im)
    except MediaError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow plugins raise many types on hostile input; all mean "corrupt"
        raise _map_exception(exc, sniffed) from None
    if count > limits.max_frames:
        raise MediaTooLarge(
            f"{fmt} file declares {count} frames, over the limit of {limits.max_frames}", code="too_many_frames"
        )
    info = MediaInfo(fmt, width, height, count, orientation, len(data))
    opened = OpenedImage(im, info, deadline, limits)
    opened.check_time("header")
    return opened


def probe(data: bytes, *, limits: DecodeLimits = DEFAULT_LIMITS) -> MediaInfo:
    """Header facts, with every limit checked; decodes no pixels (except HEIF's first image)."""
    return open_image(data, limits=limits).info


def apply_orientation(im: Image.Image, orientation: int) -> Image.Image:
    method = _ORIENTATION_TRANSPOSE.get(orientation)
    return im if method is None else im.transpose(method)


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode in ("P", "L", "RGB") and "transparency" in im.info)


def to_rgb(im: Image.Image) -> tuple[Image.Image, bool]:
    """Any Pillow mode to RGB; alpha flattened onto white (see module docstring). Returns (image, had_alpha)."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # High bit depth: scale into 8 bits rather than let convert() clip everything above 255.
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") else max(float(arr.max()), 1.0)
        grey = np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB"), False
    if _has_alpha(im):
        rgba = im.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat, True
    if im.mode == "RGB":
        return im, False
    return im.convert("RGB"), False


def _frame_plan(info: MediaInfo, limits: DecodeLimits) -> list[int]:
    """Which frames to decode: spread evenly over the animation, within the total-pixel budget."""
    n = info.frame_count
    if n <= 1:
        return [0]
    per_frame = max(info.width * info.height, 1)
    reachable = max(1, min(n, limits.max_total_pixels // per_frame))  # frames decode in sequence
    k = min(limits.keep_frames, reachable)
    return sorted({round(x) for x in np.linspace(0, reachable - 1, k).tolist()})


def decode_image(data: bytes, *, limits: DecodeLimits = DEFAULT_LIMITS) -> DecodedImage:
    """Decode to RGB frames (EXIF orientation applied, alpha flattened). Raises a MediaError subclass."""
    opened = open_image(data, limits=limits)
    return decode_opened(opened)


def decode_opened(opened: OpenedImage) -> DecodedImage:
    info, limits = opened.info, opened.limits
    fmt = info.format
    frames: list[Image.Image] = []
    had_alpha = False
    try:
        indexes = _frame_plan(info, limits)
        for index in indexes:
            im = opened.image
            if index:
                im.seek(index)
                # TIFF pages (and some animations) carry their own size: check before loading.
                _check_dimensions(im.width, im.height, info.byte_size, limits, f"{fmt} frame {index}")
            check_decode_memory(im.mode, im.width, im.height, limits, f"{fmt} frame {index}")
            im.load()
            opened.check_time(f"frame {index}")
            rgb, alpha = to_rgb(im)
            had_alpha = had_alpha or alpha
            frames.append(apply_orientation(rgb, info.orientation) if fmt != "HEIF" else rgb)
            opened.check_time(f"frame {index}")
    except MediaError:
        raise
    except Exception as exc:  # noqa: BLE001 - see open_image: hostile input raises anything
        raise _map_exception(exc, fmt) from None
    return DecodedImage(info, tuple(frames), tuple(indexes), had_alpha)


def iter_frames(data: bytes, *, limits: DecodeLimits = DEFAULT_LIMITS) -> Iterator[Image.Image]:
    """The decoded frames one at a time (first frame first)."""
    yield from decode_image(data, limits=limits).frames
