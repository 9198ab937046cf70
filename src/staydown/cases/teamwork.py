"""Working a case together: internal comments, and giving a case to a person or a role
(assignment, or escalation with a reason and an alert to the role)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor, ActorKind
from staydown.audit import AuditTag
from staydown.cases.models import Case, CaseComment, CaseState
from staydown.db import now
from staydown.errors import Conflict, InvalidInput, PermissionDenied
from staydown.staff.models import StaffUser
from staydown.staff.permissions import Permission, Role, permissions_for_roles, require_staff_permission
from staydown.worklist import alert

MAX_COMMENT = 5_000
MAX_REASON = 2_000
ESCALATION_ALERT = "case_escalated"


def _require(actor: Actor, permission: Permission, case: Case) -> None:
    require_staff_permission(actor, permission)
    if (
        case.child_safety
        and actor.kind is ActorKind.staff
        and Permission.CHILD_SAFETY_CASES.value not in actor.permissions
    ):
        raise PermissionDenied("child-safety cases are worked by child-safety specialists")


def _clean(value: str, *, label: str, limit: int) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput(f"write the {label}")
    if len(text) > limit:
        raise InvalidInput(f"the {label} is at most {limit} characters (it has {len(text)})")
    return text


def comments_for(db: Session, case_id: int, *, limit: int = 200) -> list[CaseComment]:
    """A case's comments, newest first."""
    return list(
        db.execute(
            sa.select(CaseComment).where(CaseComment.case_id == case_id).order_by(CaseComment.id.desc()).limit(limit)
        ).scalars()
    )


def add_comment(db: Session, *, actor: Actor, case: Case, body: str) -> CaseComment:
    """An internal comment: anyone who may read the case may leave one for colleagues."""
    _require(actor, Permission.CASES_READ, case)
    text = _clean(body, label="comment", limit=MAX_COMMENT)
    comment = CaseComment(case_id=case.id, author=actor.ref, body=text, created_at=now(db))
    db.add(comment)
    db.flush()
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.CASE_COMMENT,
        subject_type="case",
        subject_id=case.id,
        data={"comment_id": comment.id, "body": text},
    )
    return comment


def assignable_roles() -> list[str]:
    """Roles a case can be given to: those whose holders can work cases."""
    return [r.value for r in Role if Permission.CASES_REVIEW.value in permissions_for_roles([r.value])]


def check_target(db: Session, case: Case, target: str) -> str:
    """`staff:<id>` of an active person who may work this case, or `role:<role>` of a role that
    may; anything else is refused with what was wrong."""
    kind, _, rest = (target or "").partition(":")
    if kind == "role":
        if rest not in assignable_roles():
            raise InvalidInput(f"a case can be given to the roles {', '.join(assignable_roles())}")
        if case.child_safety and Permission.CHILD_SAFETY_CASES.value not in permissions_for_roles([rest]):
            raise InvalidInput("a child-safety case goes only to child-safety specialists")
        return f"role:{rest}"
    if kind == "staff" and rest.isdigit() and len(rest) < 19:
        person = db.get(StaffUser, int(rest))
        if person is None or not person.is_active:
            raise InvalidInput("there is no active staff user with that name")
        granted = permissions_for_roles(person.roles)
        if Permission.CASES_REVIEW.value not in granted:
            raise InvalidInput(f"{person.username} cannot work cases (no reviewer role)")
        if case.child_safety and Permission.CHILD_SAFETY_CASES.value not in granted:
            raise InvalidInput(
                f"{person.username} is not a child-safety specialist: a child-safety case goes only to one"
            )
        return f"staff:{person.id}"
    raise InvalidInput("choose a person or a role to give the case to")


def assign_case(db: Session, *, actor: Actor, case: Case, to: str | None, reason: str = "") -> Case:
    """Give the case to a person or a role (`to`), or take it back from whoever has it (`None`)."""
    _require(actor, Permission.CASES_REVIEW, case)
    if case.state == CaseState.decided.value:
        raise Conflict(f"case {case.id} is already decided")
    target = check_target(db, case, to) if to else None
    note = (reason or "").strip()
    if len(note) > MAX_REASON:
        raise InvalidInput(f"the reason is at most {MAX_REASON} characters (it has {len(note)})")
    if target == case.assigned_to:
        raise Conflict("the case is already given to them" if target else "the case is not given to anyone")
    before = case.assigned_to
    case.assigned_to = target
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.CASE_ASSIGN,
        subject_type="case",
        subject_id=case.id,
        data={"from": before, "to": target, "reason": note},
    )
    return case


def escalate_case(db: Session, *, actor: Actor, case: Case, to: str, reason: str) -> Case:
    """Hand a case up to a person or a role, saying why: the case is theirs and, for a role, every
    holder of the role gets an alert."""
    _require(actor, Permission.CASES_REVIEW, case)
    if case.state == CaseState.decided.value:
        raise Conflict(f"case {case.id} is already decided")
    target = check_target(db, case, to)
    why = _clean(reason, label="reason for the escalation", limit=MAX_REASON)
    before = case.assigned_to
    case.assigned_to = target
    when = now(db)
    if target.startswith("role:"):
        alert(
            db,
            roles=[target.split(":", 1)[1]],
            kind=ESCALATION_ALERT,
            case_id=case.id,
            message=f"case {case.id} was escalated to you by {actor.label}: {why}",
            at=when,
        )
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.CASE_ESCALATE_TO,
        subject_type="case",
        subject_id=case.id,
        data={"from": before, "to": target, "reason": why},
    )
    return case
