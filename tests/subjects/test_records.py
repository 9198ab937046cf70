"""Platform content and accounts: created on first mention, referred to by the platform's ids."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from staydown.actors import Actor
from staydown.audit.models import AuditEvent
from staydown.db import Database
from staydown.errors import NotFound
from staydown.subjects import queries, records
from staydown.subjects.models import PlatformAccount, PlatformContent
from staydown.subjects.schemas import AccountRef, ContentRef

PLATFORM = Actor.api_client(1, "forum")


def _tags(db) -> list[str]:
    return list(db.execute(sa.select(AuditEvent.tag).order_by(AuditEvent.seq)).scalars())


def test_first_mention_creates_content_and_account_with_audit(database: Database) -> None:
    ref = ContentRef(
        id="post-1",
        kind="image",
        url="https://forum.example/p/1",
        account=AccountRef(id="u-9", handle="@nine"),
        created_at=datetime(2026, 5, 1, tzinfo=UTC),
    )
    with database.unit_of_work() as db:
        content = records.ensure_content(db, actor=PLATFORM, ref=ref)
    with database.unit_of_work(write=False) as db:
        stored = queries.content_by_platform_id(db, "post-1")
        assert stored.id == content.id and stored.kind == "image"
        assert stored.account is not None
        assert stored.account.platform_id == "u-9" and stored.account.handle == "@nine"
        assert stored.created_at == datetime(2026, 5, 1, tzinfo=UTC)
        assert _tags(db) == ["subject:account:create", "subject:content:create"]
        event = db.execute(sa.select(AuditEvent).where(AuditEvent.tag == "subject:content:create")).scalar_one()
        assert event.actor_kind == "api_client" and event.data["platform_id"] == "post-1"


def test_second_mention_reuses_and_records_only_changes(database: Database) -> None:
    with database.unit_of_work() as db:
        first = records.ensure_content(db, actor=PLATFORM, ref=ContentRef(id="post-1"))
    with database.unit_of_work() as db:
        again = records.ensure_content(db, actor=PLATFORM, ref=ContentRef(id="post-1"))
        assert again.id == first.id
        assert _tags(db) == ["subject:content:create"]
        records.ensure_content(
            db, actor=PLATFORM, ref=ContentRef(id="post-1", kind="video", account=AccountRef(id="u-1"))
        )
    with database.unit_of_work(write=False) as db:
        update = db.execute(sa.select(AuditEvent).where(AuditEvent.tag == "subject:content:update")).scalar_one()
        assert update.data["changes"]["kind"] == ["unknown", "video"]
        assert update.data["changes"]["account"] == [None, "u-1"]


def test_a_different_poster_is_recorded_not_silently_applied(database: Database) -> None:
    with database.unit_of_work() as db:
        records.ensure_content(db, actor=PLATFORM, ref=ContentRef(id="p", account=AccountRef(id="a")))
        records.ensure_content(db, actor=PLATFORM, ref=ContentRef(id="p", account=AccountRef(id="b")))
    with database.unit_of_work(write=False) as db:
        account = queries.content_by_platform_id(db, "p").account
        assert account is not None and account.platform_id == "a"
        update = db.execute(sa.select(AuditEvent).where(AuditEvent.tag == "subject:content:update")).scalar_one()
        assert update.data["changes"] == {"account_conflict": "b"}


def test_unknown_ids_are_not_found(database: Database) -> None:
    with database.unit_of_work(write=False) as db:
        with pytest.raises(NotFound, match="post-x"):
            queries.content_by_platform_id(db, "post-x")
        with pytest.raises(NotFound):
            queries.account_by_platform_id(db, "u-x")


@pytest.mark.parametrize(
    "data",
    [
        {"id": ""},
        {"id": "x" * 201},
        {"id": "a", "kind": "hologram"},
        {"id": "a", "surprise": 1},
        {"id": "a", "metadata": {"k": "v" * 20000}},
        {"id": "a", "created_at": "2026-01-01T00:00:00"},
    ],
)
def test_refs_have_limits(data: dict) -> None:
    with pytest.raises(ValidationError):
        ContentRef.model_validate(data)


def test_concurrent_first_mentions_create_one_row(database: Database) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def mention() -> None:
        try:
            barrier.wait()
            with database.unit_of_work() as db:
                records.ensure_content(db, actor=PLATFORM, ref=ContentRef(id="hot", account=AccountRef(id="acc")))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=mention) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with database.unit_of_work(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(PlatformContent)) == 1
        assert db.scalar(sa.select(sa.func.count()).select_from(PlatformAccount)) == 1
        assert _tags(db).count("subject:content:create") == 1
