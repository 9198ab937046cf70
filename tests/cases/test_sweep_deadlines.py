"""The deadline sweep touches only what time changes (REQ X-2: clocks escalate before breach),
so its cost follows the cases near a deadline, not every open case."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from staydown.actors import SYSTEM, Actor
from staydown.cases.actions import sweep_deadlines
from staydown.cases.models import Case
from staydown.cases.tracks import DEADLINE_HORIZON, compute_priority
from staydown.clock import FrozenClock
from staydown.db import Database
from staydown.intake.actions import submit_notice
from staydown.intake.schemas import NoticeIn
from staydown.policies.catalogue import default_catalogue

API = Actor.api_client(1, "platform", frozenset({"notices:submit"}))


def test_X2_the_sweep_moves_only_priorities_near_a_deadline(database: Database, clock: FrozenClock) -> None:
    catalogue = default_catalogue()
    with database.unit_of_work() as db:
        for i in range(3):
            submit_notice(
                db,
                actor=API,
                catalogue=catalogue,
                notice=NoticeIn.model_validate(
                    {
                        "policy_id": "harassment",
                        "explanation": "aimed at me",
                        "reporter_id": f"r{i}",
                        "items": [{"content_id": f"c{i}"}],
                    }
                ),
            )
    with database.unit_of_work() as db:
        due = db.execute(sa.select(sa.func.min(Case.next_due_at))).scalar_one()
        before = dict(db.execute(sa.select(Case.id, Case.priority)).all())
    assert due is not None
    assert due - clock.now() > DEADLINE_HORIZON  # the DSA track: 72 h
    clock.advance(timedelta(hours=1))
    with database.unit_of_work() as db:
        assert sweep_deadlines(db, actor=SYSTEM).reprioritised == 0  # nothing moved: nothing written
    with database.unit_of_work(write=False) as db:
        assert dict(db.execute(sa.select(Case.id, Case.priority)).all()) == before
    clock.advance(timedelta(hours=30))  # 41 h left: the deadline now counts
    with database.unit_of_work() as db:
        assert sweep_deadlines(db, actor=SYSTEM).reprioritised == 3
    with database.unit_of_work(write=False) as db:
        for case in db.execute(sa.select(Case)).scalars():
            assert case.priority == compute_priority(case, clock.now()) > before[case.id]


def test_X2_the_worker_sweep_finds_its_candidates_outside_the_write_transaction(
    database: Database, clock: FrozenClock
) -> None:
    """The job's sweep reads committed rows on a read connection and writes only what changes:
    the same escalations as the in-transaction sweep."""
    catalogue = default_catalogue()
    with database.unit_of_work() as db:
        submit_notice(
            db,
            actor=API,
            catalogue=catalogue,
            notice=NoticeIn.model_validate(
                {
                    "policy_id": "harassment",
                    "explanation": "aimed at me",
                    "reporter_id": "r",
                    "items": [{"content_id": "c"}],
                }
            ),
        )
    clock.advance(timedelta(hours=60))  # 12 h of 72 left: escalate, and the priority moves
    with database.unit_of_work() as db:
        report = sweep_deadlines(db, actor=SYSTEM, read_committed_only=True)
    assert report.escalated == 1 and report.reprioritised == 1
    with database.unit_of_work() as db:
        assert sweep_deadlines(db, actor=SYSTEM, read_committed_only=True).escalated == 0  # once only
