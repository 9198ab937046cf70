"""Video signals: vPDQ (one PDQ per sampled frame) with bounded bytes, size, duration and wall time.

`vpdq` is optional (the 'video' extra): it has no wheel and builds against FFmpeg's development files.
It is imported lazily; without it `hash_video` raises UnsupportedMedia saying how to enable it.

Bounds: bytes are checked first; when `ffprobe` is on PATH the container's duration, frame size and
frame count are checked before any decoding; the hashing itself runs in a child process that is
killed at `max_seconds`, which (unlike a thread) really stops FFmpeg's C code.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import queue
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from staydown.media.decode import sniff_format
from staydown.media.errors import CorruptMedia, DecodeTimeout, MediaTooLarge, UnsupportedMedia

__all__ = ["VIDEO_EXTRA_HINT", "VideoFrameHash", "VideoLimits", "VideoSignals", "hash_video", "vpdq_available"]

VIDEO_EXTRA_HINT = (
    "video hashing needs the 'video' extra: pip install 'staydown[video]' (it builds vpdq, which needs "
    "FFmpeg's development files: apt-get install libavcodec-dev libavformat-dev libavutil-dev "
    "libswscale-dev libavdevice-dev libavfilter-dev pkg-config cmake)"
)
_VIDEO_CONTAINERS = ("MP4", "MATROSKA", "AVI")


@dataclass(frozen=True, slots=True)
class VideoLimits:
    max_bytes: int = 500 * 1024 * 1024
    max_duration_seconds: float = 3 * 3600.0
    max_pixels: int = 8_294_400  # per frame: 3840 x 2160
    max_frames: int = 1_000_000
    seconds_per_hash: float = 1.0  # one PDQ per second of video
    max_seconds: float = 300.0  # wall time for the whole hash, enforced by killing the worker


@dataclass(frozen=True, slots=True)
class VideoFrameHash:
    pdq: str
    quality: int
    frame_number: int
    timestamp: float


@dataclass(frozen=True, slots=True)
class VideoSignals:
    md5: str
    sha256: str
    format: str
    frames: tuple[VideoFrameHash, ...]


def vpdq_available() -> bool:
    try:
        import vpdq  # noqa: F401
    except ImportError:
        return False
    return True


def _probe(path: str, limits: VideoLimits) -> None:
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return  # no header check possible; the wall-time kill still bounds the work
    try:
        out = subprocess.run(
            [ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries",
             "stream=width,height,nb_frames:format=duration", "-of", "json", path],
            capture_output=True, timeout=20, check=False,
        )
    except subprocess.TimeoutExpired:
        raise DecodeTimeout("the video's header could not be read in 20 s") from None
    try:
        facts = json.loads(out.stdout or b"{}")
    except ValueError:
        facts = {}
    streams = facts.get("streams") or []
    if not streams:
        raise CorruptMedia("the file holds no decodable video stream")
    stream = streams[0]
    width, height = int(stream.get("width") or 0), int(stream.get("height") or 0)
    if width * height > limits.max_pixels:
        raise MediaTooLarge(f"video frames are {width} x {height}, over {limits.max_pixels} pixels",
                            code="too_many_pixels")
    frames = stream.get("nb_frames")
    if frames and str(frames).isdigit() and int(frames) > limits.max_frames:
        raise MediaTooLarge(f"video has {frames} frames, over the limit of {limits.max_frames}",
                            code="too_many_frames")
    duration = (facts.get("format") or {}).get("duration")
    try:
        seconds = float(duration) if duration is not None else 0.0
    except ValueError:
        seconds = 0.0
    if seconds > limits.max_duration_seconds:
        raise MediaTooLarge(f"video lasts {seconds:.0f} s, over the limit of {limits.max_duration_seconds:.0f} s",
                            code="too_long")


def _worker(path: str, seconds_per_hash: float, out: "multiprocessing.Queue[object]") -> None:
    try:
        import vpdq

        features = vpdq.computeHash(path, seconds_per_hash=seconds_per_hash)
        out.put([(vpdq.hash_to_hex(f.hash), int(f.quality), int(f.frame_number), float(f.timestamp)) for f in features])
    except Exception as exc:  # reported to the parent, which maps it to a typed error
        out.put(exc if isinstance(exc, (ValueError, RuntimeError, OSError)) else RuntimeError(str(exc)))


def hash_video(data: bytes, *, limits: VideoLimits = VideoLimits()) -> VideoSignals:
    """vPDQ of a video file's bytes. Raises a MediaError subclass on bad or over-limit input."""
    if not data:
        raise CorruptMedia("the file is empty (0 bytes)", code="empty_media")
    if len(data) > limits.max_bytes:
        raise MediaTooLarge(f"the file is {len(data)} bytes, over the limit of {limits.max_bytes}",
                            code="too_many_bytes")
    fmt = sniff_format(data)
    if fmt not in _VIDEO_CONTAINERS:
        raise UnsupportedMedia(f"not a recognised video container ({fmt or 'unknown format'})")
    if not vpdq_available():
        raise UnsupportedMedia(VIDEO_EXTRA_HINT)
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    sha256 = hashlib.sha256(data).hexdigest()
    with tempfile.TemporaryDirectory(prefix="staydown-video-") as tmp:
        path = os.path.join(tmp, "input")
        with open(path, "wb") as fh:
            fh.write(data)
        _probe(path, limits)
        # spawn, not fork: the parent may hold threads (web server, BLAS) that fork would copy mid-state.
        ctx = multiprocessing.get_context("spawn")
        results: multiprocessing.Queue[object] = ctx.Queue()
        proc = ctx.Process(target=_worker, args=(path, limits.seconds_per_hash, results), daemon=True)
        proc.start()
        try:
            result = results.get(timeout=limits.max_seconds)
        except queue.Empty:
            result = None
        finally:
            if proc.is_alive():
                proc.kill()
            proc.join(5)
    if result is None:
        raise DecodeTimeout(f"video hashing took longer than {limits.max_seconds:g} s")
    if isinstance(result, Exception):
        raise CorruptMedia(f"the video could not be decoded: {result}")
    if not result:
        raise CorruptMedia("the video could not be decoded: no frames")
    frames = tuple(VideoFrameHash(h, q, n, t) for h, q, n, t in result)  # type: ignore[misc]
    return VideoSignals(md5, sha256, fmt, frames)
