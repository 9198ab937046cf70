"""Benign synthetic test videos (bench/videocorpus.py: pans over generated pictures, moving shapes,
scrolling text) and re-uploaders' edits of them, made once per test session and cached by seed."""

from __future__ import annotations

import functools
import importlib.util
import pathlib
import shutil
import sys

import pytest

_BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench"

needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="video tests need ffmpeg and ffprobe (apt-get install ffmpeg)",
)


@functools.lru_cache(maxsize=1)
def corpus():
    if str(_BENCH) not in sys.path:
        sys.path.insert(0, str(_BENCH))  # videocorpus imports corpus from beside it
    spec = importlib.util.spec_from_file_location("staydown_bench_videocorpus", _BENCH / "videocorpus.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=64)
def clip(
    seed: int, *, seconds: float = 5.0, size: tuple[int, int] = (256, 144), fps: int = 12, codec: str = "h264"
) -> bytes:
    """A distinct clip per seed: one to three scenes of camera moves, shapes or text."""
    vc = corpus()
    spec = vc.spec(seed, size=size, fps=fps, seconds=(seconds, seconds + 0.01))
    return vc.make_clip(spec, codec=codec)


@functools.lru_cache(maxsize=64)
def edited(seed: int, kind: str, *, seconds: float = 5.0, size: tuple[int, int] = (256, 144), fps: int = 12) -> bytes:
    """The clip of `seed` after one of bench/videocorpus.py's edits (reencode, resize, trim, crop,
    mirror, watermark, gif...)."""
    return corpus().edit(clip(seed, seconds=seconds, size=size, fps=fps), kind, seconds=seconds, seed=seed)
