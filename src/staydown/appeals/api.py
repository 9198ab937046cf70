"""HTTP API for appeals (from platforms and from anyone) and out-of-court disputes (staff)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from staydown.actors import Actor
from staydown.apidocs import errors
from staydown.appeals import actions, disputes, filing, queries
from staydown.appeals.models import Appeal, AppealBasis, AppealOutcome, DisputeOutcome, OutOfCourtDispute
from staydown.appeals.rules import AppealRules
from staydown.cases.models import Case
from staydown.errors import NotFound
from staydown.flows import appeals as appeal_flow
from staydown.http import DbSession, rate_limited, require
from staydown.intake.schemas import EMAIL_RE
from staydown.limits import DbId, Word
from staydown.staff.permissions import Permission

router = APIRouter(prefix="/v1", tags=["appeals"])
public_router = APIRouter(prefix="/public", tags=["public"])

Submitter = Annotated[Actor, Depends(require(Permission.APPEALS_SUBMIT))]
Public = Annotated[Actor, Depends(require(Permission.PUBLIC))]
Decider = Annotated[Actor, Depends(require(Permission.APPEALS_DECIDE))]
DisputeStaff = Annotated[Actor, Depends(require(Permission.APPEALS_DISPUTES))]
Code = Annotated[str, Path(min_length=4, max_length=40)]


def _rules(request: Request) -> AppealRules:
    return AppealRules.from_settings(request.app.state.settings)


class AppealIn(BaseModel):
    """An appeal. Exactly one of `statement_code` (the statement of reasons the affected user
    received) or `tracking_code` (the notifier's report)."""

    model_config = ConfigDict(extra="forbid")

    statement_code: str | None = Field(default=None, min_length=4, max_length=40)
    tracking_code: str | None = Field(default=None, min_length=4, max_length=40)
    case_id: DbId | None = Field(default=None, description="which case, when a report became several")
    basis: AppealBasis
    explanation: str = Field(min_length=1, max_length=filing.MAX_EXPLANATION)
    contact_email: str | None = Field(default=None, max_length=320)
    language: str = Field(default="en", max_length=5, pattern=r"^[a-z]{2}(-[A-Z]{2})?$")

    @field_validator("contact_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not EMAIL_RE.match(value.strip()):
            raise ValueError("contact_email does not look like an e-mail address")
        return value.strip()

    @model_validator(mode="after")
    def _one_code(self) -> AppealIn:
        if (self.statement_code is None) == (self.tracking_code is None):
            raise ValueError(
                "give exactly one of statement_code (if your content or account was restricted) or "
                "tracking_code (if you reported)"
            )
        return self


class AppealReceiptOut(BaseModel):
    code: str
    state: str
    received_at: datetime
    due_at: datetime | None
    expedited: bool
    acknowledgement: str
    status_url: str
    case_id: DbId | None = None  # for platforms only


def _file(request: Request, db: DbSession, actor: Actor, body: AppealIn, *, show_case: bool) -> AppealReceiptOut:
    rules = _rules(request)
    appeal = filing.file_appeal(
        db,
        actor=actor,
        statement_code=body.statement_code,
        tracking_code=body.tracking_code,
        case_id=body.case_id,
        basis=body.basis.value,
        explanation=body.explanation,
        contact_email=body.contact_email,
        language=body.language,
        rules=rules,
    )
    return AppealReceiptOut(
        code=appeal.code,
        state=appeal.state,
        received_at=appeal.received_at,
        due_at=appeal.due_at,
        expedited=appeal.expedited,
        status_url=queries.status_url(rules, appeal.code),
        acknowledgement=(
            "We received your appeal. A person who took no part in the decision will review it. "
            "Keep this code to follow it: " + appeal.code
        ),
        case_id=appeal.case_id if show_case else None,
    )


@router.post("/appeals", response_model=AppealReceiptOut, status_code=201, responses=errors(404))
def submit_appeal(body: AppealIn, request: Request, db: DbSession, actor: Submitter) -> AppealReceiptOut:
    """An appeal the platform forwards from its user (DSA Art. 20): free, electronic, with the
    statement code or the report's tracking code."""
    return _file(request, db, actor, body, show_case=True)


@public_router.post(
    "/appeals",
    response_model=AppealReceiptOut,
    status_code=201,
    responses=errors(404, 409),
    dependencies=[Depends(rate_limited("public-appeals", 0))],
)
def public_appeal(body: AppealIn, request: Request, db: DbSession, actor: Public) -> AppealReceiptOut:
    """An appeal from anyone holding a statement code or a report's tracking code; no account."""
    return _file(request, db, actor, body, show_case=False)


@public_router.get(
    "/appeals/{code}", response_model=queries.PublicView, dependencies=[Depends(rate_limited("status", 0))]
)
def public_status(code: Code, db: DbSession, _: Public) -> queries.PublicView:
    """The appeal's progress and, once decided, its outcome with the reasons and the out-of-court
    option. Nothing about reviewers, the case's other people, or other appeals."""
    return queries.public_view(queries.appeal_by_code(db, code), db)


@public_router.post(
    "/appeals/{code}/withdraw",
    response_model=queries.PublicView,
    responses=errors(409),
    dependencies=[Depends(rate_limited("public-appeals", 0))],
)
def public_withdraw(code: Code, db: DbSession, actor: Public) -> queries.PublicView:
    """The appellant withdraws an appeal not decided yet."""
    appeal = filing.withdraw_appeal(db, actor=actor, appeal=queries.appeal_by_code(db, code, for_update=True))
    return queries.public_view(appeal, db)


# -- staff ------------------------------------------------------------------------------------


class AppealOut(BaseModel):
    id: int
    code: str
    case_id: int
    appellant_kind: str
    basis: str
    explanation: str
    language: str
    expedited: bool
    state: str
    policy_ref: str | None
    decision_id: int | None
    original_deciders: list[str]
    decision_automated: bool
    received_at: datetime
    due_at: datetime | None
    claimed_by: str | None
    claim_expires_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    outcome: str | None
    reasons: str | None
    child_safety: bool


def appeal_out(db: DbSession, appeal: Appeal, child_safety: bool | None = None) -> AppealOut:
    if child_safety is None:
        case = db.get(Case, appeal.case_id)
        assert case is not None  # an appeal's case is never deleted
        child_safety = bool(case.child_safety)
    data = {k: getattr(appeal, k) for k in AppealOut.model_fields if k != "child_safety"}
    return AppealOut(**data, child_safety=child_safety)


def _appeal(db: DbSession, actor: Actor, appeal_id: DbId, for_update: bool = False) -> Appeal:
    appeal = queries.appeal_by_id(db, appeal_id, for_update=for_update)
    case = db.get(Case, appeal.case_id)
    assert case is not None  # an appeal's case is never deleted
    if case.child_safety and Permission.CHILD_SAFETY_CASES.value not in actor.permissions:
        raise NotFound(f"no appeal {appeal_id}")  # as with cases: not even its existence
    return appeal


@router.get("/appeals", response_model=list[AppealOut])
def queue(
    db: DbSession,
    actor: Decider,
    state: Annotated[str | None, Query(max_length=20, pattern="^(received|in_review|decided)$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[AppealOut]:
    """Open appeals, expedited (intimate images) first, then by due date."""
    include_cs = Permission.CHILD_SAFETY_CASES.value in actor.permissions
    appeals = queries.appeal_queue(db, include_child_safety=include_cs, state=state, limit=limit)
    # One query for the cases' child-safety flags, not one per appeal.
    child_safety = (
        set(
            db.execute(
                sa.select(Case.id).where(Case.id.in_({a.case_id for a in appeals}), Case.child_safety.is_(True))
            ).scalars()
        )
        if appeals
        else set()
    )
    return [appeal_out(db, a, child_safety=a.case_id in child_safety) for a in appeals]


@router.get("/appeals/{appeal_id}", response_model=AppealOut)
def get_appeal(appeal_id: DbId, db: DbSession, actor: Decider) -> AppealOut:
    return appeal_out(db, _appeal(db, actor, appeal_id))


@router.post("/appeals/{appeal_id}/claim", response_model=AppealOut)
def claim(appeal_id: DbId, request: Request, db: DbSession, actor: Decider) -> AppealOut:
    appeal = _appeal(db, actor, appeal_id, for_update=True)
    return appeal_out(db, actions.claim_appeal(db, actor=actor, appeal=appeal, rules=_rules(request)))


@router.post("/appeals/{appeal_id}/release", response_model=AppealOut)
def release(appeal_id: DbId, db: DbSession, actor: Decider) -> AppealOut:
    return appeal_out(db, actions.release_appeal(db, actor=actor, appeal=_appeal(db, actor, appeal_id, True)))


class AppealDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: AppealOutcome
    reasons: str = Field(min_length=1, max_length=actions.MAX_REASONS)
    actions: list[Word] | None = Field(
        default=None,
        max_length=20,
        description="modified: the measures that replace the current ones; a notifier's reversal: the measures to take",
    )
    policy: str | None = Field(default=None, min_length=3, max_length=100, description="policy_id@version")
    bank_entry_wrong: bool | None = Field(
        default=None,
        description="reversing a decision that rested on a bank match: was the bank entry wrong? true disables it",
    )


class AppealDecisionOut(BaseModel):
    appeal: AppealOut
    disabled_bank_entries: list[int] = []
    lifted: list[int]
    applied: list[int]
    new_decision_id: int | None


@router.post("/appeals/{appeal_id}/decide", response_model=AppealDecisionOut)
def decide(
    appeal_id: DbId, body: AppealDecisionIn, request: Request, db: DbSession, actor: Decider
) -> AppealDecisionOut:
    appeal = _appeal(db, actor, appeal_id, for_update=True)
    state = request.app.state
    result = appeal_flow.decide_appeal(
        db,
        actor=actor,
        appeal=appeal,
        outcome=body.outcome.value,
        reasons=body.reasons,
        actions=body.actions,
        policy_ref=body.policy,
        catalogue=state.catalogue,
        rules=_rules(request),
        case_rules=state.case_rules,
        bank_entry_wrong=body.bank_entry_wrong,
    )
    return AppealDecisionOut(
        appeal=appeal_out(db, appeal),
        lifted=[a.id for a in result.lifted],
        applied=[a.id for a in result.applied],
        new_decision_id=result.new_decision_id,
        disabled_bank_entries=[e.id for e in result.disabled_entries],
    )


# -- out-of-court disputes --------------------------------------------------------------------


class DisputeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=300, description="the certified out-of-court settlement body")
    appeal_id: DbId | None = None
    case_id: DbId | None = None
    reference: str | None = Field(default=None, max_length=200, description="the body's case number")
    opened_at: datetime | None = None
    notes: str = Field(default="", max_length=10_000)


class DisputeOutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: DisputeOutcome
    decided_at: datetime | None = None
    notes: str = Field(default="", max_length=10_000)


class ImplementationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    implemented: bool
    notes: str = Field(default="", max_length=10_000)
    reverse_measures: bool = Field(
        default=False,
        description="carry out a decision for the user by lifting the case's measures (as an appeal reversal does)",
    )


class DisputeOut(BaseModel):
    id: int
    case_id: int
    appeal_id: int | None
    body: str
    reference: str | None
    opened_at: datetime
    outcome: str | None
    decided_at: datetime | None
    implemented: bool | None
    implemented_at: datetime | None
    notes: str
    recorded_by: str


def dispute_out(dispute: OutOfCourtDispute) -> DisputeOut:
    return DisputeOut.model_validate(dispute, from_attributes=True)


@router.post("/disputes", response_model=DisputeOut, status_code=201)
def open_dispute(body: DisputeIn, db: DbSession, actor: DisputeStaff) -> DisputeOut:
    return dispute_out(disputes.record_dispute(db, actor=actor, **body.model_dump()))


@router.get("/disputes", response_model=list[DisputeOut])
def list_disputes(
    db: DbSession, _: DisputeStaff, open_only: bool = False, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[DisputeOut]:
    return [dispute_out(d) for d in disputes.list_disputes(db, open_only=open_only, limit=limit)]


@router.post("/disputes/{dispute_id}/outcome", response_model=DisputeOut)
def dispute_outcome(dispute_id: DbId, body: DisputeOutcomeIn, db: DbSession, actor: DisputeStaff) -> DisputeOut:
    dispute = disputes.dispute_by_id(db, dispute_id)
    return dispute_out(
        disputes.record_dispute_outcome(
            db, actor=actor, dispute=dispute, outcome=body.outcome.value, decided_at=body.decided_at, notes=body.notes
        )
    )


@router.post("/disputes/{dispute_id}/implementation", response_model=DisputeOut)
def dispute_implementation(
    dispute_id: DbId, body: ImplementationIn, request: Request, db: DbSession, actor: DisputeStaff
) -> DisputeOut:
    dispute = disputes.dispute_by_id(db, dispute_id)
    return dispute_out(
        disputes.mark_dispute_implemented(
            db,
            actor=actor,
            dispute=dispute,
            implemented=body.implemented,
            notes=body.notes,
            reverse_measures=body.reverse_measures,
            catalogue=request.app.state.catalogue,
        )
    )
