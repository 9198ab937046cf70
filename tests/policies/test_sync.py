"""Policy versions in the database: an edit is a new version and the old one stays citable."""

from __future__ import annotations

import importlib.resources

import pytest
import sqlalchemy as sa

from staydown.actors import SYSTEM
from staydown.audit.models import AuditEvent
from staydown.db import Database
from staydown.errors import Conflict, InvalidInput, NotFound
from staydown.policies import default_catalogue, load_catalogue
from staydown.policies.actions import sync_catalogue
from staydown.policies.catalogue import DEFAULT_NAME
from staydown.policies.queries import current_policy, current_refs, policy_version

DEFAULT_TEXT = importlib.resources.files("staydown.policies").joinpath(DEFAULT_NAME).read_text()


def _edited(old_rule_fragment: str, new: str, *, bump: bool) -> str:
    """The default catalogue with the spam policy's rule changed (and its version bumped)."""
    start = DEFAULT_TEXT.index("- id: spam")
    end = DEFAULT_TEXT.index("- id:", start + 5)
    block = DEFAULT_TEXT[start:end]
    assert old_rule_fragment in block
    block = block.replace(old_rule_fragment, new, 1)
    if bump:
        block = block.replace("version: 2", "version: 3", 1)
    return DEFAULT_TEXT[:start] + block + DEFAULT_TEXT[end:]


def _spam_rule_word() -> str:
    return default_catalogue().get("spam").rule.split()[0]


def test_sync_records_each_version_once_with_audit(database: Database) -> None:
    with database.unit_of_work() as db:
        report = sync_catalogue(db, actor=SYSTEM, catalogue=default_catalogue())
    assert "csam@2" in report.added and len(report.added) == len(default_catalogue())
    with database.unit_of_work() as db:
        again = sync_catalogue(db, actor=SYSTEM, catalogue=default_catalogue())
    assert again.added == [] and len(again.unchanged) == len(default_catalogue())
    with database.unit_of_work(write=False) as db:
        tags = (
            db.execute(sa.select(AuditEvent.subject_id).where(AuditEvent.tag == "policy:version:add")).scalars().all()
        )
        assert sorted(tags) == sorted(report.added)
        assert "csam@2" in current_refs(db)


def test_policy_edit_keeps_old_version_citable(database: Database) -> None:
    word = _spam_rule_word()
    with database.unit_of_work() as db:
        sync_catalogue(db, actor=SYSTEM, catalogue=default_catalogue())
    edited = load_catalogue(_edited(word, word + " (amended)", bump=True))
    with database.unit_of_work() as db:
        report = sync_catalogue(db, actor=SYSTEM, catalogue=edited)
    assert report.added == ["spam@3"]
    with database.unit_of_work(write=False) as db:
        old = policy_version(db, "spam@2")
        new = policy_version(db, "spam@3")
        assert "(amended)" not in old.rule and "(amended)" in new.rule
        assert current_policy(db, "spam").version == 3
        assert "spam@3" in current_refs(db) and "spam@2" not in current_refs(db)


def test_edit_without_version_bump_is_refused(database: Database) -> None:
    word = _spam_rule_word()
    with database.unit_of_work() as db:
        sync_catalogue(db, actor=SYSTEM, catalogue=default_catalogue())
    sneaky = load_catalogue(_edited(word, word + " (quietly changed)", bump=False))
    with database.unit_of_work() as db, pytest.raises(Conflict, match="spam@2 was edited without a new version"):
        sync_catalogue(db, actor=SYSTEM, catalogue=sneaky)


def test_unknown_and_malformed_refs(database: Database) -> None:
    with database.unit_of_work(write=False) as db:
        with pytest.raises(NotFound):
            policy_version(db, "spam@9")
        with pytest.raises(InvalidInput):
            policy_version(db, "spam")
