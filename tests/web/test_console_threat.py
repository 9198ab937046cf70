"""DSA Art. 18 in the console: a reviewer marks a threat to life or safety with a decision or on
its own, the case page shows the one-hour clock and what was notified, and nothing is dropped
for a member state nobody configured."""

from __future__ import annotations

import sqlalchemy as sa

from staydown.authorities.models import AuthorityNotification
from staydown.cases.models import Case
from staydown.db import Database
from tests.conftest import T0
from tests.helpers import make_staff
from tests.web.console_support import last_case, login, post_form

THREAT = {
    "kind": "public_report",
    "reporter_kind": "user",
    "policy_id": "violent-threats",
    "jurisdiction": "IE",
    "explanation": "he says he will bring a gun to the school tomorrow",
    "items": [{"content_id": "post-9", "account_id": "u-9"}],
}


def _configure(app) -> None:
    app.state.settings = app.state.settings.model_copy(
        update={"dsa18_authorities": {"IE": "An Garda Siochana <dsa18@garda.example>"}}
    )


def test_DSA3_the_decision_form_marks_imminent_danger(app, client, database: Database) -> None:
    """REQ DSA-3: ticking "someone's life or safety is at risk" on the decision notifies the
    member state the report names, and the case page shows the one-hour track and the queued
    notification."""
    _configure(app)
    make_staff(database, "mo", "moderator")
    client.post("/public/notices", json=THREAT)
    case = last_case(database)
    mo = login(app, "mo")
    page = f"/console/cases/{case.id}"
    assert post_form(mo, page, f"{page}/claim", {}).status_code == 303
    html = mo.get(page).text
    assert 'id="imminent-danger"' in html and "Art. 18" in html
    r = post_form(
        mo,
        page,
        f"{page}/decision",
        {
            "policy": "violent-threats@2",
            "outcome": "violates",
            "actions_for": "violent-threats@2",
            "actions": ["remove", "strike"],
            "facts": "a specific threat to shoot pupils at a named school tomorrow",
            "imminent_danger": "yes",
            "member_states": "",
        },
    )
    assert r.status_code == 303, r.text
    with database.unit_of_work(write=False) as db:
        note = db.execute(sa.select(AuthorityNotification)).scalar_one()
        assert note.member_state == "IE" and note.sent_at is None
        stored = db.get_one(Case, case.id)
        assert stored.imminent_danger_at == T0
        track = {t.kind: t for t in stored.tracks}["dsa_art18"]
        assert track.state == "open"
    html = mo.get(page).text
    assert "Notification of a threat to life or safety" in html and "queued, not sent yet" in html


def test_DSA3_the_threat_form_marks_without_a_decision_and_says_what_is_missing(
    app, client, database: Database
) -> None:
    """REQ DSA-3: the standalone form needs the facts; a member state with no configured authority
    is shown on the track as still owed."""
    _configure(app)
    make_staff(database, "mo", "moderator")
    client.post("/public/notices", json=THREAT)
    case = last_case(database)
    mo = login(app, "mo")
    page = f"/console/cases/{case.id}"
    r = post_form(mo, page, f"{page}/threat", {"facts": "too short", "member_states": "IE"})
    assert r.status_code == 422 and "at least 20 characters" in r.text
    r = post_form(
        mo, page, f"{page}/threat", {"facts": "a dated threat to kill a named teacher", "member_states": "IE, FR"}
    )
    assert r.status_code == 303
    html = mo.get(page).text
    assert "no authority configured for FR" in html
    with database.unit_of_work(write=False) as db:
        assert [n.member_state for n in db.execute(sa.select(AuthorityNotification)).scalars()] == ["IE"]
