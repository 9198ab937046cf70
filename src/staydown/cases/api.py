"""HTTP API for review: queues, claims, decisions, second reviews, legal-track findings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from staydown.actors import Actor
from staydown.authorities import dsa18
from staydown.cases import actions, queries, tracks
from staydown.cases.models import Case
from staydown.errors import NotFound
from staydown.flows import decisions
from staydown.http import DbSession, require
from staydown.limits import DbId, Word
from staydown.staff.permissions import Permission

router = APIRouter(prefix="/v1", tags=["cases"])

Reader = Annotated[Actor, Depends(require(Permission.CASES_READ))]
Reviewer = Annotated[Actor, Depends(require(Permission.CASES_REVIEW))]
Senior = Annotated[Actor, Depends(require(Permission.CASES_SECOND_REVIEW))]


class TrackOut(BaseModel):
    id: int
    kind: str
    scope: str
    notice_id: int | None
    state: str
    received_at: datetime
    due_at: datetime | None
    met_at: datetime | None
    escalated_at: datetime | None
    breached_at: datetime | None
    resolution: str | None
    facts: str | None


class CaseOut(BaseModel):
    id: int
    state: str
    area: str
    policy_id: str | None
    severity: str
    child_safety: bool
    ncii: bool
    minor_involved: bool
    priority: int
    notice_count: int
    reporter_count: int
    next_due_at: datetime | None
    claimed_by: str | None
    claim_expires_at: datetime | None
    actual_knowledge_at: datetime | None
    outcome: str | None
    content_id: int | None
    url: str | None
    tracks: list[TrackOut]


def case_out(case: Case) -> CaseOut:
    data = {k: getattr(case, k) for k in CaseOut.model_fields if k != "tracks"}
    return CaseOut(**data, tracks=[TrackOut.model_validate(t, from_attributes=True) for t in case.tracks])


def _case(db: DbSession, case_id: DbId, for_update: bool = False) -> Case:
    return queries.case_by_id(db, case_id, for_update=for_update)


@router.get("/queue", response_model=list[CaseOut])
def get_queue(
    db: DbSession,
    actor: Reader,
    area: Annotated[str | None, Query(max_length=100)] = None,
    state: Annotated[str, Query(max_length=20, pattern="^(open|second_review|decided)$")] = "open",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[CaseOut]:
    include_cs = Permission.CHILD_SAFETY_CASES.value in actor.permissions
    return [
        case_out(c) for c in queries.queue(db, area=area, state=state, limit=limit, include_child_safety=include_cs)
    ]


@router.get("/cases/{case_id}", response_model=CaseOut)
def get_case(case_id: DbId, db: DbSession, actor: Reader) -> CaseOut:
    case = _case(db, case_id)
    if case.child_safety and Permission.CHILD_SAFETY_CASES.value not in actor.permissions:
        raise NotFound(f"no case {case_id}")
    return case_out(case)


@router.post("/cases/{case_id}/claim", response_model=CaseOut)
def claim(case_id: DbId, request: Request, db: DbSession, actor: Reviewer) -> CaseOut:
    case = _case(db, case_id, for_update=True)
    return case_out(actions.claim_case(db, actor=actor, case=case, rules=request.app.state.case_rules))


@router.post("/cases/{case_id}/release", response_model=CaseOut)
def release(case_id: DbId, db: DbSession, actor: Reviewer) -> CaseOut:
    return case_out(actions.release_case(db, actor=actor, case=_case(db, case_id, for_update=True)))


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: str = Field(min_length=3, max_length=100, description="policy_id@version")
    outcome: str = Field(max_length=20, pattern="^(violates|does_not_violate|escalate)$")
    facts: str = Field(min_length=1, max_length=10_000)
    actions: list[Word] | None = Field(default=None, max_length=20)
    note: str = Field(default="", max_length=10_000)
    imminent_danger: bool = Field(
        default=False,
        description="DSA Art. 18: the content gives rise to a suspicion "
        "of a crime threatening someone's life or safety; the member states concerned "
        "are notified within the hour",
    )
    member_states: list[Annotated[str, Field(max_length=2)]] = Field(
        default_factory=list,
        max_length=28,
        description="with imminent_danger: the member states concerned (ISO codes, EU "
        "for Europol); none: those the notices name, else Europol",
    )
    threat_facts: str | None = Field(
        default=None,
        max_length=10_000,
        description="with imminent_danger: what gives rise to the suspicion (default: the decision's facts)",
    )
    manifestly_unfounded: bool = False


class DecisionOut(BaseModel):
    decision_id: int
    state: str
    effective: bool
    case: CaseOut
    notified: list[str] = Field(default_factory=list, description="member states notified under Art. 18")
    unconfigured: list[str] = Field(
        default_factory=list, description="member states owed a notification with no authority configured"
    )


@router.post("/cases/{case_id}/decision", response_model=DecisionOut)
def decide(case_id: DbId, body: DecisionIn, request: Request, db: DbSession, actor: Reviewer) -> DecisionOut:
    case = _case(db, case_id, for_update=True)
    state = request.app.state
    result = decisions.decide_case(
        db,
        actor=actor,
        case=case,
        policy_ref=body.policy,
        outcome=body.outcome,
        facts=body.facts,
        actions=body.actions,
        note=body.note,
        catalogue=state.catalogue,
        rules=state.case_rules,
        manifestly_unfounded=body.manifestly_unfounded,
    )
    marking = None
    if body.imminent_danger:
        # DSA-3: marked with the decision, whatever its outcome: the threat is the reason to tell.
        marking = dsa18.mark_threat(
            db,
            actor=actor,
            case=case,
            facts=body.threat_facts or body.facts,
            member_states=body.member_states,
            authorities=state.settings.dsa18_authorities,
            rules=state.case_rules,
        )
    return DecisionOut(
        decision_id=result.decision.id,
        state=result.decision.state,
        effective=result.effective,
        case=case_out(case),
        notified=[n.member_state for n in marking.notifications] if marking else [],
        unconfigured=marking.unconfigured if marking else [],
    )


class SecondReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agree: bool
    facts: str = Field(min_length=1, max_length=10_000)
    policy: str | None = Field(default=None, max_length=100)
    actions: list[Word] | None = Field(default=None, max_length=20)
    note: str = Field(default="", max_length=10_000)


@router.post("/cases/{case_id}/second-review", response_model=DecisionOut)
def second_review(case_id: DbId, body: SecondReviewIn, request: Request, db: DbSession, actor: Senior) -> DecisionOut:
    case = _case(db, case_id, for_update=True)
    result = decisions.second_review(
        db,
        actor=actor,
        case=case,
        agree=body.agree,
        facts=body.facts,
        catalogue=request.app.state.catalogue,
        rules=request.app.state.case_rules,
        policy_ref=body.policy,
        actions=body.actions,
        note=body.note,
    )
    return DecisionOut(
        decision_id=result.decision.id, state=result.decision.state, effective=result.effective, case=case_out(case)
    )


class FindingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    facts: str = Field(min_length=20, max_length=10_000)


@router.post("/cases/{case_id}/tracks/{track_id}/not-applicable", response_model=CaseOut)
def track_not_applicable(case_id: DbId, track_id: DbId, body: FindingIn, db: DbSession, actor: Senior) -> CaseOut:
    case = _case(db, case_id, for_update=True)
    track = next((t for t in case.tracks if t.id == track_id), None)
    if track is None:
        raise NotFound(f"case {case_id} has no track {track_id}")
    tracks.find_track_not_applicable(db, actor=actor, track=track, facts=body.facts)
    return case_out(case)
