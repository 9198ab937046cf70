"""Console pages for CyberTipline reports: the reports by state, a report's review page, drafting and confirmation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from staydown.actors import Actor
from staydown.authorities import ncmec
from staydown.cases.queries import case_by_id
from staydown.errors import Conflict, InvalidInput
from staydown.flows import authorities as authority_flows
from staydown.http import DbSession, require
from staydown.i18n import N_, gettext
from staydown.limits import DbId
from staydown.staff.permissions import Permission
from staydown.web.console import queries
from staydown.web.console.page_forms import done_message, page_number, see_other, text
from staydown.web.console.session import console_session
from staydown.web.security import verify_csrf
from staydown.web.templating import render

router = APIRouter(prefix="/console", dependencies=[Depends(console_session)], include_in_schema=False)

# CSAM-5: report contents go only to those whose role needs them (child safety and legal).
Reporter = Annotated[Actor, Depends(require(Permission.NCMEC_REPORTS))]


@router.get("/ncmec", response_class=HTMLResponse)
def report_list(
    request: Request, db: DbSession, _: Reporter, state: str = "", page: str = "1", done: str | None = None
) -> Response:
    return render(
        request,
        "console/ncmec.html",
        {
            "counts": queries.ncmec_counts(db),
            "reports": queries.ncmec_reports(db, state=state or None, page=page_number(page)),
            "state": state,
            "done": done_message(done),
        },
    )


@router.get("/ncmec/{report_id}", response_class=HTMLResponse)
def report_page(request: Request, report_id: DbId, db: DbSession, _: Reporter, done: str | None = None) -> Response:
    report = queries.ncmec_report(db, report_id)
    return render(
        request,
        "console/ncmec_report.html",
        {
            "report": report,
            "done": done_message(done),
            "file_requests": queries.file_requests_of(db, report),
            "history": queries.custody_log(db, subject_type="case", subject_id=report.case_id),
        },
    )


@router.post("/ncmec/{report_id}/files/{file_id}/file-without")
def report_file_without(
    request: Request,
    report_id: DbId,
    file_id: DbId,
    db: DbSession,
    actor: Reporter,
    csrf_token: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """A specialist decides the report goes without a file the platform did not provide."""
    verify_csrf(request, csrf_token)
    report = queries.ncmec_report(db, report_id)
    row = next((f for f in report.files if f.id == file_id), None)
    if row is None:
        raise InvalidInput(gettext("report %(id)s has no file %(file_id)s", id=report.id, file_id=file_id))
    authority_flows.file_without(
        db,
        actor=actor,
        report=report,
        report_file=row,
        reason=text(reason, label=N_("why the report goes without this file"), max_len=2000, min_len=20),
    )
    return see_other(f"/console/ncmec/{report.id}?done=filed-without")


@router.post("/ncmec/{report_id}/confirm")
def report_confirm(
    request: Request,
    report_id: DbId,
    db: DbSession,
    actor: Reporter,
    csrf_token: Annotated[str, Form()] = "",
    reviewed: Annotated[str, Form()] = "",
) -> Response:
    verify_csrf(request, csrf_token)
    report = queries.ncmec_report(db, report_id)
    if reviewed != "yes":
        raise InvalidInput(gettext("tick the box to say you reviewed what will be sent before confirming"))
    ncmec.confirm_report(db, actor=actor, report=report)
    return see_other(f"/console/ncmec/{report.id}?done=report-confirmed")


@router.post("/ncmec/draft")
def report_draft(
    request: Request,
    db: DbSession,
    actor: Reporter,
    csrf_token: Annotated[str, Form()] = "",
    case_id: Annotated[str, Form()] = "",
) -> Response:
    verify_csrf(request, csrf_token)
    if not case_id.strip().isdigit() or len(case_id.strip()) > 18:
        raise InvalidInput(gettext("the case number is a whole number"))
    case = case_by_id(db, int(case_id))
    drafts = authority_flows.draft_reports(
        db,
        actor=actor,
        case=case,
        catalogue=request.app.state.catalogue,
        file_request_hours=request.app.state.settings.ncmec_file_request_hours,
    )
    if not drafts:
        raise Conflict(gettext("case %(id)s already has a report for every reported account", id=case.id))
    if len(drafts) == 1:
        return see_other(f"/console/ncmec/{drafts[0].id}?done=reports-drafted")
    return see_other("/console/ncmec?state=draft&done=reports-drafted")
