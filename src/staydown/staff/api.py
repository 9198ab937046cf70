"""Staff sign-in over HTTP: a bearer session for the review API (the console uses cookies)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from staydown.actors import Actor
from staydown.apidocs import errors
from staydown.errors import RateLimited
from staydown.http import DbSession, client_address, rate_limited, require
from staydown.staff import sessions, totp
from staydown.staff.models import StaffUser
from staydown.staff.permissions import Permission
from staydown.staff.throttle import THROTTLED, SignInThrottle

router = APIRouter(prefix="/v1/auth", tags=["staff"])

Public = Annotated[Actor, Depends(require(Permission.PUBLIC))]


class SignInIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=1024)
    # Required when the account has TOTP on: the API is a way in too, not only the console.
    totp_code: str | None = Field(default=None, max_length=20)


class SessionOut(BaseModel):
    token: str
    expires_at: datetime
    permissions: list[str]


def _throttle_at(request: Request) -> tuple[SignInThrottle, str, float]:
    return (
        request.app.state.sign_in_throttle,
        client_address(request),
        request.app.state.database.clock.now().timestamp(),
    )


def check_sign_in_throttle(request: Request, username: str) -> None:
    """Refuse, before any password work, a source that failed too often with this name (429 with
    Retry-After; the same for a name that is no account)."""
    throttle, source, at = _throttle_at(request)
    wait = throttle.wait(source, username, at)
    if wait:
        seconds = math.ceil(wait)
        raise RateLimited(THROTTLED.format(seconds=seconds), retry_after=seconds)


def sign_in_failed(request: Request, username: str) -> None:
    throttle, source, at = _throttle_at(request)
    throttle.failed(source, username, at)


def sign_in_succeeded(request: Request, username: str) -> None:
    throttle, source, _ = _throttle_at(request)
    throttle.succeeded(source, username)


@router.post(
    "/sign-in", response_model=SessionOut, responses=errors(401), dependencies=[Depends(rate_limited("sign-in", 20))]
)
def sign_in(body: SignInIn, request: Request, db: DbSession, _: Public) -> SessionOut:
    check_sign_in_throttle(request, body.username)
    try:
        new = sessions.sign_in(db, username=body.username, password=body.password)
        user = db.get(StaffUser, int(new.actor.id))
        if user is not None and user.totp_secret and not totp.use_code(db, user=user, code=body.totp_code):
            # The password was right, so say what is missing; a wrong code counts as a failure.
            raise sessions.SignInFailed(
                user.id,
                message=(
                    "this account signs in with an authenticator code too: send 'totp_code'"
                    if not body.totp_code
                    else "the authenticator code is not right, or was already used"
                ),
            )
    except sessions.SignInFailed:
        # Nothing of a failure is written: the database would take longer for a real account.
        sign_in_failed(request, body.username)
        raise
    sign_in_succeeded(request, body.username)
    return SessionOut(token=new.token, expires_at=new.expires_at, permissions=sorted(new.actor.permissions))


@router.post("/sign-out", status_code=204)
def sign_out(request: Request, db: DbSession, _: Public) -> None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        sessions.sign_out(db, token=header[7:].strip())
