"""Video hashing: vPDQ over a synthetic clip made with ffmpeg at test time; clear errors otherwise."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from staydown.media import video
from staydown.media.errors import MediaTooLarge, UnsupportedMedia
from staydown.media.video import VIDEO_EXTRA_HINT, VideoLimits, hash_video

needs_vpdq = pytest.mark.skipif(not video.vpdq_available(), reason=VIDEO_EXTRA_HINT)
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> bytes:
    """Three seconds of ffmpeg's synthetic test pattern (benign, generated here)."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "3",
         "-pix_fmt", "yuv420p", str(path)],
        check=True, timeout=60,
    )
    return path.read_bytes()


@needs_vpdq
@needs_ffmpeg
def test_vpdq_one_hash_per_second(clip):
    signals = hash_video(clip)
    assert signals.format == "MP4"
    assert len(signals.frames) == 3
    assert all(len(f.pdq) == 64 for f in signals.frames)
    assert [f.timestamp for f in signals.frames] == sorted(f.timestamp for f in signals.frames)


@needs_vpdq
@needs_ffmpeg
def test_video_frame_size_limit(clip):
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe is not installed")
    with pytest.raises(MediaTooLarge) as err:
        hash_video(clip, limits=VideoLimits(max_pixels=100 * 100))
    assert err.value.code == "too_many_pixels"


def test_video_byte_limit():
    with pytest.raises(MediaTooLarge):
        hash_video(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100, limits=VideoLimits(max_bytes=50))


def test_not_a_video():
    with pytest.raises(UnsupportedMedia):
        hash_video(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)


def test_missing_vpdq_says_how_to_enable_it(monkeypatch):
    monkeypatch.setattr(video, "vpdq_available", lambda: False)
    with pytest.raises(UnsupportedMedia) as err:
        hash_video(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    assert "video hashing needs the 'video' extra" in err.value.message
