"""Compiled (numba) kernels behind the PDQ match index: table build, in-place append, search, brute force."""

# Hashes are 256-bit strings held as four little-endian uint64 words; bit i of a hash is bit i % 64
# of word i // 64. Any fixed order works, since Hamming distance does not depend on it. Everything
# here works on plain arrays so that index.py owns all the bookkeeping.

from __future__ import annotations

import os

# numba's OpenMP workers spin after each parallel kernel by default; on a two-core node the spinning
# worker takes the core that the next single-query search needs (measured: 0.3 ms becomes 8 ms).
# Must be set before the OpenMP runtime starts (at the first parallel call); an operator's setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def _ctpop(typingctx, x):  # noqa: ARG001 - numba passes the typing context first
    """LLVM's ctpop on a uint64: one POPCNT instruction on any x86-64 built since 2008."""
    if not (isinstance(x, types.Integer) and x.bitwidth == 64 and not x.signed):
        return None

    def codegen(context, builder, signature, args):  # noqa: ARG001
        return builder.ctpop(args[0])

    return types.int64(types.uint64), codegen


def _prefetch_codegen(context, builder, ptr):
    i32 = ir.IntType(32)
    i8p = ir.IntType(8).as_pointer()
    fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
    fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
    # read, keep in all cache levels, data cache
    builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])


@intrinsic
def _prefetch(typingctx, arr, i):  # noqa: ARG001
    """Hint the CPU to start loading arr[i] (1-D) now; a later read then does not wait for memory."""
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        idx = context.cast(builder, args[1], signature.args[1], types.intp)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [idx], wraparound=False)
        _prefetch_codegen(context, builder, ptr)
        return context.get_dummy_value()

    return types.void(arr, i), codegen


@intrinsic
def _prefetch2(typingctx, arr, i, j):  # noqa: ARG001
    """As `_prefetch`, for arr[i, j] of a 2-D array."""
    if not (
        isinstance(arr, types.Array) and arr.ndim == 2 and isinstance(i, types.Integer) and isinstance(j, types.Integer)
    ):
        return None

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ii = context.cast(builder, args[1], signature.args[1], types.intp)
        jj = context.cast(builder, args[2], signature.args[2], types.intp)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [ii, jj], wraparound=False)
        _prefetch_codegen(context, builder, ptr)
        return context.get_dummy_value()

    return types.void(arr, i, j), codegen


@njit(inline="always", cache=True)
def _popcount(x):
    return _ctpop(np.uint64(x))


@njit(inline="always", cache=True)
def _extract(w0, w1, w2, w3, start, nbits):
    """Bits [start, start + nbits) of the hash as a non-negative int64 (nbits <= 32)."""
    wi = start >> 6
    off = start & 63
    if wi == 0:
        lo, hi = w0, w1
    elif wi == 1:
        lo, hi = w1, w2
    elif wi == 2:
        lo, hi = w2, w3
    else:
        lo, hi = w3, np.uint64(0)
    v = lo >> np.uint64(off)
    if off + nbits > 64:
        v |= hi << np.uint64(64 - off)
    return np.int64(v & np.uint64((1 << nbits) - 1))


@njit(inline="always", cache=True)
def _dist(words, row, q0, q1, q2, q3):
    return (
        _popcount(words[row, 0] ^ q0)
        + _popcount(words[row, 1] ^ q1)
        + _popcount(words[row, 2] ^ q2)
        + _popcount(words[row, 3] ^ q3)
    )


@njit(parallel=True, cache=True)
def build_tables(words, n, starts, ndirect, nlow, obase, offsets, entries):
    """Fill every table for rows [0, n): bucket offsets (a CSR over the direct bits) and packed entries.

    An entry is `(row << nlow) | low_bits`: the low key bits ride along in the spare bits of the row
    number so a bucket scan rejects most candidates without touching the 32-byte hash.
    """
    m = starts.shape[0]
    for t in prange(m):
        st = starts[t]
        nd = ndirect[t]
        nl = nlow[t]
        nb = 1 << nd
        ob = obase[t]
        lowmask = (1 << nl) - 1
        counts = np.zeros(nb + 1, np.int64)
        for row in range(n):
            key = _extract(words[row, 0], words[row, 1], words[row, 2], words[row, 3], st, nd + nl)
            counts[(key >> nl) + 1] += 1
        acc = 0
        for b in range(nb + 1):
            acc += counts[b]
            offsets[ob + b] = acc
            counts[b] = acc
        for row in range(n):
            key = _extract(words[row, 0], words[row, 1], words[row, 2], words[row, 3], st, nd + nl)
            b = key >> nl
            entries[t, counts[b]] = np.uint32((row << nl) | (key & lowmask))
            counts[b] += 1


@njit(parallel=True, cache=True)
def append_tables(words, n_old, n_new, starts, ndirect, nlow, obase, offsets, entries):
    """Add rows [n_old, n_new) to every table in place (entries must have room for n_new).

    Buckets are moved up from the top one down, so a bucket's new place never overlaps an unmoved
    lower bucket; the cost is one pass over each table's entries, no second copy of the table.
    """
    m = starts.shape[0]
    d = n_new - n_old
    for t in prange(m):
        st = starts[t]
        nd = ndirect[t]
        nl = nlow[t]
        nb = 1 << nd
        ob = obase[t]
        lowmask = (1 << nl) - 1
        keys = np.empty(d, np.int64)
        shift = np.zeros(nb + 1, np.int64)
        for i in range(d):
            row = n_old + i
            key = _extract(words[row, 0], words[row, 1], words[row, 2], words[row, 3], st, nd + nl)
            keys[i] = key
            shift[(key >> nl) + 1] += 1
        for b in range(1, nb + 1):
            shift[b] += shift[b - 1]
        # shift[b] = how many new entries land in buckets below b = how far bucket b moves up.
        for b in range(nb - 1, -1, -1):
            s = shift[b]
            if s == 0:
                break
            lo = np.int64(offsets[ob + b])
            hi = np.int64(offsets[ob + b + 1])
            for p in range(hi - 1, lo - 1, -1):
                entries[t, p + s] = entries[t, p]
        # The free slots of bucket b start right after its moved old entries.
        cursor = np.empty(nb, np.int64)
        for b in range(nb):
            cursor[b] = np.int64(offsets[ob + b + 1]) + shift[b]
        for b in range(nb + 1):
            offsets[ob + b] = np.int64(offsets[ob + b]) + shift[b]
        for i in range(d):
            b = keys[i] >> nl
            entries[t, cursor[b]] = np.uint32(((n_old + i) << nl) | (keys[i] & lowmask))
            cursor[b] += 1


@njit(inline="always", cache=True)
def _reported_here(x0, x1, x2, x3, row, t, ks, tmasks, dead):
    """Whether a hit found in table t (x0..x3: its hash XOR the query's) is reported from t: not
    from an earlier table that also finds it (within that table's ks), and not deleted."""
    for t2 in range(t):
        if ks[t2] < 0:
            continue
        d2 = (
            _popcount(x0 & tmasks[t2, 0])
            + _popcount(x1 & tmasks[t2, 1])
            + _popcount(x2 & tmasks[t2, 2])
            + _popcount(x3 & tmasks[t2, 3])
        )
        if d2 <= ks[t2]:
            return False
    return not (dead[row >> 3] >> (row & 7)) & 1


@njit(inline="always", cache=True)
def _verify(cand, nc, words, q0, q1, q2, q3, radius, t, ks, tmasks, dead, out_rows, out_dist, qi, cnt):
    """Check candidates of table t against the full distance; report each hit from its first table."""
    cap = out_rows.shape[1]
    for c in range(nc):
        row = cand[c]
        x0 = words[row, 0] ^ q0
        x1 = words[row, 1] ^ q1
        x2 = words[row, 2] ^ q2
        x3 = words[row, 3] ^ q3
        dist = _popcount(x0) + _popcount(x1) + _popcount(x2) + _popcount(x3)
        if dist > radius:
            continue
        if not _reported_here(x0, x1, x2, x3, row, t, ks, tmasks, dead):
            continue
        if cnt < cap:
            out_rows[qi, cnt] = row
            out_dist[qi, cnt] = dist
        cnt += 1
    return cnt


_QUERIES_PER_TASK = 32
_CANDIDATE_BATCH = 1024
_AHEAD = 16  # probes in flight per stage of the pipeline in mih_search


@njit(parallel=True, cache=True)
def mih_search(
    qwords,
    words,
    dead,
    entries,
    offsets,
    obase,
    starts,
    ndirect,
    nlow,
    tmasks,
    ks,
    probe_start,
    probe_flip,
    probe_rem,
    radius,
    budget,
    out_rows,
    out_dist,
    out_count,
    aborted,
):
    """Multi-index search: every stored row within `radius` of each query, each reported once.

    Table t is probed at the buckets `qhigh ^ probe_flip[i]` for i in [probe_start[t],
    probe_start[t + 1]): every flip of at most ks[t] direct bits, leaving probe_rem[i] flips for the
    low bits packed in the entries. Since sum(ks + 1) > radius, a row within `radius` is within ks[t]
    in at least one table (pigeonhole), so it is found; it is reported only from the first such table,
    which also keeps the output free of duplicates.

    The probes of one table are independent, so each stage (offsets, bucket entries, candidate
    hashes) is prefetched for all of them before it is read: the random reads then overlap instead of
    queueing behind one another, which is most of the speed at 10M rows.

    A query whose work passes `budget` (buckets swollen by clustered data) stops and is flagged in
    `aborted`; the caller answers it by brute force. Hits beyond out_rows' width are counted, not
    stored, so the caller can rerun those queries with more room.
    """
    nq = qwords.shape[0]
    m = starts.shape[0]
    max_probes = 1
    for t in range(m):
        max_probes = max(max_probes, probe_start[t + 1] - probe_start[t])
    ntasks = (nq + _QUERIES_PER_TASK - 1) // _QUERIES_PER_TASK
    for task in prange(ntasks):
        bucket = np.empty(max_probes, np.int64)
        lo_at = np.empty(max_probes, np.int64)
        hi_at = np.empty(max_probes, np.int64)
        cand = np.empty(_CANDIDATE_BATCH, np.int64)
        for qi in range(task * _QUERIES_PER_TASK, min(nq, (task + 1) * _QUERIES_PER_TASK)):
            q0 = qwords[qi, 0]
            q1 = qwords[qi, 1]
            q2 = qwords[qi, 2]
            q3 = qwords[qi, 3]
            cnt = 0
            work = 0
            stop = False
            for t in range(m):
                if ks[t] < 0:
                    continue
                nl = nlow[t]
                lowmask = (1 << nl) - 1
                key = _extract(q0, q1, q2, q3, starts[t], ndirect[t] + nl)
                qlow = key & lowmask
                qhigh = key >> nl
                ob = obase[t]
                p0 = probe_start[t]
                nv = probe_start[t + 1] - p0
                # A software pipeline over the probes: bucket v's offsets are requested at step v,
                # read (and its entries requested) at step v + D, its entries scanned at v + 2D.
                # Requests far enough ahead overlap; requesting all at once overflows the CPU's
                # queue of outstanding misses and the later ones are lost.
                nc = 0
                for step in range(nv + 2 * _AHEAD):
                    if step < nv:
                        b = ob + (qhigh ^ probe_flip[p0 + step])
                        bucket[step] = b
                        _prefetch(offsets, b)
                    u = step - _AHEAD
                    if 0 <= u < nv:
                        lo = np.int64(offsets[bucket[u]])
                        hi = np.int64(offsets[bucket[u] + 1])
                        lo_at[u] = lo
                        hi_at[u] = hi
                        work += hi - lo + 4
                        if hi > lo:
                            _prefetch2(entries, t, lo)
                            _prefetch2(entries, t, hi - 1)
                    u = step - 2 * _AHEAD
                    if u >= 0:
                        rem = probe_rem[p0 + u]
                        for p in range(lo_at[u], hi_at[u]):
                            e = np.int64(entries[t, p])
                            if _popcount((e & lowmask) ^ qlow) <= rem:
                                row = e >> nl
                                _prefetch2(words, row, 0)
                                cand[nc] = row
                                nc += 1
                                if nc == _CANDIDATE_BATCH:
                                    cnt = _verify(
                                        cand,
                                        nc,
                                        words,
                                        q0,
                                        q1,
                                        q2,
                                        q3,
                                        radius,
                                        t,
                                        ks,
                                        tmasks,
                                        dead,
                                        out_rows,
                                        out_dist,
                                        qi,
                                        cnt,
                                    )
                                    work += 16 * nc
                                    nc = 0
                    if work > budget:
                        stop = True
                        break
                if stop:
                    break
                cnt = _verify(cand, nc, words, q0, q1, q2, q3, radius, t, ks, tmasks, dead, out_rows, out_dist, qi, cnt)
                work += 16 * nc
            out_count[qi] = cnt
            aborted[qi] = stop


# The same search without threads, for a handful of queries: starting and joining worker threads
# costs more than a query, and far more when the machine is busy and a worker waits for a CPU.
mih_search_serial = njit(cache=True)(mih_search.py_func)

_VERIFY_BATCH = 64  # candidates whose hashes are requested before the first is checked


@njit(inline="always", cache=True)
def _verify_pairs(cq, crow, nc, qwords, words, radius, t, ks, tmasks, dead, out_q, out_row, out_dist, w, cnt):
    """`_verify` for candidates of different queries: (cq[i], crow[i]) pairs; hits go to worker w's list."""
    cap = out_q.shape[1]
    for c in range(nc):
        qi = cq[c]
        row = crow[c]
        x0 = words[row, 0] ^ qwords[qi, 0]
        x1 = words[row, 1] ^ qwords[qi, 1]
        x2 = words[row, 2] ^ qwords[qi, 2]
        x3 = words[row, 3] ^ qwords[qi, 3]
        dist = _popcount(x0) + _popcount(x1) + _popcount(x2) + _popcount(x3)
        if dist > radius:
            continue
        if not _reported_here(x0, x1, x2, x3, row, t, ks, tmasks, dead):
            continue
        if cnt < cap:
            out_q[w, cnt] = qi
            out_row[w, cnt] = row
            out_dist[w, cnt] = dist
        cnt += 1
    return cnt


@njit(parallel=True, cache=True)
def mih_search_batch(
    qwords,
    words,
    dead,
    entries,
    offsets,
    obase,
    starts,
    ndirect,
    nlow,
    tmasks,
    ks,
    low_start,
    low_flip,
    low_rem,
    region_bits,
    radius,
    budget,
    out_q,
    out_row,
    out_dist,
    out_count,
    aborted,
):
    """`mih_search` for a large batch, reorganised so that the tables are read nearly sequentially.

    Probing query by query reads a random cache line or two per bucket, and on this kind of machine
    random reads, not arithmetic, set the pace. Here each table is cut into regions (its top
    `region_bits[t]` direct bits; a region's entries fit in the L2 cache) and a worker takes a
    region and answers, for every query of the batch, the probes that fall in it: a query whose top
    bits differ from the region's in g bits has k - g flips left for the rest of the key, listed in
    low_flip[low_start[t, k - g] : low_start[t, k - g + 1]] (with the flips then left for the packed
    low bits in low_rem). Every probe of `mih_search` is made exactly once, so the results are the
    same, but each table is read about once per batch instead of once per probe.

    Hits go to per-worker lists (out_q/out_row/out_dist rows; out_count may exceed their width, then
    rerun with more room). A query whose work passes `budget` is flagged in `aborted`; its hits here
    are incomplete and must be replaced by a full scan.
    """
    nq = qwords.shape[0]
    m = starts.shape[0]
    nw = out_q.shape[0]
    for w in range(nw):
        out_count[w] = 0
    for qi in range(nq):
        aborted[qi] = 0
    work = np.zeros((nw, nq), np.int64)
    share = budget // nw + 1
    qtop = np.empty(nq, np.int64)
    qmid = np.empty(nq, np.int64)
    qlow = np.empty(nq, np.int64)
    for t in range(m):
        k = ks[t]
        if k < 0:
            continue
        nd = ndirect[t]
        nl = nlow[t]
        lowmask = (1 << nl) - 1
        ob = obase[t]
        rb = region_bits[t]
        nr = 1 << rb
        rshift = nd - rb
        midmask = (1 << rshift) - 1
        for qi in range(nq):
            key = _extract(qwords[qi, 0], qwords[qi, 1], qwords[qi, 2], qwords[qi, 3], starts[t], nd + nl)
            qlow[qi] = key & lowmask
            qmid[qi] = (key >> nl) & midmask
            qtop[qi] = key >> (nl + rshift)
        for w in prange(nw):
            cq = np.empty(_VERIFY_BATCH, np.int64)
            crow = np.empty(_VERIFY_BATCH, np.int64)
            cnt = out_count[w]
            for r in range(w, nr, nw):
                rbase = ob + (r << rshift)
                blo = np.int64(offsets[rbase])
                bhi = np.int64(offsets[rbase + midmask + 1])
                if nq * 4 >= (bhi - blo) // 16:
                    # Dense enough: stream the region's entries in sequentially first.
                    for p in range(blo, bhi, 16):
                        _prefetch2(entries, t, p)
                nc = 0
                for qi in range(nq):
                    g = _popcount(r ^ qtop[qi])
                    if g > k or aborted[qi]:
                        continue
                    left = k - g
                    qm = qmid[qi]
                    ql = qlow[qi]
                    wq = 0
                    for f in range(low_start[t, left], low_start[t, left + 1]):
                        bkt = rbase + (qm ^ low_flip[f])
                        lo = np.int64(offsets[bkt])
                        hi = np.int64(offsets[bkt + 1])
                        wq += hi - lo + 4
                        rem = low_rem[f]
                        for p in range(lo, hi):
                            e = np.int64(entries[t, p])
                            if _popcount((e & lowmask) ^ ql) <= rem:
                                row = e >> nl
                                _prefetch2(words, row, 0)
                                cq[nc] = qi
                                crow[nc] = row
                                nc += 1
                                wq += 16
                                if nc == _VERIFY_BATCH:
                                    cnt = _verify_pairs(
                                        cq,
                                        crow,
                                        nc,
                                        qwords,
                                        words,
                                        radius,
                                        t,
                                        ks,
                                        tmasks,
                                        dead,
                                        out_q,
                                        out_row,
                                        out_dist,
                                        w,
                                        cnt,
                                    )
                                    nc = 0
                    work[w, qi] += wq
                    if work[w, qi] > share:
                        aborted[qi] = 1
                cnt = _verify_pairs(
                    cq, crow, nc, qwords, words, radius, t, ks, tmasks, dead, out_q, out_row, out_dist, w, cnt
                )
            out_count[w] = cnt


@njit(parallel=True, cache=True)
def brute_search(qwords, words, n, dead, radius, out_rows, out_dist, out_count):
    """Every row in [0, n) within `radius` of each query, by scanning them all (the exact reference)."""
    nq = qwords.shape[0]
    cap = out_rows.shape[1]
    for qi in prange(nq):
        q0 = qwords[qi, 0]
        q1 = qwords[qi, 1]
        q2 = qwords[qi, 2]
        q3 = qwords[qi, 3]
        cnt = 0
        for row in range(n):
            dist = _dist(words, row, q0, q1, q2, q3)
            if dist <= radius and not (dead[row >> 3] >> (row & 7)) & 1:
                if cnt < cap:
                    out_rows[qi, cnt] = row
                    out_dist[qi, cnt] = dist
                cnt += 1
        out_count[qi] = cnt


brute_search_serial = njit(cache=True)(brute_search.py_func)


@njit(parallel=True, cache=True)
def brute_pairs(qwords, words, n, radius, out_q, out_row, out_dist, out_count):
    """Every (query, row) pair within `radius`, rows [0, n) split across out_q.shape[0] chunks.

    For checking a few hundred queries against millions of rows (recall measurements): each row is
    read once for all queries, where one scan per query would read the hashes hundreds of times.
    Chunk c's pairs go to row c of the outputs; out_count[c] may exceed their width (then rerun).
    """
    nq = qwords.shape[0]
    nchunks = out_q.shape[0]
    cap = out_q.shape[1]
    size = (n + nchunks - 1) // nchunks
    for c in prange(nchunks):
        cnt = 0
        for row in range(c * size, min(n, (c + 1) * size)):
            w0 = words[row, 0]
            w1 = words[row, 1]
            w2 = words[row, 2]
            w3 = words[row, 3]
            for qi in range(nq):
                dist = (
                    _popcount(w0 ^ qwords[qi, 0])
                    + _popcount(w1 ^ qwords[qi, 1])
                    + _popcount(w2 ^ qwords[qi, 2])
                    + _popcount(w3 ^ qwords[qi, 3])
                )
                if dist <= radius:
                    if cnt < cap:
                        out_q[c, cnt] = qi
                        out_row[c, cnt] = row
                        out_dist[c, cnt] = dist
                    cnt += 1
        out_count[c] = cnt
