"""Console page for hash exchanges: each with its state, last fetch and counts; a fetch now, for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from staydown.actors import Actor
from staydown.exchanges.actions import exchange_by_name, request_fetch, statuses
from staydown.exchanges.kinds import KINDS
from staydown.http import DbSession, require
from staydown.i18n import gettext
from staydown.staff.permissions import Permission
from staydown.web.console.page_forms import see_other
from staydown.web.console.session import console_session
from staydown.web.security import verify_csrf
from staydown.web.templating import render

router = APIRouter(prefix="/console", dependencies=[Depends(console_session)], include_in_schema=False)

Reader = Annotated[Actor, Depends(require(Permission.BANKS_READ))]
Admin = Annotated[Actor, Depends(require(Permission.EXCHANGES_ADMIN))]


@router.get("/exchanges", response_class=HTMLResponse)
def exchange_list(request: Request, db: DbSession, _: Reader, queued: str | None = None) -> Response:
    rows = statuses(db)
    done = None
    if queued and any(s.exchange.name == queued for s in rows):
        done = gettext("A fetch of %(name)s is queued; the worker runs it next.", name=queued)
    return render(request, "console/exchanges.html", {"rows": rows, "kinds": KINDS, "done": done})


@router.post("/exchanges/{name}/fetch")
def exchange_fetch(
    request: Request, name: str, db: DbSession, actor: Admin, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    verify_csrf(request, csrf_token)
    request_fetch(db, exchange=exchange_by_name(db, name), actor=actor)
    return see_other(f"/console/exchanges?queued={name}")
