"""Video matching benchmark: recall per edit, false matches among distinct clips, hashing speed and memory.

A corpus of benign synthetic clips is made here (bench/videocorpus.py: camera pans and zooms over
generated pictures and over the photos the scikit-image wheel ships, moving shapes, scrolling text,
drifting noise, one to three scenes). The first --originals clips are the edited ones: 256x144 to
640x360, 4 to 10 s, 10 to 30 frames a second. The other distinct clips, there to be falsely matched,
are shorter (2-4 s, one scene, 10 frames a second, 256x144 to 320x240) so that 500 fit the time. Originals are
edited as re-uploaders do (re-encode to WebM/VP9, resize to 60%, trim 10% off the start, crop 5%
(2.5% a side), mirror, watermark) and, reported apart, three harder edits (5% off every side; a
large watermark; turned into an animated GIF). Everything is hashed by
staydown.media.video.hash_video with the service's defaults and matched with the service's own
code (matching/video.py's two-way rule over matching/vpdq.py's frame index):

* bank built from media: every distinct clip banked as staydown banks a confirmed video (its frames
  and the mirror and crop variants kept from its scan); each edited copy is scanned against it;
* hash-only bank: every distinct clip's vPDQ as another organisation would share it (one frame a
  second, no variants), scanned the same way;
* sweep: each original's bank entries looking for its stored copies among every stored clip (the
  stored-content index keeps a frame every 0.5 s);
* false matches: every distinct clip scanned against the bank of all the others, and every edited
  copy against every other original.

Speed and memory are measured apart, on realistic clips (720p and 1080p H.264, 480p VP9), each
hashed in a fresh process. The last line is one JSON object. About 4 minutes on 2 idle cores.
`--speed-only` adds the ways of reading a video without a disk (FFmpeg from a memory file, Meta's
vpdq library, a pipe) and how far our hashes are from vpdq's; `--explore-spacing N` measures how
often frames must be hashed for trimmed copies to match.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import videocorpus as vc

from staydown.matching import vpdq
from staydown.matching.video import MIRROR, _two_way_hits, features, variant_features
from staydown.media.video import VideoLimits, hash_video

LIMITS = VideoLimits(max_bytes=1 << 30)


class _Replica:
    """What matching/video.py asks of an index replica, over one VideoIndex (no database)."""

    def __init__(self, spacing: float = 0.0) -> None:
        self.video = vpdq.VideoIndex()
        self.spacing = spacing
        self.owner: dict[int, tuple[int, str]] = {}  # row id -> (clip, variant)

    def add(self, row_id: int, clip: int, variant: str, feats: list[vpdq.Feature]) -> None:
        self.video.add(row_id, vpdq.usable(feats, spacing=self.spacing))
        self.owner[row_id] = (clip, variant)

    def video_candidates(self, hashes: np.ndarray, radius: int) -> dict[int, int]:
        return self.video.candidates(hashes, radius)

    def video_frames(self, ids: list[int]) -> dict[int, np.ndarray]:
        return {i: self.video.rows[i] for i in ids if i in self.video.rows}


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _pack(signals) -> dict:  # type: ignore[no-untyped-def]
    """What the parent needs of a hashed clip (plain data: it crosses a process boundary)."""
    return {
        "frames": [(f.pdq, f.quality, f.timestamp) for f in features(signals)],
        "lookup": [(f.pdq, f.quality, f.timestamp) for f in features(signals, every_frame=True)],
        "mirror": [(f.pdq, f.quality, f.timestamp) for f in features(signals, mirror=True, every_frame=True)],
        "variants": {k: [(f.pdq, f.quality, f.timestamp) for f in v] for k, v in variant_features(signals).items()},
        "seconds": signals.duration,
        "format": signals.format,
    }


def _clip_job(args: tuple[int, int, bool]) -> tuple[int, dict, dict[str, dict], float, float]:
    """Make clip `seed`, hash it, and (for originals) make and hash each edit."""
    seed, natural, edit = args
    # Originals get the full range of lengths and frame rates; the rest of the distinct clips (there
    # for false matches) are shorter and slower so that 500 of them fit the time.
    spec = (
        vc.spec(seed, seconds=(4.0, 10.0))
        if edit
        else vc.spec(seed, seconds=(2.0, 4.0), fps_choices=(10,), size=vc.SIZES[seed % 3], scenes=1)
    )
    data = vc.make_clip(spec, natural=natural if natural >= 0 else None)
    started = time.perf_counter()
    original = _pack(hash_video(data, limits=LIMITS))
    hash_s = time.perf_counter() - started
    seconds = original["seconds"] or spec.seconds
    edits: dict[str, dict] = {}
    if edit:
        for kind, copy in vc.edits(data, vc.EDITS + vc.HARD_EDITS, seconds=spec.seconds, seed=seed).items():
            t = time.perf_counter()
            edits[kind] = _pack(hash_video(copy, limits=LIMITS))
            hash_s += time.perf_counter() - t
            seconds += edits[kind]["seconds"]
    return seed, original, edits, hash_s, seconds


def _feats(rows: list) -> list[vpdq.Feature]:  # type: ignore[type-arg]
    return [vpdq.Feature(p, q, t) for p, q, t in rows]


def _every(feats: list[vpdq.Feature], seconds: float) -> list[vpdq.Feature]:
    """A partner's list: one frame a second, as vpdq's default (a subset of ours, same phase)."""
    out: list[vpdq.Feature] = []
    for f in feats:
        if not out or f.timestamp >= out[-1].timestamp + seconds - 0.02:
            out.append(f)
    return out


def _query(packed: dict) -> dict[str, np.ndarray]:
    return {"": vpdq.usable(_feats(packed["lookup"])), MIRROR: vpdq.usable(_feats(packed["mirror"]))}


def _found(replica: _Replica, query: dict[str, np.ndarray], *, tx_rule: bool = False) -> set[int]:
    hits = _two_way_hits(replica, query, vpdq.VPDQ_DISTANCE_THRESHOLD)
    clips = set()
    for row_id, hit in hits.items():
        if tx_rule and hit.result.query_percent < vpdq.QUERY_MATCH_PERCENT:
            continue
        clips.add(replica.owner[row_id][0])
    return clips


def _percents(replica: _Replica, query: dict[str, np.ndarray]) -> dict[int, float]:
    """For each clip with a frame near the query: the best of its two match percentages (over the
    query's variants and the clip's rows), whether or not the rule would call it a match."""
    best: dict[int, float] = {}
    for q in query.values():
        if q.shape[0] == 0:
            continue
        found = replica.video_candidates(q, vpdq.VPDQ_DISTANCE_THRESHOLD)
        for row_id, words in replica.video_frames(list(found)).items():
            r = vpdq.two_way(q, words)
            clip = replica.owner[row_id][0]
            best[clip] = max(best.get(clip, 0.0), r.query_percent, r.compared_percent)
    return best


def _speed(tmp: str) -> dict:
    """Hashing speed and memory on realistic clips, each hashed in a fresh process."""
    out = {}
    specs = {
        "h264_1280x720_30fps_12s": ("h264", (1280, 720), 30, 12.0),
        "vp9_854x480_30fps_8s": ("vp9", (854, 480), 30, 8.0),
        "h264_1920x1080_30fps_4s": ("h264", (1920, 1080), 30, 4.0),
    }
    for name, (codec, size, fps, seconds) in specs.items():
        spec = vc.ClipSpec(9_000_000 + len(out), size, fps, (("pan", seconds * 0.6), ("shapes", seconds * 0.4)))
        path = os.path.join(tmp, name)
        with open(path, "wb") as fh:
            fh.write(vc.make_clip(spec, codec=codec))
        probe = subprocess.run([sys.executable, "-c", _SPEED_CHILD, path], capture_output=True, text=True, timeout=240)
        if probe.returncode != 0:
            out[name] = {"error": probe.stderr[-400:]}
            continue
        result = json.loads(probe.stdout.strip().splitlines()[-1])
        result["bytes"] = os.path.getsize(path)
        out[name] = result
    return out


_SPEED_CHILD = r"""
import json, re, subprocess, sys, threading, time
from staydown.media.video import hash_video

def hwm(pid):
    # Peak resident memory of a process (this one, or FFmpeg: prlimit execs it under the same pid).
    # ru_maxrss would not do: Linux keeps it across fork and exec, so it counts the parent's memory.
    try:
        with open(f"/proc/{pid}/status") as fh:
            return int(re.search(r"VmHWM:\s+(\d+)", fh.read()).group(1)) / 1024
    except (OSError, AttributeError):
        return 0.0

peaks = []
real_popen = subprocess.Popen

class WatchedPopen(real_popen):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        peak = [0.0]
        peaks.append(peak)
        def watch():
            while self.poll() is None:
                peak[0] = max(peak[0], hwm(self.pid))
                time.sleep(0.005)
        threading.Thread(target=watch, daemon=True).start()

subprocess.Popen = WatchedPopen
data = open(sys.argv[1], "rb").read()
hash_video(data)  # warm: numba's compiled kernels load once per process
before = hwm("self")
peaks.clear()
t, c = time.perf_counter(), time.process_time()
import resource
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
s = hash_video(data)
wall = time.perf_counter() - t
mine = time.process_time() - c
kids2 = resource.getrusage(resource.RUSAGE_CHILDREN)
ffmpeg_cpu = (kids2.ru_utime + kids2.ru_stime) - (kids.ru_utime + kids.ru_stime)
time.sleep(0.05)
print(json.dumps({"seconds_of_video": s.duration, "wall_s": round(wall, 3),
                  "video_seconds_per_second": round(s.duration / wall, 1),
                  "cpu_s_ffmpeg": round(ffmpeg_cpu, 3), "cpu_s_python": round(mine, 3),
                  "video_seconds_per_cpu_second": round(s.duration / (ffmpeg_cpu + mine), 1),
                  "frames_hashed": len(s.frames),
                  "peak_rss_mb_hashing_process": round(hwm("self"), 1),
                  "rss_mb_before_hashing": round(before, 1),
                  "peak_rss_mb_ffmpeg": round(max(p[0] for p in peaks), 1) if peaks else None,
                  "bytes_in_memory_file": len(data)}))
"""


_PIPELINES_CHILD = r"""
import json, os, statistics, subprocess, sys, time

from staydown.media import video
from staydown.media.video import VideoLimits, hash_video
data = open(sys.argv[1], "rb").read()
out = {}
hash_video(data)

def timed(run):
    walls = []
    for _ in range(3):  # the median of three: the machine is shared
        t = time.perf_counter()
        n = run()
        walls.append(time.perf_counter() - t)
    return {"wall_s_median_of_3": round(statistics.median(walls), 3), "frames": n}

one_a_second = dict(seconds_per_hash=1.0, lookup_rate=1.0)
out["ffmpeg_cli_memfd_1_frame_a_second_512px"] = timed(lambda: len(hash_video(data, limits=VideoLimits(**one_a_second)).frames))
out["ffmpeg_cli_memfd_1_frame_a_second_full_size"] = timed(
    lambda: len(hash_video(data, limits=VideoLimits(**one_a_second, hash_side=1280)).frames))
out["ffmpeg_cli_memfd_default_every_frame_kept_every_0.125s"] = timed(lambda: len(hash_video(data).frames))
try:
    import vpdq
except ImportError:
    vpdq = None
if vpdq is not None:
    # Meta's vpdq library reading the same in-memory file by its /proc path (it takes a path only).
    def meta():
        fd = video._memfd(data)
        try:
            return len(vpdq.computeHash(f"/proc/self/fd/{fd}", seconds_per_hash=1.0))
        finally:
            os.close(fd)
    out["vpdq_library_memfd_1_frame_a_second_full_size"] = timed(meta)
    # The same in a spawned child, as the previous code ran it: the only way to stop the library's C
    # code at a time limit or bound its memory is a process of its own.
    def in_child():
        fd = video._memfd(data)
        try:
            code = "import sys, vpdq; print(len(vpdq.computeHash(sys.argv[1], seconds_per_hash=1.0)))"
            done = subprocess.run([sys.executable, "-c", code, f"/proc/self/fd/{fd}"], pass_fds=(fd,),
                                  capture_output=True, text=True, timeout=120, check=True)
            return int(done.stdout.strip())
        finally:
            os.close(fd)
    out["vpdq_library_memfd_in_a_spawned_child"] = timed(in_child)
# A pipe cannot seek: an MP4 whose index is at the end (as cameras write them) cannot be read from one.
p = subprocess.run(["ffmpeg", "-v", "error", "-f", "mov", "-i", "pipe:0", "-f", "null", "-"], input=data,
                   capture_output=True)
out["ffmpeg_stdin_pipe_moov_at_end"] = {"returncode": p.returncode, "said": p.stderr.decode()[:120].strip()}
print(json.dumps(out))
"""


def _pipelines(tmp: str) -> dict:
    """The ways of getting frames out of an upload without a disk, timed on one 720p clip."""
    path = os.path.join(tmp, "h264_1280x720_30fps_12s")
    if not os.path.exists(path):
        return {}
    probe = subprocess.run([sys.executable, "-c", _PIPELINES_CHILD, path], capture_output=True, text=True, timeout=240)
    if probe.returncode != 0:
        return {"error": probe.stderr[-400:]}
    return json.loads(probe.stdout.strip().splitlines()[-1])


def _vpdq_drift(tmp: str) -> dict | None:
    """How far our frame hashes are from Meta's vpdq on the same frames (when vpdq is installed)."""
    try:
        import vpdq as meta
    except ImportError:
        return None
    spec = vc.ClipSpec(9_100_000, (1280, 720), 30, (("pan", 4.0), ("text", 3.0)))
    path = os.path.join(tmp, "drift.mp4")
    data = vc.make_clip(spec)
    with open(path, "wb") as fh:
        fh.write(data)
    theirs = [f.hex for f in meta.computeHash(path, seconds_per_hash=1.0)]
    out = {}
    for side in (512, 1280):
        ours = hash_video(data, limits=VideoLimits(seconds_per_hash=1.0, lookup_rate=1.0, hash_side=side))
        d = [(int(a, 16) ^ int(b.pdq, 16)).bit_count() for a, b in zip(theirs, ours.kept)]
        out[f"hash_side_{side}"] = {"frames": len(d), "mean_bits": round(float(np.mean(d)), 2), "max_bits": int(max(d))}
    return out


def _spacing_job(seed: int) -> tuple[list, list, list]:  # type: ignore[type-arg]
    spec = vc.spec(seed, seconds=(4.0, 10.0))
    data = vc.make_clip(spec)
    trimmed = vc.edit(data, "trim", seconds=spec.seconds, seed=seed)
    dense = VideoLimits(max_bytes=1 << 30, seconds_per_hash=0.125)
    copy = hash_video(trimmed, limits=dense)
    return (
        [(f.pdq, f.quality, f.timestamp) for f in features(hash_video(data, limits=dense))],
        [(f.pdq, f.quality, f.timestamp) for f in features(copy)],
        [(f.pdq, f.quality, f.timestamp) for f in features(copy, every_frame=True)],
    )


def _explore_spacing(n: int, workers: int) -> None:
    """Trimmed copies found, by how often each side is hashed: what chose to look up every frame of an
    upload, keep one every 0.125 s and index stored content every 0.5 s (docs/decisions.md). The
    sparser lists are the 0.125 s one's frames thinned by time, as hashing at that spacing gives."""
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        triples = pool.map(_spacing_job, range(1_000_000, 1_000_000 + n))
    out = {}
    combos = [
        (1.0, 1.0),
        (0.5, 0.5),
        (0.25, 0.25),
        (0.125, 0.125),
        (0.125, 0.5),
        (0.125, 1.0),
        ("every frame", 0.125),
        ("every frame", 0.5),
        ("every frame", 1.0),
    ]
    for query_s, bank_s in combos:
        found = 0
        for original, trimmed, every in triples:
            if query_s == "every frame":
                q = vpdq.usable(_feats(every))
            else:
                q = vpdq.usable(_feats(trimmed), spacing=query_s if query_s > 0.125 else 0.0)
            b = vpdq.usable(_feats(original), spacing=bank_s if bank_s > 0.125 else 0.0)
            found += vpdq.two_way(q, b).matches()
        label = query_s if isinstance(query_s, str) else f"every {query_s}s"
        out[f"upload {label}, bank every {bank_s}s"] = round(found / len(triples), 4)
    print(
        json.dumps(
            {
                "cores": os.cpu_count(),
                "loadavg": _loadavg(),
                "trimmed_copies": len(triples),
                "trim_recall_by_spacing": out,
            }
        )
    )


def _scratch() -> tempfile.TemporaryDirectory:  # type: ignore[type-arg]
    # Benign generated clips, in memory when the machine has /dev/shm; removed when done.
    return tempfile.TemporaryDirectory(
        prefix="staydown-bench-video-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
    )


def _speed_only() -> None:
    with _scratch() as tmp:
        print(json.dumps({"speed": _speed(tmp), "pipelines": _pipelines(tmp), "vpdq_drift": _vpdq_drift(tmp)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--originals", type=int, default=40, help="clips that are edited (per-edit recall)")
    parser.add_argument("--distinct", type=int, default=500, help="distinct clips in all (false matches)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--speed-only", action="store_true", help="hashing speed, memory and pipelines only")
    parser.add_argument(
        "--explore-spacing",
        type=int,
        default=0,
        metavar="N",
        help="only: trim recall of N clips by hashing spacing (the measurement behind the default)",
    )
    opts = parser.parse_args()
    if opts.explore_spacing:
        _explore_spacing(opts.explore_spacing, opts.workers)
        return
    if opts.speed_only:
        _speed_only()
        return
    started = time.perf_counter()
    load_start = _loadavg()
    naturals = len(vc.corpus.natural_images())
    jobs = [(seed, seed if seed < naturals else -1, seed < opts.originals) for seed in range(opts.distinct)]
    originals: dict[int, dict] = {}
    edits: dict[int, dict[str, dict]] = {}
    hash_s = video_s = 0.0
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(opts.workers) as pool:
        for seed, packed, copies, h, s in pool.imap_unordered(_clip_job, jobs, chunksize=4):
            originals[seed] = packed
            if copies:
                edits[seed] = copies
            hash_s += h
            video_s += s
    corpus_s = time.perf_counter() - started

    # Banks: built from media (frames + variants, as a confirmed item is banked) and hash-only.
    t = time.perf_counter()
    media_bank, hash_only = _Replica(), _Replica()
    stored = _Replica(spacing=vpdq.CONTENT_INDEX_SPACING)  # the stored-content index, for sweeps
    row = 0
    for seed, packed in originals.items():
        row += 1
        media_bank.add(row, seed, "", _feats(packed["frames"]))
        hash_only.add(row, seed, "", _every(_feats(packed["frames"]), 1.0))
        stored.add(row, seed, "", _feats(packed["frames"]))
        for name, rows in packed["variants"].items():
            row += 1
            media_bank.add(row, seed, name, _feats(rows))
    copy_rows: dict[tuple[int, str], int] = {}
    for seed, copies in edits.items():
        for kind, packed in copies.items():
            row += 1
            stored.add(row, seed, kind, _feats(packed["frames"]))
            copy_rows[(seed, kind)] = row
    index_s = time.perf_counter() - t

    kinds = vc.EDITS + vc.HARD_EDITS
    recall: dict[str, list[int]] = defaultdict(list)
    recall_hash_only: dict[str, list[int]] = defaultdict(list)
    recall_tx_rule: dict[str, list[int]] = defaultdict(list)
    recall_sweep: dict[str, list[int]] = defaultdict(list)
    false_pairs: list[list] = []  # type: ignore[type-arg]
    true_percent: dict[str, list[float]] = defaultdict(list)  # copies: best percentage of their original
    false_percent: list[float] = []  # the best percentage any other clip reached
    t = time.perf_counter()
    lookups = 0
    for seed, copies in edits.items():
        if not copies:
            continue
        for kind in kinds:
            q = _query(copies[kind])
            lookups += sum(x.shape[0] for x in q.values())
            found = _found(media_bank, q)
            recall[kind].append(int(seed in found))
            percents = _percents(media_bank, q)
            true_percent[kind].append(percents.pop(seed, 0.0))
            false_percent.append(max(percents.values(), default=0.0))
            false_pairs += [[f"copy:{seed}:{kind}", other, "media_bank"] for other in found - {seed}]
            found_h = _found(hash_only, q)
            recall_hash_only[kind].append(int(seed in found_h))
            false_pairs += [[f"copy:{seed}:{kind}", other, "hash_only"] for other in found_h - {seed}]
            recall_tx_rule[kind].append(int(seed in _found(media_bank, q, tx_rule=True)))
        # Sweep: the original's bank entries (frames and variants) against every stored clip.
        hits: set[int] = set()
        entries = [_feats(originals[seed]["frames"])] + [_feats(v) for v in originals[seed]["variants"].values()]
        for feats in entries:
            for row_id in _two_way_hits(stored, {"": vpdq.usable(feats)}, vpdq.VPDQ_DISTANCE_THRESHOLD):
                hits.add(row_id)
        for kind in kinds:
            recall_sweep[kind].append(int(copy_rows[(seed, kind)] in hits))
        false_pairs += [[f"sweep:{seed}", list(stored.owner[r]), "stored"] for r in hits if stored.owner[r][0] != seed]
    # Every distinct clip scanned as an upload against both banks: anything but itself is false.
    for seed, packed in originals.items():
        q = _query(packed)
        lookups += sum(x.shape[0] for x in q.values())
        percents = _percents(media_bank, q)
        percents.pop(seed, None)
        false_percent.append(max(percents.values(), default=0.0))
        for other in _found(media_bank, q) - {seed}:
            false_pairs.append([f"clip:{seed}", other, "media_bank"])
        for other in _found(hash_only, q) - {seed}:
            false_pairs.append([f"clip:{seed}", other, "hash_only"])
    match_s = time.perf_counter() - t

    def rate(values: dict[str, list[int]], names: tuple[str, ...]) -> dict[str, float]:
        return {k: round(sum(values[k]) / len(values[k]), 4) for k in names if values[k]}

    main_recall = rate(recall, vc.EDITS)
    with _scratch() as tmp:
        speed = None if opts.no_speed else _speed(tmp)
    frames_total = sum(len(p["frames"]) for p in originals.values())
    result = {
        "cores": os.cpu_count(),
        "loadavg_start": load_start,
        "distinct_clips": len(originals),
        "originals_edited": len(edits),
        "edits": list(vc.EDITS),
        "recall_by_edit": main_recall,
        "min_recall": min(main_recall.values()) if main_recall else None,
        "hard_edits_recall": rate(recall, vc.HARD_EDITS),
        "recall_by_edit_hash_only_bank": rate(recall_hash_only, kinds),
        "recall_by_edit_threatexchange_rule": rate(recall_tx_rule, kinds),
        "sweep_recall_by_edit": rate(recall_sweep, kinds),
        "false_matches": len(false_pairs),
        # The thresholds measured: how far true copies and other clips sit from the 80% line.
        "match_percent_true_copies": {
            k: {
                "p5": round(float(np.percentile(v, 5)), 1),
                "median": round(float(np.median(v)), 1),
                "min": round(min(v), 1),
            }
            for k, v in true_percent.items()
        },
        "match_percent_other_clips_max": round(max(false_percent, default=0.0), 1),
        "match_percent_other_clips_p999": round(float(np.percentile(false_percent, 99.9)), 1) if false_percent else 0.0,
        "false_pairs": false_pairs[:20],
        "rule": {
            "quality_min": vpdq.VPDQ_QUALITY_THRESHOLD,
            "frame_distance_max": vpdq.VPDQ_DISTANCE_THRESHOLD,
            "query_match_percent_min": vpdq.QUERY_MATCH_PERCENT,
            "compared_match_percent_min": vpdq.COMPARED_MATCH_PERCENT,
            "min_matched_frames": vpdq.MIN_MATCHED_FRAMES,
            "either_side": True,
        },
        "seconds_per_hash": LIMITS.seconds_per_hash,
        "hash_side": LIMITS.hash_side,
        "content_index_spacing_s": vpdq.CONTENT_INDEX_SPACING,
        "frames_per_clip_mean": round(frames_total / max(len(originals), 1), 1),
        "corpus_video_seconds_hashed": round(video_s, 1),
        "corpus_hash_s": round(hash_s, 1),
        "corpus_video_seconds_per_hash_second": round(video_s / hash_s, 1) if hash_s else None,
        "lookups": lookups,
        "timings_s": {"corpus": round(corpus_s, 1), "index": round(index_s, 1), "match": round(match_s, 1)},
        "speed": speed,
        "loadavg_end": _loadavg(),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
