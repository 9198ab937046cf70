"""The match indexes: exact Hamming-radius search over PDQ hashes, and exact lookup of MD5/SHA-256 digests."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from math import comb
from pathlib import Path

import numba
import numpy as np

from staydown.matching import _kernels as k
from staydown.matching.hamming import (
    MAX_RADIUS,
    HashInputError,
    as_words,
    check_ids,
    check_radius,
    pdq_from_hex,
    pdq_to_hex,
)

__all__ = [
    "ExactIndex",
    "HashInputError",
    "IndexFileError",
    "Matches",
    "PDQIndex",
    "pdq_from_hex",
    "pdq_to_hex",
]

FORMAT_VERSION = 1

# (substring width in bits, flips probed at radius 31). sum(k + 1) must be >= MAX_RADIUS + 1 and the
# widths must sum to <= 256. Ten tables: nine would save 40 MB at 10M rows but cost ~1.7x the probes.
_TABLES = ((28, 3), (28, 3)) + ((25, 2),) * 8

# Rows sit in uint32 table entries together with the low key bits, so the row number may use at most
# 32 - (low bits) bits; rows beyond what the tables were planned for trigger a rebuild.
_ENTRY_BITS = 32

_RESULT_WIDTH = 16  # hits stored per query before a rerun with more room (random data has ~0-1)
_QUERY_BLOCK = 16384  # queries per kernel call, bounding the output buffers
_REGION_BUCKETS_LOG2 = 12  # buckets per region for batches: ~150 KB of entries at 10M rows, stays in L2
_THREADS_MIN = 16  # fewer queries than this are searched on the calling thread alone
_BATCH_MIN = 1024  # from this many queries per call, the region-by-region kernel is faster


class IndexFileError(ValueError):
    """A saved index directory is missing, incomplete, or of another format version."""


@dataclass(frozen=True)
class Matches:
    """Flat search results, sorted by query, then distance, then id; one row per (query, id)."""

    query: np.ndarray  # int64, position of the query in the batch
    ids: np.ndarray  # int64
    distances: np.ndarray  # int32

    def __len__(self) -> int:
        return int(self.query.shape[0])

    def per_query(self, n_queries: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """The same results as one (ids, distances) pair per query, in query order."""
        if n_queries == 0:
            return []
        cuts = np.searchsorted(self.query, np.arange(1, n_queries))
        return list(zip(np.split(self.ids, cuts), np.split(self.distances, cuts), strict=True))


@dataclass(frozen=True)
class _Plan:
    """Where each table's substring sits and how it is split, fixed when the tables are built."""

    starts: np.ndarray  # int64 (m,), first bit of the substring
    ndirect: np.ndarray  # int64 (m,), bits addressed through offsets
    nlow: np.ndarray  # int64 (m,), bits packed into the entries
    obase: np.ndarray  # int64 (m,), where table t's offsets start in the flat offsets array
    tmasks: np.ndarray  # uint64 (m, 4), the bits each table looks at (for the first-table rule)
    ks: np.ndarray  # int64 (MAX_RADIUS + 1, m), flips per table for each radius; -1 = table skipped
    row_limit: int  # rows the packed entries can address
    probes: tuple  # per radius: (start (m + 1,), flip masks, low-bit flips left), see mih_search
    region_bits: np.ndarray  # int64 (m,), top direct bits that pick a region in mih_search_batch
    region_probes: tuple  # (start (m, kmax + 2), flip masks, low-bit flips left), see mih_search_batch

    @property
    def n_offsets(self) -> int:
        return int(self.obase[-1] + (1 << int(self.ndirect[-1])) + 1)

    def to_json(self) -> dict:
        return {"ndirect": self.ndirect.tolist(), "nlow": self.nlow.tolist()}


def _visits(nd: int, kk: int) -> int:
    return sum(_comb(nd, j) for j in range(min(kk, nd) + 1))


def _comb(n: int, r: int) -> int:
    return comb(n, r) if 0 <= r <= n else 0


def _plan(capacity: int, *, ndirect: Sequence[int] | None = None, nlow: Sequence[int] | None = None) -> _Plan:
    """Split each table's substring into direct and low bits for `capacity` rows.

    About 2^(log2 n - 4) buckets (16 rows per bucket at full capacity, ~10 at the planned size):
    fewer buckets mean fewer, longer sequential scans; more mean fewer candidates but 4 bytes of
    offsets each. Low bits use whatever the row number leaves free in the 32-bit entry.
    """
    row_bits = max(16, int(capacity).bit_length())
    if row_bits >= _ENTRY_BITS:
        raise HashInputError(f"an index holds fewer than {1 << (_ENTRY_BITS - 1)} hashes; partition by prefix")
    low_max = _ENTRY_BITS - row_bits
    nd_target = min(22, max(4, row_bits - 4))
    m = len(_TABLES)
    starts = np.zeros(m, np.int64)
    nd_arr = np.zeros(m, np.int64)
    nl_arr = np.zeros(m, np.int64)
    pos = 0
    for t, (width, _) in enumerate(_TABLES):
        starts[t] = pos
        if ndirect is not None and nlow is not None:
            nd, nl = int(ndirect[t]), int(nlow[t])
        else:
            nd = min(width, 24, max(nd_target, width - low_max))
            nl = min(width - nd, low_max)
        if nd < 1 or nl < 0 or nd + nl > width or nl > low_max:
            raise IndexFileError(f"table {t} split {nd}+{nl} does not fit a {width}-bit substring")
        nd_arr[t], nl_arr[t] = nd, nl
        pos += width
    obase = np.zeros(m, np.int64)
    for t in range(1, m):
        obase[t] = obase[t - 1] + (1 << int(nd_arr[t - 1])) + 1
    tmasks = np.zeros((m, 4), np.uint64)
    for t in range(m):
        for bit in range(int(starts[t]), int(starts[t] + nd_arr[t] + nl_arr[t])):
            tmasks[t, bit >> 6] |= np.uint64(1 << (bit & 63))
    ks = _flips_by_radius(nd_arr, nl_arr, capacity)
    probes = tuple(_probe_lists(nd_arr, ks[r]) for r in range(MAX_RADIUS + 1))
    region_bits = np.maximum(0, nd_arr - _REGION_BUCKETS_LOG2)
    return _Plan(
        starts,
        nd_arr,
        nl_arr,
        obase,
        tmasks,
        ks,
        row_limit=1 << (_ENTRY_BITS - int(nl_arr.max())),
        probes=probes,
        region_bits=region_bits,
        region_probes=_region_probe_lists(nd_arr - region_bits),
    )


def _region_probe_lists(nbits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each table and each budget b <= the most flips any table uses, every mask of at most b
    of the table's `nbits[t]` in-region direct bits, with the b - |mask| flips left for the low bits."""
    kmax = max(kk for _, kk in _TABLES)
    flips: list[int] = []
    rem: list[int] = []
    start = np.zeros((len(nbits), kmax + 2), np.int64)
    for t, nb in enumerate(nbits):
        for budget in range(kmax + 1):
            start[t, budget] = len(flips)
            for j in range(min(budget, int(nb)) + 1):
                for bits in combinations(range(int(nb)), j):
                    flips.append(sum(1 << b for b in bits))
                    rem.append(budget - j)
        start[t, kmax + 1] = len(flips)
    return start, np.array(flips, np.int64), np.array(rem, np.int64)


def _probe_lists(nd: np.ndarray, ks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each table, every mask of at most ks[t] of its direct bits, and the flips left for the
    low bits after it; concatenated, with table t's at [start[t], start[t + 1])."""
    flips: list[int] = []
    rem: list[int] = []
    start = [0]
    for t in range(len(nd)):
        for j in range(min(int(ks[t]), int(nd[t])) + 1):
            for bits in combinations(range(int(nd[t])), j):
                flips.append(sum(1 << b for b in bits))
                rem.append(int(ks[t]) - j)
        start.append(len(flips))
    return np.array(start, np.int64), np.array(flips, np.int64), np.array(rem, np.int64)


def _flips_by_radius(nd: np.ndarray, nl: np.ndarray, n: int) -> np.ndarray:
    """Flips per table for each radius: start from the radius-31 split and, while sum(k + 1) exceeds
    radius + 1, lower the table whose probes cost most. Any split with sum(k + 1) >= radius + 1 is
    exact, so this only decides speed."""
    m = len(_TABLES)
    out = np.zeros((MAX_RADIUS + 1, m), np.int64)
    design = [kk for _, kk in _TABLES]
    if sum(kk + 1 for kk in design) < MAX_RADIUS + 1:
        raise AssertionError("table split cannot guarantee recall at the largest radius")

    def cost(t: int, kk: int) -> float:
        if kk < 0:
            return 0.0
        bits = int(nd[t] + nl[t])
        cands = sum(_comb(bits, j) for j in range(kk + 1)) * n / 2.0**bits
        return 2.0 * _visits(int(nd[t]), kk) + 4.0 * cands

    for radius in range(MAX_RADIUS, -1, -1):
        cur = list(design) if radius == MAX_RADIUS else list(out[radius + 1])
        while sum(kk + 1 for kk in cur) > radius + 1:
            t = max((t for t in range(m) if cur[t] >= 0), key=lambda t: cost(t, cur[t]) - cost(t, cur[t] - 1))
            cur[t] -= 1
        out[radius] = cur
    return out


class _IdColumn:
    """Ids of the main rows, non-decreasing; uint32 offsets from a base when they span < 2^32."""

    def __init__(self, ids: np.ndarray, capacity: int) -> None:
        self.base = int(ids.min()) if ids.size else 0
        span = int(ids.max()) - self.base if ids.size else 0
        dtype = np.uint32 if span < (1 << 32) else np.int64
        if dtype == np.int64:
            self.base = 0
        self.data = np.empty(capacity, dtype)
        self.data[: ids.size] = ids - self.base
        self.n = ids.size

    def fits(self, ids: np.ndarray) -> bool:
        if self.data.dtype == np.int64:
            return True
        return bool(ids.size == 0 or (ids.min() >= self.base and ids.max() - self.base < (1 << 32)))

    def append(self, ids: np.ndarray) -> None:
        self.data[self.n : self.n + ids.size] = ids - self.base
        self.n += ids.size

    def get(self, rows: np.ndarray) -> np.ndarray:
        return self.data[rows].astype(np.int64) + self.base

    def ranges(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[lo, hi) row ranges holding each id (empty where absent)."""
        col = self.data[: self.n]
        if col.dtype == np.uint32:
            ok = (ids >= self.base) & (ids - self.base < (1 << 32))
            ids = ids[ok]
        needle = (ids - self.base).astype(col.dtype)
        return np.searchsorted(col, needle, "left"), np.searchsorted(col, needle, "right")

    @property
    def max(self) -> int:
        return int(self.data[self.n - 1]) + self.base if self.n else -(1 << 63)


def _bitmap(capacity: int) -> np.ndarray:
    return np.zeros(capacity // 8 + 1, np.uint8)


def _bits_get(bitmap: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return ((bitmap[rows >> 3] >> (rows & 7).astype(np.uint8)) & 1).astype(bool)


def _bits_set(bitmap: np.ndarray, rows: np.ndarray) -> None:
    np.bitwise_or.at(bitmap, rows >> 3, (1 << (rows & 7)).astype(np.uint8))


def _expand_ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    lens = hi - lo
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    starts = np.repeat(lo - (np.cumsum(lens) - lens), lens)
    return (np.arange(total, dtype=np.int64) + starts).astype(np.int64)


class PDQIndex:
    """Exact Hamming-radius search over 256-bit PDQ hashes, with incremental add and remove.

    Every stored hash within `radius` bits of a query is returned (100% recall) for any radius in
    [0, 31]. Ids are int64 and need not be unique: one id may carry several hashes (say, the eight
    rotations of one image), and `remove` disables all of them. Results carry each id once per query,
    at its smallest distance.

    How (multi-index hashing, Norouzi et al.): the 256 bits are cut into 10 disjoint substrings, one
    table per substring. Table t is probed with every key within k_t bits of the query's substring,
    with sum(k_t + 1) >= radius + 1. A stored hash more than k_t bits away in every substring would be
    at least sum(k_t + 1) > radius bits away in total, so anything within the radius is found in at
    least one table (pigeonhole), and every candidate is checked against the full 256-bit distance.
    A hash is reported only from the first table that finds it, so there are no duplicates. At radius
    31 the split is 2 tables of 28 bits probed at k = 3 and 8 tables of 25 bits at k = 2; smaller radii
    lower the k of the costliest tables first.

    Each table is a CSR over the high (direct) bits of its substring: `offsets` per bucket, and one
    uint32 per stored hash holding the row number with the substring's remaining low bits packed into
    its spare bits, so most candidates are rejected without reading the 32-byte hash. Memory at n
    rows is about n * (32 hash + 4 id + 4 * 10 tables) bytes plus 4 MB of offsets per table: ~800 MB
    at 10M. Batches of 1,024 queries or more are answered region by region through each table (random
    memory reads, not arithmetic, are what limit this on a small machine); a few queries are answered
    on the calling thread.

    Clustered data (many near-identical hashes) makes some buckets huge; a query whose work passes a
    budget set near the cost of a full scan is answered by a full scan instead, so the worst case is
    bounded by about two scans and the answer stays exact either way (`full_scans` counts them).

    Changes apply at once: `add` puts hashes in a small delta that is searched by brute force, and
    when it passes `delta_limit` rows it is merged into the tables in place (one pass over each
    table); `remove` sets a tombstone bit that the search honours immediately. `compact` rebuilds
    without the removed rows. Rows are kept sorted by id, so `remove` is a binary search, not a scan.

    `save(path, checkpoint=...)` writes plain .npy files and a JSON manifest (no pickle); `load` reads
    them back into memory with the checkpoint (the database sequence number the index has applied),
    so a restarted node resumes from there. Not safe for concurrent writers: the layer that feeds it
    serialises writes, and searches must not run during a write.
    """

    def __init__(self, *, delta_limit: int = 32768, work_budget: int | None = None) -> None:
        """An empty index. `delta_limit`: rows searched by brute force before they are merged.
        `work_budget`: per-query work before falling back to a full scan (None: about two scans'
        worth; tests lower it to exercise the fallback)."""
        if delta_limit < 1:
            raise HashInputError("delta_limit must be positive")
        self.delta_limit = int(delta_limit)
        self._budget_override = work_budget
        self.full_scans = 0  # queries answered by a full scan so far (clustered data; see work_budget)
        self._reset_main(0)
        self._d_words = np.empty((0, 4), np.uint64)
        self._d_ids = np.empty(0, np.int64)
        self._d_dead = _bitmap(0)
        self._dn = 0
        self._d_n_dead = 0

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def build(
        cls, ids: np.ndarray, hashes: np.ndarray, *, delta_limit: int = 32768, work_budget: int | None = None
    ) -> PDQIndex:
        """An index holding these hashes, built in one pass (faster than `add` for a bulk load)."""
        index = cls(delta_limit=delta_limit, work_budget=work_budget)
        words = as_words(hashes)
        index._rebuild(check_ids(ids, words.shape[0]), words)
        return index

    def _reset_main(self, capacity: int) -> None:
        self._plan = _plan(max(capacity, 1))
        self._n = 0
        self._words = np.empty((capacity, 4), np.uint64)
        self._ids = _IdColumn(np.zeros(0, np.int64), capacity)
        self._dead = _bitmap(capacity)
        self._n_dead = 0
        self._entries = np.empty((len(_TABLES), capacity), np.uint32)
        self._offsets = np.zeros(self._plan.n_offsets, np.uint32)

    def _capacity_for(self, n: int) -> int:
        return n + max(n // 4, 4 * self.delta_limit, 1024)

    def _rebuild(self, ids: np.ndarray, words: np.ndarray) -> None:
        """Replace the main part with exactly these rows (sorted by id here) and an empty delta."""
        n = ids.shape[0]
        order = None if n < 2 or bool(np.all(ids[1:] >= ids[:-1])) else np.argsort(ids, kind="stable")
        # Drop the old arrays before allocating the new ones so a rebuild peaks lower.
        self._entries = self._words = None  # type: ignore[assignment]
        capacity = self._capacity_for(n)
        self._plan = _plan(capacity)
        self._words = np.empty((capacity, 4), np.uint64)
        if order is None:
            self._words[:n] = words
            self._ids = _IdColumn(ids, capacity)
        else:
            np.take(words, order, axis=0, out=self._words[:n])
            self._ids = _IdColumn(ids[order], capacity)
        del order
        self._n = n
        self._dead = _bitmap(capacity)
        self._n_dead = 0
        self._entries = np.empty((len(_TABLES), capacity), np.uint32)
        self._offsets = np.zeros(self._plan.n_offsets, np.uint32)
        p = self._plan
        k.build_tables(self._words, n, p.starts, p.ndirect, p.nlow, p.obase, self._offsets, self._entries)
        self._clear_delta()

    def _clear_delta(self) -> None:
        self._d_words = np.empty((0, 4), np.uint64)
        self._d_ids = np.empty(0, np.int64)
        self._d_dead = _bitmap(0)
        self._dn = 0
        self._d_n_dead = 0

    # -- changes --------------------------------------------------------------------------------

    def add(self, ids: np.ndarray, hashes: np.ndarray) -> None:
        """Add hashes under these ids; they match from the moment this returns."""
        words = as_words(hashes)
        ids = check_ids(ids, words.shape[0])
        n = ids.shape[0]
        if n == 0:
            return
        need = self._dn + n
        if need > self._d_words.shape[0]:
            cap = max(need, 2 * self._d_words.shape[0], 1024)
            grown = np.empty((cap, 4), np.uint64)
            grown[: self._dn] = self._d_words[: self._dn]
            grown_ids = np.empty(cap, np.int64)
            grown_ids[: self._dn] = self._d_ids[: self._dn]
            dead = _bitmap(cap)
            dead[: self._d_dead.shape[0]] = self._d_dead
            self._d_words, self._d_ids, self._d_dead = grown, grown_ids, dead
        self._d_words[self._dn : need] = words
        self._d_ids[self._dn : need] = ids
        self._dn = need
        if self._dn >= self.delta_limit:
            self.merge()

    def remove(self, ids: np.ndarray) -> int:
        """Disable every hash stored under these ids at once; returns how many hashes were disabled.
        Hashes added under the same id later match again."""
        ids = np.unique(check_ids(ids))
        if ids.size == 0:
            return 0
        removed = 0
        if self._n:
            lo, hi = self._ids.ranges(ids)
            rows = _expand_ranges(lo, hi)
            rows = rows[~_bits_get(self._dead, rows)]
            _bits_set(self._dead, rows)
            self._n_dead += rows.size
            removed += rows.size
        if self._dn:
            rows = np.flatnonzero(np.isin(self._d_ids[: self._dn], ids))
            rows = rows[~_bits_get(self._d_dead, rows)]
            _bits_set(self._d_dead, rows)
            self._d_n_dead += rows.size
            removed += rows.size
        return removed

    def merge(self) -> None:
        """Move the delta into the tables. In place (one pass per table) when the new ids are not
        below the stored ones and there is room; otherwise a full rebuild."""
        if self._dn == 0:
            return
        live = np.flatnonzero(~_bits_get(self._d_dead, np.arange(self._dn)))
        ids = self._d_ids[live]
        words = self._d_words[live]
        order = np.argsort(ids, kind="stable")
        ids, words = ids[order], words[order]
        n_new = self._n + ids.size
        fast = (
            self._n > 0
            and ids.size > 0
            and int(ids[0]) >= self._ids.max
            and n_new <= self._words.shape[0]
            and n_new <= self._plan.row_limit
            and self._ids.fits(ids)
        )
        if fast:
            self._words[self._n : n_new] = words
            self._ids.append(ids)
            p = self._plan
            k.append_tables(
                self._words, self._n, n_new, p.starts, p.ndirect, p.nlow, p.obase, self._offsets, self._entries
            )
            self._n = n_new
            self._clear_delta()
        elif ids.size:
            self._rebuild(*self._live_rows(extra_ids=ids, extra_words=words))
        else:
            self._clear_delta()

    def compact(self) -> None:
        """Rebuild the tables from the live hashes only: merges the delta and frees removed rows."""
        self._rebuild(*self._live_rows())

    def _live_rows(
        self, *, extra_ids: np.ndarray | None = None, extra_words: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        if extra_ids is None:
            live_d = np.flatnonzero(~_bits_get(self._d_dead, np.arange(self._dn)))
            extra_ids, extra_words = self._d_ids[live_d], self._d_words[live_d]
        live = np.flatnonzero(~_bits_get(self._dead, np.arange(self._n)))
        ids = np.concatenate([self._ids.get(live), extra_ids])
        words = np.concatenate([self._words[live], extra_words])
        return ids, words

    # -- queries --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._n - self._n_dead + self._dn - self._d_n_dead

    @property
    def pending(self) -> int:
        """Rows in the delta (searched by brute force until the next merge)."""
        return self._dn

    def largest_buckets(self) -> np.ndarray:
        """The size of the fullest bucket of each table: a skew gauge (uniform data at 10M: ~30)."""
        p = self._plan
        out = np.zeros(len(_TABLES), np.int64)
        for t in range(len(_TABLES)):
            lo = int(p.obase[t])
            off = self._offsets[lo : lo + (1 << int(p.ndirect[t])) + 1]
            out[t] = int(np.diff(off).max(initial=0)) if off.size > 1 else 0
        return out

    def search(self, hashes: np.ndarray, *, radius: int = MAX_RADIUS) -> Matches:
        """Every stored id within `radius` bits of each query, as flat arrays (see `Matches`)."""
        radius = check_radius(radius)
        qwords = np.ascontiguousarray(as_words(hashes, name="queries"))
        parts = []
        if self._n:
            parts.append(self._search_main(qwords, radius))
        if self._dn:
            q, rows, dist = _with_reruns(
                lambda qw, width: _brute(qw, self._d_words, self._dn, self._d_dead, radius, width), qwords
            )
            parts.append((q, self._d_ids[rows], dist))
        if not parts:
            empty = np.zeros(0, np.int64)
            return Matches(empty, empty.copy(), np.zeros(0, np.int32))
        q = np.concatenate([p[0] for p in parts])
        ids = np.concatenate([p[1] for p in parts])
        dist = np.concatenate([p[2] for p in parts]).astype(np.int32)
        # One id may have several matching hashes; keep its closest (the first after this sort).
        order = np.lexsort((dist, ids, q))
        q, ids, dist = q[order], ids[order], dist[order]
        first = np.ones(q.size, bool)
        first[1:] = (q[1:] != q[:-1]) | (ids[1:] != ids[:-1])
        q, ids, dist = q[first], ids[first], dist[first]
        order = np.lexsort((ids, dist, q))
        return Matches(q[order], ids[order], dist[order])

    def query(self, hashes: np.ndarray, *, radius: int = MAX_RADIUS) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each query hash, (ids int64, distances int32) of every stored id within `radius`,
        closest first."""
        n_queries = as_words(hashes, name="queries").shape[0]
        return self.search(hashes, radius=radius).per_query(n_queries)

    def _search_main(self, qwords: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = self._plan
        ks = p.ks[radius]
        budget = self._budget_override if self._budget_override is not None else 2 * self._n + 100_000
        qs, rows, dists = [], [], []
        for start in range(0, qwords.shape[0], _QUERY_BLOCK):
            block = qwords[start : start + _QUERY_BLOCK]
            nq = block.shape[0]
            if nq >= _BATCH_MIN:
                # Large batches go region by region through the tables (see mih_search_batch).
                bq, br, bd, aborted = self._search_batch(block, radius, ks, budget)
                count = np.zeros(nq, np.int64)
            else:
                out_rows = np.empty((nq, _RESULT_WIDTH), np.int64)
                out_dist = np.empty((nq, _RESULT_WIDTH), np.int64)
                count = np.empty(nq, np.int64)
                aborted = np.empty(nq, np.bool_)
                kernel = k.mih_search if nq >= _THREADS_MIN else k.mih_search_serial
                kernel(  # type: ignore[call-arg]  # numba's Dispatcher stub does not know the kernel's parameters
                    block,
                    self._words,
                    self._dead,
                    self._entries,
                    self._offsets,
                    p.obase,
                    p.starts,
                    p.ndirect,
                    p.nlow,
                    p.tmasks,
                    ks,
                    *p.probes[radius],
                    radius,
                    budget,
                    out_rows,
                    out_dist,
                    count,
                    aborted,
                )
                bq, br, bd = _collect(out_rows, out_dist, count, keep=~aborted & (count <= _RESULT_WIDTH))
            qs.append(bq + start)
            rows.append(br)
            dists.append(bd)
            # More hits than the buffer held: run those queries again with room for all of them.
            more = np.flatnonzero(~aborted & (count > _RESULT_WIDTH))
            if more.size:
                width = int(count[more].max())
                sub = np.ascontiguousarray(block[more])
                o_rows = np.empty((more.size, width), np.int64)
                o_dist = np.empty((more.size, width), np.int64)
                o_count = np.empty(more.size, np.int64)
                o_aborted = np.empty(more.size, np.bool_)
                k.mih_search(  # type: ignore[call-arg]  # numba's Dispatcher stub does not know the kernel's parameters
                    sub,
                    self._words,
                    self._dead,
                    self._entries,
                    self._offsets,
                    p.obase,
                    p.starts,
                    p.ndirect,
                    p.nlow,
                    p.tmasks,
                    ks,
                    *p.probes[radius],
                    radius,
                    budget,
                    o_rows,
                    o_dist,
                    o_count,
                    o_aborted,
                )
                mq, mr, md = _collect(o_rows, o_dist, o_count, keep=np.ones(more.size, bool))
                qs.append(more[mq] + start)
                rows.append(mr)
                dists.append(md)
            # Too much work (buckets swollen by clustered data): answer those queries by a full scan,
            # which costs about what the budget allowed and is the exact answer by definition.
            slow = np.flatnonzero(aborted)
            self.full_scans += int(slow.size)
            if slow.size:
                rq, rr, rd = _with_reruns(
                    lambda qw, width: _brute(qw, self._words, self._n, self._dead, radius, width),
                    np.ascontiguousarray(block[slow]),
                )
                qs.append(slow[rq] + start)
                rows.append(rr)
                dists.append(rd)
        q = np.concatenate(qs)
        r = np.concatenate(rows)
        return q, self._ids.get(r), np.concatenate(dists)

    def _search_batch(self, block: np.ndarray, radius: int, ks: np.ndarray, budget: int):
        p = self._plan
        nw = numba.get_num_threads()
        nq = block.shape[0]
        width = max(4096, 4 * nq // nw)
        while True:
            out_q = np.empty((nw, width), np.int64)
            out_row = np.empty((nw, width), np.int64)
            out_dist = np.empty((nw, width), np.int64)
            out_count = np.zeros(nw, np.int64)
            aborted = np.zeros(nq, np.uint8)
            k.mih_search_batch(  # type: ignore[call-arg]  # numba's Dispatcher stub does not know the kernel's parameters
                block,
                self._words,
                self._dead,
                self._entries,
                self._offsets,
                p.obase,
                p.starts,
                p.ndirect,
                p.nlow,
                p.tmasks,
                ks,
                *p.region_probes,
                p.region_bits,
                radius,
                budget,
                out_q,
                out_row,
                out_dist,
                out_count,
                aborted,
            )
            if out_count.max() <= width:
                break
            width = int(out_count.max())  # the kernel is deterministic: the rerun finds the same hits
        valid = np.arange(width)[None, :] < out_count[:, None]
        q, r, d = out_q[valid], out_row[valid], out_dist[valid]
        aborted = aborted.astype(bool)
        keep = ~aborted[q]
        return q[keep], r[keep], d[keep], aborted

    # -- persistence ----------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], *, checkpoint: int) -> None:
        """Write the index to directory `path` (replaced whole), recording `checkpoint`: the database
        sequence number whose changes it holds."""
        if isinstance(checkpoint, bool) or not isinstance(checkpoint, (int, np.integer)) or checkpoint < 0:
            raise HashInputError(f"checkpoint must be a non-negative integer, got {checkpoint!r}")
        n, dn = self._n, self._dn
        arrays = {
            "words": self._words[:n],
            "ids": self._ids.data[:n],
            "dead": self._dead[: n // 8 + 1],
            "offsets": self._offsets,
            "delta_words": self._d_words[:dn],
            "delta_ids": self._d_ids[:dn],
            "delta_dead": self._d_dead[: dn // 8 + 1],
        }
        meta = {
            "format": "staydown-pdq-index",
            "version": FORMAT_VERSION,
            "checkpoint": int(checkpoint),
            "rows": n,
            "dead": self._n_dead,
            "delta_rows": dn,
            "delta_dead": self._d_n_dead,
            "id_base": self._ids.base,
            "delta_limit": self.delta_limit,
            "capacity": self._words.shape[0],
            "plan": self._plan.to_json(),
        }

        def write(tmp: Path) -> None:
            for name, arr in arrays.items():
                np.save(tmp / f"{name}.npy", arr, allow_pickle=False)
            # Table t's entries, one file per table: a slice of the wider in-memory array.
            with open(tmp / "entries.bin", "wb") as fh:
                for t in range(len(_TABLES)):
                    fh.write(memoryview(self._entries[t, :n]))  # type: ignore[arg-type]  # ndarray exports the buffer protocol; its stubs do not say so

        _write_dir(Path(path), write, meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> tuple[PDQIndex, int]:
        """Read an index written by `save`; returns (index, checkpoint)."""
        root = Path(path)
        meta = _read_meta(root, "staydown-pdq-index")
        try:
            n = int(meta["rows"])
            dn = int(meta["delta_rows"])
            capacity = max(int(meta["capacity"]), n)
            index = cls(delta_limit=int(meta["delta_limit"]))
            plan = _plan(capacity, ndirect=meta["plan"]["ndirect"], nlow=meta["plan"]["nlow"])
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexFileError(f"{root}: bad manifest: {exc}") from exc
        index._plan = plan
        index._n = n
        index._words = np.empty((capacity, 4), np.uint64)
        _read_npy(root / "words.npy", index._words[:n])
        ids_on_disk = np.load(root / "ids.npy", mmap_mode="r", allow_pickle=False)
        col = _IdColumn(np.zeros(0, np.int64), capacity)
        col.data = np.empty(capacity, ids_on_disk.dtype)
        del ids_on_disk
        _read_npy(root / "ids.npy", col.data[:n])
        col.base = int(meta["id_base"])
        col.n = n
        index._ids = col
        index._dead = _bitmap(capacity)
        _read_npy(root / "dead.npy", index._dead[: n // 8 + 1])
        index._n_dead = int(meta["dead"])
        index._offsets = np.empty(plan.n_offsets, np.uint32)
        _read_npy(root / "offsets.npy", index._offsets)
        index._entries = np.empty((len(_TABLES), capacity), np.uint32)
        entries_path = root / "entries.bin"
        if not entries_path.exists() or entries_path.stat().st_size != len(_TABLES) * n * 4:
            raise IndexFileError(f"{entries_path}: missing or of the wrong size")
        with open(entries_path, "rb") as fh:
            for t in range(len(_TABLES)):
                _read_exact(fh, index._entries[t, :n], entries_path)
        index._d_words = np.empty((dn, 4), np.uint64)
        _read_npy(root / "delta_words.npy", index._d_words)
        index._d_ids = np.empty(dn, np.int64)
        _read_npy(root / "delta_ids.npy", index._d_ids)
        index._d_dead = _bitmap(dn)
        _read_npy(root / "delta_dead.npy", index._d_dead[: dn // 8 + 1])
        index._dn = dn
        index._d_n_dead = int(meta["delta_dead"])
        return index, int(meta["checkpoint"])


def _collect(out_rows: np.ndarray, out_dist: np.ndarray, count: np.ndarray, *, keep: np.ndarray):
    """Flatten per-query hit buffers into (query, row, distance) for the queries in `keep`."""
    width = out_rows.shape[1]
    valid = (np.arange(width)[None, :] < np.minimum(count, width)[:, None]) & keep[:, None]
    q = np.nonzero(valid)[0].astype(np.int64)
    return q, out_rows[valid], out_dist[valid]


def _brute(qwords, words, n, dead, radius, width):
    nq = qwords.shape[0]
    out_rows = np.empty((nq, width), np.int64)
    out_dist = np.empty((nq, width), np.int64)
    count = np.empty(nq, np.int64)
    kernel = k.brute_search if nq >= _THREADS_MIN else k.brute_search_serial
    kernel(qwords, words, n, dead, radius, out_rows, out_dist, count)
    return out_rows, out_dist, count


def _with_reruns(run, qwords: np.ndarray):
    """Run a search kernel with room for _RESULT_WIDTH hits per query, then rerun the queries that
    had more with room for all of them (kernels are deterministic, so the rerun finds the same)."""
    out_rows, out_dist, count = run(qwords, _RESULT_WIDTH)
    ok = count <= _RESULT_WIDTH
    q, r, d = _collect(out_rows, out_dist, count, keep=ok)
    redo = np.flatnonzero(~ok)
    if redo.size:
        out_rows, out_dist, count2 = run(qwords[redo], int(count[redo].max()))
        rq, rr, rd = _collect(out_rows, out_dist, count2, keep=np.ones(redo.size, bool))
        q, r, d = np.concatenate([q, redo[rq]]), np.concatenate([r, rr]), np.concatenate([d, rd])
    return q, r, d


# -- files ------------------------------------------------------------------------------------------


def _write_dir(root: Path, write, meta: dict) -> None:
    """Write into a sibling temporary directory, then swap it in, so a crash leaves either the old
    index or the new one, never half of one (the manifest is written last)."""
    tmp = root.with_name(root.name + ".tmp")
    old = root.with_name(root.name + ".old")
    for leftover in (tmp, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    tmp.mkdir(parents=True)
    write(tmp)
    (tmp / "manifest.json").write_text(json.dumps(meta, indent=1))
    if root.exists():
        root.rename(old)
    tmp.rename(root)
    if old.exists():
        shutil.rmtree(old)


def _read_meta(root: Path, kind: str) -> dict:
    manifest = root / "manifest.json"
    if not manifest.is_file():
        raise IndexFileError(f"{root}: no saved index here (no manifest.json)")
    try:
        meta = json.loads(manifest.read_text())
    except json.JSONDecodeError as exc:
        raise IndexFileError(f"{manifest}: not JSON: {exc}") from exc
    if meta.get("format") != kind or meta.get("version") != FORMAT_VERSION:
        raise IndexFileError(f"{root}: not a {kind} index of format version {FORMAT_VERSION}")
    return meta


def _read_npy(path: Path, out: np.ndarray) -> None:
    """Read a .npy file straight into `out` (no intermediate copy), checking shape and dtype."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - opened apart from `with` so only a missing file reads as missing
    except FileNotFoundError as exc:
        raise IndexFileError(f"{path}: missing") from exc
    with fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        if fortran or dtype != out.dtype or tuple(shape) != out.shape:
            raise IndexFileError(f"{path}: holds {dtype}{shape}, expected {out.dtype}{out.shape}")
        _read_exact(fh, out, path)


def _read_exact(fh, out: np.ndarray, path: Path) -> None:
    if out.size == 0:  # memoryview cannot cast an empty array; there is nothing to read
        return
    view = memoryview(out).cast("B")  # type: ignore[arg-type]  # ndarray exports the buffer protocol; its stubs do not say so
    got = 0
    while got < view.nbytes:
        n = fh.readinto(view[got:])
        if not n:
            raise IndexFileError(f"{path}: truncated")
        got += n


# -- exact digests ----------------------------------------------------------------------------------


class ExactIndex:
    """Exact lookup of fixed-size digests (MD5: 16 bytes, SHA-256: 32) with the same add/remove API.

    A pair of dicts: digest -> ids and id -> digests. About 200 bytes per entry, fine for the
    millions of cryptographic hashes a bank holds; removal takes effect at once.
    """

    def __init__(self, *, digest_bytes: int) -> None:
        if digest_bytes not in (16, 20, 32, 64):
            raise HashInputError(f"digest_bytes must be 16 (MD5), 20, 32 (SHA-256) or 64, got {digest_bytes}")
        self.digest_bytes = digest_bytes
        self._by_digest: dict[bytes, set[int]] = {}
        self._by_id: dict[int, set[bytes]] = {}

    def _digests(self, digests: np.ndarray | Iterable[str]) -> list[bytes]:
        if isinstance(digests, np.ndarray):
            if digests.dtype != np.uint8 or digests.ndim != 2 or digests.shape[1] != self.digest_bytes:
                raise HashInputError(
                    f"digests must be uint8 of shape (n, {self.digest_bytes}), got {digests.dtype}{digests.shape}"
                )
            return [row.tobytes() for row in digests]
        if isinstance(digests, str):
            raise HashInputError("expected a sequence of hex digests, got one string")
        out = []
        for i, h in enumerate(digests):
            if not isinstance(h, str) or len(h) != 2 * self.digest_bytes:
                raise HashInputError(f"digest #{i} is not {2 * self.digest_bytes} hex characters: {h!r:.80}")
            try:
                out.append(bytes.fromhex(h))
            except ValueError as exc:
                raise HashInputError(f"digest #{i} is not hexadecimal: {h!r}") from exc
        return out

    def add(self, ids: np.ndarray, digests: np.ndarray | Iterable[str]) -> None:
        """Add digests (uint8 rows or hex strings) under these ids."""
        raw = self._digests(digests)
        id_list = check_ids(ids, len(raw)).tolist()
        for i, d in zip(id_list, raw, strict=True):
            self._by_digest.setdefault(d, set()).add(i)
            self._by_id.setdefault(i, set()).add(d)

    def remove(self, ids: np.ndarray) -> int:
        """Disable every digest stored under these ids; returns how many (id, digest) pairs went."""
        removed = 0
        for i in np.unique(check_ids(ids)).tolist():
            for d in self._by_id.pop(i, ()):
                holders = self._by_digest[d]
                holders.discard(i)
                if not holders:
                    del self._by_digest[d]
                removed += 1
        return removed

    def query(self, digests: np.ndarray | Iterable[str]) -> list[np.ndarray]:
        """For each digest, the sorted int64 ids stored under it (empty when unknown)."""
        return [np.array(sorted(self._by_digest.get(d, ())), np.int64) for d in self._digests(digests)]

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_id.values())

    def save(self, path: str | os.PathLike[str], *, checkpoint: int) -> None:
        """Write (id, digest) pairs as .npy files plus a manifest with `checkpoint`."""
        if isinstance(checkpoint, bool) or not isinstance(checkpoint, (int, np.integer)) or checkpoint < 0:
            raise HashInputError(f"checkpoint must be a non-negative integer, got {checkpoint!r}")
        pairs = [(i, d) for i, ds in self._by_id.items() for d in ds]
        ids = np.array([p[0] for p in pairs], np.int64)
        digests = np.frombuffer(b"".join(p[1] for p in pairs), np.uint8).reshape(len(pairs), self.digest_bytes)
        meta = {
            "format": "staydown-exact-index",
            "version": FORMAT_VERSION,
            "checkpoint": int(checkpoint),
            "digest_bytes": self.digest_bytes,
            "rows": len(pairs),
        }

        def write(tmp: Path) -> None:
            np.save(tmp / "ids.npy", ids, allow_pickle=False)
            np.save(tmp / "digests.npy", digests, allow_pickle=False)

        _write_dir(Path(path), write, meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> tuple[ExactIndex, int]:
        """Read an index written by `save`; returns (index, checkpoint)."""
        root = Path(path)
        meta = _read_meta(root, "staydown-exact-index")
        index = cls(digest_bytes=int(meta["digest_bytes"]))
        n = int(meta["rows"])
        ids = np.empty(n, np.int64)
        digests = np.empty((n, index.digest_bytes), np.uint8)
        _read_npy(root / "ids.npy", ids)
        _read_npy(root / "digests.npy", digests)
        index.add(ids, digests)
        return index, int(meta["checkpoint"])
