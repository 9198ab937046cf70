"""Legal tracks and priority: which notice opens which clock with which deadline, what ends each
one, and how near a case is to the top of the queue.

This module is the one home of those rules. Intake (one notice or a batch of them), the scan's
detections, decisions, the platform's confirmations, authority reports and the marking of a
threat to life all come here, so that a clock opens, starts, is met or is closed the same way
whichever path touches it.

What each kind is, what starts its clock, what meets it and what closes it without being met is
in `KINDS`. Which kinds a report opens is read from the catalogue: each policy lists the kinds a
report under it opens (`legal_tracks`), with optional hours of its own; the catalogue's own
`legal_tracks` section gives every kind its default hours. Two kinds of duty open whatever the
policy, because the request itself creates them: a valid TAKE IT DOWN request, and an order from
a court, an authority or law enforcement (each order has its own track, with the deadline it
states). A marked threat to life or safety opens the Art. 18 track under any policy.

The functions that decide (`plan_for_notice`, `place`) work on any track-like object (the ORM's
`LegalTrack`, or the plain `cases.grouping.PlainTrack` of a batch of notices), so that a batch keeps
its speed and still follows exactly these rules; the ORM actions below write the rows and their
audit events.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor, ActorKind
from staydown.audit import AuditTag
from staydown.cases.models import Case, CaseState, LegalTrack, NoticeTrack, TrackKind, TrackState
from staydown.cases.rules import BUILT_IN_HOURS, CaseRules
from staydown.db import now
from staydown.errors import Conflict, InvalidInput, PermissionDenied, RuleViolation
from staydown.policies.vocab import SEVERITY_RANK, STATUTORY_MAX_HOURS
from staydown.staff.permissions import Permission

LIVE_TRACKS = (TrackState.waiting.value, TrackState.open.value)
CASE_SCOPE = "case"

# What ends a track.
DECISION = "decision"  # any final decision on the case (either outcome)
REMOVAL_CONFIRMED = "removal_confirmed"  # the platform confirmed removal of every reported item
REPORT_FINISHED = "report_finished"  # the authority's report is filed (NCMEC, NCA)
NOTIFICATION_SENT = "notification_sent"  # the Art. 18 notification left

# Resolutions (stored on the track, shown on pages and counted in the report).
RES_DECIDED = "decided"
RES_REMOVAL = "removal_confirmed"
RES_REFUSED = "refused_on_review"
RES_NO_KNOWLEDGE = "no_apparent_abuse_on_review"
RES_FINDING = "finding_not_applicable"


@dataclass(frozen=True)
class KindRule:
    """One kind of legal track: what it is, where the duty comes from, what starts its clock,
    what meets it, and whether a final "does not violate" closes it (a reasoned refusal the
    notifier is shown, or no knowledge to report)."""

    kind: str
    title: str  # plain words, for the notifier's status page and the console
    law: str
    starts: str  # receipt | knowledge | marking | order
    met_by: str
    closed_by_no_violation: bool
    per_notice: bool = False  # one track per notice (orders), not one per case
    public: bool = True  # shown to the notifier whose notice it governs
    statutory_max_hours: float | None = None  # the law's own deadline: no catalogue may set a longer one


KINDS: dict[str, KindRule] = {
    rule.kind: rule
    for rule in (
        KindRule(
            TrackKind.dsa_notice.value,
            "A decision on your report",
            "DSA Art. 16(6)",
            "receipt",
            DECISION,
            closed_by_no_violation=False,
        ),
        KindRule(
            TrackKind.take_it_down.value,
            "Removal within 48 hours (TAKE IT DOWN Act)",
            "TAKE IT DOWN Act, 47 U.S.C. 223a",
            "receipt",
            REMOVAL_CONFIRMED,
            closed_by_no_violation=True,
            statutory_max_hours=48.0,
        ),
        KindRule(
            TrackKind.uk_intimate_image.value,
            "Removal of an intimate image within 48 hours (UK)",
            "UK Online Safety Act 2023 (intimate image abuse)",
            "receipt",
            REMOVAL_CONFIRMED,
            closed_by_no_violation=True,
            statutory_max_hours=48.0,
        ),
        KindRule(
            TrackKind.priority_takedown.value,
            "Swift removal of priority illegal content",
            "UK Online Safety Act 2023 s.10(3)(b)",
            "receipt",
            REMOVAL_CONFIRMED,
            closed_by_no_violation=True,
        ),
        KindRule(
            TrackKind.ncmec.value,
            "Report to NCMEC's CyberTipline",
            "18 U.S.C. 2258A",
            "knowledge",
            REPORT_FINISHED,
            closed_by_no_violation=True,
            public=False,
        ),
        KindRule(
            TrackKind.uk_nca.value,
            "Report to the UK National Crime Agency",
            "UK Online Safety Act 2023 s.66",
            "knowledge",
            REPORT_FINISHED,
            closed_by_no_violation=True,
            public=False,
        ),
        KindRule(
            TrackKind.dsa_art18.value,
            "Notification of a threat to life or safety",
            "DSA Art. 18",
            "marking",
            NOTIFICATION_SENT,
            closed_by_no_violation=False,
            public=False,
        ),
        KindRule(
            TrackKind.terrorist_order.value,
            "Removal within one hour (terrorist-content removal order)",
            "Regulation (EU) 2021/784, Art. 3(3)",
            "order",
            REMOVAL_CONFIRMED,
            closed_by_no_violation=False,
            per_notice=True,
            statutory_max_hours=1.0,
        ),
        KindRule(
            TrackKind.authority_order.value,
            "The deadline an order or request set",
            "the order or request itself",
            "order",
            REMOVAL_CONFIRMED,
            closed_by_no_violation=False,
            per_notice=True,
        ),
    )
}

PERSON_REPORTERS = frozenset({"affected_person", "parent_or_representative"})
DSA_NOTICE_KINDS = frozenset({"user_report", "public_report", "dsa_notice", "trusted_flagger", "take_it_down"})
ORDER_KINDS = {
    "terrorist_order": TrackKind.terrorist_order.value,
    "authority_order": TrackKind.authority_order.value,
    "law_enforcement": TrackKind.authority_order.value,
}


def public_kinds() -> tuple[str, ...]:
    return tuple(k for k, rule in KINDS.items() if rule.public)


def removal_kinds() -> tuple[str, ...]:
    return tuple(k for k, rule in KINDS.items() if rule.met_by == REMOVAL_CONFIRMED)


def scope_of(kind: str, notice_id: int | None) -> str:
    return f"notice:{notice_id}" if KINDS[kind].per_notice and notice_id is not None else CASE_SCOPE


# -- planning: which tracks a notice opens ------------------------------------------------------


@dataclass(frozen=True)
class TrackPlan:
    kind: str
    running: bool  # the clock starts at receipt; False: it waits (for knowledge)
    hours: float
    basis: str  # where the hours come from, kept on the track
    due_at: datetime | None = None  # an order's own deadline, when it states one


def listed_hours(policy: Any, kind: str) -> float | bool | None:
    """The hours a policy gives a kind it lists (None: the catalogue's), or False if not listed."""
    for entry in getattr(policy, "legal_tracks", ()):
        if entry.kind == kind:
            return entry.hours
    return False


def hours_for(kind: str, rules: CaseRules, *policies: Any) -> tuple[float, str]:
    """A kind's hours and their source: the first policy that sets its own, else the rules (the
    catalogue's section, or a deployment's explicit setting)."""
    for policy in policies:
        if policy is None:
            continue
        own = listed_hours(policy, kind)
        if own:
            return float(own), f"policy {policy.ref}"
    return rules.hours_of(kind), rules.source_of(kind)


def plan_for_notice(
    *,
    notice_kind: str,
    reporter_kind: str,
    complete: bool,
    policy: Any,
    case_policy: Any = None,
    child_safety: bool,
    ncii: bool,
    rules: CaseRules,
    order_due_at: datetime | None = None,
    order_hours: float | None = None,
    received_at: datetime,
) -> list[TrackPlan]:
    """The tracks one notice opens (or joins) on its case. `policy` is the notice's own, and
    `case_policy` the case's after this notice raised it: a kind listed by either applies.
    `complete` is False for a TAKE IT DOWN request still missing an element: it is a notice all
    the same, but its 48-hour clock starts only when it becomes valid (TID-1, TID-2)."""
    policies = [p for p in (case_policy, policy) if p is not None]

    def listed(kind: str) -> bool:
        return any(listed_hours(p, kind) is not False for p in policies)

    def alleged(kind: str) -> bool:
        # The intimate-image clocks answer what this notice alleges, not what the case became:
        # a parent's grooming report that joins a case opened as CSAM reports messages, not an
        # image of them, and is owed neither the TAKE IT DOWN nor the UK intimate-image clock.
        return listed_hours(policy, kind) is not False if policy is not None else listed(kind)

    def plan(kind: str, running: bool = True) -> TrackPlan:
        hours, basis = hours_for(kind, rules, *policies)
        return TrackPlan(kind, running, hours, basis)

    plans: list[TrackPlan] = []
    person = reporter_kind in PERSON_REPORTERS
    if notice_kind in ORDER_KINDS:
        # The order creates the duty: its own track, by the deadline it states.
        kind = ORDER_KINDS[notice_kind]
        hours, basis = rules.hours_of(kind), rules.source_of(kind)
        stated: float | None
        if order_due_at is not None:
            stated = max((order_due_at - received_at).total_seconds() / 3600, 0.0)
        else:
            stated = float(order_hours) if order_hours is not None else None
        limit = STATUTORY_MAX_HOURS.get(kind)
        if stated is not None and limit is not None and stated > limit:
            # A removal order's one hour is the Regulation's, whatever the order says.
            plans.append(TrackPlan(kind, True, limit, "the law's deadline (the order stated a later one)"))
        elif stated is not None:
            plans.append(
                TrackPlan(
                    kind,
                    True,
                    stated,
                    "the order's stated deadline",
                    due_at=order_due_at if order_due_at is not None else None,
                )
            )
        else:
            plans.append(TrackPlan(kind, True, hours, basis))
    if notice_kind == "take_it_down":
        # A valid TAKE IT DOWN request creates the 48-hour duty whatever policy it is filed under.
        if complete:
            plans.append(plan(TrackKind.take_it_down.value))
    elif alleged(TrackKind.take_it_down.value) and person and (child_safety or ncii):
        # The person depicted, or their parent, asked for removal.
        plans.append(plan(TrackKind.take_it_down.value))
    if alleged(TrackKind.uk_intimate_image.value) and ((ncii and not child_safety) or person):
        plans.append(plan(TrackKind.uk_intimate_image.value))
    if listed(TrackKind.priority_takedown.value) and notice_kind not in ORDER_KINDS:
        # UK-1: whoever reports it (a bystander, an anonymous person, a match), it comes down swiftly.
        plans.append(plan(TrackKind.priority_takedown.value))
    if child_safety and listed(TrackKind.ncmec.value):
        plans.append(plan(TrackKind.ncmec.value, running=False))  # the clock starts at knowledge
    if child_safety and listed(TrackKind.uk_nca.value) and rules.uk_nca_enabled:
        plans.append(plan(TrackKind.uk_nca.value, running=False))
    if notice_kind in DSA_NOTICE_KINDS and listed(TrackKind.dsa_notice.value):
        plans.append(plan(TrackKind.dsa_notice.value))
    return plans


class TrackLike(Protocol):
    kind: str
    scope: str
    state: str
    received_at: datetime
    due_at: datetime | None
    details: dict[str, Any]


@dataclass(frozen=True)
class Placed:
    track: Any
    change: str | None  # "opened", "started" or None (joined a track already running)


def place(
    tracks: list[Any], plan: TrackPlan, *, received_at: datetime, notice_id: int | None, make: Callable[..., Any]
) -> Placed:
    """Open the planned track on a case's `tracks`, or join the one of that kind (and scope)
    already there; a waiting track whose clock this plan starts is started. `make(**fields)`
    builds a new track; it is appended to `tracks`."""
    scope = scope_of(plan.kind, notice_id)
    for track in tracks:
        if track.kind == plan.kind and track.scope == scope:
            if plan.running and track.state == TrackState.waiting.value:
                start(track, started_at=received_at, hours=plan.hours)
                return Placed(track, "started")
            return Placed(track, None)
    due = plan.due_at or (received_at + timedelta(hours=plan.hours) if plan.running else None)
    details = {"hours": plan.hours, "basis": plan.basis}
    if plan.running:
        details["clock_started_at"] = received_at.isoformat()
    track = make(
        kind=plan.kind,
        scope=scope,
        notice_id=notice_id,
        received_at=received_at,
        state=TrackState.open.value if plan.running else TrackState.waiting.value,
        due_at=due,
        details=details,
    )
    tracks.append(track)
    return Placed(track, "opened")


def start(track: Any, *, started_at: datetime, hours: float | None = None) -> None:
    """Start a waiting clock: due `hours` (the track's planned hours) from `started_at`."""
    hours = hours if hours is not None else float(track.details.get("hours") or BUILT_IN_HOURS[track.kind])
    track.state = TrackState.open.value
    track.due_at = started_at + timedelta(hours=hours)
    track.details = {**track.details, "hours": hours, "clock_started_at": started_at.isoformat()}


def clock_started_at(track: Any) -> datetime:
    """When the track's clock started (a waiting NCMEC track started at knowledge, not receipt)."""
    started = (track.details or {}).get("clock_started_at")
    return datetime.fromisoformat(started) if started else track.received_at


def next_due(tracks: Iterable[Any]) -> datetime | None:
    dues = [t.due_at for t in tracks if t.state == TrackState.open.value and t.due_at is not None]
    return min(dues) if dues else None


# -- priority ---------------------------------------------------------------------------------

DEADLINE_HORIZON = timedelta(hours=50)  # the deadline term of a priority is 0 further out than this

# The case's columns a priority is computed from (the deadline sweep reads only these).
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


class PriorityFields(Protocol):
    """What a priority is computed from: a `Case`, a row of its columns, or intake's plain case."""

    severity: str
    minor_involved: bool
    child_safety: bool
    ncii: bool
    affected_person: bool
    trusted_flagger_in_field: bool
    law_enforcement: bool
    reporter_count: int
    reach: int | None
    next_due_at: datetime | None


def compute_priority(case: PriorityFields, at: datetime) -> int:
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


def refresh_next_due(case: Any) -> None:
    case.next_due_at = next_due(case.tracks)


def refresh_priority(db: Session, case: Case) -> int:
    refresh_next_due(case)
    case.priority = compute_priority(case, now(db))
    return case.priority


# -- the rows ---------------------------------------------------------------------------------


def _refresh(db: Session, case: Case) -> None:
    refresh_priority(db, case)


def link(db: Session, *, notice_id: int, track: LegalTrack) -> None:
    """The notice is governed by this track (it opened it, or joined it): its receipt and status
    page show it, and no other notice's."""
    db.flush()
    exists = db.execute(
        sa.select(NoticeTrack.track_id).where(NoticeTrack.notice_id == notice_id, NoticeTrack.track_id == track.id)
    ).first()
    if exists is None:
        db.add(NoticeTrack(notice_id=notice_id, track_id=track.id))


def open_track(
    db: Session,
    *,
    actor: Actor,
    case: Case,
    kind: str,
    received_at: datetime,
    notice_id: int | None,
    rules: CaseRules,
    start: bool = True,
    hours: float | None = None,
    basis: str | None = None,
    due_at: datetime | None = None,
    policy: Any = None,
) -> LegalTrack:
    """Open a track on a case (one per case and kind; per notice for orders), or start the waiting
    one of that kind. `start=False` opens it waiting, its clock not yet running."""
    if kind not in KINDS:
        raise InvalidInput(f"{kind!r} is not a kind of legal track")
    if hours is None:
        hours, default_basis = hours_for(kind, rules, policy)
        basis = basis or default_basis
    plan = TrackPlan(kind, start, hours, basis or "given", due_at=due_at)

    def make(**fields: Any) -> LegalTrack:
        row = LegalTrack(case_id=case.id, **fields)
        db.add(row)
        return row

    placed = place(case.tracks, plan, received_at=received_at, notice_id=notice_id, make=make)
    track = placed.track
    if placed.change == "opened":
        db.flush()
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.TRACK_OPEN,
            subject_type="case",
            subject_id=case.id,
            data={
                "track_id": track.id,
                "kind": kind,
                "received_at": received_at,
                "due_at": track.due_at,
                "state": track.state,
                "notice_id": notice_id,
                "basis": plan.basis,
            },
        )
    elif placed.change == "started":
        _started_event(db, actor, track)
    if notice_id is not None:
        link(db, notice_id=notice_id, track=track)
    _refresh(db, case)
    return track


def open_for_notice(
    db: Session,
    *,
    actor: Actor,
    case: Case,
    notice: Any,
    policy: Any,
    rules: CaseRules,
    catalogue: Any = None,
    received_at: datetime,
) -> list[LegalTrack]:
    """What intake does for each item in a batch, for one stored notice on one case (a TAKE IT DOWN
    request completed later): plan by the same rule, open or join, link."""
    case_policy = catalogue.get(case.policy_id) if catalogue is not None and case.policy_id in catalogue else None
    order = (notice.details or {}).get("order") or {}
    due = order.get("due_at")
    plans = plan_for_notice(
        notice_kind=notice.kind,
        reporter_kind=notice.reporter_kind,
        complete=not notice.missing_elements,
        policy=policy,
        case_policy=case_policy,
        child_safety=case.child_safety,
        ncii=case.ncii or policy.ncii,
        rules=rules,
        order_due_at=datetime.fromisoformat(due) if isinstance(due, str) else due,
        order_hours=order.get("hours"),
        received_at=received_at,
    )
    return [
        open_track(
            db,
            actor=actor,
            case=case,
            kind=p.kind,
            received_at=received_at,
            notice_id=notice.id,
            rules=rules,
            start=p.running,
            hours=p.hours,
            basis=p.basis,
            due_at=p.due_at,
        )
        for p in plans
    ]


def _started_event(db: Session, actor: Actor, track: LegalTrack) -> None:
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.TRACK_START,
        subject_type="case",
        subject_id=track.case_id,
        data={"track_id": track.id, "kind": track.kind, "started_at": clock_started_at(track), "due_at": track.due_at},
    )


def start_track(db: Session, *, actor: Actor, track: LegalTrack, started_at: datetime) -> None:
    if track.state != TrackState.waiting.value:
        return
    start(track, started_at=started_at)
    _started_event(db, actor, track)
    _refresh(db, track.case)


def _end(db: Session, *, actor: Actor, track: LegalTrack, state: str, resolution: str, facts: str) -> datetime:
    when = now(db)
    track.state = state
    track.met_at = when
    track.resolution = resolution
    track.facts = facts
    track.resolved_by = actor.ref
    return when


def meet_track(db: Session, *, actor: Actor, track: LegalTrack, resolution: str, facts: str = "") -> LegalTrack:
    """Close a track by what satisfies it (a decision, a confirmed removal, a filed report, a sent
    notification). A track already closed keeps its first ending."""
    if track.state not in LIVE_TRACKS:
        return track
    when = _end(
        db,
        actor=actor,
        track=track,
        state=TrackState.met.value,
        resolution=resolution,
        facts=facts or track.facts or "",
    )
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.TRACK_MET,
        subject_type="case",
        subject_id=track.case_id,
        data={
            "track_id": track.id,
            "kind": track.kind,
            "resolution": resolution,
            "met_at": when,
            "late": bool(track.due_at and when > track.due_at),
        },
    )
    _refresh(db, track.case)
    return track


def close_track(db: Session, *, actor: Actor, track: LegalTrack, resolution: str, facts: str) -> LegalTrack:
    """Close a track without meeting it, for a reason on the record: a reasoned refusal, a
    finding that it does not apply, no knowledge to report."""
    if track.state not in LIVE_TRACKS:
        return track
    _end(db, actor=actor, track=track, state=TrackState.not_applicable.value, resolution=resolution, facts=facts)
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.TRACK_NOT_APPLICABLE,
        subject_type="case",
        subject_id=track.case_id,
        data={"track_id": track.id, "kind": track.kind, "resolution": resolution, "facts": facts},
    )
    _refresh(db, track.case)
    return track


def find_track_not_applicable(db: Session, *, actor: Actor, track: LegalTrack, facts: str) -> LegalTrack:
    """A documented finding that a track does not apply, with the facts it rests on. Only a senior
    reviewer, child-safety specialist or legal may make it; a moderator's 'no violation' never does."""
    if not facts or len(facts.strip()) < 20:
        raise InvalidInput(
            "a finding that a legal track does not apply needs the facts it rests on (at least 20 characters)"
        )
    if actor.kind is ActorKind.staff and not (
        {Permission.CASES_SECOND_REVIEW.value, Permission.LAW_ENFORCEMENT.value} & actor.permissions
    ):
        raise PermissionDenied(
            "only a senior reviewer, child-safety specialist or legal may find that a legal track does not apply"
        )
    if track.state not in LIVE_TRACKS:
        raise Conflict(f"the {track.kind} track is already {track.state}")
    if track.case.state == CaseState.second_review.value:
        raise RuleViolation("the case awaits its second review; decide that first")
    return close_track(db, actor=actor, track=track, resolution=RES_FINDING, facts=facts)


# -- what ends tracks -------------------------------------------------------------------------


def on_decision(db: Session, *, actor: Actor, case: Case, decision: Any) -> None:
    """A final decision (after the second review where one is needed) ends what it answers: the
    DSA's timely decision is met whichever way it went. A "does not violate" is a reasoned
    refusal of the removal the reports asked for, which the notifiers see with the reasons, and
    means there is no knowledge of abuse to report. What is still owed stays open: a removal the
    platform has not yet confirmed, a report not yet filed, an order not yet answered."""
    acted = decision.outcome == "violates"
    for track in list(case.tracks):
        if acted and track.state == TrackState.not_applicable.value and track.resolution == RES_REFUSED:
            # A refusal overturned (a notifier's appeal granted): the removal is owed again, by
            # the deadline the request set; if that has passed, the record says it was missed.
            reopen(db, actor=actor, track=track, why=f"decision {decision.id} found a violation after the refusal")
        if track.state not in LIVE_TRACKS:
            continue
        rule = KINDS.get(track.kind)
        if rule is None:
            continue
        if rule.met_by == DECISION:
            meet_track(
                db,
                actor=actor,
                track=track,
                resolution=RES_DECIDED,
                facts=f"decision {decision.id}: {decision.outcome}",
            )
        elif not acted and rule.closed_by_no_violation:
            if rule.starts == "knowledge":
                if track.state == TrackState.waiting.value:
                    close_track(
                        db,
                        actor=actor,
                        track=track,
                        resolution=RES_NO_KNOWLEDGE,
                        facts=f"decision {decision.id}: reviewed and found not to violate; no apparent "
                        "abuse material, so nothing to report",
                    )
            else:
                close_track(
                    db,
                    actor=actor,
                    track=track,
                    resolution=RES_REFUSED,
                    facts=f"decision {decision.id}: the request was refused with reasons: {reasons(decision)}",
                )


def reopen(db: Session, *, actor: Actor, track: LegalTrack, why: str, due_at: datetime | None = None) -> LegalTrack:
    """A track closed on a finding that no longer stands is live again: by its old deadline, or
    by `due_at` (a clock that starts anew, such as NCMEC's at knowledge). What closed it stays on
    the track's record."""
    history = [
        *track.details.get("reopened", []),
        {
            "closed_as": track.state,
            "resolution": track.resolution,
            "closed_at": track.met_at.isoformat() if track.met_at else None,
            "facts": track.facts,
            "why": why,
        },
    ]
    track.state = TrackState.open.value
    if due_at is not None:
        track.due_at = due_at
        track.details = {**track.details, "clock_started_at": now(db).isoformat()}
        track.escalated_at = track.breached_at = None
    track.details = {**track.details, "reopened": history}
    track.met_at = None
    track.resolution = None
    track.facts = None
    track.resolved_by = None
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.TRACK_REOPEN,
        subject_type="case",
        subject_id=track.case_id,
        data={"track_id": track.id, "kind": track.kind, "due_at": track.due_at, "why": why},
    )
    _refresh(db, track.case)
    return track


def reasons(decision: Any) -> str:
    """A decision's reasons as its notifiers are given them: the reviewer's facts and, where a
    second reviewer agreed, theirs."""
    second = getattr(decision, "second_review_facts", None)
    return decision.facts + (f"\n\nConfirmed on second review: {second}" if second else "")


def on_removal_confirmed(db: Session, *, actor: Actor, case: Case, items: int) -> None:
    """The platform confirmed removal of every reported item: the removal duties are met."""
    for track in list(case.tracks):
        if track.state in LIVE_TRACKS and KINDS.get(track.kind) and KINDS[track.kind].met_by == REMOVAL_CONFIRMED:
            meet_track(
                db,
                actor=actor,
                track=track,
                resolution=RES_REMOVAL,
                facts=f"the platform confirmed removal of {items} reported item(s)",
            )


def on_knowledge(db: Session, *, actor: Actor, case: Case, at: datetime, rules: CaseRules, policy: Any) -> None:
    """Actual knowledge of apparent CSAM (a person's confirmation, or a match against confirmed
    material): the clocks to report run from `at` (X-3, CSAM-1)."""
    kinds = [TrackKind.ncmec.value]
    if rules.uk_nca_enabled and listed_hours(policy, TrackKind.uk_nca.value) is not False:
        kinds.append(TrackKind.uk_nca.value)
    for kind in kinds:
        track = next((t for t in case.tracks if t.kind == kind), None)
        if track is None:
            open_track(
                db,
                actor=actor,
                case=case,
                kind=kind,
                received_at=at,
                notice_id=None,
                rules=rules,
                start=True,
                policy=policy,
            )
        elif track.state == TrackState.waiting.value:
            start_track(db, actor=actor, track=track, started_at=at)
        elif track.state == TrackState.not_applicable.value and track.resolution == RES_NO_KNOWLEDGE:
            # "No apparent abuse" was overturned (an appeal): the duty to report runs from now.
            hours = float(track.details.get("hours") or rules.hours_of(kind))
            reopen(
                db,
                actor=actor,
                track=track,
                why="actual knowledge after the earlier finding was overturned",
                due_at=at + timedelta(hours=hours),
            )


def meet_kind(db: Session, *, actor: Actor, case: Case, kind: str, resolution: str, facts: str) -> list[LegalTrack]:
    """Meet every live track of one kind on a case (a finished report meets the case's track)."""
    met = []
    for track in list(case.tracks):
        if track.kind == kind and track.state in LIVE_TRACKS:
            met.append(meet_track(db, actor=actor, track=track, resolution=resolution, facts=facts))
    return met


# -- reading ----------------------------------------------------------------------------------


def tracks_of_notice(db: Session, notice_id: int, *, kinds: Sequence[str] | None = None) -> list[LegalTrack]:
    """The tracks that govern one notice (those it opened or joined), soonest due first."""
    stmt = (
        sa.select(LegalTrack)
        .join(NoticeTrack, NoticeTrack.track_id == LegalTrack.id)
        .where(NoticeTrack.notice_id == notice_id)
    )
    if kinds is not None:
        stmt = stmt.where(LegalTrack.kind.in_(list(kinds)))
    return list(db.execute(stmt.order_by(LegalTrack.due_at.is_(None), LegalTrack.due_at, LegalTrack.id)).scalars())
