"""Tests for the match indexes: exactness against brute force, changes, persistence, skew and input checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import staydown.matching.index as index_module
from staydown.matching.hamming import MAX_RADIUS, HashInputError, brute_force_pairs, hamming, pdq_from_hex, pdq_to_hex
from staydown.matching.index import _TABLES, ExactIndex, IndexFileError, PDQIndex, _plan

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def random_hashes(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, (n, 32), dtype=np.uint8)


def flip(rng: np.random.Generator, hashes: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """Copies of `hashes` with exactly distances[i] random bits flipped in row i."""
    bits = np.unpackbits(hashes, axis=1)
    for i, d in enumerate(distances):
        bits[i, rng.choice(256, int(d), replace=False)] ^= 1
    return np.packbits(bits, axis=1)


def planted_queries(
    rng: np.random.Generator, stored: np.ndarray, radius: int, n_near: int, n_random: int
) -> np.ndarray:
    """Near-duplicates of stored hashes at distances 0..radius + 1 (both edges included), plus random hashes."""
    parts = [random_hashes(rng, n_random)]
    if len(stored) and n_near:
        base = stored[rng.integers(0, len(stored), n_near)]
        dist = rng.integers(0, radius + 2, n_near)
        dist[: min(n_near, 2)] = [radius, radius + 1][: min(n_near, 2)]
        parts.append(flip(rng, base, dist))
    return np.concatenate(parts)


def expected(stored_ids: np.ndarray, stored: np.ndarray, queries: np.ndarray, radius: int) -> list[dict[int, int]]:
    """Brute force: for each query, {id: smallest distance} over stored hashes within the radius."""
    out = []
    for q in queries:
        found: dict[int, int] = {}
        if len(stored):
            d = hamming(stored, q[None, :])
            for i in np.flatnonzero(d <= radius):
                key = int(stored_ids[i])
                found[key] = min(found.get(key, 999), int(d[i]))
        out.append(found)
    return out


def as_dicts(results: list[tuple[np.ndarray, np.ndarray]]) -> list[dict[int, int]]:
    out = []
    for ids, dists in results:
        assert len(set(ids.tolist())) == len(ids), "an id reported twice for one query"
        assert np.all(np.diff(dists) >= 0), "results not closest first"
        out.append(dict(zip(ids.tolist(), dists.tolist(), strict=True)))
    return out


@pytest.fixture(params=["per-query", "batch"])
def kernel(request, monkeypatch):
    """Run a test through both search kernels: one query at a time, and region by region."""
    monkeypatch.setattr(index_module, "_BATCH_MIN", 10**9 if request.param == "per-query" else 1)
    return request.param


# -- exactness ---------------------------------------------------------------------------------------


def test_every_radius_split_satisfies_the_pigeonhole_bound():
    # Recall rests on this: tables look at disjoint bits and sum(k + 1) >= radius + 1 for every radius.
    for capacity in (10, 5_000, 200_000, 12_500_000):
        plan = _plan(capacity)
        used = np.zeros(256, int)
        for t in range(len(_TABLES)):
            lo = int(plan.starts[t])
            used[lo : lo + int(plan.ndirect[t] + plan.nlow[t])] += 1
        assert used.max() == 1
        for radius in range(MAX_RADIUS + 1):
            assert int((plan.ks[radius] + 1).sum()) >= radius + 1


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 300),
    radius=st.integers(0, MAX_RADIUS),
    kind=st.sampled_from(["per-query", "batch", "delta", "fallback"]),
)
def test_search_equals_brute_force(seed, n, radius, kind):
    rng = np.random.default_rng(seed)
    stored = random_hashes(rng, n)
    if n > 20:  # clusters: near-copies of a few hashes, as real banks have
        stored[: n // 4] = flip(rng, stored[rng.integers(0, 5, n // 4)], rng.integers(0, 8, n // 4))
    ids = rng.permutation(n * 3)[:n].astype(np.int64)
    queries = planted_queries(rng, stored, radius, n_near=30, n_random=5)
    if kind == "delta":
        half = n // 2
        index = PDQIndex.build(ids[:half], stored[:half])
        index.add(ids[half:], stored[half:])  # searched by brute force until merged
    else:
        index = PDQIndex.build(ids, stored, work_budget=50 if kind == "fallback" else None)
    old = index_module._BATCH_MIN
    index_module._BATCH_MIN = 1 if kind == "batch" else 10**9
    try:
        got = as_dicts(index.query(queries, radius=radius))
    finally:
        index_module._BATCH_MIN = old
    assert got == expected(ids, stored, queries, radius)


def test_planted_duplicates_found_at_every_distance(kernel):
    rng = np.random.default_rng(7)
    stored = random_hashes(rng, 3000)
    ids = np.arange(3000, dtype=np.int64)
    index = PDQIndex.build(ids, stored)
    pick = np.repeat(np.arange(33), 20)  # 20 queries at each distance 0..32
    queries = flip(rng, stored[pick], pick % 33)
    dist_wanted = pick % 33
    got = index.query(queries, radius=31)
    for i, (qids, qd) in enumerate(got):
        if dist_wanted[i] <= 31:
            assert pick[i] in qids.tolist() and int(qd[list(qids).index(pick[i])]) == dist_wanted[i]
        else:
            assert pick[i] not in qids.tolist()


def test_skewed_data_stays_exact(kernel):
    # Many copies of one near-constant hash (think blank images) swell a bucket in every table.
    rng = np.random.default_rng(3)
    centre = np.zeros((1, 32), np.uint8)
    clones = np.repeat(centre, 1500, axis=0)
    near = flip(rng, np.repeat(centre, 1500, axis=0), rng.integers(0, 40, 1500))
    stored = np.concatenate([clones, near, random_hashes(rng, 2000)])
    ids = np.arange(len(stored), dtype=np.int64)
    queries = np.concatenate([centre, flip(rng, np.repeat(centre, 5, axis=0), np.array([1, 5, 16, 31, 32]))])
    want = expected(ids, stored, queries, 31)
    for budget in (None, 1000):  # the default budget, and one that sends these queries to a full scan
        index = PDQIndex.build(ids, stored, work_budget=budget)
        assert as_dicts(index.query(queries)) == want
        if budget is not None:
            assert index.full_scans == len(queries)
    assert len(want[0]) > 1500
    assert index.largest_buckets().max() >= 1500


def test_brute_force_reference_agrees_with_numpy():
    rng = np.random.default_rng(4)
    stored = random_hashes(rng, 500)
    queries = planted_queries(rng, stored, 12, 40, 5)
    q, row, dist = brute_force_pairs(stored, queries, radius=12)
    d = hamming(stored[None, :, :], queries[:, None, :])
    wq, wrow = np.nonzero(d <= 12)
    assert q.tolist() == wq.tolist() and row.tolist() == wrow.tolist() and dist.tolist() == d[wq, wrow].tolist()


def test_empty_index_and_empty_query_batch(kernel):
    index = PDQIndex()
    assert len(index) == 0
    res = index.query(random_hashes(np.random.default_rng(0), 3))
    assert [len(ids) for ids, _ in res] == [0, 0, 0]
    assert index.query(np.zeros((0, 32), np.uint8)) == []
    built = PDQIndex.build(np.zeros(0, np.int64), np.zeros((0, 32), np.uint8))
    assert len(built) == 0 and len(built.search(np.zeros((2, 32), np.uint8))) == 0


# -- changes -----------------------------------------------------------------------------------------


def test_add_after_build_matches_at_once_and_after_merge(kernel):
    rng = np.random.default_rng(11)
    stored = random_hashes(rng, 2000)
    ids = np.arange(2000, dtype=np.int64)
    index = PDQIndex.build(ids[:1000], stored[:1000], delta_limit=300)
    for a in range(1000, 2000, 70):  # crosses delta_limit several times: merged in place
        index.add(ids[a : a + 70], stored[a : a + 70])
        queries = flip(rng, stored[a : a + 70], rng.integers(0, 32, min(70, 2000 - a)))
        got = as_dicts(index.query(queries))
        assert got == expected(ids[: a + 70], stored[: a + 70], queries, 31)
    assert len(index) == 2000
    queries = planted_queries(rng, stored, 31, 200, 20)
    assert as_dicts(index.query(queries)) == expected(ids, stored, queries, 31)


def test_merge_of_ids_below_the_stored_ones_rebuilds():
    rng = np.random.default_rng(12)
    stored = random_hashes(rng, 600)
    ids = np.arange(600, dtype=np.int64)
    index = PDQIndex.build(ids[300:], stored[300:])
    index.add(ids[:300], stored[:300])
    index.merge()
    assert index.pending == 0 and len(index) == 600
    queries = planted_queries(rng, stored, 20, 100, 5)
    assert as_dicts(index.query(queries, radius=20)) == expected(ids, stored, queries, 20)


def test_remove_takes_effect_at_once_in_main_and_delta(kernel):
    rng = np.random.default_rng(5)
    stored = random_hashes(rng, 1000)
    ids = np.arange(1000, dtype=np.int64) + 10**12  # ids well beyond 32 bits
    index = PDQIndex.build(ids[:800], stored[:800])
    index.add(ids[800:], stored[800:])
    gone = np.array([ids[3], ids[500], ids[900], 42], np.int64)  # 42 is not stored
    assert index.remove(gone) == 3
    assert index.remove(gone) == 0  # removing twice changes nothing
    assert len(index) == 997
    keep = ~np.isin(ids, gone)
    queries = np.concatenate([stored[[3, 500, 900]], planted_queries(rng, stored, 31, 100, 0)])
    want = expected(ids[keep], stored[keep], queries, 31)
    assert as_dicts(index.query(queries)) == want
    index.merge()
    assert as_dicts(index.query(queries)) == want
    index.compact()  # frees the removed rows for good
    assert len(index) == 997 and as_dicts(index.query(queries)) == want


def test_an_id_removed_then_added_again_matches_its_new_hash_only(kernel):
    rng = np.random.default_rng(6)
    stored = random_hashes(rng, 100)
    ids = np.arange(100, dtype=np.int64)
    index = PDQIndex.build(ids, stored)
    index.remove(np.array([7]))
    fresh = random_hashes(rng, 1)
    index.add(np.array([7]), fresh)
    assert 7 not in index.query(stored[7:8], radius=0)[0][0].tolist()
    assert index.query(fresh, radius=0)[0][0].tolist() == [7]
    index.merge()
    assert 7 not in index.query(stored[7:8], radius=0)[0][0].tolist()
    assert index.query(fresh, radius=0)[0][0].tolist() == [7]


def test_duplicate_ids_and_hashes(kernel):
    rng = np.random.default_rng(8)
    h = random_hashes(rng, 3)
    near = flip(rng, h[:1], np.array([4]))
    # id 1 carries two hashes (say, two rotations of one image); ids 2 and 3 share one hash.
    stored = np.concatenate([h[:1], near, h[1:2], h[1:2], h[2:3]])
    ids = np.array([1, 1, 2, 3, 4], np.int64)
    index = PDQIndex.build(ids, stored)
    (ids0, d0), (ids1, d1) = index.query(np.concatenate([h[:1], h[1:2]]))
    assert ids0.tolist() == [1] and d0.tolist() == [0]  # once, at the closer distance
    assert ids1.tolist() == [2, 3] and d1.tolist() == [0, 0]
    assert index.remove(np.array([1])) == 2
    assert len(index.query(h[:1])[0][0]) == 0


# -- persistence -------------------------------------------------------------------------------------


def test_save_load_round_trip_with_checkpoint(tmp_path, kernel):
    rng = np.random.default_rng(9)
    stored = random_hashes(rng, 1500)
    ids = np.arange(1500, dtype=np.int64) * 7
    index = PDQIndex.build(ids[:1200], stored[:1200])
    index.add(ids[1200:], stored[1200:])
    index.remove(ids[[0, 1300]])
    index.save(tmp_path / "pdq", checkpoint=123456)
    loaded, checkpoint = PDQIndex.load(tmp_path / "pdq")
    assert checkpoint == 123456 and len(loaded) == len(index) == 1498
    queries = planted_queries(rng, stored, 31, 200, 10)
    assert as_dicts(loaded.query(queries)) == as_dicts(index.query(queries))
    # The loaded index keeps working incrementally, and saving over it replaces it whole.
    loaded.add(np.array([99_999]), stored[:1])
    loaded.merge()
    assert 99_999 in loaded.query(stored[:1], radius=0)[0][0].tolist()
    loaded.save(tmp_path / "pdq", checkpoint=123457)
    again, checkpoint = PDQIndex.load(tmp_path / "pdq")
    assert checkpoint == 123457 and len(again) == 1499


def test_load_rejects_missing_or_damaged_files(tmp_path):
    with pytest.raises(IndexFileError):
        PDQIndex.load(tmp_path / "nothing")
    index = PDQIndex.build(np.arange(50), random_hashes(np.random.default_rng(1), 50))
    index.save(tmp_path / "pdq", checkpoint=1)
    entries = tmp_path / "pdq" / "entries.bin"
    entries.write_bytes(entries.read_bytes()[:-4])
    with pytest.raises(IndexFileError):
        PDQIndex.load(tmp_path / "pdq")
    with pytest.raises(IndexFileError):
        ExactIndex.load(tmp_path / "pdq")  # a PDQ index is not an exact one
    with pytest.raises(HashInputError):
        index.save(tmp_path / "x", checkpoint=-1)


# -- input checks and hex ------------------------------------------------------------------------------


def test_hex_round_trip():
    rng = np.random.default_rng(10)
    hashes = random_hashes(rng, 20)
    hexes = pdq_to_hex(hashes)
    assert all(len(h) == 64 for h in hexes)
    assert np.array_equal(pdq_from_hex(hexes), hashes)
    assert np.array_equal(pdq_from_hex([h.upper() for h in hexes]), hashes)
    assert pdq_from_hex([]).shape == (0, 32)
    assert pdq_to_hex(pdq_from_hex(["f" * 64]))[0] == "f" * 64


@pytest.mark.parametrize("bad", [["abc"], ["g" * 64], ["0" * 63 + "x"], "0" * 64, [b"0" * 64], [None]])
def test_bad_hex_is_a_value_error(bad):
    with pytest.raises(ValueError):
        pdq_from_hex(bad)


def test_bad_input_gives_clear_errors():
    rng = np.random.default_rng(0)
    index = PDQIndex.build(np.arange(10), random_hashes(rng, 10))
    good = random_hashes(rng, 2)
    for bad in (good.astype(np.int64), good[:, :16], good.reshape(-1), good.tolist(), np.zeros((2, 32), np.float32)):
        with pytest.raises(HashInputError):
            index.query(bad)
        with pytest.raises(HashInputError):
            index.add(np.arange(2), bad)
    for radius in (-1, 32, 1.5, True, "3"):
        with pytest.raises(HashInputError, match="radius"):
            index.query(good, radius=radius)
    with pytest.raises(HashInputError, match="entries for"):
        index.add(np.arange(3), good)
    with pytest.raises(HashInputError):
        index.add(np.array([1.0, 2.0]), good)
    with pytest.raises(HashInputError):
        index.remove(np.array([[1, 2]]))
    with pytest.raises(HashInputError):
        PDQIndex.build([0, 1], good)
    assert issubclass(HashInputError, ValueError)


# -- exact digests -----------------------------------------------------------------------------------


def test_exact_index_add_remove_query_and_persist(tmp_path):
    md5 = ExactIndex(digest_bytes=16)
    a, b = "0" * 31 + "1", "ab" * 16
    md5.add(np.array([1, 2, 3]), [a, a, b])
    assert [x.tolist() for x in md5.query([a, b, "cd" * 16])] == [[1, 2], [3], []]
    assert md5.remove(np.array([2, 99])) == 1
    assert md5.query([a])[0].tolist() == [1] and len(md5) == 2
    raw = np.frombuffer(bytes.fromhex(b), np.uint8).reshape(1, 16)
    assert md5.query(raw)[0].tolist() == [3]
    md5.save(tmp_path / "md5", checkpoint=77)
    loaded, checkpoint = ExactIndex.load(tmp_path / "md5")
    assert checkpoint == 77 and [x.tolist() for x in loaded.query([a, b])] == [[1], [3]]
    with pytest.raises(HashInputError):
        md5.add(np.array([1]), ["00" * 32])  # a SHA-256 digest in an MD5 index
    with pytest.raises(HashInputError):
        ExactIndex(digest_bytes=17)
