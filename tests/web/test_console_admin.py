"""Console administration: staff users and roles (CSAM-6: a minimal, audited list of people with
access) and API keys, shown once and revocable."""

from __future__ import annotations

import re

import sqlalchemy as sa

from staydown.audit.models import AuditEvent
from staydown.audit.tags import AuditTag
from staydown.db import Database
from staydown.staff.actions import staff_user_by_username
from staydown.staff.models import ApiClient
from staydown.staff.totp import new_totp_secret
from tests.helpers import PASSWORD, auth
from tests.web.console_helpers import ConsoleUser, console_user, session_token


def _events(database: Database, tag: AuditTag) -> list[AuditEvent]:
    with database.unit_of_work(write=False) as db:
        return list(
            db.execute(sa.select(AuditEvent).where(AuditEvent.tag == tag.value).order_by(AuditEvent.seq)).scalars()
        )


def _user_id(database: Database, username: str) -> int:
    with database.unit_of_work(write=False) as db:
        return staff_user_by_username(db, username).id


def test_csam6_admin_creates_staff_with_roles(client, database: Database) -> None:
    adm = console_user(client, database, "adm", "admin")
    r = adm.post(
        "/console/staff",
        {
            "username": "ana",
            "display_name": "Ana",
            "email": "ana@example.org",
            "password": PASSWORD,
            "roles": ["child_safety", "moderator"],
        },
    )
    assert r.status_code == 303
    ana_id = _user_id(database, "ana")
    assert r.headers["location"] == f"/console/staff/{ana_id}?done=staff-created"
    [event] = _events(database, AuditTag.STAFF_USER_CREATE)[-1:]
    assert event.data == {"username": "ana", "roles": ["child_safety", "moderator"], "has_password": True}
    assert event.actor_label == "adm"
    page = adm.get(f"/console/staff/{ana_id}?done=staff-created").text
    assert "The staff user was created." in page and "child_safety" in page
    # The new person can sign in and gets what the roles grant.
    ana = ConsoleUser(client, session_token(database, "ana"))
    assert ana.get("/console/evidence").status_code == 200
    assert "ana" in adm.get("/console/staff").text


def test_staff_form_validation(client, database: Database) -> None:
    adm = console_user(client, database, "adm", "admin")
    for data, why in (
        ({"username": "Bad Name", "roles": "moderator"}, "username"),
        ({"username": "bo", "roles": []}, "at least one role"),
        ({"username": "bo", "roles": "wizard"}, "unknown role"),
        ({"username": "bo", "roles": "moderator", "password": "short"}, "at least 12"),
        ({"username": "bo", "roles": "moderator", "email": "not-mail"}, "e-mail"),
        ({"username": "adm", "roles": "moderator"}, "already exists"),
    ):
        r = adm.post("/console/staff", data)
        assert r.status_code in (409, 422) and why in r.text, (data, r.status_code, r.text[:500])
    assert _events(database, AuditTag.STAFF_USER_CREATE)[-1].data["username"] == "adm"


def test_csam6_change_roles_and_deactivate(client, database: Database) -> None:
    adm = console_user(client, database, "adm", "admin")
    mo = console_user(client, database, "mo", "moderator")
    mo_id = _user_id(database, "mo")
    assert mo.get("/console/ncmec").status_code == 403
    r = adm.post(f"/console/staff/{mo_id}/roles", {"roles": ["moderator", "child_safety"]})
    assert r.status_code == 303
    [event] = _events(database, AuditTag.STAFF_USER_ROLES)
    assert event.data == {"old": ["moderator"], "new": ["child_safety", "moderator"]}
    # Permissions follow the roles at the next request: the session carries no stale grant.
    assert mo.get("/console/ncmec").status_code == 200
    assert adm.post(f"/console/staff/{mo_id}/deactivate", {"reason": ""}).status_code == 422
    r = adm.post(f"/console/staff/{mo_id}/deactivate", {"reason": "left the team"})
    assert r.status_code == 303
    [event] = _events(database, AuditTag.STAFF_USER_DEACTIVATE)
    assert event.data == {"reason": "left the team"} and event.subject_id == str(mo_id)
    # Their session stops working at once.
    r = mo.get("/console/dashboard", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
    assert "deactivated" in adm.get("/console/staff").text
    assert adm.post(f"/console/staff/{mo_id}/deactivate", {"reason": "again please"}).status_code == 422


def test_admin_cannot_lock_themselves_out(client, database: Database) -> None:
    adm = console_user(client, database, "adm", "admin")
    adm_id = _user_id(database, "adm")
    assert "Deactivate" not in adm.get(f"/console/staff/{adm_id}").text
    r = adm.post(f"/console/staff/{adm_id}/deactivate", {"reason": "oops, myself"})
    assert r.status_code == 409 and "your own account" in r.text
    r = adm.post(f"/console/staff/{adm_id}/roles", {"roles": ["auditor"]})
    assert r.status_code == 409
    assert adm.post(f"/console/staff/{adm_id}/roles", {"roles": ["admin", "auditor"]}).status_code == 303


def test_admin_sets_a_password(client, database: Database) -> None:
    adm = console_user(client, database, "adm", "admin")
    console_user(client, database, "mo", "moderator")
    mo_id = _user_id(database, "mo")
    assert adm.post(f"/console/staff/{mo_id}/password", {"password": "short"}).status_code == 422
    assert adm.post(f"/console/staff/{mo_id}/password", {"password": "x" * 201}).status_code == 422
    assert adm.post(f"/console/staff/{mo_id}/password", {"password": "a brand new passphrase"}).status_code == 303
    [event] = _events(database, AuditTag.STAFF_USER_PASSWORD)
    assert event.subject_id == str(mo_id) and event.data == {}
    assert adm.get("/console/staff/99999").status_code == 404


def test_api_key_is_shown_once_and_works_until_revoked(client, database: Database) -> None:
    adm = console_user(client, database, "adm", "admin")
    r = adm.post("/console/api-keys", {"name": "forum production", "scopes": ["actions:read", "scan"]})
    assert r.status_code == 201
    shown = re.search(r'value="(sd_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43})"', r.text)
    assert shown is not None, r.text
    key = shown.group(1)
    assert "shown only this once" in r.text and r.headers["cache-control"] == "no-store"
    [event] = _events(database, AuditTag.API_CLIENT_CREATE)
    assert event.data["scopes"] == ["actions:read", "scan"] and key not in str(event.data)
    listing = adm.get("/console/api-keys").text
    assert "forum production" in listing and key not in listing and key.split("_")[1] in listing
    assert client.get("/v1/actions", headers=auth(key)).status_code == 200
    with database.unit_of_work(write=False) as db:
        client_id = db.execute(sa.select(ApiClient.id).where(ApiClient.name == "forum production")).scalar_one()
    assert adm.post(f"/console/api-keys/{client_id}/revoke", {"reason": ""}).status_code == 422
    assert adm.post(f"/console/api-keys/{client_id}/revoke", {"reason": "rotated"}).status_code == 303
    [event] = _events(database, AuditTag.API_CLIENT_REVOKE)
    assert event.data["reason"] == "rotated"
    assert client.get("/v1/actions", headers=auth(key)).status_code == 401
    assert adm.post(f"/console/api-keys/{client_id}/revoke", {"reason": "rotated again"}).status_code == 409


def test_api_key_form_validation(client, database: Database) -> None:
    adm = console_user(client, database, "adm", "admin")
    for data, why in (
        ({"name": "", "scopes": "scan"}, "name"),
        ({"name": "k"}, "at least one scope"),
        ({"name": "k", "scopes": "staff:admin"}, "not grantable"),
        ({"name": "k" * 121, "scopes": "scan"}, "at most 120"),
    ):
        r = adm.post("/console/api-keys", data)
        assert r.status_code == 422 and why in r.text, (data, r.text[:400])
    assert _events(database, AuditTag.API_CLIENT_CREATE) == []


def test_admin_resets_a_lost_totp_device_on_the_record(client, database: Database) -> None:
    """A lost authenticator: an admin turns TOTP off with a reason; the person's sessions end and
    they sign in with the password until they enrol again. Not possible without a reason or CSRF."""
    adm = console_user(client, database, "adm", "admin")
    mo = console_user(client, database, "mo", "moderator")
    mo_id = _user_id(database, "mo")
    with database.unit_of_work() as db:
        db.get_one(staff_user_by_username(db, "mo").__class__, mo_id).totp_secret = new_totp_secret()
    assert "Reset two-step sign-in" in adm.get(f"/console/staff/{mo_id}").text
    assert adm.post(f"/console/staff/{mo_id}/totp-reset", {"reason": "x"}).status_code == 422
    assert adm.post(f"/console/staff/{mo_id}/totp-reset", {"reason": "lost phone"}, csrf="0" * 64).status_code == 403
    assert mo.get("/console/queue").status_code == 200
    r = adm.post(f"/console/staff/{mo_id}/totp-reset", {"reason": "lost phone, ticket 42"})
    assert r.status_code == 303 and r.headers["location"].endswith("done=totp-reset")
    [event] = _events(database, AuditTag.STAFF_TOTP_RESET)
    assert event.subject_id == str(mo_id) and event.data == {"reason": "lost phone, ticket 42"}
    with database.unit_of_work(write=False) as db:
        assert staff_user_by_username(db, "mo").totp_secret is None
    gone = mo.get("/console/queue", follow_redirects=False)  # the old session ended: back to sign-in
    assert gone.status_code == 303 and "/console/login" in gone.headers["location"]
    assert client.post("/v1/auth/sign-in", json={"username": "mo", "password": PASSWORD}).status_code == 200
    assert adm.post(f"/console/staff/{mo_id}/totp-reset", {"reason": "again please"}).status_code == 422
