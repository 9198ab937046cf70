"""Record the catalogue in the database: every version ever in force stays citable as `id@version`."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor
from staydown.audit import AuditTag
from staydown.db import now
from staydown.errors import Conflict, InvalidInput, NotFound
from staydown.policies.catalogue import (
    Catalogue,
    PolicyRefError,
    content_digest,
    parse_ref,
    policy_from_document,
    to_document,
)
from staydown.policies.models import PolicyVersion
from staydown.policies.schema import Policy


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)  # refs
    unchanged: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)


def sync_catalogue(db: Session, *, actor: Actor, catalogue: Catalogue) -> SyncReport:
    """Store each policy version the catalogue holds that the database does not.

    An edit must come with a new version number: a stored `id@version` whose content differs from
    the catalogue's is refused, because decisions already cite it and must keep meaning what they
    meant. A lower version than the newest stored one is refused too."""
    report = SyncReport()
    stored = {(row.policy_id, row.version): row for row in db.execute(sa.select(PolicyVersion)).scalars()}
    newest: dict[str, int] = {}
    for policy_id, version in stored:
        newest[policy_id] = max(newest.get(policy_id, 0), version)
    problems: list[str] = []
    for policy in catalogue:
        digest = content_digest(policy)
        existing = stored.get((policy.id, policy.version))
        if existing is not None:
            if existing.digest != digest:
                problems.append(
                    f"{policy.id}@{policy.version} was edited without a new version number; "
                    f"give it version {newest[policy.id] + 1}"
                )
            continue
        if policy.version < newest.get(policy.id, 0):
            problems.append(f"{policy.id}@{policy.version} is older than the stored {policy.id}@{newest[policy.id]}")
    if problems:
        raise Conflict("the catalogue cannot be recorded: " + "; ".join(problems), details=problems)

    when = now(db)
    in_catalogue = {p.id for p in catalogue}
    for policy in catalogue:
        ref = f"{policy.id}@{policy.version}"
        if (policy.id, policy.version) in stored:
            row = stored[(policy.id, policy.version)]
            if not row.is_current:
                row.is_current = True
            report.unchanged.append(ref)
            continue
        for (policy_id, _), row in stored.items():
            if policy_id == policy.id and row.is_current:
                row.is_current = False
        row = PolicyVersion(
            policy_id=policy.id,
            version=policy.version,
            digest=content_digest(policy),
            document=to_document(policy),
            is_current=True,
            added_at=when,
            added_by=actor.ref,
        )
        db.add(row)
        report.added.append(ref)
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.POLICY_VERSION_ADD,
            subject_type="policy",
            subject_id=ref,
            data={"digest": row.digest, "previous": newest.get(policy.id), "title": policy.title},
        )
    for (policy_id, version), row in stored.items():
        if policy_id not in in_catalogue and row.is_current:
            row.is_current = False
            report.retired.append(f"{policy_id}@{version}")
            audit.record(
                db,
                actor=actor,
                tag=AuditTag.POLICY_RETIRE,
                subject_type="policy",
                subject_id=f"{policy_id}@{version}",
                data={"reason": "no longer in the catalogue"},
            )
    db.flush()
    return report


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
