"""The bank actions the HMA API added to staydown's banks: rename and delete, each audited."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from staydown.actors import Actor
from staydown.audit.models import AuditEvent
from staydown.db import Database
from staydown.errors import Conflict
from staydown.matching import banks
from staydown.matching.models import Bank

MOD = Actor.staff(7, "mod")


def _bank(db, name: str, source: str = "other") -> Bank:
    return banks.create_bank(db, actor=MOD, name=name, source=source, permitted_purpose="lookups", policy_id="spam")


def test_rename_is_audited_with_old_and_new_name(database: Database) -> None:
    with database.unit_of_work() as db:
        bank = _bank(db, "first")
        banks.rename_bank(db, actor=MOD, bank=bank, name="second", reason="clearer name")
    with database.unit_of_work(write=False) as db:
        (event,) = db.execute(sa.select(AuditEvent).where(AuditEvent.tag == "matching:bank:update")).scalars()
        assert event.data == {"changes": {"name": ["first", "second"]}, "reason": "clearer name"}
        assert event.actor_id == "7"


def test_a_policy_stay_down_bank_keeps_its_name(database: Database) -> None:
    with database.unit_of_work() as db, pytest.raises(Conflict, match="stay-down"):
        banks.rename_bank(db, actor=MOD, bank=_bank(db, "own-spam", source="own"), name="x", reason="r")


def test_only_a_bank_that_never_held_an_entry_is_deleted(database: Database) -> None:
    with database.unit_of_work() as db:
        empty, used = _bank(db, "empty"), _bank(db, "used")
        banks.add_entries(db, actor=MOD, bank=used, entries=[banks.NewEntry("pdq", "0" * 64)])
        banks.delete_bank(db, actor=MOD, bank=empty, reason="created by mistake")
        with pytest.raises(Conflict, match="holds 1 entries"):
            banks.delete_bank(db, actor=MOD, bank=used, reason="tidy up")
    with database.unit_of_work(write=False) as db:
        assert [b.name for b in db.execute(sa.select(Bank)).scalars()] == ["used"]
        (event,) = db.execute(sa.select(AuditEvent).where(AuditEvent.tag == "matching:bank:delete")).scalars()
        assert event.data == {"name": "empty", "reason": "created by mistake"}
