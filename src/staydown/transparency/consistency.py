"""Consistency checks: sampled second opinions on decisions, and decision exceptions with reasons.

Balance is checked, not claimed (issue #8, item 5):
- a configurable share of decisions (`consistency_sample_rate`) goes to a second reviewer for an
  *agreement check*. The sample is chosen by a hash of the case id, so anyone can recompute which
  cases were due a check. The second opinion is recorded beside the decision and never changes its
  effect (the two-person rule in cases/actions.py `second_review` is a different thing: it gates a
  "does not violate" on child-safety cases before it takes effect);
- there is no exemption list. A decision that deliberately departs from what the policy says by
  default (other measures than the policy's default, a high-reach account handled differently, ...)
  is an *exception*: a recorded decision with its reasons, audited, and listed in the figures.
"""

from __future__ import annotations

import enum
import hashlib
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from staydown import audit
from staydown.actors import SYSTEM, Actor, ActorKind
from staydown.audit import AuditTag
from staydown.cases.models import Case, Decision, DecisionState, Outcome
from staydown.db import Base, BigIntPK, UTCDateTime, get_or_404, now
from staydown.errors import Conflict, InvalidInput, NotFound, PermissionDenied, RuleViolation
from staydown.policies.catalogue import Catalogue, parse_ref
from staydown.staff.permissions import Permission

# The decisions a check can be about: the final word on a case, not an escalation or a pending one.
CHECKABLE_STATES = (DecisionState.effective.value, DecisionState.upheld.value)
CHECKABLE_OUTCOMES = (Outcome.violates.value, Outcome.does_not_violate.value)
MIN_REASONS = 20
MAX_TEXT = 5000


class CheckState(str, enum.Enum):
    pending = "pending"
    done = "done"


class ExceptionKind(str, enum.Enum):
    measures_differ = "measures_differ"  # other measures than the policy's default
    high_reach = "high_reach"  # a high-reach account handled differently from others
    policy_override = "policy_override"  # decided under another policy than the notices alleged
    other = "other"


class ConsistencyCheck(Base):
    """A sampled decision and the second reviewer's independent opinion on it."""

    __tablename__ = "consistency_checks"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    decision_id: Mapped[int] = mapped_column(
        sa.ForeignKey("decisions.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    state: Mapped[str] = mapped_column(sa.String(20), nullable=False, index=True)
    sampled_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    sample_rate: Mapped[float] = mapped_column(sa.Float, nullable=False)  # the rate in force when sampled
    reviewer: Mapped[str | None] = mapped_column(sa.String(200))
    outcome: Mapped[str | None] = mapped_column(sa.String(20))
    policy_ref: Mapped[str | None] = mapped_column(sa.String(100))
    agree: Mapped[bool | None] = mapped_column(sa.Boolean)
    facts: Mapped[str | None] = mapped_column(sa.Text)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DecisionException(Base):
    """A decision that departs from the policy's default, recorded with its reasons."""

    __tablename__ = "decision_exceptions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    decision_id: Mapped[int] = mapped_column(
        sa.ForeignKey("decisions.id", ondelete="CASCADE"), nullable=False, index=True
    )
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    reasons: Mapped[str] = mapped_column(sa.Text, nullable=False)
    recorded_by: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


# -- sampling ---------------------------------------------------------------------------------


def sample_point(case_id: int) -> float:
    """Where a case falls in [0, 1): the first 8 bytes of SHA-256 of its id. Public and fixed, so an
    auditor can recompute which cases were due a check at any rate."""
    digest = hashlib.sha256(f"staydown-consistency:{case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_sampled(case_id: int, rate: float) -> bool:
    return sample_point(case_id) < rate


def sample_decisions(
    db: Session, *, actor: Actor, rate: float, since: datetime | None = None, limit: int = 1000
) -> list[ConsistencyCheck]:
    """Open an agreement check for every final decision of a sampled case that has none yet.
    Idempotent: safe to run from the periodic job as often as it likes."""
    if not 0.0 <= rate <= 1.0:
        raise InvalidInput("the consistency sample rate is a share between 0 and 1")
    if rate == 0.0:
        return []
    stmt = (
        sa.select(Decision)
        .outerjoin(ConsistencyCheck, ConsistencyCheck.decision_id == Decision.id)
        .where(
            ConsistencyCheck.id.is_(None),
            Decision.state.in_(CHECKABLE_STATES),
            Decision.outcome.in_(CHECKABLE_OUTCOMES),
        )
        .order_by(Decision.id)
    )
    if since is not None:
        stmt = stmt.where(Decision.decided_at >= since)
    created = []
    when = now(db)
    for decision in db.execute(stmt).scalars():
        if not is_sampled(decision.case_id, rate):
            continue
        check = ConsistencyCheck(
            decision_id=decision.id,
            case_id=decision.case_id,
            state=CheckState.pending.value,
            sampled_at=when,
            sample_rate=rate,
        )
        db.add(check)
        db.flush()
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.CONSISTENCY_SAMPLE,
            subject_type="case",
            subject_id=decision.case_id,
            data={
                "check_id": check.id,
                "decision_id": decision.id,
                "rate": rate,
                "point": round(sample_point(decision.case_id), 6),
            },
        )
        created.append(check)
        if len(created) >= limit:
            break
    return created


def check_by_id(db: Session, check_id: int) -> ConsistencyCheck:
    return get_or_404(db, ConsistencyCheck, check_id, "consistency check")


def pending_checks(db: Session, *, limit: int = 50) -> list[ConsistencyCheck]:
    return list(
        db.execute(
            sa.select(ConsistencyCheck)
            .where(ConsistencyCheck.state == CheckState.pending.value)
            .order_by(ConsistencyCheck.id)
            .limit(limit)
        ).scalars()
    )


def record_second_opinion(
    db: Session,
    *,
    actor: Actor,
    check: ConsistencyCheck,
    outcome: str,
    policy_ref: str,
    facts: str,
    catalogue: Catalogue,
) -> ConsistencyCheck:
    """The second reviewer's own decision on a sampled case, taken without changing anything: it
    agrees when it reaches the same outcome under the same policy (any version)."""
    if actor.kind is ActorKind.staff and Permission.CASES_REVIEW.value not in actor.permissions:
        raise PermissionDenied(f"this needs the '{Permission.CASES_REVIEW.value}' permission")
    if check.state != CheckState.pending.value:
        raise Conflict(f"consistency check {check.id} already has its second opinion")
    if outcome not in CHECKABLE_OUTCOMES:
        raise InvalidInput(f"outcome must be one of {', '.join(CHECKABLE_OUTCOMES)}")
    text = (facts or "").strip()
    if not text:
        raise InvalidInput("a second opinion needs the facts it relies on")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"facts are {len(text)} characters; at most {MAX_TEXT}")
    try:
        policy_id, _ = parse_ref(policy_ref)
        policy = catalogue.get(policy_id)
    except Exception:  # noqa: BLE001 - a malformed ref and an unknown policy read the same to the caller
        raise InvalidInput(f"{policy_ref!r} is not a policy of the catalogue (give id@version)") from None
    decision = db.get(Decision, check.decision_id)
    case = db.get(Case, check.case_id)
    if decision is None or case is None:
        raise NotFound(f"the decision of consistency check {check.id} is gone")
    if actor.ref in {decision.reviewer, decision.second_reviewer}:
        raise RuleViolation("a second opinion must come from someone who took no part in the decision")
    if (
        case.child_safety
        and actor.kind is ActorKind.staff
        and Permission.CHILD_SAFETY_CASES.value not in actor.permissions
    ):
        raise PermissionDenied("child-safety cases are checked by child-safety specialists")
    check.state = CheckState.done.value
    check.reviewer = actor.ref
    check.outcome = outcome
    check.policy_ref = policy.ref
    check.agree = outcome == decision.outcome and policy_id == parse_ref(decision.policy_ref)[0]
    check.facts = text
    check.reviewed_at = now(db)
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.CONSISTENCY_OPINION,
        subject_type="case",
        subject_id=case.id,
        data={
            "check_id": check.id,
            "decision_id": decision.id,
            "outcome": outcome,
            "policy_ref": policy.ref,
            "agree": check.agree,
            "facts": text,
        },
    )
    return check


# -- exceptions -------------------------------------------------------------------------------


def record_exception(db: Session, *, actor: Actor, decision: Decision, kind: str, reasons: str) -> DecisionException:
    """Record that a decision departs from the policy's default, and why. Only its reviewer or a
    senior reviewer may; the reasons are published in the consistency figures."""
    try:
        chosen = ExceptionKind(kind)
    except ValueError:
        raise InvalidInput(f"kind must be one of {', '.join(k.value for k in ExceptionKind)}") from None
    text = (reasons or "").strip()
    if len(text) < MIN_REASONS:
        raise InvalidInput(f"an exception states its reasons (at least {MIN_REASONS} characters)")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"reasons are {len(text)} characters; at most {MAX_TEXT}")
    if (
        actor.kind is ActorKind.staff
        and actor.ref not in {decision.reviewer, decision.second_reviewer}
        and Permission.CASES_SECOND_REVIEW.value not in actor.permissions
    ):
        raise PermissionDenied("an exception is recorded by the decision's reviewer or a senior reviewer")
    row = DecisionException(
        decision_id=decision.id,
        case_id=decision.case_id,
        kind=chosen.value,
        reasons=text,
        recorded_by=actor.ref,
        recorded_at=now(db),
    )
    db.add(row)
    db.flush()
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.DECISION_EXCEPTION,
        subject_type="case",
        subject_id=decision.case_id,
        data={
            "exception_id": row.id,
            "decision_id": decision.id,
            "kind": chosen.value,
            "reasons": text,
            "policy_ref": decision.policy_ref,
            "actions": decision.actions,
        },
    )
    return row


def decision_by_id(db: Session, decision_id: int) -> Decision:
    return get_or_404(db, Decision, decision_id, "decision")


# -- the periodic job ---------------------------------------------------------------------------

SAMPLE_JOB = "transparency:consistency_sample"
SAMPLE_LOOKBACK_DAYS = 30  # decisions older than this were sampled by earlier runs already


def sample_job(db: Session, ctx: object) -> None:
    """Open agreement checks for newly decided sampled cases (rate from settings)."""
    settings = getattr(ctx, "services", {}).get("settings")
    rate = settings.consistency_sample_rate if settings is not None else 0.05
    sample_decisions(db, actor=SYSTEM, rate=rate, since=now(db) - timedelta(days=SAMPLE_LOOKBACK_DAYS))
