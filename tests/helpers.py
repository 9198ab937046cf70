"""Small helpers shared by tests."""

from __future__ import annotations

from staydown.db import Database


def make_key(database: Database, scopes: list[str]) -> str:
    from staydown.actors import SYSTEM
    from staydown.staff.actions import create_api_client

    with database.unit_of_work() as session:
        return create_api_client(session, actor=SYSTEM, name="scoped", scopes=scopes).key


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
