"""Batch delivery (issue 5): a worker leases many webhooks at once and POSTs them concurrently, with
the single-job path's guarantees intact: each idempotency key delivered once, order kept per
subject, a failed POST retried on its own backoff, completions fenced by attempt number, dead
letters audited."""

from __future__ import annotations

import http.server
import json
import random
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from staydown.actors import SYSTEM
from staydown.audit.models import AuditEvent
from staydown.clock import FrozenClock
from staydown.db import Database
from staydown.delivery.models import Job, JobAttempt
from staydown.delivery.outbox import JobContext, JobRegistry, enqueue
from staydown.delivery.signing import verify
from staydown.enforcement.actions import apply_action, lift_action
from staydown.jobs import build_registry
from staydown.settings import Settings
from staydown.subjects.records import ensure_content
from staydown.subjects.schemas import AccountRef, ContentRef
from staydown.worker import RetryPolicy, Worker

SECRET = "test-webhook-secret-0123456789abcdef"


class FlakyReceiver:
    """Answers 503 to a seeded random share of POSTs, 204 to the rest (after checking the signature)."""

    def __init__(self, fail_share: float) -> None:
        self.fail_share = fail_share
        self.rng = random.Random(20261129)
        self.accepted: list[dict] = []
        self.refused = 0
        self.bad_signatures = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()


@pytest.fixture
def flaky() -> Iterator[tuple[FlakyReceiver, str]]:
    state = FlakyReceiver(fail_share=0.3)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
                fail = state.rng.random() < state.fail_share
            time.sleep(0.005)  # a receiver's own latency: what concurrent POSTs overlap
            try:
                verify(body, self.headers.get("Staydown-Signature"), SECRET, tolerance=10**9)
                ok = True
            except ValueError:
                ok = False
            with state.lock:
                state.in_flight -= 1
                if not ok:
                    state.bad_signatures += 1
                elif fail:
                    state.refused += 1
                else:
                    state.accepted.append(json.loads(body))
            self.send_response(401 if not ok else 503 if fail else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def _subjects(database: Database, n: int) -> dict[str, list[str]]:
    """n contents, each with three events in order (applied, applied, lifted), and their accounts'
    suspensions: the delivery ids each subject must receive, in this order."""
    expected: dict[str, list[str]] = {}
    with database.unit_of_work() as db:
        for s in range(n):
            content = ensure_content(db, actor=SYSTEM, ref=ContentRef(id=f"c{s}", account=AccountRef(id=f"a{s}")))
            first = apply_action(db, actor=SYSTEM, kind="restrict_distribution", content_id=content.id, interim=True)
            second = apply_action(db, actor=SYSTEM, kind="remove", content_id=content.id)
            lift_action(db, actor=SYSTEM, action=first, reason="replaced by removal")
            third = apply_action(db, actor=SYSTEM, kind="suspend", account_id=content.account_id)
            expected[f"c{s}"] = [
                f"action:{first.id}:action.applied",
                f"action:{second.id}:action.applied",
                f"action:{first.id}:action.lifted",
            ]
            expected[f"a{s}"] = [f"action:{third.id}:action.applied"]
    return expected


def test_x5_batch_delivery_keeps_order_per_subject_and_delivers_each_key_once_when_posts_fail(
    database: Database, clock: FrozenClock, flaky
) -> None:
    """REQ X-5: every copy's action reaches the platform, once, in order per subject, through a
    receiver that refuses about a third of the POSTs."""
    state, url = flaky
    expected = _subjects(database, 25)
    settings = Settings(env="test", webhook_url=url, webhook_secret=SECRET, webhook_concurrency=8)
    worker = Worker(
        database,
        build_registry(),
        services={"settings": settings},
        batch_size=5,
        bulk_size=40,
        retry=RetryPolicy(base_seconds=1, cap_seconds=4),
    )
    first = worker.claim()
    # One lease covers many webhooks (more than the ordinary batch size), at most one per subject.
    assert len(first) == 40
    keys = []
    with database.unit_of_work(write=False) as db:
        keys = [db.get_one(Job, c.job_id).ordering_key for c in first]
    assert len(set(keys)) == len(keys)
    worker.run_batch(first[0].kind, first)
    for _ in range(60):
        worker.run_until_idle()
        clock.advance(seconds=5)
        with database.unit_of_work(write=False) as db:
            if not db.scalar(sa.select(sa.func.count()).select_from(Job).where(Job.state != "done")):
                break
    assert state.refused > 10 and state.bad_signatures == 0
    got = [e["delivery_id"] for e in state.accepted]
    assert len(got) == len(set(got)) == sum(len(v) for v in expected.values())  # each key exactly once
    for subject, ids in expected.items():
        field = "content_id" if subject.startswith("c") else "account_id"
        seen = [
            e["delivery_id"]
            for e in state.accepted
            if e[field] == subject and (field == "account_id") == (e["target"] == "account")
        ]
        assert seen == ids, subject
    assert state.max_in_flight > 1  # the batch really was concurrent
    with database.unit_of_work(write=False) as db:
        outcomes = dict(db.execute(sa.select(JobAttempt.outcome, sa.func.count()).group_by(JobAttempt.outcome)).all())
    assert outcomes.get("error", 0) == state.refused and outcomes["ok"] == len(got)


def _batch_registry(calls: list[list[int]], fail: bool = False) -> JobRegistry:
    registry = JobRegistry()

    def one(db, ctx: JobContext) -> None:
        calls.append([ctx.job_id])

    def many(database: Database, contexts: list[JobContext]) -> dict[int, str | None]:
        calls.append([c.job_id for c in contexts])
        if fail:
            raise RuntimeError("the receiver is down")
        return {c.job_id: None for c in contexts}

    registry.register("b", one)
    registry.register_batch("b", many)
    registry.register("o", one)
    return registry


def test_claim_leases_at_most_batch_size_ordinary_jobs_alongside_a_bulk_batch(database: Database) -> None:
    calls: list[list[int]] = []
    with database.unit_of_work() as db:
        ordinary = [enqueue(db, kind="o", payload={}).id for _ in range(12)]
        bulk = [enqueue(db, kind="b", payload={}, ordering_key=f"s{i}").id for i in range(20)]
    worker = Worker(database, _batch_registry(calls), batch_size=3, bulk_size=25)
    claimed = worker.claim()
    assert [c.job_id for c in claimed if c.kind == "o"] == ordinary[:3]
    assert [c.job_id for c in claimed if c.kind == "b"] == bulk[:13]  # what the 25-row scan reached
    with database.unit_of_work(write=False) as db:
        pending = set(db.scalars(sa.select(Job.id).where(Job.state == "pending")))
    assert pending == set(ordinary[3:]) | set(bulk[13:])


def test_batch_completion_is_fenced_by_attempt_number(database: Database, clock: FrozenClock) -> None:
    calls: list[list[int]] = []
    registry = _batch_registry(calls)
    with database.unit_of_work() as db:
        ids = [enqueue(db, kind="b", payload={}, ordering_key=f"s{i}").id for i in range(3)]
    a = Worker(database, registry, worker_id="a", retry=RetryPolicy(lease_seconds=60))
    b = Worker(database, registry, worker_id="b", retry=RetryPolicy(lease_seconds=60))
    claimed_by_a = a.claim()
    clock.advance(seconds=61)  # a stalled; its leases ran out
    claimed_by_b = b.claim()
    assert sorted(c.job_id for c in claimed_by_b) == ids and {c.attempt for c in claimed_by_b} == {2}
    assert a.run_batch("b", claimed_by_a) == 0 and calls == []  # fenced before anything runs
    assert b.run_batch("b", claimed_by_b) == 3
    with database.unit_of_work(write=False) as db:
        assert set(db.scalars(sa.select(Job.state))) == {"done"}
        outcomes = db.execute(
            sa.select(JobAttempt.worker, JobAttempt.outcome).order_by(JobAttempt.job_id, JobAttempt.attempt)
        ).all()
    assert [tuple(o) for o in outcomes] == [("a", "lost"), ("b", "ok")] * 3


def test_failed_batch_retries_each_job_with_backoff_then_dead_letters_with_audit(
    database: Database, clock: FrozenClock
) -> None:
    calls: list[list[int]] = []
    registry = _batch_registry(calls, fail=True)
    with database.unit_of_work() as db:
        ids = [enqueue(db, kind="b", payload={}, ordering_key=f"s{i}", max_attempts=2).id for i in range(4)]
    worker = Worker(database, registry, retry=RetryPolicy(base_seconds=10, cap_seconds=10))
    assert worker.run_once() == 4 and calls == [ids]
    with database.unit_of_work(write=False) as db:
        jobs = db.execute(sa.select(Job).order_by(Job.id)).scalars().all()
        assert {j.state for j in jobs} == {"pending"}
        assert all(clock.now() < j.run_at for j in jobs) and len({j.run_at for j in jobs}) > 1  # jittered
        assert all("the receiver is down" in (j.last_error or "") for j in jobs)
    assert worker.run_once() == 0  # not due yet
    clock.advance(seconds=11)
    assert worker.run_once() == 4
    with database.unit_of_work(write=False) as db:
        assert set(db.scalars(sa.select(Job.state))) == {"dead"}
        dead = db.scalars(sa.select(AuditEvent.subject_id).where(AuditEvent.tag == "delivery:job:dead")).all()
    assert sorted(int(i) for i in dead) == ids


def test_an_idle_worker_does_not_take_sqlites_write_lock_to_poll(database: Database, clock: FrozenClock) -> None:
    """On SQLite the claim's transaction is the only writer: an empty poll must not queue for it."""
    calls: list[list[int]] = []
    worker = Worker(database, _batch_registry(calls))
    with database.unit_of_work() as db:
        enqueue(db, kind="o", payload={}, delay=timedelta(minutes=5))  # not due yet
    if database.dialect == "sqlite":
        gate = database.engine.sqlite_writer_queue  # type: ignore[attr-defined]
        holder = database.session()
        holder.connection()  # a write transaction is open and holds the turn
        try:
            started = time.monotonic()
            assert worker.run_once() == 0
            assert time.monotonic() - started < 1 and gate.queued == 0
        finally:
            holder.rollback()
            holder.close()
    clock.advance(minutes=6)
    assert worker.run_once() == 1 and calls == [[1]]  # an ordinary kind: the single-job path
    with database.unit_of_work(write=False) as db:
        assert set(db.scalars(sa.select(Job.state))) == {"done"}
