"""Out-of-court dispute cases (DSA Art. 21): the certified body, its outcome, and whether the
platform implemented it (DSA-5)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor
from staydown.appeals.models import DisputeOutcome, OutOfCourtDispute
from staydown.appeals.queries import appeal_by_id
from staydown.audit import AuditTag
from staydown.cases.models import Case, Outcome
from staydown.db import get_or_404, now
from staydown.enforcement.measures import reverse_case_measures
from staydown.enforcement.models import EnforcementAction
from staydown.errors import Conflict, InvalidInput, NotFound, RuleViolation
from staydown.policies.catalogue import Catalogue
from staydown.staff.permissions import Permission, require_staff_permission


def _require_disputes(actor: Actor) -> None:
    require_staff_permission(actor, Permission.APPEALS_DISPUTES)


def dispute_by_id(db: Session, dispute_id: int) -> OutOfCourtDispute:
    return get_or_404(db, OutOfCourtDispute, dispute_id, "out-of-court dispute")


def list_disputes(db: Session, *, open_only: bool = False, limit: int = 100) -> list[OutOfCourtDispute]:
    stmt = sa.select(OutOfCourtDispute)
    if open_only:
        stmt = stmt.where(
            sa.or_(
                OutOfCourtDispute.outcome.is_(None),
                sa.and_(
                    OutOfCourtDispute.outcome.in_([DisputeOutcome.for_user.value, DisputeOutcome.settled.value]),
                    OutOfCourtDispute.implemented.is_(None),
                ),
            )
        )
    return list(db.execute(stmt.order_by(OutOfCourtDispute.opened_at, OutOfCourtDispute.id).limit(limit)).scalars())


def _not_future(db: Session, value: datetime | None, name: str) -> datetime:
    when = now(db)
    if value is None:
        return when
    if value.tzinfo is None:
        raise InvalidInput(f"{name} needs a time zone (e.g. 2026-06-01T12:00:00Z)")
    if value > when:
        raise InvalidInput(f"{name} is in the future")
    return value


def record_dispute(
    db: Session,
    *,
    actor: Actor,
    body: str,
    appeal_id: int | None = None,
    case_id: int | None = None,
    reference: str | None = None,
    opened_at: datetime | None = None,
    notes: str = "",
) -> OutOfCourtDispute:
    """A dispute brought before a certified out-of-court settlement body about a case (and the
    appeal on it, if there was one: DSA Art. 21 does not require one first)."""
    _require_disputes(actor)
    name = (body or "").strip()
    if not name or len(name) > 300:
        raise InvalidInput("body names the certified out-of-court settlement body (1 to 300 characters)")
    if reference is not None and len(reference) > 200:
        raise InvalidInput("reference is at most 200 characters")
    if len(notes or "") > 10_000:
        raise InvalidInput("notes are at most 10000 characters")
    if appeal_id is not None:
        appeal = appeal_by_id(db, appeal_id)
        if case_id is not None and case_id != appeal.case_id:
            raise InvalidInput(f"appeal {appeal_id} is about case {appeal.case_id}, not case {case_id}")
        case_id = appeal.case_id
    if case_id is None:
        raise InvalidInput("name the case or the appeal the dispute is about")
    if db.get(Case, case_id) is None:
        raise NotFound(f"no case {case_id}")
    dispute = OutOfCourtDispute(
        case_id=case_id,
        appeal_id=appeal_id,
        body=name,
        reference=reference or None,
        opened_at=_not_future(db, opened_at, "opened_at"),
        notes=notes or "",
        recorded_by=actor.ref,
    )
    db.add(dispute)
    db.flush()
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.DISPUTE_OPEN,
        subject_type="dispute",
        subject_id=dispute.id,
        data={
            "case_id": case_id,
            "appeal_id": appeal_id,
            "body": name,
            "reference": reference,
            "opened_at": dispute.opened_at,
        },
    )
    return dispute


def record_dispute_outcome(
    db: Session,
    *,
    actor: Actor,
    dispute: OutOfCourtDispute,
    outcome: str,
    decided_at: datetime | None = None,
    notes: str = "",
) -> OutOfCourtDispute:
    _require_disputes(actor)
    try:
        chosen = DisputeOutcome(outcome)
    except ValueError:
        raise InvalidInput(f"outcome must be one of {', '.join(o.value for o in DisputeOutcome)}") from None
    if dispute.outcome is not None:
        raise Conflict(f"dispute {dispute.id} already has its outcome ({dispute.outcome})")
    when = _not_future(db, decided_at, "decided_at")
    if when < dispute.opened_at:
        raise InvalidInput("decided_at is before the dispute was opened")
    dispute.outcome = chosen.value
    dispute.decided_at = when
    if notes:
        dispute.notes = (dispute.notes + "\n" if dispute.notes else "") + notes[:10_000]
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.DISPUTE_OUTCOME,
        subject_type="dispute",
        subject_id=dispute.id,
        data={"case_id": dispute.case_id, "outcome": chosen.value, "decided_at": when},
    )
    return dispute


def mark_dispute_implemented(
    db: Session,
    *,
    actor: Actor,
    dispute: OutOfCourtDispute,
    implemented: bool,
    notes: str = "",
    reverse_measures: bool = False,
    catalogue: Catalogue | None = None,
) -> OutOfCourtDispute:
    """Record whether the platform carried out the body's decision (DSA-5), with what it did or why
    not. `reverse_measures` carries out a decision for the user against a restriction through the
    same reversal an appeal uses (never for confirmed CSAM)."""
    _require_disputes(actor)
    if dispute.outcome is None:
        raise Conflict(f"dispute {dispute.id} has no outcome yet")
    if dispute.outcome not in (DisputeOutcome.for_user.value, DisputeOutcome.settled.value):
        raise InvalidInput(f"a dispute with outcome {dispute.outcome} asks nothing of the platform to implement")
    if dispute.implemented is not None:
        raise Conflict(
            f"dispute {dispute.id} is already marked {'implemented' if dispute.implemented else 'not implemented'}"
        )
    if not implemented and not (notes or "").strip():
        raise InvalidInput("say why the decision is not implemented: notes are required")
    restored: list[EnforcementAction] = []
    if reverse_measures:
        if not implemented:
            raise InvalidInput("reverse_measures implements the decision: set implemented as well")
        if catalogue is None:
            raise InvalidInput("reversing measures needs the policy catalogue")

        case = db.get(Case, dispute.case_id)
        assert case is not None  # a dispute's case is never deleted
        if case.outcome != Outcome.violates.value:
            raise Conflict(f"case {case.id} has no measures in force to reverse (outcome {case.outcome})")
        try:
            restored = reverse_case_measures(
                db,
                actor=actor,
                case=case,
                catalogue=catalogue,
                reason=f"out-of-court decision {dispute.reference or dispute.id} ({dispute.body})",
            )
        except RuleViolation as exc:
            raise RuleViolation(exc.message, code="csam_never_restored") from None
    dispute.implemented = implemented
    dispute.implemented_at = now(db) if implemented else None
    if notes:
        dispute.notes = (dispute.notes + "\n" if dispute.notes else "") + notes[:10_000]
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.DISPUTE_IMPLEMENTED,
        subject_type="dispute",
        subject_id=dispute.id,
        data={
            "case_id": dispute.case_id,
            "implemented": implemented,
            "notes": notes,
            "restored": [a.id for a in restored],
        },
    )
    return dispute
