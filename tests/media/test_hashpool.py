"""Scans hashed in worker processes (media/hashpool.py): the same signals and variants as in the
server's own process, errors with their codes, and a crashed worker costs one scan, not the next
(REQ UK-1: a scan that no upload can stall)."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from staydown.app import create_app
from staydown.db import Database
from staydown.matching.scanning import hash_upload
from staydown.media.decode import DEFAULT_LIMITS, DecodeLimits
from staydown.media.errors import CorruptMedia, MediaError, MediaTooLarge
from staydown.media.hashpool import HashPool
from tests.helpers import auth, make_key
from tests.imagegen import encode, synthetic


@pytest.fixture(scope="module")
def pool():
    p = HashPool(1)
    yield p
    p.close()


def test_media_errors_cross_a_pipe_with_their_code() -> None:
    err = MediaTooLarge("over the limit", code="too_much_memory")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is MediaTooLarge and back.code == "too_much_memory" and back.message == "over the limit"


def test_UK1_a_worker_hashes_exactly_as_the_server_would(pool: HashPool) -> None:
    data = encode(synthetic(41, (640, 480)), "JPEG")
    here = hash_upload(data, limits=DEFAULT_LIMITS)
    there = asyncio.run(pool.hash(data, DEFAULT_LIMITS))
    assert there.signals == here.signals
    assert [tuple(v) for v in there.variants] == [tuple(v) for v in here.variants]


def test_UK1_errors_come_back_typed_with_their_limits(pool: HashPool) -> None:
    data = encode(synthetic(42, (900, 900)), "PNG")
    with pytest.raises(MediaTooLarge) as err:
        asyncio.run(pool.hash(data, DecodeLimits(max_pixels=100_000)))
    assert err.value.code == "too_many_pixels"
    with pytest.raises(MediaError):
        asyncio.run(pool.hash(b"\x89PNG\r\n\x1a\n not really", DEFAULT_LIMITS))


def test_UK1_a_crashed_worker_fails_only_its_own_scan() -> None:
    """A decoder killed mid-scan (hostile input, the OOM killer) answers that scan 422
    `decoder_crashed`; the next scan gets a fresh worker."""
    pool = HashPool(1)
    try:
        asyncio.run(pool.hash(encode(synthetic(43, (64, 64)), "PNG"), DEFAULT_LIMITS))  # started
        victims = list(pool._pool()._processes)
        assert len(victims) == 1

        async def scan_while_killed() -> None:
            task = asyncio.create_task(pool.hash(encode(synthetic(44, (2000, 2000)), "PNG"), DEFAULT_LIMITS))
            await asyncio.sleep(0.05)
            os.kill(victims[0], signal.SIGKILL)
            await task

        with pytest.raises(CorruptMedia) as err:
            asyncio.run(scan_while_killed())
        assert err.value.code == "decoder_crashed"
        after = asyncio.run(pool.hash(encode(synthetic(45, (320, 240)), "JPEG"), DEFAULT_LIMITS))
        assert after.signals.width == 320
        assert victims[0] not in pool._pool()._processes
    finally:
        pool.close()


def test_UK1_scan_over_http_through_worker_processes(settings, database: Database) -> None:
    """The route hashes in the pool when the app has one (what `staydown serve` builds) and
    answers exactly as the in-process path does; a hostile upload still gets its 422."""
    key = make_key(database, scopes=["scan"])
    data = encode(synthetic(46, (800, 600)), "JPEG")
    expected = hash_upload(data, limits=settings.decode_limits())
    app = create_app(settings, database=database, run_worker=False, hash_processes=True)
    with TestClient(app) as client:
        assert app.state.hash_pool is not None
        r = client.post("/v1/scan", files={"file": ("a.jpg", data, "image/jpeg")}, headers=auth(key))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["signals"]["pdq"] == expected.signals.pdq
        assert body["query_variants"] == len(expected.variants)
        bad = client.post(
            "/v1/scan", files={"file": ("b.png", b"\x89PNG\r\n\x1a\nbroken", "image/png")}, headers=auth(key)
        )
        assert bad.status_code == 422 and bad.json()["error"] in {"corrupt_media", "truncated_media"}, bad.text


def test_blas_runs_one_thread_even_when_numpy_came_first() -> None:
    """An application that imported NumPy before staydown still gets single-threaded BLAS: with
    a thread per core, a scan cost 4-15 times as much on a busy 2-core machine."""
    code = (
        "import os; [os.environ.pop(k, None) for k in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS')]\n"
        "import numpy, ctypes\n"
        "paths = {l.split()[-1] for l in open('/proc/self/maps') if 'openblas' in l.lower() and '.so' in l}\n"
        "libs = [ctypes.CDLL(p) for p in paths]\n"
        "names = ('openblas_get_num_threads', 'openblas_get_num_threads64_', 'scipy_openblas_get_num_threads64_')\n"
        "get = next(getattr(l, n) for l in libs for n in names if hasattr(l, n))\n"
        "before = get()\n"
        "import staydown\n"
        "print(before, get())\n"
    )
    env = {
        k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    }
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    before, after = (int(x) for x in out.stdout.split())
    assert after == 1
    if (os.cpu_count() or 1) > 1:
        assert before > 1  # the test would prove nothing where NumPy starts single-threaded anyway
