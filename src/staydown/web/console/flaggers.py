"""Console page for trusted flaggers (DSA Art. 22): the registry with fields of expertise and accuracy,
and adding one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from staydown.actors import Actor
from staydown.errors import InvalidInput
from staydown.http import DbSession, require
from staydown.i18n import N_, gettext
from staydown.intake import misuse
from staydown.intake.schemas import EMAIL_RE
from staydown.policies.vocab import AREAS
from staydown.staff.permissions import Permission
from staydown.web.console import queries
from staydown.web.console.page_forms import done_message, optional_text, see_other, text
from staydown.web.console.session import console_session
from staydown.web.security import verify_csrf
from staydown.web.templating import render

router = APIRouter(prefix="/console", dependencies=[Depends(console_session)], include_in_schema=False)

Reader = Annotated[Actor, Depends(require(Permission.CASES_READ))]
# The same permission as POST /v1/trusted-flaggers: designating a flagger is an administrative act.
Admin = Annotated[Actor, Depends(require(Permission.STAFF_ADMIN))]


@router.get("/trusted-flaggers", response_class=HTMLResponse)
def flagger_list(request: Request, db: DbSession, _: Reader, done: str | None = None) -> Response:
    figures = {f.flagger_id: f for f in misuse.flagger_figures(db)}
    return render(
        request,
        "console/flaggers.html",
        {"flaggers": queries.trusted_flaggers(db), "figures": figures, "areas": AREAS, "done": done_message(done)},
    )


@router.post("/trusted-flaggers")
def flagger_add(
    request: Request,
    db: DbSession,
    actor: Admin,
    csrf_token: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    designated_by: Annotated[str, Form()] = "",
    contact_email: Annotated[str, Form()] = "",
    areas: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies the default for each request
) -> Response:
    verify_csrf(request, csrf_token)
    email = optional_text(contact_email, label=N_("the contact e-mail"), max_len=320)
    if email is not None and not EMAIL_RE.match(email):
        raise InvalidInput(gettext("the contact e-mail does not look like an address (name@example.org)"))
    if len(areas) > len(AREAS):
        raise InvalidInput(gettext("too many fields of expertise"))
    misuse.register_trusted_flagger(
        db,
        actor=actor,
        name=text(name, label=N_("the flagger's name"), max_len=200),
        areas=areas,
        designated_by=text(designated_by, label=N_("who designated them"), max_len=200),
        contact_email=email,
    )
    return see_other("/console/trusted-flaggers?done=flagger-added")
