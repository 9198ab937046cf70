"""Sign-in throttling by (source address, user name), with backoff: failures slow down whoever
makes them, from where they make them, and never lock the account's owner out from elsewhere."""

from __future__ import annotations

import threading
from dataclasses import dataclass

# Failures from one source for one name before it has to wait; then the wait doubles with each
# further failure, from FIRST_WAIT up to MAX_WAIT. A success from that source clears it, and a
# quiet FORGET_AFTER forgets it.
FREE_FAILURES = 5
FIRST_WAIT = 15.0
MAX_WAIT = 15 * 60.0
FORGET_AFTER = 60 * 60.0
MAX_ENTRIES = 100_000

THROTTLED = "Too many failed sign-ins with this user name from this address: try again in {seconds} s."


@dataclass
class _Entry:
    failures: int
    last: float
    blocked_until: float


class SignInThrottle:
    """In this process's memory, keyed on (source, name) whether or not the name is an account, so
    that being throttled says nothing about who has one. Several server processes each keep their
    own: an attacker gets at most that many times the budget, still with the backoff."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()

    def wait(self, source: str, name: str, at: float) -> float:
        """Seconds this source must wait before trying this name again (0: it may try now)."""
        with self._lock:
            entry = self._entries.get((source, name))
            if entry is None:
                return 0.0
            if at - entry.last > FORGET_AFTER:
                del self._entries[(source, name)]
                return 0.0
            return max(0.0, entry.blocked_until - at)

    def failed(self, source: str, name: str, at: float) -> float:
        """Count a failure; returns the wait it imposes from now (0 while failures are free)."""
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._forget_idle(at)
            entry = self._entries.setdefault((source, name), _Entry(0, at, 0.0))
            if at - entry.last > FORGET_AFTER:
                entry.failures = 0
            entry.failures += 1
            entry.last = at
            over = entry.failures - FREE_FAILURES
            if over < 0:
                return 0.0
            wait = min(MAX_WAIT, FIRST_WAIT * (2 ** min(over, 32)))
            entry.blocked_until = at + wait
            return wait

    def succeeded(self, source: str, name: str) -> None:
        with self._lock:
            self._entries.pop((source, name), None)

    def _forget_idle(self, at: float) -> None:
        idle = [key for key, entry in self._entries.items() if at - entry.last > FORGET_AFTER]
        for key in idle:
            del self._entries[key]
        if len(self._entries) >= MAX_ENTRIES:  # a flood of fresh names: start again rather than grow
            self._entries.clear()
