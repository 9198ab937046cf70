"""The console's global search and its pages per account and per item."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from staydown.actors import Actor
from staydown.errors import InvalidInput
from staydown.http import DbSession, require
from staydown.limits import DbId
from staydown.staff.permissions import Permission
from staydown.web.console import records
from staydown.web.console.session import console_session
from staydown.web.templating import render

router = APIRouter(
    prefix="/console", tags=["console"], include_in_schema=False, dependencies=[Depends(console_session)]
)

Reader = Annotated[Actor, Depends(require(Permission.CASES_READ))]


@router.get("/search")
def search_page(request: Request, db: DbSession, actor: Reader) -> Response:
    """One box for every identifier: an exact, single hit opens its page; anything else is a list."""
    q = request.query_params.get("q", "")
    error = ""
    try:
        hits = records.search(db, actor, q)
    except InvalidInput as exc:
        hits, error = [], exc.message
    exact = {h.url for h in hits if h.exact}
    if len(exact) == 1:
        return RedirectResponse(exact.pop(), status_code=303)
    return render(
        request,
        "console/search.html",
        {"q": q[: records.MAX_QUERY], "hits": hits, "error": error},
        status_code=422 if error else 200,
    )


def _record_context(actor: Actor, record: records.Record) -> dict:
    return {
        "record": record,
        "statement_of": record.statement_of(),
        "can_appeals": Permission.APPEALS_DECIDE.value in actor.permissions,
    }


@router.get("/accounts/{account_id}")
def account_page(account_id: DbId, request: Request, db: DbSession, actor: Reader) -> Response:
    account = records.account_by_id(db, account_id)
    ctx = _record_context(actor, records.account_record(db, actor, account))
    return render(request, "console/account.html", {**ctx, "account": account})


@router.get("/content/{content_id}")
def content_page(content_id: DbId, request: Request, db: DbSession, actor: Reader) -> Response:
    content = records.content_by_id(db, actor, content_id)
    ctx = _record_context(actor, records.content_record(db, actor, content))
    return render(request, "console/content.html", {**ctx, "content": content})
