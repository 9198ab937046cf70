"""Staff sign-in over HTTP: a bearer session for the review API (the console uses cookies)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from staydown.actors import Actor
from staydown.http import DbSession, require, rate_limited
from staydown.staff import sessions
from staydown.staff.permissions import Permission

router = APIRouter(prefix="/v1/auth", tags=["staff"])

Public = Annotated[Actor, Depends(require(Permission.PUBLIC))]


class SignInIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=1024)


class SessionOut(BaseModel):
    token: str
    expires_at: datetime
    permissions: list[str]


@router.post("/sign-in", response_model=SessionOut, dependencies=[Depends(rate_limited("sign-in", 20))])
def sign_in(body: SignInIn, request: Request, db: DbSession, _: Public) -> SessionOut:
    try:
        new = sessions.sign_in(db, username=body.username, password=body.password)
    except sessions.SignInFailed as failed:
        # End this request's transaction first: on SQLite it holds the only write lock.
        db.rollback()
        if failed.user_id is not None:
            with request.app.state.database.unit_of_work() as own:
                sessions.record_failed_sign_in(own, user_id=failed.user_id)
        raise
    return SessionOut(token=new.token, expires_at=new.expires_at, permissions=sorted(new.actor.permissions))


@router.post("/sign-out", status_code=204)
def sign_out(request: Request, db: DbSession, _: Public) -> None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        sessions.sign_out(db, token=header[7:].strip())
