"""Console page for the audit log: events filtered by subject and tag, and a button that verifies the hash chain."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from staydown import audit
from staydown.actors import Actor
from staydown.errors import InvalidInput
from staydown.http import DbSession, require
from staydown.i18n import gettext
from staydown.staff.permissions import Permission
from staydown.web.console import queries
from staydown.web.console.page_forms import page_number
from staydown.web.console.session import console_session
from staydown.web.security import verify_csrf
from staydown.web.templating import render

router = APIRouter(prefix="/console", dependencies=[Depends(console_session)], include_in_schema=False)

Auditor = Annotated[Actor, Depends(require(Permission.AUDIT_READ))]


def _filters(subject_type: str, subject_id: str, tag: str) -> dict[str, str]:
    clean = {"subject_type": subject_type.strip(), "subject_id": subject_id.strip(), "tag": tag.strip()}
    for key, limit in (("subject_type", 40), ("subject_id", 200), ("tag", 80)):
        if len(clean[key]) > limit:
            raise InvalidInput(
                gettext("%(field)s is at most %(limit)s characters", field=key.replace("_", " "), limit=limit)
            )
    if clean["subject_id"] and not clean["subject_type"]:
        raise InvalidInput(gettext("give the subject type with the subject id (e.g. case and 42)"))
    return clean


def _page(
    request: Request, db: DbSession, filters: dict[str, str], page: int, result: object = None, status_code: int = 200
) -> Response:
    events = queries.audit_events(db, page=page, **filters)
    return render(
        request,
        "console/audit.html",
        {
            "events": events,
            "filters": filters,
            "head": audit.checkpoint(db),
            "result": result,
            "base": "/console/audit?" + urlencode({k: v for k, v in filters.items() if v}) + "&",
        },
        status_code=status_code,
    )


@router.get("/audit", response_class=HTMLResponse)
def audit_log(
    request: Request,
    db: DbSession,
    _: Auditor,
    subject_type: str = "",
    subject_id: str = "",
    tag: str = "",
    page: str = "1",
) -> Response:
    return _page(request, db, _filters(subject_type, subject_id, tag), page_number(page))


@router.post("/audit/verify", response_class=HTMLResponse)
def audit_verify(
    request: Request,
    db: DbSession,
    _: Auditor,
    csrf_token: Annotated[str, Form()] = "",
    pinned: Annotated[str, Form()] = "",
) -> Response:
    """POST, not GET: a full walk of the chain is work a stray link or prefetch should not start."""
    verify_csrf(request, csrf_token)
    checkpoint = audit.Checkpoint.parse(pinned) if pinned.strip() else None
    result = audit.verify(db, pinned=checkpoint)
    return _page(request, db, _filters("", "", ""), 1, result={"verify": result, "pinned": checkpoint})
