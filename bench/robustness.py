"""Recall of PDQ matching under common edits, plain vs staydown's variant scheme, and false matches.

Builds >= 5,000 distinct benign images (bench/corpus.py: bundled photos + photo-like synthetic ones),
banks each with its bank-side variants, scans each unedited image with its query-side variants and
counts false matches over every pair of distinct images (all variants on both sides, threshold 31).
Then applies each edit type to a sample and reports recall for plain PDQ (original vs original) and
for the scheme (any query variant vs any bank variant of the same image).

    python bench/robustness.py [--images 5000] [--sample 250] [--size 256x192]

Prints figures, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from multiprocessing import Pool

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one BLAS thread per worker process
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageEnhance, ImageOps  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402

from staydown.media.hashing import luma_from_rgb, pdq_from_luma  # noqa: E402
from staydown.media.variants import bank_variants, query_variants  # noqa: E402

THRESHOLD = 31


# ---- edits ---------------------------------------------------------------------------------------


def _jpeg(img: Image.Image, quality: int = 80) -> Image.Image:
    return Image.open(io.BytesIO(corpus.jpeg_bytes(img, quality))).convert("RGB")


def _recompress(img, rng):
    return _jpeg(img, int(rng.integers(25, 60)))


def _resize(img, rng):
    s = rng.uniform(0.4, 0.8) if rng.random() < 0.7 else rng.uniform(1.2, 2.0)
    return img.resize((max(8, round(img.width * s)), max(8, round(img.height * s))), Image.Resampling.BILINEAR)


def _greyscale(img, rng):
    return ImageOps.grayscale(img).convert("RGB")


def _brightness(img, rng):
    f = rng.uniform(0.7, 0.85) if rng.random() < 0.5 else rng.uniform(1.15, 1.3)
    return ImageEnhance.Brightness(img).enhance(f)


def _caption(img, rng):
    # Meme-style caption: white text with a dark outline, across the top or bottom.
    out = img.copy()
    draw = ImageDraw.Draw(out)
    size = max(10, img.height // 12)
    font = corpus._font(size)
    text = " ".join(rng.choice(corpus._WORDS, 3)).upper()
    y = size // 3 if rng.random() < 0.5 else img.height - size - size // 2
    draw.text((img.width * 0.05, y), text, fill=(255, 255, 255), font=font, stroke_width=max(1, size // 12),
              stroke_fill=(0, 0, 0))
    return out


def _watermark(img, rng):
    # A semi-transparent logo and name in a corner, about a quarter of the width.
    out = img.convert("RGBA")
    layer = Image.new("RGBA", out.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    w = img.width // 4
    h = max(8, w // 4)
    x = img.width - w - 6 if rng.random() < 0.5 else 6
    y = img.height - h - 6 if rng.random() < 0.5 else 6
    draw.rounded_rectangle([x, y, x + w, y + h], radius=h // 3, fill=(255, 255, 255, 90))
    draw.text((x + h // 2, y + h // 6), "sharesite", fill=(0, 0, 0, 150), font=corpus._font(max(8, int(h * 0.6))))
    return Image.alpha_composite(out, layer).convert("RGB")


def _hflip(img, rng):
    return ImageOps.mirror(img)


def _vflip(img, rng):
    return ImageOps.flip(img)


def _rot90(img, rng):
    return img.rotate(int(rng.choice([90, 180, 270])), expand=True)


def _letterbox(img, rng):
    # Bars (black) above and below, or at the sides, each 5-20% of the new side.
    f = rng.uniform(0.05, 0.20)
    w, h = img.size
    if rng.random() < 0.5:
        pad = round(h * f / (1 - 2 * f))
        out = Image.new("RGB", (w, h + 2 * pad), (0, 0, 0))
        out.paste(img, (0, pad))
    else:
        pad = round(w * f / (1 - 2 * f))
        out = Image.new("RGB", (w + 2 * pad, h), (0, 0, 0))
        out.paste(img, (pad, 0))
    return out


def _border(img, rng):
    # A frame of one random colour on all sides, 5-20% of each side.
    f = rng.uniform(0.05, 0.20)
    w, h = img.size
    px, py = round(w * f), round(h * f)
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    out = Image.new("RGB", (w + 2 * px, h + 2 * py), colour)
    out.paste(img, (px, py))
    return out


def _crop(img, rng):
    # Each side independently cut by 0-5%.
    w, h = img.size
    l, t, r, b = rng.uniform(0, 0.05, 4)
    return img.crop((round(l * w), round(t * h), w - round(r * w), h - round(b * h)))


def _rotate(img, rng):
    # A slight turn, 0.5-3 degrees either way, on the same canvas (corners filled black).
    a = rng.uniform(0.5, 3.0) * rng.choice([-1, 1])
    return img.rotate(float(a), resample=Image.Resampling.BICUBIC)


EDITS = {
    "recompress": _recompress,
    "resize": _resize,
    "greyscale": _greyscale,
    "brightness": _brightness,
    "caption": _caption,
    "watermark": _watermark,
    "hflip": _hflip,
    "vflip": _vflip,
    "rot90": _rot90,
    "letterbox": _letterbox,
    "border": _border,
    "crop": _crop,
    "rotate": _rotate,
}


# ---- work ----------------------------------------------------------------------------------------


def _to_words(hexes: list[str]) -> np.ndarray:
    return np.frombuffer(b"".join(bytes.fromhex(h) for h in hexes), dtype=">u8").astype(np.uint64).reshape(-1, 4)


def _image(i: int, size: tuple[int, int]) -> Image.Image:
    naturals = _NATURALS
    if i < len(naturals):
        return corpus.fit(naturals[i], size)
    return corpus.synthetic_image(100_000 + i, size)


_NATURALS: list[Image.Image] = []


def _init(naturals: list[Image.Image]) -> None:
    global _NATURALS
    _NATURALS = naturals


def _bank_and_scan(args: tuple[int, tuple[int, int], bool]) -> tuple[list[str], list[str], dict]:
    i, size, sampled = args
    img = _image(i, size)
    stored = _jpeg(img, 90)  # what was uploaded and banked
    bank = [v.pdq for v in bank_variants(stored)]
    scanned = [v.pdq for v in query_variants(stored)]
    edits = {}
    if sampled:
        rng = np.random.default_rng([i, 7])
        for name, fn in EDITS.items():
            edited = _jpeg(fn(stored, rng), int(rng.integers(70, 92)))
            plain = pdq_from_luma(luma_from_rgb(edited)).pdq
            edits[name] = (plain, [v.pdq for v in query_variants(edited)])
    return bank, scanned, edits


def _min_dist(q: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per query row, min distance to any bank row (both uint64 (n, 4))."""
    d = np.zeros((q.shape[0], b.shape[0]), dtype=np.uint16)
    for w in range(4):
        d += np.bitwise_count(q[:, None, w] ^ b[None, :, w]).astype(np.uint16)
    return d


def _false_pairs(args: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> list[tuple[int, int, int]]:
    q, q_owner, b, b_owner = args
    out = []
    for start in range(0, q.shape[0], 256):
        d = _min_dist(q[start : start + 256], b)
        qi, bj = np.nonzero(d <= THRESHOLD)
        for x, y in zip(qi, bj):
            a, c = int(q_owner[start + x]), int(b_owner[y])
            if a != c:
                out.append((a, c, int(d[x, y])))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--sample", type=int, default=250)
    ap.add_argument("--size", default="256x192")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    opts = ap.parse_args()
    size = tuple(int(x) for x in opts.size.split("x"))
    t0 = time.perf_counter()
    naturals = [img for _, img in corpus.natural_images()]
    n = opts.images
    sample_every = max(1, n // opts.sample)
    jobs = [(i, size, i % sample_every == 0 or i < len(naturals)) for i in range(n)]
    with Pool(opts.workers, initializer=_init, initargs=(naturals,)) as pool:
        results = pool.map(_bank_and_scan, jobs, chunksize=16)
    t_build = time.perf_counter() - t0
    print(f"built and hashed {n} images ({len(naturals)} photos) in {t_build:.1f} s")

    bank_hex, bank_owner, scan_hex, scan_owner = [], [], [], []
    for i, (bank, scanned, _) in enumerate(results):
        bank_hex += bank
        bank_owner += [i] * len(bank)
        scan_hex += scanned
        scan_owner += [i] * len(scanned)
    b = _to_words(bank_hex)
    q = _to_words(scan_hex)
    # Exact duplicates would mean the corpus is not distinct: check the originals.
    originals = {bank[0] for bank, _, _ in results}
    print(f"distinct original hashes: {len(originals)} of {n}")
    bo, qo = np.array(bank_owner), np.array(scan_owner)
    parts = np.array_split(np.arange(q.shape[0]), opts.workers * 4)
    with Pool(opts.workers) as pool:
        found = pool.map(_false_pairs, [(q[p], qo[p], b, bo) for p in parts])
    pairs = {}
    for part in found:
        for a, c, d in part:
            key = (min(a, c), max(a, c))
            pairs[key] = min(d, pairs.get(key, 999))
    t_pairs = time.perf_counter() - t0 - t_build
    print(f"all pairs: {q.shape[0]} query hashes x {b.shape[0]} bank hashes in {t_pairs:.1f} s; "
          f"false-matching image pairs: {len(pairs)}")
    for (a, c), d in sorted(pairs.items(), key=lambda x: x[1])[:10]:
        print(f"  false match {a} ~ {c} at {d} bits")

    # Plain PDQ: the distribution among distinct originals, for context.
    plain = _to_words([bank[0] for bank, _, _ in results])
    nearest = []
    for start in range(0, plain.shape[0], 512):
        d = _min_dist(plain[start : start + 512], plain).astype(np.int32)
        d[np.arange(d.shape[0]), np.arange(start, start + d.shape[0])] = 999
        nearest.append(d.min(axis=1))
    nearest = np.concatenate(nearest)
    print(f"plain PDQ nearest distinct neighbour: min {nearest.min()}, 1st pct {np.percentile(nearest, 1):.0f}")

    recall, recall_plain, counts = {}, {}, {}
    for name in EDITS:
        hits = hits_plain = total = 0
        for bank, _, edits in results:
            if name not in edits:
                continue
            plain_hex, variants = edits[name]
            bw = _to_words(bank)
            total += 1
            hits_plain += int(_min_dist(_to_words([plain_hex]), bw[:1]).min() <= THRESHOLD)
            hits += int(_min_dist(_to_words(variants), bw).min() <= THRESHOLD)
        recall[name] = round(hits / total, 4)
        recall_plain[name] = round(hits_plain / total, 4)
        counts[name] = total
    print(f"{'edit':12s} {'n':>5s} {'plain':>7s} {'staydown':>9s}")
    for name in EDITS:
        print(f"{name:12s} {counts[name]:5d} {recall_plain[name]:7.3f} {recall[name]:9.3f}")
    per_image_q = q.shape[0] / n
    per_image_b = b.shape[0] / n
    wall = time.perf_counter() - t0
    print(f"variants per image: query {per_image_q:.2f}, bank {per_image_b:.2f}; wall {wall:.1f} s")
    print(json.dumps({
        "cores": os.cpu_count(),
        "distinct_images": n,
        "image_size": list(size),
        "edited_per_type": min(counts.values()),
        "false_matches": len(pairs),
        "recall_by_edit": recall,
        "min_recall": min(recall.values()),
        "pdq_plain_recall_by_edit": recall_plain,
        "query_variants_per_image": round(per_image_q, 2),
        "bank_variants_per_image": round(per_image_b, 2),
        "wall_seconds": round(wall, 1),
    }))


if __name__ == "__main__":
    main()
