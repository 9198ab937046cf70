"""Scans' decoding and hashing in worker processes beside the server (`scan_hashing = "process"`).

A scan's decode and its query variants are CPU work in Python and NumPy. In the server's own process
they take turns with HTTP, matching and recording on one interpreter lock, so a 2-core machine ran
scans on about one core (bench/scan.py). `staydown serve` therefore hashes in `processes` worker
processes, one per decode slot (`media.admission.DecodeSlots` admits at most that many at once, so
nothing queues inside the pool): the bytes go over a pipe, the signals and variants come back, and
the media never touches disk on the way.

A worker that dies (a decoder crashing on hostile input, the kernel's OOM killer) fails only the
scan it was working on: that scan is answered 422 `decoder_crashed`, and the pool is rebuilt for the
next one. Tests and embedded use hash in a thread of the calling process (`thread`), as before.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from staydown.matching.scanning import hash_upload
from staydown.media.decode import DecodeLimits
from staydown.media.errors import CorruptMedia

__all__ = ["HashPool"]

log = logging.getLogger("staydown.media")


def _hash_job(data: bytes, limits: DecodeLimits) -> Any:
    return hash_upload(data, limits=limits)


def _warm() -> int:
    # Nothing to do: a worker imports this module to run this function, and with it what a scan
    # needs (NumPy, Pillow, the decoders, through `hash_upload`), before the first upload waits on it.
    return 0


class HashPool:
    """`processes` worker processes, started at `start()` (or the first scan), rebuilt after a crash."""

    def __init__(self, processes: int) -> None:
        if processes < 1:
            raise ValueError("HashPool needs at least one process")
        self.processes = processes
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=self.processes, mp_context=multiprocessing.get_context("spawn")
                )
            return self._executor

    def start(self) -> None:
        """Start every worker now, in the background (each takes about a second to import), so the
        first scans do not wait for it."""
        pool = self._pool()
        for _ in range(self.processes):
            pool.submit(_warm)

    def _discard(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is broken:
                self._executor = None
        broken.shutdown(wait=False, cancel_futures=True)

    async def hash(self, data: bytes, limits: DecodeLimits) -> Any:
        """`matching.scanning.hash_upload(data, limits=limits)`, computed in a worker process."""
        pool = self._pool()
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, _hash_job, data, limits)
        except BrokenProcessPool:
            log.error("a scan's hashing process died; the pool is rebuilt for the next scan")
            self._discard(pool)
            raise CorruptMedia(
                "decoding this file stopped the decoder's process: it was not scanned; "
                "a file that does this again is likely built to attack decoders",
                code="decoder_crashed",
            ) from None

    def close(self) -> None:
        with self._lock:
            pool, self._executor = self._executor, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
