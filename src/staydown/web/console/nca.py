"""Console pages for UK National Crime Agency reports: the reports by state, a report's review page,
drafting (with the priority assessment and, for a non-UK provider, the UK link) and confirmation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from staydown.actors import Actor
from staydown.authorities import nca
from staydown.authorities.nca_format import UkLinkBasis
from staydown.cases.queries import case_by_id
from staydown.errors import Conflict, InvalidInput
from staydown.http import DbSession, require
from staydown.i18n import N_, gettext
from staydown.limits import DbId
from staydown.staff.permissions import Permission
from staydown.web.console import queries
from staydown.web.console.page_forms import done_message, optional_text, page_number, see_other
from staydown.web.console.session import console_session
from staydown.web.security import verify_csrf
from staydown.web.templating import render

router = APIRouter(prefix="/console", dependencies=[Depends(console_session)], include_in_schema=False)

# CSAM-5: report contents go only to those whose role needs them (child safety and legal).
Reporter = Annotated[Actor, Depends(require(Permission.NCA_REPORTS))]

LINK_LABELS = {
    UkLinkBasis.PLACE.value: "published, generated, uploaded or shared in the UK",
    UkLinkBasis.SUSPECT_NATIONALITY.value: "the suspected offender is a UK national",
    UkLinkBasis.SUSPECT_LOCATION.value: "the suspected offender is in the UK",
    UkLinkBasis.VICTIM_LOCATION.value: "the child is in the UK",
}


def _stamp(value: str | None) -> str:
    """A time kept in a report's plan (ISO 8601 text), as the console shows times."""
    if not value:
        return "unknown"
    try:
        return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return value


def _rules(request: Request) -> nca.NcaRules:
    return nca.NcaRules.from_settings(request.app.state.settings)


@router.get("/nca", response_class=HTMLResponse)
def report_list(
    request: Request, db: DbSession, _: Reporter, state: str = "", page: str = "1", done: str | None = None
) -> Response:
    return render(
        request,
        "console/nca.html",
        {
            "counts": queries.nca_counts(db),
            "reports": queries.nca_reports(db, state=state or None, page=page_number(page)),
            "state": state,
            "done": done_message(done),
            "rules": _rules(request),
            "link_labels": LINK_LABELS,
        },
    )


@router.get("/nca/{report_id}", response_class=HTMLResponse)
def report_page(request: Request, report_id: DbId, db: DbSession, _: Reporter, done: str | None = None) -> Response:
    report = queries.nca_report(db, report_id)
    return render(
        request,
        "console/nca_report.html",
        {
            "report": report,
            "done": done_message(done),
            "rules": _rules(request),
            "link_labels": LINK_LABELS,
            "filed": {f.file_ref: f for f in report.files},
            "stamp": _stamp,
            "history": queries.custody_log(db, subject_type="case", subject_id=report.case_id),
        },
    )


@router.post("/nca/{report_id}/confirm")
def report_confirm(
    request: Request,
    report_id: DbId,
    db: DbSession,
    actor: Reporter,
    csrf_token: Annotated[str, Form()] = "",
    reviewed: Annotated[str, Form()] = "",
) -> Response:
    verify_csrf(request, csrf_token)
    report = queries.nca_report(db, report_id)
    if reviewed != "yes":
        raise InvalidInput(
            gettext(
                "tick the box to make the declaration: you reviewed what will be sent and it "
                "includes all the information reasonably available"
            )
        )
    nca.confirm_report(db, actor=actor, report=report, rules=_rules(request))
    return see_other(f"/console/nca/{report.id}?done=nca-report-confirmed")


@router.post("/nca/draft")
def report_draft(
    request: Request,
    db: DbSession,
    actor: Reporter,
    csrf_token: Annotated[str, Form()] = "",
    case_id: Annotated[str, Form()] = "",
    priority: Annotated[str, Form()] = "",
    priority_reason: Annotated[str, Form()] = "",
    uk_link_basis: Annotated[str, Form()] = "",
    uk_link_facts: Annotated[str, Form()] = "",
) -> Response:
    verify_csrf(request, csrf_token)
    if not case_id.strip().isdigit() or len(case_id.strip()) > 18:
        raise InvalidInput(gettext("the case number is a whole number"))
    if priority not in ("", "urgent", "standard"):
        raise InvalidInput(gettext("priority is urgent or standard"))
    if uk_link_basis and uk_link_basis not in LINK_LABELS:
        raise InvalidInput(
            gettext("the UK link is one of: %(link_labels)s", link_labels="; ".join(LINK_LABELS.values()))
        )
    case = case_by_id(db, int(case_id))
    drafts = nca.draft_reports(
        db,
        actor=actor,
        case=case,
        catalogue=request.app.state.catalogue,
        rules=_rules(request),
        priority=priority or None,
        priority_reason=optional_text(priority_reason, label=N_("the priority reason"), max_len=2000),
        uk_link_basis=uk_link_basis or None,
        uk_link_facts=optional_text(uk_link_facts, label=N_("the facts of the UK link"), max_len=2000),
    )
    if not drafts:
        raise Conflict(gettext("case %(id)s already has an NCA report for every reported account", id=case.id))
    if len(drafts) == 1:
        return see_other(f"/console/nca/{drafts[0].id}?done=reports-drafted")
    return see_other("/console/nca?state=draft&done=reports-drafted")
