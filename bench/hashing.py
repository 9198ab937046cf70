"""Throughput of JPEG bytes -> PDQ: staydown's fast path vs the threatexchange library, and drift.

Corpus: 1024x768 JPEGs (quality 75-92) of the bundled photos and photo-like synthetic images
(bench/corpus.py). Measured single-threaded in one process (BLAS pinned to one thread), so the rate is
per core. The reference PDQ is pdqhash on the fully decoded RGB pixels; drift is the Hamming distance
between it and the fast path's hash.

    python bench/hashing.py [--images 80] [--rounds 3]

Prints figures, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # per-core figures: no hidden BLAS threads
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus

from staydown.media.hashing import compute_signals, hamming


def _rate(fn, items, rounds: int) -> float:
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        for item in items:
            fn(item)
        best = max(best, len(items) / (time.perf_counter() - started))
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=80)
    ap.add_argument("--rounds", type=int, default=3)
    opts = ap.parse_args()
    t0 = time.perf_counter()
    qualities = (75, 82, 88, 92)
    jpegs = [
        corpus.jpeg_bytes(img, qualities[k % len(qualities)])
        for k, (_, img) in enumerate(corpus.distinct_images(opts.images, (1024, 768)))
    ]
    print(
        f"{len(jpegs)} JPEGs 1024x768, mean {np.mean([len(j) for j in jpegs]) / 1024:.0f} KiB, "
        f"built in {time.perf_counter() - t0:.1f} s"
    )

    fast = [compute_signals(j) for j in jpegs]
    assert all(s.fast_path for s in fast)
    full = [compute_signals(j, fast=False) for j in jpegs]
    drift = [hamming(a.pdq, b.pdq) for a, b in zip(fast, full)]
    print(f"drift vs full-resolution pdqhash: max {max(drift)}, mean {np.mean(drift):.2f} bits")

    ours = _rate(compute_signals, jpegs, opts.rounds)  # includes MD5 + SHA-256 + safe-decode checks
    reference = _rate(lambda j: compute_signals(j, fast=False), jpegs, 1)
    print(f"staydown fast path (decode limits, MD5, SHA-256, PDQ): {ours:.0f} images/s")
    print(f"staydown reference path (full decode + pdqhash):       {reference:.0f} images/s")

    te_rate = None
    try:
        from threatexchange.signal_type.pdq.signal import PdqSignal
    except ImportError:
        print("threatexchange not installed: comparison skipped")
    else:
        te = [PdqSignal.hash_from_bytes(j) for j in jpegs]
        # PdqSignal returns "" for hashes below its quality threshold; compare the rest.
        agree = max((hamming(a, b.pdq) for a, b in zip(te, full) if a), default=0)
        empty = sum(1 for a in te if not a)
        te_rate = _rate(PdqSignal.hash_from_bytes, jpegs, 1)
        print(
            f"threatexchange PdqSignal.hash_from_bytes:              {te_rate:.0f} images/s "
            f"(max {agree} bits from our reference path; {empty} empty for low quality)"
        )
    ratio = round(ours / te_rate, 2) if te_rate else None
    print(f"ratio fast path / threatexchange: {ratio}; wall {time.perf_counter() - t0:.1f} s")
    print(
        json.dumps(
            {
                "cores": os.cpu_count(),
                "images_per_s_per_core": round(ours, 1),
                "threatexchange_images_per_s": round(te_rate, 1) if te_rate else None,
                "ratio": ratio,
                "max_drift_bits": int(max(drift)),
                "mean_drift_bits": round(float(np.mean(drift)), 2),
                "reference_images_per_s": round(reference, 1),
                "images": len(jpegs),
                "image_size": [1024, 768],
            }
        )
    )


if __name__ == "__main__":
    main()
