"""What the public pages read: a notice's status as its notifier may see it, and the deadlines it runs under."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.cases.models import Case
from staydown.intake.models import Notice

# The status reading is the intake domain's; re-exported for the page views.
from staydown.intake.queries import PUBLIC_TRACKS, PublicStatus, notice_deadlines, public_status  # noqa: F401


def lock_form_id(db: Session, key: str) -> None:
    """Serialise the transactions filing one form. SQLite already runs one writer at a time (a
    write unit begins IMMEDIATE); PostgreSQL takes a transaction-scoped advisory lock on the key."""
    if db.get_bind().dialect.name == "postgresql":
        number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        db.execute(sa.select(sa.func.pg_advisory_xact_lock(number)))


def notice_by_form_id(db: Session, key: str) -> Notice | None:
    """The notice a public form already filed (a second click, or a reload that posts again)."""
    return db.execute(sa.select(Notice).where(Notice.idempotency_key == key)).scalar_one_or_none()


def restricted_pending_review(db: Session, notice: Notice) -> bool:
    """Whether intake kept an item of this notice out of distribution at once (X-4): it does so
    for a child-safety case whose item is known by its platform id."""
    case_ids = {i.case_id for i in notice.items if i.case_id and i.content_id}
    return bool(case_ids) and bool(
        db.scalar(
            sa.select(sa.func.count()).select_from(Case).where(Case.id.in_(case_ids), Case.child_safety.is_(True))
        )
    )


def already_filed(db: Session, key: str | None) -> Notice | None:
    """The notice this form already filed, if any. The key's lock is held to the end of the
    transaction, so a second post of the same form racing the first waits for it to commit and
    then finds its notice, instead of filing a second one."""
    if key is None:
        return None
    lock_form_id(db, "public-form:" + key)
    return notice_by_form_id(db, "public-form:" + key)
