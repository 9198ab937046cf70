"""Benign test images for media benchmarks and tests: bundled photos plus photo-like synthetic ones.

Nothing here downloads anything. Natural photos come from the files that the scikit-image wheel ships
inside its package (read from disk without importing scikit-image); when scikit-image is not installed
the corpus is synthetic only. Synthetic images are built from 1/f ("pink") noise, which has the
amplitude spectrum of natural photographs, plus horizons, soft-edged shapes, gradients and text, so
that PDQ (which looks at the lowest 16x16 DCT frequencies of a 64x64 downscale) sees photo-like
structure. Every seed gives a genuinely different image (independent noise fields and layouts), so a
corpus of N seeds is N distinct images, not crops of one another.

Importable by path from tests (it needs only numpy and Pillow) and by name from the bench scripts.
"""

from __future__ import annotations

import importlib.util
import io
import os
from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

# Photographs bundled in the scikit-image wheel (checked against the wheel's file list). Left out:
# motorcycle_right (a stereo twin of motorcycle_left, i.e. a near-duplicate), and the drawings,
# charts and tiny files (horse, logo, phantom, chessboards, microaneurysms, color).
NATURAL_FILES = (
    "astronaut.png",
    "brick.png",
    "camera.png",
    "cell.png",
    "chelsea.png",
    "clock_motion.png",
    "coffee.png",
    "coins.png",
    "grass.png",
    "gravel.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "moon.png",
    "motorcycle_left.png",
    "page.png",
    "retina.jpg",
    "rocket.jpg",
    "text.png",
)

# Seed ranges for synthetic images, kept apart so that nothing is fitted on the images it is measured
# on: bench/robustness.py measures on SEEDS_ROBUSTNESS + i (i < 10,000 images); the bank-side crop
# cover (staydown.media.variants.BANK_CROPS) is fitted on SEEDS_FIT_CROPS.. and checked on
# SEEDS_CHECK_CROPS.. (`bench/robustness.py --fit-crops`); tests use seeds below 10,000.
SEEDS_ROBUSTNESS = 100_000
SEEDS_FIT_CROPS = 700_000
SEEDS_CHECK_CROPS = 800_000

_WORDS = [
    "harbour",
    "morning",
    "market",
    "street",
    "garden",
    "river",
    "coffee",
    "bicycle",
    "window",
    "summer",
    "mountain",
    "station",
    "library",
    "holiday",
    "breakfast",
    "concert",
    "museum",
    "bridge",
    "sunset",
    "village",
    "lighthouse",
    "picnic",
    "festival",
    "bakery",
    "orchard",
    "valley",
    "meadow",
    "canal",
    "tram",
    "ferry",
]


def _skimage_data_dir() -> str | None:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "data")
    return path if os.path.isdir(path) else None


def natural_images() -> list[tuple[str, Image.Image]]:
    """The bundled photographs as RGB images (empty when scikit-image is not installed)."""
    root = _skimage_data_dir()
    if root is None:
        return []
    out = []
    for name in NATURAL_FILES:
        path = os.path.join(root, name)
        if os.path.exists(path):
            with Image.open(path) as im:
                out.append((name.rsplit(".", 1)[0], im.convert("RGB")))
    return out


# ---- images from Debian packages on this machine (none downloaded at run time) ------------------------
#
# `make bench-corpus` installs them (apt): each source is read from its installed files; a source
# that is not installed is skipped, and the benchmark says how many images each gave. Debian's
# wallpaper and clip-art packages are deliberately not used (kept for an independent check).

SOURCES = {
    # photographs and paintings in GCompris's activities (animals, monuments, objects, famous
    # paintings), packed in Qt resource files
    "gcompris": "gcompris-qt-data",
    # painted portraits and story art of The Battle for Wesnoth
    "wesnoth": "wesnoth-1.16-data",
    # Stellarium's telescope photographs of nebulae and galaxies, and its landscape photographs
    "stellarium": "stellarium-data",
    # Tux Paint's stamps: cut-out photographs and drawings of animals, plants and objects
    "tuxpaint": "tuxpaint-stamps-default",
    # icon themes: flat graphics
    "icons": "tango-icon-theme oxygen-icon-theme",
    # colour emoji (flat graphics, and the stickers of bench/realworld.py)
    "emoji": "fonts-noto-color-emoji",
}


def _rcc_files(path: str) -> Iterator[tuple[str, bytes]]:
    """Files inside a Qt resource (.rcc) file: header 'qres', version, then the offsets of the tree
    (nodes of 14 bytes, 22 from version 2), the data (size-prefixed, zlib when flagged) and the
    names (UTF-16)."""
    import struct
    import zlib

    with open(path, "rb") as f:
        b = f.read()
    if b[:4] != b"qres":
        return
    version, tree, data, names = struct.unpack(">IIII", b[4:20])
    node = 14 if version < 2 else 22

    def name(off: int) -> str:
        (n,) = struct.unpack(">H", b[names + off : names + off + 2])
        return b[names + off + 6 : names + off + 6 + 2 * n].decode("utf-16-be")

    stack = [(0, "")]
    while stack:
        i, prefix = stack.pop()
        o = tree + i * node
        noff, flags = struct.unpack(">IH", b[o : o + 6])
        here = prefix + (name(noff) if i else "")
        if flags & 2:
            count, first = struct.unpack(">II", b[o + 6 : o + 14])
            stack += [(c, here + "/") for c in range(first, first + count)]
            continue
        (doff,) = struct.unpack(">I", b[o + 10 : o + 14])
        (size,) = struct.unpack(">I", b[data + doff : data + doff + 4])
        blob = b[data + doff + 4 : data + doff + 4 + size]
        if flags & 4:
            continue  # zstd: not needed for the images we read
        if flags & 1:
            blob = zlib.decompress(blob[4:])
        yield here, blob


def _flatten(im: Image.Image) -> Image.Image:
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return im.convert("RGB")


def _open_ok(data_or_path, min_side: int) -> Image.Image | None:
    try:
        with Image.open(io.BytesIO(data_or_path) if isinstance(data_or_path, bytes) else data_or_path) as im:
            if min(im.size) < min_side:
                return None
            im.draft("RGB", (min_side * 2, min_side * 2))
            return _flatten(im)
    except Exception:  # a broken or exotic file in a package: skip it
        return None


def package_images(source: str, min_side: int = 200) -> list[tuple[str, Image.Image]]:
    """Pictures of one source of SOURCES (as RGB, alpha on white), sorted by name; [] when the
    package is not installed. Exact duplicate files are kept once."""
    import glob
    import hashlib

    seen: set[str] = set()
    out: list[tuple[str, Image.Image]] = []

    def add(name: str, blob: bytes) -> None:
        digest = hashlib.sha256(blob).hexdigest()
        if digest in seen:
            return
        seen.add(digest)
        im = _open_ok(blob, min_side)
        if im is not None:
            out.append((f"{source}:{name}", im))

    if source == "gcompris":
        for rcc in sorted(glob.glob("/usr/share/gcompris-qt/rcc/*.rcc")):
            for name, blob in sorted(_rcc_files(rcc)):
                if name.lower().endswith((".webp", ".jpg", ".jpeg", ".png")):
                    add(name, blob)
    else:
        patterns = {
            "wesnoth": [
                "/usr/share/games/wesnoth/*/data/core/images/portraits/**/*.png",
                "/usr/share/games/wesnoth/*/data/core/images/story/**/*.jpg",
                "/usr/share/games/wesnoth/*/data/campaigns/**/images/portraits/**/*.png",
            ],
            "stellarium": ["/usr/share/stellarium/nebulae/default/*.png", "/usr/share/stellarium/landscapes/**/*.png"],
            "tuxpaint": ["/usr/share/tuxpaint/stamps/**/*.png"],
        }.get(source, [])
        for pattern in patterns:
            for path in sorted(glob.glob(pattern, recursive=True)):
                with open(path, "rb") as f:
                    add(path, f.read())
    return sorted(out, key=lambda x: x[0])


# GCompris activities whose pictures are photographs (the others are drawings, puzzle boards with
# holes cut out, or planets on white).
GCOMPRIS_PHOTOS = (
    "categorization",
    "clickgame",
    "erase",
    "explore_farm_animals",
    "explore_monuments",
    "explore_world_animals",
    "explore_world_music",
    "louis-braille",
    "chronos",
)


def real_pictures() -> list[tuple[str, Image.Image]]:
    """Photographs and paintings from every installed source, for recall: the bundled scikit-image
    photos, GCompris's photographs, Stellarium's landscapes, Wesnoth's story paintings and portraits."""
    out = [(f"skimage:{n}", im) for n, im in natural_images()]
    out += [(n, im) for n, im in package_images("gcompris") if n.split("/")[4] in GCOMPRIS_PHOTOS]
    out += [(n, im) for n, im in package_images("stellarium") if "/landscapes/" in n]
    out += [(n, im) for n, im in package_images("wesnoth")]
    return out


def icon_images(min_side: int = 32) -> list[tuple[str, Image.Image]]:
    """Flat graphics: one image per icon name (its largest PNG) from the installed icon themes."""
    import glob

    best: dict[str, tuple[int, str]] = {}
    for theme in ("Tango", "oxygen"):
        for path in glob.glob(f"/usr/share/icons/{theme}/**/*.png", recursive=True):
            parts = path.split("/")
            size = next((int(p.split("x")[0]) for p in parts if "x" in p and p.split("x")[0].isdigit()), 0)
            key = f"{theme}/{parts[-2]}/{parts[-1]}"
            if size >= min_side and size > best.get(key, (0, ""))[0]:
                best[key] = (size, path)
    out = []
    for key in sorted(best):
        im = _open_ok(best[key][1], min_side)
        if im is not None:
            out.append((f"icon:{key}", im))
    return out


def _pink_noise(rng: np.random.Generator, h: int, w: int, exponent: float) -> np.ndarray:
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.hypot(fx, fy)
    f[0, 0] = 1.0
    amp = f ** (-exponent)
    amp[0, 0] = 0.0
    spec = amp * (rng.standard_normal(amp.shape) + 1j * rng.standard_normal(amp.shape))
    field = np.fft.irfft2(spec, s=(h, w))
    field -= field.mean()
    return field / (field.std() + 1e-9)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: fixed bitmap font
        return ImageFont.load_default()


def synthetic_image(seed: int, size: tuple[int, int] = (512, 384)) -> Image.Image:
    """A photo-like RGB image; different seeds give different images."""
    rng = np.random.default_rng([seed, 0x5D])
    w, h = size
    exponent = rng.uniform(0.9, 1.3)  # amplitude ~ 1/f^e; natural photos sit near e = 1
    # Photos vary mostly in brightness; colour varies less and more smoothly. So: one luminance
    # field, two weaker and smoother chroma fields, around a random (muted) palette.
    lum = _pink_noise(rng, h, w, exponent) * rng.uniform(0.12, 0.22)
    chroma = np.stack([_pink_noise(rng, h, w, exponent + 0.4) for _ in range(2)], axis=-1)
    base = rng.uniform(0.2, 0.8, 3)
    tint = rng.normal(0.0, 1.0, (2, 3)) * rng.uniform(0.03, 0.1)
    rgb = base + lum[..., None] + chroma @ tint
    kind = seed % 4
    yy = np.arange(h)[:, None] / h
    xx = np.arange(w)[None, :] / w
    if kind in (0, 1):
        # Landscape: a sky gradient above a wavy horizon drawn from 1-D pink noise.
        line = _pink_noise(rng, 1, w, 1.2)[0] * rng.uniform(0.03, 0.12) + rng.uniform(0.25, 0.7)
        sky_top = rng.uniform(0.3, 1.0, 3)
        sky_bottom = np.clip(sky_top + rng.uniform(-0.3, 0.3, 3), 0, 1)
        sky = sky_top + (sky_bottom - sky_top) * (yy / np.maximum(line, 1e-3))[..., None]
        sky = sky + lum[..., None] * 0.2
        above = (yy < line)[..., None]
        rgb = np.where(above, sky, rgb)
    # Vignetting and an overall light direction, as lenses and daylight give.
    light = 1.0 + rng.uniform(-0.25, 0.25) * (xx - 0.5) + rng.uniform(-0.25, 0.25) * (yy - 0.5)
    vign = 1.0 - rng.uniform(0.0, 0.35) * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2)
    rgb = rgb * (light * vign)[..., None]
    img = Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8), "RGB")

    draw = ImageDraw.Draw(img)
    n_shapes = int(rng.integers(2, 9)) if kind in (1, 2) else int(rng.integers(0, 4))
    for _ in range(n_shapes):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(0.04, 0.3) * w, rng.uniform(0.04, 0.3) * h
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        box = [cx - rx, cy - ry, cx + rx, cy + ry]
        shape = rng.integers(3)
        if shape == 0:
            draw.ellipse(box, fill=colour)
        elif shape == 1:
            draw.rectangle(box, fill=colour)
        else:
            k = int(rng.integers(3, 7))
            ang = np.sort(rng.uniform(0, 2 * np.pi, k))
            pts = [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in ang]
            draw.polygon(pts, fill=colour)
    if kind == 3 or rng.random() < 0.15:
        font = _font(int(rng.integers(14, 40)))
        for _ in range(int(rng.integers(1, 5))):
            text = " ".join(rng.choice(_WORDS, int(rng.integers(1, 4))))
            pos = (float(rng.uniform(0, w * 0.7)), float(rng.uniform(0, h * 0.9)))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            draw.text(pos, text, fill=colour, font=font)
    # Soften drawn edges the way optics do, then add a little sensor noise on top.
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.2)))
    arr = np.asarray(img, dtype=np.int16) + rng.normal(0, rng.uniform(1, 4), (h, w, 1)).astype(np.int16)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def fit(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale and centre-crop an image to exactly `size` (keeps the aspect of the content)."""
    w, h = size
    scale = max(w / img.width, h / img.height)
    nw, nh = max(w, round(img.width * scale)), max(h, round(img.height * scale))
    img = img.resize((nw, nh), Image.Resampling.LANCZOS)
    left, top = (nw - w) // 2, (nh - h) // 2
    return img.crop((left, top, left + w, top + h))


def distinct_images(n: int, size: tuple[int, int] = (512, 384), *, seed: int = 0) -> Iterator[tuple[str, Image.Image]]:
    """`n` distinct images: each bundled photo once, then synthetic images for the rest."""
    count = 0
    for name, img in natural_images():
        if count >= n:
            return
        yield name, fit(img, size)
        count += 1
    i = 0
    while count < n:
        yield f"synthetic-{seed + i}", synthetic_image(seed + i, size)
        count += 1
        i += 1


def jpeg_bytes(img: Image.Image, quality: int = 88, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, **kwargs)
    return buf.getvalue()


def png_bytes(img: Image.Image, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", **kwargs)
    return buf.getvalue()


if __name__ == "__main__":  # write a contact sheet to eyeball the corpus
    import sys

    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/corpus-sheet.jpg"
    tiles = [img.resize((192, 144)) for _, img in distinct_images(48, (512, 384))]
    sheet = Image.new("RGB", (192 * 8, 144 * 6))
    for k, t in enumerate(tiles):
        sheet.paste(t, ((k % 8) * 192, (k // 8) * 144))
    sheet.save(out, quality=85)
    print(out)
