"""The console's review pages: the queue, the case page, the decision form, the second review,
and what each role may see and do."""

from __future__ import annotations

import re

import sqlalchemy as sa

from staydown.audit.models import AuditEvent
from staydown.cases.models import Case, Decision
from staydown.clock import FrozenClock
from staydown.db import Database
from staydown.policies import default_catalogue
from tests.helpers import make_staff
from tests.web.console_support import HARASSMENT, MINOR_REPORT, last_case, login, post_form, token


def _staff(database: Database) -> None:
    make_staff(database, "mo", "moderator")
    make_staff(database, "cs1", "child_safety")
    make_staff(database, "cs2", "child_safety")
    make_staff(database, "senior", "senior_moderator")
    make_staff(database, "aud", "auditor")
    make_staff(database, "admin", "admin")


def test_queue_orders_by_priority_and_shows_countdowns_counts_and_minor(app, client, database: Database) -> None:
    """X-2: the child-safety report about a minor is first, with its legal tracks' due times."""
    _staff(database)
    client.post("/public/notices", json=HARASSMENT)
    client.post("/public/notices", json={**HARASSMENT, "reporter_kind": "affected_person"})
    client.post("/public/notices", json=MINOR_REPORT)
    minor_case = last_case(database)
    cs = login(app, "cs1")
    page = cs.get("/console/queue")
    assert page.status_code == 200
    rows = re.findall(r'data-case="(\d+)"', page.text)
    assert rows[0] == str(minor_case.id) and len(rows) == 2
    first_row = page.text.split('data-case="')[1]
    assert "minor" in first_row and "take it down" in first_row
    assert re.search(r'<time datetime="[0-9T:\-]+Z" data-countdown[^>]*>2d 0h 00m left</time>', first_row)
    # The harassment case joined two notices from two reporters.
    second_row = page.text.split('data-case="')[2]
    assert ">2</span> notices" in second_row and "2 reporters" in second_row
    # Filter by area.
    filtered = cs.get("/console/queue?area=hate_harassment")
    assert re.findall(r'data-case="(\d+)"', filtered.text) == [rows[1]]
    assert cs.get("/console/queue?area=Robert');--").status_code == 422


def test_moderator_does_not_see_or_work_child_safety_cases(app, client, database: Database) -> None:
    _staff(database)
    client.post("/public/notices", json=MINOR_REPORT)
    case = last_case(database)
    mo = login(app, "mo")
    assert f'data-case="{case.id}"' not in mo.get("/console/queue").text
    assert mo.get(f"/console/cases/{case.id}").status_code == 404
    page = mo.get("/console/queue")
    assert mo.post(f"/console/cases/{case.id}/claim", data={"csrf_token": token(page.text)}).status_code == 404


def test_moderator_cannot_open_admin_pages_and_auditor_cannot_decide(app, client, database: Database) -> None:
    _staff(database)
    client.post("/public/notices", json=HARASSMENT)
    case = last_case(database)
    mo = login(app, "mo")
    assert mo.get("/console/second-review").status_code == 403
    assert 'href="/console/staff"' not in mo.get("/console/queue").text  # not in the navigation
    for admin_page in ("/console/staff", "/console/api-keys", "/console/audit"):
        assert mo.get(admin_page).status_code == 403, admin_page  # nor by typing the address
    aud = login(app, "aud")
    assert aud.get("/console/queue").status_code == 403
    assert aud.get(f"/console/cases/{case.id}").status_code == 403
    r = aud.post(
        f"/console/cases/{case.id}/decision",
        data={
            "csrf_token": token(aud.get("/console/login").text),
            "policy": "harassment@2",
            "outcome": "violates",
            "facts": "x",
        },
    )
    assert r.status_code == 403
    admin = login(app, "admin")
    page = admin.get(f"/console/cases/{case.id}")
    assert page.status_code == 200 and 'id="decision-form"' not in page.text and "Claim" not in page.text
    r = admin.post(f"/console/cases/{case.id}/claim", data={"csrf_token": token(page.text)})
    assert r.status_code == 403


def test_claim_release_and_next_case(app, client, database: Database) -> None:
    _staff(database)
    client.post("/public/notices", json=HARASSMENT)
    client.post("/public/notices", json={**HARASSMENT, "items": [{"content_id": "post-9"}], "policy_id": "spam"})
    mo = login(app, "mo")
    senior = login(app, "senior")
    r = post_form(mo, "/console/queue", "/console/queue/next", {})
    assert r.status_code == 303
    first = int(r.headers["location"].rsplit("/", 1)[1])
    page = mo.get(f"/console/cases/{first}")
    assert "You hold this case" in page.text and 'id="decision-form"' in page.text
    # The next reviewer's "next case" skips the claimed one.
    r = post_form(senior, "/console/queue", "/console/queue/next", {})
    second = int(r.headers["location"].rsplit("/", 1)[1])
    assert second != first
    page = senior.get(f"/console/cases/{first}")
    assert "Claimed by mo until" in page.text and 'id="decision-form"' not in page.text
    r = senior.post(f"/console/cases/{first}/claim", data={"csrf_token": token(page.text)})
    assert r.status_code == 409 and "claimed by someone else" in r.text
    r = post_form(mo, f"/console/cases/{first}", f"/console/cases/{first}/release", {})
    assert r.status_code == 303 and r.headers["location"] == "/console/queue"
    with database.unit_of_work(write=False) as db:
        assert db.get_one(Case, first).claimed_by is None
    # Nothing left unclaimed for the moderator? Both are claimed by the senior now, or free.
    r = post_form(mo, "/console/queue", "/console/queue/next", {})
    assert r.status_code == 303 and r.headers["location"] == f"/console/cases/{first}"


def test_case_page_shows_notices_context_history_and_hides_identity_from_moderators(
    app, client, database: Database
) -> None:
    _staff(database)
    client.post(
        "/public/notices",
        json={**HARASSMENT, "contact_name": "Rea Porter", "contact_email": "rea@example.org", "reach": 5000},
    )
    case = last_case(database)
    mo = login(app, "mo")
    page = mo.get(f"/console/cases/{case.id}").text
    assert "public report from user" in page and "threatening messages" in page
    assert "post-5" in page and "u-5" in page  # platform ids and the account
    assert "Rea Porter" not in page and "rea@example.org" not in page
    assert "shown only to child-safety and legal staff" in page
    # History from the audit log, in words: never its raw tags.
    assert "The case was opened." in page and "case:case:open" not in page and "case:track:open" not in page
    assert "No media is stored for this content" in page
    assert "Keyboard shortcuts" in page and "<kbd>v</kbd>" in page
    cs = login(app, "cs1")
    page = cs.get(f"/console/cases/{case.id}").text
    assert "Rea Porter" in page and "rea@example.org" in page


def test_decision_form_prefills_policy_actions_and_requires_facts(app, client, database: Database) -> None:
    _staff(database)
    client.post("/public/notices", json=HARASSMENT)
    case = last_case(database)
    mo = login(app, "mo")
    post_form(mo, f"/console/cases/{case.id}", f"/console/cases/{case.id}/claim", {})
    page = mo.get(f"/console/cases/{case.id}").text
    assert 'value="harassment@2" selected' in page
    # The HTMX swap gives the chosen policy's default actions, ticked.
    partial = mo.get(f"/console/cases/{case.id}/decision/actions", params={"policy": "spam@2"})
    assert partial.status_code == 200 and 'name="actions_for" value="spam@2"' in partial.text
    assert mo.get(f"/console/cases/{case.id}/decision/actions", params={"policy": "nope@3"}).status_code == 422
    url = f"/console/cases/{case.id}/decision"
    r = post_form(
        mo,
        f"/console/cases/{case.id}",
        url,
        {"policy": "harassment@2", "outcome": "violates", "facts": "  ", "actions_for": "harassment@2"},
    )
    assert r.status_code == 422 and "write the facts" in r.text and 'id="decision-error"' in r.text
    r = post_form(
        mo, f"/console/cases/{case.id}", url, {"policy": "harassment@2", "outcome": "", "facts": "three threats"}
    )
    assert r.status_code == 422 and "choose an outcome" in r.text and "three threats" in r.text
    r = post_form(
        mo,
        f"/console/cases/{case.id}",
        url,
        {"policy": "harassment@9", "outcome": "violates", "facts": "three threats"},
    )
    assert r.status_code == 422 and "not a policy in force" in r.text
    # No JavaScript: the policy was changed but the ticked boxes were for another policy, so the
    # chosen policy's defaults apply.
    r = post_form(
        mo,
        f"/console/cases/{case.id}",
        url,
        {
            "policy": "harassment@2",
            "outcome": "violates",
            "facts": "three threatening messages",
            "actions_for": "spam@2",
            "actions": ["label"],
        },
    )
    assert r.status_code == 303
    with database.unit_of_work(write=False) as db:
        decision = db.execute(sa.select(Decision).where(Decision.case_id == case.id)).scalar_one()

        assert decision.actions == list(default_catalogue().get("harassment").default_actions)
        assert decision.facts == "three threatening messages"
    page = mo.get(f"/console/cases/{case.id}").text
    assert "Decided: <strong>violates</strong>" in page


def test_chosen_actions_are_kept_and_action_errors_rerender_the_form(app, client, database: Database) -> None:
    _staff(database)
    client.post("/public/notices", json=HARASSMENT)
    case = last_case(database)
    mo = login(app, "mo")
    url = f"/console/cases/{case.id}/decision"
    # Deciding without a claim: the action's Conflict comes back on the page.
    r = post_form(
        mo, f"/console/cases/{case.id}", url, {"policy": "harassment@2", "outcome": "violates", "facts": "threats"}
    )
    assert r.status_code == 409 and "claim case" in r.text
    post_form(mo, f"/console/cases/{case.id}", f"/console/cases/{case.id}/claim", {})
    r = post_form(
        mo,
        f"/console/cases/{case.id}",
        url,
        {
            "policy": "harassment@2",
            "outcome": "violates",
            "facts": "threats",
            "actions_for": "harassment@2",
            "actions": ["label", "warn"],
        },
    )
    assert r.status_code == 303
    with database.unit_of_work(write=False) as db:
        assert db.execute(sa.select(Decision.actions).where(Decision.case_id == case.id)).scalar_one() == [
            "label",
            "warn",
        ]


def test_X2_two_person_rule_through_the_console(app, client, database: Database) -> None:
    """X-2: a 'does not violate' on a minor's report waits for a second, different senior reviewer."""
    _staff(database)
    client.post("/public/notices", json=MINOR_REPORT)
    case = last_case(database)
    cs1, cs2 = login(app, "cs1"), login(app, "cs2")
    post_form(cs1, f"/console/cases/{case.id}", f"/console/cases/{case.id}/claim", {})
    r = post_form(
        cs1,
        f"/console/cases/{case.id}",
        f"/console/cases/{case.id}/decision",
        {
            "policy": "csam@2",
            "outcome": "does_not_violate",
            "facts": "an adult, documents checked",
            "actions_for": "csam@2",
            "actions": ["remove"],
        },
    )
    assert r.status_code == 303
    page = cs1.get(f"/console/cases/{case.id}").text
    assert "awaits a second, senior reviewer" in page
    # The first reviewer is not offered the second-review form (it would be refused), and is told why.
    assert "You made this" in page and "a different senior reviewer must" in page
    assert 'id="second-review-button"' not in page
    assert 'id="second-review-button"' in cs2.get(f"/console/cases/{case.id}").text
    queue = cs2.get("/console/second-review").text
    assert f"/console/cases/{case.id}" in queue and "(you:" not in queue
    assert "(you:" in cs1.get("/console/second-review").text
    r = post_form(
        cs1,
        f"/console/cases/{case.id}",
        f"/console/cases/{case.id}/second-review",
        {"agree": "yes", "facts": "I agree with myself"},
    )
    assert r.status_code == 409 and "different person" in r.text
    r = post_form(
        cs2, f"/console/cases/{case.id}", f"/console/cases/{case.id}/second-review", {"agree": "yes", "facts": ""}
    )
    assert r.status_code == 422 and "facts your review relies on" in r.text
    r = post_form(
        cs2,
        f"/console/cases/{case.id}",
        f"/console/cases/{case.id}/second-review",
        {"agree": "yes", "facts": "age verified by documents: 24"},
    )
    assert r.status_code == 303
    with database.unit_of_work(write=False) as db:
        decided = db.get_one(Case, case.id)
        assert decided.state == "decided" and decided.outcome == "does_not_violate"
        tags = list(db.execute(sa.select(AuditEvent.tag).where(AuditEvent.subject_id == str(case.id))).scalars())
        assert "case:decision:second_review" in tags


def test_disagreeing_second_reviewer_decides_violates(app, client, database: Database) -> None:
    _staff(database)
    client.post("/public/notices", json={**HARASSMENT, "minor_involved": True})
    case = last_case(database)
    mo, senior = login(app, "mo"), login(app, "senior")
    post_form(mo, f"/console/cases/{case.id}", f"/console/cases/{case.id}/claim", {})
    post_form(
        mo,
        f"/console/cases/{case.id}",
        f"/console/cases/{case.id}/decision",
        {"policy": "harassment@2", "outcome": "does_not_violate", "facts": "banter"},
    )
    assert mo.get("/console/second-review").status_code == 403
    r = post_form(
        senior,
        f"/console/cases/{case.id}",
        f"/console/cases/{case.id}/second-review",
        {"agree": "no", "facts": "targeted threats at a child", "policy": "harassment@2"},
    )
    assert r.status_code == 303
    with database.unit_of_work(write=False) as db:
        assert db.get_one(Case, case.id).outcome == "violates"


def test_countdown_text_without_javascript(app, client, database: Database, clock: FrozenClock) -> None:
    _staff(database)
    client.post("/public/notices", json=MINOR_REPORT)
    case = last_case(database)
    clock.advance(hours=47, minutes=30)
    cs = login(app, "cs1")
    page = cs.get(f"/console/cases/{case.id}").text
    assert "0h 30m left" in page
    clock.advance(hours=1)
    assert "overdue by 0h 30m" in cs.get(f"/console/cases/{case.id}").text


def test_deciding_a_case_awaiting_second_review_shows_why_not(app, client, database: Database) -> None:
    _staff(database)
    client.post("/public/notices", json=MINOR_REPORT)
    case = last_case(database)
    cs1, cs2 = login(app, "cs1"), login(app, "cs2")
    post_form(cs1, f"/console/cases/{case.id}", f"/console/cases/{case.id}/claim", {})
    post_form(
        cs1,
        f"/console/cases/{case.id}",
        f"/console/cases/{case.id}/decision",
        {"policy": "csam@2", "outcome": "does_not_violate", "facts": "adult"},
    )
    r = post_form(
        cs2,
        f"/console/cases/{case.id}",
        f"/console/cases/{case.id}/decision",
        {"policy": "csam@2", "outcome": "violates", "facts": "a child"},
    )
    assert r.status_code == 409 and "awaits a second review" in r.text and 'id="decision-error"' in r.text
