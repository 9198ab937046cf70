"""Benign synthetic test images: gradients, shapes and texture, different for every seed."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageOps


def synthetic(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """An ordinary-looking abstract picture: a smooth background, random shapes, a little noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        fx, fy, phase = rng.uniform(0.5, 4.0), rng.uniform(0.5, 4.0), rng.uniform(0, 6.3)
        base[..., c] = 127 + 100 * np.sin(fx * x / w * 6.3 + phase) * np.cos(fy * y / h * 6.3)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(6, 14))):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(20, w // 2)), y0 + int(rng.integers(20, h // 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        else:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
    noise = rng.normal(0, 6, (h, w, 3))
    return Image.fromarray(np.clip(np.asarray(img, np.float32) + noise, 0, 255).astype(np.uint8))


def encode(img: Image.Image, fmt: str = "JPEG", **kwargs: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **kwargs)
    return out.getvalue()


def jpeg(seed: int, size: tuple[int, int] = (640, 480), quality: int = 90) -> bytes:
    return encode(synthetic(seed, size), "JPEG", quality=quality)


def flipped(img: Image.Image) -> Image.Image:
    return ImageOps.mirror(img)
