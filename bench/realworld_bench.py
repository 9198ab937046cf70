"""The work of `bench/robustness.py` (default mode): real-world edits against hash-only and media-built
banks, and false flags among >= 10,000 distinct benign images, through the production code paths.

Recall. Originals: real pictures from the installed packages (bench/corpus.py SOURCES: photographs,
paintings, landscapes; every other one, the *check* half: the detector's constants were looked at on
the other half) and synthetic photo-like images from seeds the tests and the fitting never use. Each
original is uploaded as a JPEG; each edit of bench/realworld.py (and the earlier ones) is applied and
re-encoded, then scanned exactly as `POST /v1/scan` hashes an upload (`media.variants.scan`: reduced
decode, the picture regions, every query variant). A copy is found when one of its hashes is admitted
by `matching.gate.admits` against
  * the hash-only bank: the original's PDQ alone (what NCMEC or StopNCII share), or
  * the media bank: the entries `enforcement.bank_media.media_entries` builds from the original
    (its PDQ, bank-side crops and turns, and the picture found inside it).

False flags. Every distinct image (photographs, telescope photographs, cut-outs, icons, emoji, text
screenshots, memes sharing a template with different pictures, synthetic photos) is banked as the
media bank would bank it, and scanned with every query variant; every query hash is looked up in the
project's exact PDQ index (radius 31) over all bank hashes, and each hit between two different images
is put through the gate. Plain hash against plain hash is PDQ itself (kept apart in the figures);
anything through a variant is staydown's doing.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import time
from collections import Counter, defaultdict
from multiprocessing import Pool

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus
import realworld as rw

from staydown.enforcement.bank_media import media_entries
from staydown.matching.gate import admits
from staydown.media.decode import DEFAULT_LIMITS
from staydown.media.hashing import compute_signals
from staydown.media.variants import scan

THRESHOLD = 31
MAX_SIDE = 640  # originals are scaled to at most this (uploads of this size use the full path)
TEXT_SCREENSHOTS = 600
TEMPLATES = 40
MEMES_PER_TEMPLATE = 10

# ---- sources, loaded once per process --------------------------------------------------------------

_SRC: dict[str, list] = {}


def _sources() -> dict[str, list]:
    if not _SRC:
        real = corpus.real_pictures()
        _SRC["photo"] = [im for _, im in real]
        _SRC["nebula"] = [im for n, im in corpus.package_images("stellarium") if "/nebulae/" in n]
        _SRC["cutout"] = [im for _, im in corpus.package_images("tuxpaint")]
        _SRC["drawing"] = [
            im for n, im in corpus.package_images("gcompris") if n.split("/")[4] not in corpus.GCOMPRIS_PHOTOS
        ]
        _SRC["icon"] = [im for _, im in corpus.icon_images()]
        _SRC["emoji"] = list(rw.emoji_glyphs())
    return _SRC


def _cap(img: Image.Image) -> Image.Image:
    if max(img.size) <= MAX_SIDE:
        return img
    f = MAX_SIDE / max(img.size)
    return img.resize((max(1, round(img.width * f)), max(1, round(img.height * f))), Image.Resampling.LANCZOS)


def _distinct_image(item: tuple[str, int]) -> Image.Image | None:
    kind, k = item
    src = _sources()
    if kind in ("photo", "nebula", "cutout", "drawing", "icon"):
        return _cap(src[kind][k])
    if kind == "emoji":
        im = rw.emoji_image(src["emoji"][k])
        return None if im is None else corpus._flatten(im)
    if kind == "text":
        rng = np.random.default_rng([rw.SEEDS_CHECK, 1, k])
        return rw.text_screenshot(rng, (int(rng.choice([360, 540, 585])), int(rng.choice([780, 960, 1170]))))
    if kind == "meme":
        template, picture = divmod(k, MEMES_PER_TEMPLATE)
        pic = corpus.synthetic_image(corpus.SEEDS_ROBUSTNESS + 50_000 + k, (480, 360))
        return rw.template_meme(pic, np.random.default_rng([rw.SEEDS_CHECK, 2, template]))
    return corpus.synthetic_image(corpus.SEEDS_ROBUSTNESS + 60_000 + k, (512, 384))


def _jpeg_bytes(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=int(quality))
    return buf.getvalue()


def _entries_of(data: bytes) -> list[tuple[str, str, int | None]]:
    """(hash, variant, quality) of the PDQ entries the media bank would hold."""
    return [
        (e.signal, e.variant, e.quality)
        for e in media_entries(data, limits=DEFAULT_LIMITS, note="")
        if e.signal_type == "pdq"
    ]


def _queries_of(data: bytes) -> list[tuple[str, str, int]]:
    """(hash, variant, quality) of every hash a scan of these bytes looks up."""
    _, variants = scan(data, limits=DEFAULT_LIMITS)
    return [(v.pdq, "" if v.name == "original" else v.name, v.quality) for v in variants]


def _distinct_job(item: tuple[str, int]) -> tuple[tuple[str, int], str, list, list] | None:
    """Bank and scan one distinct image from one decode of its upload (the same functions as
    enforcement.bank_media.media_entries and media.variants.scan, which decode once each)."""
    from staydown.media.hashing import compute_signals_and_luma
    from staydown.media.variants import bank_variants, query_variants

    img = _distinct_image(item)
    if img is None:
        return None
    data = _jpeg_bytes(img, 90)
    digest = hashlib.sha256(np.asarray(img.convert("RGB")).tobytes()).hexdigest()
    signals, luma = compute_signals_and_luma(data)
    entries = [(signals.pdq, "", signals.pdq_quality)]
    seen = {signals.pdq}
    for v in bank_variants(luma):
        if v.name != "original" and v.pdq not in seen:
            seen.add(v.pdq)
            entries.append((v.pdq, v.name[:40], v.quality))
    variants = query_variants(luma)
    queries = [(signals.pdq, "", signals.pdq_quality)] + [(v.pdq, v.name, v.quality) for v in variants[1:]]
    return item, digest, entries, queries


# ---- edits -----------------------------------------------------------------------------------------


def _contrast(img, rng):
    return ImageEnhance.Contrast(img).enhance(
        float(rng.uniform(0.6, 0.8) if rng.random() < 0.5 else rng.uniform(1.25, 1.5))
    )


def _border(img, rng):
    f = rng.uniform(0.05, 0.2)
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    return ImageOps.expand(img, border=(round(img.width * f), round(img.height * f)), fill=colour)


def _letterbox(img, rng):
    f = rng.uniform(0.05, 0.2)
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


def _resize(img, rng):
    s = rng.uniform(0.4, 0.8) if rng.random() < 0.7 else rng.uniform(1.2, 1.8)
    return img.resize((max(8, round(img.width * s)), max(8, round(img.height * s))), Image.Resampling.BILINEAR)


EDITS = {
    # the table
    "caption_bar": lambda img, rng, others: rw.caption_bar(img, rng),
    "screenshot": lambda img, rng, others: rw.screenshot(img, rng, others[0]),
    "sticker": lambda img, rng, others: rw.sticker(img, rng),
    "crop_3_1": lambda img, rng, others: rw.crop_3_1(img, rng),
    "crop_centre_5": lambda img, rng, others: rw.crop_centre_5(img, rng),
    "rotate_2": lambda img, rng, others: rw.rotate_2(img, rng),
    "hflip": lambda img, rng, others: ImageOps.mirror(img),
    "rot90": lambda img, rng, others: img.rotate(int(rng.choice([90, 180, 270])), expand=True),
    "border": lambda img, rng, others: _border(img, rng),
    "letterbox": lambda img, rng, others: _letterbox(img, rng),
    "recompress": lambda img, rng, others: rw.jpeg(img, int(rng.integers(25, 60))),
    "resize": lambda img, rng, others: _resize(img, rng),
    "greyscale": lambda img, rng, others: ImageOps.grayscale(img).convert("RGB"),
    "contrast": lambda img, rng, others: _contrast(img, rng),
    # and beyond it
    "collage_2x2": lambda img, rng, others: rw.collage(img, rng, others),
    "crop_random_0_5": lambda img, rng, others: rw.crop_random(img, rng),
}
TABLE_EDITS = tuple(list(EDITS)[:14])


def _recall_original(k: int) -> Image.Image:
    src = _sources()["photo"]
    if k < 0:  # synthetic
        return corpus.synthetic_image(corpus.SEEDS_ROBUSTNESS + 80_000 - k, (640, 480))
    return _cap(src[k])


def _words(hexes: list[str]) -> np.ndarray:
    if not hexes:
        return np.zeros((0, 4), np.uint64)
    return np.frombuffer(b"".join(bytes.fromhex(h) for h in hexes), dtype=">u8").astype(np.uint64).reshape(-1, 4)


def _found(queries: list[tuple[str, str, int]], entries: list[tuple[str, str, int | None]]) -> tuple[bool, str]:
    q = _words([h for h, _, _ in queries])
    e = _words([h for h, _, _ in entries])
    d = np.zeros((q.shape[0], e.shape[0]), np.int32)
    for w in range(4):
        d += np.bitwise_count(q[:, None, w] ^ e[None, :, w]).astype(np.int32)
    best = (False, "")
    for i, j in zip(*np.nonzero(d <= THRESHOLD)):
        qh, qv, qq = queries[i]
        eh, ev, eq = entries[j]
        if admits(
            distance=int(d[i, j]),
            threshold=THRESHOLD,
            query_variant=qv,
            query_quality=qq,
            entry_variant=ev,
            entry_quality=eq,
        ):
            return True, (qv or "plain").split(":")[0].rstrip("0123456789.+-") + "/" + (ev or "plain").split("_")[0]
    return best


def _recall_job(k: int) -> dict:
    img = _recall_original(k)
    original = _jpeg_bytes(img, 92)
    signals = compute_signals(original)
    hash_only = [(signals.pdq, "", signals.pdq_quality)]
    media = _entries_of(original)
    others = [_recall_original(-(abs(k) % 97) - 20_000 - j * 100) for j in range(3)]
    out = {}
    for name, edit in EDITS.items():
        rng = np.random.default_rng([rw.SEEDS_CHECK, 3, k + 1_000_000, len(name)])
        edited = edit(img, rng, others)
        data = _jpeg_bytes(edited, int(rng.integers(75, 93)))
        queries = _queries_of(data)
        plain = queries[:1]
        out[name] = {
            "plain": _found(plain, hash_only)[0],
            "hash_only": _found(queries, hash_only),
            "media": _found(queries, media),
            "hashes": len(queries),
        }
    return {"k": k, "edits": out}


# ---- run -------------------------------------------------------------------------------------------


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run(opts) -> None:  # noqa: C901 - one linear report
    from staydown.matching.index import PDQIndex

    t0 = time.perf_counter()
    load_start = _load()
    print(f"load average at start {load_start} on {os.cpu_count()} cores", flush=True)
    src = _sources()
    counts = {k: len(v) for k, v in src.items()}
    print(f"sources: {counts}", flush=True)
    items: list[tuple[str, int]] = []
    for kind in ("photo", "nebula", "cutout", "drawing", "icon", "emoji"):
        items += [(kind, k) for k in range(counts[kind])]
    items += [("text", k) for k in range(TEXT_SCREENSHOTS)]
    items += [("meme", k) for k in range(TEMPLATES * MEMES_PER_TEMPLATE)]
    n_synth = max(0, opts.distinct + 1_500 - len(items))  # a margin for duplicates dropped below (icons: ~900)
    items += [("synthetic", k) for k in range(n_synth)]
    real_check = list(range(1, counts["photo"], 2))[: opts.originals // 2]
    recall_ks = real_check + [-(k + 1) for k in range(opts.originals - len(real_check))]
    with Pool(opts.workers) as pool:
        distinct = [r for r in pool.imap(_distinct_job, items, chunksize=8) if r is not None]
        t_distinct = time.perf_counter() - t0
        print(f"distinct images hashed: {len(distinct)} in {t_distinct:.0f} s", flush=True)
        recall = pool.map(_recall_job, recall_ks, chunksize=2)
    t_recall = time.perf_counter() - t0 - t_distinct
    print(f"recall: {len(recall_ks)} originals x {len(EDITS)} edits in {t_recall:.0f} s", flush=True)

    # -- false flags --
    seen: set[str] = set()
    kept = []
    for item, digest, entries, queries in distinct:
        if digest in seen:
            continue
        seen.add(digest)
        kept.append((item, entries, queries))
    kept = kept[: opts.distinct]
    by_kind = Counter(item[0] for item, _, _ in kept)
    e_hex, e_owner, e_var, e_q = [], [], [], []
    q_hex, q_owner, q_var, q_q = [], [], [], []
    for owner, (_, entries, queries) in enumerate(kept):
        for h, v, q in entries:
            e_hex.append(h)
            e_owner.append(owner)
            e_var.append(v)
            e_q.append(-1 if q is None else q)
        for h, v, q in queries:
            q_hex.append(h)
            q_owner.append(owner)
            q_var.append(v)
            q_q.append(q)
    to_bytes = lambda hexes: np.frombuffer(b"".join(bytes.fromhex(h) for h in hexes), np.uint8).reshape(-1, 32)  # noqa: E731
    index = PDQIndex.build(np.arange(len(e_hex), dtype=np.int64), to_bytes(e_hex))
    m = index.search(to_bytes(q_hex), radius=THRESHOLD)
    e_owner_a, q_owner_a = np.array(e_owner), np.array(q_owner)
    foreign = e_owner_a[m.ids] != q_owner_a[m.query]
    pairs_plain: dict[tuple[int, int], int] = {}
    pairs_variant: dict[tuple[int, int], tuple[int, str, str]] = {}
    ungated_variant = 0
    for qi, ei, d in zip(m.query[foreign], m.ids[foreign], m.distances[foreign]):
        a, b = q_owner[qi], e_owner[ei]
        key = (min(a, b), max(a, b))
        qv, ev = q_var[qi], e_var[ei]
        ok = admits(
            distance=int(d),
            threshold=THRESHOLD,
            query_variant=qv,
            query_quality=q_q[qi],
            entry_variant=ev,
            entry_quality=None if e_q[ei] < 0 else e_q[ei],
        )
        if not qv and not ev:
            pairs_plain[key] = min(int(d), pairs_plain.get(key, 999))
        elif ok:
            if key not in pairs_variant or int(d) < pairs_variant[key][0]:
                pairs_variant[key] = (int(d), qv, ev)
        else:
            ungated_variant += 1
    # A pair met through a mirror or quarter turn within 8 bits is one image and its transform
    # (arrow-left and arrow-right icons): what the variants are for, counted apart.
    dihedral = ("rotate", "flip", "transpose", "transverse")
    twins = {
        k
        for k, (d, qv, ev) in pairs_variant.items()
        if d <= 8 and not ev and qv.startswith(dihedral) and k not in pairs_plain
    }
    t_pairs = time.perf_counter() - t0 - t_distinct - t_recall
    print(
        f"false-flag search: {len(q_hex)} query hashes in an index of {len(e_hex)} bank hashes, "
        f"{len(m.ids)} hits within {THRESHOLD} bits, in {t_pairs:.0f} s",
        flush=True,
    )
    kinds = lambda key: "/".join(sorted(kept[i][0][0] for i in key))  # noqa: E731
    print(
        f"plain PDQ collisions (hash = hash, no variant): {len(pairs_plain)} pairs "
        f"{dict(Counter(kinds(k) for k in pairs_plain))}"
    )
    print(
        f"false flags through variants (after the gate): {len(pairs_variant)} pairs "
        f"{dict(Counter(kinds(k) for k in pairs_variant))}; variant hits the gate refused: {ungated_variant}"
    )
    print(f"of which mirror/turn twins within 8 bits: {len(twins)}")
    for key, (d, qv, ev) in [x for x in pairs_variant.items() if x[0] not in twins][:10]:
        print(f"  {kept[key[0]][0]} ~ {kept[key[1]][0]}: {d} bits via {qv or 'plain'} / {ev or 'plain'}")
    for key, d in list(pairs_plain.items())[:10]:
        print(f"  plain: {kept[key[0]][0]} ~ {kept[key[1]][0]}: {d} bits")

    # -- recall --
    table = {}
    via: dict[str, Counter] = defaultdict(Counter)
    for bank in ("plain", "hash_only", "media"):
        table[bank] = {}
        for name in EDITS:
            for subset, test in (("all", lambda k: True), ("real", lambda k: k >= 0), ("synthetic", lambda k: k < 0)):
                rows = [r["edits"][name][bank] for r in recall if test(r["k"])]
                hits = [x if isinstance(x, bool) else x[0] for x in rows]
                table[bank].setdefault(name, {})[subset] = round(sum(hits) / max(1, len(hits)), 4)
                if bank != "plain" and subset == "all":
                    via[f"{bank}:{name}"].update(x[1] for x in rows if x[0])
    hashes = [r["edits"][name]["hashes"] for r in recall for name in EDITS]
    q_per_image = len(q_hex) / max(1, len(kept))
    e_per_image = len(e_hex) / max(1, len(kept))
    print(f"{'edit':18s} {'plain':>7s} {'hash-only':>10s} {'(real)':>7s} {'media':>7s} {'(real)':>7s}")
    for name in EDITS:
        print(
            f"{name:18s} {table['plain'][name]['all']:7.3f} {table['hash_only'][name]['all']:10.3f} "
            f"{table['hash_only'][name]['real']:7.3f} {table['media'][name]['all']:7.3f} {table['media'][name]['real']:7.3f}"
        )
    wall = time.perf_counter() - t0
    load_end = _load()
    flat = by_kind["icon"] + by_kind["emoji"] + by_kind["drawing"]
    result = {
        "cores": os.cpu_count(),
        "load_average_start": load_start,
        "load_average_end": load_end,
        "distinct_images": len(kept),
        "distinct_by_kind": dict(by_kind),
        "flat_graphics": flat,
        "text_screenshots": by_kind["text"],
        "false_flags": len((set(pairs_plain) | set(pairs_variant)) - twins),
        "false_flags_through_variants": len(set(pairs_variant) - twins - set(pairs_plain)),
        "false_flags_through_variants_by_kind": dict(
            Counter(kinds(k) for k in set(pairs_variant) - twins - set(pairs_plain))
        ),
        "mirror_or_turn_twins": len(twins),
        "plain_pdq_collisions": len(pairs_plain),
        "plain_pdq_collisions_by_kind": dict(Counter(kinds(k) for k in pairs_plain)),
        "variant_hits_refused_by_gate": ungated_variant,
        "originals": {"real": len(real_check), "synthetic": len(recall_ks) - len(real_check)},
        "recall_hash_only": {n: table["hash_only"][n]["all"] for n in EDITS},
        "recall_media": {n: table["media"][n]["all"] for n in EDITS},
        "recall_hash_only_real": {n: table["hash_only"][n]["real"] for n in EDITS},
        "recall_media_real": {n: table["media"][n]["real"] for n in EDITS},
        "recall_plain_pdq": {n: table["plain"][n]["all"] for n in EDITS},
        "min_recall_hash_only_table": min(table["hash_only"][n]["all"] for n in TABLE_EDITS),
        "min_recall_media_table": min(table["media"][n]["all"] for n in TABLE_EDITS),
        "query_hashes_per_scan_mean": round(float(np.mean(hashes)), 1),
        "query_hashes_per_scan_max": int(np.max(hashes)),
        "query_hashes_per_distinct_image": round(q_per_image, 1),
        "bank_hashes_per_image": round(e_per_image, 1),
        "found_through": {k: dict(v.most_common(4)) for k, v in via.items()},
        "wall_seconds": round(wall, 1),
    }
    print(json.dumps(result))
