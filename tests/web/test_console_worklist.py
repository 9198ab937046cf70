"""The console's worklist (issue 17): queue views and filters, queue rows, bulk decisions, search,
pages per account and item, comments, assignment and escalation, the case history in words, the
appeals pages, and the right each new route checks."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa
from PIL import Image

from staydown.actors import SYSTEM
from staydown.appeals.models import Appeal
from staydown.audit.models import AuditEvent
from staydown.cases.models import Case, CaseComment, Decision, StaffAlert
from staydown.db import Database
from staydown.enforcement.models import EnforcementAction
from staydown.evidence.vault import store_item
from staydown.subjects.models import PlatformContent
from tests.appeals.factories import case_of, decide, report, statement_for
from tests.helpers import make_staff, sign_in
from tests.imagegen import jpeg
from tests.web.console_helpers import console_user
from tests.web.console_support import MINOR_REPORT


@pytest.fixture
def people(app, client, database: Database):
    """Console users by role, on one TestClient, plus API headers for deciding through the API."""
    for name, role in (
        ("mo", "moderator"),
        ("mo2", "moderator"),
        ("senior", "senior_moderator"),
        ("cs", "child_safety"),
        ("legal", "legal"),
        ("aud", "auditor"),
        ("adm", "admin"),
    ):
        make_staff(database, name, role)
    users = {
        name: console_user(client, database, name) for name in ("mo", "mo2", "senior", "cs", "legal", "aud", "adm")
    }
    users["api_mo"] = {"Authorization": sign_in(client, "mo")["Authorization"]}  # type: ignore[assignment]
    return users


def _spam(client, n: int, *, prefix: str = "spam") -> list[int]:
    return [
        case_of(
            client.app.state.database, report(client, policy="spam", content=f"{prefix}-{i}", account=f"bot-{i % 2}")
        )
        for i in range(n)
    ]


def _rows(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-case="(\d+)"', html)]


def _tags(database: Database, case_id: int) -> list[str]:
    with database.unit_of_work(write=False) as db:
        return list(
            db.execute(
                sa.select(AuditEvent.tag)
                .where(AuditEvent.subject_type == "case", AuditEvent.subject_id == str(case_id))
                .order_by(AuditEvent.seq)
            ).scalars()
        )


# -- queue views and filters ----------------------------------------------------------------------


def test_queue_views_open_mine_closed_and_a_decided_case_is_found(app, client, database: Database, people) -> None:
    spam = _spam(client, 3)
    harassment = case_of(database, report(client, policy="harassment", content="post-h", account="u-h"))
    decide(client, people["api_mo"], spam[0], app.state.catalogue.get("spam").ref)
    mo = people["mo"]
    assert sorted(_rows(mo.get("/console/queue").text)) == sorted([spam[1], spam[2], harassment])
    closed = mo.get("/console/queue?view=closed")
    assert closed.status_code == 200 and _rows(closed.text) == [spam[0]]
    # The old address of the closed view works, instead of a validator's 422.
    legacy = mo.get("/console/queue?state=decided")
    assert legacy.status_code == 200 and _rows(legacy.text) == [spam[0]]
    # Mine: what I hold, and what is given to me or to my role.
    mo.post(f"/console/cases/{spam[1]}/claim")
    people["senior"].post(f"/console/cases/{harassment}/assignment", {"to": "role:moderator"})
    assert sorted(_rows(mo.get("/console/queue?view=mine").text)) == sorted([spam[1], harassment])
    assert _rows(people["mo2"].get("/console/queue?view=mine").text) == [harassment]
    # By policy, by reporter kind, by track, and sorted by due time.
    assert sorted(_rows(mo.get("/console/queue?policy=spam").text)) == sorted(spam[1:])
    assert _rows(mo.get("/console/queue?policy=harassment").text) == [harassment]
    assert _rows(mo.get("/console/queue?reporter=affected_person").text) == []
    assert len(_rows(mo.get("/console/queue?reporter=user&track=dsa_notice&sort=due").text)) == 3


def test_a_bad_filter_value_gets_a_clear_page_not_a_validator_dump(people) -> None:
    mo = people["mo"]
    for url, words in (
        ("/console/queue?view=decidedx", "is not a view; choose one of: open, mine"),
        ("/console/queue?state=nonsense", "is not a view"),
        ("/console/queue?reporter=martian", "is not a reporter kind"),
        ("/console/queue?track=ncmecc", "is not a legal track"),
        ("/console/queue?policy=nope", "is not a policy"),
        ("/console/queue?sort=random", "is not a sort order"),
        ("/console/queue?area=Robert');--", "lower case letters"),
    ):
        r = mo.get(url)
        assert r.status_code == 422, url
        assert words in r.text, (url, r.text[:2000])
        assert "should match pattern" not in r.text and "String should" not in r.text
        assert "That filter can't be used" in r.text and 'id="queue-filters"' in r.text


def test_breached_view_lists_cases_past_a_due_time(app, client, database: Database, people, clock) -> None:
    spam = _spam(client, 1)
    assert _rows(people["mo"].get("/console/queue?view=breached").text) == []
    clock.advance(hours=80)  # past the DSA notice's 72 hours (a new session: the first has expired)
    page = console_user(client, database, "mo").get("/console/queue?view=breached")
    assert page.status_code == 200 and _rows(page.text) == spam


def test_queue_rows_show_reason_reporter_kinds_count_countdown_and_blurred_thumbnail(
    app, client, database: Database, people
) -> None:

    tracking = report(client, policy="spam", content="pic-1", account="bot-9", explanation="same link posted 40 times")
    report(
        client,
        policy="spam",
        content="pic-1",
        account="bot-9",
        reporter_kind="affected_person",
        email="brand@example.org",
        explanation="it is my brand being copied",
    )
    case_id = case_of(database, tracking)
    with database.unit_of_work() as db:
        content = db.execute(sa.select(PlatformContent).where(PlatformContent.platform_id == "pic-1")).scalar_one()
        item = store_item(
            db,
            actor=SYSTEM,
            vault=app.state.vault,
            data=jpeg(3),
            content_id=content.id,
            case_id=case_id,
            context={},
            media_type="image/jpeg",
            original_filename="synthetic-3.jpg",
        )
        item_id = item.id
    page = people["mo"].get("/console/queue").text
    row = page.split(f'data-case="{case_id}"')[1].split("</tr>")[0]
    assert "it is my brand being copied" in row  # the latest reason
    assert "2 reporters" in row and "affected person" in row and "user" in row
    assert re.search(
        r'<time datetime="[0-9T:\-]+Z" data-countdown[^>]*>2d 23h 59m left</time>|'
        r'<time datetime="[0-9T:\-]+Z" data-countdown[^>]*>3d 0h 00m left</time>',
        row,
    )
    thumb = f"/console/cases/{case_id}/media/{item_id}/preview.png"
    assert f'src="{thumb}"' in row and "Blurred greyscale preview" in row
    # The thumbnail goes through the preview route, which only ever serves the blurred greyscale image.
    png = people["mo"].get(thumb)
    assert png.status_code == 200 and Image.open(io.BytesIO(png.content)).mode == "L"


# -- bulk decisions -----------------------------------------------------------------------------


def test_bulk_decision_one_reason_one_decision_and_one_audit_event_per_case(
    app, client, database: Database, people
) -> None:
    spam = _spam(client, 5)
    ref = app.state.catalogue.get("spam").ref
    mo = people["mo"]
    assert 'id="bulk-form"' in mo.get("/console/queue").text
    r = mo.post(
        "/console/queue/bulk-decision",
        {
            "policy": ref,
            "outcome": "violates",
            "case": [str(c) for c in spam],
            "facts": "identical link spam from a bot network",
        },
    )
    assert r.status_code == 303 and "view=closed" in r.headers["location"]
    page = mo.get(r.headers["location"]).text
    assert "5 cases were decided with one reason" in page and sorted(_rows(page)) == sorted(spam)
    with database.unit_of_work(write=False) as db:
        for case_id in spam:
            case = db.get_one(Case, case_id)
            assert case.state == "decided" and case.outcome == "violates"
            decisions = db.execute(sa.select(Decision).where(Decision.case_id == case_id)).scalars().all()
            assert len(decisions) == 1 and decisions[0].facts == "identical link spam from a bot network"
            assert decisions[0].policy_ref == ref
            assert db.execute(
                sa.select(EnforcementAction).where(
                    EnforcementAction.case_id == case_id, EnforcementAction.kind == "remove"
                )
            ).first()
    for case_id in spam:
        assert _tags(database, case_id).count("case:decision:violates") == 1


def test_bulk_decision_is_refused_for_child_safety_and_mixed_policies_and_keeps_nothing(
    app, client, database: Database, people
) -> None:
    spam = _spam(client, 2)
    other = case_of(database, report(client, policy="harassment", content="post-x", account="u-x"))
    client.post("/public/notices", json=MINOR_REPORT)
    with database.unit_of_work(write=False) as db:
        minor = db.execute(sa.select(Case.id).where(Case.child_safety.is_(True))).scalar_one()
    ref = app.state.catalogue.get("spam").ref
    cs = people["cs"]
    page = cs.get("/console/queue").text
    assert "two-person rule" in page  # said on the page
    assert f'id="select-{minor}"' not in page and f'id="select-{spam[0]}"' in page  # and not offered
    r = cs.post(
        "/console/queue/bulk-decision",
        {"policy": app.state.catalogue.get("csam").ref, "outcome": "violates", "case": [str(minor)], "facts": "x"},
    )
    assert r.status_code == 409 and "two-person rule" in r.text and "Nothing was decided" in r.text
    r = cs.post(
        "/console/queue/bulk-decision",
        {"policy": ref, "outcome": "violates", "facts": "spam", "case": [str(spam[0]), str(spam[1]), str(other)]},
    )
    assert r.status_code == 422 and f"case {other} is under harassment, not spam" in r.text
    # A moderator does not even learn that the child-safety case exists.
    r = people["mo"].post(
        "/console/queue/bulk-decision",
        {"policy": ref, "outcome": "violates", "facts": "spam", "case": [str(spam[0]), str(minor)]},
    )
    assert r.status_code == 404
    for body, words in (
        ({"case": []}, "select at least one case"),
        ({"case": ["abc"]}, "case numbers"),
        ({"case": [str(spam[0])], "outcome": "escalate"}, "one by one"),
        ({"case": [str(spam[0])], "facts": " "}, "write the facts"),
    ):
        data = {"policy": ref, "outcome": "violates", "facts": "spam", **body}
        r = people["mo"].post("/console/queue/bulk-decision", data)
        assert r.status_code == 422 and words in r.text, (body, r.text[:500])
    with database.unit_of_work(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Decision)) == 0  # all or nothing
        assert {db.get_one(Case, c).claimed_by for c in spam} == {None}


# -- search and the pages per account and item -------------------------------------------------


def test_search_goes_straight_to_an_exact_hit_and_lists_the_rest(
    app,
    client,
    database: Database,
    people,
    api_key: str,
) -> None:
    tracking = report(client, policy="harassment", content="post-77", account="acct-77")
    r = client.put("/v1/accounts/acct-77", json={"handle": "rude77"}, headers={"Authorization": f"Bearer {api_key}"})
    assert r.status_code == 200, r.text
    case_id = case_of(database, tracking)
    decide(client, people["api_mo"], case_id, "harassment@2")
    statement = statement_for(database, case_id, "remove")
    report(client, policy="spam", content="post-770", account="acct-770")
    with database.unit_of_work(write=False) as db:
        content_id = db.execute(sa.text("select id from platform_content where platform_id='post-77'")).scalar_one()
        account_id = db.execute(sa.text("select id from platform_accounts where platform_id='acct-77'")).scalar_one()
    mo = people["mo"]
    for query, target in (
        (tracking, f"/console/cases/{case_id}"),
        (tracking.lower().replace("-", ""), f"/console/cases/{case_id}"),
        (statement, f"/console/cases/{case_id}"),
        (str(case_id), f"/console/cases/{case_id}"),
        ("post-77", f"/console/content/{content_id}"),
        ("acct-77", f"/console/accounts/{account_id}"),
        ("@Rude77", f"/console/accounts/{account_id}"),
    ):
        r = mo.get("/console/search", params={"q": query}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == target, query
    listing = mo.get("/console/search", params={"q": "post-7"})
    assert listing.status_code == 200 and "2 results" in listing.text and "Item post-770" in listing.text
    assert "Nothing matches" in mo.get("/console/search", params={"q": "no-such-thing"}).text
    too_long = mo.get("/console/search", params={"q": "x" * 201})
    assert too_long.status_code == 422 and "at most 200 characters" in too_long.text


def test_search_and_record_pages_hide_child_safety_from_moderators(app, client, database: Database, people) -> None:
    r = client.post(
        "/public/notices", json={**MINOR_REPORT, "items": [{"content_id": "vid-1", "account_id": "acct-9"}]}
    )
    tracking = r.json()["tracking_code"]
    with database.unit_of_work(write=False) as db:
        content_id = db.execute(sa.text("select id from platform_content where platform_id='vid-1'")).scalar_one()
        account_id = db.execute(sa.text("select id from platform_accounts where platform_id='acct-9'")).scalar_one()
    mo, cs = people["mo"], people["cs"]
    assert "Nothing matches" in mo.get("/console/search", params={"q": tracking}).text
    assert "Nothing matches" in mo.get("/console/search", params={"q": "vid-1"}).text
    assert mo.get(f"/console/content/{content_id}").status_code == 404
    account = mo.get(f"/console/accounts/{account_id}")
    assert account.status_code == 200 and "only for child-safety specialists" in account.text
    assert "vid-1" not in account.text
    assert cs.get("/console/search", params={"q": tracking}, follow_redirects=False).status_code == 303
    assert "vid-1" in cs.get(f"/console/accounts/{account_id}").text


def test_account_page_lists_every_case_action_strike_appeal_and_statement_newest_first(
    app, client, database: Database, people
) -> None:
    first = case_of(database, report(client, policy="harassment", content="post-a", account="acct-1"))
    decide(client, people["api_mo"], first, "harassment@2")
    statement = statement_for(database, first, "remove")
    appeal = client.post(
        "/public/appeals",
        json={
            "statement_code": statement,
            "basis": "content_restriction",
            "explanation": "it was a joke between friends",
        },
    ).json()
    second = case_of(database, report(client, policy="spam", content="post-b", account="acct-1"))
    with database.unit_of_work(write=False) as db:
        account_id = db.execute(sa.text("select id from platform_accounts where platform_id='acct-1'")).scalar_one()
    page = people["senior"].get(f"/console/accounts/{account_id}").text
    cases = page.split('id="record-cases"')[1].split("</ul>")[0]
    assert cases.index(f"/console/cases/{second}") < cases.index(f"/console/cases/{first}")  # newest first
    assert "decided <strong>violates</strong>" in cases
    assert "remove" in page.split('id="record-actions"')[1] and statement in page
    assert 'id="record-strikes"' in page and "harassment, weight" in page
    assert appeal["code"] in page and "/console/appeals/" in page  # a senior decides appeals: linked
    assert "post-a" in page and "post-b" in page
    # The second case's page mentions the first, decided one.
    case_page = people["mo"].get(f"/console/cases/{second}").text
    related = case_page.split('id="related-cases"')[1].split("</ul>")[0]
    assert f"/console/cases/{first}" in related and "violates" in related
    assert f'href="/console/accounts/{account_id}"' in case_page


# -- comments, assignment, escalation, history -------------------------------------------------


def test_comments_assignment_and_escalation_with_history_in_words(app, client, database: Database, people) -> None:
    case_id = _spam(client, 1)[0]
    mo, senior = people["mo"], people["senior"]
    assert (
        mo.post(f"/console/cases/{case_id}/comments", {"body": "looks like the bot wave from Monday"}).status_code
        == 303
    )
    r = mo.post(f"/console/cases/{case_id}/comments", {"body": "   "})
    assert r.status_code == 422 and "write the comment" in r.text
    r = mo.post(
        f"/console/cases/{case_id}/assignment", {"to": "role:senior_moderator", "escalate": "yes", "reason": ""}
    )
    assert r.status_code == 422 and "reason for the escalation" in r.text
    r = mo.post(
        f"/console/cases/{case_id}/assignment",
        {"to": "role:senior_moderator", "escalate": "yes", "reason": "could be a coordinated campaign"},
    )
    assert r.status_code == 303
    r = mo.post(f"/console/cases/{case_id}/assignment", {"to": "role:auditor"})
    assert r.status_code == 422 and "can be given to the roles" in r.text
    r = mo.post(f"/console/cases/{case_id}/assignment", {"to": "staff:999999"})
    assert r.status_code == 422 and "no active staff user" in r.text
    with database.unit_of_work(write=False) as db:
        legal_id = db.execute(sa.text("select id from staff_users where username='legal'")).scalar_one()
        senior_id = db.execute(sa.text("select id from staff_users where username='senior'")).scalar_one()
    r = mo.post(f"/console/cases/{case_id}/assignment", {"to": f"staff:{legal_id}"})
    assert r.status_code == 422 and "cannot work cases" in r.text
    assert mo.post(f"/console/cases/{case_id}/assignment", {"to": f"staff:{senior_id}"}).status_code == 303
    page = senior.get(f"/console/cases/{case_id}").text
    assert "looks like the bot wave from Monday" in page
    assert 'id="assigned-to">senior<' in page
    history = page.split('id="history-h"')[1]
    assert "mo left a comment." in history
    assert (
        "mo escalated the case to everyone with the role senior moderator: could be a coordinated campaign." in history
    )
    assert "mo gave the case to senior." in history
    assert "Legal track \u201cA decision on your report\u201d (DSA Art. 16(6)) opened." in history
    assert not re.search(r"\b[a-z_]+:[a-z_]+:[a-z_]+\b", history)  # no raw tag anywhere
    with database.unit_of_work(write=False) as db:
        assert (
            db.execute(sa.select(CaseComment.body).where(CaseComment.case_id == case_id)).scalar_one()
            == "looks like the bot wave from Monday"
        )
        alert = db.execute(sa.select(StaffAlert).where(StaffAlert.case_id == case_id)).scalar_one()
        assert alert.role == "senior_moderator" and "coordinated campaign" in alert.message
    tags = _tags(database, case_id)
    assert tags.count("case:comment:add") == 1 and tags.count("case:assignment:escalate") == 1
    assert tags.count("case:assignment:assign") == 1


def test_a_child_safety_case_is_given_only_to_specialists(client, database: Database, people) -> None:
    client.post("/public/notices", json=MINOR_REPORT)
    with database.unit_of_work(write=False) as db:
        case_id = db.execute(sa.select(Case.id).where(Case.child_safety.is_(True))).scalar_one()
        mo_id = db.execute(sa.text("select id from staff_users where username='mo'")).scalar_one()
    cs = people["cs"]
    page = cs.get(f"/console/cases/{case_id}").text
    assert 'value="role:child_safety"' in page and 'value="role:moderator"' not in page
    r = cs.post(f"/console/cases/{case_id}/assignment", {"to": f"staff:{mo_id}"})
    assert r.status_code == 422 and "not a child-safety specialist" in r.text
    r = cs.post(f"/console/cases/{case_id}/assignment", {"to": "role:senior_moderator"})
    assert r.status_code == 422 and "only to child-safety specialists" in r.text


# -- appeals ------------------------------------------------------------------------------------


def test_appeals_queue_page_claim_and_decision_in_the_console(app, client, database: Database, people) -> None:
    """DSA-4: decided in the console by a person who took no part, with reasons; a reversal lifts
    the measures as through the API."""
    case_id = case_of(database, report(client, policy="harassment", content="post-ap", account="u-ap"))
    decide(client, people["api_mo"], case_id, "harassment@2")
    statement = statement_for(database, case_id, "remove")
    code = client.post(
        "/public/appeals",
        json={
            "statement_code": statement,
            "basis": "content_restriction",
            "explanation": "it was satire, read the thread",
        },
    ).json()["code"]
    with database.unit_of_work(write=False) as db:
        appeal_id = db.execute(sa.select(Appeal.id).where(Appeal.code == code)).scalar_one()
    senior = people["senior"]
    queue = senior.get("/console/appeals")
    assert queue.status_code == 200 and f"/console/appeals/{appeal_id}" in queue.text
    bad = senior.get("/console/appeals?tab=everything")
    assert bad.status_code == 422 and "is not a list of appeals; choose one of: open, mine, decided" in bad.text
    page = senior.get(f"/console/appeals/{appeal_id}").text
    assert "it was satire, read the thread" in page and 'id="claim-appeal"' in page
    assert senior.post(f"/console/appeals/{appeal_id}/claim").status_code == 303
    assert f"/console/appeals/{appeal_id}" in senior.get("/console/appeals?tab=mine").text
    r = senior.post(f"/console/appeals/{appeal_id}/decide", {"outcome": "reversed", "reasons": " "})
    assert r.status_code == 422 and "needs its reasons" in r.text and "The appeal was not decided" in r.text
    r = senior.post(f"/console/appeals/{appeal_id}/decide", {"outcome": "modified", "reasons": "too harsh"})
    assert r.status_code == 422 and "names the measures" in r.text
    r = senior.post(
        f"/console/appeals/{appeal_id}/decide", {"outcome": "reversed", "reasons": "satire of a public figure, allowed"}
    )
    assert r.status_code == 303
    done = senior.get(r.headers["location"]).text
    assert "The appeal was decided" in done and "satire of a public figure, allowed" in done
    assert f"/console/appeals/{appeal_id}" in senior.get("/console/appeals?tab=decided").text
    with database.unit_of_work(write=False) as db:
        appeal = db.get_one(Appeal, appeal_id)
        assert appeal.outcome == "reversed" and (appeal.decided_by or "").startswith("staff:")
        kinds = set(
            db.execute(
                sa.select(EnforcementAction.kind).where(
                    EnforcementAction.case_id == case_id, EnforcementAction.state == "active"
                )
            ).scalars()
        )
        assert "remove" not in kinds and "restore" in kinds


def test_the_original_decider_is_not_offered_the_appeal(app, client, database: Database, people) -> None:
    make_staff(database, "senior2", "senior_moderator")
    headers = sign_in(client, "senior2")
    case_id = case_of(database, report(client, policy="harassment", content="post-od", account="u-od"))
    decide(client, headers, case_id, "harassment@2")
    code = client.post(
        "/public/appeals",
        json={
            "statement_code": statement_for(database, case_id),
            "basis": "content_restriction",
            "explanation": "mistake",
        },
    ).json()["code"]
    with database.unit_of_work(write=False) as db:
        appeal_id = db.execute(sa.select(Appeal.id).where(Appeal.code == code)).scalar_one()
    senior2 = console_user(client, database, "senior2")
    page = senior2.get(f"/console/appeals/{appeal_id}").text
    assert "You took part in the decision under appeal" in page and 'id="claim-appeal"' not in page
    r = senior2.post(f"/console/appeals/{appeal_id}/claim")
    assert r.status_code == 409 and "a different person must decide" in r.text


def test_disputes_list(app, client, database: Database, people) -> None:
    """DSA-5: the out-of-court disputes, with their outcome and implementation."""
    case_id = case_of(database, report(client, policy="harassment", content="post-d", account="u-d"))
    decide(client, people["api_mo"], case_id, "harassment@2")
    legal_headers = sign_in(client, "legal")
    r = client.post(
        "/v1/disputes",
        headers=legal_headers,
        json={"body": "User Rights ADR", "case_id": case_id, "reference": "URA-2026-7"},
    )
    assert r.status_code == 201, r.text
    for name in ("legal", "senior"):
        page = people[name].get("/console/appeals/disputes")
        assert page.status_code == 200 and "User Rights ADR" in page.text and "URA-2026-7" in page.text
    assert "Disputes" in people["legal"].get("/console/appeals/disputes").text


# -- rights -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "method", "url", "data"),
    [
        ("aud", "get", "/console/search?q=x", None),  # cases:read
        ("aud", "get", "/console/accounts/1", None),
        ("aud", "get", "/console/content/1", None),
        ("aud", "post", "/console/cases/{case}/comments", {"body": "hi"}),
        ("legal", "post", "/console/cases/{case}/assignment", {"to": "role:moderator"}),  # cases:review
        ("legal", "post", "/console/queue/bulk-decision", {"case": ["{case}"], "outcome": "violates", "facts": "x"}),
        ("mo", "get", "/console/appeals", None),  # appeals:decide
        ("mo", "get", "/console/appeals/{appeal}", None),
        ("mo", "post", "/console/appeals/{appeal}/claim", {}),
        ("mo", "post", "/console/appeals/{appeal}/release", {}),
        ("mo", "post", "/console/appeals/{appeal}/decide", {"outcome": "upheld", "reasons": "x"}),
        ("mo", "get", "/console/appeals/disputes", None),  # appeals:disputes
    ],
)
def test_each_new_route_checks_its_right(app, client, database: Database, people, who, method, url, data) -> None:
    case_id = case_of(database, report(client, policy="harassment", content="post-r", account="u-r"))
    decide(client, people["api_mo"], case_id, "harassment@2")
    code = client.post(
        "/public/appeals",
        json={"statement_code": statement_for(database, case_id), "basis": "content_restriction", "explanation": "x"},
    ).json()["code"]
    with database.unit_of_work(write=False) as db:
        appeal_id = db.execute(sa.select(Appeal.id).where(Appeal.code == code)).scalar_one()
    target = url.format(case=case_id, appeal=appeal_id)
    user = people[who]
    if method == "get":
        r = user.get(target)
    else:
        r = user.post(
            target,
            {k: ([x.format(case=case_id) for x in v] if isinstance(v, list) else v) for k, v in (data or {}).items()},
        )
    assert r.status_code == 403, (target, r.status_code)


@pytest.mark.parametrize(
    "url",
    [
        "/console/cases/{case}/comments",
        "/console/cases/{case}/assignment",
        "/console/queue/bulk-decision",
        "/console/appeals/{appeal}/claim",
    ],
)
def test_new_forms_need_the_csrf_token(app, client, database: Database, people, url) -> None:
    case_id = _spam(client, 1)[0]
    r = people["senior"].post(url.format(case=case_id, appeal=1), {"body": "x", "to": "role:moderator"}, csrf="0" * 64)
    assert r.status_code == 403
    with database.unit_of_work(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(CaseComment)) == 0
        assert db.get_one(Case, case_id).assigned_to is None
