"""Cases: claim one, record its decisions, and keep its deadlines; each change writes its audit event.

The rules this module exists to enforce (REQUIREMENTS.md section X):
- a legal track closes only by what satisfies it (removal confirmed, report finished, or a
  documented finding that it does not apply, with facts), never by a "no violation" (X-2);
- a "does not violate" on a child-safety or NCII case takes effect only after a second, senior
  reviewer agrees (two-person rule);
- confirming apparent CSAM records actual knowledge and starts the NCMEC clock (X-3).

What an effective decision sets off in other packages (measures, stay-down, statements, messages)
is `flows.decisions`; reading cases is `cases.queries`; track and priority rules are `cases.tracks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import SYSTEM, Actor, ActorKind
from staydown.audit import AuditTag
from staydown.cases import tracks
from staydown.cases.grouping import raise_case_to
from staydown.cases.models import (
    Case,
    CaseState,
    Decision,
    DecisionState,
    LegalTrack,
    Outcome,
    TrackState,
)
from staydown.cases.queries import OPEN_STATES
from staydown.cases.rules import DEFAULT_RULES, CaseRules
from staydown.db import now
from staydown.errors import Conflict, InvalidInput, PermissionDenied, RuleViolation
from staydown.policies.catalogue import Catalogue, parse_ref
from staydown.policies.schema import Policy
from staydown.policies.vocab import ACCOUNT_ACTIONS, CONTENT_ACTIONS
from staydown.staff.permissions import Permission, require_staff_permission
from staydown.worklist import alert, clock_steps, take_lease

# -- claims -----------------------------------------------------------------------------------


def _require(actor: Actor, permission: Permission) -> None:
    require_staff_permission(actor, permission)


def _can_work(actor: Actor, case: Case) -> None:
    _require(actor, Permission.CASES_REVIEW)
    if (
        case.child_safety
        and actor.kind is ActorKind.staff
        and Permission.CHILD_SAFETY_CASES.value not in actor.permissions
    ):
        raise PermissionDenied("child-safety cases are worked by child-safety specialists")


def claim_case(db: Session, *, actor: Actor, case: Case, rules: CaseRules = DEFAULT_RULES) -> Case:
    """Take a case for review with a lease; nobody else can work it until the lease runs out."""
    _can_work(actor, case)
    if case.state == CaseState.decided.value:
        raise Conflict(f"case {case.id} is already decided")
    take_lease(case, actor=actor, at=now(db), lease=rules.claim_lease, label=f"case {case.id}")
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.CASE_CLAIM,
        subject_type="case",
        subject_id=case.id,
        data={"until": case.claim_expires_at},
    )
    return case


def release_case(db: Session, *, actor: Actor, case: Case) -> Case:
    if case.claimed_by != actor.ref:
        raise Conflict(f"case {case.id} is not claimed by you")
    case.claimed_by = None
    case.claim_expires_at = None
    audit.record(db, actor=actor, tag=AuditTag.CASE_RELEASE, subject_type="case", subject_id=case.id, data={})
    return case


def _holds_claim(db: Session, actor: Actor, case: Case) -> None:
    if actor.kind is not ActorKind.staff:
        return  # automation decides only where policy allows, and says so
    if case.claimed_by != actor.ref or not case.claim_expires_at or case.claim_expires_at <= now(db):
        raise Conflict(f"claim case {case.id} before deciding it (or your claim has expired)")


# -- decisions --------------------------------------------------------------------------------


@dataclass
class RecordedDecision:
    """A decision as the case records it. An `effective` one still has its consequences to come
    (`flows.decisions` makes it effective); an escalation or a "does not violate" awaiting its
    second review changes nothing else yet."""

    decision: Decision
    policy: Policy
    effective: bool


def _resolve_policy(catalogue: Catalogue, policy_ref: str) -> Policy:
    policy_id, version = parse_ref(policy_ref)
    policy = catalogue.get(policy_id)
    if policy.version != version:
        raise InvalidInput(f"{policy_ref} is not the version in force ({policy.ref}); decide under the current version")
    return policy


def is_two_person(case: Case) -> bool:
    """X-2: a "does not violate" on these cases needs a second, senior person."""
    return case.child_safety or case.ncii or case.minor_involved


def record_decision(
    db: Session,
    *,
    actor: Actor,
    case: Case,
    policy_ref: str,
    outcome: str,
    facts: str,
    actions: list[str] | None = None,
    note: str = "",
    catalogue: Catalogue,
    automated: bool = False,
    manifestly_unfounded: bool = False,
) -> RecordedDecision:
    """Check and record a decision on a case under a policy clause. `facts` (what the decision
    relies on) is required. `manifestly_unfounded` marks the notices as such for DSA Art. 23 (only
    with "does not violate"). An escalation and a "does not violate" under the two-person rule are
    complete here; any other decision comes back `effective`, for `flows.decisions`."""
    try:
        chosen = Outcome(outcome)
    except ValueError:
        raise InvalidInput(f"outcome must be one of {', '.join(o.value for o in Outcome)}") from None
    if not facts or not facts.strip():
        raise InvalidInput("a decision needs the facts it relies on")
    if case.state == CaseState.decided.value:
        raise Conflict(f"case {case.id} is already decided; a change goes through an appeal")
    if case.state == CaseState.second_review.value:
        raise Conflict(f"case {case.id} awaits a second review (use the second-review decision)")
    _can_work(actor, case)
    _holds_claim(db, actor, case)
    policy = _resolve_policy(catalogue, policy_ref)
    when = now(db)
    chosen_actions = list(
        actions if actions is not None else (policy.default_actions if chosen is Outcome.violates else [])
    )
    unknown = [a for a in chosen_actions if a not in CONTENT_ACTIONS and a not in ACCOUNT_ACTIONS]
    if unknown:
        raise InvalidInput(f"unknown action(s): {', '.join(unknown)}")
    if chosen is not Outcome.violates and chosen_actions:
        raise InvalidInput("only a 'violates' decision carries actions")
    if manifestly_unfounded and chosen is not Outcome.does_not_violate:
        raise InvalidInput("only a 'does not violate' decision can find the notices manifestly unfounded")

    if chosen is Outcome.escalate:
        decision = Decision(
            case_id=case.id,
            reviewer=actor.ref,
            policy_ref=policy.ref,
            outcome=chosen.value,
            actions=[],
            facts=facts,
            note=note,
            automated=automated,
            state=DecisionState.effective.value,
            decided_at=when,
        )
        db.add(decision)
        raise_case_to(case, policy)
        case.claimed_by = None
        case.claim_expires_at = None
        tracks.refresh_priority(db, case)
        db.flush()
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.CASE_DECIDE_ESCALATE,
            subject_type="case",
            subject_id=case.id,
            data={"decision_id": decision.id, "policy_ref": policy.ref, "area": case.area, "note": note},
        )
        return RecordedDecision(decision, policy, False)

    if chosen is Outcome.does_not_violate and is_two_person(case):
        # one reviewer's "no violation" on a child-safety or NCII report changes nothing yet.
        decision = Decision(
            case_id=case.id,
            reviewer=actor.ref,
            policy_ref=policy.ref,
            outcome=chosen.value,
            actions=[],
            facts=facts,
            note=note,
            automated=automated,
            state=DecisionState.pending_second_review.value,
            decided_at=when,
        )
        db.add(decision)
        case.state = CaseState.second_review.value
        case.claimed_by = None
        case.claim_expires_at = None
        tracks.refresh_priority(db, case)
        db.flush()
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.CASE_DECIDE_NO_VIOLATION,
            subject_type="case",
            subject_id=case.id,
            data={
                "decision_id": decision.id,
                "policy_ref": policy.ref,
                "facts": facts,
                "effective": False,
                "awaits": "second review by a senior reviewer",
            },
        )
        return RecordedDecision(decision, policy, False)

    decision = Decision(
        case_id=case.id,
        reviewer=actor.ref,
        policy_ref=policy.ref,
        outcome=chosen.value,
        actions=chosen_actions,
        facts=facts,
        note=note,
        automated=automated,
        state=DecisionState.effective.value,
        decided_at=when,
    )
    db.add(decision)
    db.flush()
    return RecordedDecision(decision, policy, True)


def mark_decided(db: Session, *, case: Case, decision: Decision) -> None:
    """The case is decided by an effective decision: out of everyone's hands."""
    case.state = CaseState.decided.value
    case.decided_at = now(db)
    case.outcome = decision.outcome
    case.claimed_by = None
    case.claim_expires_at = None


def record_effective(
    db: Session, *, actor: Actor, case: Case, decision: Decision, manifestly_unfounded: bool = False
) -> None:
    """The audit event of a decision that took effect, written once its consequences are in."""
    tag = (
        AuditTag.CASE_DECIDE_VIOLATES
        if decision.outcome == Outcome.violates.value
        else AuditTag.CASE_DECIDE_NO_VIOLATION
    )
    audit.record(
        db,
        actor=actor,
        tag=tag,
        subject_type="case",
        subject_id=case.id,
        data={
            "decision_id": decision.id,
            "manifestly_unfounded_notices": manifestly_unfounded,
            "policy_ref": decision.policy_ref,
            "outcome": decision.outcome,
            "actions": decision.actions,
            "facts": decision.facts,
            "automated": decision.automated,
            "effective": True,
            "open_tracks": [t.kind for t in case.tracks if t.state in tracks.LIVE_TRACKS],
        },
    )


def record_actual_knowledge(
    db: Session,
    *,
    actor: Actor,
    case: Case,
    decision: Decision,
    rules: CaseRules,
    policy: Policy,
    at: datetime | None = None,
) -> None:
    """X-3 / CSAM-1: apparent CSAM is known (a person confirmed it, or it matched confirmed
    material). From `at` the provider knows, and the clocks to report run."""
    when = at or now(db)
    if case.actual_knowledge_at is None:
        case.actual_knowledge_at = when
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.CASE_ACTUAL_KNOWLEDGE,
            subject_type="case",
            subject_id=case.id,
            data={
                "decision_id": decision.id,
                "at": when,
                "confirmed_by": decision.reviewer,
                "automated": decision.automated,
            },
        )
    tracks.on_knowledge(db, actor=actor, case=case, at=when, rules=rules, policy=policy)


def record_match_knowledge(
    db: Session, *, case: Case, match: Any, policy: Policy, rules: CaseRules = DEFAULT_RULES
) -> None:
    """CSAM-1, CSAM-7: a blocking match against previously confirmed material under a child-safety
    policy is actual knowledge from the moment of the match: the clocks to report start now and are
    escalated and breached like any other, whether or not anyone acts."""
    if not (policy.child_safety and policy.ncmec_incident_type and case.actual_knowledge_at is None):
        return
    when = now(db)
    case.actual_knowledge_at = when
    audit.record(
        db,
        actor=SYSTEM,
        tag=AuditTag.CASE_ACTUAL_KNOWLEDGE,
        subject_type="case",
        subject_id=case.id,
        data={
            "at": when,
            "source": "match",
            "bank": match.bank,
            "entry_id": match.entry_id,
            "signal_type": match.signal_type,
            "distance": match.distance,
            "automated": True,
        },
    )
    tracks.on_knowledge(db, actor=SYSTEM, case=case, at=when, rules=rules, policy=policy)


def record_second_review(
    db: Session,
    *,
    actor: Actor,
    case: Case,
    agree: bool,
    facts: str,
    catalogue: Catalogue,
    policy_ref: str | None = None,
    actions: list[str] | None = None,
    note: str = "",
) -> RecordedDecision:
    """The second person on a "does not violate": a senior reviewer, never the first reviewer.
    Agreeing upholds it; disagreeing overturns it and records a "violates" decision in its place.
    Either way the decision that comes back is to be made effective (`flows.decisions`)."""
    _require(actor, Permission.CASES_SECOND_REVIEW)
    if case.state != CaseState.second_review.value:
        raise Conflict(f"case {case.id} is not awaiting a second review")
    pending = db.execute(
        sa.select(Decision)
        .where(Decision.case_id == case.id, Decision.state == DecisionState.pending_second_review.value)
        .order_by(Decision.id.desc())
        .limit(1)
    ).scalar_one()
    if pending.reviewer == actor.ref:
        raise RuleViolation("the second review must be by a different person than the first reviewer")
    if not facts or not facts.strip():
        raise InvalidInput("a second review needs the facts it relies on")
    if (
        case.child_safety
        and actor.kind is ActorKind.staff
        and Permission.CHILD_SAFETY_CASES.value not in actor.permissions
    ):
        raise PermissionDenied("child-safety cases are second-reviewed by child-safety specialists")
    when = now(db)
    pending.second_reviewer = actor.ref
    pending.second_reviewed_at = when
    if agree:
        pending.second_review_facts = facts
        pending.state = DecisionState.upheld.value
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.CASE_SECOND_REVIEW,
            subject_type="case",
            subject_id=case.id,
            data={"decision_id": pending.id, "agree": True, "facts": facts},
        )
        # The decision keeps citing the version it was made under; its effect follows the policy.
        return RecordedDecision(pending, catalogue.get(parse_ref(pending.policy_ref)[0]), True)
    pending.state = DecisionState.overturned.value
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.CASE_SECOND_REVIEW,
        subject_type="case",
        subject_id=case.id,
        data={"decision_id": pending.id, "agree": False, "facts": facts},
    )
    policy = _resolve_policy(catalogue, policy_ref or pending.policy_ref)
    chosen_actions = list(actions if actions is not None else policy.default_actions)
    decision = Decision(
        case_id=case.id,
        reviewer=actor.ref,
        policy_ref=policy.ref,
        outcome=Outcome.violates.value,
        actions=chosen_actions,
        facts=facts,
        note=note,
        automated=False,
        state=DecisionState.effective.value,
        decided_at=when,
    )
    db.add(decision)
    db.flush()
    return RecordedDecision(decision, policy, True)


def skip_automated_decision(db: Session, *, case: Case, what: str) -> None:
    """A case someone is already deciding (second review) is left to them: on the record."""
    audit.record(
        db,
        actor=SYSTEM,
        tag=AuditTag.CASE_AUTO_DECISION_SKIPPED,
        subject_type="case",
        subject_id=case.id,
        data={"reason": f"the case is {case.state}", "match": what},
    )


# -- deadlines --------------------------------------------------------------------------------


@dataclass
class SweepReport:
    escalated: int = 0
    breached: int = 0
    reprioritised: int = 0


def sweep_deadlines(
    db: Session, *, actor: Actor, rules: CaseRules = DEFAULT_RULES, read_committed_only: bool = False
) -> SweepReport:
    """Escalate tracks that are close to their deadline and record those that passed it, and move
    the priority of cases whose deadline is near. Run by the worker every minute; safe to run
    often and from several workers (each step is once).

    It reads plain rows and touches only what changes: loading every open track and case as
    objects made the sweep take seconds at 20,000 open cases, holding SQLite's write lock (and
    every notice behind it) for as long (bench/intake.py). `read_committed_only` (the worker's
    job): find the candidates in a read transaction of their own, so that SQLite's write lock is
    taken only for the few rows that change."""
    when = now(db)
    report = SweepReport()
    t = LegalTrack.__table__
    find = sa.select(t.c.id, t.c.received_at, t.c.due_at, t.c.escalated_at, t.c.breached_at, t.c.details).where(
        t.c.state == TrackState.open.value,
        t.c.due_at.is_not(None),
        sa.or_(t.c.escalated_at.is_(None), t.c.breached_at.is_(None)),
    )
    c = Case.__table__
    near = sa.select(c.c.id, c.c.state, c.c.priority, *(c.c[f] for f in tracks.PRIORITY_FIELDS)).where(
        c.c.next_due_at.is_not(None), c.c.next_due_at <= when + tracks.DEADLINE_HORIZON
    )
    if read_committed_only:
        engine = db.get_bind()
        assert isinstance(engine, sa.Engine)  # the service's sessions are bound to an engine
        with engine.connect().execution_options(sqlite_begin="DEFERRED") as reader:
            live, near_rows = reader.execute(find).all(), reader.execute(near).all()
    else:
        db.flush()
        live, near_rows = db.connection().execute(find).all(), db.connection().execute(near).all()
    stepping = [r.id for r in live if (steps := _steps(r, when, rules)).escalate or steps.breach]
    due = (
        db.execute(sa.select(LegalTrack).where(LegalTrack.id.in_(stepping)).order_by(LegalTrack.due_at)).scalars().all()
        if stepping
        else []
    )
    for track in due:
        case = track.case
        assert track.due_at is not None  # only tracks with a deadline were found
        steps = _steps(track, when, rules)
        if steps.escalate:
            track.escalated_at = when
            report.escalated += 1
            alert(
                db,
                roles=rules.escalation_roles,
                kind="deadline_near",
                case_id=case.id,
                at=when,
                message=(
                    f"case {case.id}: the {track.kind} deadline is {track.due_at.isoformat()} "
                    f"({max(steps.remaining.total_seconds(), 0) / 3600:.1f} h left)"
                ),
            )
            audit.record(
                db,
                actor=actor,
                tag=AuditTag.TRACK_ESCALATE,
                subject_type="case",
                subject_id=case.id,
                data={
                    "track_id": track.id,
                    "kind": track.kind,
                    "due_at": track.due_at,
                    "roles": list(rules.escalation_roles),
                },
            )
        if steps.breach:
            track.breached_at = when
            report.breached += 1
            alert(
                db,
                roles=rules.escalation_roles,
                kind="deadline_breached",
                case_id=case.id,
                at=when,
                message=f"case {case.id}: the {track.kind} deadline passed at {track.due_at.isoformat()}",
            )
            audit.record(
                db,
                actor=actor,
                tag=AuditTag.TRACK_BREACH,
                subject_type="case",
                subject_id=case.id,
                data={"track_id": track.id, "kind": track.kind, "due_at": track.due_at},
            )
    report.reprioritised = _reprioritise(db, near_rows, when)
    return report


def _steps(track: Any, when: datetime, rules: CaseRules) -> Any:
    # The share of time left counts from the clock's start (NCMEC's from knowledge, not receipt).
    return clock_steps(
        received_at=tracks.clock_started_at(track),
        due_at=track.due_at,
        at=when,
        escalate_at_remaining_fraction=rules.escalate_at_remaining_fraction,
        escalated=track.escalated_at is not None,
        breached=track.breached_at is not None,
    )


def _reprioritise(db: Session, rows: Sequence[Any], when: datetime) -> int:
    """Only the deadline term of a priority moves with time, and only within DEADLINE_HORIZON of
    the deadline: those cases (`rows`) get their new priority in one statement, guarded by the old
    value, so that a case a notice changed meanwhile keeps the priority the notice gave it."""
    changed = []
    for row in rows:
        if row.state not in OPEN_STATES:
            continue
        priority = tracks.compute_priority(row, when)
        if priority != row.priority:
            changed.append({"_id": row.id, "_old": row.priority, "priority": priority})
    if changed:
        c = cast(sa.Table, Case.__table__)
        db.flush()
        db.connection().execute(
            sa.update(c)
            .where(c.c.id == sa.bindparam("_id"), c.c.priority == sa.bindparam("_old"))
            .values(priority=sa.bindparam("priority")),
            changed,
        )
        for obj in db.identity_map.values():  # what the session holds of those rows is stale now
            if isinstance(obj, Case):
                db.expire(obj, ["priority"])
    return len(changed)
