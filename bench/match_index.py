"""Benchmark of the exact PDQ match index against HMA's FAISS index: speed, recall, memory, build and adds.

Usage: python bench/match_index.py [--n 10000000] [--queries 10000]

Uniformly random hashes; half the queries are indexed hashes with 0..31 random bits flipped, half are
random. Each index is built and queried in its own subprocess so that the memory each one reports is
its own: ours is built and saved by one process and loaded and queried by another (as a restarted
node would), and HMA's configuration (threatexchange's PDQMultiHashIndex: FAISS IndexBinaryMultiHash,
16 tables of 16 bits, nflip = 31 // 16 = 1) is built directly with FAISS in a third, because the
wrapper's hex-string add is too slow at 10M. Recall is measured against a compiled brute force over
all n hashes for a sample of queries. A last run indexes PDQ hashes of generated images (edits,
meme-like templates under many captions, flat images), which cluster the way real banks do.

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RADIUS = 31
SEED = 20240611


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def memory_mb() -> dict[str, float]:
    """Resident set now and at its peak (VmRSS, VmHWM) in MiB, from /proc/self/status."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) / 1024
    return {"rss_mb": round(out["VmRSS"], 1), "hwm_mb": round(out["VmHWM"], 1)}


def loadavg() -> float:
    return float(open("/proc/loadavg").read().split()[0])


def flip_bits(rng: np.random.Generator, hashes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    bits = np.unpackbits(hashes, axis=1)
    for i, c in enumerate(counts):
        bits[i, rng.choice(256, int(c), replace=False)] ^= 1
    return np.packbits(bits, axis=1)


def run_child(role: str, workdir: Path, *extra: str) -> dict:
    """Run this script in `role` in a fresh process; its last stdout line is its JSON result."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--role", role, "--workdir", str(workdir), *extra]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- children --------------------------------------------------------------------------------------


def role_build(workdir: Path) -> dict:
    """Build our index from the hashes, save it, then measure incremental adds and a removal."""
    from staydown.matching.index import PDQIndex

    hashes = np.load(workdir / "hashes.npy")
    n = hashes.shape[0]
    ids = np.arange(n, dtype=np.int64)
    before = memory_mb()
    t = time.perf_counter()
    index = PDQIndex.build(ids, hashes)
    build_s = time.perf_counter() - t
    del hashes
    t = time.perf_counter()
    index.save(workdir / "index", checkpoint=n)
    save_s = time.perf_counter() - t

    # Incremental adds: 200,000 new hashes in calls of 1,000, each searchable when the call returns;
    # the delta is merged into the tables in place every `delta_limit` rows, and that is timed too.
    rng = np.random.default_rng(SEED + 1)
    extra = rng.integers(0, 256, (200_000, 32), dtype=np.uint8)
    extra_ids = np.arange(n, n + extra.shape[0], dtype=np.int64)
    t = time.perf_counter()
    for a in range(0, extra.shape[0], 1000):
        index.add(extra_ids[a : a + 1000], extra[a : a + 1000])
    adds_s = time.perf_counter() - t
    found = index.query(extra[-3:], radius=0)
    assert all(len(f[0]) == 1 for f in found), "an added hash is not searchable"
    t = time.perf_counter()
    removed = index.remove(rng.choice(n, 1000, replace=False).astype(np.int64))
    remove_ms = (time.perf_counter() - t) * 1000
    return {
        "build_s": round(build_s, 2),
        "save_s": round(save_s, 2),
        "adds_per_s": round(extra.shape[0] / adds_s),
        "adds_merges": int(extra.shape[0] // index.delta_limit),
        "remove_1000_ms": round(remove_ms, 1),
        "removed": removed,
        "build_hwm_mb": memory_mb()["hwm_mb"],
        "build_input_mb": round(n * 32 / 2**20, 1),
        "rss_before_build_mb": before["rss_mb"],
        "largest_bucket": int(index.largest_buckets().max()),
    }


def role_serve(workdir: Path) -> dict:
    """Load the saved index (a restart) and time lookups; save the answers for the recall sample."""
    import numba

    from staydown.matching.index import PDQIndex

    start = memory_mb()
    queries = np.load(workdir / "queries.npy")
    sample = np.load(workdir / "sample.npy")
    t = time.perf_counter()
    index, checkpoint = PDQIndex.load(workdir / "index")
    load_s = time.perf_counter() - t
    index.search(queries[:1100])  # first calls load the compiled kernels from numba's cache
    index.search(queries[:3])
    runs = []
    cpu = []
    for _ in range(3):
        t = time.perf_counter()
        c = time.process_time()
        matches = index.search(queries, radius=RADIUS)
        runs.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    nq = queries.shape[0]
    # One query per call, as an upload scan makes them.
    singles = []
    for i in range(200):
        t = time.perf_counter()
        index.search(queries[i : i + 1], radius=RADIUS)
        singles.append(time.perf_counter() - t)
    mem = memory_mb()
    found = index.search(queries[sample], radius=RADIUS)
    np.savez(workdir / "ours_sample.npz", query=found.query, ids=found.ids, distances=found.distances)
    per_query = matches.per_query(nq)
    planted_hits = sum(1 for ids, _ in per_query[: nq // 2] if len(ids))
    return {
        "cores": numba.get_num_threads(),
        "n": len(index),
        "checkpoint": checkpoint,
        "load_s": round(load_s, 2),
        "lookups_per_s": round(nq / float(np.median(runs))),
        "lookups_per_s_best": round(nq / min(runs)),
        "cpu_us_per_lookup": round(float(np.median(cpu)) / nq * 1e6, 1),
        "single_query_ms_median": round(float(np.median(singles)) * 1000, 3),
        "single_query_ms_p99": round(float(np.quantile(singles, 0.99)) * 1000, 3),
        "matches": len(matches),
        "planted_queries_matched": planted_hits,
        "full_scans": index.full_scans,
        "rss_mb": mem["rss_mb"],
        "hwm_mb": mem["hwm_mb"],
        "runtime_rss_mb": start["rss_mb"],
    }


def role_faiss(workdir: Path, n_queries: int) -> dict:
    """HMA's configuration: what threatexchange's PDQMultiHashIndex builds, made directly."""
    import faiss
    from threatexchange.signal_type.pdq.pdq_faiss_matcher import PDQMultiHashIndex

    start = memory_mb()
    reference = PDQMultiHashIndex()  # read its parameters rather than restate them
    nhash, bits = reference.mih_index.nhash, reference.mih_index.b
    reference.dispose()
    hashes = np.load(workdir / "hashes.npy")
    queries = np.load(workdir / "queries.npy")[np.load(workdir / "sample.npy")[:n_queries]]
    t = time.perf_counter()
    index = faiss.IndexBinaryIDMap2(faiss.IndexBinaryMultiHash(256, nhash, bits))
    index.add_with_ids(hashes, np.arange(hashes.shape[0], dtype=np.int64))
    build_s = time.perf_counter() - t
    del hashes
    faiss.downcast_IndexBinary(index.index).nflip = RADIUS // nhash  # as PDQMultiHashIndex.search does
    index.range_search(queries[:2], RADIUS + 1)
    t = time.perf_counter()
    lims, dist, labels = index.range_search(queries, RADIUS + 1)  # FAISS's radius is exclusive
    search_s = time.perf_counter() - t
    qpos = np.repeat(np.arange(len(queries)), np.diff(lims.astype(np.int64)))
    np.savez(workdir / "faiss_sample.npz", query=qpos, ids=labels, distances=dist)
    mem = memory_mb()
    return {
        "hma_nhash": nhash,
        "hma_bits": bits,
        "hma_nflip": RADIUS // nhash,
        "hma_faiss_queries": len(queries),
        "hma_faiss_lookups_per_s": round(len(queries) / search_s, 1),
        "hma_faiss_build_s": round(build_s, 1),
        "hma_faiss_rss_mb": mem["rss_mb"],
        "hma_faiss_hwm_mb": mem["hwm_mb"],
        "hma_faiss_runtime_rss_mb": start["rss_mb"],
        "faiss_threads": faiss.omp_get_max_threads(),
    }


# -- clustered data --------------------------------------------------------------------------------


def clustered_run(n_images: int) -> dict:
    """Index PDQ hashes of generated images: every image's 8 rotations/flips, for an original and a
    JPEG re-encode; plus meme-like families (one background, many captions) and flat images, which
    cluster. Query with other edits of the same images, new captions, unseen images. Reports speed,
    recall against brute force, and how skewed the buckets are."""
    import pdqhash
    from PIL import Image, ImageEnhance

    sys.path.insert(0, str(HERE))
    import corpus

    from staydown.matching.hamming import brute_force_pairs
    from staydown.matching.index import PDQIndex

    t0 = time.perf_counter()
    size = (256, 192)

    def dihedral(img: Image.Image) -> np.ndarray:
        vectors, _quality = pdqhash.compute_dihedral(np.asarray(img.convert("RGB")))
        return np.packbits(np.asarray(vectors, dtype=np.uint8), axis=1)

    def jpeg(img: Image.Image, quality: int) -> Image.Image:
        import io

        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality)
        buf.seek(0)
        return Image.open(buf).convert("RGB")

    rng = np.random.default_rng(SEED + 2)
    stored, stored_ids, queries, kinds = [], [], [], []
    images = list(corpus.distinct_images(n_images + 300, size, seed=SEED))
    for i, (_, img) in enumerate(images):
        if i < n_images:  # a bank entry: the image and a re-encode, in all 8 orientations
            stored += [dihedral(img), dihedral(jpeg(img, 40))]
            stored_ids += [np.full(16, i, np.int64)]
            w, h = img.size
            edits = [
                img.crop((w // 40, h // 40, w - w // 40, h - h // 40)).resize(size),
                ImageEnhance.Brightness(img).enhance(1.15),
                img.resize((w // 2, h // 2)).resize(size),
                jpeg(img, 60),
            ]
            for e in edits[: 1 + (i % 4)]:
                queries.append(dihedral(e)[:1])
                kinds.append("edit")
        else:  # never stored
            queries.append(dihedral(img)[:1])
            kinds.append("unseen")
    # Meme-like families: one background under many different captions, as templates give; and
    # flat images, whose PDQ hash is degenerate. Both pile hashes up close together.
    from PIL import ImageDraw

    words = [
        "cat",
        "monday",
        "coffee",
        "when",
        "you",
        "finally",
        "weekend",
        "boss",
        "meeting",
        "friday",
        "code",
        "works",
        "again",
    ]
    for f in range(40):
        background = corpus.synthetic_image(10**6 + f, size)
        for v in range(31):
            img = background.copy()
            draw = ImageDraw.Draw(img)
            font = corpus._font(int(rng.integers(14, 26)))
            for line in range(int(rng.integers(1, 3))):
                text = " ".join(rng.choice(words, int(rng.integers(2, 5)))).upper()
                y = (4 if line == 0 else size[1] - 30) + int(rng.integers(0, 6))
                draw.text((int(rng.integers(4, 40)), y), text, fill=(255, 255, 255), font=font)
            h = dihedral(img)
            if v < 30:
                stored.append(h)
                stored_ids.append(np.full(8, 10**6 + f * 100 + v, np.int64))
            else:
                queries.append(h[:1])
                kinds.append("template")
    for j in range(300):
        flat = Image.new("RGB", size, tuple(int(c) for c in rng.integers(0, 256, 3)))
        h = dihedral(flat)
        if j < 250:
            stored.append(h)
            stored_ids.append(np.full(8, 2 * 10**6 + j, np.int64))
        else:
            queries.append(h[:1])
            kinds.append("flat")
    stored_h = np.concatenate(stored)
    ids = np.concatenate(stored_ids)
    qh = np.concatenate(queries)
    gen_s = time.perf_counter() - t0

    t = time.perf_counter()
    index = PDQIndex.build(ids, stored_h)
    build_s = time.perf_counter() - t
    index.search(qh[:1100])
    index.search(qh[:2])  # both kernels loaded before timing
    t = time.perf_counter()
    reps = 5
    for _ in range(reps):
        found = index.search(qh, radius=RADIUS)
    lookups = reps * len(qh) / (time.perf_counter() - t)
    t = time.perf_counter()
    for i in range(200):
        index.search(qh[i : i + 1], radius=RADIUS)
    single_ms = (time.perf_counter() - t) / 200 * 1000

    tq, trow, tdist = brute_force_pairs(stored_h, qh, radius=RADIUS)
    truth = {(int(q), int(ids[r])) for q, r in zip(tq, trow)}
    got = set(zip(found.query.tolist(), found.ids.tolist()))
    kinds_arr = np.array(kinds)
    matched = np.zeros(len(qh), bool)
    matched[np.unique(found.query)] = True
    # How clustered: stored hashes within the radius of a stored hash (itself included).
    probe = stored_h[rng.choice(len(stored_h), min(500, len(stored_h)), replace=False)]
    neighbours = np.bincount(brute_force_pairs(stored_h, probe, radius=RADIUS)[0], minlength=len(probe))
    return {
        "clustered_n": len(index),
        "clustered_images": n_images,
        "clustered_queries": len(qh),
        "clustered_gen_s": round(gen_s, 1),
        "clustered_build_s": round(build_s, 3),
        "clustered_lookups_per_s": round(lookups),
        "clustered_single_query_ms": round(single_ms, 3),
        "clustered_recall": round(len(truth & got) / max(1, len(truth)), 6),
        "clustered_extra_results": len(got - truth),
        "clustered_pairs": len(truth),
        "clustered_full_scans": index.full_scans,
        "clustered_edit_match_rate": round(float(matched[kinds_arr == "edit"].mean()), 3),
        "clustered_unseen_match_rate": round(float(matched[kinds_arr == "unseen"].mean()), 3),
        "clustered_template_match_rate": round(float(matched[kinds_arr == "template"].mean()), 3),
        "clustered_flat_match_rate": round(float(matched[kinds_arr == "flat"].mean()), 3),
        "clustered_largest_bucket": int(index.largest_buckets().max()),
        "clustered_uniform_bucket_mean": round(len(index) / 2 ** float(index._plan.ndirect.min()), 2),
        "clustered_neighbours_within_31_mean": round(float(neighbours.mean()), 1),
        "clustered_neighbours_within_31_max": int(neighbours.max()),
    }


# -- the parent ------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--recall-sample", type=int, default=400, help="queries checked against brute force")
    ap.add_argument("--faiss-queries", type=int, default=200, help="queries timed on the FAISS index")
    ap.add_argument("--images", type=int, default=1000, help="images in the clustered run")
    ap.add_argument("--role", default="main", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "build":
        print(json.dumps(role_build(args.workdir)))
        return
    if args.role == "serve":
        print(json.dumps(role_serve(args.workdir)))
        return
    if args.role == "faiss":
        print(json.dumps(role_faiss(args.workdir, args.faiss_queries)))
        return

    wall = time.perf_counter()
    load_start = loadavg()
    with tempfile.TemporaryDirectory(prefix="staydown-bench-") as tmp:
        workdir = Path(tmp)
        rng = np.random.default_rng(SEED)
        n, nq = args.n, args.queries
        log(f"generating {n:,} hashes and {nq:,} queries")
        hashes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
        planted = nq // 2
        picks = rng.integers(0, n, planted)
        queries = np.concatenate(
            [
                flip_bits(rng, hashes[picks], rng.integers(0, RADIUS + 1, planted)),
                rng.integers(0, 256, (nq - planted, 32), dtype=np.uint8),
            ]
        )
        # The recall sample: mostly planted queries (they are the ones with answers), some random.
        sample = np.concatenate(
            [
                rng.choice(planted, args.recall_sample * 3 // 4, replace=False),
                planted + rng.choice(nq - planted, args.recall_sample - args.recall_sample * 3 // 4, replace=False),
            ]
        )
        rng.shuffle(sample)
        np.save(workdir / "hashes.npy", hashes)
        np.save(workdir / "queries.npy", queries)
        np.save(workdir / "sample.npy", sample)

        log("building our index (subprocess)")
        built = run_child("build", workdir)
        log(f"  {built}")
        log("loading it and timing lookups (subprocess)")
        served = run_child("serve", workdir)
        log(f"  {served}")

        log(f"brute force over {n:,} hashes for {len(sample)} queries")
        from staydown.matching.hamming import brute_force_pairs

        t = time.perf_counter()
        bq, brow, bdist = brute_force_pairs(hashes, queries[sample], radius=RADIUS)
        brute_s = time.perf_counter() - t
        del hashes
        truth = set(zip(bq.tolist(), brow.tolist()))  # ids are row numbers here
        ours = np.load(workdir / "ours_sample.npz")
        got = set(zip(ours["query"].tolist(), ours["ids"].tolist()))
        recall = len(truth & got) / max(1, len(truth))
        truth_d = dict(zip(zip(bq.tolist(), brow.tolist()), bdist.tolist()))
        wrong_d = sum(
            1
            for q, i, d in zip(ours["query"], ours["ids"], ours["distances"])
            if truth_d.get((int(q), int(i))) != int(d)
        )

        log("HMA's FAISS configuration (subprocess)")
        hma = run_child("faiss", workdir, "--faiss-queries", str(args.faiss_queries))
        log(f"  {hma}")
        fz = np.load(workdir / "faiss_sample.npz")
        nf = hma["hma_faiss_queries"]
        truth_f = {(q, r) for q, r in truth if q < nf}
        got_f = set(zip(fz["query"].tolist(), fz["ids"].tolist()))
        hma_recall = len(truth_f & got_f) / max(1, len(truth_f))

    log(f"clustered run: PDQ of {args.images} generated images, their edits, caption templates, flat images")
    clustered = clustered_run(args.images)
    log(f"  {clustered}")

    result = {
        "cores": served["cores"],
        "n": args.n,
        "queries": nq,
        "radius": RADIUS,
        "lookups_per_s": served["lookups_per_s"],
        "recall": round(recall, 6),
        "recall_pairs": len(truth),
        "recall_sample_queries": len(sample),
        "wrong_distances": wrong_d,
        "extra_results": len(got - truth),
        "rss_mb": served["hwm_mb"],
        "build_s": built["build_s"],
        "adds_per_s": built["adds_per_s"],
        "hma_faiss_lookups_per_s": hma["hma_faiss_lookups_per_s"],
        "ratio_vs_hma": round(served["lookups_per_s"] / hma["hma_faiss_lookups_per_s"], 1),
        "hma_faiss_recall": round(hma_recall, 6),
        **{k: v for k, v in served.items() if k not in ("cores", "lookups_per_s", "n")},
        **{k: v for k, v in built.items() if k not in ("build_s", "adds_per_s")},
        **{k: v for k, v in hma.items() if k != "hma_faiss_lookups_per_s"},
        "brute_force_s": round(brute_s, 1),
        **clustered,
        "loadavg_start": load_start,
        "loadavg_end": loadavg(),
        "wall_s": round(time.perf_counter() - wall, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
