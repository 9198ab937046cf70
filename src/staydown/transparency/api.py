"""HTTP API for statements of reasons: the public page's data by code, and the list for staff and
API clients."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session

from staydown.actors import Actor
from staydown.apidocs import errors
from staydown.cases.models import Case
from staydown.http import DbSession, rate_limited, require
from staydown.limits import Cursor, DbId
from staydown.staff.permissions import Permission
from staydown.subjects.queries import account_by_platform_id, content_by_platform_id
from staydown.transparency import statements

router = APIRouter(prefix="/v1", tags=["statements"])
public_router = APIRouter(prefix="/public", tags=["public"])

Public = Annotated[Actor, Depends(require(Permission.PUBLIC))]
# Statements are transparency records; the platform receives each with its action already.
Reader = Annotated[Actor, Depends(require(Permission.TRANSPARENCY_READ))]
Code = Annotated[str, Path(min_length=4, max_length=40)]
PlatformId = Annotated[str | None, Query(min_length=1, max_length=200)]


@public_router.get("/statements/{code}", dependencies=[Depends(rate_limited("statements", 0))])
def public_statement(code: Code, db: DbSession, _: Public) -> dict[str, Any]:
    """A statement of reasons by its code (DSA Art. 17): the measure, where and for how long, the
    facts, the source, the automated means, the ground and how to contest it. No personal data."""
    return statements.public_view(statements.statement_by_code(db, code))


class StatementsOut(BaseModel):
    statements: list[dict[str, Any]]
    next_after: int


@router.get("/statements", response_model=StatementsOut, responses=errors(404))
def list_statements(
    db: DbSession,
    actor: Reader,
    case_id: DbId | None = None,
    action_id: DbId | None = None,
    content_id: PlatformId = None,
    account_id: PlatformId = None,
    after: Cursor = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> StatementsOut:
    """Statements by case, action, or the platform's content or account id, oldest first; page on
    with `after` = the last `next_after`."""
    content = content_by_platform_id(db, content_id).id if content_id is not None else None
    account = account_by_platform_id(db, account_id).id if account_id is not None else None
    rows = statements.statements_for(
        db, case_id=case_id, action_id=action_id, content_id=content, account_id=account, after_id=after, limit=limit
    )
    full = _full_view_cases(db, actor, rows)
    return StatementsOut(
        statements=[statements.staff_view(s) if s.case_id in full else statements.public_view(s) for s in rows],
        next_after=rows[-1].id if rows else after,
    )


def _full_view_cases(db: Session, actor: Actor, rows: list[Any]) -> set[int | None]:
    """The cases whose statements this reader may see in full (facts as the reviewer wrote them,
    ids): those a case reader may see, child-safety cases only for child-safety staff. Anyone else
    with `transparency:read` (an auditor, a platform key) gets the public view: transparency
    records, not case files."""
    if Permission.CASES_READ.value not in actor.permissions:
        return set()
    case_ids = {r.case_id for r in rows if r.case_id is not None}
    if not case_ids:
        return {None}
    child_safety = set(
        db.execute(sa.select(Case.id).where(Case.id.in_(case_ids), Case.child_safety.is_(True))).scalars()
    )
    allowed = case_ids if Permission.CHILD_SAFETY_CASES.value in actor.permissions else case_ids - child_safety
    return {None, *allowed}
