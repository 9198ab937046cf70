"""The intake batcher in a process of its own, beside the HTTP server (`intake_writer = "process"`).

In one Python process the event loop (HTTP, validation) and the batch writer take turns on one
interpreter lock, so the server uses one core however many the machine has. With the writer in a
child process, the two run side by side: the server validates and forwards each notice over a
pipe, the child writes batches (`intake.batcher.IntakeBatcher`, the same code as in-process) and
answers each notice after its batch has committed. The receipt still leaves only after the commit.

If the child dies, the notices waiting on it are answered 503 (send it again; an
`Idempotency-Key` makes that safe) and the next notice starts a new child.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import itertools
import logging
import multiprocessing
import threading
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Any

from staydown import errors
from staydown.cases.rules import CaseRules
from staydown.db import SqliteCheckpointer
from staydown.errors import NotReady, StaydownError
from staydown.intake.batch import Outcome, Submission
from staydown.intake.batcher import IntakeBatcher
from staydown.matching.engine import MatchEngine
from staydown.observability.metrics import INTAKE_WAITING
from staydown.runtime import build_database, catalogue_from, configure_logging
from staydown.settings import load_settings
from staydown.transparency.statement_settings import configure as configure_statements

log = logging.getLogger("staydown.intake")


def _error_payload(exc: BaseException) -> tuple[str, str, Any, str | None]:
    if isinstance(exc, StaydownError):
        return type(exc).__name__, exc.message, exc.details, getattr(exc, "code", None)
    return "Exception", f"{type(exc).__name__}: {exc}", None, None


def _error_from(payload: tuple[str, str, Any, str | None]) -> BaseException:
    name, message, details, code = payload
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, StaydownError):
        return cls(message, details=details, code=code)
    return RuntimeError(f"the intake writer failed: {message}")


class ProcessIntake:
    """`IntakeBatcher`'s interface (`file`, `close`) with the writing done in a child process."""

    def __init__(self, *, max_waiting: int = 10_000) -> None:
        self.max_waiting = max_waiting
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._outgoing: collections.deque[tuple[int, Submission]] = collections.deque()
        self._pending: dict[int, Future[Outcome]] = {}
        self._ids = itertools.count(1)
        self._child: Any = None
        self._conn: Connection | None = None
        self._closing = False

    # -- the server's side --------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            self._start_locked()

    def _start_locked(self) -> None:
        if self._child is not None:  # alive, or dead and about to be noticed by its receive loop
            return
        context = multiprocessing.get_context("spawn")  # never fork a process that has threads
        ours, theirs = context.Pipe(duplex=True)
        child = context.Process(target=child_main, args=(theirs,), name="staydown-intake-writer", daemon=True)
        child.start()
        theirs.close()
        self._child, self._conn = child, ours
        threading.Thread(target=self._send_loop, args=(ours,), name="staydown-intake-send", daemon=True).start()
        threading.Thread(
            target=self._receive_loop, args=(ours, child), name="staydown-intake-receive", daemon=True
        ).start()

    def submit(self, submission: Submission) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        with self._lock:
            if self._closing:
                raise NotReady("the service is shutting down: send the notice again shortly")
            if len(self._pending) >= self.max_waiting:
                raise NotReady("too many notices are waiting to be stored: send it again shortly")
            self._start_locked()
            rid = next(self._ids)
            self._pending[rid] = future
            INTAKE_WAITING.set(len(self._pending))
            self._outgoing.append((rid, submission))
            self._ready.notify()
        return future

    async def file(self, submission: Submission) -> Outcome:
        return await asyncio.wrap_future(self.submit(submission))

    def close(self, timeout: float = 30.0) -> None:
        """Let the child write what it has, then stop it."""
        with self._lock:
            self._closing = True
            self._ready.notify_all()
            child, conn = self._child, self._conn
        if child is not None:
            child.join(timeout)
            if child.is_alive():
                child.terminate()
        if conn is not None:
            conn.close()
        with self._lock:
            self._child = self._conn = None
            self._closing = False

    def _send_loop(self, conn: Connection) -> None:
        while True:
            with self._lock:
                while not self._outgoing and not self._closing and self._conn is conn:
                    self._ready.wait()
                if self._conn is not conn:
                    return  # a new child took over
                items = list(self._outgoing)
                self._outgoing.clear()
                closing = self._closing
            try:
                if items:
                    conn.send(items)  # everything that arrived since the last send, in one message
                if closing and not items:
                    conn.send(None)  # no more: finish and exit
                    return
            except (OSError, ValueError):
                return  # the receive loop sees the child gone and answers the waiting notices

    def _receive_loop(self, conn: Connection, child: Any) -> None:
        while True:
            try:
                replies = conn.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                INTAKE_WAITING.set(max(0, len(self._pending) - len(replies)))
            for rid, ok, value in replies:
                with self._lock:
                    future = self._pending.pop(rid, None)
                if future is None:
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(_error_from(value))
        with self._lock:
            if self._conn is not conn:
                return  # closed on purpose
            self._child = self._conn = None
            lost = list(self._pending.values())
            self._pending.clear()
            self._outgoing.clear()
            self._ready.notify_all()  # the send loop of this child ends
        if lost:
            log.error(
                "the intake writer process ended (exit code %s) with %d notices unanswered", child.exitcode, len(lost)
            )
        for future in lost:
            future.set_exception(
                NotReady(
                    "the notice could not be confirmed as stored: send it again "
                    "(with the same Idempotency-Key, if you used one)"
                )
            )


# -- the child --------------------------------------------------------------------------------


def child_main(conn: Connection) -> None:
    """Build what intake needs from the same settings as the server, then write batches."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    database = build_database(settings)
    catalogue = catalogue_from(settings)
    configure_statements(database, settings, catalogue=catalogue)
    rules = CaseRules.from_settings(settings, catalogue)
    # A replica for perceptual copies only, brought up to date when a batch has something to match
    # (`batch._copies`); the server's own follower keeps and saves the index.
    engine = MatchEngine(database, index_dir=settings.index_dir)
    engine.load()
    checkpointer = SqliteCheckpointer(database.engine).start()  # the log is copied here, not in a batch's commit
    batcher = IntakeBatcher(
        database,
        lambda: {
            "catalogue": catalogue,
            "rules": rules,
            "engine": engine,
            "job_max_attempts": settings.job_max_attempts,
        },
    )
    send_lock = threading.Lock()
    request_of: dict[int, int] = {}  # id(future) -> the server's request id

    def answer(futures: list[Future[Outcome]], results: list[Any]) -> None:
        replies = []
        for future, result in zip(futures, results, strict=True):
            rid = request_of.pop(id(future))
            if isinstance(result, BaseException):
                replies.append((rid, False, _error_payload(result)))
            else:
                replies.append((rid, True, result))
        send(replies)

    def send(replies: list[Any]) -> None:
        with send_lock:
            with contextlib.suppress(OSError, ValueError):  # the server is gone
                conn.send(replies)  # a whole batch's answers in one message

    batcher.answer = answer  # type: ignore[method-assign]
    batcher.counts_waiting = False  # the server process counts these as waiting
    gc.collect()
    gc.freeze()
    while True:
        try:
            items = conn.recv()
        except (EOFError, OSError):
            break
        if items is None:
            break
        for rid, submission in items:

            def register(future: Future[Outcome], rid: int = rid) -> None:
                request_of[id(future)] = rid

            try:
                batcher.submit(submission, register=register)
            except StaydownError as exc:
                send([(rid, False, _error_payload(exc))])
    batcher.close()
    checkpointer.stop()
    database.dispose()
