"""Console sign-in and sign-out, with optional TOTP (RFC 6238) as a second step and its enrolment."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor
from staydown.audit import AuditTag
from staydown.db import now
from staydown.errors import InvalidInput, RateLimited, Unauthenticated
from staydown.http import DbSession, rate_limited, require
from staydown.i18n import N_, gettext
from staydown.staff import sessions, totp
from staydown.staff.api import check_sign_in_throttle, sign_in_failed, sign_in_succeeded
from staydown.staff.models import StaffUser
from staydown.staff.permissions import Permission
from staydown.staff.totp import TotpState, match_totp, new_totp_secret, otpauth_uri
from staydown.web.console.session import (
    clear_session_cookie,
    console_session,
    session_token,
    set_session_cookie,
)
from staydown.web.security import is_https, rotate_csrf, set_csrf_cookie, verify_csrf
from staydown.web.templating import render

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)
# Pages for any signed-in person (their own account): the router's session dependency is the
# gate, so the declared permission is PUBLIC on top of a required console session.
account_router = APIRouter(
    prefix="/console/account", tags=["console"], include_in_schema=False, dependencies=[Depends(console_session)]
)

Public = Annotated[Actor, Depends(require(Permission.PUBLIC))]

WRONG = N_("The user name or password is not right.")
PENDING_COOKIE = "sd_totp"
PENDING_LIFETIME = timedelta(minutes=5)


# -- the pending second step: a signed, short-lived cookie naming the user -------------------


def _pending_sig(request: Request, value: str) -> str:
    secret = request.app.state.settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, b"totp-pending:" + value.encode(), hashlib.sha256).hexdigest()


def _pending_value(request: Request, user_id: int, until: datetime, next_path: str) -> str:
    value = f"{user_id}.{int(until.timestamp())}.{base64.urlsafe_b64encode(next_path.encode()).decode()}"
    return f"{value}.{_pending_sig(request, value)}"


def _read_pending(request: Request, at: datetime) -> tuple[int, str] | None:
    raw = request.cookies.get(PENDING_COOKIE, "")
    if not raw or len(raw) > 1000 or raw.count(".") != 3:
        return None
    value, _, sig = raw.rpartition(".")
    if not hmac.compare_digest(_pending_sig(request, value), sig):
        return None
    user_id, until, next_b64 = value.split(".")
    if int(until) < at.timestamp():
        return None
    try:
        return int(user_id), base64.urlsafe_b64decode(next_b64.encode()).decode()
    except ValueError:
        return None


# -- sign-in ---------------------------------------------------------------------------------


def safe_next(value: str | None) -> str:
    """Only a console path on this site: an open redirect would make the sign-in page a phishing aid."""
    if value and value.startswith("/console") and not value.startswith("//") and "\\" not in value and len(value) < 500:
        return value
    return "/console/queue"


def _login_page(
    request: Request, *, next_path: str, error: str = "", status: int = 200, username: str = ""
) -> Response:
    return render(
        request, "console/login.html", {"next": next_path, "error": error, "username": username}, status_code=status
    )


def _signed_in(request: Request, new: sessions.NewSession, next_path: str) -> Response:
    rotate_csrf(request)  # a token seen before sign-in must not work after it
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(request, response, new.token, int(sessions.SESSION_LIFETIME.total_seconds()))
    set_csrf_cookie(request, response)
    response.delete_cookie(PENDING_COOKIE, path="/console/login")
    return response


@router.get("/login")
def login_page(request: Request, _: Public, next: str | None = None) -> Response:
    return _login_page(request, next_path=safe_next(next))


@router.post("/login", dependencies=[Depends(rate_limited("console-login", 20))])
def login(
    request: Request,
    db: DbSession,
    _: Public,
    username: Annotated[str, Form(max_length=80)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    verify_csrf(request, csrf_token)
    next_path = safe_next(next)
    if not username or not password:
        return _login_page(
            request,
            next_path=next_path,
            error=gettext("Enter your user name and password."),
            status=422,
            username=username,
        )
    try:
        check_sign_in_throttle(request, username)
    except RateLimited as exc:
        return _throttled(
            _login_page(request, next_path=next_path, status=429, username=username, error=exc.message), exc
        )
    user = db.execute(sa.select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()
    try:
        if user is not None and user.totp_secret:
            sessions.check_password(db, username=username, password=password)
            when = now(db)
            response = RedirectResponse("/console/login/totp", status_code=303)
            response.set_cookie(
                PENDING_COOKIE,
                _pending_value(request, user.id, when + PENDING_LIFETIME, next_path),
                max_age=int(PENDING_LIFETIME.total_seconds()),
                httponly=True,
                samesite="strict",
                secure=is_https(request),
                path="/console/login",
            )
            return response
        new = sessions.sign_in(db, username=username, password=password)
    except Unauthenticated:
        # One answer for every failure (no such name, wrong password, deactivated account).
        db.rollback()
        sign_in_failed(request, username)
        return _login_page(request, next_path=next_path, status=401, username=username, error=gettext(WRONG))
    sign_in_succeeded(request, username)
    return _signed_in(request, new, next_path)


def _throttled(response: Response, exc: RateLimited) -> Response:
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


@router.get("/login/totp")
def totp_page(request: Request, db: DbSession, _: Public) -> Response:
    if _read_pending(request, now(db)) is None:
        return RedirectResponse("/console/login", status_code=303)
    return render(request, "console/totp.html", {"error": ""})


@router.post("/login/totp", dependencies=[Depends(rate_limited("console-login", 20))])
def totp_submit(
    request: Request,
    db: DbSession,
    _: Public,
    code: Annotated[str, Form(max_length=20)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    verify_csrf(request, csrf_token)
    when = now(db)
    pending = _read_pending(request, when)
    if pending is None:
        return RedirectResponse("/console/login", status_code=303)
    user_id, next_path = pending
    user = db.get(StaffUser, user_id)
    if user is None or not user.is_active or not user.totp_secret:
        return RedirectResponse("/console/login", status_code=303)
    try:
        check_sign_in_throttle(request, user.username)
    except RateLimited as exc:
        return _throttled(render(request, "console/totp.html", {"error": exc.message}, status_code=429), exc)
    if not totp.use_code(db, user=user, code=code, at=when):
        db.rollback()
        sign_in_failed(request, user.username)
        return render(
            request,
            "console/totp.html",
            {"error": gettext("That code is not right, or was already used. Enter the current code.")},
            status_code=401,
        )
    sign_in_succeeded(request, user.username)
    new = sessions.open_session(db, user=user, details={"second_factor": "totp", "via": "console"})
    return _signed_in(request, new, next_path)


@router.post("/logout")
def logout(
    request: Request, db: DbSession, _: Public, csrf_token: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    """Sign out: the session ends on the server, not only in this browser. Declared PUBLIC so
    that an expired session can still sign out cleanly; the CSRF check stops a forged sign-out."""
    verify_csrf(request, csrf_token)
    token = session_token(request)
    if token is not None:
        try:
            actor = sessions.authenticate_session(db, token)
            audit.record(
                db, actor=actor, tag=AuditTag.STAFF_SIGN_OUT, subject_type="staff_user", subject_id=actor.id, data={}
            )
        except Unauthenticated:
            pass
        sessions.sign_out(db, token=token)
    rotate_csrf(request)
    response = RedirectResponse("/console/login", status_code=303)
    clear_session_cookie(response)
    set_csrf_cookie(request, response)
    return response


@router.get("")
def console_home(request: Request, _: Public) -> Response:
    # The brand link: the queue, or sign-in when there is no session (the queue redirects).
    return RedirectResponse("/console/queue", status_code=303)


# -- enrolment (own account) -------------------------------------------------------------------


def _me(request: Request, db: Session) -> StaffUser:
    actor: Actor = request.state.staff_actor
    user = db.get(StaffUser, int(actor.id))
    if user is None:
        raise Unauthenticated("sign in again")
    return user


@account_router.get("/totp")
def totp_enrol_page(request: Request, db: DbSession, _: Public) -> Response:
    user = _me(request, db)
    secret = new_totp_secret()
    return render(
        request,
        "console/totp_enrol.html",
        {
            "enabled": bool(user.totp_secret),
            "secret": secret,
            "uri": otpauth_uri(secret, user.username),
            "error": "",
            "message": "",
        },
    )


@account_router.post("/totp")
def totp_enrol(
    request: Request,
    db: DbSession,
    _: Public,
    secret: Annotated[str, Form(max_length=64)] = "",
    code: Annotated[str, Form(max_length=20)] = "",
    current_code: Annotated[str, Form(max_length=20)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Turn TOTP on: the new secret takes effect only once a code made from it is entered, so a
    mistyped secret can't lock its owner out. Replacing a secret already in use also needs a code
    from the current device: a stolen session must not be enough to take over the second factor."""
    verify_csrf(request, csrf_token)
    user = _me(request, db)
    when = now(db)
    try:
        if user.totp_secret and match_totp(user.totp_secret, current_code, when, after_step=-1) is None:
            raise InvalidInput(
                gettext(
                    "two-step sign-in is already on: enter a current code from your present "
                    "device to replace it (lost the device? an administrator can reset it)"
                )
            )
        if len(secret) < 26 or not all(c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for c in secret):
            raise InvalidInput(gettext("the secret was changed; start again from this page"))
        step = match_totp(secret, code, when, after_step=0)
        if step is None:
            raise InvalidInput(
                gettext("that code does not match the secret: check the device's clock and enter the current code")
            )
    except InvalidInput as exc:
        return render(
            request,
            "console/totp_enrol.html",
            {
                "enabled": bool(user.totp_secret),
                "secret": secret,
                "uri": otpauth_uri(secret, user.username),
                "error": exc.message,
                "message": "",
            },
            status_code=422,
        )
    user.totp_secret = secret
    user.updated_at = when
    state = db.get(TotpState, user.id)
    if state is None:
        db.add(TotpState(user_id=user.id, last_step=step, enrolled_at=when))
    else:
        state.last_step, state.enrolled_at = step, when
    audit.record(
        db,
        actor=request.state.staff_actor,
        tag=AuditTag.STAFF_TOTP_ENROL,
        subject_type="staff_user",
        subject_id=user.id,
        data={},
    )
    return render(
        request,
        "console/totp_enrol.html",
        {
            "enabled": True,
            "secret": "",
            "uri": "",
            "error": "",
            "message": gettext("Two-step sign-in is on. From now on you will be asked for a code after your password."),
        },
    )
