"""Video signals: vPDQ (a PDQ per sampled frame, with its mirror image), MD5 and SHA-256, at a bounded cost.

How a video is read, and why (docs/decisions.md, 2026-12-07):

* The upload never touches a disk. Its bytes go into an anonymous in-memory file (Linux
  `memfd_create`, sealed against writes) that FFmpeg opens as `/proc/self/fd/N`; that file is seekable,
  so MP4s whose index ('moov') sits at the end work, which a pipe could not do.
* `ffprobe` reads the header first (container, codec, frame size, duration, frame rate, rotation) and
  every limit that the header can answer is checked before any frame is decoded.
* `ffmpeg` then decodes and hands over every frame (up to `lookup_rate` a second) scaled to
  `hash_side` pixels on its long side, as grey (luma) pixels through a pipe. Every one is hashed and
  looked up; one every `seconds_per_hash` is kept as the stored vPDQ, picked by frame number as
  Meta's vpdq does (frame n when n % int(seconds_per_hash * fps) == 0, timestamp n / fps). A trimmed
  or re-encoded copy keeps the original's frames, so looking up all of them meets each stored frame
  exactly, where hashing both at one spacing meets them up to half a spacing apart. This process
  computes PDQ from them (staydown.media.hashing's PDQ, with the tent filter's zeros skipped), frame
  by frame as they arrive, and the PDQ of every frame's left-right mirror (a mirrored re-upload is
  the commonest evasion PDQ cannot see through on its own).
* FFmpeg runs in a child process under `prlimit`: an address-space limit (`max_memory_bytes`), a CPU
  limit, and a file-size limit of 0, so it cannot write a file at all. It is killed at `max_seconds`
  of wall time. Only the demuxer named by the file's magic bytes may open it, only the `file`
  protocol, only the decoders of common video codecs; external references are off (FFmpeg's
  default), so a playlist or a reference file cannot make it read anything else.
* Animated GIFs are read the same way (GIF demuxer); a still GIF is an image.

AVI, FLV, MPEG-TS and other containers are refused as unsupported: nothing in the issue asks for
them and each extra demuxer is attack surface.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass

import numba
import numpy as np
from PIL import Image

from staydown.media.decode import sniff_format
from staydown.media.errors import CorruptMedia, DecodeTimeout, MediaTooLarge, UnsupportedMedia
from staydown.media.hashing import _coefficients_to_hex, _dct_16x64, _quality, _tent_weights

__all__ = [
    "VIDEO_CONTAINERS",
    "VIDEO_TOOLS_HINT",
    "VideoFrameHash",
    "VideoLimits",
    "VideoSignals",
    "ffmpeg_available",
    "hash_video",
    "video_format",
]

VIDEO_TOOLS_HINT = (
    "video hashing needs FFmpeg's command-line tools (ffmpeg and ffprobe) on PATH: "
    "apt-get install ffmpeg (Debian/Ubuntu)"
)

# sniff_format's name -> the only FFmpeg demuxer allowed to open it.
VIDEO_CONTAINERS = {"MP4": "mov", "MATROSKA": "matroska", "GIF": "gif"}

# Decoders FFmpeg may use: the codecs of phones, browsers, cameras and editors. An exotic decoder
# reached through a crafted file is the usual way into a media library, so the rest are refused.
ALLOWED_DECODERS = (
    "h264",
    "hevc",
    "vp8",
    "vp9",
    "libvpx",
    "libvpx-vp9",
    "av1",
    "libdav1d",
    "libaom-av1",
    "mpeg4",
    "h263",
    "mjpeg",
    "prores",
    "gif",
)
ALLOWED_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "h263", "mjpeg", "prores", "gif"})

# When FFmpeg reports nothing useful, the first line of what it said (bounded) goes in the message.
_STDERR_KEEP = 2048
# FFmpeg maps ~250 MiB of shared libraries at start (measured: it cannot start under 300 MiB), and a
# 4K H.264 stream needed 350-400 MiB in all.
MIN_MEMORY_BYTES = 512 * 1024 * 1024
# What FFmpeg says when an allocation failed under the address-space limit (it has no single message).
_MEMORY_SIGNS = ("alloc", "memory", "get_buffer", "failed to configure output pad", "init failed")

# Centre crops (share cut from every side) hashed for the bank-side variants of an upload, kept with
# its scan in case it is confirmed: PDQ tolerates about half a percent of crop per side, so a copy
# cropped by 2.5% or 5% a side is found only through a variant made at that crop (bench/video.py).
VARIANT_CROPS = (0.025, 0.05)
# Bank-side variants are hashed every this many seconds (the dense query side meets them within
# half the query's spacing; see docs/decisions.md 2026-12-07).
VARIANT_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class VideoLimits:
    """Bounds on hashing one video. The settings layer builds this (Settings.video_limits)."""

    max_bytes: int = 50 * 1024 * 1024
    max_duration_seconds: float = 600.0
    max_pixels: int = 8_294_400  # per frame: 3840 x 2160
    max_dimension: int = 8192  # either side
    max_frames: int = 180_000  # frames the container may declare (10 min at 300 fps)
    max_frame_rate: float = 240.0  # a declared rate above this is a crafted file
    seconds_per_hash: float = 0.125  # how often a frame is kept (the stored vPDQ)
    lookup_rate: float = 30.0  # frames a second hashed and looked up at most (every frame below it)
    hash_side: int = 512  # long side of the frame that PDQ is computed from (enlarged or reduced to it)
    max_seconds: float = 180.0  # wall time for probe + decode + hash; FFmpeg is killed past it
    max_memory_bytes: int = 1024 * 1024 * 1024  # FFmpeg's address space
    threads: int = 2  # FFmpeg decoder threads

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels", "max_dimension", "max_frames", "hash_side", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"VideoLimits.{name} must be at least 1")
        for name in ("max_duration_seconds", "max_frame_rate", "seconds_per_hash", "lookup_rate", "max_seconds"):
            if not getattr(self, name) > 0:
                raise ValueError(f"VideoLimits.{name} must be positive")
        if self.hash_side < 64:
            raise ValueError("VideoLimits.hash_side must be at least 64 (PDQ samples 64 x 64)")
        if self.max_memory_bytes < MIN_MEMORY_BYTES:
            raise ValueError(
                "VideoLimits.max_memory_bytes must be at least 512 MiB: FFmpeg maps about 250 MiB of "
                "shared libraries before it reads a byte"
            )

    def steps(self, frame_rate: float) -> tuple[int, int]:
        """(look-up step, keep step) in frames: every look-up step-th frame is hashed and looked up;
        every keep step-th (a multiple of it, so the kept frames are among those hashed) is kept, as
        vpdq keeps frame n when n % int(seconds_per_hash * fps) == 0."""
        lookup = max(1, round(frame_rate / self.lookup_rate))
        keep = lookup * max(1, int(self.seconds_per_hash * frame_rate / lookup))
        return lookup, keep


@dataclass(frozen=True, slots=True)
class VideoFrameHash:
    pdq: str  # 64 hex digits
    quality: int  # 0..100
    frame_number: int
    timestamp: float  # seconds, frame_number / frame rate (as vpdq computes it)
    mirror: str = ""  # PDQ of the frame mirrored left-right
    crops: tuple[tuple[str, int], ...] = ()  # (PDQ, quality) of VARIANT_CROPS' centre crops, every VARIANT_SECONDS
    kept: bool = True  # in the stored vPDQ (every seconds_per_hash); the others are only looked up


@dataclass(frozen=True, slots=True)
class VideoSignals:
    md5: str
    sha256: str
    format: str  # "MP4" (also MOV, 3GP), "MATROSKA" (also WebM), "GIF"
    codec: str
    width: int  # as displayed (rotation applied)
    height: int
    duration: float  # seconds (0.0 when the container does not say)
    frame_rate: float
    frames: tuple[VideoFrameHash, ...]  # every frame hashed; `kept` ones make the stored vPDQ
    seconds_per_hash: float

    @property
    def kept(self) -> tuple[VideoFrameHash, ...]:
        return tuple(f for f in self.frames if f.kept)


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def _animated_gif(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data), formats=("GIF",)) as im:
            # n_frames walks the block structure only (bounded by the byte limit), no pixels.
            return bool(getattr(im, "is_animated", False))
    except Exception:  # noqa: BLE001 - a GIF Pillow cannot read is for the image path to refuse with its reason
        return False


def video_format(data: bytes) -> str | None:
    """The container name when these bytes are a video staydown hashes as video, else None.
    Animated GIFs count as video (a clip turned into a GIF is matched against video banks)."""
    fmt = sniff_format(data)
    if fmt == "GIF":
        return "GIF" if _animated_gif(data) else None
    return fmt if fmt in VIDEO_CONTAINERS else None


# -- the in-memory file ---------------------------------------------------------------------------


def _memfd(data: bytes) -> int:
    """An anonymous, RAM-backed file holding `data`, sealed so that nothing can change it. The
    caller closes it. (No swap is involved unless the machine has swap, as for any process memory.)"""
    fd = os.memfd_create("staydown-video", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(data)
        written = 0
        while written < len(view):
            written += os.write(fd, view[written:])
        fcntl.fcntl(
            fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL
        )
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _limited(cmd: list[str], limits: VideoLimits, cpu_seconds: float) -> list[str]:
    """The command under resource limits, applied by `prlimit` before FFmpeg's first instruction:
    address space, CPU seconds, and no file writes at all (RLIMIT_FSIZE 0)."""
    prlimit = shutil.which("prlimit")
    if prlimit is None:  # util-linux is on every Debian system; say so rather than run unbounded
        raise UnsupportedMedia("video hashing needs the prlimit tool (util-linux) to bound FFmpeg's memory")
    return [
        prlimit,
        f"--as={limits.max_memory_bytes}",
        f"--cpu={max(1, math.ceil(cpu_seconds))}",
        "--fsize=0",
        "--core=0",
        "--",
        *cmd,
    ]


def _env() -> dict[str, str]:
    # Nothing of the server's environment (secrets, proxies) reaches FFmpeg.
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}


def _input_args(demuxer: str, fd: int) -> list[str]:
    return [
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        demuxer,
        "-codec_whitelist",
        ",".join(ALLOWED_DECODERS),
        "-f",
        demuxer,
        "-i",
        f"/proc/self/fd/{fd}",
    ]


# -- the header -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Header:
    codec: str
    width: int  # as stored
    height: int
    rotation: int  # degrees, a multiple of 90
    frame_rate: float
    duration: float
    declared_frames: int | None


def _rate(text: object) -> float:
    try:
        num, _, den = str(text or "0/0").partition("/")
        n, d = float(num), float(den or 1)
    except ValueError:
        return 0.0
    return n / d if d and math.isfinite(n / d) else 0.0


def _rotation(stream: dict) -> int:
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            try:
                return round(float(side["rotation"])) % 360
            except (TypeError, ValueError):
                return 0
    try:
        return int((stream.get("tags") or {}).get("rotate", 0)) % 360
    except (TypeError, ValueError):
        return 0


def _probe(fd: int, demuxer: str, fmt: str, limits: VideoLimits, deadline: float) -> _Header:
    cmd = _limited(
        [
            shutil.which("ffprobe") or "ffprobe",
            "-v",
            "error",
            *_input_args(demuxer, fd),
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height,avg_frame_rate,r_frame_rate,nb_frames,duration:"
            "stream_side_data=rotation:stream_tags=rotate:format=duration",
            "-of",
            "json",
        ],
        limits,
        cpu_seconds=min(20.0, limits.max_seconds),
    )
    timeout = max(0.1, min(20.0, deadline - time.monotonic()))
    try:
        out = subprocess.run(
            cmd, capture_output=True, timeout=timeout, check=False, pass_fds=(fd,), env=_env(), stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise DecodeTimeout(f"the video's header could not be read in {timeout:.0f} s") from None
    try:
        facts = json.loads(out.stdout or b"{}")
    except ValueError:
        facts = {}
    streams = facts.get("streams") or []
    if out.returncode != 0 or not streams:
        said = _first_line(out.stderr)
        _check_started(said)
        if "not on whitelist" in said:
            raise UnsupportedMedia(f"the {fmt} file uses a video codec staydown does not decode ({said})")
        if out.returncode != 0:
            raise CorruptMedia(f"the {fmt} file could not be read: {said or 'no reason given'}")
        raise CorruptMedia(f"the {fmt} file holds no video stream", code="corrupt_media")
    stream = streams[0]
    codec = str(stream.get("codec_name") or "unknown")
    if codec not in ALLOWED_CODECS:
        raise UnsupportedMedia(
            f"the {fmt} file's video codec {codec!r} is not one staydown decodes ({', '.join(sorted(ALLOWED_CODECS))})"
        )
    try:
        width, height = int(stream.get("width") or 0), int(stream.get("height") or 0)
    except (TypeError, ValueError):
        width = height = 0
    if width < 1 or height < 1:
        raise CorruptMedia(f"the {fmt} file's video declares an empty frame size ({width} x {height})")
    if width * height > limits.max_pixels:
        raise MediaTooLarge(
            f"video frames are {width} x {height} = {width * height} pixels, over the limit of {limits.max_pixels}",
            code="too_many_pixels",
        )
    if max(width, height) > limits.max_dimension:
        raise MediaTooLarge(
            f"video frames are {width} x {height}; a side over {limits.max_dimension} pixels is not accepted",
            code="dimension_too_large",
        )
    # vpdq's rule: the average frame rate, else the stream's base rate.
    rate = _rate(stream.get("avg_frame_rate")) or _rate(stream.get("r_frame_rate"))
    if not rate > 0:
        raise CorruptMedia(f"the {fmt} file's video declares no frame rate")
    if rate > limits.max_frame_rate:
        raise MediaTooLarge(
            f"the video declares {rate:.0f} frames a second, over the limit of {limits.max_frame_rate:.0f}",
            code="too_many_frames",
        )
    declared: int | None = None
    if str(stream.get("nb_frames") or "").isdigit():
        declared = int(stream["nb_frames"])
        if declared > limits.max_frames:
            raise MediaTooLarge(
                f"the video has {declared} frames, over the limit of {limits.max_frames}", code="too_many_frames"
            )
    duration = 0.0
    for candidate in ((facts.get("format") or {}).get("duration"), stream.get("duration")):
        if candidate is None:
            continue
        try:
            duration = max(duration, float(candidate))
        except (TypeError, ValueError):
            continue
    if not math.isfinite(duration):
        duration = 0.0
    if duration > limits.max_duration_seconds:
        raise MediaTooLarge(
            f"the video lasts {duration:.0f} s, over the limit of {limits.max_duration_seconds:.0f} s", code="too_long"
        )
    return _Header(codec, width, height, _rotation(stream), rate, duration, declared)


def _check_started(said: str) -> None:
    if "error while loading shared libraries" in said:
        # The limit is below what FFmpeg needs to start: the server's configuration, not the upload.
        raise RuntimeError(f"FFmpeg cannot start under STAYDOWN_VIDEO_MAX_MEMORY_MB: {said}")


def _first_line(stderr: bytes) -> str:
    text = stderr[:_STDERR_KEEP].decode("utf-8", "replace").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # FFmpeg names the file path first on some errors; the path is our /proc/self/fd/N, not news.
    return (lines[0] if lines else "").replace("/proc/self/fd/", "fd ")[:300]


# -- decoding and hashing -------------------------------------------------------------------------


def _hash_size(width: int, height: int, side: int) -> tuple[int, int]:
    """The frame size PDQ is computed from: the long side exactly `side` (even numbers). Small frames
    are enlarged too: PDQ's blur is a fixed number of pixels per 128 of the frame, so a copy resized
    to 60% hashed at its own size was 13 bits (median) from the original, and 3 bits when both are
    hashed at one size (bench/video.py's corpus)."""
    scale = side / max(width, height)
    w = max(2, round(width * scale / 2) * 2)
    h = max(2, round(height * scale / 2) * 2)
    return w, h


@functools.lru_cache(maxsize=64)
def _sparse_tent(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PDQ's 64 tent-filter rows for an axis of n pixels (staydown.media.hashing._tent_weights), as
    each row's first and last non-zero column and the weights: each row spans about n/64 pixels."""
    dense = _tent_weights(n, n)
    lo = np.empty(64, np.int64)
    hi = np.empty(64, np.int64)
    for r in range(64):
        nz = np.flatnonzero(dense[r])
        lo[r], hi[r] = (nz[0], nz[-1] + 1) if nz.size else (0, 0)
    return lo, hi, np.ascontiguousarray(dense, dtype=np.float32)


@numba.njit(cache=True)
def _tent_64(gray, row_lo, row_hi, row_w, col_lo, col_hi, col_w):  # pragma: no cover - compiled
    # wr @ gray @ wc.T with the tent's zeros skipped: ~1/30 of the dense product's work. (NumPy's dense
    # product went through OpenBLAS, whose threads cost 2-8 ms a frame on a busy two-core machine.)
    _, w = gray.shape
    tmp = np.zeros((64, w), np.float32)
    for r in range(64):
        for k in range(row_lo[r], row_hi[r]):
            weight = row_w[r, k]
            for x in range(w):
                tmp[r, x] += weight * gray[k, x]
    out = np.empty((64, 64), np.float64)
    for r in range(64):
        for c in range(64):
            acc = np.float32(0.0)
            for k in range(col_lo[c], col_hi[c]):
                acc += tmp[r, k] * col_w[c, k]
            out[r, c] = acc
    return out


def frame_coefficients(gray: np.ndarray) -> tuple[np.ndarray, int]:
    """PDQ's 16x16 DCT coefficients and quality of a grey (uint8) frame at its own size: what
    staydown.media.hashing.pdq_coefficients computes (tests/media/test_media_video.py checks they agree)."""
    h, w = gray.shape
    if w < 5 or h < 5:
        return np.zeros((16, 16)), 0
    buf = _tent_64(np.ascontiguousarray(gray, dtype=np.float32), *_sparse_tent(h), *_sparse_tent(w))
    d = _dct_16x64()
    return d @ buf @ d.T, _quality(buf)


def _frame_hashes(gray: np.ndarray) -> tuple[str, str, int]:
    """PDQ of one grey frame, of its left-right mirror, and the quality. The mirror is hashed from the
    mirrored pixels: the cheap way (flipping DCT signs) is off by up to ~40 bits on small frames,
    because PDQ's box filter is half a pixel off-centre for even windows (media/variants.py)."""
    coefficients, quality = frame_coefficients(gray)
    mirrored, _ = frame_coefficients(gray[:, ::-1])
    return _coefficients_to_hex(coefficients), _coefficients_to_hex(mirrored), quality


def _crop_hashes(gray: np.ndarray) -> tuple[tuple[str, int], ...]:
    h, w = gray.shape
    out = []
    for c in VARIANT_CROPS:
        dx, dy = round(w * c), round(h * c)
        coefficients, quality = frame_coefficients(gray[dy : h - dy, dx : w - dx])
        out.append((_coefficients_to_hex(coefficients), quality))
    return tuple(out)


class _StderrTail(threading.Thread):
    """Drains FFmpeg's stderr (a full pipe would stall it) and keeps the first bytes for the message."""

    def __init__(self, stream: io.BufferedReader) -> None:
        super().__init__(daemon=True, name="staydown-ffmpeg-stderr")
        self.stream = stream
        self.kept = b""

    def run(self) -> None:
        while True:
            chunk = self.stream.read(4096)
            if not chunk:
                return
            if len(self.kept) < _STDERR_KEEP:
                self.kept += chunk[: _STDERR_KEEP - len(self.kept)]


def _read_exact(stream: io.BufferedReader, n: int) -> bytes:
    parts = []
    got = 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def hash_video(data: bytes, *, limits: VideoLimits = VideoLimits()) -> VideoSignals:
    """vPDQ, MD5 and SHA-256 of a video file's bytes. Raises a MediaError subclass on input that is
    not a supported video, is over a limit, or cannot be decoded."""
    started = time.monotonic()
    deadline = started + limits.max_seconds
    if not data:
        raise CorruptMedia("the file is empty (0 bytes)", code="empty_media")
    if len(data) > limits.max_bytes:
        raise MediaTooLarge(
            f"the file is {len(data)} bytes, over the limit of {limits.max_bytes}", code="too_many_bytes"
        )
    fmt = video_format(data)
    if fmt is None:
        sniffed = sniff_format(data)
        raise UnsupportedMedia(
            f"not a video staydown hashes ({sniffed or 'unknown format'}); video uploads may be "
            "MP4, MOV, 3GP, WebM, MKV or animated GIF"
        )
    if not ffmpeg_available():
        raise UnsupportedMedia(VIDEO_TOOLS_HINT)
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    sha256 = hashlib.sha256(data).hexdigest()
    demuxer = VIDEO_CONTAINERS[fmt]
    fd = _memfd(data)
    try:
        header = _probe(fd, demuxer, fmt, limits, deadline)
        frames = _decode_and_hash(fd, demuxer, fmt, header, limits, deadline)
    finally:
        os.close(fd)
    width, height = (header.height, header.width) if header.rotation in (90, 270) else (header.width, header.height)
    return VideoSignals(
        md5,
        sha256,
        fmt,
        header.codec,
        width,
        height,
        round(header.duration, 3),
        round(header.frame_rate, 3),
        frames,
        limits.seconds_per_hash,
    )


def _decode_and_hash(
    fd: int, demuxer: str, fmt: str, header: _Header, limits: VideoLimits, deadline: float
) -> tuple[VideoFrameHash, ...]:
    shown_w, shown_h = (header.height, header.width) if header.rotation in (90, 270) else (header.width, header.height)
    w, h = _hash_size(shown_w, shown_h, limits.hash_side)
    lookup_step, keep_step = limits.steps(header.frame_rate)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DecodeTimeout(f"video hashing took longer than {limits.max_seconds:g} s (reading the header)")
    # Autorotation (FFmpeg's default) happens before the filters: the frames are hashed as shown.
    cmd = _limited(
        [
            shutil.which("ffmpeg") or "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-v",
            "error",
            "-threads",
            str(limits.threads),
            *_input_args(demuxer, fd),
            "-map",
            "0:v:0",
            "-an",
            "-sn",
            "-dn",
            "-vf",
            f"select='not(mod(n\\,{lookup_step}))',scale={w}:{h}:flags=area,format=gray",
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "pipe:1",
        ],
        limits,
        cpu_seconds=remaining * max(1, limits.threads) + 1,
    )
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        pass_fds=(fd,),
        env=_env(),
        bufsize=0,
    )
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(remaining, kill)
    timer.daemon = True
    timer.start()
    tail = _StderrTail(proc.stderr)  # type: ignore[arg-type]
    tail.start()
    frame_bytes = w * h
    out: list[VideoFrameHash] = []
    next_variant = 0.0  # the frames that get crops: thinned by timestamp as matching/vpdq.spaced() does
    too_many = False
    try:
        assert proc.stdout is not None
        while True:
            raw = _read_exact(proc.stdout, frame_bytes)  # type: ignore[arg-type]
            if len(raw) < frame_bytes:
                break  # end of stream (or killed); a partial frame is dropped
            n = len(out) * lookup_step
            timestamp = round(n / header.frame_rate, 3)
            if timestamp > limits.max_duration_seconds + 1:
                too_many = True  # the header said nothing (or lied) about how long it is
                proc.kill()
                break
            gray = np.frombuffer(raw, np.uint8).reshape(h, w)
            pdq, mirror, quality = _frame_hashes(gray)
            kept = n % keep_step == 0
            crops: tuple[tuple[str, int], ...] = ()
            if kept and timestamp >= next_variant - 1e-3:
                crops = _crop_hashes(gray)
                next_variant = timestamp + VARIANT_SECONDS
            out.append(VideoFrameHash(pdq, quality, n, timestamp, mirror, crops, kept))
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        tail.join(5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    if timed_out.is_set():
        raise DecodeTimeout(f"video hashing took longer than {limits.max_seconds:g} s")
    if too_many:
        raise MediaTooLarge(
            f"the video runs past the limit of {limits.max_duration_seconds:.0f} s "
            "(its header did not say how long it is)",
            code="too_long",
        )
    said = _first_line(tail.kept)
    if proc.returncode != 0:
        _check_started(said)
        if proc.returncode in (-24, 152):  # SIGXCPU: the CPU limit
            raise DecodeTimeout(f"decoding the video used more CPU time than allowed ({said or 'stopped'})")
        if "not on whitelist" in said:
            raise UnsupportedMedia(f"the {fmt} file uses a codec staydown does not decode ({said})")
        # An allocation refused anywhere in what FFmpeg said (its first complaint is often a knock-on
        # error, such as the slice header it could not set up), or death by a signal: the memory limit,
        # and a file that needs more than it is refused as too large rather than called damaged.
        lines = tail.kept.decode("utf-8", "replace").splitlines()
        memory = next((ln.strip() for ln in lines if any(sign in ln.lower() for sign in _MEMORY_SIGNS)), None)
        if proc.returncode < 0 or memory:
            raise MediaTooLarge(
                f"the {fmt} file could not be decoded within {limits.max_memory_bytes >> 20} MiB "
                f"of memory ({memory or said or f'signal {-proc.returncode}'})"[:400],
                code="out_of_memory",
            )
        if not out:
            raise CorruptMedia(
                f"the {fmt} file could not be decoded: {said or f'FFmpeg exited with {proc.returncode}'}"
            )
        # Frames were hashed before the decoder gave up (a truncated file): refuse rather than match
        # on part of it, since the missing part is unknown.
        raise CorruptMedia(
            f"the {fmt} file is damaged after {len(out)} hashed frames: {said or 'decoder error'}",
            code="truncated_media",
        )
    if not out:
        raise CorruptMedia(f"the {fmt} file holds no decodable frames{': ' + said if said else ''}")
    return tuple(out)
