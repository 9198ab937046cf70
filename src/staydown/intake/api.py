"""HTTP API for notices: from platforms (`/v1/notices`) and from anyone (`/public/...`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from staydown.actors import Actor
from staydown.cases import tracks
from staydown.errors import InvalidInput
from staydown.http import DbSession, public_base, rate_limited, require, require_quick
from staydown.intake import actions, batch, misuse
from staydown.intake.batcher import IntakeBatcher
from staydown.intake.models import Notice, NoticeKind, ReporterKind
from staydown.intake.queries import public_status
from staydown.intake.schemas import CompletionIn, NoticeIn
from staydown.limits import DbId, LongText, Name, Word
from staydown.staff.permissions import Permission

router = APIRouter(prefix="/v1", tags=["notices"])
public_router = APIRouter(prefix="/public", tags=["public"])

Submitter = Annotated[Actor, Depends(require_quick(Permission.NOTICES_SUBMIT))]
Public = Annotated[Actor, Depends(require(Permission.PUBLIC))]
Code = Annotated[str, Path(min_length=4, max_length=40)]

PUBLIC_KINDS = {NoticeKind.public_report, NoticeKind.dsa_notice}
PUBLIC_REPORTERS = {
    ReporterKind.affected_person,
    ReporterKind.parent_or_representative,
    ReporterKind.user,
    ReporterKind.anonymous,
}


class TrackOut(BaseModel):
    kind: str
    title: str = Field(description="what the clock is for, in plain words")
    state: str = Field(description="waiting | open | met | not_applicable (closed for a stated reason)")
    received_at: datetime
    due_at: datetime | None
    met_at: datetime | None = Field(description="when it was met or closed")
    resolution: str | None = Field(
        default=None,
        description="what ended it: decided, removal_confirmed, refused_on_review, finding_not_applicable...",
    )

    @classmethod
    def of(cls, track: Any) -> TrackOut:
        rule = tracks.KINDS.get(track.kind)
        return cls(
            kind=track.kind,
            title=rule.title if rule else track.kind,
            state=track.state,
            received_at=track.received_at,
            due_at=track.due_at,
            met_at=track.met_at,
            resolution=getattr(track, "resolution", None),
        )


class ReceiptOut(BaseModel):
    tracking_code: str
    state: str
    received_at: datetime
    acknowledgement: str
    cases: list[int]
    missing: list[dict[str, str]]
    deadlines: list[TrackOut]
    status_url: str


def _receipt(request: Request, outcome: batch.Outcome, *, show_cases: bool) -> ReceiptOut:
    base = public_base(request)
    code = outcome.tracking_code
    ack = "We received your report. Keep this tracking code to follow it: " + code
    if outcome.missing:
        ack = (
            "We received your request and kept it, but it is not complete yet. Send what is missing with "
            "your tracking code: " + code
        )
    return ReceiptOut(
        tracking_code=code,
        state=outcome.state,
        received_at=outcome.received_at,
        acknowledgement=ack,
        cases=outcome.case_ids if show_cases else [],
        missing=[{"element": m, "what": actions.TAKE_IT_DOWN_ELEMENTS[m]} for m in outcome.missing],
        deadlines=[TrackOut.of(d) for d in outcome.deadlines],
        status_url=f"{base}/status/{code}",
    )


def _created(out: ReceiptOut) -> Response:
    """The receipt as it is: the route's response model documents it, and validating it a second
    time on the way out cost more than building it."""
    return Response(out.model_dump_json(), status_code=201, media_type="application/json")


async def _file(request: Request, actor: Actor, body: NoticeIn, idempotency_key: str | None = None) -> batch.Outcome:
    """Hand the notice to this process's batcher and wait for the commit of its batch."""
    batcher: IntakeBatcher = request.app.state.intake
    return await batcher.file(batch.Submission(actor, body, idempotency_key))


@router.post("/notices", response_model=ReceiptOut, status_code=201)
async def submit_notice(
    body: NoticeIn,
    request: Request,
    actor: Submitter,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """A notice from the platform: a user's report, a trusted flagger's, an authority's order.
    With an `Idempotency-Key` header a retry after a lost answer returns the first receipt
    instead of filing the notice twice."""
    scoped = f"{actor.ref}:{idempotency_key}" if idempotency_key is not None else None
    return _created(_receipt(request, await _file(request, actor, body, scoped), show_cases=True))


@public_router.post(
    "/notices", response_model=ReceiptOut, status_code=201, dependencies=[Depends(rate_limited("public-notices", 0))]
)
async def public_notice(body: NoticeIn, request: Request, actor: Public) -> Response:
    """A report from anyone, without an account. A child-safety report never needs a name or an
    e-mail address (X-1, DSA 16(2)(c))."""
    if "kind" not in body.model_fields_set:
        body = body.model_copy(update={"kind": NoticeKind.public_report})
    if "reporter_kind" not in body.model_fields_set and not body.contact_email:
        body = body.model_copy(update={"reporter_kind": ReporterKind.anonymous})
    if body.kind not in PUBLIC_KINDS:
        raise InvalidInput(f"a public notice is a public_report or dsa_notice, not {body.kind.value}")
    if body.reporter_kind not in PUBLIC_REPORTERS:
        raise InvalidInput(f"reporter_kind {body.reporter_kind.value!r} cannot be claimed on a public form")
    if body.reporter_id:
        raise InvalidInput("reporter_id is for notices forwarded by the platform")
    return _created(_receipt(request, await _file(request, actor, body), show_cases=False))


@public_router.post(
    "/takedown-requests",
    response_model=ReceiptOut,
    status_code=201,
    responses={422: {"description": "stored, but incomplete: the body lists what is missing"}},
    dependencies=[Depends(rate_limited("takedown", 0))],
)
async def takedown_request(body: NoticeIn, request: Request, actor: Public) -> Any:
    """A TAKE IT DOWN Act removal request (TID-1). An incomplete one is kept and answered with 422
    naming exactly what is missing, with the tracking code to complete it."""
    if body.reporter_kind not in (ReporterKind.affected_person, ReporterKind.parent_or_representative):
        raise InvalidInput(
            "a TAKE IT DOWN request comes from the person depicted or someone authorised "
            "to act for them: reporter_kind affected_person or parent_or_representative"
        )
    outcome = await _file(request, actor, body.model_copy(update={"kind": NoticeKind.take_it_down}))
    out = _receipt(request, outcome, show_cases=False)
    if outcome.missing:
        return JSONResponse(
            status_code=422,
            content={
                "error": "takedown_request_incomplete",
                "message": "the request was kept, but it is missing: " + ", ".join(outcome.missing),
                "details": out.model_dump(mode="json"),
            },
        )
    return _created(out)


@public_router.post(
    "/takedown-requests/{code}/complete", response_model=ReceiptOut, dependencies=[Depends(rate_limited("takedown", 0))]
)
def complete_takedown(code: Code, body: CompletionIn, request: Request, db: DbSession, actor: Public) -> Any:
    state = request.app.state
    notice = actions.notice_by_code(db, code)
    receipt = actions.complete_notice(
        db,
        actor=actor,
        notice=notice,
        completion=body,
        catalogue=state.catalogue,
        rules=state.case_rules,
        engine=state.match_engine,
    )
    out = _receipt(request, batch.stored_outcome(db, notice.id), show_cases=False)
    if receipt.missing:
        return JSONResponse(
            status_code=422,
            content={
                "error": "takedown_request_incomplete",
                "message": "still missing: " + ", ".join(receipt.missing),
                "details": out.model_dump(mode="json"),
            },
        )
    return out


class StatusOut(BaseModel):
    tracking_code: str
    kind: str
    received_at: datetime
    items: int
    state: str
    missing: list[str]
    deadlines: list[TrackOut]
    outcome: str | None
    decided_at: datetime | None
    reasons: str | None
    policy: str | None
    policy_title: str | None = None
    redress: str | None


@public_router.get("/status/{code}", response_model=StatusOut, dependencies=[Depends(rate_limited("status", 0))])
def status(code: Code, request: Request, db: DbSession, _: Public) -> StatusOut:
    """What was received, the deadline that applies, the state, and once decided the outcome with
    its reasons. Nothing about other reporters or other notices."""
    notice: Notice = actions.notice_by_code(db, code)
    status = public_status(db, notice, catalogue=getattr(request.app.state, "catalogue", None))
    redress = None
    if status.outcome is not None:
        redress = (
            "You can ask for this decision to be reviewed within six months, free of charge, with this tracking code."
        )
    # Only the clocks this notice opened: another notifier's clock on the same case is theirs.
    return StatusOut(
        tracking_code=notice.tracking_code,
        kind=notice.kind,
        received_at=notice.received_at,
        items=len(notice.items),
        state=status.state,
        missing=list(notice.missing_elements),
        deadlines=[TrackOut.of(t) for t in status.deadlines],
        outcome=status.outcome,
        decided_at=status.decided_at,
        reasons=status.reasons,
        policy=status.policy_ref,
        policy_title=status.policy_title,
        redress=redress,
    )


# -- trusted flaggers and notifier measures ----------------------------------------------------

FlaggerAdmin = Annotated[Actor, Depends(require(Permission.STAFF_ADMIN))]
CaseReader = Annotated[Actor, Depends(require(Permission.CASES_READ))]
Senior = Annotated[Actor, Depends(require(Permission.CASES_SECOND_REVIEW))]


class FlaggerIn(BaseModel):
    name: Name
    areas: list[Word] = Field(max_length=20)
    designated_by: Name
    contact_email: str | None = Field(default=None, max_length=320)
    api_client_id: DbId | None = None


class FlaggerOut(BaseModel):
    flagger_id: int
    name: str
    notices: int
    decided: int
    founded: int
    accuracy: float | None


@router.post("/trusted-flaggers", response_model=FlaggerOut, status_code=201)
def add_flagger(body: FlaggerIn, db: DbSession, actor: FlaggerAdmin) -> FlaggerOut:
    flagger = misuse.register_trusted_flagger(db, actor=actor, **body.model_dump())
    return FlaggerOut(flagger_id=flagger.id, name=flagger.name, notices=0, decided=0, founded=0, accuracy=None)


@router.get("/trusted-flaggers", response_model=list[FlaggerOut])
def list_flaggers(db: DbSession, _: CaseReader) -> list[FlaggerOut]:
    return [FlaggerOut(**f.__dict__) for f in misuse.flagger_figures(db)]


class WarnIn(BaseModel):
    reasons: LongText


class SuspendIn(BaseModel):
    gravity: LongText
    intent: LongText
    until: datetime


@router.post("/notifiers/{notifier_id}/warn", status_code=204)
def warn(notifier_id: DbId, body: WarnIn, db: DbSession, actor: Senior) -> None:
    misuse.warn_notifier(db, actor=actor, notifier=misuse.notifier_by_id(db, notifier_id), reasons=body.reasons)


@router.post("/notifiers/{notifier_id}/suspend", status_code=204)
def suspend(notifier_id: DbId, body: SuspendIn, db: DbSession, actor: Senior) -> None:
    misuse.suspend_notifier(
        db,
        actor=actor,
        notifier=misuse.notifier_by_id(db, notifier_id),
        gravity=body.gravity,
        intent=body.intent,
        until=body.until,
    )
