"""Reads of the policy versions recorded in the database: any version ever in force, the current ones."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.errors import InvalidInput, NotFound
from staydown.policies.catalogue import PolicyRefError, parse_ref, policy_from_document
from staydown.policies.models import PolicyVersion
from staydown.policies.schema import Policy


def policy_version(db: Session, ref: str) -> Policy:
    """Any version that was ever in force, by `id@version`: what a decision cited."""
    try:
        policy_id, version = parse_ref(ref)
    except PolicyRefError as exc:
        raise InvalidInput(str(exc)) from None
    row = db.execute(
        sa.select(PolicyVersion).where(PolicyVersion.policy_id == policy_id, PolicyVersion.version == version)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no policy version {ref}")
    return policy_from_document(row.document)


def current_policy(db: Session, policy_id: str) -> Policy:
    row = db.execute(
        sa.select(PolicyVersion).where(PolicyVersion.policy_id == policy_id, PolicyVersion.is_current.is_(True))
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no current policy {policy_id!r}")
    return policy_from_document(row.document)


def current_refs(db: Session) -> list[str]:
    rows = db.execute(
        sa.select(PolicyVersion.policy_id, PolicyVersion.version)
        .where(PolicyVersion.is_current.is_(True))
        .order_by(PolicyVersion.policy_id)
    ).all()
    return [f"{r[0]}@{r[1]}" for r in rows]
