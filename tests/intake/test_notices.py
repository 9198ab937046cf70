"""Notices: anyone can report, nothing is dropped, duplicates become one case, clocks start at receipt."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from staydown.actors import Actor
from staydown.audit.models import AuditEvent
from staydown.cases.actions import claim_case
from staydown.cases.models import Case, LegalTrack
from staydown.clock import FrozenClock
from staydown.db import Database
from staydown.enforcement.models import EnforcementAction
from staydown.flows.decisions import decide_case
from staydown.intake.models import Notice
from staydown.staff.permissions import permissions_for_roles
from tests.conftest import T0
from tests.helpers import auth, make_key
from tests.imagegen import encode, jpeg, synthetic
from tests.videogen import clip, edited, needs_ffmpeg

MINOR_REPORT = {
    "kind": "public_report",
    "reporter_kind": "parent_or_representative",
    "policy_id": "csam",
    "minor_involved": True,
    "explanation": "This video shows my son, he is 16. He was coerced.",
    "items": [{"content_id": "vid-1", "url": "https://social.example/v/1"}],
}


def _tracks(database: Database, case_id: int) -> dict[str, LegalTrack]:
    with database.unit_of_work(write=False) as db:
        return {t.kind: t for t in db.execute(sa.select(LegalTrack).where(LegalTrack.case_id == case_id)).scalars()}


def test_X1_anonymous_child_safety_report_is_accepted_without_name_or_email(client, database: Database) -> None:
    """REQ X-1, DSA-1: no account, no name, no e-mail; a tracking code comes back."""
    r = client.post("/public/notices", json=MINOR_REPORT)
    assert r.status_code == 201, r.text
    body = r.json()
    assert len(body["tracking_code"]) == 23 and body["state"] == "received"
    assert body["tracking_code"] in body["acknowledgement"] and body["cases"] == []  # no internals to the public
    with database.unit_of_work(write=False) as db:
        notice = db.execute(sa.select(Notice)).scalar_one()
        assert notice.contact_email is None and notice.contact_name is None and notice.minor_involved
        event = db.execute(sa.select(AuditEvent).where(AuditEvent.tag == "intake:notice:receive")).scalar_one()
        assert event.actor_kind == "public" and event.data["anonymous"] is True


def test_X4_child_safety_notice_restricts_the_content_at_once(client, database: Database) -> None:
    """REQ X-4: out of recommendation, search and monetisation before any human looks."""
    client.post("/public/notices", json=MINOR_REPORT)
    with database.unit_of_work(write=False) as db:
        action = db.execute(sa.select(EnforcementAction)).scalar_one()
        assert action.kind == "restrict_distribution" and action.interim and action.state == "active"
        assert action.details["scope"] == ["recommendation", "search", "monetisation"]
        assert action.created_by == "public:anonymous"


def test_X2_minor_report_opens_legal_tracks_with_clocks_from_receipt(client, database: Database) -> None:
    """REQ X-2, TID-2, UK-1: TAKE IT DOWN (48 h from receipt), NCMEC (waiting for actual knowledge),
    DSA, UK intimate image, and the swift takedown of priority illegal content (24 h)."""
    r = client.post("/public/notices", json=MINOR_REPORT)
    with database.unit_of_work(write=False) as db:
        case = db.execute(sa.select(Case)).scalar_one()
        assert case.child_safety and case.minor_involved and case.area == "child_safety"
    tracks = _tracks(database, case.id)
    assert set(tracks) == {"take_it_down", "ncmec", "dsa_notice", "uk_intimate_image", "priority_takedown"}
    assert tracks["priority_takedown"].due_at == T0 + timedelta(hours=24)
    assert tracks["take_it_down"].received_at == T0 and tracks["take_it_down"].due_at == T0 + timedelta(hours=48)
    assert tracks["ncmec"].state == "waiting" and tracks["ncmec"].due_at is None
    assert tracks["uk_intimate_image"].due_at == T0 + timedelta(hours=48)
    assert r.json()["deadlines"]


def test_ncii_report_by_adult_is_reclassified_only_when_a_minor_is_involved(client, database: Database) -> None:
    r = client.post(
        "/public/notices",
        json={**MINOR_REPORT, "policy_id": "ncii", "minor_involved": False, "reporter_kind": "affected_person"},
    )
    assert r.status_code == 201
    with database.unit_of_work(write=False) as db:
        case = db.execute(sa.select(Case)).scalar_one()
        assert case.policy_id == "ncii" and case.ncii and not case.child_safety
    assert set(_tracks(database, case.id)) == {"take_it_down", "dsa_notice", "uk_intimate_image"}


def test_duplicate_reports_join_one_case_and_raise_priority(client, database: Database, clock: FrozenClock) -> None:
    """Ten reports of the same content are one case with ten notices, priority rising with reporters."""
    report = {
        "kind": "public_report",
        "reporter_kind": "user",
        "policy_id": "harassment",
        "explanation": "targeted abuse",
        "items": [{"content_id": "post-9"}],
    }
    client.post("/public/notices", json=report)
    with database.unit_of_work(write=False) as db:
        first = db.execute(sa.select(Case)).scalar_one().priority
    for i in range(4):
        clock.advance(minutes=1)
        r = client.post("/public/notices", json={**report, "contact_email": f"person{i}@example.org"})
        assert r.status_code == 201
    with database.unit_of_work(write=False) as db:
        case = db.execute(sa.select(Case)).scalar_one()
        assert case.notice_count == 5 and case.reporter_count == 5
        assert case.priority > first


def test_same_reporter_twice_counts_once_as_reporter(client, database: Database) -> None:
    report = {**MINOR_REPORT, "contact_email": "parent@example.org"}
    client.post("/public/notices", json=report)
    client.post("/public/notices", json=report)
    with database.unit_of_work(write=False) as db:
        case = db.execute(sa.select(Case)).scalar_one()
        assert case.notice_count == 2 and case.reporter_count == 1


def test_perceptual_duplicate_joins_the_same_case(client, database: Database, api_key: str) -> None:
    """A re-upload (another content id, same picture re-encoded) reported later joins the open case."""

    img = synthetic(8)
    for content_id, data in (("orig", encode(img, "JPEG", quality=90)), ("reupload", encode(img, "PNG"))):
        r = client.post(
            "/v1/scan",
            headers=auth(api_key),
            files={"file": ("x", data, "image/jpeg")},
            data={"content_id": content_id, "account_id": f"acct-{content_id}"},
        )
        assert r.status_code == 200
    client.app.state.match_engine.catch_up()
    client.post(
        "/v1/notices",
        headers=auth(api_key),
        json={
            "policy_id": "ncii",
            "reporter_kind": "affected_person",
            "explanation": "that is me, posted without consent",
            "items": [{"content_id": "orig"}],
        },
    )
    client.post(
        "/v1/notices",
        headers=auth(api_key),
        json={
            "policy_id": "ncii",
            "reporter_kind": "user",
            "explanation": "looks like a leaked private image",
            "items": [{"content_id": "reupload"}],
        },
    )
    with database.unit_of_work(write=False) as db:
        cases = db.execute(sa.select(Case)).scalars().all()
        assert len(cases) == 1 and cases[0].notice_count == 2


def test_TID1_incomplete_takedown_request_is_kept_and_answered_with_what_is_missing(
    client, database: Database, clock: FrozenClock
) -> None:
    """REQ TID-1, TID-2: stored, 422 listing exactly the missing elements, completed later by code;
    the 48-hour clock starts when the request becomes valid."""
    r = client.post(
        "/public/takedown-requests",
        json={
            "reporter_kind": "affected_person",
            "items": [{"url": "https://social.example/p/77"}],
            "explanation": "These are private photos of me shared without consent.",
        },
    )
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "takedown_request_incomplete"
    details = body["details"]
    missing = [m["element"] for m in details["missing"]]
    assert missing == ["signature", "good_faith_statement", "contact"]
    assert all(m["what"] for m in details["missing"])
    code = details["tracking_code"]
    with database.unit_of_work(write=False) as db:
        notice = db.execute(sa.select(Notice)).scalar_one()
        assert notice.state == "incomplete" and notice.missing_elements == missing
    status = client.get(f"/public/status/{code}").json()
    assert status["state"] == "incomplete" and status["missing"] == missing

    clock.advance(hours=5)
    r = client.post(f"/public/takedown-requests/{code}/complete", json={"signature": "/s/ A. Person"})
    assert r.status_code == 422 and "good_faith_statement" in r.json()["message"]
    clock.advance(hours=1)
    r = client.post(
        f"/public/takedown-requests/{code.lower().replace('-', '')}/complete",
        json={"good_faith": True, "contact_email": "me@example.org"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "received"
    with database.unit_of_work(write=False) as db:
        track = db.execute(sa.select(LegalTrack).where(LegalTrack.kind == "take_it_down")).scalar_one()
        assert track.received_at == T0 + timedelta(hours=6)
        assert track.due_at == T0 + timedelta(hours=54)


def test_takedown_request_complete_at_once(client) -> None:
    r = client.post(
        "/public/takedown-requests",
        json={
            "reporter_kind": "parent_or_representative",
            "items": [{"content_id": "img-4"}],
            "good_faith": True,
            "signature": "/s/ parent",
            "contact_email": "parent@example.org",
            "explanation": "This is an intimate image of my daughter shared without consent.",
        },
    )
    assert r.status_code == 201, r.text
    assert any(d["kind"] == "take_it_down" for d in r.json()["deadlines"])


def test_bad_notices_get_clear_errors(client, api_key: str) -> None:
    r = client.post("/public/notices", json={"items": []})
    assert r.status_code == 422 and "items" in r.json()["message"]
    r = client.post("/public/notices", json={"items": [{}]})
    assert r.status_code == 422 and "content_id or a url" in r.json()["message"]
    r = client.post("/public/notices", json={"kind": "law_enforcement", "items": [{"content_id": "a"}]})
    assert r.status_code == 422 and "public_report" in r.json()["message"]
    r = client.post("/public/notices", json={"reporter_kind": "trusted_flagger", "items": [{"content_id": "a"}]})
    assert r.status_code == 422
    r = client.post("/public/notices", json={"policy_id": "nope", "items": [{"content_id": "a"}]})
    assert r.status_code == 422 and "nope" in r.json()["message"]
    r = client.post("/public/notices", json={"contact_email": "not-an-email", "items": [{"content_id": "a"}]})
    assert r.status_code == 422 and "e-mail" in r.json()["message"]
    r = client.post("/public/notices", json={"explanation": "x" * 10_001, "items": [{"content_id": "a"}]})
    assert r.status_code == 422
    assert client.post("/v1/notices", json=MINOR_REPORT).status_code == 401
    r = client.get("/public/status/AAAAA-BBBBB-CCCCC-DDDDD")
    assert r.status_code == 404
    r = client.get("/public/status/nonsense")
    assert r.status_code == 404


def test_public_forms_are_rate_limited(client, app) -> None:
    app.state.settings.public_rate_per_minute = 3
    codes = [client.post("/public/notices", json={"items": [{"content_id": f"c{i}"}]}).status_code for i in range(5)]
    assert codes[:3] == [201, 201, 201] and codes[3:] == [429, 429]


def test_status_page_shows_nothing_about_other_people(client) -> None:
    mine = client.post(
        "/public/notices", json={**MINOR_REPORT, "contact_email": "parent@example.org", "contact_name": "A Parent"}
    ).json()
    client.post(
        "/public/notices",
        json={
            **MINOR_REPORT,
            "contact_email": "other@example.org",
            "contact_name": "Someone Else",
            "explanation": "private words",
        },
    )
    text = client.get(f"/public/status/{mine['tracking_code']}").text
    for secret in ("other@example.org", "Someone Else", "private words", "parent@example.org"):
        assert secret not in text


def test_scan_detection_opens_a_case_for_a_person_to_confirm(client, database: Database) -> None:
    """CSAM-7: a hold or block at scan is not a decision; it is a notice from the system."""

    key = make_key(database, ["banks:write", "banks:read", "scan"])
    data = jpeg(55)
    client.post(
        "/v1/banks",
        headers=auth(key),
        json={
            "name": "partner",
            "source": "tech_coalition",
            "permitted_purpose": "upload screening",
            "policy_id": "csam",
            "action_on_match": "block",
        },
    )
    pdq = client.post("/v1/scan", headers=auth(key), files={"file": ("x", data, "image/jpeg")}).json()["signals"]["pdq"]
    client.post(
        "/v1/banks/partner/entries", headers=auth(key), json={"entries": [{"signal_type": "pdq", "signal": pdq}]}
    )
    client.app.state.match_engine.catch_up()
    r = client.post(
        "/v1/scan",
        headers=auth(key),
        files={"file": ("x", data, "image/jpeg")},
        data={"content_id": "up-1", "account_id": "acct-9"},
    )
    body = r.json()
    assert body["verdict"] == "block" and len(body["case_ids"]) == 1
    with database.unit_of_work(write=False) as db:
        notice = db.execute(sa.select(Notice).where(Notice.kind == "detection")).scalar_one()
        assert notice.reporter_kind == "automated" and notice.policy_id == "csam"
        assert "partner" in notice.explanation and notice.submitted_by == "system:staydown"
        case = db.get_one(Case, body["case_ids"][0])
        assert case.state == "open" and case.child_safety


def test_terrorist_removal_order_has_a_one_hour_clock(client, api_key: str, database: Database) -> None:
    r = client.post(
        "/v1/notices",
        headers=auth(api_key),
        json={
            "kind": "terrorist_order",
            "reporter_kind": "authority",
            "explanation": "removal order 2026/77",
            "details": {"authority": "competent authority of a member state", "order_ref": "2026/77"},
            "items": [{"content_id": "post-t"}],
        },
    )
    assert r.status_code == 201, r.text
    deadlines = {d["kind"]: d for d in r.json()["deadlines"]}
    assert deadlines["terrorist_order"]["due_at"].startswith((T0 + timedelta(hours=1)).isoformat()[:19])
    with database.unit_of_work(write=False) as db:
        case = db.execute(sa.select(Case)).scalar_one()
        assert case.policy_id == "terrorist-content" and case.law_enforcement


def test_a_held_upload_is_restricted_and_released_by_a_no_violation(client, database: Database) -> None:
    """A scan-time hold is an interim action: the platform learns of its lifting like any other."""

    key = make_key(database, ["banks:write", "banks:read", "scan"])
    data = jpeg(56)
    client.post(
        "/v1/banks",
        headers=auth(key),
        json={
            "name": "review",
            "source": "other",
            "permitted_purpose": "p",
            "policy_id": "harassment",
            "action_on_match": "hold",
        },
    )
    pdq = client.post("/v1/scan", headers=auth(key), files={"file": ("x", data, "image/jpeg")}).json()["signals"]["pdq"]
    client.post(
        "/v1/banks/review/entries", headers=auth(key), json={"entries": [{"signal_type": "pdq", "signal": pdq}]}
    )
    client.app.state.match_engine.catch_up()
    body = client.post(
        "/v1/scan",
        headers=auth(key),
        files={"file": ("x", data, "image/jpeg")},
        data={"content_id": "held-1", "account_id": "acct-h"},
    ).json()
    assert body["verdict"] == "hold"
    with database.unit_of_work(write=False) as db:
        action = db.execute(sa.select(EnforcementAction)).scalar_one()
        assert action.kind == "restrict_distribution" and action.interim and action.state == "active"
    mod = Actor.staff(5, "mod", permissions_for_roles(["moderator"]))
    with database.unit_of_work() as db:
        case = db.get_one(Case, body["case_ids"][0])
        claim_case(db, actor=mod, case=case)
        decide_case(
            db,
            actor=mod,
            case=case,
            policy_ref="harassment@2",
            outcome="does_not_violate",
            facts="a false match",
            catalogue=client.app.state.catalogue,
        )
    with database.unit_of_work(write=False) as db:
        assert db.execute(sa.select(EnforcementAction)).scalar_one().state == "lifted"


def test_a_retried_notice_with_the_same_idempotency_key_is_filed_once(client, api_key: str, database: Database) -> None:
    body = {"policy_id": "harassment", "explanation": "threats", "items": [{"content_id": "p-77"}]}
    headers = {**auth(api_key), "Idempotency-Key": "report-123"}
    first = client.post("/v1/notices", headers=headers, json=body).json()
    again = client.post("/v1/notices", headers=headers, json=body).json()
    assert again["tracking_code"] == first["tracking_code"] and again["cases"] == first["cases"]
    other = client.post("/v1/notices", headers={**auth(api_key), "Idempotency-Key": "report-124"}, json=body).json()
    assert other["tracking_code"] != first["tracking_code"]
    with database.unit_of_work(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Notice)) == 2


def test_status_shows_only_the_clocks_this_notice_opened(client, clock: FrozenClock) -> None:
    """REQ TID-2, DSA-1: a bystander reports an image, then the person in it files a TAKE IT DOWN
    request about it. Each status shows the clocks that govern their own notice: the person's
    TAKE IT DOWN clock runs from their request and is not shown to the bystander; the UK and DSA
    clocks the bystander's report started govern the same content for both (one per case), so
    the person sees those, due earlier than their own would be."""
    r = client.post(
        "/public/notices",
        json={
            "reporter_kind": "user",
            "items": [{"content_id": "img-shared"}],
            "policy_id": "ncii",
            "good_faith": True,
            "explanation": "This looks like an intimate image posted without consent.",
        },
    )
    assert r.status_code == 201, r.text
    bystander = r.json()["tracking_code"]
    clock.advance(hours=3)
    r = client.post(
        "/public/takedown-requests",
        json={
            "reporter_kind": "affected_person",
            "items": [{"content_id": "img-shared"}],
            "good_faith": True,
            "signature": "/s/ me",
            "contact_email": "me@example.org",
            "explanation": "An intimate image of me shared without my consent.",
        },
    )
    assert r.status_code == 201, r.text
    affected = r.json()["tracking_code"]
    first, second = (client.get(f"/public/status/{c}").json() for c in (bystander, affected))
    assert "take_it_down" not in {d["kind"] for d in first["deadlines"]}
    assert {d["received_at"] for d in first["deadlines"]} <= {"2026-06-01T12:00:00Z"}
    theirs = {d["kind"]: d for d in second["deadlines"]}
    assert theirs["take_it_down"]["received_at"] == "2026-06-01T15:00:00Z"
    assert theirs["take_it_down"]["due_at"] == "2026-06-03T15:00:00Z"
    assert theirs["uk_intimate_image"]["due_at"] == "2026-06-03T12:00:00Z"
    assert set(theirs) == {"take_it_down", "uk_intimate_image", "dsa_notice"}


def test_status_reasons_carry_no_personal_data(client, database: Database, staff) -> None:
    """DSA-1, X-1: the notifier gets the outcome with reasons, but the reviewer's words are scrubbed
    of other people's personal data before a public page shows them."""
    r = client.post(
        "/public/notices",
        json={
            "reporter_kind": "user",
            "items": [{"content_id": "img-pii"}],
            "policy_id": "harassment",
            "good_faith": True,
            "explanation": "This post harasses someone.",
        },
    )
    code = r.json()["tracking_code"]
    with database.unit_of_work(write=False) as db:
        case_id = db.execute(sa.select(Case.id)).scalar_one()
    assert client.post(f"/v1/cases/{case_id}/claim", headers=staff["senior"]).status_code == 200
    facts = "Posted by @jdoe99 (jane.doe@example.org, 203.0.113.7); it is a joke between friends."
    d = client.post(
        f"/v1/cases/{case_id}/decision",
        headers=staff["senior"],
        json={"policy": "harassment@2", "outcome": "does_not_violate", "facts": facts},
    )
    assert d.status_code == 200, d.text
    status = client.get(f"/public/status/{code}").json()
    assert status["outcome"] == "does_not_violate" and "joke between friends" in status["reasons"]
    for leaked in ("@jdoe99", "jane.doe@example.org", "203.0.113.7"):
        assert leaked not in status["reasons"]


def test_an_item_url_must_be_ascii(client) -> None:
    """Bad input gets a clear error: a URL is ASCII on the wire (RFC 3986); other characters are
    percent-encoded. (It also keeps every URL within what the case look-up index can hold.)"""
    r = client.post(
        "/public/notices", json={**MINOR_REPORT, "items": [{"url": "https://social.example/v/" + "ü" * 600}]}
    )
    assert r.status_code == 422, r.text
    assert "must be ASCII" in r.text and "percent-encode" in r.text


def test_video_reupload_reported_later_joins_the_same_case(client, database: Database, api_key: str) -> None:
    """A re-encoded, trimmed re-upload of a reported video (matched by its vPDQ) joins the open case."""

    if needs_ffmpeg.args[0]:
        pytest.skip(needs_ffmpeg.kwargs["reason"])
    for content_id, data in (("orig", clip(61)), ("reupload", edited(61, "trim"))):
        r = client.post(
            "/v1/scan",
            headers=auth(api_key),
            files={"file": ("v", data, "video/mp4")},
            data={"content_id": content_id, "account_id": f"acct-{content_id}"},
        )
        assert r.status_code == 200
    client.app.state.match_engine.catch_up()
    for content_id, kind in (("orig", "affected_person"), ("reupload", "user")):
        client.post(
            "/v1/notices",
            headers=auth(api_key),
            json={
                "policy_id": "ncii",
                "reporter_kind": kind,
                "explanation": "a private video posted without consent",
                "items": [{"content_id": content_id}],
            },
        )
    with database.unit_of_work(write=False) as db:
        cases = db.execute(sa.select(Case)).scalars().all()
        assert len(cases) == 1 and cases[0].notice_count == 2
