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
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from staydown import audit
from staydown.actors import SYSTEM, Actor
from staydown.audit import AuditTag
from staydown.db import Database, OutageLog, now
from staydown.delivery.models import Job, JobAttempt, JobState
from staydown.delivery.outbox import JobContext, JobRegistry, enqueue
from staydown.errors import Conflict

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
        uniform = rng.uniform if rng is not None else random.uniform
        return timedelta(seconds=uniform(full / 2, full))


@dataclass(frozen=True)
class Claimed:
    job_id: int
    kind: str
    payload: dict[str, Any]
    attempt: int


def _error_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()[:MAX_ERROR_CHARS]


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
        bulk_size: int = 100,
        services: dict[str, Any] | None = None,
    ) -> None:
        self.database = database
        self.registry = registry
        self.worker_id = worker_id or default_worker_id()
        self.retry = retry or RetryPolicy()
        self.batch_size = batch_size
        # How many jobs of kinds with a batch handler (webhooks) one claim may take: each job of
        # those costs a fraction of a claim, a run and a completion transaction instead of all three.
        self.bulk_size = max(bulk_size, batch_size)
        self.services = services or {}
        # (job kind, every N seconds): enqueued once per time slot across all workers, by key.
        self.periodic: list[tuple[str, int]] = []
        self._next_periodic_check = 0.0
        # Set after any commit that enqueued a job, so work starts without waiting for a poll.
        self.wakeup = database.job_signal
        # Jobs this worker leased whose outcome it could not record (the database went away):
        # handed back as soon as it is reachable again, rather than after their lease expires.
        self.stranded: list[Claimed] = []
        self.outage = OutageLog(log, f"worker {self.worker_id}")

    # -- claiming ---------------------------------------------------------------------------

    def claim(self, limit: int | None = None) -> list[Claimed]:
        """Lease due jobs: up to `limit` (the batch size) of ordinary kinds and, in the same
        statement, up to `bulk_size` of kinds that run in batches. At most one job per ordering
        key is ever leased (the earlier ones block the later), whatever the limits."""
        limit = limit or self.batch_size
        bulk_kinds = self.registry.batch_kinds
        scan = max(limit, self.bulk_size) if bulk_kinds else limit
        if self.database.dialect == "sqlite" and not self._anything_due():
            return []
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
            # Core, not ORM: a claim of a hundred webhooks is three statements, not three hundred.
            stmt = (
                sa.select(Job.id, Job.kind, Job.payload, Job.attempts, Job.state)
                .where(due, sa.or_(Job.ordering_key.is_(None), ~blocked_by_earlier))
                .order_by(Job.run_at, Job.id)
                .limit(scan)
            )
            if db.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True, of=Job)
            rows = db.execute(stmt).all()
            if scan > limit:
                # Rows passed over here stay pending (and, on PostgreSQL, unlocked at commit).
                ordinary = [r.id for r in rows if r.kind not in bulk_kinds][:limit]
                keep = set(ordinary) | {r.id for r in rows if r.kind in bulk_kinds}
                rows = [r for r in rows if r.id in keep]
            if not rows:
                return []
            jobs, attempts = cast(sa.Table, Job.__table__), cast(sa.Table, JobAttempt.__table__)
            lost = [r.id for r in rows if r.state == JobState.running.value]
            if lost:
                db.execute(
                    attempts.update()
                    .where(attempts.c.job_id.in_(lost), attempts.c.finished_at.is_(None))
                    .values(finished_at=when, outcome="lost", error="lease expired: the worker running it stopped")
                )
            db.execute(
                jobs.update()
                .where(jobs.c.id.in_([r.id for r in rows]))
                .values(
                    state=JobState.running.value,
                    locked_by=self.worker_id,
                    locked_until=when + timedelta(seconds=self.retry.lease_seconds),
                    attempts=jobs.c.attempts + 1,
                )
            )
            db.execute(
                attempts.insert(),
                [
                    {"job_id": r.id, "attempt": r.attempts + 1, "worker": self.worker_id, "started_at": when}
                    for r in rows
                ],
            )
            return [Claimed(r.id, r.kind, dict(r.payload), r.attempts + 1) for r in rows]

    def _anything_due(self) -> bool:
        """On SQLite a claim takes the only write lock, in line with every API write: an idle
        worker polling twice a second looks first, in a read transaction, whether to queue."""
        with self.database.unit_of_work(write=False) as db:
            when = now(db)
            return (
                db.execute(
                    sa.select(Job.id)
                    .where(
                        sa.or_(
                            sa.and_(Job.state == JobState.pending.value, Job.run_at <= when),
                            sa.and_(Job.state == JobState.running.value, Job.locked_until < when),
                        )
                    )
                    .limit(1)
                ).first()
                is not None
            )

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
            error = _error_text(exc)
            log.warning("job %s (%s) attempt %s failed: %s", claimed.job_id, claimed.kind, claimed.attempt, error)
            self._record_failure(claimed, error)
            return False

    def _finish_attempt(self, db: Session, claimed: Claimed, outcome: str, error: str | None) -> None:
        attempt = db.execute(
            sa.select(JobAttempt).where(JobAttempt.job_id == claimed.job_id, JobAttempt.attempt == claimed.attempt)
        ).scalar_one_or_none()
        if attempt is not None:
            attempt.finished_at = now(db)
            attempt.outcome = outcome
            attempt.error = error

    def _record_failure(self, claimed: Claimed, error: str) -> None:
        with self.database.unit_of_work() as db:
            self._fail(db, claimed, error)

    def _fail(self, db: Session, claimed: Claimed, error: str) -> None:
        """Record a failed attempt: retry with backoff, or dead-letter (audited) after the last."""
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
            audit.record(
                db,
                actor=SYSTEM,
                tag=AuditTag.JOB_DEAD,
                subject_type="job",
                subject_id=job.id,
                data={"kind": job.kind, "attempts": job.attempts, "error": error[:500]},
            )
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
        if self.stranded:
            self.release_stranded()
        if self.periodic and time.monotonic() >= self._next_periodic_check:
            self._next_periodic_check = time.monotonic() + 5.0
            self.schedule_periodic()
        batch = self.claim()
        batched: dict[str, list[Claimed]] = {}
        for index, claimed in enumerate(batch):
            if self.registry.get_batch(claimed.kind) is not None:
                batched.setdefault(claimed.kind, []).append(claimed)
                continue
            try:
                self.run_claimed(claimed)
            except Exception:
                # Not even the failure could be recorded: the rest of the batch waits with it.
                self.stranded.extend(c for c in batch[index:] if self.registry.get_batch(c.kind) is None)
                self.stranded.extend(c for c in batch if self.registry.get_batch(c.kind) is not None)
                raise
        for kind, group in batched.items():
            try:
                self.run_batch(kind, group)
            except Exception:
                self.stranded.extend(group)
                raise
        return len(batch)

    def release_stranded(self) -> int:
        """Hand back the jobs this worker leased and could not finish recording: due again now,
        the attempt closed as lost. Fenced like a completion (still ours, same attempt, still
        running), so a job whose completion did commit before the connection dropped stays done."""
        stranded, self.stranded = self.stranded, []
        try:
            with self.database.unit_of_work() as db:
                when = now(db)
                jobs, attempts = cast(sa.Table, Job.__table__), cast(sa.Table, JobAttempt.__table__)
                for claimed in stranded:
                    released = cast(  # an UPDATE's result is a cursor's, with its row count
                        "sa.CursorResult[Any]",
                        db.execute(
                            jobs.update()
                            .where(
                                jobs.c.id == claimed.job_id,
                                jobs.c.attempts == claimed.attempt,
                                jobs.c.locked_by == self.worker_id,
                                jobs.c.state == JobState.running.value,
                            )
                            .values(
                                state=JobState.pending.value,
                                run_at=when,
                                locked_by=None,
                                locked_until=None,
                                last_error="the database was unavailable while it ran",
                            )
                        ),
                    ).rowcount
                    if released:
                        db.execute(
                            attempts.update()
                            .where(
                                attempts.c.job_id == claimed.job_id,
                                attempts.c.attempt == claimed.attempt,
                                attempts.c.finished_at.is_(None),
                            )
                            .values(finished_at=when, outcome="lost", error="the database was unavailable while it ran")
                        )
        except Exception:
            self.stranded = stranded + self.stranded
            raise
        if stranded:
            log.info(
                "worker %s handed back %d job(s) it could not finish during a database outage",
                self.worker_id,
                len(stranded),
            )
        return len(stranded)

    def run_batch(self, kind: str, group: list[Claimed]) -> int:
        """Run claimed jobs of one kind through its batch handler, outside any transaction, then
        complete them all in one transaction. Returns how many were done.

        The guarantees are the single-job path's: each job was leased alone for its ordering key
        (so per-key order holds whatever runs concurrently here); its completion is fenced by
        worker id and attempt number; a failure retries that job with backoff or dead-letters it,
        audited; a crash before the completion commits leaves the lease to expire, and the job runs
        again (at least once, same idempotency key)."""
        handler = self.registry.get_batch(kind)
        assert handler is not None
        with self.database.unit_of_work(write=False) as db:
            current = {
                row.id: row
                for row in db.execute(
                    sa.select(Job.id, Job.locked_by, Job.attempts, Job.state).where(
                        Job.id.in_([c.job_id for c in group])
                    )
                )
            }
        ours = [
            c
            for c in group
            if (row := current.get(c.job_id)) is not None
            and row.locked_by == self.worker_id
            and row.attempts == c.attempt
            and row.state == JobState.running.value
        ]
        if len(ours) < len(group):
            log.warning("%d of %d %s jobs are no longer ours; skipped", len(group) - len(ours), len(group), kind)
        if not ours:
            return 0
        contexts = [JobContext(c.job_id, c.kind, c.payload, c.attempt, self.services) for c in ours]
        try:
            results = handler(self.database, contexts)
        except Exception as exc:  # noqa: BLE001 - the batch as a whole failed: each job retries
            error = _error_text(exc)
            log.warning("batch of %d %s jobs failed: %s", len(ours), kind, error)
            results = {c.job_id: error for c in ours}
        done = [c for c in ours if c.job_id in results and results[c.job_id] is None]
        done_ids = {c.job_id for c in done}
        failed = [
            (c, results.get(c.job_id) or "the batch handler gave no result for this job")
            for c in ours
            if c.job_id not in done_ids
        ]
        with self.database.unit_of_work() as db:
            when = now(db)
            if done:
                jobs, attempts = cast(sa.Table, Job.__table__), cast(sa.Table, JobAttempt.__table__)
                params = [{"b_job": c.job_id, "b_attempt": c.attempt} for c in done]
                db.execute(
                    jobs.update()
                    .where(
                        jobs.c.id == sa.bindparam("b_job"),
                        jobs.c.attempts == sa.bindparam("b_attempt"),
                        jobs.c.locked_by == self.worker_id,
                        jobs.c.state == JobState.running.value,
                    )
                    .values(
                        state=JobState.done.value, finished_at=when, locked_by=None, locked_until=None, last_error=None
                    ),
                    params,
                )
                # An attempt already closed as lost (its lease expired and the job was re-claimed)
                # stays lost.
                db.execute(
                    attempts.update()
                    .where(
                        attempts.c.job_id == sa.bindparam("b_job"),
                        attempts.c.attempt == sa.bindparam("b_attempt"),
                        attempts.c.finished_at.is_(None),
                    )
                    .values(finished_at=when, outcome="ok", error=None),
                    params,
                )
            for claimed, error in failed:
                log.warning("job %s (%s) attempt %s failed: %s", claimed.job_id, kind, claimed.attempt, error)
                self._fail(db, claimed, error[:MAX_ERROR_CHARS])
        return len(done)

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
                self.outage.ok()
            except Exception as exc:  # noqa: BLE001 - the loop must outlive a database outage
                self.outage.failed(exc)
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
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.JOB_REQUEUE,
        subject_type="job",
        subject_id=job.id,
        data={"reason": reason, "kind": job.kind},
    )
    return job
