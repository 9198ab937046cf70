"""TOTP protects the review API's sign-in as well as the console's (a second factor with a side door is none)."""

from __future__ import annotations

import sqlalchemy as sa

from staydown.clock import FrozenClock
from staydown.db import Database
from staydown.staff.models import StaffUser
from staydown.staff.totp import new_totp_secret, totp_now
from tests.helpers import PASSWORD, make_staff


def _turn_on_totp(database: Database, username: str) -> str:
    secret = new_totp_secret()
    with database.unit_of_work() as db:
        user = db.execute(sa.select(StaffUser).where(StaffUser.username == username)).scalar_one()
        user.totp_secret = secret
    return secret


def test_api_sign_in_needs_the_code_once_totp_is_on(client, database: Database, clock: FrozenClock) -> None:
    make_staff(database, "ana", "moderator")
    secret = _turn_on_totp(database, "ana")
    r = client.post("/v1/auth/sign-in", json={"username": "ana", "password": PASSWORD})
    assert r.status_code == 401 and "totp_code" in r.json()["message"]
    r = client.post(
        "/v1/auth/sign-in",
        json={
            "username": "ana",
            "password": PASSWORD,
            "totp_code": "000000" if totp_now(secret, clock.now()) != "000000" else "111111",
        },
    )
    assert r.status_code == 401 and "not right" in r.json()["message"]
    code = totp_now(secret, clock.now())
    r = client.post("/v1/auth/sign-in", json={"username": "ana", "password": PASSWORD, "totp_code": code})
    assert r.status_code == 200, r.text
    # The same code again is a replay.
    r = client.post("/v1/auth/sign-in", json={"username": "ana", "password": PASSWORD, "totp_code": code})
    assert r.status_code == 401


def test_wrong_codes_count_towards_the_throttle(client, database: Database, clock: FrozenClock) -> None:
    make_staff(database, "ben", "moderator")
    secret = _turn_on_totp(database, "ben")
    for _ in range(5):
        assert client.post("/v1/auth/sign-in", json={"username": "ben", "password": PASSWORD}).status_code == 401
    r = client.post(
        "/v1/auth/sign-in", json={"username": "ben", "password": PASSWORD, "totp_code": totp_now(secret, clock.now())}
    )
    assert r.status_code == 429 and "try again in" in r.json()["message"] and r.headers["retry-after"] == "15"


def test_accounts_without_totp_sign_in_with_the_password_alone(client, database: Database) -> None:
    make_staff(database, "cy", "moderator")
    assert client.post("/v1/auth/sign-in", json={"username": "cy", "password": PASSWORD}).status_code == 200
