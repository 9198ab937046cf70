"""Reads of cases that other packages need: a case by id, and the contents reported into it."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.cases.models import Case
from staydown.enforcement.models import EnforcementAction
from staydown.errors import NotFound
from staydown.intake.models import NoticeItem
from staydown.subjects.models import PlatformContent


def case_by_id(db: Session, case_id: int, *, for_update: bool = False) -> Case:
    stmt = sa.select(Case).where(Case.id == case_id)
    if for_update and db.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    case = db.execute(stmt).scalar_one_or_none()
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


def case_contents(db: Session, case: Case) -> list:
    """The case's content and every other content reported into it."""
    ids = {case.content_id} if case.content_id else set()
    ids |= set(
        db.execute(
            sa.select(NoticeItem.content_id).where(NoticeItem.case_id == case.id, NoticeItem.content_id.is_not(None))
        ).scalars()
    )
    if not ids:
        return []
    return list(
        db.execute(
            sa.select(PlatformContent).where(PlatformContent.id.in_(sorted(ids))).order_by(PlatformContent.id)
        ).scalars()
    )


def reported_contents_by_account(db: Session, case: Case) -> list[tuple[int | None, list]]:
    """What a report to an authority describes, per account that posted it (accounts in id order,
    unknown poster last): the case's content, every content reported into it, and the copies the
    stay-down sweep acted on under it, which are part of the incident too."""
    contents = case_contents(db, case)
    sweep_ids = set(
        db.execute(
            sa.select(EnforcementAction.content_id).where(
                EnforcementAction.case_id == case.id, EnforcementAction.content_id.is_not(None)
            )
        ).scalars()
    )
    missing = sorted(sweep_ids - {c.id for c in contents})
    if missing:
        contents += list(
            db.execute(
                sa.select(PlatformContent).where(PlatformContent.id.in_(missing)).order_by(PlatformContent.id)
            ).scalars()
        )
    by_account: dict[int | None, list] = {}
    for content in contents:
        by_account.setdefault(content.account_id, []).append(content)
    return sorted(by_account.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
