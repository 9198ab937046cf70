"""A cap on concurrent media decodes, with a short queue: past it, a scan is told to come back.

Decoding and hashing are CPU and memory work: on a machine with two cores, two at a time keep both
busy, and more only share the same cores while each holds its decoded pixels (a 7000 x 7000 PNG is
147 MB as RGB). So at most `active` scans decode at once, at most `waiting` more wait for a turn
(no longer than `wait_seconds`), and any further scan is answered 503 with Retry-After at once,
before its media is touched. Memory for decodes is then bounded by `active` times the per-decode
limit (`DecodeLimits.max_decode_bytes`). Per process: each server process has its own slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator

from staydown.errors import Busy

__all__ = ["DecodeSlots"]


class DecodeSlots:
    def __init__(self, active: int, waiting: int, wait_seconds: float) -> None:
        if active < 1 or waiting < 0 or wait_seconds <= 0:
            raise ValueError("DecodeSlots needs active >= 1, waiting >= 0 and a positive wait")
        self.active = active
        self.waiting = waiting
        self.wait_seconds = wait_seconds
        self._lock = threading.Lock()
        self._admitted = 0  # decoding or waiting
        self._semaphores: dict[int, asyncio.Semaphore] = {}

    @property
    def in_flight(self) -> int:
        return self._admitted

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        with self._lock:
            sem = self._semaphores.get(id(loop))
            if sem is None:
                sem = self._semaphores[id(loop)] = asyncio.Semaphore(self.active)
            return sem

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        with self._lock:
            if self._admitted >= self.active + self.waiting:
                raise Busy(
                    f"{self.active} media decodes are running and {self.waiting} waiting, the most "
                    "this server takes: nothing was scanned, try again shortly",
                    retry_after=1,
                )
            self._admitted += 1
        try:
            sem = self._semaphore()
            try:
                await asyncio.wait_for(sem.acquire(), timeout=self.wait_seconds)
            except TimeoutError:
                raise Busy(
                    f"no decode slot came free within {self.wait_seconds:g} s: nothing was scanned, try again shortly",
                    retry_after=2,
                ) from None
            try:
                yield
            finally:
                sem.release()
        finally:
            with self._lock:
                self._admitted -= 1
