"""Recall of PDQ matching under real-world edits, against hash-only and media-built banks, and false
flags among >= 10,000 distinct benign images (the default; bench/realworld_bench.py does the work).

    python bench/robustness.py [--distinct 10000] [--originals 300]

The earlier benchmark on the synthetic corpus (13 edits, all pairs by brute force) is `--legacy`.
What follows describes that one.


Builds >= 5,000 distinct benign images (bench/corpus.py: bundled photos + photo-like synthetic ones),
banks each with its bank-side variants, scans each unedited image with its query-side variants and
counts false matches over every pair of distinct images (all variants on both sides, threshold 31).
Then applies each edit type to a sample and reports recall for plain PDQ (original vs original) and
for the scheme (any query variant vs any bank variant of the same image).

    python bench/robustness.py [--images 5000] [--sample 250] [--size 256x192]

Prints figures, then one JSON object as the last line (with the load average at start and end: the
wall time means little on a machine busy with other jobs).

    python bench/robustness.py --fit-crops [--keep 12] [--crops 32] [--fit-images 400]   # ~8 min

fits the bank-side crop cover (staydown.media.variants.BANK_CROPS) instead, on synthetic images from
a seed range that the benchmark never uses (corpus.SEEDS_FIT_CROPS; see _fit_crops), and checks it on
another held-out range (corpus.SEEDS_CHECK_CROPS).
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import sys
import time
from multiprocessing import Pool

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one BLAS thread per worker process
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from numba import njit, prange
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus

from staydown.matching._kernels import _popcount  # one POPCNT instruction
from staydown.media.hashing import luma_from_rgb, pdq_from_luma
from staydown.media.variants import BANK_CROPS, bank_variants, query_variants

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
    draw.text(
        (img.width * 0.05, y),
        text,
        fill=(255, 255, 255),
        font=font,
        stroke_width=max(1, size // 12),
        stroke_fill=(0, 0, 0),
    )
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
    return _crop_sides(img, *rng.uniform(0, 0.05, 4))


def _crop_sides(img, l, t, r, b):
    w, h = img.size
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
    return corpus.synthetic_image(corpus.SEEDS_ROBUSTNESS + i, size)


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


_Q_BLOCK = 64  # queries per task: each bank block is read once per 64 queries...
_B_BLOCK = 4096  # ...and 4,096 bank hashes (128 KB) stay in the L2 cache meanwhile


@njit(parallel=True, cache=False)
def _nearest_foreign(q, q_owner, b, b_owner, radius, nearest, hits):  # pragma: no cover - numba
    """Per query hash: the distance to the nearest bank hash of a *different* image, and how many
    bank hashes of other images lie within `radius` (exact: every pair is compared)."""
    nq = q.shape[0]
    nb = b.shape[0]
    for blk in prange((nq + _Q_BLOCK - 1) // _Q_BLOCK):
        lo = blk * _Q_BLOCK
        hi = min(nq, lo + _Q_BLOCK)
        for i in range(lo, hi):
            nearest[i] = 257
            hits[i] = 0
        for bs in range(0, nb, _B_BLOCK):
            be = min(nb, bs + _B_BLOCK)
            for i in range(lo, hi):
                q0, q1, q2, q3 = q[i, 0], q[i, 1], q[i, 2], q[i, 3]
                owner = q_owner[i]
                best = nearest[i]
                count = hits[i]
                for j in range(bs, be):
                    d = (
                        _popcount(q0 ^ b[j, 0])
                        + _popcount(q1 ^ b[j, 1])
                        + _popcount(q2 ^ b[j, 2])
                        + _popcount(q3 ^ b[j, 3])
                    )
                    if (d < best or d <= radius) and b_owner[j] != owner:
                        best = min(best, d)
                        if d <= radius:
                            count += 1
                nearest[i] = best
                hits[i] = count


def _false_pairs(q, q_owner, b, b_owner) -> tuple[dict[tuple[int, int], int], np.ndarray]:
    """Image pairs (a, c) with some variant of a within THRESHOLD of some variant of c, a != c, and
    per query hash the distance to the nearest variant of another image."""
    nearest = np.empty(q.shape[0], np.int64)
    hits = np.empty(q.shape[0], np.int64)
    _nearest_foreign(q, q_owner, b, b_owner, THRESHOLD, nearest, hits)
    pairs: dict[tuple[int, int], int] = {}
    for x in np.flatnonzero(hits):  # none expected; list them with plain numpy
        d = _min_dist(q[x : x + 1], b)[0]
        for y in np.flatnonzero((d <= THRESHOLD) & (b_owner != q_owner[x])):
            a, c = int(q_owner[x]), int(b_owner[y])
            key = (min(a, c), max(a, c))
            pairs[key] = min(int(d[y]), pairs.get(key, 999))
    return pairs, nearest


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--distinct", type=int, default=10_000, help="distinct images for the false-flag check")
    ap.add_argument(
        "--originals", type=int, default=300, help="originals edited for recall (half real, half synthetic)"
    )
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--legacy", action="store_true", help="the earlier synthetic-corpus benchmark (13 edits)")
    ap.add_argument("--images", type=int, default=5000, help="--legacy: distinct images")
    ap.add_argument("--sample", type=int, default=250, help="--legacy: edited images")
    ap.add_argument("--size", default="256x192", help="--legacy: image size")
    ap.add_argument("--fit-crops", action="store_true", help="fit BANK_CROPS instead (see _fit_crops)")
    ap.add_argument("--keep", type=int, default=12, help="--fit-crops: keep this many of BANK_CROPS")
    ap.add_argument("--crops", type=int, default=len(BANK_CROPS), help="--fit-crops: crops in all")
    ap.add_argument("--fit-images", type=int, default=400, help="--fit-crops: images to fit on")
    opts = ap.parse_args()
    if opts.fit_crops:
        _fit_crops(opts)
        return
    if opts.legacy:
        _legacy(opts)
        return
    import realworld_bench

    realworld_bench.run(opts)


def _legacy(opts: argparse.Namespace) -> None:
    size = tuple(int(x) for x in opts.size.split("x"))
    load_start = _load()
    print(f"load average (1, 5, 15 min) at start: {load_start} on {os.cpu_count()} cores")
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
    bo, qo = np.array(bank_owner, np.int64), np.array(scan_owner, np.int64)
    pairs, nearest_any = _false_pairs(q, qo, b, bo)
    t_pairs = time.perf_counter() - t0 - t_build
    print(
        f"all pairs: {q.shape[0]} query hashes x {b.shape[0]} bank hashes in {t_pairs:.1f} s; "
        f"false-matching image pairs: {len(pairs)}"
    )
    print(
        f"nearest variant of another image (any query variant vs any bank variant): min "
        f"{nearest_any.min()} bits, 1st pct of images "
        f"{np.percentile(_per_owner_min(nearest_any, qo, n), 1):.0f}"
    )
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

    recall, recall_plain, recall_photos, counts = {}, {}, {}, {}
    for name in EDITS:
        hits = hits_plain = total = hits_photos = photos = 0
        for i, (bank, _, edits) in enumerate(results):
            if name not in edits:
                continue
            plain_hex, variants = edits[name]
            bw = _to_words(bank)
            total += 1
            hits_plain += int(_min_dist(_to_words([plain_hex]), bw[:1]).min() <= THRESHOLD)
            hit = int(_min_dist(_to_words(variants), bw).min() <= THRESHOLD)
            hits += hit
            if i < len(naturals):
                photos += 1
                hits_photos += hit
        recall[name] = round(hits / total, 4)
        recall_plain[name] = round(hits_plain / total, 4)
        recall_photos[name] = round(hits_photos / max(1, photos), 4)
        counts[name] = total
    print(f"{'edit':12s} {'n':>5s} {'plain':>7s} {'staydown':>9s} {'photos only':>12s}")
    for name in EDITS:
        print(f"{name:12s} {counts[name]:5d} {recall_plain[name]:7.3f} {recall[name]:9.3f} {recall_photos[name]:12.3f}")
    per_image_q = q.shape[0] / n
    per_image_b = b.shape[0] / n
    wall = time.perf_counter() - t0
    load_end = _load()
    print(
        f"variants per image: query {per_image_q:.2f}, bank {per_image_b:.2f}; wall {wall:.1f} s; "
        f"load average (1, 5, 15 min) at start {load_start}, at end {load_end}"
    )
    print(
        json.dumps(
            {
                "cores": os.cpu_count(),
                "distinct_images": n,
                "image_size": list(size),
                "edited_per_type": min(counts.values()),
                "false_matches": len(pairs),
                "recall_by_edit": recall,
                "min_recall": min(recall.values()),
                "pdq_plain_recall_by_edit": recall_plain,
                "photos_recall_by_edit": recall_photos,
                "photos_edited_per_type": len(naturals),
                "nearest_other_image_bits": int(nearest_any.min()),
                "query_variants_per_image": round(per_image_q, 2),
                "bank_variants_per_image": round(per_image_b, 2),
                "wall_seconds": round(wall, 1),
                "load_average_start": load_start,
                "load_average_end": load_end,
            }
        )
    )


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _per_owner_min(values: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(out, owner, values)
    return out


# ---- fitting the bank-side crop cover ------------------------------------------------------------
#
# A cropped copy (each side cut by 0-5%, independently: a 4-D box of crops) matches when some query
# variant of it (unchanged: 15 hashes, including the 2% zoom) is within THRESHOLD of some bank variant
# of the original. Candidates: every crop on a grid of 0, 0.625, ..., 5% per side (6,561; a 1.25%
# grid gave 1.2-1.5 points less at 256x192). Samples:
# random crops in the box plus its 15 corners (one, two, three or four sides cut by 5%: the edits
# people make most, and the points farthest from any other crop), each JPEG-recompressed as in the
# benchmark. Then a greedy set cover, improved by swaps, maximising the samples covered at 2 bits
# inside the threshold (PDQ distances are even, so <= THRESHOLD - 2: a margin for unseen images),
# corners weighted 20x so that every corner is covered, ties broken by samples covered twice. The
# first `keep` crops of BANK_CROPS are kept, so the bank only gains hashes and no edit type that
# matched before can stop matching.
#
# Images: synthetic seeds corpus.SEEDS_FIT_CROPS.. at four sizes and aspects; the benchmark uses
# bundled photos and seeds corpus.SEEDS_ROBUSTNESS.., the tests small seeds, so the cover is not fitted
# to what they measure. The chosen cover is then checked on seeds corpus.SEEDS_CHECK_CROPS...

_FIT_SIZES = ((256, 192), (320, 240), (288, 288), (240, 320))
_FIT_GRID = tuple(round(k * 0.00625, 5) for k in range(9))  # 0, 0.625, ..., 5%: 6,561 candidates
_FIT_RANDOM = 16  # random crops per image (plus the 15 corners)
_FIT_CORNER_WEIGHT = 20.0
_CORNERS = [tuple(float(x) for x in c) for c in itertools.product((0.0, 0.05), repeat=4)][1:]


Crop = tuple[float, float, float, float]


def _fit_job(args: tuple[int, tuple[Crop, ...]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For one image: per sample crop, (covered by the bank's original and turns, distances to each
    candidate crop as the min over query variants, is it a corner)."""
    seed, candidates = args
    stored = _jpeg(corpus.synthetic_image(seed, _FIT_SIZES[seed % len(_FIT_SIZES)]), 90)
    luma = luma_from_rgb(stored)
    fixed = _to_words([v.pdq for v in bank_variants(luma, crops=())])
    cand = _to_words([v.pdq for v in bank_variants(luma, crops=candidates, rotations=())][1:])
    rng = np.random.default_rng([seed, 99])
    crops = [tuple(rng.uniform(0, 0.05, 4)) for _ in range(_FIT_RANDOM)] + _CORNERS
    base, dist = [], []
    for c in crops:
        edited = _jpeg(_crop_sides(stored, *c), int(rng.integers(70, 92)))
        qw = _to_words([v.pdq for v in query_variants(edited)])
        base.append(int(_min_dist(qw, fixed).min()))
        dist.append(_min_dist(qw, cand).min(axis=0))
    corner = np.array([False] * _FIT_RANDOM + [True] * len(_CORNERS))
    return np.array(base), np.array(dist, dtype=np.uint16), corner


def _cover(covers: np.ndarray, base: np.ndarray, weight: np.ndarray, keep: list[int], k: int) -> list[int]:
    """Greedy weighted set cover of the samples (rows) by candidates (columns), then swap passes."""
    m = covers.astype(np.float32)

    def gain(count: np.ndarray) -> np.ndarray:  # newly covered weight, plus a little for cover twice
        return (weight * (count == 0)) @ m + 0.01 * ((weight * (count == 1)) @ m)

    def score(count: np.ndarray) -> float:
        return float((weight * (count >= 1)).sum() + 0.01 * (weight * (count >= 2)).sum())

    chosen = list(keep)
    count = base * 2 + covers[:, chosen].sum(axis=1)
    while len(chosen) < k:
        j = int(gain(count).argmax())
        chosen.append(j)
        count = count + covers[:, j]
    best = score(count)
    for _ in range(4):
        improved = False
        for p in range(len(keep), k):
            rest = chosen[:p] + chosen[p + 1 :]
            rcount = base * 2 + covers[:, rest].sum(axis=1)
            g = gain(rcount)
            j = int(g.argmax())
            if score(rcount) + g[j] > best + 1e-6:
                chosen = rest[:p] + [j] + rest[p:]
                best = score(rcount) + g[j]
                improved = True
        if not improved:
            break
    return chosen


def _fit_crops(opts: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    print(f"load average at start: {_load()}")
    keep = [tuple(c) for c in BANK_CROPS[: opts.keep]]
    candidates = tuple(itertools.product(_FIT_GRID, repeat=4))
    candidates += tuple(c for c in keep if c not in candidates)
    seeds = range(corpus.SEEDS_FIT_CROPS, corpus.SEEDS_FIT_CROPS + opts.fit_images)
    with Pool(opts.workers) as pool:
        parts = pool.map(_fit_job, [(s, candidates) for s in seeds], chunksize=4)
    base = np.concatenate([p[0] for p in parts])
    dist = np.concatenate([p[1] for p in parts])
    corner = np.concatenate([p[2] for p in parts])
    margin = THRESHOLD - 2
    weight = np.where(corner, _FIT_CORNER_WEIGHT, 1.0)
    chosen = _cover(
        dist <= margin, (base <= margin).astype(np.int64), weight, [candidates.index(c) for c in keep], opts.crops
    )
    crops = [candidates[j] for j in chosen]
    ok = (base <= THRESHOLD) | (dist[:, chosen] <= THRESHOLD).any(axis=1)
    print(
        f"fitted on {len(seeds)} images (seeds {seeds.start}..{seeds.stop - 1}), {len(base)} crops, "
        f"in {time.perf_counter() - t0:.0f} s; in-sample recall: random {ok[~corner].mean():.4f}, "
        f"corners {ok[corner].mean():.4f}"
    )
    print("BANK_CROPS = (")
    for c in crops:
        print(f"    ({', '.join(f'{x:g}' for x in c)}),")
    print(")")
    # Held-out check, with exactly these crops, on other seeds.
    seeds = range(corpus.SEEDS_CHECK_CROPS, corpus.SEEDS_CHECK_CROPS + opts.fit_images // 2)
    with Pool(opts.workers) as pool:
        parts = pool.map(_fit_job, [(s, tuple(crops)) for s in seeds], chunksize=4)
    base = np.concatenate([p[0] for p in parts])
    dist = np.concatenate([p[1] for p in parts])
    corner = np.concatenate([p[2] for p in parts])
    ok = (base <= THRESHOLD) | (dist <= THRESHOLD).any(axis=1)
    print(
        f"held out ({len(seeds)} images, seeds {seeds.start}..{seeds.stop - 1}): recall random "
        f"{ok[~corner].mean():.4f} ({(~corner).sum()} crops), corners {ok[corner].mean():.4f} "
        f"({corner.sum()}); {time.perf_counter() - t0:.0f} s in all"
    )
    per_image = len(_CORNERS) + _FIT_RANDOM
    size_of = np.repeat([_FIT_SIZES[s % len(_FIT_SIZES)] for s in seeds], per_image, axis=0)
    for size in _FIT_SIZES:
        at = (size_of == size).all(axis=1)
        print(f"  at {size[0]}x{size[1]}: random {ok[at & ~corner].mean():.4f}, corners {ok[at & corner].mean():.4f}")
    print(f"load average at end: {_load()}")


if __name__ == "__main__":
    main()
