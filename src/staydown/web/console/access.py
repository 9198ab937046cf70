"""Which cases a console user may see: child-safety cases only with the child-safety permission,
as in the review API (a case one may not see is answered 404, never 'forbidden')."""

from __future__ import annotations

from sqlalchemy.orm import Session

from staydown.actors import Actor
from staydown.cases import queries
from staydown.cases.models import Case
from staydown.errors import NotFound
from staydown.staff.permissions import Permission

# Reporter identity (name, e-mail, signature, platform account) is shown only to those who act on
# it: child-safety specialists (NCMEC reports carry the reporter) and legal. A moderator sees the
# reporter's kind and explanation, which is what a decision needs.
IDENTITY_PERMISSIONS = frozenset({Permission.CHILD_SAFETY_CASES.value, Permission.LAW_ENFORCEMENT.value})


def can_see(actor: Actor, case: Case) -> bool:
    return not case.child_safety or Permission.CHILD_SAFETY_CASES.value in actor.permissions


def visible_case(db: Session, actor: Actor, case_id: int, *, for_update: bool = False) -> Case:
    case = queries.case_by_id(db, case_id, for_update=for_update)
    if not can_see(actor, case):
        raise NotFound(f"no case {case_id}")
    return case


def sees_identity(actor: Actor) -> bool:
    return bool(IDENTITY_PERMISSIONS & actor.permissions)
