"""The audit chain: events written with their change, and every kind of tampering detected."""

from __future__ import annotations

import itertools
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from staydown import audit
from staydown.actors import SYSTEM, Actor
from staydown.audit import AuditTag
from staydown.audit.models import AuditEvent, AuditHead
from staydown.db import Database
from staydown.errors import InvalidInput
from staydown.subjects.models import PlatformAccount


def _write(database: Database, n: int, start: int = 0) -> None:
    with database.unit_of_work() as db:
        for i in range(start, start + n):
            audit.record(
                db,
                actor=SYSTEM,
                tag=AuditTag.CONTENT_CREATE,
                subject_type="content",
                subject_id=i,
                data={"i": i, "note": "ünïcode ✓", "nested": {"b": [1, 2.5, None]}},
            )


def _tamper(database: Database, *statements: str) -> None:
    """An attacker with database access: they can drop the append-only triggers first."""
    with database.engine.begin() as conn:
        if database.dialect == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        else:
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_no_update")
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_no_delete")
        for statement in statements:
            conn.exec_driver_sql(statement)


def _verify(database: Database, **kw: object) -> audit.VerifyResult:
    with database.unit_of_work(write=False) as db:
        return audit.verify(db, **kw)  # type: ignore[arg-type]


def test_record_chains_events_and_verifies(database: Database) -> None:
    _write(database, 5)
    result = _verify(database)
    assert result.ok, result.problem
    assert result.events_checked == 5
    with database.unit_of_work(write=False) as db:
        events = db.execute(sa.select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()
        assert [e.seq for e in events] == [1, 2, 3, 4, 5]
        assert events[0].prev_hash == "0" * 64
        assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
        assert events[0].actor_kind == "system" and events[0].actor_id == "staydown"
        assert events[2].data == {"i": 2, "note": "ünïcode ✓", "nested": {"b": [1, 2.5, None]}}
        head = db.get_one(AuditHead, 1)
        assert (head.seq, head.hash) == (5, events[-1].hash)


def test_event_rolls_back_with_its_change(database: Database) -> None:
    _write(database, 1)
    with pytest.raises(RuntimeError):
        with database.unit_of_work() as db:
            audit.record(db, actor=SYSTEM, tag=AuditTag.CONTENT_CREATE, subject_type="content", subject_id=9)
            raise RuntimeError("the change failed")
    assert _verify(database).events_checked == 1


def test_record_refuses_missing_actor_and_unknown_tag(database: Database) -> None:
    with database.unit_of_work() as db:
        with pytest.raises(TypeError):
            audit.record(db, actor=None, tag=AuditTag.CONTENT_CREATE, subject_type="x", subject_id=1)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            audit.record(db, actor=SYSTEM, tag="made:up:tag", subject_type="x", subject_id=1)
    with pytest.raises(ValueError):
        Actor(SYSTEM.kind, "", "")


def test_database_refuses_update_and_delete_of_events(database: Database) -> None:
    _write(database, 2)
    for statement in ("UPDATE audit_events SET tag = 'x' WHERE seq = 1", "DELETE FROM audit_events WHERE seq = 2"):
        with pytest.raises(DBAPIError, match="append-only"):
            with database.engine.begin() as conn:
                conn.exec_driver_sql(statement)
    assert _verify(database).ok


def test_detects_edited_event(database: Database) -> None:
    _write(database, 6)
    _tamper(database, "UPDATE audit_events SET subject_id = '999' WHERE seq = 4")
    result = _verify(database)
    assert not result.ok and result.first_bad_seq == 4 and result.problem is not None and "edited" in result.problem


def test_detects_edited_data(database: Database) -> None:
    _write(database, 3)
    _tamper(database, "UPDATE audit_events SET data = '{\"i\": 7}' WHERE seq = 2")
    result = _verify(database)
    assert not result.ok and result.first_bad_seq == 2


def test_detects_removed_event(database: Database) -> None:
    _write(database, 6)
    _tamper(database, "DELETE FROM audit_events WHERE seq = 3")
    result = _verify(database)
    assert not result.ok and result.first_bad_seq == 3 and result.problem is not None and "missing" in result.problem


def test_detects_removed_and_renumbered_events(database: Database) -> None:
    """Deleting an event and renumbering the rest to hide the gap still breaks the chain."""
    _write(database, 6)
    _tamper(database, "DELETE FROM audit_events WHERE seq = 3", "UPDATE audit_events SET seq = seq - 1 WHERE seq > 3")
    result = _verify(database)
    assert not result.ok and result.first_bad_seq == 3


def test_detects_removed_tail_via_head(database: Database) -> None:
    _write(database, 6)
    _tamper(database, "DELETE FROM audit_events WHERE seq >= 5")
    result = _verify(database)
    assert not result.ok and result.first_bad_seq == 5 and result.problem is not None and "head" in result.problem


def test_detects_inserted_event(database: Database) -> None:
    _write(database, 4)
    with database.unit_of_work(write=False) as db:
        third = db.get_one(AuditEvent, 3)
        row = {c.name: getattr(third, c.key) for c in AuditEvent.__table__.columns}
    # Make room at 3 and insert a forged event there that claims to follow event 2.
    _tamper(
        database,
        "UPDATE audit_events SET seq = seq + 100 WHERE seq >= 3",
        "UPDATE audit_events SET seq = seq - 99 WHERE seq >= 103",
    )
    forged = dict(row, seq=3, subject_id="forged")
    with database.engine.begin() as conn:
        conn.execute(sa.insert(AuditEvent).values(**forged))
    result = _verify(database)
    assert not result.ok and result.first_bad_seq in (3, 4)


def test_detects_reordered_events(database: Database) -> None:
    _write(database, 5)
    _tamper(
        database,
        "UPDATE audit_events SET seq = 100 WHERE seq = 2",
        "UPDATE audit_events SET seq = 2 WHERE seq = 3",
        "UPDATE audit_events SET seq = 3 WHERE seq = 100",
    )
    result = _verify(database)
    assert not result.ok and result.first_bad_seq == 2


def test_pinned_checkpoint_catches_a_rewritten_chain(database: Database) -> None:
    _write(database, 3)
    with database.unit_of_work(write=False) as db:
        pinned = audit.checkpoint(db)
    assert _verify(database, pinned=pinned).ok
    # Rewrite history wholesale: wipe and write a new, internally consistent chain.
    _tamper(database, "DELETE FROM audit_events", "UPDATE audit_head SET seq = 0, hash = '" + "0" * 64 + "'")
    _write(database, 4, start=50)
    assert _verify(database).ok  # consistent on its own...
    result = _verify(database, pinned=pinned)
    assert not result.ok and result.first_bad_seq == pinned.seq  # ...but not with what an outsider pinned


def test_checkpoint_parse_rejects_garbage() -> None:
    assert audit.Checkpoint.parse("3:" + "a" * 64).seq == 3
    for bad in ("", "3", "x:" + "a" * 64, "3:abc"):
        with pytest.raises(InvalidInput):
            audit.Checkpoint.parse(bad)


def test_parallel_writers_keep_the_chain_valid(database: Database) -> None:
    """Many transactions appending at once on separate connections: no duplicate sequence, no
    fork, one valid chain (on PostgreSQL the head row lock serialises them)."""
    threads, per_thread = 8, 15
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def writer(t: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                with database.unit_of_work() as db:
                    audit.record(
                        db,
                        actor=SYSTEM,
                        tag=AuditTag.CONTENT_CREATE,
                        subject_type="content",
                        subject_id=f"{t}-{i}",
                        data={"t": t, "i": i},
                    )
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    pool = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert not errors, errors
    result = _verify(database)
    assert result.ok, result.problem
    assert result.events_checked == threads * per_thread
    with database.unit_of_work(write=False) as db:
        subjects = db.execute(sa.select(AuditEvent.subject_id)).scalars().all()
    assert len(set(subjects)) == threads * per_thread


def test_an_open_transaction_does_not_hold_the_chain(database: Database) -> None:
    """Events are chained at commit, so a long transaction that has recorded an event does not
    block other writers (and two writers cannot deadlock over the head)."""
    slow = database.session()
    try:
        audit.record(slow, actor=SYSTEM, tag=AuditTag.CONTENT_CREATE, subject_type="content", subject_id="slow")
        assert [e.subject_id for e in audit.pending(slow)] == ["slow"]
        if database.dialect == "sqlite":
            slow.rollback()  # SQLite has one writer at a time by design; nothing to show there
            return
        done = threading.Event()

        def quick() -> None:
            _write(database, 1, start=1)
            done.set()

        t = threading.Thread(target=quick)
        t.start()
        assert done.wait(5), "a second writer was blocked by an open transaction's audit event"
        t.join()
        slow.commit()
    finally:
        slow.close()
    result = _verify(database)
    assert result.ok and result.events_checked == 2
    with database.unit_of_work(write=False) as db:
        order = db.execute(sa.select(AuditEvent.subject_id).order_by(AuditEvent.seq)).scalars().all()
    assert order == ["1", "slow"]  # chained in commit order


def test_rolled_back_events_are_dropped(database: Database) -> None:
    session = database.session()
    audit.record(session, actor=SYSTEM, tag=AuditTag.CONTENT_CREATE, subject_type="content", subject_id="gone")
    session.rollback()
    assert audit.pending(session) == []
    session.commit()
    session.close()
    assert _verify(database).events_checked == 0


def test_events_survive_a_savepoint_that_loses_an_insert_race(database: Database) -> None:
    """An event recorded before a savepoint that rolls back (a lost insert race) is kept, and the
    chain's head is not touched until the real commit."""

    with database.unit_of_work() as db:
        db.add(
            PlatformAccount(
                platform_id="taken",
                status="active",
                meta={},
                first_seen_at=db.info["clock"].now(),
                updated_at=db.info["clock"].now(),
            )
        )
    with database.unit_of_work() as db:
        audit.record(db, actor=SYSTEM, tag=AuditTag.CONTENT_CREATE, subject_type="content", subject_id="before")
        with pytest.raises(IntegrityError):
            with db.begin_nested():
                db.add(
                    PlatformAccount(
                        platform_id="taken",
                        status="active",
                        meta={},
                        first_seen_at=db.info["clock"].now(),
                        updated_at=db.info["clock"].now(),
                    )
                )
        # Released savepoints ran no commit hooks: the event still waits for the real commit.
        assert [e.subject_id for e in audit.pending(db)] == ["before"]
        audit.record(db, actor=SYSTEM, tag=AuditTag.CONTENT_CREATE, subject_type="content", subject_id="after")
    result = _verify(database)
    assert result.ok and result.events_checked == 2


def test_a_rolled_back_savepoint_takes_back_the_events_recorded_inside_it(database: Database) -> None:
    """An event about a row that was never stored (a lost insert race inside a savepoint) must not
    enter the chain; the events recorded before the savepoint and after it stay."""
    with database.unit_of_work() as db:
        audit.record(db, actor=SYSTEM, tag=AuditTag.CONTENT_CREATE, subject_type="content", subject_id=1)
        try:
            with db.begin_nested():
                audit.record(db, actor=SYSTEM, tag=AuditTag.CONTENT_CREATE, subject_type="content", subject_id=2)
                with db.begin_nested():
                    audit.record(db, actor=SYSTEM, tag=AuditTag.CONTENT_CREATE, subject_type="content", subject_id=3)
                raise RuntimeError("lost the race")
        except RuntimeError:
            pass
        with db.begin_nested():
            audit.record(db, actor=SYSTEM, tag=AuditTag.CONTENT_CREATE, subject_type="content", subject_id=4)
    with database.unit_of_work(write=False) as db:
        subjects = db.execute(sa.select(AuditEvent.subject_id).order_by(AuditEvent.seq)).scalars().all()
        assert [str(s) for s in subjects] == ["1", "4"]
        assert audit.verify(db).ok


def test_events_for_a_subject_can_be_limited_to_the_newest(database: Database) -> None:
    with database.unit_of_work() as db:
        for i in range(5):
            audit.record(
                db, actor=SYSTEM, tag=AuditTag.CONTENT_UPDATE, subject_type="content", subject_id=7, data={"i": i}
            )
        audit.record(db, actor=SYSTEM, tag=AuditTag.CONTENT_UPDATE, subject_type="content", subject_id=8, data={})
    with database.unit_of_work(write=False) as db:
        assert [e.data["i"] for e in audit.events_for(db, subject_type="content", subject_id=7)] == [0, 1, 2, 3, 4]
        assert [e.data["i"] for e in audit.events_for(db, subject_type="content", subject_id=7, last=2)] == [3, 4]
