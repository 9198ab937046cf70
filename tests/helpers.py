"""Small helpers shared by tests."""

from __future__ import annotations

from staydown.actors import SYSTEM
from staydown.db import Database
from staydown.staff.actions import create_api_client, create_staff_user


def make_key(database: Database, scopes: list[str]) -> str:
    with database.unit_of_work() as session:
        return create_api_client(session, actor=SYSTEM, name="scoped", scopes=scopes).key


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


PASSWORD = "correct horse battery staple"


def make_staff(database: Database, username: str, *roles: str) -> None:
    with database.unit_of_work() as db:
        create_staff_user(db, actor=SYSTEM, username=username, roles=list(roles), password=PASSWORD)


def sign_in(client, username: str) -> dict[str, str]:
    r = client.post("/v1/auth/sign-in", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}
