"""Two requests creating the same new content at once (PostgreSQL, where they really run together):
the one that loses the insert race keeps every audit event it recorded, and neither deadlocks
(found by bench/intake.py: notices stored without their receipt event, and `deadlock detected`)."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from staydown import audit
from staydown.actors import SYSTEM
from staydown.audit import AuditTag
from staydown.audit.models import AuditEvent
from staydown.db import Database
from staydown.subjects.models import PlatformContent
from staydown.subjects.records import ensure_account, ensure_content
from staydown.subjects.schemas import AccountRef, ContentRef


def _in_thread(fn) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def test_audit1_losing_an_insert_race_keeps_the_events_recorded_before_it(database: Database) -> None:
    """REQ AUDIT-1: every notice keeps its receipt event, whoever inserted the content first."""
    if database.dialect != "postgresql":
        pytest.skip("SQLite takes the write lock at BEGIN: two writers never race")
    a, b = database.session(), database.session()
    try:
        ensure_content(a, actor=SYSTEM, ref=ContentRef(id="X"))  # not committed yet
        audit.record(b, actor=SYSTEM, tag=AuditTag.NOTICE_RECEIVE, subject_type="notice", subject_id="n-b")
        thread, errors = _in_thread(lambda: ensure_content(b, actor=SYSTEM, ref=ContentRef(id="X")))
        thread.join(0.5)
        assert thread.is_alive()  # B waits on A's uncommitted row
        a.commit()
        thread.join(10)
        assert not thread.is_alive() and not errors
        b.commit()
    finally:
        a.close()
        b.close()
    with database.unit_of_work(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(PlatformContent)) == 1
        subjects = db.execute(sa.select(AuditEvent.subject_type, AuditEvent.subject_id)).all()
        assert ("notice", "n-b") in [tuple(s) for s in subjects]
        assert audit.verify(db).ok


def test_two_notices_about_the_same_new_content_do_not_deadlock(database: Database) -> None:
    """B creates a new account and then wants the content A is creating: neither holds the audit
    chain's head until its commit, so A commits and B carries on."""
    if database.dialect != "postgresql":
        pytest.skip("SQLite takes the write lock at BEGIN: two writers never race")
    a, b = database.session(), database.session()
    try:
        for s, name in ((a, "n-a"), (b, "n-b")):
            audit.record(s, actor=SYSTEM, tag=AuditTag.NOTICE_RECEIVE, subject_type="notice", subject_id=name)
        ensure_account(b, actor=SYSTEM, ref=AccountRef(id="new-account"))
        ensure_content(a, actor=SYSTEM, ref=ContentRef(id="X"))
        thread, errors = _in_thread(lambda: ensure_content(b, actor=SYSTEM, ref=ContentRef(id="X")))
        a.commit()
        thread.join(10)
        assert not thread.is_alive() and not errors
        b.commit()
    finally:
        a.close()
        b.close()
    with database.unit_of_work(write=False) as db:
        names = set(db.scalars(sa.select(AuditEvent.subject_id).where(AuditEvent.subject_type == "notice")))
        assert names == {"n-a", "n-b"} and audit.verify(db).ok
