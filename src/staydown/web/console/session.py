"""The console's cookie session: the same staff sessions as the review API, carried in a cookie.

`console_session` is a router-level dependency: it reads the cookie, authenticates the session and
sets `request.state.staff_actor`, so that each view's `require(Permission.X)` sees the signed-in
person. Without a valid session a page request is sent to the sign-in page."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from staydown.actors import Actor
from staydown.errors import Unauthenticated
from staydown.http import DbSession
from staydown.i18n import gettext
from staydown.staff.sessions import SESSION_PREFIX, authenticate_session
from staydown.web.security import is_https

SESSION_COOKIE = "sd_session"
LOGIN_PATH = "/console/login"


class LoginRequired(Unauthenticated):
    """No valid console session: the browser is sent to the sign-in page (HTMX gets HX-Redirect)."""

    code = "login_required"


def session_token(request: Request) -> str | None:
    token = request.cookies.get(SESSION_COOKIE)
    if token and token.startswith(SESSION_PREFIX) and len(token) < 200:
        return token
    return None


def console_session(request: Request, db: DbSession) -> Actor:
    token = session_token(request)
    if token is None:
        raise LoginRequired(gettext("sign in to use the console"))
    try:
        actor = authenticate_session(db, token)
    except Unauthenticated as exc:
        raise LoginRequired(exc.message) from None
    request.state.staff_actor = actor
    request.state.staff = actor
    return actor


def set_session_cookie(request: Request, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        secure=is_https(request),
        samesite="strict",
        path="/console",
    )


def clear_session_cookie(response: object) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/console")  # type: ignore[attr-defined]


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"{LOGIN_PATH}?next={quote(target, safe='')}"
    response = RedirectResponse(location, status_code=303)
    if request.headers.get("hx-request"):
        response.headers["HX-Redirect"] = location
    return response
