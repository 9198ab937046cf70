"""Group commit for notices: whatever arrives while one batch is being written goes into the next.

Every request that files a notice waits for the commit of the batch its notice is in; its receipt
leaves only after that commit, so an acknowledged notice is durable (nothing acknowledged is lost).
One thread per process writes the batches. Under light load a batch is one notice and the latency
is one transaction; under heavy load a batch holds everything that arrived during the previous
one, so the cost per notice falls as the load rises instead of requests queueing for the write
lock one at a time (docs/bench-intake.md).

If a batch fails as a whole (a database error, another process creating the same content at the
same moment), it is rolled back and each of its notices is tried again alone, so one notice's
failure is that notice's error and nobody else's.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from staydown.db import Database, OutageLog, database_unavailable
from staydown.errors import DatabaseUnavailable, NotReady
from staydown.intake.batch import Outcome, Submission, submit_notices
from staydown.observability.metrics import INTAKE_BATCH, INTAKE_NOTICES, INTAKE_WAITING

log = logging.getLogger("staydown.intake")

MAX_BATCH = 64  # notices per transaction: enough to amortise it, few enough that a batch stays short
MAX_WAITING = 10_000  # beyond this, answer 503 rather than grow without bound


class IntakeBatcher:
    def __init__(
        self,
        database: Database,
        services: Callable[[], dict[str, Any]],
        *,
        max_batch: int = MAX_BATCH,
        max_waiting: int = MAX_WAITING,
    ) -> None:
        """`services()`: the catalogue, case rules, match engine and job attempts in force now (read
        at each batch, so a policy reload applies to the next batch)."""
        self.database = database
        self.services = services
        self.max_batch = max_batch
        self.max_waiting = max_waiting
        self._waiting: collections.deque[tuple[Submission, Future[Outcome]]] = collections.deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.batches = 0
        self.notices = 0
        self.outage = OutageLog(log, "intake")
        # Whether this batcher is the one requests wait on (not a writer process's, whose notices
        # the server process already counts as waiting).
        self.counts_waiting = True

    # -- callers ------------------------------------------------------------------------------

    def submit(
        self, submission: Submission, register: Callable[[Future[Outcome]], None] | None = None
    ) -> Future[Outcome]:
        """Queue a notice; `register(future)` runs before the writer can see it."""
        future: Future[Outcome] = Future()
        if register is not None:
            register(future)
        with self._cond:
            if self._stopping:
                raise NotReady("the service is shutting down: send the notice again shortly")
            if len(self._waiting) >= self.max_waiting:
                raise NotReady("too many notices are waiting to be stored: send it again shortly")
            self._waiting.append((submission, future))
            if self.counts_waiting:
                INTAKE_WAITING.set(len(self._waiting))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="staydown-intake", daemon=True)
                self._thread.start()
            self._cond.notify()
        return future

    async def file(self, submission: Submission) -> Outcome:
        """Queue a notice and wait, without holding a thread, until its batch is committed."""
        return await asyncio.wrap_future(self.submit(submission))

    def close(self, timeout: float = 30.0) -> None:
        """Write what is waiting, then stop."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._cond:
            self._stopping = False  # an app can be started again (tests do); the thread starts on demand

    # -- the writer ---------------------------------------------------------------------------

    def _take(self) -> list[tuple[Submission, Future[Outcome]]]:
        """The next batch: in arrival order, but never the same Idempotency-Key twice (the second
        waits for the next batch, where it finds the first one stored)."""
        batch: list[tuple[Submission, Future[Outcome]]] = []
        keys: set[str] = set()
        deferred: list[tuple[Submission, Future[Outcome]]] = []
        while self._waiting and len(batch) < self.max_batch:
            entry = self._waiting.popleft()
            key = entry[0].idempotency_key
            if key is not None and key in keys:
                deferred.append(entry)
                continue
            if key is not None:
                keys.add(key)
            batch.append(entry)
        self._waiting.extendleft(reversed(deferred))
        return batch

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._stopping:
                    self._cond.wait()
                if not self._waiting:
                    self._thread = None
                    return
                batch = self._take()
                if self.counts_waiting:
                    INTAKE_WAITING.set(len(self._waiting))
            self._write(batch)

    def _write(self, batch: list[tuple[Submission, Future[Outcome]]]) -> None:
        services = self.services()
        try:
            with self.database.unit_of_work() as db:
                db.info["job_max_attempts"] = services.get("job_max_attempts")
                results = submit_notices(
                    db,
                    [s for s, _ in batch],
                    catalogue=services["catalogue"],
                    rules=services["rules"],
                    engine=services.get("engine"),
                )
        except Exception as exc:  # noqa: BLE001 - the whole batch is rolled back: nothing of it was stored
            if database_unavailable(exc):
                # One by one would only meet the same outage 64 times over; and the notices that
                # arrived while this batch waited would wait as long again: all are told at once.
                with self._cond:
                    waiting = list(self._waiting)
                    self._waiting.clear()
                self.outage.failed(exc)
                futures = [f for _, f in batch + waiting]
                self.answer(futures, [DatabaseUnavailable()] * len(futures))
                return
            if len(batch) > 1:
                log.warning(
                    "a batch of %d notices failed (%s: %s); trying each alone", len(batch), type(exc).__name__, exc
                )
                for entry in batch:
                    self._write([entry])
                return
            self.answer([batch[0][1]], [exc])
            return
        self.outage.ok()
        INTAKE_BATCH.observe(len(batch))
        INTAKE_NOTICES.inc(len(batch))
        self.batches += 1
        self.notices += len(batch)
        self.answer([f for _, f in batch], results)

    @staticmethod
    def answer(futures: list[Future[Outcome]], results: list[Any]) -> None:
        """Tell each waiting request its outcome, once its batch has committed (a writer process
        replaces this to answer a whole batch in one message)."""
        for future, result in zip(futures, results, strict=True):
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
