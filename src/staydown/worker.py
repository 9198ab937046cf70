"""The outbox worker: claims due jobs, runs them after their transaction committed, retries."""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from staydown import audit
from staydown.actors import SYSTEM, Actor
from staydown.audit import AuditTag
from staydown.db import Database, now
from staydown.errors import Conflict
from staydown.delivery.models import Job, JobAttempt, JobState
from staydown.delivery.outbox import JobContext, JobRegistry, enqueue

log = logging.getLogger("staydown.worker")

MAX_ERROR_CHARS = 4000


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 2.0
    cap_seconds: float = 3600.0
    lease_seconds: int = 300

    def delay(self, attempt: int, rng: random.Random | None = None) -> timedelta:
        """Exponential backoff with jitter: between half and all of base * 2^(attempt-1), capped.
        Half is kept so that a burst of failures spreads out without retrying at once."""
        full = min(self.cap_seconds, self.base_seconds * (2 ** max(0, attempt - 1)))
        rng = rng or random
        return timedelta(seconds=rng.uniform(full / 2, full))


@dataclass(frozen=True)
class Claimed:
    job_id: int
    kind: str
    payload: dict[str, Any]
    attempt: int


def default_worker_id() -> str:
    # Unique per Worker object: two workers built in one thread must not share a lease identity.
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Worker:
    def __init__(
        self,
        database: Database,
        registry: JobRegistry,
        *,
        worker_id: str | None = None,
        retry: RetryPolicy | None = None,
        batch_size: int = 10,
        services: dict[str, Any] | None = None,
    ) -> None:
        self.database = database
        self.registry = registry
        self.worker_id = worker_id or default_worker_id()
        self.retry = retry or RetryPolicy()
        self.batch_size = batch_size
        self.services = services or {}
        # (job kind, every N seconds): enqueued once per time slot across all workers, by key.
        self.periodic: list[tuple[str, int]] = []
        self._next_periodic_check = 0.0
        # Set after any commit that enqueued a job, so work starts without waiting for a poll.
        self.wakeup = database.job_signal

    # -- claiming ---------------------------------------------------------------------------

    def claim(self, limit: int | None = None) -> list[Claimed]:
        limit = limit or self.batch_size
        with self.database.unit_of_work() as db:
            when = now(db)
            earlier = aliased(Job)
            blocked_by_earlier = (
                sa.select(earlier.id)
                .where(
                    earlier.ordering_key == Job.ordering_key,
                    earlier.id < Job.id,
                    earlier.state.in_([JobState.pending.value, JobState.running.value]),
                )
                .exists()
            )
            due = sa.or_(
                sa.and_(Job.state == JobState.pending.value, Job.run_at <= when),
                # A worker that died mid-job loses its lease; the job runs again (at least once).
                sa.and_(Job.state == JobState.running.value, Job.locked_until < when),
            )
            stmt = (
                sa.select(Job)
                .where(due, sa.or_(Job.ordering_key.is_(None), ~blocked_by_earlier))
                .order_by(Job.run_at, Job.id)
                .limit(limit)
            )
            if db.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True, of=Job)
            jobs = db.execute(stmt).scalars().all()
            claimed: list[Claimed] = []
            for job in jobs:
                if job.state == JobState.running.value:
                    self._close_open_attempts(db, job, "lost", "lease expired: the worker running it stopped")
                job.state = JobState.running.value
                job.locked_by = self.worker_id
                job.locked_until = when + timedelta(seconds=self.retry.lease_seconds)
                job.attempts += 1
                db.add(JobAttempt(job_id=job.id, attempt=job.attempts, worker=self.worker_id, started_at=when))
                claimed.append(Claimed(job.id, job.kind, dict(job.payload), job.attempts))
            return claimed

    @staticmethod
    def _close_open_attempts(db: Session, job: Job, outcome: str, error: str) -> None:
        for attempt in db.execute(
            sa.select(JobAttempt).where(JobAttempt.job_id == job.id, JobAttempt.finished_at.is_(None))
        ).scalars():
            attempt.finished_at = now(db)
            attempt.outcome = outcome
            attempt.error = error

    # -- running ----------------------------------------------------------------------------

    def _still_ours(self, db: Session, claimed: Claimed) -> Job | None:
        stmt = sa.select(Job).where(Job.id == claimed.job_id)
        if db.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        job = db.execute(stmt).scalar_one_or_none()
        # The attempt number fences a worker whose lease expired and whose job was re-claimed.
        if job is None or job.locked_by != self.worker_id or job.attempts != claimed.attempt:
            return None
        if job.state != JobState.running.value:
            return None
        return job

    def run_claimed(self, claimed: Claimed) -> bool:
        """Run one claimed job; its handler's writes and the job's completion commit together."""
        handler = self.registry.get(claimed.kind)
        try:
            with self.database.unit_of_work() as db:
                job = self._still_ours(db, claimed)
                if job is None:
                    log.warning("job %s attempt %s is no longer ours; skipped", claimed.job_id, claimed.attempt)
                    return False
                if handler is None:
                    raise LookupError(f"no handler for job kind {claimed.kind!r} in this worker")
                handler(db, JobContext(claimed.job_id, claimed.kind, claimed.payload, claimed.attempt, self.services))
                job.state = JobState.done.value
                job.finished_at = now(db)
                job.locked_by = None
                job.locked_until = None
                job.last_error = None
                self._finish_attempt(db, claimed, "ok", None)
            return True
        except Exception as exc:  # noqa: BLE001 - any failure of a job is recorded and retried
            error = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:MAX_ERROR_CHARS]
            log.warning("job %s (%s) attempt %s failed: %s", claimed.job_id, claimed.kind, claimed.attempt, error)
            self._record_failure(claimed, error)
            return False

    def _finish_attempt(self, db: Session, claimed: Claimed, outcome: str, error: str | None) -> None:
        attempt = db.execute(
            sa.select(JobAttempt).where(
                JobAttempt.job_id == claimed.job_id, JobAttempt.attempt == claimed.attempt
            )
        ).scalar_one_or_none()
        if attempt is not None:
            attempt.finished_at = now(db)
            attempt.outcome = outcome
            attempt.error = error

    def _record_failure(self, claimed: Claimed, error: str) -> None:
        with self.database.unit_of_work() as db:
            job = self._still_ours(db, claimed)
            if job is None:
                return
            self._finish_attempt(db, claimed, "error", error)
            job.last_error = error
            job.locked_by = None
            job.locked_until = None
            if job.attempts >= job.max_attempts:
                job.state = JobState.dead.value
                job.finished_at = now(db)
                # A dead job is an alarm: it is audited so that it shows up on the record and in
                # the console, not only in a log file.
                audit.record(db, actor=SYSTEM, tag=AuditTag.JOB_DEAD, subject_type="job", subject_id=job.id,
                             data={"kind": job.kind, "attempts": job.attempts, "error": error[:500]})
                log.error("job %s (%s) is dead after %s attempts", job.id, job.kind, job.attempts)
            else:
                job.state = JobState.pending.value
                job.run_at = now(db) + self.retry.delay(job.attempts)

    def schedule_periodic(self) -> int:
        """Enqueue each periodic job for the current time slot unless some worker already did:
        the slot is in the idempotency key, so many workers make one job per slot."""
        made = 0
        with self.database.unit_of_work() as db:
            when = now(db)
            for kind, every in self.periodic:
                slot = int(when.timestamp()) // every
                key = f"periodic:{kind}:{slot}"
                if db.execute(sa.select(Job.id).where(Job.idempotency_key == key)).first():
                    continue
                try:
                    with db.begin_nested():
                        enqueue(db, kind=kind, payload={"slot": slot}, idempotency_key=key, max_attempts=3)
                    made += 1
                except IntegrityError:
                    pass  # another worker scheduled this slot a moment ago
        return made

    def run_once(self) -> int:
        """Claim and run one batch. Returns how many jobs were claimed."""
        if self.periodic and time.monotonic() >= self._next_periodic_check:
            self._next_periodic_check = time.monotonic() + 5.0
            self.schedule_periodic()
        batch = self.claim()
        for claimed in batch:
            self.run_claimed(claimed)
        return len(batch)

    def run_until_idle(self, max_batches: int = 1000) -> int:
        total = 0
        for _ in range(max_batches):
            n = self.run_once()
            total += n
            if n == 0:
                break
        return total

    def run_forever(self, stop: threading.Event, poll_seconds: float = 0.5) -> None:
        log.info("worker %s started", self.worker_id)
        while not stop.is_set():
            try:
                n = self.run_once()
            except Exception:  # noqa: BLE001 - the loop must outlive a database outage
                log.exception("worker %s: claiming failed; retrying", self.worker_id)
                n = 0
            if n == 0:
                self.wakeup.wait(poll_seconds)
                self.wakeup.clear()
        log.info("worker %s stopped", self.worker_id)


def requeue_dead_job(db: Session, *, actor: Actor, job: Job, reason: str) -> Job:
    """Give a dead job another round of attempts (an operator's decision, audited)."""
    if job.state != JobState.dead.value:
        raise Conflict(f"job {job.id} is {job.state}, not dead")
    job.state = JobState.pending.value
    job.run_at = now(db)
    job.max_attempts = job.attempts + job.max_attempts
    job.finished_at = None
    audit.record(db, actor=actor, tag=AuditTag.JOB_REQUEUE, subject_type="job", subject_id=job.id,
                 data={"reason": reason, "kind": job.kind})
    return job
