"""Pictures hashed on the person's device, in chromium (issue 20, "Done means"): how many pictures a
second the page fingerprints on this machine, and how far its PDQ lands from pdqhash on the same files.

    python bench/hash_on_device.py [--images 540] [--same-pixels 100]

A real `staydown serve` (SQLite) serves the page; Debian's chromium, driven by Playwright, opens it
and hands every file of the corpus to the page's own workers (`StaydownOndevice.hashFile`, the
path a picked file takes: the browser decodes it, then PDQ with its 7 turned and mirrored forms,
MD5 and SHA-256). The files reach the page from a same-origin address that Playwright answers, so
nothing but the page's code runs. Three figures:

* throughput: all files queued at once, as a picked folder is (the page runs up to 4 workers),
  pictures a second from the first file sent to the last answer, and each picture's own time;
* the same pixels: for `--same-pixels` files, the RGB that Pillow decoded is given to the page
  (`hashPixels`) and compared with pdqhash on it: the distance must be 0;
* the browser's own decoding: the page's PDQ of each file against pdqhash on Pillow's decode of the
  same file (EXIF orientation applied, alpha on white, as the server decodes), by format: where
  the two decoders differ (JPEG's inverse DCT and chroma upsampling, WebP), the hashes may too.

The corpus (>= 500 benign pictures, nothing downloaded): scikit-image's bundled photographs when it
is installed, each at several sizes and in several encodings, and photo-like synthetic pictures
(bench/corpus.py) in JPEG (qualities, 4:4:4 and 4:2:0, progressive, greyscale), PNG (RGB, with an
alpha channel, palette), WebP, GIF and with EXIF orientations. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus

import intake  # start_server, server_env, log, percentile

CHROMIUM = "/usr/bin/chromium"
FILES_PATH = "/__bench__/file/"


def _encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **kw)
    return out.getvalue()


def _with_orientation(img: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _encode(img, "JPEG", quality=90, exif=exif.tobytes())


def _encodings(img: Image.Image, k: int, count: int = 3) -> list[tuple[str, bytes]]:
    """A few of the ways a person's picture is stored, chosen by k so the corpus mixes them."""
    rgb = img.convert("RGB")
    options = [
        ("jpeg-q90", lambda: _encode(rgb, "JPEG", quality=90)),
        ("jpeg-q75-420", lambda: _encode(rgb, "JPEG", quality=75, subsampling=2)),
        ("jpeg-q95-444", lambda: _encode(rgb, "JPEG", quality=95, subsampling=0)),
        ("jpeg-progressive", lambda: _encode(rgb, "JPEG", quality=85, progressive=True)),
        ("jpeg-grey", lambda: _encode(rgb.convert("L"), "JPEG", quality=88)),
        ("jpeg-exif-rotated", lambda: _with_orientation(rgb, (3, 6, 8)[k % 3])),
        ("png", lambda: _encode(rgb, "PNG", compress_level=1)),
        ("png-alpha", lambda: _encode(_with_alpha(rgb, k), "PNG", compress_level=1)),
        ("png-palette", lambda: _encode(rgb.quantize(256, method=Image.Quantize.FASTOCTREE), "PNG", compress_level=1)),
        ("webp-q85", lambda: _encode(rgb, "WEBP", quality=85, method=2)),
        ("webp-lossless", lambda: _encode(rgb, "WEBP", lossless=True, method=0)),
        ("gif", lambda: _encode(rgb.quantize(256, method=Image.Quantize.FASTOCTREE), "GIF")),
        # A colour profile that is not sRGB: the page ignores profiles, as Pillow does.
        ("jpeg-icc-xyz", lambda: _encode(rgb, "JPEG", quality=90, icc_profile=_XYZ_PROFILE)),
    ]
    picked = [options[(k + i * 5) % len(options)] for i in range(count)]
    return [(name, make()) for name, make in picked]


def _xyz_profile() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("XYZ")).tobytes()


_XYZ_PROFILE = _xyz_profile()


def _with_alpha(img: Image.Image, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = img.size
    alpha = np.full((h, w), 255, np.uint8)
    x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
    alpha[y0 : y0 + h // 3, x0 : x0 + w // 3] = int(rng.integers(0, 200))
    out = img.convert("RGBA")
    out.putalpha(Image.fromarray(alpha))
    return out


def build_corpus(n: int) -> list[tuple[str, str, bytes]]:
    """(name, encoding, bytes) for at least n distinct benign pictures."""
    out: list[tuple[str, str, bytes]] = []
    k = 0
    for name, img in corpus.natural_images():
        for long_side in sorted({max(img.size), 1024, 320}, reverse=True):
            scaled = corpus.fit(img, _size_for(img.size, long_side))
            for encoding, data in _encodings(scaled, k):
                out.append((f"skimage:{name}@{long_side}", encoding, data))
            k += 1
    seed = 0
    sizes = [(512, 384), (384, 512), (1024, 768), (640, 640), (1280, 720), (300, 200), (97, 131)]
    while len(out) < n:
        size = sizes[seed % len(sizes)]
        # Made small and scaled up (corpus.synthetic_image costs 2 s at 1,280 px, 0.1 s at 256):
        # still a distinct photo-like picture per seed, at the size a phone or a site would give.
        base = corpus.synthetic_image(10_000 + seed, (256, 192) if size[0] >= size[1] else (192, 256))
        img = base.resize(size, Image.Resampling.LANCZOS)
        for encoding, data in _encodings(img, seed, 2):
            out.append((f"synthetic:{seed}@{size[0]}x{size[1]}", encoding, data))
        seed += 1
    return out[:n] if len(out) > n else out


def _size_for(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    w, h = size
    f = long_side / max(w, h)
    return max(8, round(w * f)), max(8, round(h * f))


def reference(data: bytes) -> tuple[str, int, np.ndarray]:
    """pdqhash on the pixels the server's decoder gives (orientation applied, alpha on white)."""
    import pdqhash

    from staydown.media.decode import decode_image

    rgb = np.ascontiguousarray(np.asarray(decode_image(data).frames[0].convert("RGB")))
    vector, quality = pdqhash.compute(rgb)
    return np.packbits(vector.astype(np.uint8)).tobytes().hex(), int(quality), rgb


def _hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _distribution(distances: list[int]) -> dict:
    ordered = sorted(distances)
    counts = Counter(ordered)
    return {
        "images": len(ordered),
        "exact": counts.get(0, 0),
        "share_exact": round(counts.get(0, 0) / len(ordered), 4) if ordered else None,
        "within_4": sum(1 for d in ordered if d <= 4),
        "within_10": sum(1 for d in ordered if d <= 10),
        "p50": intake.percentile(ordered, 50),
        "p90": intake.percentile(ordered, 90),
        "p99": intake.percentile(ordered, 99),
        "max": ordered[-1] if ordered else None,
        "histogram": {str(d): c for d, c in sorted(counts.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=540)
    parser.add_argument("--same-pixels", type=int, default=100)
    opts = parser.parse_args()
    started = time.monotonic()
    files = build_corpus(opts.images)
    intake.log(f"corpus: {len(files)} pictures ({sum(len(d) for _, _, d in files) / 1e6:.1f} MB)")
    refs = [reference(data) for _, _, data in files]
    intake.log("pdqhash reference computed")

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = intake.server_env(
            {"STAYDOWN_DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}", "STAYDOWN_DATA_DIR": str(workdir / "var")}
        )
        server = intake.start_server(env, workdir)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=CHROMIUM,
                    headless=True,
                    args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
                )
                page = browser.new_page()
                page.route(
                    "**" + FILES_PATH + "*",
                    lambda route: route.fulfill(
                        body=files[int(route.request.url.rsplit("/", 1)[1])][2], content_type="application/octet-stream"
                    ),
                )
                page.goto(server.base_url + "/takedown/pictures")
                page.wait_for_function("() => window.StaydownOndevice")
                workers = page.evaluate("() => Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2))")
                # The files as Blobs in the page first, so the timing is hashing, not transfer.
                page.evaluate(
                    """async ([n, path]) => {
                    window.__files = [];
                    for (let i = 0; i < n; i++) window.__files.push(await (await fetch(path + i)).blob());
                }""",
                    [len(files), FILES_PATH],
                )
                result = page.evaluate("""async () => {
                    const t0 = performance.now();
                    const out = await Promise.all(window.__files.map(f => window.StaydownOndevice.hashFile(f)));
                    return {seconds: (performance.now() - t0) / 1000, out};
                }""")
                same: list[int] = []
                for i in range(min(opts.same_pixels, len(files))):
                    rgb = refs[i][2]
                    h, w, _ = rgb.shape
                    got = page.evaluate(
                        """async ([b64, w, h]) => window.StaydownOndevice.hashPixels(
                        Uint8Array.from(atob(b64), c => c.charCodeAt(0)).buffer, w, h, 3)""",
                        [base64.b64encode(rgb.tobytes()).decode(), w, h],
                    )
                    same.append(_hamming(got["pdq"], refs[i][0]) + (0 if got["quality"] == refs[i][1] else 1000))
                browser.close()
        finally:
            server.stop()

    answers = result["out"]
    failed = [(files[i][0], files[i][1], a.get("code")) for i, a in enumerate(answers) if not a.get("ok")]
    distances, by_encoding = [], {}
    for i, a in enumerate(answers):
        if not a.get("ok"):
            continue
        d = _hamming(a["pdq"], refs[i][0])
        distances.append(d)
        by_encoding.setdefault(files[i][1], []).append(d)
    per_picture = sorted(a["ms"] for a in answers if a.get("ok"))
    figures = {
        "bench": "hash_on_device",
        "cores": os.cpu_count(),
        "browser": "chromium (Debian), headless",
        "page_workers": workers,
        "images": len(files),
        "megapixels_total": round(sum(r[2].shape[0] * r[2].shape[1] for r in refs) / 1e6, 1),
        "pictures_per_second": round(len(files) / result["seconds"], 2),
        "hashing_seconds": round(result["seconds"], 2),
        "ms_per_picture": {
            "p50": intake.percentile(per_picture, 50),
            "p90": intake.percentile(per_picture, 90),
            "max": per_picture[-1] if per_picture else None,
        },
        "failed": failed[:10],
        "same_pixels": {"images": len(same), "exact": sum(1 for d in same if d == 0)},
        "browser_decoded_vs_pdqhash": _distribution(distances),
        "by_encoding": {
            k: {
                "images": len(v),
                "exact": sum(1 for d in v if d == 0),
                "max": max(v),
                "p90": intake.percentile(sorted(v), 90),
            }
            for k, v in sorted(by_encoding.items())
        },
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
