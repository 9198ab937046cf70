"""API keys are remembered for a few seconds after use (a platform's burst of notices reads the
key's row once), yet a revocation in this process takes effect as soon as it commits."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from staydown.actors import SYSTEM
from staydown.db import Database
from staydown.errors import Unauthenticated
from staydown.staff.actions import api_client_by_ref, revoke_api_client
from staydown.staff.auth import authenticate_api_key
from tests.helpers import make_key


def _statements(database: Database, fn) -> int:
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        if not statement.startswith(("BEGIN", "SAVEPOINT", "RELEASE")):
            seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        fn()
    finally:
        event.remove(database.engine, "before_cursor_execute", count)
    return len(seen)


def test_a_key_used_a_moment_ago_is_not_read_again_but_still_checked(database: Database) -> None:
    key = make_key(database, ["notices:submit"])
    with database.unit_of_work() as db:
        first = authenticate_api_key(db, key)
    with database.unit_of_work() as db:
        assert _statements(database, lambda: authenticate_api_key(db, key)) == 0
        assert authenticate_api_key(db, key) == first
        wrong = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")
        with pytest.raises(Unauthenticated):
            authenticate_api_key(db, wrong)  # the secret is compared, cached or not


def test_a_revoked_key_is_refused_as_soon_as_the_revocation_commits(database: Database) -> None:
    key = make_key(database, ["notices:submit"])
    with database.unit_of_work() as db:
        authenticate_api_key(db, key)
    prefix = key.split("_")[1]
    with database.unit_of_work() as db:
        revoke_api_client(db, actor=SYSTEM, client=api_client_by_ref(db, prefix), reason="leaked")
        # A request that ran between the revocation and its commit saw (and remembered) the key.
        with database.unit_of_work() as other:
            if database.dialect == "postgresql":
                authenticate_api_key(other, key)
    with database.unit_of_work() as db:
        with pytest.raises(Unauthenticated, match="revoked"):
            authenticate_api_key(db, key)
