"""Where time comes from: the system clock in service, a clock tests can move."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


def utcnow() -> datetime:
    return datetime.now(UTC)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()


class FrozenClock:
    """A clock that only moves when told to; shared safely between threads."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or utcnow()
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        step = delta if delta is not None else timedelta(**kwargs)
        with self._lock:
            self._now += step
            return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("FrozenClock.set needs a timezone-aware time")
        with self._lock:
            self._now = when.astimezone(UTC)


class OffsetClock:
    """The system clock moved by a number of seconds read from a file: for tests and drills that
    replay days of deadlines against a real server (and its writer and worker processes) without
    waiting for them. The file holds one number; it is re-read when it changes. Production
    refuses it (settings)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._os = os
        self._mtime: int | None = None
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def _read(self) -> timedelta:
        try:
            mtime = self._os.stat(self._path).st_mtime_ns
        except FileNotFoundError:
            return timedelta(0)
        with self._lock:
            if mtime != self._mtime:
                try:
                    with open(self._path) as fh:
                        text = fh.read().strip()
                    self._offset = timedelta(seconds=float(text or 0))
                    self._mtime = mtime
                except ValueError:
                    pass  # half-written: keep the last offset until the next change
            return self._offset

    def now(self) -> datetime:
        return utcnow() + self._read()
