"""SQLite's writers take turns in arrival order within a process (bench/intake.py: SQLite's busy
handler made p99 ~1 s), and a turn is always given back: after commit, rollback, a failed
transaction, or a connection dropped mid-transaction, so the queue cannot deadlock."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from staydown.db import Database, SqliteCheckpointer, WriterQueue, create_engine, now
from staydown.migrate import upgrade
from staydown.subjects.models import PlatformAccount


def _wait_for(predicate, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.002)


def test_turns_are_given_in_arrival_order() -> None:
    gate = WriterQueue(timeout=5)
    gate.acquire("a")
    order: list[str] = []

    def writer(name: str) -> None:
        gate.acquire(name)
        order.append(name)
        gate.release(name)

    threads = []
    for i, name in enumerate("bcde"):
        t = threading.Thread(target=writer, args=(name,))
        t.start()
        threads.append(t)
        _wait_for(lambda i=i: gate.queued == i + 1)  # each is in line before the next arrives
    gate.release("a")
    for t in threads:
        t.join(5)
    assert order == list("bcde")


def test_a_waiter_gives_up_after_the_busy_timeout_and_leaves_the_line() -> None:
    gate = WriterQueue(timeout=0.05)
    gate.acquire("a")
    with pytest.raises(sa.exc.OperationalError, match="database is locked"):
        gate.acquire("b")
    assert gate.queued == 0
    gate.release("b")  # not the holder: no effect
    gate.release("a")
    gate.acquire("c")  # free again


@pytest.fixture
def sqlite_db(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'q.db'}", sqlite_busy_timeout_ms=5000)
    upgrade(engine)
    database = Database(engine)
    yield database
    engine.dispose()


def _account(db, n: int) -> None:
    db.add(PlatformAccount(platform_id=f"p{n}", status="active", meta={}, first_seen_at=now(db), updated_at=now(db)))


def test_many_writers_on_one_sqlite_file_all_finish(sqlite_db: Database) -> None:
    errors: list[BaseException] = []
    peak = [0]
    gate = sqlite_db.engine.sqlite_writer_queue  # type: ignore[attr-defined]

    def writer(base: int) -> None:
        try:
            for i in range(15):
                with sqlite_db.unit_of_work() as db:
                    _account(db, base * 100 + i)
                    db.flush()
                    peak[0] = max(peak[0], gate.queued)
                    if i % 5 == 4:
                        raise KeyError("rolled back")  # a failed request gives its turn back too
        except KeyError:
            pass
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and not any(t.is_alive() for t in threads)
    assert peak[0] > 0  # they really queued
    with sqlite_db.unit_of_work(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(PlatformAccount)) == 12 * 4
    with sqlite_db.unit_of_work() as db:  # and the turn is free
        _account(db, 99_999)


def test_a_connection_dropped_mid_transaction_gives_its_turn_back(sqlite_db: Database) -> None:
    session = sqlite_db.session()
    _account(session, 1)
    session.flush()  # holds the turn
    session.connection().invalidate()
    session.close()
    done = threading.Event()

    def other() -> None:
        with sqlite_db.unit_of_work() as db:
            _account(db, 2)
        done.set()

    threading.Thread(target=other, daemon=True).start()
    assert done.wait(3), "the next writer waited for a turn nobody held"


def test_processes_take_turns_through_the_lock_file(tmp_path) -> None:
    """`serve --processes N`: each process's queue also holds a lock on a file beside the database
    (two queues on one file stand for two processes: flock is per open file), so a writer of
    another process waits for the turn in milliseconds instead of SQLite's busy handler, and gives
    up with 'database is locked' after the busy timeout."""
    lock = tmp_path / "staydown.db.writer-lock"
    one, other = WriterQueue(timeout=5, lock_file=lock), WriterQueue(timeout=0.3, lock_file=lock)
    one.acquire("a")
    with pytest.raises(sa.exc.OperationalError, match=r"no write turn within 0\.3 s"):
        other.acquire("b")
    assert other.queued == 0 and other._owner is None  # the failed wait left nothing behind

    patient = WriterQueue(timeout=5, lock_file=lock)
    got: list[float] = []

    def wait_turn() -> None:
        patient.acquire("c")
        got.append(time.monotonic())
        patient.release("c")

    thread = threading.Thread(target=wait_turn)
    thread.start()
    time.sleep(0.1)
    assert got == []  # still waiting for the other "process"
    released = time.monotonic()
    one.release("a")
    thread.join(5)
    assert got and got[0] - released < 0.05  # taken within milliseconds of the release


def test_the_checkpointer_copies_the_log_outside_the_writers_commits(tmp_path) -> None:
    """The WAL is copied into the database by a thread of its own (PASSIVE), so writers' commits
    stay short; a checkpoint with a writer in the middle of a transaction neither waits nor fails."""
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x TEXT)")
        conn.exec_driver_sql("INSERT INTO t VALUES ('a')")
    checkpointer = SqliteCheckpointer(engine, interval=0.05).start()
    try:
        writer = engine.connect()
        writer.begin()
        writer.exec_driver_sql("INSERT INTO t VALUES ('b')")  # holds the write lock
        busy, logged, copied = checkpointer.checkpoint()  # does not wait for it
        assert busy == 0 and copied <= logged
        writer.commit()
        writer.close()
        _wait_for(lambda: checkpointer.runs >= 3)
        busy, logged, copied = checkpointer.checkpoint()
        assert (busy, copied) == (0, logged)  # everything committed is in the database file
    finally:
        checkpointer.stop()
        engine.dispose()
    assert checkpointer._thread is not None and not checkpointer._thread.is_alive()
