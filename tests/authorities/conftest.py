"""Fixtures for intake and review: staff with roles, signed in over HTTP."""

from __future__ import annotations

import pytest

from staydown.actors import SYSTEM
from staydown.db import Database
from staydown.staff.actions import create_staff_user

PASSWORD = "correct horse battery staple"


def make_staff(database: Database, username: str, *roles: str) -> None:
    with database.unit_of_work() as db:
        create_staff_user(db, actor=SYSTEM, username=username, roles=list(roles), password=PASSWORD)


def sign_in(client, username: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    r = client.post("/v1/auth/sign-in", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture
def staff(database: Database, client):  # type: ignore[no-untyped-def]
    """Signed-in headers for a moderator, two child-safety specialists and a senior moderator."""
    make_staff(database, "mo", "moderator")
    make_staff(database, "cs1", "child_safety")
    make_staff(database, "cs2", "child_safety")
    make_staff(database, "senior", "senior_moderator")
    return {name: sign_in(client, name) for name in ("mo", "cs1", "cs2", "senior")}
