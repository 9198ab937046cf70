"""HTTP API for authority reports: NCMEC and UK NCA drafts, confirmation and status, DSA Art. 18,
law-enforcement requests."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from staydown.actors import Actor
from staydown.authorities import dsa18, law_enforcement, nca, ncmec
from staydown.authorities.models import FileRequest, NcaReport, NcmecReport, NcmecReportFile
from staydown.authorities.nca_format import UkLinkBasis
from staydown.cases.queries import case_by_id
from staydown.db import get_or_404
from staydown.errors import InvalidInput, NotFound
from staydown.flows import authorities as authority_flows
from staydown.http import DbSession, require
from staydown.limits import DbId
from staydown.staff.permissions import Permission

router = APIRouter(prefix="/v1", tags=["authorities"])

Reporter = Annotated[Actor, Depends(require(Permission.NCMEC_REPORTS))]
Reviewer = Annotated[Actor, Depends(require(Permission.CASES_REVIEW))]
Legal = Annotated[Actor, Depends(require(Permission.LAW_ENFORCEMENT))]
# CSAM-5: what an NCA report holds is for child safety and legal only.
NcaReporter = Annotated[Actor, Depends(require(Permission.NCA_REPORTS))]


class ReportFileOut(BaseModel):
    id: int
    content: str | None
    evidence_item_id: int | None
    # The file staydown asked the platform for, while the report waits for it.
    file_request_id: int | None
    file_request_state: str | None
    file_request_due_at: datetime | None
    filed_without: str | None = Field(description="why the report goes without this file, when it does")
    uploaded: bool


class NcmecReportOut(BaseModel):
    id: int
    case_id: int
    state: str
    escalate: bool
    ncmec_report_id: int | None
    confirmed_by: str | None
    finished_at: datetime | None
    files: int
    waiting_for_files: int = Field(description="files the report waits for from the platform before it is filed")
    file_details: list[ReportFileOut]
    reported_account: str | None
    last_error: str | None


def _report_out(db: DbSession, r: NcmecReport) -> NcmecReportOut:
    requests = {
        q.id: q
        for q in db.execute(
            sa.select(FileRequest).where(
                FileRequest.id.in_([f.file_request_id for f in r.files if f.file_request_id] or [-1])
            )
        ).scalars()
    }
    facts = {f.get("row_id"): f for f in r.plan.get("files", [])}
    details = []
    for f in r.files:
        q = requests.get(f.file_request_id) if f.file_request_id else None
        details.append(
            ReportFileOut(
                id=f.id,
                content=facts.get(f.id, {}).get("content"),
                evidence_item_id=f.evidence_item_id,
                file_request_id=f.file_request_id,
                file_request_state=q.state if q else None,
                file_request_due_at=q.due_at if q else None,
                filed_without=f.waived_reason,
                uploaded=f.ncmec_file_id is not None,
            )
        )
    return NcmecReportOut(
        id=r.id,
        case_id=r.case_id,
        state=r.state,
        escalate=r.escalate,
        ncmec_report_id=r.ncmec_report_id,
        confirmed_by=r.confirmed_by,
        finished_at=r.finished_at,
        files=len(r.files),
        waiting_for_files=len(ncmec.waiting_files(r)),
        file_details=details,
        reported_account=r.plan.get("reported", {}).get("esp_identifier"),
        last_error=r.last_error,
    )


def _report(db: DbSession, report_id: DbId) -> NcmecReport:
    return get_or_404(db, NcmecReport, report_id, "NCMEC report")


@router.post("/cases/{case_id}/ncmec-reports", response_model=list[NcmecReportOut], status_code=201)
def draft(case_id: DbId, request: Request, db: DbSession, actor: Reporter) -> list[NcmecReportOut]:
    """Draft one CyberTipline report per reported account of a confirmed case. A file staydown
    never held is asked of the platform (a `provide_file` action); the report waits for it."""
    state = request.app.state
    reports = authority_flows.draft_reports(
        db,
        actor=actor,
        case=case_by_id(db, case_id),
        catalogue=state.catalogue,
        file_request_hours=state.settings.ncmec_file_request_hours,
    )
    return [_report_out(db, r) for r in reports]


@router.get("/ncmec-reports", response_model=list[NcmecReportOut])
def list_reports(db: DbSession, _: Reporter, case_id: DbId | None = None) -> list[NcmecReportOut]:
    stmt = sa.select(NcmecReport).order_by(NcmecReport.id.desc()).limit(200)
    if case_id is not None:
        stmt = stmt.where(NcmecReport.case_id == case_id)
    return [_report_out(db, r) for r in db.execute(stmt).scalars()]


@router.get("/ncmec-reports/{report_id}", response_model=NcmecReportOut)
def get_report(report_id: DbId, db: DbSession, _: Reporter) -> NcmecReportOut:
    return _report_out(db, _report(db, report_id))


@router.post("/ncmec-reports/{report_id}/confirm", response_model=NcmecReportOut)
def confirm(report_id: DbId, db: DbSession, actor: Reporter) -> NcmecReportOut:
    return _report_out(db, ncmec.confirm_report(db, actor=actor, report=_report(db, report_id)))


class FileWithoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=20, max_length=2000)


@router.post("/ncmec-reports/{report_id}/files/{file_id}/file-without", response_model=NcmecReportOut)
def file_without(report_id: DbId, file_id: DbId, body: FileWithoutIn, db: DbSession, actor: Reporter) -> NcmecReportOut:
    """A child-safety specialist decides, with reasons, that the report goes without a file the
    platform did not provide (only once its request is overdue or the platform said it cannot)."""
    report = _report(db, report_id)
    row = db.get(NcmecReportFile, file_id)
    if row is None or row.report_id != report.id:
        raise NotFound(f"report {report_id} has no file {file_id}")
    authority_flows.file_without(db, actor=actor, report=report, report_file=row, reason=body.reason)
    return _report_out(db, report)


# -- UK National Crime Agency (UK-6) -------------------------------------------------------------


class NcaDraftIn(BaseModel):
    """The provider's priority assessment and, for a non-UK provider, the content's UK link."""

    model_config = ConfigDict(extra="forbid")

    priority: Literal["urgent", "standard"] | None = None
    priority_reason: str | None = Field(default=None, min_length=10, max_length=2000)
    uk_link_basis: UkLinkBasis | None = None
    uk_link_facts: str | None = Field(default=None, min_length=10, max_length=2000)


class NcaReportOut(BaseModel):
    id: int
    case_id: int
    state: str
    priority: str
    priority_reason: str | None
    reported_account: str | None
    items: int
    files: int
    nca_report_id: str | None
    nca_reference: str | None
    confirmed_by: str | None
    confirmed_at: datetime | None
    finished_at: datetime | None
    last_error: str | None


class NcaFileOut(BaseModel):
    evidence_item_id: int
    file_ref: str
    viewed_by_provider: bool
    nca_file_id: str | None
    uploaded_at: datetime | None


class NcaReportDetail(NcaReportOut):
    plan: dict[str, Any]  # what will be sent: the incident, the account, the items and their hashes
    file_details: list[NcaFileOut]
    receipt: dict[str, Any] | None


def _nca_out(r: NcaReport) -> NcaReportOut:
    return NcaReportOut(
        id=r.id,
        case_id=r.case_id,
        state=r.state,
        priority=r.priority,
        priority_reason=r.priority_reason,
        reported_account=r.plan.get("user", {}).get("platform_account_id"),
        items=len(r.plan.get("content", [])),
        files=len(r.files),
        nca_report_id=r.nca_report_id,
        nca_reference=r.nca_reference,
        confirmed_by=r.confirmed_by,
        confirmed_at=r.confirmed_at,
        finished_at=r.finished_at,
        last_error=r.last_error,
    )


def _nca_report(db: DbSession, report_id: DbId) -> NcaReport:
    return get_or_404(db, NcaReport, report_id, "NCA report")


@router.post("/cases/{case_id}/nca-reports", response_model=list[NcaReportOut], status_code=201)
def nca_draft(
    case_id: DbId, request: Request, db: DbSession, actor: NcaReporter, body: NcaDraftIn | None = None
) -> list[NcaReportOut]:
    """Draft one NCA report per reported account of a case with actual knowledge (UK-6)."""
    body = body or NcaDraftIn()
    reports = nca.draft_reports(
        db,
        actor=actor,
        case=case_by_id(db, case_id),
        catalogue=request.app.state.catalogue,
        rules=nca.NcaRules.from_settings(request.app.state.settings),
        priority=body.priority,
        priority_reason=body.priority_reason,
        uk_link_basis=body.uk_link_basis.value if body.uk_link_basis else None,
        uk_link_facts=body.uk_link_facts,
    )
    return [_nca_out(r) for r in reports]


@router.get("/nca-reports", response_model=list[NcaReportOut])
def nca_list(
    db: DbSession,
    _: NcaReporter,
    case_id: DbId | None = None,
    state: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> list[NcaReportOut]:
    stmt = sa.select(NcaReport).order_by(NcaReport.id.desc()).limit(limit)
    if case_id is not None:
        stmt = stmt.where(NcaReport.case_id == case_id)
    if state is not None:
        if state not in nca.STATES:
            raise InvalidInput(f"state is one of {', '.join(nca.STATES)}")
        stmt = stmt.where(NcaReport.state == state)
    return [_nca_out(r) for r in db.execute(stmt).scalars()]


@router.get("/nca-reports/{report_id}", response_model=NcaReportDetail)
def nca_status(report_id: DbId, db: DbSession, _: NcaReporter) -> NcaReportDetail:
    """A report's state, what it will send (or sent), each file's filing, and the NCA's receipt."""
    r = _nca_report(db, report_id)
    return NcaReportDetail(
        **_nca_out(r).model_dump(),
        plan=r.plan,
        receipt=r.receipt,
        file_details=[
            NcaFileOut(
                evidence_item_id=x.evidence_item_id,
                file_ref=x.file_ref,
                viewed_by_provider=x.viewed_by_provider,
                nca_file_id=x.nca_file_id,
                uploaded_at=x.uploaded_at,
            )
            for x in r.files
        ],
    )


@router.post("/nca-reports/{report_id}/confirm", response_model=NcaReportOut)
def nca_confirm(report_id: DbId, request: Request, db: DbSession, actor: NcaReporter) -> NcaReportOut:
    """A child-safety reviewer confirms the draft (and makes its declaration); filing follows."""
    return _nca_out(
        nca.confirm_report(
            db,
            actor=actor,
            report=_nca_report(db, report_id),
            rules=nca.NcaRules.from_settings(request.app.state.settings),
        )
    )


class ThreatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_state: str | None = Field(default=None, max_length=2, pattern="^[A-Za-z]{2}$")
    member_states: list[Annotated[str, Field(max_length=2, pattern="^[A-Za-z]{2}$")]] = Field(
        default_factory=list, max_length=28
    )
    facts: str = Field(min_length=20, max_length=10_000)


class ThreatOut(BaseModel):
    track_id: int
    due_at: datetime | None
    notifications: list[dict[str, Any]]
    unconfigured: list[str]


@router.post("/cases/{case_id}/dsa18", status_code=201, response_model=ThreatOut)
def flag_threat(case_id: DbId, body: ThreatIn, request: Request, db: DbSession, actor: Reviewer) -> ThreatOut:
    """DSA Art. 18: a suspected crime threatening life or safety. Opens the one-hour track from now
    and notifies each member state concerned (`member_states`; none: those the notices name, else
    Europol); the track is met when the last notification has been sent."""
    state = request.app.state
    states = [*([body.member_state] if body.member_state else []), *body.member_states]
    marking = dsa18.mark_threat(
        db,
        actor=actor,
        case=case_by_id(db, case_id),
        member_states=states,
        facts=body.facts,
        authorities=state.settings.dsa18_authorities,
        rules=state.case_rules,
    )
    return ThreatOut(
        track_id=marking.track.id,
        due_at=marking.track.due_at,
        notifications=[
            {"id": n.id, "member_state": n.member_state, "authority": n.authority} for n in marking.notifications
        ],
        unconfigured=marking.unconfigured,
    )


class PreservationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agency: str = Field(min_length=2, max_length=300)
    legal_process: str = Field(min_length=5, max_length=2000)
    reference: str = Field(min_length=1, max_length=200)
    item_ids: list[DbId] = Field(min_length=1, max_length=1000)
    until: datetime
    case_id: DbId | None = None


class DisclosureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agency: str = Field(min_length=2, max_length=300)
    legal_process: str = Field(min_length=10, max_length=2000)
    reference: str = Field(min_length=1, max_length=200)
    item_ids: list[DbId] = Field(default_factory=list, max_length=1000)
    outcome: str = Field(min_length=1, max_length=2000)
    case_id: DbId | None = None


@router.post("/law-enforcement/preservation", status_code=201)
def preservation(body: PreservationIn, db: DbSession, actor: Legal) -> dict[str, Any]:
    r = law_enforcement.record_preservation(db, actor=actor, **body.model_dump())
    return {"id": r.id}


@router.post("/law-enforcement/disclosure", status_code=201)
def disclosure(body: DisclosureIn, db: DbSession, actor: Legal) -> dict[str, Any]:
    r = law_enforcement.record_disclosure(db, actor=actor, **body.model_dump())
    return {"id": r.id}
