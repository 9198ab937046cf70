"""The stay-down sweep job commits in chunks (issue 5: the first webhooks leave while later copies
are worked on); a run that dies half-way is resumed by its retry without acting twice on any copy
or account (X-5, TID-3)."""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa

from staydown import audit
from staydown.db import Database
from staydown.delivery.models import Job
from staydown.enforcement import staydown, strikes
from staydown.enforcement.models import AccountStrike, EnforcementAction, Sweep
from staydown.enforcement.staydown import STAY_DOWN_SWEEP
from staydown.subjects.models import PlatformContent
from tests.enforcement.test_staydown import _confirm, _copies, _run_jobs, _scan
from tests.helpers import make_staff, sign_in
from tests.imagegen import encode, synthetic


def test_x5_sweep_interrupted_between_chunks_resumes_without_acting_twice(
    client, database: Database, api_key: str, clock, monkeypatch
) -> None:
    """REQ X-5, TID-3: every copy removed once and every copier struck once, although the job died
    after its first chunk had committed."""
    img = synthetic(901, (640, 480))
    _scan(client, api_key, "orig", "acct-0", encode(img, "JPEG", quality=92))
    copies = _copies(img)
    for i, (label, data) in enumerate(copies.items(), start=1):
        _scan(client, api_key, f"copy-{label}", f"acct-{i}", data)
    client.app.state.match_engine.catch_up()
    monkeypatch.setattr(staydown, "SWEEP_CHUNK", 2)
    real_add_strike = strikes.add_strike
    calls = {"n": 0}

    def dies_in_the_second_chunk(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # the decision strikes the original poster first
            raise RuntimeError("the worker died")
        return real_add_strike(*args, **kwargs)

    monkeypatch.setattr(strikes, "add_strike", dies_in_the_second_chunk)
    make_staff(database, "mo", "moderator")
    _confirm(client, database, sign_in(client, "mo"), "orig", "ncii@2", reporter_kind="affected_person")
    _run_jobs(client, database)
    with database.unit_of_work(write=False) as db:
        sweep = db.execute(sa.select(Sweep)).scalar_one()
        assert sweep.finished_at is None and len(sweep.account_ids) == 2  # the first chunk stands
        job = db.execute(sa.select(Job).where(Job.kind == STAY_DOWN_SWEEP)).scalar_one()
        assert job.state == "pending" and job.last_error is not None and "the worker died" in job.last_error
    clock.advance(hours=1)
    _run_jobs(client, database)
    with database.unit_of_work(write=False) as db:
        assert db.execute(sa.select(Job.state).where(Job.kind == STAY_DOWN_SWEEP)).scalar_one() == "done"
        sweep = db.execute(sa.select(Sweep)).scalar_one()  # resumed, not started again
        assert sweep.finished_at is not None and sweep.copies_found == len(copies)
        removed = [
            content_id
            for content_id, details in db.execute(
                sa.select(EnforcementAction.content_id, EnforcementAction.details).where(
                    EnforcementAction.kind == "remove"
                )
            )
            if "sweep_id" in details
        ]
        assert len(removed) == len(set(removed)) == len(copies)
        copiers = set(db.scalars(sa.select(PlatformContent.account_id).where(PlatformContent.id.in_(removed))))
        struck = (
            db.execute(sa.select(AccountStrike.account_id).where(AccountStrike.account_id.in_(copiers))).scalars().all()
        )
        assert Counter(struck) == Counter(copiers)  # one strike each
        assert Counter(sweep.account_ids) == Counter(copiers)
        warned = (
            db.execute(
                sa.select(EnforcementAction.account_id).where(
                    EnforcementAction.kind == "warn", EnforcementAction.account_id.in_(copiers)
                )
            )
            .scalars()
            .all()
        )
        assert Counter(warned) == Counter(copiers)
        assert sweep.actions == len(copies) * 2
        assert audit.verify(db).ok
