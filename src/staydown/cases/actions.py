"""Cases: open or join one per content, give it legal tracks and a priority, claim it, decide it.

The rules this module exists to enforce (REQUIREMENTS.md section X):
- a legal track closes only by what satisfies it (removal confirmed, report finished, or a
  documented finding that it does not apply, with facts), never by a "no violation" (X-2);
- a "does not violate" on a child-safety or NCII case takes effect only after a second, senior
  reviewer agrees (two-person rule);
- confirming apparent CSAM records actual knowledge and starts the NCMEC clock (X-3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor, ActorKind
from staydown.audit import AuditTag
from staydown.cases import tracks
from staydown.cases.models import (
    Case,
    CaseState,
    Decision,
    DecisionState,
    LegalTrack,
    Outcome,
    TrackState,
)
from staydown.cases.notify import tell_outcome
from staydown.cases.rules import DEFAULT_RULES, CaseRules
from staydown.db import now
from staydown.enforcement.actions import active_actions, apply_action, lift_action
from staydown.errors import Conflict, InvalidInput, NotFound, PermissionDenied, RuleViolation
from staydown.policies.catalogue import Catalogue, parse_ref
from staydown.policies.schema import Policy
from staydown.policies.vocab import ACCOUNT_ACTIONS, CONTENT_ACTIONS, SEVERITY_RANK
from staydown.staff.permissions import Permission, require_staff_permission
from staydown.worklist import alert, clock_steps, take_lease

OPEN_STATES = (CaseState.open.value, CaseState.second_review.value)
LIVE_TRACKS = tracks.LIVE_TRACKS


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
    from staydown.intake.models import NoticeItem
    from staydown.subjects.models import PlatformContent

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
    from staydown.enforcement.models import EnforcementAction
    from staydown.subjects.models import PlatformContent

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


def raise_case_to(case: Case, policy: Policy) -> None:
    """A later notice that alleges something graver moves the case to the graver policy's area."""
    if SEVERITY_RANK[policy.severity] > SEVERITY_RANK.get(case.severity, 0) or (
        policy.child_safety and not case.child_safety
    ):
        case.policy_id = policy.id
        case.severity = policy.severity
        case.area = policy.area or case.area
    case.child_safety = case.child_safety or policy.child_safety
    case.ncii = case.ncii or policy.ncii


# -- legal tracks (their rules live in cases.tracks) ---------------------------------------------

open_track = tracks.open_track
start_track = tracks.start_track
meet_track = tracks.meet_track
find_track_not_applicable = tracks.find_track_not_applicable


def refresh_next_due(case: Any) -> None:
    case.next_due_at = tracks.next_due(case.tracks)


# -- priority ---------------------------------------------------------------------------------

DEADLINE_HORIZON = timedelta(hours=50)  # the deadline term of a priority is 0 further out than this


def compute_priority(case: Case, at: datetime) -> int:
    """Higher first. Severity, a minor, who reported (the person affected, a trusted flagger in
    their field, law enforcement), how many distinct people, how far it reached, how near the
    deadline is. Each term is bounded, so no single one can bury the others."""
    score = 100 * SEVERITY_RANK.get(case.severity, 1)
    score += 300 if case.minor_involved else 0
    score += 200 if case.child_safety else 0
    score += 100 if case.ncii else 0
    score += 100 if case.affected_person else 0
    score += 100 if case.trusted_flagger_in_field else 0
    score += 100 if case.law_enforcement else 0
    score += 25 * min(case.reporter_count, 20)
    if case.reach:
        score += int(15 * min(math.log10(case.reach + 1), 8))
    if case.next_due_at is not None:  # nothing from DEADLINE_HORIZON out (sweep_deadlines relies on it)
        hours_left = (case.next_due_at - at).total_seconds() / 3600
        score += int(max(0.0, 300 - 6 * max(hours_left, 0.0)))
        if hours_left <= 0:
            score += 300
    return score


def refresh_priority(db: Session, case: Case) -> int:
    refresh_next_due(case)
    case.priority = compute_priority(case, now(db))
    return case.priority


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
class DecisionResult:
    decision: Decision
    actions: list
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


def decide_case(
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
    rules: CaseRules = DEFAULT_RULES,
    automated: bool = False,
    manifestly_unfounded: bool = False,
) -> DecisionResult:
    """Decide a case under a policy clause. `facts` (what the decision relies on) is required.
    `manifestly_unfounded` marks the notices as such for DSA Art. 23 (only with "does not violate")."""
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
        refresh_priority(db, case)
        db.flush()
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.CASE_DECIDE_ESCALATE,
            subject_type="case",
            subject_id=case.id,
            data={"decision_id": decision.id, "policy_ref": policy.ref, "area": case.area, "note": note},
        )
        return DecisionResult(decision, [], False)

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
        refresh_priority(db, case)
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
        return DecisionResult(decision, [], False)

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
    applied = _make_effective(
        db,
        actor=actor,
        case=case,
        decision=decision,
        policy=policy,
        rules=rules,
        manifestly_unfounded=manifestly_unfounded,
    )
    return DecisionResult(decision, applied, True)


def _make_effective(
    db: Session,
    *,
    actor: Actor,
    case: Case,
    decision: Decision,
    policy: Policy,
    rules: CaseRules,
    manifestly_unfounded: bool = False,
    knowledge_at: datetime | None = None,
) -> list:
    when = now(db)
    applied = []
    case.state = CaseState.decided.value
    case.decided_at = when
    case.outcome = decision.outcome
    case.claimed_by = None
    case.claim_expires_at = None
    contents = case_contents(db, case)
    interim = [a for c in contents for a in active_actions(db, content_id=c.id, interim=True)]
    if decision.outcome == Outcome.violates.value:
        # Every item reported in the case is acted on, and every account that posted one.
        accounts = sorted({c.account_id for c in contents if c.account_id is not None})
        for kind in decision.actions:
            if kind in CONTENT_ACTIONS:
                for content in contents:
                    applied.append(
                        apply_action(
                            db,
                            actor=actor,
                            kind=kind,
                            content_id=content.id,
                            case_id=case.id,
                            policy_ref=policy.ref,
                            facts=decision.facts,
                            automated_detection=decision.automated,
                            automated_decision=decision.automated,
                        )
                    )
            elif kind == "strike":
                from staydown.enforcement.strikes import add_strike

                for account_id in accounts:
                    applied += add_strike(
                        db,
                        actor=actor,
                        account_id=account_id,
                        policy=policy,
                        case_id=case.id,
                        facts=decision.facts,
                        automated=decision.automated,
                    )
            elif kind in ACCOUNT_ACTIONS:
                for account_id in accounts:
                    applied.append(
                        apply_action(
                            db,
                            actor=actor,
                            kind=kind,
                            account_id=account_id,
                            case_id=case.id,
                            policy_ref=policy.ref,
                            facts=decision.facts,
                            automated_detection=decision.automated,
                            automated_decision=decision.automated,
                        )
                    )
        for action in interim:
            lift_action(db, actor=actor, action=action, reason=f"replaced by the decision {decision.id}")
        # A person's first confirmation of a match of pictures someone fingerprinted on their
        # device verifies them: their hashes join the own bank, and from now on act per policy.
        # An automated decision verifies nothing.
        if not decision.automated:
            from staydown.intake.hash_submissions import verify_from_decision

            verify_from_decision(db, actor=actor, case=case, policy=policy)
        if policy.bank_confirmed:
            # every copy down, and stays down. Banked now (re-uploads blocked within a
            # second); the sweep over stored copies runs from the outbox after commit.
            from staydown.enforcement.staydown import bank_case_items, queue_sweep

            bank_case_items(db, actor=actor, case=case, policy=policy)
            queue_sweep(db, case=case, policy=policy)
        # A person's confirmation is actual knowledge; automation counts only where policy allows
        # deciding on a trusted match of previously confirmed material (CSAM-7).
        if (
            policy.child_safety
            and policy.ncmec_incident_type
            and (not decision.automated or policy.auto_action_on_trusted_match)
        ):
            _record_actual_knowledge(
                db, actor=actor, case=case, decision=decision, rules=rules, policy=policy, at=knowledge_at
            )
        tag = AuditTag.CASE_DECIDE_VIOLATES
    else:
        for action in interim:
            lift_action(db, actor=actor, action=action, reason=f"no violation found (decision {decision.id})")
        tag = AuditTag.CASE_DECIDE_NO_VIOLATION
    # What the decision answers ends now; what is still owed (a removal to confirm, a report to
    # file, an order to answer) stays open.
    tracks.on_decision(db, actor=actor, case=case, decision=decision)
    refresh_priority(db, case)
    tell_outcome(
        db, case=case, decision=decision, policy=policy, rules=rules, manifestly_unfounded=manifestly_unfounded
    )
    # A match against a partner's list is reported back to the partner (exchanges/), from the outbox.
    from staydown.exchanges.feedback import queue_case_feedback

    queue_case_feedback(db, case_id=case.id, decision_id=decision.id, outcome=decision.outcome)
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
            "open_tracks": [t.kind for t in case.tracks if t.state in LIVE_TRACKS],
        },
    )
    return applied


def _record_actual_knowledge(
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


def act_on_trusted_match(
    db: Session, *, case: Case, match: Any, policy: Policy, catalogue: Catalogue, rules: CaseRules = DEFAULT_RULES
) -> DecisionResult | None:
    """A blocking match against previously confirmed material (CSAM-1, CSAM-7).

    For a child-safety policy it is actual knowledge from the moment of the match: the clocks to
    report start now and are escalated and breached like any other, whether or not anyone acts.
    Where the policy says so (`auto_action_on_trusted_match`), the case is decided at once as a
    fully automated decision through the ordinary path (actions, statements of reasons, webhooks,
    stay-down), marked automated everywhere. A person still confirms before any report is filed
    (ncmec.confirm_report). A case someone is already deciding (second review) is left to them."""
    from staydown.actors import SYSTEM

    when = now(db)
    what = (
        f"matched bank {match.bank!r} entry {match.entry_id} of previously confirmed material "
        f"({match.signal_type}, distance {match.distance})"
    )
    if policy.child_safety and policy.ncmec_incident_type and case.actual_knowledge_at is None:
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
    if not policy.auto_action_on_trusted_match:
        return None
    if case.state != CaseState.open.value:
        audit.record(
            db,
            actor=SYSTEM,
            tag=AuditTag.CASE_AUTO_DECISION_SKIPPED,
            subject_type="case",
            subject_id=case.id,
            data={"reason": f"the case is {case.state}", "match": what},
        )
        return None
    return decide_case(
        db,
        actor=SYSTEM,
        case=case,
        policy_ref=policy.ref,
        outcome=Outcome.violates.value,
        facts=f"The upload {what}, confirmed earlier as {policy.title}; decided automatically "
        "as the policy provides for previously confirmed material.",
        catalogue=catalogue,
        rules=rules,
        automated=True,
    )


def second_review(
    db: Session,
    *,
    actor: Actor,
    case: Case,
    agree: bool,
    facts: str,
    catalogue: Catalogue,
    rules: CaseRules = DEFAULT_RULES,
    policy_ref: str | None = None,
    actions: list[str] | None = None,
    note: str = "",
) -> DecisionResult:
    """The second person on a "does not violate": a senior reviewer, never the first reviewer.
    Agreeing makes it effective (its legal tracks still need their own resolution); disagreeing
    replaces it with a "violates" decision."""
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
        policy = catalogue.get(parse_ref(pending.policy_ref)[0])
        applied = _make_effective(db, actor=actor, case=case, decision=pending, policy=policy, rules=rules)
        return DecisionResult(pending, applied, True)
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
    applied = _make_effective(db, actor=actor, case=case, decision=decision, policy=policy, rules=rules)
    return DecisionResult(decision, applied, True)


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
    near = sa.select(c.c.id, c.c.state, c.c.priority, *(c.c[f] for f in PRIORITY_FIELDS)).where(
        c.c.next_due_at.is_not(None), c.c.next_due_at <= when + DEADLINE_HORIZON
    )
    if read_committed_only:
        with db.get_bind().connect().execution_options(sqlite_begin="DEFERRED") as reader:
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


PRIORITY_FIELDS = (
    "severity",
    "minor_involved",
    "child_safety",
    "ncii",
    "affected_person",
    "trusted_flagger_in_field",
    "law_enforcement",
    "reporter_count",
    "reach",
    "next_due_at",
)


def _reprioritise(db: Session, rows: list[Any], when: datetime) -> int:
    """Only the deadline term of a priority moves with time, and only within DEADLINE_HORIZON of
    the deadline: those cases (`rows`) get their new priority in one statement, guarded by the old
    value, so that a case a notice changed meanwhile keeps the priority the notice gave it."""
    changed = []
    for row in rows:
        if row.state not in OPEN_STATES:
            continue
        priority = compute_priority(row, when)
        if priority != row.priority:
            changed.append({"_id": row.id, "_old": row.priority, "priority": priority})
    if changed:
        c = Case.__table__
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


def queue(
    db: Session,
    *,
    area: str | None = None,
    state: str = CaseState.open.value,
    limit: int = 50,
    include_child_safety: bool = True,
) -> list[Case]:
    """Cases in priority order, nearest deadline first among equals."""
    stmt = sa.select(Case).where(Case.state == state)
    if area:
        stmt = stmt.where(Case.area == area)
    if not include_child_safety:
        stmt = stmt.where(Case.child_safety.is_(False))
    stmt = stmt.order_by(Case.priority.desc(), Case.next_due_at.asc().nulls_last(), Case.id).limit(limit)
    return list(db.execute(stmt).scalars())
