"""vPDQ signals: threatexchange's text form, the two-way match-percentage rule, and the frame index.

A vPDQ signal is a list of frame features, one PDQ (with its quality and timestamp) per sampled
frame. threatexchange writes it as a JSON list of "pdq_hex,quality,timestamp" strings; its older
form, a JSON object keyed by frame number ({"0": {"hash": ..., "quality": ..., "timestamp": ...}}),
is read too. We write the list form with timestamps to the millisecond.

Matching two videos (threatexchange's rule, extended one way; docs/decisions.md 2026-12-07):

* Frames whose PDQ quality is below VPDQ_QUALITY_THRESHOLD (50) are left out on both sides (dark,
  flat or blurred frames match anything), and repeated hashes count once.
* A frame matches when some frame of the other video is within VPDQ_DISTANCE_THRESHOLD (31) bits
  (or a bank's stricter PDQ threshold).
* query% = the share of the upload's frames found in the banked video; compared% = the share of
  the banked video's frames found in the upload.
* threatexchange matches when query% >= 80 (its compared threshold is 0): an excerpt of a banked
  video matches. We also match when compared% >= 80: a compilation that contains a banked video
  matches too, which threatexchange's rule misses. The rule is symmetric, so a sweep (bank entry
  against stored uploads) and a scan (upload against the bank) agree.
* At least MIN_MATCHED_FRAMES frames must match on the side that passes (or all of them when the
  video has fewer), so a long video cannot pass on the strength of a single chance hit.

The frame index: every usable frame of every vPDQ row goes into a PDQIndex under the row's id
(exact Hamming search, as for images), and the row's usable frames are kept beside it so that
both percentages can be computed for the candidates the index finds.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from staydown.errors import InvalidInput
from staydown.matching.hamming import as_words, pdq_from_hex
from staydown.matching.index import FORMAT_VERSION, IndexFileError, PDQIndex, _read_meta, _read_npy, _write_dir

__all__ = [
    "COMPARED_MATCH_PERCENT",
    "MAX_VPDQ_FRAMES",
    "MIN_MATCHED_FRAMES",
    "QUERY_MATCH_PERCENT",
    "VPDQ_DISTANCE_THRESHOLD",
    "VPDQ_QUALITY_THRESHOLD",
    "Feature",
    "TwoWay",
    "VideoIndex",
    "canonical",
    "digest",
    "parse",
    "serialise",
    "two_way",
    "usable",
]

VPDQ_QUALITY_THRESHOLD = 50  # threatexchange's VPDQ_QUALITY_THRESHOLD
VPDQ_DISTANCE_THRESHOLD = 31  # threatexchange's VPDQ_DISTANCE_THRESHOLD
QUERY_MATCH_PERCENT = 80.0  # threatexchange's VPDQ_QUERY_MATCH_THRESHOLD_PERCENT
COMPARED_MATCH_PERCENT = 80.0  # ours (threatexchange's index uses 0 and matches only on query%)
MIN_MATCHED_FRAMES = 3
# Uploads are hashed every 0.125 s and kept so (media/video.py); the index of stored content takes a
# frame every CONTENT_INDEX_SPACING seconds of them, which bounds its memory. A dense side meets a
# sparse one within half the dense spacing, which is what makes trimmed copies match (bench/video.py).
CONTENT_INDEX_SPACING = 0.5
# A signal longer than this is refused on import and on /v1/match: 5.5 hours at one hash a second.
MAX_VPDQ_FRAMES = 20_000
MAX_VPDQ_TEXT = MAX_VPDQ_FRAMES * 90


@dataclass(frozen=True, slots=True)
class Feature:
    pdq: str  # 64 lower-case hex digits
    quality: int  # 0..100
    timestamp: float  # seconds, >= 0

    def __str__(self) -> str:
        return f"{self.pdq},{self.quality},{self.timestamp:.3f}"


def _feature(pdq: object, quality: object, timestamp: object, where: str) -> Feature:
    text = str(pdq).strip().lower()
    if len(text) != 64:
        raise InvalidInput(f"vPDQ {where}: a frame's PDQ is 64 hexadecimal characters, not {str(pdq)[:80]!r}")
    try:
        int(text, 16)
        q = int(str(quality))
        t = float(str(timestamp))
    except ValueError:
        raise InvalidInput(
            f"vPDQ {where}: expected 'pdq_hex,quality,timestamp', got {f'{pdq},{quality},{timestamp}'[:120]!r}"
        ) from None
    if not 0 <= q <= 100:
        raise InvalidInput(f"vPDQ {where}: quality {q} is not between 0 and 100")
    if not (math.isfinite(t) and t >= 0):
        raise InvalidInput(f"vPDQ {where}: timestamp {timestamp!r} is not a non-negative number")
    return Feature(text, q, round(t, 3))


def parse(text: str) -> list[Feature]:
    """Frame features from threatexchange's text form (the list form or its older object form).
    Raises InvalidInput saying what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("a vPDQ signal is threatexchange's JSON list of 'pdq_hex,quality,timestamp' strings")
    if len(text) > MAX_VPDQ_TEXT:
        raise InvalidInput(f"a vPDQ signal is at most {MAX_VPDQ_TEXT} characters ({MAX_VPDQ_FRAMES} frames)")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"a vPDQ signal is JSON (threatexchange's form); this is not: {exc}") from None
    except RecursionError:  # "[[[[..." within the length limit
        raise InvalidInput("a vPDQ signal is a flat JSON list; this one is nested") from None
    features: list[Feature] = []
    if isinstance(data, list):
        for i, item in enumerate(data):
            if not isinstance(item, str) or item.count(",") != 2:
                raise InvalidInput(f"vPDQ frame {i}: expected 'pdq_hex,quality,timestamp', got {str(item)[:120]!r}")
            pdq, quality, timestamp = item.split(",")
            features.append(_feature(pdq, quality, timestamp, where=f"frame {i}"))
    elif isinstance(data, dict):  # threatexchange's older form, keyed by frame number
        for key, item in data.items():
            if not isinstance(item, dict) or not {"hash", "quality", "timestamp"} <= set(item):
                raise InvalidInput(f"vPDQ frame {str(key)[:20]}: expected hash, quality and timestamp")
            features.append(_feature(item["hash"], item["quality"], item["timestamp"], where=f"frame {str(key)[:20]}"))
    else:
        raise InvalidInput("a vPDQ signal is a JSON list of 'pdq_hex,quality,timestamp' strings")
    if not features:
        raise InvalidInput("a vPDQ signal holds at least one frame")
    if len(features) > MAX_VPDQ_FRAMES:
        raise InvalidInput(f"a vPDQ signal holds at most {MAX_VPDQ_FRAMES} frames, not {len(features)}")
    return features


def serialise(features: list[Feature]) -> str:
    """threatexchange's list form, without spaces (so that a 'type signal' line stays two fields)."""
    return json.dumps([str(f) for f in features], separators=(",", ":"))


def canonical(text: str) -> str:
    return serialise(parse(text))


def digest(canonical_text: str) -> str:
    """What a vpdq row keeps in its `signal` column: the SHA-256 of the canonical text."""
    return hashlib.sha256(canonical_text.encode("ascii")).hexdigest()


def usable(features: list[Feature], *, quality: int = VPDQ_QUALITY_THRESHOLD, spacing: float = 0.0) -> np.ndarray:
    """The frames that take part in matching, as (n, 32) uint8: quality at least `quality`, each
    hash once, in order of first appearance. With `spacing`, frames are first thinned to one at
    least that many seconds after the last one kept (by timestamp alone, so that two copies that
    start together keep the same frames; see spaced())."""
    seen: set[str] = set()
    keep: list[str] = []
    for f in spaced(features, spacing) if spacing else features:
        if f.quality >= quality and f.pdq not in seen:
            seen.add(f.pdq)
            keep.append(f.pdq)
    return pdq_from_hex(keep) if keep else np.zeros((0, 32), np.uint8)


def spaced(items: list, spacing: float) -> list:
    """The first item, then each one whose `timestamp` is at least `spacing` seconds after the last
    one taken (a millisecond's slack for rounded timestamps)."""
    out = []
    last = -math.inf
    for item in items:
        if item.timestamp >= last + spacing - 1e-3:
            out.append(item)
            last = item.timestamp
    return out


def usable_hex(pdqs: list[tuple[str, int]], *, quality: int = VPDQ_QUALITY_THRESHOLD) -> np.ndarray:
    """As `usable`, from (pdq, quality) pairs."""
    return usable([Feature(p, q, 0.0) for p, q in pdqs], quality=quality)


# -- the two-way rule -----------------------------------------------------------------------------


@numba.njit(cache=True)
def _pairwise(q: np.ndarray, w: np.ndarray, threshold: int, q_best: np.ndarray, w_hit: np.ndarray) -> None:
    # q_best[i]: the smallest distance from query frame i to any frame of w; w_hit[j]: whether
    # frame j of w is within `threshold` of some query frame.
    for i in range(q.shape[0]):
        best = 257
        a0, a1, a2, a3 = q[i, 0], q[i, 1], q[i, 2], q[i, 3]
        for j in range(w.shape[0]):
            d = _popcount(a0 ^ w[j, 0]) + _popcount(a1 ^ w[j, 1]) + _popcount(a2 ^ w[j, 2]) + _popcount(a3 ^ w[j, 3])
            if d < best:
                best = d
            if d <= threshold:
                w_hit[j] = True
        q_best[i] = best


@numba.njit(inline="always", cache=True)
def _popcount(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return int((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@dataclass(frozen=True, slots=True)
class TwoWay:
    query_percent: float  # share of the query's usable frames found in the other video
    compared_percent: float  # share of the other video's usable frames found in the query
    query_matched: int
    compared_matched: int
    query_frames: int
    compared_frames: int
    distance: int  # median distance of the query's matched frames to their nearest frame

    def matches(
        self,
        *,
        query_percent: float = QUERY_MATCH_PERCENT,
        compared_percent: float = COMPARED_MATCH_PERCENT,
        min_frames: int = MIN_MATCHED_FRAMES,
    ) -> bool:
        """threatexchange's query-side rule, or its mirror image on the compared side (see the module
        docstring), each needing MIN_MATCHED_FRAMES matched frames or all of a shorter side's."""
        q_ok = self.query_percent >= query_percent and self.query_matched >= min(min_frames, self.query_frames)
        c_ok = self.compared_percent >= compared_percent and self.compared_matched >= min(
            min_frames, self.compared_frames
        )
        return (q_ok or c_ok) and self.query_matched > 0


def two_way(query: np.ndarray, compared: np.ndarray, threshold: int = VPDQ_DISTANCE_THRESHOLD) -> TwoWay:
    """Both match percentages between two videos' usable frames (uint8 (n, 32) or uint64 (n, 4))."""
    q = _words(query)
    w = _words(compared)
    if q.shape[0] == 0 or w.shape[0] == 0:
        return TwoWay(0.0, 0.0, 0, 0, q.shape[0], w.shape[0], 257)
    q_best = np.empty(q.shape[0], np.int64)
    w_hit = np.zeros(w.shape[0], np.bool_)
    _pairwise(q, w, int(threshold), q_best, w_hit)
    hit = q_best <= threshold
    qm, cm = int(hit.sum()), int(w_hit.sum())
    distance = int(np.median(q_best[hit])) if qm else int(q_best.min())
    return TwoWay(100.0 * qm / q.shape[0], 100.0 * cm / w.shape[0], qm, cm, q.shape[0], w.shape[0], distance)


def _words(hashes: np.ndarray) -> np.ndarray:
    if hashes.dtype == np.uint64 and hashes.ndim == 2 and hashes.shape[1] == 4:
        return np.ascontiguousarray(hashes)
    return np.ascontiguousarray(as_words(np.ascontiguousarray(hashes)))


# -- the index ------------------------------------------------------------------------------------


class VideoIndex:
    """Frames of vPDQ rows: a PDQIndex of every usable frame under its row's id, and each row's
    usable frames (uint64 words) for the two-way rule. Not thread-safe: the replica's lock guards it."""

    def __init__(self) -> None:
        self.frames = PDQIndex()
        self.rows: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, row_id: int, hashes: np.ndarray) -> None:
        """Index a row's usable frames ((n, 32) uint8). A row with none is not indexed (it can match
        only by its digests), as threatexchange does."""
        if hashes.shape[0] == 0:
            return
        self.frames.add(np.full(hashes.shape[0], row_id, np.int64), np.ascontiguousarray(hashes))
        self.rows[int(row_id)] = _words(hashes).copy()

    def remove(self, ids: np.ndarray) -> None:
        present = [int(i) for i in ids.tolist() if int(i) in self.rows]
        if not present:
            return
        self.frames.remove(np.array(present, np.int64))
        for i in present:
            del self.rows[i]

    def candidates(self, hashes: np.ndarray, radius: int) -> dict[int, int]:
        """Rows with at least one frame within `radius` of a query frame: row id -> how many query
        frames found it."""
        if hashes.shape[0] == 0 or not self.rows:
            return {}
        found = self.frames.search(np.ascontiguousarray(hashes), radius=radius)
        ids, counts = np.unique(found.ids, return_counts=True)
        return {int(i): int(c) for i, c in zip(ids, counts, strict=True)}

    def save(self, root: Path, *, checkpoint: int) -> None:
        self.frames.save(root / "frames", checkpoint=checkpoint)
        ids = np.fromiter(self.rows.keys(), np.int64, len(self.rows))
        counts = np.fromiter((w.shape[0] for w in self.rows.values()), np.int64, len(self.rows))
        words = np.concatenate(list(self.rows.values())) if self.rows else np.zeros((0, 4), np.uint64)

        def write(tmp: Path) -> None:
            np.save(tmp / "ids.npy", ids, allow_pickle=False)
            np.save(tmp / "counts.npy", counts, allow_pickle=False)
            np.save(tmp / "words.npy", words, allow_pickle=False)

        _write_dir(
            root / "rows",
            write,
            {
                "format": "staydown-vpdq-rows",
                "version": FORMAT_VERSION,
                "checkpoint": int(checkpoint),
                "rows": len(self.rows),
                "frames": int(words.shape[0]),
            },
        )

    @classmethod
    def load(cls, root: Path) -> tuple[VideoIndex, int]:
        frames, checkpoint = PDQIndex.load(root / "frames")
        meta = _read_meta(root / "rows", "staydown-vpdq-rows")
        if int(meta["checkpoint"]) != checkpoint:
            raise IndexFileError(f"{root}: parts saved at different checkpoints")
        n, total = int(meta["rows"]), int(meta["frames"])
        ids = np.empty(n, np.int64)
        counts = np.empty(n, np.int64)
        words = np.empty((total, 4), np.uint64)
        _read_npy(root / "rows" / "ids.npy", ids)
        _read_npy(root / "rows" / "counts.npy", counts)
        _read_npy(root / "rows" / "words.npy", words)
        if int(counts.sum()) != total:
            raise IndexFileError(f"{root}: row frame counts do not add up")
        index = cls()
        index.frames = frames
        starts = np.concatenate([[0], np.cumsum(counts)])
        index.rows = {int(i): words[starts[k] : starts[k + 1]] for k, i in enumerate(ids.tolist())}
        return index, checkpoint


def frames_from_row(text: str | None, *, spacing: float = 0.0) -> np.ndarray:
    """The usable frames of a stored vpdq row (its `frames` column)."""
    if not text:
        return np.zeros((0, 32), np.uint8)
    return usable(parse(text), spacing=spacing)
