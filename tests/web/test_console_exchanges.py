"""/console/exchanges: who may read it, who may start a fetch, and CSRF."""

from __future__ import annotations

import sqlalchemy as sa

from staydown.db import Database
from staydown.delivery.models import Job
from tests.exchanges.conftest import configure
from tests.web.console_helpers import console_user


def test_fetch_now_is_for_admins_and_needs_csrf(client, database: Database, app, tmp_path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("pdq " + "ab" * 32 + "\n")
    configure(
        database, app.state.settings, name="list", api="file", config={"filename": str(listing)}, credentials=None
    )
    mo = console_user(client, database, "mo", "moderator")
    page = mo.get("/console/exchanges")
    assert page.status_code == 200 and "list" in page.text and "never fetched" in page.text
    assert "Fetch now" not in page.text
    assert mo.post("/console/exchanges/list/fetch").status_code == 403
    root = console_user(client, database, "root", "admin")
    assert root.post("/console/exchanges/list/fetch", csrf="0" * 64).status_code in (400, 403)
    assert root.post("/console/exchanges/list/fetch").status_code == 303
    assert root.post("/console/exchanges/nothing/fetch").status_code == 404
    with database.unit_of_work(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Job)) == 1
