"""Enqueue jobs inside the caller's transaction; the registry of what each job kind runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.db import now
from staydown.delivery.models import Job, JobState
from staydown.jsonutil import jsonable

if TYPE_CHECKING:
    from staydown.db import Database

DEFAULT_MAX_ATTEMPTS = 20


@dataclass(frozen=True)
class JobContext:
    """What a handler gets besides the database session."""

    job_id: int
    kind: str
    payload: dict[str, Any]
    attempt: int
    services: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Session, JobContext], None]
# Runs many claimed jobs of one kind at once, outside any transaction of the worker's, and says
# how each went: None for done, or the error to retry it with. It must not raise for one job's
# failure; whatever it raises fails the whole batch (each job is retried on its own backoff).
BatchHandler = Callable[["Database", list[JobContext]], dict[int, "str | None"]]


class JobRegistry:
    """Job kinds and their handlers. Explicit registration, so a worker runs only what its
    process was built with, and tests can add their own kinds."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._batch_handlers: dict[str, BatchHandler] = {}

    def register(self, kind: str, handler: Handler) -> None:
        if kind in self._handlers and self._handlers[kind] is not handler:
            raise ValueError(f"job kind {kind!r} is already registered")
        self._handlers[kind] = handler

    def handler(self, kind: str) -> Callable[[Handler], Handler]:
        def wrap(fn: Handler) -> Handler:
            self.register(kind, fn)
            return fn

        return wrap

    def register_batch(self, kind: str, handler: BatchHandler) -> None:
        """A kind whose jobs a worker may run many at a time (webhooks: one POST each, concurrently).
        The kind keeps its single-job handler too (`register`)."""
        if kind in self._batch_handlers and self._batch_handlers[kind] is not handler:
            raise ValueError(f"job kind {kind!r} already has a batch handler")
        self._batch_handlers[kind] = handler

    def get(self, kind: str) -> Handler | None:
        return self._handlers.get(kind)

    def get_batch(self, kind: str) -> BatchHandler | None:
        return self._batch_handlers.get(kind)

    @property
    def batch_kinds(self) -> frozenset[str]:
        return frozenset(self._batch_handlers)

    @property
    def kinds(self) -> list[str]:
        return sorted(self._handlers)


def enqueue(
    db: Session,
    *,
    kind: str,
    payload: dict[str, Any],
    idempotency_key: str | None = None,
    ordering_key: str | None = None,
    run_at: datetime | None = None,
    delay: timedelta | None = None,
    max_attempts: int | None = None,
    key_is_new: bool = False,
) -> Job:
    """Write a job in the caller's transaction: it exists if and only if the change commits.

    `key_is_new`: the caller knows no job can have this key yet (it names a row this transaction
    just inserted), so the look-up is skipped and the insert waits for the next flush, which
    batches it with its neighbours; the key's unique constraint still guards the promise."""
    if idempotency_key is not None and not key_is_new:
        existing = db.execute(sa.select(Job).where(Job.idempotency_key == idempotency_key)).scalar_one_or_none()
        if existing is not None:
            return existing
    when = now(db)
    job = Job(
        kind=kind,
        payload=jsonable(payload),
        idempotency_key=idempotency_key,
        ordering_key=ordering_key,
        state=JobState.pending.value,
        run_at=run_at or (when + delay if delay else when),
        attempts=0,
        max_attempts=max_attempts or db.info.get("job_max_attempts", DEFAULT_MAX_ATTEMPTS),
        created_at=when,
    )
    db.add(job)
    if not key_is_new:
        db.flush()
    db.info["jobs_enqueued"] = True
    return job
