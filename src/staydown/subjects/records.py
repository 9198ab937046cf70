"""The records of platform content and accounts: created on first mention, details kept current. The
primitive every package that hears of a content or an account uses (intake, matching, evidence)."""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor
from staydown.audit import AuditTag
from staydown.db import insert_for, now
from staydown.subjects.models import PlatformAccount, PlatformContent
from staydown.subjects.schemas import PUBLIC_VISIBILITIES, AccountRef, ContentRef

T = TypeVar("T", PlatformAccount, PlatformContent)


def insert_or_get(db: Session, model: type[Any], key: str, value: str, values: dict[str, Any]) -> tuple[Any, bool]:
    """The row of `model` whose unique column `key` is `value`, inserted with `values` if there is
    none. Returns (row, created).

    One `INSERT ... ON CONFLICT DO NOTHING RETURNING`: losing a race with another transaction
    that inserts the same key costs a re-read, and no savepoint, so nothing recorded earlier in the
    transaction (audit events) can be lost with a savepoint's rollback, and no lock is taken early."""
    column = getattr(model, key)
    existing = db.execute(sa.select(model).where(column == value)).scalar_one_or_none()
    if existing is not None:
        return existing, False
    stmt = (
        insert_for(db, model)
        .values({key: value, **values})
        .on_conflict_do_nothing(index_elements=[model.__table__.c[column.property.columns[0].name]])
        .returning(model)
    )
    created = db.execute(stmt).scalar_one_or_none()
    if created is not None:
        return created, True
    # Another transaction inserted it first (and committed: ON CONFLICT waited for it).
    return db.execute(sa.select(model).where(column == value)).scalar_one(), False


def _get_or_insert(db: Session, model: type[T], platform_id: str, values: dict[str, Any]) -> tuple[T, bool]:
    return insert_or_get(db, model, "platform_id", platform_id, values)


def ensure_account(db: Session, *, actor: Actor, ref: AccountRef) -> PlatformAccount:
    when = now(db)
    account, created = _get_or_insert(
        db,
        PlatformAccount,
        ref.id,
        {
            "handle": ref.handle,
            "status": ref.status or "active",
            "language": ref.language,
            "meta": ref.metadata,
            "first_seen_at": when,
            "updated_at": when,
        },
    )
    if created:
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.ACCOUNT_CREATE,
            subject_type="account",
            subject_id=account.id,
            data={"platform_id": ref.id, "handle": ref.handle},
        )
        return account
    changes: dict[str, Any] = {}
    if ref.handle is not None and ref.handle != account.handle:
        changes["handle"] = [account.handle, ref.handle]
        account.handle = ref.handle
    if ref.status is not None and ref.status != account.status:
        changes["status"] = [account.status, ref.status]
        account.status = ref.status
    if ref.language is not None and ref.language != account.language:
        changes["language"] = [account.language, ref.language]
        account.language = ref.language
    if ref.metadata and ref.metadata != account.meta:
        changes["metadata"] = True
        account.meta = {**account.meta, **ref.metadata}
    if changes:
        account.updated_at = when
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.ACCOUNT_UPDATE,
            subject_type="account",
            subject_id=account.id,
            data={"changes": changes},
        )
    return account


def ensure_content(db: Session, *, actor: Actor, ref: ContentRef) -> PlatformContent:
    """The content a platform refers to, created on first mention; new details fill gaps but
    never rewrite who posted it (a change of account is recorded, not silently applied)."""
    account = ensure_account(db, actor=actor, ref=ref.account) if ref.account else None
    when = now(db)
    content, created = _get_or_insert(
        db,
        PlatformContent,
        ref.id,
        {
            "kind": ref.kind,
            "url": ref.url,
            "account_id": account.id if account else None,
            "created_at": ref.created_at,
            "visibility": ref.visibility,
            "public_since": when if ref.visibility in PUBLIC_VISIBILITIES else None,
            "meta": ref.metadata,
            "first_seen_at": when,
            "updated_at": when,
        },
    )
    if created:
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.CONTENT_CREATE,
            subject_type="content",
            subject_id=content.id,
            data={
                "platform_id": ref.id,
                "kind": ref.kind,
                "visibility": ref.visibility,
                "account": ref.account.id if ref.account else None,
            },
        )
        return content
    changes: dict[str, Any] = {}
    if ref.kind != "unknown" and content.kind != ref.kind:
        changes["kind"] = [content.kind, ref.kind]
        content.kind = ref.kind
    if ref.url and ref.url != content.url:
        changes["url"] = [content.url, ref.url]
        content.url = ref.url
    if account is not None and content.account_id != account.id:
        if content.account_id is None:
            changes["account"] = [None, account.platform_id]
            content.account_id = account.id
        else:
            changes["account_conflict"] = account.platform_id
    if ref.visibility is not None and ref.visibility != content.visibility:
        changes["visibility"] = [content.visibility, ref.visibility]
        content.visibility = ref.visibility
        if ref.visibility in PUBLIC_VISIBILITIES and content.public_since is None:
            content.public_since = when
    if ref.created_at and content.created_at is None:
        changes["created_at"] = [None, ref.created_at]
        content.created_at = ref.created_at
    if ref.metadata and ref.metadata != content.meta:
        changes["metadata"] = True
        content.meta = {**content.meta, **ref.metadata}
    if changes:
        content.updated_at = when
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.CONTENT_UPDATE,
            subject_type="content",
            subject_id=content.id,
            data={"changes": changes},
        )
    return content
