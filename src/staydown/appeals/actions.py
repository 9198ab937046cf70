"""Appeals against decisions (DSA Art. 20, UK OSA complaints).

The rules this module exists to enforce (REQUIREMENTS.md DSA-4, DSA-5, UK-3, UK-4):
- an affected user (with the code of their statement of reasons) and a notifier (with their
  report's tracking code, also against a decision not to act) can appeal for the configured window
  (at least six months) after the decision; a late appeal is refused with the dates it missed;
- an appeal is decided by a person on the staff who took no part in the contested decision,
  never by automation, and always with reasons;
- a reversal lifts the measures and restores through the normal delivery path (webhooks from the
  outbox); confirmed child sexual abuse material is never restored;
- intimate-image (and child-safety) cases go on an expedited route with a shorter due date and
  first in the queue;
- the appellant is told the outcome with the reasons and the out-of-court option.

This module holds the state changes of a filed appeal: its claim by a decider and its release; its
decision, which changes measures and may decide the case anew, is the flow `flows.appeals.decide_appeal`.
For pages: `filing.appeal_target(db, statement_code=...|tracking_code=...)` says what a code lets its
holder appeal (deadline, bases, an appeal already filed); `filing.file_appeal(db,
actor=Actor.public(), ...)` files; `queries.public_view(queries.appeal_by_code(db, code))` is what the
holder may see; `notify` tells the appellant, `deadlines` sweeps the due dates. Every refusal is a
`StaydownError` whose `message` is written for the appellant.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor, ActorKind
from staydown.appeals.models import Appeal, AppealState
from staydown.appeals.queries import OPEN_STATES, original_deciders
from staydown.appeals.rules import DEFAULT_APPEAL_RULES, AppealRules
from staydown.audit import AuditTag
from staydown.cases.models import Case
from staydown.db import now
from staydown.errors import Conflict, PermissionDenied, RuleViolation
from staydown.staff.permissions import Permission
from staydown.worklist import take_lease

MAX_REASONS = 10_000


# -- claims -----------------------------------------------------------------------------------


def require_decider(actor: Actor, case: Case) -> None:
    if actor.kind is not ActorKind.staff:
        # DSA Art. 20(6): decided under the supervision of qualified staff, never solely automated.
        raise RuleViolation(
            "an appeal is decided by a qualified person on the staff, never by automated means alone",
            code="appeal_needs_a_person",
        )
    if Permission.APPEALS_DECIDE.value not in actor.permissions:
        raise PermissionDenied(f"this needs the '{Permission.APPEALS_DECIDE.value}' permission")
    if case.child_safety and Permission.CHILD_SAFETY_CASES.value not in actor.permissions:
        raise PermissionDenied("appeals on child-safety cases are decided by child-safety specialists")


def refuse_original_decider(db: Session, actor: Actor, appeal: Appeal, case: Case) -> None:
    if actor.ref in set(appeal.original_deciders) | set(original_deciders(db, case)):
        raise RuleViolation(
            "you took part in the decision under appeal: a different person must decide the appeal (DSA Art. 20)",
            code="appeal_by_original_decider",
        )


def claim_appeal(db: Session, *, actor: Actor, appeal: Appeal, rules: AppealRules = DEFAULT_APPEAL_RULES) -> Appeal:
    """Take an appeal for review with a lease. Refused to anyone who took part in the decision."""
    case = db.get(Case, appeal.case_id)
    assert case is not None  # an appeal's case is never deleted
    require_decider(actor, case)
    if appeal.state not in OPEN_STATES:
        raise Conflict(f"appeal {appeal.id} is {appeal.state}")
    refuse_original_decider(db, actor, appeal, case)
    take_lease(appeal, actor=actor, at=now(db), lease=rules.claim_lease, label=f"appeal {appeal.id}")
    appeal.state = AppealState.in_review.value
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.APPEAL_CLAIM,
        subject_type="appeal",
        subject_id=appeal.id,
        data={"until": appeal.claim_expires_at},
    )
    return appeal


def release_appeal(db: Session, *, actor: Actor, appeal: Appeal) -> Appeal:
    if appeal.claimed_by != actor.ref or appeal.state not in OPEN_STATES:
        raise Conflict(f"appeal {appeal.id} is not claimed by you")
    appeal.claimed_by = None
    appeal.claim_expires_at = None
    appeal.state = AppealState.received.value
    audit.record(db, actor=actor, tag=AuditTag.APPEAL_RELEASE, subject_type="appeal", subject_id=appeal.id, data={})
    return appeal
