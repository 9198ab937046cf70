"""The outbox and its worker: jobs exist only if their change commits, run after commit, retry
with backoff, dead-letter with an alarm, keep order per key, and never run twice at once."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.exc import OperationalError

from staydown import audit
from staydown.actors import SYSTEM
from staydown.audit import AuditTag
from staydown.audit.models import AuditEvent
from staydown.clock import FrozenClock
from staydown.db import Database, database_unavailable
from staydown.delivery.models import Job, JobAttempt, JobState
from staydown.delivery.outbox import JobContext, JobRegistry, enqueue
from staydown.errors import Conflict
from staydown.jobs import RETENTION, SWEEP_DEADLINES, build_registry
from staydown.runtime import build_worker
from staydown.settings import Settings
from staydown.worker import RetryPolicy, Worker, requeue_dead_job


def _job(database: Database, job_id: int) -> Job:
    with database.unit_of_work(write=False) as db:
        return db.get_one(Job, job_id)


def _enqueue(database: Database, kind: str = "t", **kw: object) -> int:
    with database.unit_of_work() as db:
        return enqueue(db, kind=kind, payload=kw.pop("payload", {}), **kw).id  # type: ignore[arg-type]


def test_job_exists_only_if_its_transaction_commits(database: Database) -> None:
    with pytest.raises(RuntimeError):
        with database.unit_of_work() as db:
            enqueue(db, kind="t", payload={"a": 1})
            raise RuntimeError("the change failed")
    with database.unit_of_work(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Job)) == 0


def test_commit_wakes_the_worker(database: Database) -> None:
    database.job_signal.clear()
    _enqueue(database)
    assert database.job_signal.is_set()


def test_job_runs_and_its_writes_commit_with_completion(database: Database) -> None:
    registry = JobRegistry()
    seen: list[dict] = []

    @registry.handler("t")
    def handle(db, ctx: JobContext) -> None:
        seen.append(ctx.payload)

        audit.record(db, actor=SYSTEM, tag=AuditTag.CONTENT_UPDATE, subject_type="content", subject_id=1)

    job_id = _enqueue(database, payload={"x": 1})
    assert Worker(database, registry).run_until_idle() == 1
    assert seen == [{"x": 1}]
    job = _job(database, job_id)
    assert job.state == "done" and job.attempts == 1 and job.finished_at is not None
    with database.unit_of_work(write=False) as db:
        attempt = db.execute(sa.select(JobAttempt).where(JobAttempt.job_id == job_id)).scalar_one()
        assert attempt.outcome == "ok"
        assert db.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 1


def test_idempotency_key_enqueues_once(database: Database) -> None:
    a = _enqueue(database, idempotency_key="webhook:action:7")
    b = _enqueue(database, idempotency_key="webhook:action:7")
    assert a == b


def test_failure_retries_with_backoff_then_dead_letters_with_alarm(database: Database, clock: FrozenClock) -> None:
    registry = JobRegistry()
    calls: list[int] = []

    @registry.handler("flaky")
    def handle(db, ctx: JobContext) -> None:
        calls.append(ctx.attempt)
        raise ConnectionError("receiver down")

    job_id = _enqueue(database, kind="flaky", max_attempts=4)
    worker = Worker(database, registry, retry=RetryPolicy(base_seconds=10, cap_seconds=100))
    assert worker.run_once() == 1
    job = _job(database, job_id)
    assert (
        job.state == "pending"
        and job.attempts == 1
        and job.last_error is not None
        and "receiver down" in job.last_error
    )
    delay = job.run_at - clock.now()
    assert timedelta(seconds=5) <= delay <= timedelta(seconds=10)
    assert worker.run_once() == 0  # not due yet
    delays = [delay]
    for _ in range(3):
        clock.advance(seconds=101)
        assert worker.run_once() == 1
        job = _job(database, job_id)
        if job.state == "pending":
            delays.append(job.run_at - clock.now())
    assert calls == [1, 2, 3, 4]
    assert job.state == "dead" and job.finished_at is not None
    assert delays[1] >= timedelta(seconds=10) and delays[2] >= timedelta(seconds=20)
    with database.unit_of_work(write=False) as db:
        dead = db.execute(sa.select(AuditEvent).where(AuditEvent.tag == "delivery:job:dead")).scalar_one()
        assert dead.subject_id == str(job_id) and dead.data["attempts"] == 4
        outcomes = db.execute(sa.select(JobAttempt.outcome).where(JobAttempt.job_id == job_id)).scalars().all()
        assert outcomes == ["error"] * 4
    with database.unit_of_work() as db:
        requeue_dead_job(db, actor=SYSTEM, job=db.get_one(Job, job_id), reason="receiver fixed")
    assert _job(database, job_id).state == "pending"
    with database.unit_of_work() as db, pytest.raises(Conflict):
        requeue_dead_job(db, actor=SYSTEM, job=db.get_one(Job, job_id), reason="again")


def test_backoff_grows_exponentially_with_jitter_and_cap() -> None:
    policy = RetryPolicy(base_seconds=2, cap_seconds=60)
    rng = random.Random(1)
    for attempt in range(1, 12):
        full = min(60, 2 * 2 ** (attempt - 1))
        d = policy.delay(attempt, rng).total_seconds()
        assert full / 2 <= d <= full


def test_unknown_kind_is_retried_not_lost(database: Database) -> None:
    job_id = _enqueue(database, kind="nobody-handles-this")
    Worker(database, JobRegistry()).run_once()
    job = _job(database, job_id)
    assert job.state == "pending" and job.last_error is not None and "no handler" in job.last_error


def test_ordering_key_runs_jobs_one_at_a_time_in_order(database: Database, clock: FrozenClock) -> None:
    registry = JobRegistry()
    order: list[int] = []
    fail_first = {"left": 1}

    @registry.handler("ordered")
    def handle(db, ctx: JobContext) -> None:
        if ctx.payload["n"] == 0 and fail_first["left"]:
            fail_first["left"] -= 1
            raise RuntimeError("first delivery fails once")
        order.append(ctx.payload["n"])

    for n in range(4):
        _enqueue(database, kind="ordered", payload={"n": n}, ordering_key="content:1")
    _enqueue(database, kind="ordered", payload={"n": 99}, ordering_key="content:2")
    worker = Worker(database, registry, retry=RetryPolicy(base_seconds=1, cap_seconds=1))
    worker.run_until_idle()
    # The first job of content:1 failed: nothing after it ran; the other subject went ahead.
    assert order == [99]
    clock.advance(seconds=2)
    worker.run_until_idle()
    assert order == [99, 0, 1, 2, 3]


def test_expired_lease_is_reclaimed_and_the_old_worker_is_fenced(database: Database, clock: FrozenClock) -> None:
    registry = JobRegistry()
    ran: list[str] = []
    registry.register("t", lambda db, ctx: ran.append(ctx.payload.get("w", "?")))
    job_id = _enqueue(database)
    a = Worker(database, registry, worker_id="a", retry=RetryPolicy(lease_seconds=60))
    b = Worker(database, registry, worker_id="b", retry=RetryPolicy(lease_seconds=60))
    claimed_by_a = a.claim()
    assert [c.job_id for c in claimed_by_a] == [job_id]
    assert b.claim() == []  # leased to a
    clock.advance(seconds=61)  # a died; its lease ran out
    claimed_by_b = b.claim()
    assert [c.attempt for c in claimed_by_b] == [2]
    assert a.run_claimed(claimed_by_a[0]) is False  # fenced: no longer a's
    assert b.run_claimed(claimed_by_b[0]) is True
    job = _job(database, job_id)
    assert job.state == "done" and job.attempts == 2
    with database.unit_of_work(write=False) as db:
        outcomes = db.execute(
            sa.select(JobAttempt.worker, JobAttempt.outcome)
            .where(JobAttempt.job_id == job_id)
            .order_by(JobAttempt.attempt)
        ).all()
    assert [tuple(o) for o in outcomes] == [("a", "lost"), ("b", "ok")]


def test_many_workers_never_run_a_job_twice(database: Database) -> None:
    """Four workers on separate connections drain 120 jobs: each runs exactly once, and no job is
    ever held by two workers at the same moment."""
    if database.dialect == "sqlite":
        n_jobs, n_workers = 60, 3
    else:
        n_jobs, n_workers = 120, 4
    registry = JobRegistry()
    lock = threading.Lock()
    running: set[int] = set()
    runs: list[tuple[int, str]] = []
    overlaps: list[int] = []

    @registry.handler("t")
    def handle(db, ctx: JobContext) -> None:
        with lock:
            if ctx.job_id in running:
                overlaps.append(ctx.job_id)
            running.add(ctx.job_id)
        time.sleep(0.002)
        with lock:
            running.discard(ctx.job_id)
            runs.append((ctx.job_id, threading.current_thread().name))

    with database.unit_of_work() as db:
        ids = [enqueue(db, kind="t", payload={"i": i}).id for i in range(n_jobs)]

    errors: list[BaseException] = []

    def drain(name: str) -> None:
        worker = Worker(database, registry, worker_id=name, batch_size=5)
        try:
            while worker.run_once():
                pass
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(f"w{i}",), name=f"w{i}") for i in range(n_workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert not overlaps
    assert sorted(job_id for job_id, _ in runs) == sorted(ids)
    with database.unit_of_work(write=False) as db:
        states = db.execute(sa.select(Job.state, sa.func.count()).group_by(Job.state)).all()
    assert dict(states) == {JobState.done.value: n_jobs}
    if database.dialect == "postgresql":
        assert len({name for _, name in runs}) > 1  # the work really was shared


def test_periodic_jobs_are_scheduled_once_per_slot_across_workers(database: Database, clock: FrozenClock) -> None:
    registry = JobRegistry()
    ran: list[int] = []
    registry.register("tick", lambda db, ctx: ran.append(ctx.payload["slot"]))
    workers = [Worker(database, registry, worker_id=f"w{i}") for i in range(3)]
    for w in workers:
        w.periodic = [("tick", 60)]
    assert sum(w.schedule_periodic() for w in workers) == 1
    for w in workers:
        w.run_until_idle()
    clock.advance(seconds=60)
    assert sum(w.schedule_periodic() for w in workers) == 1
    workers[0].run_until_idle()
    assert len(ran) == 2 and ran[1] == ran[0] + 1


def test_deadline_sweep_is_a_periodic_job_of_the_service(database: Database, tmp_path) -> None:

    worker = build_worker(Settings(env="test", data_dir=tmp_path), database, build_registry())
    assert (SWEEP_DEADLINES, 60) in worker.periodic and (RETENTION, 3600) in worker.periodic
    worker.schedule_periodic()
    # Every periodic job of the service runs once per slot and finishes (the appeal deadlines,
    # the Transparency Database submission and the consistency sample are periodic too).
    assert worker.run_until_idle() == len(worker.periodic)
    with database.unit_of_work(write=False) as db:
        states = dict(db.execute(sa.select(Job.kind, Job.state)).all())
        assert states == {kind: "done" for kind, _ in worker.periodic}
        assert states[SWEEP_DEADLINES] == "done" and states[RETENTION] == "done"


def test_jobs_a_worker_could_not_finish_in_an_outage_are_handed_back_when_the_database_returns(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16 item 8: a job leased just before the database went away, whose failure could not
    be recorded either, is due again as soon as the database is back, not when its 5-minute lease
    runs out; a job whose completion did commit stays done."""

    registry = JobRegistry()
    ran: list[int] = []

    @registry.handler("t")
    def handle(db, ctx: JobContext) -> None:
        ran.append(ctx.job_id)

    first, second = _enqueue(database), _enqueue(database)
    worker = Worker(database, registry, retry=RetryPolicy(lease_seconds=300))
    real = worker.run_claimed
    down = {"now": True}

    def outage(claimed):
        if down["now"]:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
        return real(claimed)

    monkeypatch.setattr(worker, "run_claimed", outage)
    with pytest.raises(OperationalError):
        worker.run_once()
    assert {c.job_id for c in worker.stranded} == {first, second}
    assert _job(database, first).state == JobState.running.value  # leased for 5 minutes
    down["now"] = False
    assert worker.run_once() == 2  # handed back, claimed again and run, with no clock moved
    assert sorted(ran) == [first, second] and worker.stranded == []
    for job_id in (first, second):
        job = _job(database, job_id)
        assert job.state == JobState.done.value and job.attempts == 2
    with database.unit_of_work(write=False) as db:
        outcomes = sorted(
            db.execute(sa.select(JobAttempt.outcome).where(JobAttempt.job_id == first)).scalars(), key=str
        )
    assert outcomes == ["lost", "ok"]
    # A stranded claim whose job was finished meanwhile is left alone.
    worker.stranded = [type("C", (), {"job_id": first, "attempt": 2})()]
    worker.release_stranded()
    assert _job(database, first).state == JobState.done.value


def test_database_unavailable_tells_an_outage_from_a_fault() -> None:
    assert database_unavailable(exc.OperationalError("BEGIN", {}, sqlite3.OperationalError("database is locked")))
    assert database_unavailable(exc.TimeoutError("QueuePool limit"))
    assert database_unavailable(exc.InterfaceError("SELECT", {}, Exception("connection is closed")))
    assert not database_unavailable(exc.OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: x")))
    assert not database_unavailable(exc.IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")))
    assert not database_unavailable(ValueError("not a database error"))
