"""Benign synthetic video clips for the video benchmark and tests, and the edits re-uploaders make.

Every clip is made here from nothing but numpy, Pillow and FFmpeg: camera pans and zooms over
photo-like synthetic images (bench/corpus.py's 1/f-noise pictures with horizons, shapes and text)
or over the ordinary photos the scikit-image wheel ships, moving shapes over a textured ground,
scrolling text, slowly drifting noise, cut together into one to three scenes. Each seed gives a
genuinely different clip (its own pictures, paths and cuts), so N seeds are N distinct videos; a
bundled photo is used by one clip only.

Edits (each a re-encode with FFmpeg): re-encode to WebM/VP9, resize to 60%, trim 10% off the start,
crop 5% (centred: 2.5% off each side), mirror, watermark (a handle in a translucent box about a
quarter of the width, in a corner, as bench/robustness.py's image watermark), plus harder ones
reported apart: crop 5% off each side, a large dark watermark (a third of the width, a tenth of
the height), and the clip turned into an animated GIF.

Importable by path (tests) and by name (bench/video.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # bench/corpus.py, beside this file

SIZES = ((256, 144), (320, 180), (320, 240), (426, 240), (480, 270), (640, 360))
FPS = (10, 12, 15, 24, 25, 30)
SCENE_KINDS = ("pan", "pan", "shapes", "text", "drift")

# Scratch files of the generator (benign clips) go to memory when the machine has /dev/shm.
_TMP = "/dev/shm" if os.path.isdir("/dev/shm") else None

EDITS = ("reencode", "resize", "trim", "crop", "mirror", "watermark")
HARD_EDITS = ("crop_sides", "watermark_large", "gif")


@dataclass(frozen=True)
class ClipSpec:
    seed: int
    size: tuple[int, int]
    fps: int
    scenes: tuple[tuple[str, float], ...]  # (kind, seconds)

    @property
    def seconds(self) -> float:
        return sum(s for _, s in self.scenes)


def spec(
    seed: int,
    *,
    size: tuple[int, int] | None = None,
    fps: int | None = None,
    seconds: tuple[float, float] = (4.0, 14.0),
    fps_choices: tuple[int, ...] = FPS,
    scenes: int | None = None,
) -> ClipSpec:
    rng = np.random.default_rng([seed, 0x71D])
    n = int(rng.integers(1, 4))
    n = scenes or n
    total = float(rng.uniform(*seconds))
    cuts = np.sort(rng.uniform(0.2, 0.8, n - 1)) if n > 1 else np.array([])
    edges = np.concatenate([[0.0], cuts, [1.0]]) * total
    scenes = tuple((str(rng.choice(SCENE_KINDS)), round(float(b - a), 2)) for a, b in zip(edges[:-1], edges[1:]))
    return ClipSpec(seed, size or SIZES[int(rng.integers(len(SIZES)))], fps or int(rng.choice(fps_choices)), scenes)


# -- scenes ----------------------------------------------------------------------------------------


_NATURAL: list[Image.Image] | None = None


def _natural(index: int) -> Image.Image | None:
    global _NATURAL
    if _NATURAL is None:
        _NATURAL = [img for _, img in corpus.natural_images()]
    return _NATURAL[index] if index < len(_NATURAL) else None


def _canvas(seed: int, scene: int, size: tuple[int, int], natural: int | None) -> np.ndarray:
    """A picture larger than the frame for the camera to move over."""
    w, h = size
    cw, ch = int(w * 1.8), int(h * 1.8)
    img = _natural(natural) if natural is not None and scene == 0 else None
    if img is None:
        # Drawn at the canvas's own size, so that the camera (which shows 60-95% of it) downscales
        # it as a camera's sensor would, rather than blowing up a small picture.
        img = corpus.synthetic_image(seed * 8 + scene, (max(cw, 256), max(ch, 192)))
    return np.asarray(corpus.fit(img, (cw, ch)), dtype=np.uint8)


def _pan(rng: np.random.Generator, canvas: np.ndarray, size: tuple[int, int], n: int) -> list[np.ndarray]:
    ch, cw = canvas.shape[:2]
    w, h = size
    z0, z1 = rng.uniform(0.6, 0.95, 2)  # share of the canvas the frame shows, start and end
    x0, y0, x1, y1 = rng.uniform(0, 1, 4)
    out = []
    pil = Image.fromarray(canvas)
    for i in range(n):
        t = i / max(n - 1, 1)
        z = z0 + (z1 - z0) * t
        vw, vh = cw * z, cw * z * h / w
        vh = min(vh, ch)
        vw = vh * w / h
        x = (cw - vw) * (x0 + (x1 - x0) * t)
        y = (ch - vh) * (y0 + (y1 - y0) * t)
        out.append(np.asarray(pil.resize((w, h), Image.Resampling.BILINEAR, box=(x, y, x + vw, y + vh))))
    return out


def _shapes(rng: np.random.Generator, canvas: np.ndarray, size: tuple[int, int], n: int) -> list[np.ndarray]:
    w, h = size
    ground = np.asarray(Image.fromarray(canvas).resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)
    k = int(rng.integers(3, 7))
    centre = rng.uniform(0.1, 0.9, (k, 2))
    speed = rng.uniform(-0.6, 0.6, (k, 2))  # frame widths per clip
    radius = rng.uniform(0.06, 0.2, k) * min(w, h)
    colour = rng.integers(0, 256, (k, 3)).astype(np.float32)
    out = []
    for i in range(n):
        t = i / max(n - 1, 1)
        frame = ground.copy()
        for j in range(k):
            cx = ((centre[j, 0] + speed[j, 0] * t) % 1.0) * w
            cy = ((centre[j, 1] + 0.3 * np.sin(2 * np.pi * (t + j / k))) % 1.0) * h
            r = radius[j]
            x0, x1 = max(0, int(cx - r - 2)), min(w, int(cx + r + 3))
            y0, y1 = max(0, int(cy - r - 2)), min(h, int(cy + r + 3))
            if x0 >= x1 or y0 >= y1:
                continue
            yy, xx = np.mgrid[y0:y1, x0:x1]
            mask = np.clip((r - np.hypot(xx - cx, yy - cy)) / 2.0, 0, 1)[..., None]
            frame[y0:y1, x0:x1] = frame[y0:y1, x0:x1] * (1 - mask) + colour[j] * mask
        out.append(frame.astype(np.uint8))
    return out


def _text(rng: np.random.Generator, canvas: np.ndarray, size: tuple[int, int], n: int) -> list[np.ndarray]:
    w, h = size
    tall = Image.fromarray(canvas).resize((w, h * 2), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(tall)
    font = corpus._font(int(rng.integers(12, 28)))
    y = 4.0
    while y < 2 * h - 10:
        words = " ".join(rng.choice(corpus._WORDS, int(rng.integers(2, 6))))
        draw.text(
            (float(rng.uniform(2, w * 0.2)), y), words, fill=tuple(int(c) for c in rng.integers(0, 256, 3)), font=font
        )
        y += float(rng.uniform(16, 40))
    arr = np.asarray(tall)
    out = []
    for i in range(n):
        top = int(round((h - 1) * i / max(n - 1, 1)))
        out.append(np.ascontiguousarray(arr[top : top + h]))
    return out


def _drift(rng: np.random.Generator, canvas: np.ndarray, size: tuple[int, int], n: int) -> list[np.ndarray]:
    w, h = size
    a = np.asarray(Image.fromarray(canvas).resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)
    other = corpus._pink_noise(rng, h, w, 1.4)[..., None] * 60.0 + rng.uniform(40, 200, 3)
    b = np.clip(other, 0, 255).astype(np.float32)
    out = []
    for i in range(n):
        t = i / max(n - 1, 1)
        out.append((a * (1 - t) + b * t).astype(np.uint8))
    return out


_SCENES = {"pan": _pan, "shapes": _shapes, "text": _text, "drift": _drift}


def frames(clip: ClipSpec, *, natural: int | None = None) -> list[np.ndarray]:
    rng = np.random.default_rng([clip.seed, 0xF4])
    out: list[np.ndarray] = []
    for i, (kind, seconds) in enumerate(clip.scenes):
        n = max(1, int(round(seconds * clip.fps)))
        canvas = _canvas(clip.seed, i, clip.size, natural)
        out += _SCENES[kind](rng, canvas, clip.size, n)
    return out


# -- encoding and edits ----------------------------------------------------------------------------


def encode(images: list[np.ndarray], fps: int, *, codec: str = "h264", crf: int = 20) -> bytes:
    """Frames -> an MP4 (H.264) or WebM (VP9) file's bytes. The MP4's index is left at the end of
    the file, as cameras write it (the harder case for a reader that cannot seek)."""
    h, w = images[0].shape[:2]
    suffix = ".webm" if codec == "vp9" else ".mp4"
    with tempfile.TemporaryDirectory(prefix="staydown-bench-video-", dir=_TMP) as tmp:
        out = os.path.join(tmp, "clip" + suffix)
        args = (
            ["-c:v", "libvpx-vp9", "-crf", str(crf + 12), "-b:v", "0", "-deadline", "realtime", "-cpu-used", "8"]
            if codec == "vp9"
            else ["-c:v", "libx264", "-preset", "ultrafast", "-crf", str(crf)]
        )
        proc = subprocess.Popen(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "-s",
                f"{w}x{h}",
                "-r",
                str(fps),
                "-i",
                "pipe:0",
                *args,
                "-pix_fmt",
                "yuv420p",
                out,
            ],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stderr is not None
        try:
            for frame in images:  # one frame at a time: a 1080p clip is gigabytes as one buffer
                proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        finally:
            proc.stdin.close()
        said = proc.stderr.read()
        if proc.wait(120) != 0:
            raise RuntimeError(said.decode()[-500:])
        with open(out, "rb") as fh:
            return fh.read()


def make_clip(clip: ClipSpec, *, natural: int | None = None, codec: str = "h264") -> bytes:
    return encode(frames(clip, natural=natural), clip.fps, codec=codec)


def _edit_spec(kind: str, seconds: float, rng: np.random.Generator) -> tuple[str, list[str], str]:
    """(filter, output arguments, file suffix) of one edit."""
    x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "26", "-pix_fmt", "yuv420p"]
    if kind == "reencode":
        return (
            "null",
            [
                "-c:v",
                "libvpx-vp9",
                "-crf",
                "40",
                "-b:v",
                "0",
                "-deadline",
                "realtime",
                "-cpu-used",
                "8",
                "-pix_fmt",
                "yuv420p",
            ],
            ".webm",
        )
    if kind == "resize":
        return "scale=trunc(iw*0.3)*2:trunc(ih*0.3)*2", x264, ".mp4"
    if kind == "trim":
        return f"trim=start={seconds * 0.1:.3f},setpts=PTS-STARTPTS", x264, ".mp4"
    if kind == "crop":
        return "crop=trunc(iw*0.475)*2:trunc(ih*0.475)*2", x264, ".mp4"
    if kind == "crop_sides":
        return "crop=trunc(iw*0.45)*2:trunc(ih*0.45)*2", x264, ".mp4"
    if kind == "mirror":
        return "hflip", x264, ".mp4"
    if kind in ("watermark", "watermark_large"):
        # "watermark": a handle in a translucent box about a quarter of the width, in a corner, as
        # bench/robustness.py's image watermark; "watermark_large": a third of the width and twice
        # as tall, on a darker box (reported apart, as a hard edit).
        corner = int(rng.integers(4))
        x = "8" if corner in (0, 2) else "w-tw-8"
        y = "8" if corner in (0, 1) else "h-th-8"
        handle = f"@user{int(rng.integers(10000, 99999))}"
        size, box, border = ("w/26", "white@0.35", "3") if kind == "watermark" else ("h/10", "black@0.45", "4")
        text = "black@0.6" if kind == "watermark" else "white@0.85"
        return (
            (
                f"drawtext=text='{handle}':fontsize={size}:fontcolor={text}:box=1:boxcolor={box}:"
                f"boxborderw={border}:x={x}:y={y}"
            ),
            x264,
            ".mp4",
        )
    if kind == "gif":
        return "fps=10", [], ".gif"
    raise ValueError(f"unknown edit {kind!r}")


def edits(data: bytes, kinds: tuple[str, ...], *, seconds: float, seed: int = 0) -> dict[str, bytes]:
    """Re-uploaders' edits of a clip (see the module docstring), made by one FFmpeg run (one decode,
    one process start), each a new file's bytes."""
    rng = np.random.default_rng([seed, 0xED17])
    specs = {kind: _edit_spec(kind, seconds, rng) for kind in kinds}
    with tempfile.TemporaryDirectory(prefix="staydown-bench-edit-", dir=_TMP) as tmp:
        src = os.path.join(tmp, "in")
        with open(src, "wb") as fh:
            fh.write(data)
        graph = [f"[0:v]split={len(kinds)}" + "".join(f"[s{i}]" for i in range(len(kinds)))]
        outputs: list[str] = []
        paths = {}
        for i, (kind, (vf, args, ext)) in enumerate(specs.items()):
            graph.append(f"[s{i}]{vf}[o{i}]")
            paths[kind] = os.path.join(tmp, f"out{i}{ext}")
            outputs += ["-map", f"[o{i}]", *args, paths[kind]]
        proc = subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", src, "-an", "-filter_complex", ";".join(graph), *outputs],
            capture_output=True,
            timeout=240,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{kinds}: {proc.stderr.decode()[-500:]}")
        out = {}
        for kind, path in paths.items():
            with open(path, "rb") as fh:
                out[kind] = fh.read()
        return out


def edit(data: bytes, kind: str, *, seconds: float, seed: int = 0) -> bytes:
    """One re-uploader's edit of a clip (see the module docstring), as a new file's bytes."""
    return edits(data, (kind,), seconds=seconds, seed=seed)[kind]
