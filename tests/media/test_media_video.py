"""Video hashing (media/video.py): vPDQ of benign synthetic clips made with FFmpeg at test time, every
limit refused with a clear error, hostile files refused, and nothing written to disk (EUI-1, UK-5)."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess

import numpy as np
import pytest
from PIL import Image

from staydown.matching import vpdq
from staydown.media import video
from staydown.media.errors import CorruptMedia, DecodeTimeout, MediaTooLarge, UnsupportedMedia
from staydown.media.hashing import LumaImage, _coefficients_to_hex, pdq_coefficients
from staydown.media.video import VideoLimits, frame_coefficients, hash_video, video_format
from tests.videogen import clip, corpus, needs_ffmpeg

pytestmark = needs_ffmpeg


def _ffmpeg(tmp_path, *args: str, name: str = "out.mp4") -> bytes:
    out = tmp_path / name
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args, str(out)], check=True, timeout=60)
    return out.read_bytes()


def test_uk5_vpdq_of_an_mp4_every_eighth_second_with_mirror_and_digests() -> None:
    """REQ UK-5, EUI-1: a frame hash at least every 0.125 s (by frame number, as Meta's vpdq picks
    frames), each with its mirror image; digests of the file's bytes."""
    data = clip(1, seconds=4.0, fps=12)
    s = hash_video(data)
    assert s.format == "MP4" and s.codec == "h264" and (s.width, s.height) == (256, 144)
    assert s.md5 == hashlib.md5(data).hexdigest() and s.sha256 == hashlib.sha256(data).hexdigest()
    assert len(s.frames) == 48  # 12 fps: every frame is at most 0.125 s from the next
    assert [f.frame_number for f in s.frames[:3]] == [0, 1, 2]
    assert s.frames[12].timestamp == 1.0
    assert all(len(f.pdq) == 64 and len(f.mirror) == 64 and f.pdq != f.mirror for f in s.frames)
    assert all(f.quality >= 50 for f in s.frames)
    # Crop variants only every half second (what a confirmed item's bank entry carries).
    assert [f.timestamp for f in s.frames if f.crops] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    assert len(s.frames[0].crops) == len(video.VARIANT_CROPS)


def test_webm_and_animated_gif_are_video_a_still_gif_is_an_image(tmp_path) -> None:
    webm = clip(2, seconds=3.0, codec="vp9")
    assert video_format(webm) == "MATROSKA" and hash_video(webm).codec == "vp9"
    gif = corpus().edit(clip(2, seconds=3.0), "gif", seconds=3.0)
    assert video_format(gif) == "GIF" and hash_video(gif).format == "GIF"

    still = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 30)).save(still, "GIF")
    assert video_format(still.getvalue()) is None


def test_mirror_hash_is_the_mirrored_copys_hash() -> None:
    """A mirrored re-upload hashes (nearly) to the original's mirror variant: it is hashed from the
    mirrored pixels, not by flipping DCT signs."""
    original = hash_video(clip(3, seconds=3.0))
    mirrored = hash_video(corpus().edit(clip(3, seconds=3.0), "mirror", seconds=3.0))
    distances = [
        (int(a.mirror, 16) ^ int(b.pdq, 16)).bit_count() for a, b in zip(original.frames, mirrored.frames, strict=False)
    ]
    assert np.median(distances) <= 8


def test_frame_coefficients_equal_the_reference_pdq() -> None:
    """The video path's sparse tent filter gives bit for bit the hash and quality of media.hashing."""
    rng = np.random.default_rng(7)
    for h, w in ((144, 256), (288, 512), (97, 131), (512, 288)):
        grey = (rng.random((h, w)) * 255).astype(np.uint8)
        ours, q1 = frame_coefficients(grey)
        ref, q2 = pdq_coefficients(LumaImage(grey.astype(np.float32), (w, h)))
        assert _coefficients_to_hex(ours) == _coefficients_to_hex(ref) and q1 == q2


def test_frames_agree_with_metas_vpdq(tmp_path) -> None:
    """Hashes other organisations compute with Meta's vpdq (one a second, full size) are within a
    few bits of ours on the same frames."""
    meta = pytest.importorskip("vpdq")
    data = clip(4, seconds=4.0, size=(640, 360), fps=24)
    path = tmp_path / "c.mp4"
    path.write_bytes(data)
    theirs = meta.computeHash(str(path), seconds_per_hash=1.0)
    ours = hash_video(data, limits=VideoLimits(seconds_per_hash=1.0))
    assert [round(f.timestamp, 3) for f in theirs] == [f.timestamp for f in ours.kept]
    distances = [(int(a.hex, 16) ^ int(b.pdq, 16)).bit_count() for a, b in zip(theirs, ours.kept, strict=True)]
    assert max(distances) <= 16, distances


def test_vpdq_frame_spacing_of_variants_matches_the_content_index() -> None:
    # Bank-side variants and the stored-content index pick the same frames of two copies that start
    # together, or a sweep would compare frames half a second apart.
    assert video.VARIANT_SECONDS == vpdq.CONTENT_INDEX_SPACING


# -- limits and hostile input: each refused with a clear, typed error (a 4xx over HTTP) -------------


def test_too_long_video_refused_before_decoding() -> None:
    with pytest.raises(MediaTooLarge) as err:
        hash_video(clip(5, seconds=4.0), limits=VideoLimits(max_duration_seconds=2.0))
    assert err.value.code == "too_long" and "over the limit of 2 s" in err.value.message


def test_frame_size_byte_and_rate_limits() -> None:
    data = clip(5, seconds=4.0)
    with pytest.raises(MediaTooLarge) as err:
        hash_video(data, limits=VideoLimits(max_pixels=100 * 100))
    assert err.value.code == "too_many_pixels" and "256 x 144" in err.value.message
    with pytest.raises(MediaTooLarge) as err:
        hash_video(data, limits=VideoLimits(max_bytes=1000))
    assert err.value.code == "too_many_bytes"
    with pytest.raises(MediaTooLarge) as err:
        hash_video(data, limits=VideoLimits(max_frame_rate=5.0))
    assert err.value.code == "too_many_frames"


def test_wall_time_limit_kills_ffmpeg() -> None:
    with pytest.raises(DecodeTimeout) as err:
        hash_video(clip(6, seconds=12.0, size=(640, 360), fps=30), limits=VideoLimits(max_seconds=0.3))
    assert "longer than 0.3 s" in err.value.message


def test_memory_limit_is_enforced_on_ffmpeg(tmp_path) -> None:
    """FFmpeg cannot use more address space than allowed: a 4K video under a limit it needs more than
    is refused as too large (422 out_of_memory), not decoded unbounded; the limit cannot be set
    below what FFmpeg needs to start."""
    data = _ffmpeg(
        tmp_path,
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=3840x2160:rate=10",
        "-t",
        "1",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        name="4k.mp4",
    )
    limits = VideoLimits(max_memory_bytes=video.MIN_MEMORY_BYTES)
    object.__setattr__(limits, "max_memory_bytes", 320 * 1024 * 1024)  # below the floor, to make it fail
    with pytest.raises(MediaTooLarge) as err:
        hash_video(data, limits=limits)
    assert err.value.code == "out_of_memory" and "320 MiB" in err.value.message
    assert len(hash_video(data).frames) == 10  # within the default
    with pytest.raises(ValueError):
        VideoLimits(max_memory_bytes=256 * 1024 * 1024)


def test_corrupt_truncated_and_empty_videos_refused() -> None:
    data = clip(7, seconds=3.0)
    with pytest.raises(CorruptMedia):
        hash_video(data[: len(data) // 3])  # the index ('moov') is at the end: cut off
    garbage = data[:32] + os.urandom(20_000)
    with pytest.raises(CorruptMedia):
        hash_video(garbage)
    with pytest.raises(CorruptMedia) as err:
        hash_video(b"")
    assert err.value.code == "empty_media"


def test_codec_outside_the_allow_list_refused(tmp_path) -> None:
    """An MP4 holding PNG frames (a legal but unusual codec) never reaches a decoder."""
    data = _ffmpeg(
        tmp_path, "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=5", "-t", "1", "-c:v", "png", name="png.mov"
    )
    with pytest.raises(UnsupportedMedia) as err:
        hash_video(data)
    assert "png" in err.value.message


def test_other_containers_refused_by_name(tmp_path) -> None:
    avi = _ffmpeg(tmp_path, "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=5", "-t", "1", name="c.avi")
    with pytest.raises(UnsupportedMedia) as err:
        hash_video(avi)
    assert "AVI" in err.value.message and "MP4, MOV, 3GP, WebM, MKV or animated GIF" in err.value.message
    # A playlist or concat script can name other files: it is not a container we open at all.
    with pytest.raises(UnsupportedMedia):
        hash_video(b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:///etc/passwd\n")


def test_playlist_disguised_as_mp4_reads_nothing_else(tmp_path) -> None:
    """Bytes that sniff as MP4 are opened by the MP4 demuxer only, with the file protocol only: a
    playlist inside cannot make FFmpeg open another file or the network."""
    hostile = b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00isom" + b"#EXTM3U\nhttp://127.0.0.1:9/x.ts\n/etc/passwd\n"
    with pytest.raises(CorruptMedia):
        hash_video(hostile)


def test_missing_ffmpeg_says_how_to_enable_video(monkeypatch) -> None:
    monkeypatch.setattr(video, "ffmpeg_available", lambda: False)
    with pytest.raises(UnsupportedMedia) as err:
        hash_video(clip(1, seconds=4.0, fps=12))
    assert "apt-get install ffmpeg" in err.value.message


# -- never on disk ----------------------------------------------------------------------------------


def test_eui1_video_is_never_written_to_disk(monkeypatch, tmp_path) -> None:
    """REQ EUI-1 (least intrusive), CSAM-4/5 (minimal access): the upload goes to FFmpeg through an
    in-memory file; this process opens no file for writing while hashing, and FFmpeg runs with a
    file-size limit of 0, so the kernel stops any file write it might attempt."""
    data = clip(8, seconds=3.0)
    written: list[str] = []
    real_open = os.open

    def watching_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and str(path) != os.devnull:
            written.append(str(path))
        return real_open(path, flags, *args, **kwargs)

    made: list[str] = []
    real_memfd = os.memfd_create

    def watching_memfd(name, flags=0):
        made.append(name)
        return real_memfd(name, flags)

    monkeypatch.setattr(os, "open", watching_open)
    monkeypatch.setattr(os, "memfd_create", watching_memfd)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    hash_video(data)
    assert written == [] and made == ["staydown-video"]
    assert list(tmp_path.iterdir()) == []
    # The limit FFmpeg runs under: a child that tries to write a file is stopped by the kernel.
    target = tmp_path / "leak"
    cmd = video._limited(["sh", "-c", f"echo plaintext > {target}"], VideoLimits(), cpu_seconds=5)
    assert "--fsize=0" in cmd
    assert subprocess.run(cmd, capture_output=True).returncode != 0
    assert not target.exists() or target.stat().st_size == 0


def test_memory_file_is_sealed() -> None:
    fd = video._memfd(b"abc")
    try:
        with pytest.raises(PermissionError):
            os.write(fd, b"x")
        assert os.pread(fd, 3, 0) == b"abc"
    finally:
        os.close(fd)


def test_phone_rotation_is_applied_before_hashing(tmp_path) -> None:
    """A phone video stored sideways with a rotation flag hashes as shown: like a copy with the
    rotation baked into its pixels."""
    (tmp_path / "a.mp4").write_bytes(clip(9, size=(320, 240)))
    flagged = _ffmpeg(
        tmp_path, "-i", str(tmp_path / "a.mp4"), "-c", "copy", "-metadata:s:v:0", "rotate=90", name="flagged.mp4"
    )
    baked = _ffmpeg(
        tmp_path, "-i", str(tmp_path / "flagged.mp4"), "-c:v", "libx264", "-preset", "ultrafast", name="baked.mp4"
    )
    a, b = hash_video(flagged), hash_video(baked)
    assert (a.width, a.height) == (b.width, b.height) == (240, 320)
    assert (
        np.median([(int(x.pdq, 16) ^ int(y.pdq, 16)).bit_count() for x, y in zip(a.frames, b.frames, strict=False)])
        <= 8
    )
