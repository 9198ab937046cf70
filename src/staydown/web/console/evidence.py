"""Console pages for the evidence vault: items, holds, and destruction that takes two people."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from staydown.actors import Actor
from staydown.db import now
from staydown.errors import InvalidInput
from staydown.evidence import actions
from staydown.evidence.vault import item_by_id, place_hold
from staydown.flows import authorities as authority_flows
from staydown.http import DbSession, require
from staydown.i18n import N_, gettext
from staydown.limits import DbId
from staydown.staff.permissions import Permission
from staydown.web.console import queries
from staydown.web.console.page_forms import done_message, future_date, page_number, see_other, text
from staydown.web.console.session import console_session
from staydown.web.security import verify_csrf
from staydown.web.templating import render

router = APIRouter(prefix="/console", dependencies=[Depends(console_session)], include_in_schema=False)

# CSAM-5/6: the vault is for child-safety specialists and legal; administrators do not get it.
Viewer = Annotated[Actor, Depends(require(Permission.EVIDENCE_ACCESS))]
Holder = Annotated[Actor, Depends(require(Permission.EVIDENCE_HOLDS))]
Legal = Annotated[Actor, Depends(require(Permission.LAW_ENFORCEMENT))]

HOLD_KINDS = {"preservation_request": "Preservation request (law enforcement)", "voluntary": "Voluntary hold"}


@router.get("/evidence", response_class=HTMLResponse)
def evidence_list(
    request: Request,
    db: DbSession,
    _: Viewer,
    state: str = "",
    case: str = "",
    page: str = "1",
    done: str | None = None,
) -> Response:
    case_id = None
    if case.strip():
        if not case.strip().isdigit() or len(case.strip()) > 18:
            raise InvalidInput(gettext("the case number is a whole number"))
        case_id = int(case)
    at = now(db)
    return render(
        request,
        "console/evidence.html",
        {
            "items": queries.evidence_items(db, state=state or None, case_id=case_id, page=page_number(page)),
            "holds": queries.active_holds(db, at=at),
            "pending": queries.pending_destructions(db),
            "state": state,
            "case": case.strip(),
            "done": done_message(done),
        },
    )


@router.get("/evidence/{item_id}", response_class=HTMLResponse)
def evidence_item(request: Request, item_id: DbId, db: DbSession, _: Viewer, done: str | None = None) -> Response:
    item = item_by_id(db, item_id)
    return render(
        request,
        "console/evidence_item.html",
        {
            "item": item,
            "holds": queries.holds_of(db, item.id),
            "destructions": queries.destructions_of(db, item.id),
            "custody": queries.custody_log(db, subject_type="evidence_item", subject_id=item.id),
            "held": actions.is_held(db, item.id),
            "hold_kinds": HOLD_KINDS,
            "done": done_message(done),
            "at": now(db),
        },
    )


@router.post("/evidence/{item_id}/holds")
def hold_place(
    request: Request,
    item_id: DbId,
    db: DbSession,
    actor: Holder,
    csrf_token: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "",
    basis: Annotated[str, Form()] = "",
    until: Annotated[str, Form()] = "",
) -> Response:
    verify_csrf(request, csrf_token)
    item = item_by_id(db, item_id)
    if kind not in HOLD_KINDS:
        raise InvalidInput(gettext("the kind of hold is one of: %(hold_kinds)s", hold_kinds=", ".join(HOLD_KINDS)))
    place_hold(
        db,
        actor=actor,
        item=item,
        kind=kind,
        basis=text(basis, label=N_("the basis of the hold"), max_len=2000, min_len=5),
        until=future_date(until, label=N_("the hold's end date"), today=now(db)),
    )
    return see_other(f"/console/evidence/{item.id}?done=hold-placed")


@router.post("/evidence/holds/{hold_id}/release")
def hold_release(
    request: Request,
    hold_id: DbId,
    db: DbSession,
    actor: Holder,
    csrf_token: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    verify_csrf(request, csrf_token)
    hold = queries.hold_by_id(db, hold_id)
    if hold.released_at is not None:
        raise InvalidInput(gettext("hold %(id)s was already released", id=hold.id))
    actions.release_hold(
        db,
        actor=actor,
        hold=hold,
        reason=text(reason, label=N_("the reason for releasing the hold"), max_len=2000, min_len=5),
    )
    return see_other(f"/console/evidence/{hold.item_id}?done=hold-released")


@router.post("/evidence/{item_id}/destruction-requests")
def destruction_request(
    request: Request,
    item_id: DbId,
    db: DbSession,
    actor: Legal,
    csrf_token: Annotated[str, Form()] = "",
    basis: Annotated[str, Form()] = "",
    agency: Annotated[str, Form()] = "",
    reference: Annotated[str, Form()] = "",
) -> Response:
    verify_csrf(request, csrf_token)
    item = item_by_id(db, item_id)
    if item.state != "stored":
        raise InvalidInput(
            gettext("evidence item %(id)s is %(state)s: there is nothing to destroy", id=item.id, state=item.state)
        )
    authority_flows.record_destruction_request(
        db,
        actor=actor,
        item=item,
        basis=text(
            basis,
            label=N_("the law-enforcement request (who asked, when, under what authority)"),
            max_len=2000,
            min_len=20,
        ),
        agency=text(agency, label=N_("the agency"), max_len=300, min_len=2) if agency.strip() else None,
        reference=text(reference, label=N_("the agency's reference"), max_len=200, min_len=1)
        if reference.strip()
        else None,
    )
    return see_other(f"/console/evidence/{item.id}?done=destruction-requested")


@router.post("/evidence/destruction-requests/{request_id}/approve")
def destruction_approve(
    request: Request,
    request_id: DbId,
    db: DbSession,
    actor: Viewer,
    csrf_token: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
) -> Response:
    verify_csrf(request, csrf_token)
    found = queries.destruction_request(db, request_id)
    if confirm != "yes":
        raise InvalidInput(gettext("tick the box to confirm that the item is to be destroyed; this cannot be undone"))
    item = authority_flows.approve_destruction(db, actor=actor, vault=request.app.state.vault, request=found)
    return see_other(f"/console/evidence/{item.id}?done=destroyed")
