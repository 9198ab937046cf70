"""The review queue page: cases in priority and deadline order, claim, release and "next case"."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from staydown.actors import Actor
from staydown.cases import actions
from staydown.cases.models import Case, CaseState, TrackState
from staydown.db import now
from staydown.errors import Conflict, PermissionDenied
from staydown.http import DbSession, require
from staydown.staff.permissions import Permission
from staydown.web.console.access import visible_case
from staydown.web.console.session import console_session
from staydown.web.security import verify_csrf
from staydown.web.templating import render
from staydown.limits import DbId

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False,
                   dependencies=[Depends(console_session)])

Reader = Annotated[Actor, Depends(require(Permission.CASES_READ))]
Reviewer = Annotated[Actor, Depends(require(Permission.CASES_REVIEW))]

AREA_PATTERN = r"^[a-z_]{1,30}$"


def remaining_text(due: datetime | None, at: datetime) -> str:
    """The countdown as text, for the page without JavaScript (console.js then ticks it)."""
    if due is None:
        return ""
    seconds = int((due - at).total_seconds())
    sign = "overdue by " if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    text = f"{days}d {hours}h {minutes:02d}m" if days else f"{hours}h {minutes:02d}m"
    return sign + text + ("" if sign else " left")


def live_tracks(case: Case) -> list:
    return [t for t in case.tracks if t.state in (TrackState.open.value, TrackState.waiting.value)]


def queue_context(db: DbSession, actor: Actor, area: str | None, state: str) -> dict:
    include_cs = Permission.CHILD_SAFETY_CASES.value in actor.permissions
    cases = actions.queue(db, area=area, state=state, limit=100, include_child_safety=include_cs)
    areas = sorted(set(db.execute(sa.select(Case.area).where(Case.state.in_(actions.OPEN_STATES))
                                  .distinct()).scalars()))
    return {"cases": cases, "area": area or "", "areas": areas, "state": state, "at": now(db),
            "remaining": remaining_text, "live_tracks": live_tracks,
            "can_review": Permission.CASES_REVIEW.value in actor.permissions, "me": actor.ref}


@router.get("/queue")
def queue_page(request: Request, db: DbSession, actor: Reader,
               area: Annotated[str | None, Query(pattern=AREA_PATTERN)] = None,
               state: Annotated[str, Query(pattern="^(open|second_review)$")] = "open") -> Response:
    ctx = queue_context(db, actor, area or None, state)
    if request.headers.get("hx-request") and request.headers.get("hx-target") == "queue-table":
        return render(request, "console/partials/queue_table.html", ctx)
    return render(request, "console/queue.html", ctx)


@router.post("/queue/next")
def next_case(request: Request, db: DbSession, actor: Reviewer,
              csrf_token: Annotated[str, Form(max_length=200)] = "",
              area: Annotated[str, Form(max_length=30)] = "") -> Response:
    """Claim the first case in the queue that this reviewer may work and nobody else holds."""
    verify_csrf(request, csrf_token)
    include_cs = Permission.CHILD_SAFETY_CASES.value in actor.permissions
    when = now(db)
    for case in actions.queue(db, area=area or None, state=CaseState.open.value, limit=100,
                              include_child_safety=include_cs):
        if case.claimed_by == actor.ref and case.claim_expires_at and case.claim_expires_at > when:
            return RedirectResponse(f"/console/cases/{case.id}", status_code=303)
        if case.claimed_by and case.claim_expires_at and case.claim_expires_at > when:
            continue
        locked = actions.case_by_id(db, case.id, for_update=True)
        try:
            actions.claim_case(db, actor=actor, case=locked, rules=request.app.state.case_rules)
        except (Conflict, PermissionDenied):
            continue
        return RedirectResponse(f"/console/cases/{case.id}", status_code=303)
    ctx = queue_context(db, actor, area or None, CaseState.open.value)
    ctx["message"] = "There is no unclaimed case you can work in this queue right now."
    return render(request, "console/queue.html", ctx)


@router.post("/cases/{case_id}/claim")
def claim(case_id: DbId, request: Request, db: DbSession, actor: Reviewer,
          csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    verify_csrf(request, csrf_token)
    case = visible_case(db, actor, case_id, for_update=True)
    actions.claim_case(db, actor=actor, case=case, rules=request.app.state.case_rules)
    return RedirectResponse(f"/console/cases/{case.id}", status_code=303)


@router.post("/cases/{case_id}/release")
def release(case_id: DbId, request: Request, db: DbSession, actor: Reviewer,
            csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    verify_csrf(request, csrf_token)
    case = visible_case(db, actor, case_id, for_update=True)
    actions.release_case(db, actor=actor, case=case)
    return RedirectResponse("/console/queue", status_code=303)
