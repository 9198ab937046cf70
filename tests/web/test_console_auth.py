"""Console sign-in: argon2id passwords, cookie sessions, CSRF on every form, lockout, TOTP, sign-out."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from fastapi.routing import APIRoute

from staydown.audit.models import AuditEvent
from staydown.clock import FrozenClock
from staydown.db import Database
from staydown.http import declared_permission, iter_routes
from staydown.staff import totp as auth  # the TOTP primitives the console uses
from staydown.staff.models import StaffUser
from staydown.staff.permissions import Permission
from staydown.web.console.session import console_session
from tests.helpers import PASSWORD, make_staff
from tests.web.console_support import browser, login, token


def test_sign_in_sets_a_strict_httponly_cookie_and_rotates_csrf(app, client, database: Database) -> None:
    make_staff(database, "mo", "moderator")
    c = browser(app)
    page = c.get("/console/login")
    assert page.status_code == 200 and 'name="password"' in page.text
    before = c.cookies.get("sd_csrf")
    r = c.post(
        "/console/login",
        data={"username": "mo", "password": PASSWORD, "csrf_token": token(page.text), "next": "/console/queue"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/console/queue"
    cookies = r.headers.get_list("set-cookie")
    session = next(h for h in cookies if h.startswith("sd_session="))
    assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/console" in session
    assert "Secure" not in session  # plain http in tests; https sets Secure
    assert c.cookies.get("sd_csrf") != before  # rotated at sign-in
    # The token from the page before sign-in no longer works after it.
    assert c.post("/console/logout", data={"csrf_token": token(page.text)}).status_code == 403
    assert c.get("/console/queue").status_code == 200


def test_unknown_user_and_wrong_password_get_the_same_message(app, client, database: Database) -> None:
    make_staff(database, "mo", "moderator")
    c = browser(app)
    page = c.get("/console/login")
    wrong = c.post(
        "/console/login", data={"username": "mo", "password": "nope-nope-nope", "csrf_token": token(page.text)}
    )
    nobody = c.post(
        "/console/login", data={"username": "ghost", "password": "nope-nope-nope", "csrf_token": token(page.text)}
    )
    assert wrong.status_code == nobody.status_code == 401
    assert (
        "The user name or password is not right." in wrong.text
        and "The user name or password is not right." in nobody.text
    )
    assert "sd_session" not in c.cookies


def test_repeated_failures_make_this_source_wait_with_a_clear_message(
    app, client, database: Database, clock: FrozenClock
) -> None:
    make_staff(database, "mo", "moderator")
    c = browser(app)
    t = token(c.get("/console/login").text)
    for attempt in range(5):
        r = c.post("/console/login", data={"username": "mo", "password": "wrong password!", "csrf_token": t})
        assert r.status_code == 401, attempt
    # Even the right password waits, from this source, with a clear message and Retry-After.
    r = c.post("/console/login", data={"username": "mo", "password": PASSWORD, "csrf_token": t})
    assert r.status_code == 429 and "Too many failed sign-ins" in r.text and r.headers["retry-after"] == "15"
    with database.unit_of_work(write=False) as db:
        tags = list(db.execute(sa.select(AuditEvent.tag)).scalars())
        assert "staff:session:lockout" not in tags  # no account is locked (issue 16 item 4)
    clock.advance(seconds=16)
    r = c.post("/console/login", data={"username": "mo", "password": PASSWORD, "csrf_token": t})
    assert r.status_code == 303


def test_forged_posts_without_the_csrf_token_are_refused(app, client, database: Database) -> None:
    make_staff(database, "mo", "moderator")
    c = browser(app)
    c.get("/console/login")
    # A cross-site form can't read the cookie, so it can't send the matching token.
    assert c.post("/console/login", data={"username": "mo", "password": PASSWORD}).status_code == 403
    assert (
        c.post("/console/login", data={"username": "mo", "password": PASSWORD, "csrf_token": "0" * 64}).status_code
        == 403
    )
    signed_in = login(app, "mo")
    for url in ("/console/logout", "/console/queue/next", "/console/cases/1/claim", "/console/cases/1/decision"):
        r = signed_in.post(url, data={"csrf_token": "forged"})
        assert r.status_code == 403, url
        assert "did not come from this site" in r.text


def test_open_redirects_are_refused(app, client, database: Database) -> None:
    make_staff(database, "mo", "moderator")
    c = browser(app)
    t = token(c.get("/console/login").text)
    r = c.post(
        "/console/login",
        data={"username": "mo", "password": PASSWORD, "csrf_token": t, "next": "https://evil.example/console"},
    )
    assert r.headers["location"] == "/console/queue"


def test_pages_send_a_signed_out_browser_to_sign_in(app, client) -> None:
    c = browser(app)
    r = c.get("/console/cases/5")
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login?next=")


def test_logout_ends_the_session_on_the_server(app, client, database: Database) -> None:
    make_staff(database, "mo", "moderator")
    c = login(app, "mo")
    stolen = c.cookies.get("sd_session")
    page = c.get("/console/queue")
    r = c.post("/console/logout", data={"csrf_token": token(page.text)})
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    other = browser(app)
    other.cookies.set("sd_session", stolen, path="/console")
    assert other.get("/console/queue").status_code == 303  # the copied cookie is dead too


def test_totp_rfc6238_reference_values() -> None:
    """RFC 6238 appendix B, SHA-1 secret '12345678901234567890' (last six digits)."""
    secret = base64.b32encode(b"12345678901234567890").decode()
    for seconds, expected in ((59, "287082"), (1111111109, "081804"), (1234567890, "005924"), (2000000000, "279037")):
        assert auth.totp_now(secret, datetime.fromtimestamp(seconds, tz=UTC)) == expected


def test_totp_enrol_then_sign_in_needs_a_fresh_code(app, client, database: Database, clock: FrozenClock) -> None:
    make_staff(database, "mo", "moderator")
    c = login(app, "mo")
    page = c.get("/console/account/totp")
    assert page.status_code == 200 and "otpauth://totp/staydown%3Amo?secret=" in page.text
    secret = page.text.split('id="totp-secret">')[1].split("<")[0]
    r = c.post("/console/account/totp", data={"csrf_token": token(page.text), "secret": secret, "code": "000000"})
    assert r.status_code == 422 and "does not match" in r.text
    r = c.post(
        "/console/account/totp",
        data={"csrf_token": token(page.text), "secret": secret, "code": auth.totp_now(secret, clock.now())},
    )
    assert r.status_code == 200 and "Two-step sign-in is on" in r.text
    with database.unit_of_work(write=False) as db:
        assert db.execute(sa.select(StaffUser.totp_secret).where(StaffUser.username == "mo")).scalar_one() == secret

    fresh = browser(app)
    t = token(fresh.get("/console/login").text)
    r = fresh.post("/console/login", data={"username": "mo", "password": PASSWORD, "csrf_token": t})
    assert r.status_code == 303 and r.headers["location"] == "/console/login/totp"
    assert "sd_session" not in fresh.cookies  # no session before the second step
    assert fresh.get("/console/queue").status_code == 303
    page = fresh.get("/console/login/totp")
    # The code used at enrolment was consumed: the same step is a replay.
    used = auth.totp_now(secret, clock.now())
    r = fresh.post("/console/login/totp", data={"csrf_token": token(page.text), "code": used})
    assert r.status_code == 401 and "already used" in r.text
    clock.advance(seconds=30)
    r = fresh.post(
        "/console/login/totp", data={"csrf_token": token(page.text), "code": auth.totp_now(secret, clock.now())}
    )
    assert r.status_code == 303 and fresh.get("/console/queue").status_code == 200
    # One step of drift either way is accepted; two are not.
    assert (
        auth.match_totp(secret, auth.totp_now(secret, clock.now() + timedelta(seconds=30)), clock.now(), after_step=0)
        is not None
    )
    assert (
        auth.match_totp(secret, auth.totp_now(secret, clock.now() + timedelta(seconds=90)), clock.now(), after_step=0)
        is None
    )

    # Replacing the secret in use needs a code from the present device: a stolen session is not enough.
    page = fresh.get("/console/account/totp")
    new_secret = page.text.split('id="totp-secret">')[1].split("<")[0]
    r = fresh.post(
        "/console/account/totp",
        data={"csrf_token": token(page.text), "secret": new_secret, "code": auth.totp_now(new_secret, clock.now())},
    )
    assert r.status_code == 422 and "present device" in r.text
    r = fresh.post(
        "/console/account/totp",
        data={
            "csrf_token": token(page.text),
            "secret": new_secret,
            "code": auth.totp_now(new_secret, clock.now()),
            "current_code": auth.totp_now(secret, clock.now()),
        },
    )
    assert r.status_code == 200 and "Two-step sign-in is on" in r.text
    with database.unit_of_work(write=False) as db:
        assert db.execute(sa.select(StaffUser.totp_secret).where(StaffUser.username == "mo")).scalar_one() == new_secret


def test_wrong_totp_codes_count_towards_the_throttle(app, client, database: Database, clock: FrozenClock) -> None:
    make_staff(database, "mo", "moderator")
    with database.unit_of_work() as db:
        db.execute(sa.update(StaffUser).where(StaffUser.username == "mo").values(totp_secret=auth.new_totp_secret()))
    c = browser(app)
    t = token(c.get("/console/login").text)
    assert c.post("/console/login", data={"username": "mo", "password": PASSWORD, "csrf_token": t}).status_code == 303
    page = c.get("/console/login/totp")
    statuses = [
        c.post("/console/login/totp", data={"csrf_token": token(page.text), "code": "12345x"}).status_code
        for _ in range(6)
    ]
    assert statuses[:5] == [401] * 5 and statuses[5] == 429


def test_every_console_route_declares_a_permission_and_public_ones_are_the_sign_in_flow(app) -> None:
    """Each console view says what it needs; PUBLIC is only for signing in and out (and the
    own-account pages, which the router's session dependency guards)."""
    sign_in_flow = {"/console", "/console/login", "/console/login/totp", "/console/logout"}
    for path, route in iter_routes(app.routes):
        if not isinstance(route, APIRoute) or not path.startswith("/console"):
            continue
        permission = declared_permission(route)
        assert permission is not None, path
        if permission is Permission.PUBLIC and path not in sign_in_flow:
            calls = [d.call for d in route.dependant.dependencies]
            assert console_session in calls, f"{path} is PUBLIC without a console session"
