"""Legal tracks tell the truth: the catalogue says which clocks a report opens, a decision of
either outcome meets the DSA's timely decision, a refusal closes the removal clocks with the
reasons the reporter sees, a match against confirmed material is knowledge, an order runs its
own clock, and each notifier is shown only the clocks that govern their own notice."""

from __future__ import annotations

import importlib.resources
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from staydown.actors import SYSTEM
from staydown.actors import SYSTEM as system
from staydown.app import create_app
from staydown.audit.models import AuditEvent
from staydown.cases.actions import sweep_deadlines
from staydown.cases.models import Case, LegalTrack, StaffAlert
from staydown.clock import FrozenClock
from staydown.db import Database
from staydown.enforcement.models import EnforcementAction
from staydown.matching.banks import NewEntry, add_entries, create_bank
from staydown.media.hashing import compute_signals
from staydown.policies import load_catalogue
from staydown.policies.catalogue import check_catalogue_text
from staydown.staff.actions import create_api_client
from staydown.transparency.report import build_report
from tests.conftest import T0
from tests.helpers import auth, sign_in
from tests.imagegen import encode, synthetic

DEFAULT_TEXT = importlib.resources.files("staydown.policies").joinpath("default.yaml").read_text()

SPAM = {
    "kind": "public_report",
    "reporter_kind": "user",
    "policy_id": "spam",
    "good_faith": True,
    "explanation": "the same advert posted forty times",
    "items": [{"content_id": "post-1", "account_id": "u-1"}],
}
BYSTANDER_CSAM = {
    "reporter_kind": "anonymous",
    "policy_id": "csam",
    "minor_involved": True,
    "explanation": "a child in a sexual picture",
    "items": [{"content_id": "img-9", "account_id": "u-9"}],
}


def _tracks(database: Database, case_id: int) -> dict[str, LegalTrack]:
    with database.unit_of_work(write=False) as db:
        rows = db.execute(sa.select(LegalTrack).where(LegalTrack.case_id == case_id)).scalars().all()
        for row in rows:
            db.expunge(row)
        return {t.kind if t.scope == "case" else f"{t.kind}:{t.scope}": t for t in rows}


def _only_case(database: Database) -> int:
    with database.unit_of_work(write=False) as db:
        return db.execute(sa.select(Case.id).order_by(Case.id.desc()).limit(1)).scalar_one()


def _decide(client, headers, case_id: int, policy: str, outcome: str, facts: str = "reviewed the post") -> dict:
    assert client.post(f"/v1/cases/{case_id}/claim", headers=headers).status_code == 200
    r = client.post(
        f"/v1/cases/{case_id}/decision", headers=headers, json={"policy": policy, "outcome": outcome, "facts": facts}
    )
    assert r.status_code == 200, r.text
    return r.json()


def _sweep_at(database: Database, clock: FrozenClock, hours: float) -> None:
    clock.set(T0 + timedelta(hours=hours))
    with database.unit_of_work() as db:
        sweep_deadlines(db, actor=SYSTEM)


# -- a decision of either outcome meets the DSA clock ---------------------------------------------


def test_DSA1_a_no_violation_decision_meets_the_timely_decision_and_nothing_breaches(
    client, staff, database: Database, clock: FrozenClock
) -> None:
    """REQ DSA-1, DSA-8: most reports end in no action. A "does not violate" decided within
    minutes meets the DSA track; days later nothing has escalated or breached, no alert was
    raised, and the transparency report counts it met on time, not missed."""
    r = client.post("/public/notices", json=SPAM)
    code = r.json()["tracking_code"]
    case_id = _only_case(database)
    clock.advance(minutes=20)
    body = _decide(client, staff["mo"], case_id, "spam@2", "does_not_violate", "one post, not repeated")
    track = {t["kind"]: t for t in body["case"]["tracks"]}["dsa_notice"]
    assert track["state"] == "met" and track["resolution"] == "decided"
    for hours in (60, 80, 200):
        _sweep_at(database, clock, hours)
    with database.unit_of_work(write=False) as db:
        row = db.execute(sa.select(LegalTrack)).scalar_one()
        assert row.escalated_at is None and row.breached_at is None
        assert db.scalar(sa.select(sa.func.count()).select_from(StaffAlert)) == 0
        report = build_report(db, start=T0, end=T0 + timedelta(days=10), catalogue=client.app.state.catalogue)
    figures = report.figures["legal_tracks"]["dsa_notice"]
    assert figures["met_on_time"] == 1 and figures["missed"] == 0 and figures["overdue"] == 0
    status = client.get(f"/public/status/{code}").json()
    assert [(d["kind"], d["state"], d["resolution"]) for d in status["deadlines"]] == [("dsa_notice", "met", "decided")]
    page = client.get(f"/status/{code}").text
    assert "Not done yet" not in page and "Decided" in page


def test_TID2_a_violation_keeps_the_removal_clocks_until_the_platform_confirms(
    client, staff, api_key: str, database: Database, clock: FrozenClock
) -> None:
    """REQ TID-2, UK-3: "violates" meets the DSA decision at once; the TAKE IT DOWN and UK removal
    clocks are met only by the platform's confirmation that the item is down."""
    r = client.post(
        "/public/takedown-requests",
        json={
            "reporter_kind": "affected_person",
            "items": [{"content_id": "img-1", "account_id": "u-1"}],
            "good_faith": True,
            "signature": "/s/ A. Person",
            "contact_email": "a@example.org",
            "explanation": "An intimate picture of me that I never agreed to share.",
        },
    )
    assert r.status_code == 201, r.text
    case_id = _only_case(database)
    clock.advance(hours=3)
    body = _decide(client, staff["mo"], case_id, "ncii@2", "violates", "an intimate image shared without consent")
    states = {t["kind"]: t["state"] for t in body["case"]["tracks"]}
    assert states == {"dsa_notice": "met", "take_it_down": "open", "uk_intimate_image": "open"}
    with database.unit_of_work(write=False) as db:
        removal = db.execute(sa.select(EnforcementAction).where(EnforcementAction.kind == "remove")).scalar_one()
    clock.advance(hours=1)
    assert (
        client.post(f"/v1/actions/{removal.id}/ack", headers=auth(api_key), json={"status": "applied"}).status_code
        == 200
    )
    tracks = _tracks(database, case_id)
    assert tracks["take_it_down"].state == "met" and tracks["take_it_down"].resolution == "removal_confirmed"
    assert tracks["take_it_down"].met_at == T0 + timedelta(hours=4)
    assert tracks["uk_intimate_image"].state == "met"


def test_TID1_a_refused_request_is_closed_with_reasons_the_requester_reads(client, staff, database: Database) -> None:
    """REQ TID-1, TID-5, DSA-1: a TAKE IT DOWN request refused on review is not left running
    "Not yet" above the outcome: the clock is closed as a refusal, and the page shows why."""
    r = client.post(
        "/public/takedown-requests",
        json={
            "reporter_kind": "affected_person",
            "items": [{"content_id": "img-2"}],
            "good_faith": True,
            "signature": "/s/ B. Person",
            "contact_email": "b@example.org",
            "explanation": "A picture of me at the beach that I want removed.",
        },
    )
    code = r.json()["tracking_code"]
    case_id = _only_case(database)
    client.post(f"/v1/cases/{case_id}/claim", headers=staff["senior"])
    r = client.post(
        f"/v1/cases/{case_id}/decision",
        headers=staff["senior"],
        json={
            "policy": "ncii@2",
            "outcome": "does_not_violate",
            "facts": "a clothed beach photo: not an intimate image",
        },
    )
    assert r.status_code == 200 and r.json()["effective"] is False  # NCII: a second person decides
    r = client.post(
        f"/v1/cases/{case_id}/second-review",
        headers=staff["cs1"],
        json={"agree": True, "facts": "agreed: swimwear in a public place"},
    )
    assert r.status_code == 200, r.text
    status = client.get(f"/public/status/{code}").json()
    by_kind = {d["kind"]: d for d in status["deadlines"]}
    assert by_kind["take_it_down"]["state"] == "not_applicable"
    assert by_kind["take_it_down"]["resolution"] == "refused_on_review"
    assert "not an intimate image" in status["reasons"] and "swimwear" in status["reasons"]
    page = client.get(f"/status/{code}").text
    assert "Not removed: refused after review" in page and "Not done yet" not in page


# -- the catalogue drives which clocks open -------------------------------------------------------


def _catalogue_with(old: str, new: str):
    assert old in DEFAULT_TEXT
    return load_catalogue(DEFAULT_TEXT.replace(old, new, 1))


@pytest.fixture
def custom_client(settings, database: Database):
    def build(catalogue):
        return TestClient(create_app(settings, database=database, run_worker=False, catalogue=catalogue))

    return build


def test_catalogue_lists_drive_which_clocks_open_and_their_hours(custom_client, database: Database) -> None:
    """Each policy's list in the catalogue is what intake reads: a policy's own hours for a kind
    it lists set that clock, and a kind it no longer lists does not open."""
    spam = DEFAULT_TEXT[DEFAULT_TEXT.index("  - id: spam") :]
    spam = spam[: spam.index("notice:")]
    csam_tracks = "legal_tracks: [ncmec, take_it_down, uk_intimate_image, priority_takedown, uk_nca, dsa_notice]"
    text = (
        DEFAULT_TEXT.replace(
            spam,
            spam.replace("legal_tracks: [dsa_notice]", "legal_tracks: [{kind: dsa_notice, hours: 6}]").replace(
                "version: 2", "version: 3"
            ),
            1,
        )
        .replace(csam_tracks, "legal_tracks: [ncmec, take_it_down, {kind: priority_takedown, hours: 2}]", 1)
        .replace("priority_takedown: {hours: 24}", "priority_takedown: {hours: 12}", 1)
    )
    catalogue = load_catalogue(text)
    with custom_client(catalogue) as client:
        client.post("/public/notices", json=SPAM)
        spam_case = _only_case(database)
        client.post("/public/notices", json=BYSTANDER_CSAM)
        csam_case = _only_case(database)
    spam_tracks = _tracks(database, spam_case)
    assert set(spam_tracks) == {"dsa_notice"} and spam_tracks["dsa_notice"].due_at == T0 + timedelta(hours=6)
    assert spam_tracks["dsa_notice"].details["basis"] == "policy spam@3"
    csam = _tracks(database, csam_case)
    # No uk_intimate_image, no uk_nca and no dsa_notice: the policy no longer lists them.
    assert set(csam) == {"priority_takedown", "ncmec"}
    assert csam["priority_takedown"].due_at == T0 + timedelta(hours=2)


def test_catalogue_section_hours_apply_to_every_policy_that_lists_a_kind(custom_client, database: Database) -> None:
    catalogue = _catalogue_with("dsa_notice: {hours: 72}", "dsa_notice: {hours: 36}")
    with custom_client(catalogue) as client:
        client.post("/public/notices", json=SPAM)
    track = _tracks(database, _only_case(database))["dsa_notice"]
    assert track.due_at == T0 + timedelta(hours=36) and track.details["basis"] == "catalogue"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("legal_tracks: [dsa_notice]", "legal_tracks: [dsa_notise]"), "'dsa_notise' is not a legal track"),
        (("legal_tracks: [dsa_notice]", "legal_tracks: [dsa_art18]"), "opened by a marked threat to life"),
        (("legal_tracks: [dsa_notice]", "legal_tracks: [terrorist_order]"), "opened by the order itself"),
        (("dsa_notice: {hours: 72}", "dsa_notise: {hours: 72}"), "is not a kind of legal track"),
        (("take_it_down: {hours: 48}", "take_it_down: {hours: 72}"), "at most 48 hours"),
        (
            (
                "legal_tracks: [take_it_down, uk_intimate_image, dsa_notice]",
                "legal_tracks: [{kind: take_it_down, hours: 50}, uk_intimate_image, dsa_notice]",
            ),
            "at most 48 hours",
        ),
        (("legal_tracks: [dsa_notice]", "legal_tracks: [uk_nca, dsa_notice]"), "belongs to child-safety policies"),
    ],
)
def test_policies_check_refuses_unknown_and_unlawful_tracks(edit: tuple[str, str], message: str) -> None:
    """`staydown policies check` names what is wrong with a catalogue's legal tracks, with its line."""
    old, new = edit
    problems = check_catalogue_text(DEFAULT_TEXT.replace(old, new, 1))
    assert problems, "the catalogue should have been refused"
    assert any(message in p.message for p in problems), [str(p) for p in problems]
    assert all(p.line for p in problems)


# -- bystanders, addresses, orders --------------------------------------------------------------


def test_UK1_a_bystanders_anonymous_csam_report_runs_a_takedown_clock(client, database: Database) -> None:
    """REQ UK-1, X-1: not only NCMEC (waiting for knowledge) and the EU clock: the swift takedown
    clock runs from receipt for a report by anyone."""
    r = client.post("/public/notices", json=BYSTANDER_CSAM)
    assert r.status_code == 201
    tracks = _tracks(database, _only_case(database))
    assert tracks["priority_takedown"].state == "open"
    assert tracks["priority_takedown"].due_at == T0 + timedelta(hours=24)
    assert tracks["ncmec"].state == "waiting"
    assert "take_it_down" not in tracks  # the TAKE IT DOWN Act's request is the depicted person's
    assert {d["kind"] for d in r.json()["deadlines"]} == {"priority_takedown", "dsa_notice"}


def test_X2_a_parents_grooming_report_on_a_csam_case_gets_no_intimate_image_clocks(
    client, api_key: str, database: Database
) -> None:
    """REQ X-2, TID-2, UK-3: the TAKE IT DOWN and UK intimate-image clocks answer a report of an
    intimate image. A parent reporting grooming messages on content whose case was opened as CSAM
    is shown the clocks that fit a grooming report, not the intimate-image ones of the case."""
    r = client.post(
        "/v1/notices",
        headers=auth(api_key),
        json={
            "reporter_kind": "user",
            "policy_id": "csam",
            "explanation": "a picture of a child",
            "items": [{"content_id": "msg-1", "account_id": "u-1"}],
        },
    )
    assert r.status_code == 201
    r = client.post(
        "/public/notices",
        json={
            "reporter_kind": "parent_or_representative",
            "policy_id": "child-sexual-enticement",
            "minor_involved": True,
            "explanation": "he keeps messaging my daughter asking for pictures",
            "items": [{"content_id": "msg-1"}],
        },
    )
    assert r.status_code == 201
    kinds = {d["kind"] for d in r.json()["deadlines"]}
    assert kinds == {"priority_takedown", "dsa_notice"}
    status = client.get(f"/public/status/{r.json()['tracking_code']}").json()
    assert not {"take_it_down", "uk_intimate_image"} & {d["kind"] for d in status["deadlines"]}
    assert "intimate" not in " ".join(d["title"] for d in status["deadlines"]).lower()
    # The parent of the person depicted, reporting the image itself, still gets both.
    r = client.post(
        "/public/notices",
        json={
            "reporter_kind": "parent_or_representative",
            "policy_id": "csam",
            "minor_involved": True,
            "explanation": "this picture shows my daughter",
            "items": [{"content_id": "msg-1"}],
        },
    )
    assert {"take_it_down", "uk_intimate_image"} <= {d["kind"] for d in r.json()["deadlines"]}


def test_UK1_a_url_only_report_resolves_to_registered_content_and_is_restricted(
    client, api_key: str, database: Database
) -> None:
    """REQ UK-1, X-4: a report that gives only an address is resolved to the content the platform
    registered there (another spelling of the address included), so the interim restriction
    applies at once."""
    r = client.put(
        "/v1/content/post-77",
        headers=auth(api_key),
        json={"kind": "image", "url": "https://forum.example/p/77", "account": {"id": "u-77"}},
    )
    assert r.status_code == 200, r.text
    r = client.post("/public/notices", json={**BYSTANDER_CSAM, "items": [{"url": "http://FORUM.example/p/77/"}]})
    assert r.status_code == 201, r.text
    with database.unit_of_work(write=False) as db:
        case = db.execute(sa.select(Case)).scalar_one()
        assert case.content_id is not None
        action = db.execute(sa.select(EnforcementAction)).scalar_one()
        assert action.kind == "restrict_distribution" and action.content_id == case.content_id


def test_UK1_content_registered_later_at_a_reported_address_joins_its_case(
    client, api_key: str, database: Database
) -> None:
    """REQ UK-1, X-4: when the platform registers the content at an address someone reported
    before staydown knew it, it joins that report's case and is restricted."""
    r = client.post("/public/notices", json={**BYSTANDER_CSAM, "items": [{"url": "https://forum.example/p/88"}]})
    assert r.status_code == 201
    with database.unit_of_work(write=False) as db:
        assert db.execute(sa.select(Case.content_id)).scalar_one() is None
        assert db.scalar(sa.select(sa.func.count()).select_from(EnforcementAction)) == 0
    r = client.put(
        "/v1/content/post-88", headers=auth(api_key), json={"kind": "image", "url": "https://forum.example/p/88"}
    )
    assert r.status_code == 200
    with database.unit_of_work(write=False) as db:
        case = db.execute(sa.select(Case)).scalar_one()
        assert case.content_id is not None
        action = db.execute(sa.select(EnforcementAction)).scalar_one()
        assert action.kind == "restrict_distribution" and action.content_id == case.content_id
        tags = db.execute(sa.select(AuditEvent.tag)).scalars().all()
        assert "case:url:resolved" in tags


def test_X_an_agents_order_opens_its_own_track_and_its_receipt_shows_only_it(
    client, api_key: str, staff, database: Database, clock: FrozenClock
) -> None:
    """REQ X-2, X-5: the DHS step of the case. A parent's report runs its clocks; days later a
    law-enforcement agent's request joins the case with the deadline it states: its own track,
    and a receipt that lists only that track, not the parent's (already breached) clocks."""
    parent = client.post("/public/notices", json={**BYSTANDER_CSAM, "reporter_kind": "parent_or_representative"})
    parent_code = parent.json()["tracking_code"]
    case_id = _only_case(database)
    _sweep_at(database, clock, 73)
    r = client.post(
        "/v1/notices",
        headers=auth(api_key),
        json={
            "kind": "law_enforcement",
            "reporter_kind": "law_enforcement",
            "policy_id": "csam",
            "minor_involved": True,
            "explanation": "material depicting a trafficked minor; remove and preserve",
            "order": {"issued_by": "Homeland Security Investigations", "reference": "HSI-2020-0142", "hours": 6},
            "items": [{"content_id": "img-9"}],
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["cases"] == [case_id]
    receipt = r.json()["deadlines"]
    assert [(d["kind"], d["state"]) for d in receipt] == [("authority_order", "open")]
    assert receipt[0]["due_at"].startswith((T0 + timedelta(hours=79)).isoformat()[:19])
    tracks = _tracks(database, case_id)
    order = next(t for k, t in tracks.items() if k.startswith("authority_order:notice:"))
    assert order.due_at == T0 + timedelta(hours=79) and order.details["basis"] == "the order's stated deadline"
    assert tracks["priority_takedown"].breached_at is not None  # the parent's clock, breached, stays theirs
    parent_status = client.get(f"/public/status/{parent_code}").json()
    assert "authority_order" not in {d["kind"] for d in parent_status["deadlines"]}
    # A second agency's order is a second track, not the first one joined.
    r = client.post(
        "/v1/notices",
        headers=auth(api_key),
        json={
            "kind": "authority_order",
            "reporter_kind": "authority",
            "policy_id": "csam",
            "order": {"issued_by": "A court", "reference": "C-1"},
            "items": [{"content_id": "img-9"}],
        },
    )
    assert r.status_code == 201
    assert len([k for k in _tracks(database, case_id) if k.startswith("authority_order:")]) == 2
    assert r.json()["deadlines"][0]["due_at"].startswith((T0 + timedelta(hours=73 + 24)).isoformat()[:19])


def test_terrorist_removal_order_keeps_the_regulations_one_hour(client, api_key: str, database: Database) -> None:
    """An EU terrorist-content removal order runs one hour from receipt (Regulation 2021/784 Art.
    3(3)), even when the order is sent with a later deadline by mistake."""
    r = client.post(
        "/v1/notices",
        headers=auth(api_key),
        json={
            "kind": "terrorist_order",
            "reporter_kind": "authority",
            "order": {"issued_by": "a competent authority", "reference": "TCO-7", "hours": 24},
            "items": [{"content_id": "vid-3"}],
        },
    )
    assert r.status_code == 201, r.text
    [track] = [t for t in _tracks(database, _only_case(database)).values() if t.kind == "terrorist_order"]
    assert track.due_at == T0 + timedelta(hours=1) and "law" in track.details["basis"]


def test_an_order_field_is_refused_on_a_report_that_is_not_an_order(client) -> None:
    r = client.post("/public/notices", json={**SPAM, "order": {"issued_by": "me", "reference": "x"}})
    assert r.status_code == 422 and "order" in r.text


# -- a match is knowledge -----------------------------------------------------------------------


def _scan(client, key: str, content_id: str, account: str, data: bytes) -> dict:
    r = client.post(
        "/v1/scan",
        headers=auth(key),
        files={"file": ("f.jpg", data, "image/jpeg")},
        data={"content_id": content_id, "account_id": account, "uploader_ip": "203.0.113.9"},
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_CSAM1_a_blocked_reupload_of_confirmed_material_is_knowledge_that_breaches_when_nobody_acts(
    client, staff, api_key: str, database: Database, clock: FrozenClock
) -> None:
    """REQ CSAM-1, CSAM-7, X-3, X-5: an item confirmed as CSAM is banked; its re-upload is blocked
    and, the policy acting on trusted matches, decided at once by the normal path (removal and
    account measures, marked automated); the NCMEC clock runs from the match, escalates and
    breaches with nobody acting, and a person must still confirm before a report is filed."""
    stand_in = synthetic(4242, (640, 480))
    _scan(client, api_key, "orig", "acct-a", encode(stand_in, "JPEG", quality=92))
    client.app.state.match_engine.catch_up()
    client.post("/public/notices", json={**BYSTANDER_CSAM, "items": [{"content_id": "orig"}]})
    first = _only_case(database)
    _decide(client, staff["cs1"], first, "csam@2", "violates", "apparent CSAM confirmed on review")
    client.app.state.match_engine.catch_up()

    clock.set(T0 + timedelta(hours=5))
    scan = _scan(client, api_key, "reupload", "acct-b", encode(stand_in, "PNG"))
    assert scan["verdict"] == "block" and scan["case_ids"]
    case_id = scan["case_ids"][0]
    assert case_id != first
    with database.unit_of_work(write=False) as db:
        case = db.get_one(Case, case_id)
        assert case.state == "decided" and case.outcome == "violates"
        assert case.actual_knowledge_at == T0 + timedelta(hours=5)
        actions = (
            db.execute(
                sa.select(EnforcementAction).where(
                    EnforcementAction.case_id == case_id, EnforcementAction.state == "active"
                )
            )
            .scalars()
            .all()
        )
        assert {a.kind for a in actions} >= {"remove", "terminate"}
        assert all(a.automated_decision and a.automated_detection for a in actions)
        knowledge = db.execute(
            sa.select(AuditEvent).where(AuditEvent.tag == "case:knowledge:csam", AuditEvent.subject_id == str(case_id))
        ).scalar_one()
        assert knowledge.data["source"] == "match" and knowledge.actor_kind == "system"
    ncmec = _tracks(database, case_id)["ncmec"]
    assert ncmec.state == "open" and ncmec.due_at == T0 + timedelta(hours=29)

    _sweep_at(database, clock, 5 + 19)
    _sweep_at(database, clock, 5 + 25)
    _sweep_at(database, clock, 5 + 73)
    ncmec = _tracks(database, case_id)["ncmec"]
    assert ncmec.escalated_at == T0 + timedelta(hours=24) and ncmec.breached_at == T0 + timedelta(hours=30)
    assert ncmec.state == "open"  # breached and still owed: only a finished report meets it
    with database.unit_of_work(write=False) as db:
        alerts = db.execute(sa.select(StaffAlert).where(StaffAlert.case_id == case_id)).scalars().all()
        assert {a.kind for a in alerts} == {"deadline_near", "deadline_breached"}
    # A person confirms before anything is filed (signed in again: days have passed).
    r = client.post(f"/v1/cases/{case_id}/ncmec-reports", headers=sign_in(client, "cs1"))
    assert r.status_code == 201 and all(d["state"] == "draft" for d in r.json())


def test_CSAM7_a_confirmed_match_under_a_policy_that_does_not_act_alone_is_knowledge_without_a_decision(
    custom_client, database: Database, clock: FrozenClock
) -> None:
    """REQ CSAM-1, CSAM-7: without `auto_action_on_trusted_match` nothing is decided by the
    machine, but the match against confirmed material is still knowledge: the clock runs."""

    catalogue = load_catalogue(
        DEFAULT_TEXT.replace("auto_action_on_trusted_match: true", "auto_action_on_trusted_match: false", 1).replace(
            "  - id: csam\n    version: 2", "  - id: csam\n    version: 3", 1
        )
    )
    stand_in = encode(synthetic(99, (512, 512)), "JPEG", quality=90)

    signals = compute_signals(stand_in)
    with database.unit_of_work() as db:
        bank = create_bank(
            db,
            actor=system,
            name="hash-list",
            source="ncmec",
            policy_id="csam",
            action_on_match="block",
            confirmed_material=True,
            permitted_purpose="detecting previously confirmed material",
        )
        add_entries(db, actor=system, bank=bank, entries=[NewEntry("md5", signals.md5, "")])
    with custom_client(catalogue) as client:
        key = _api_key(database)
        client.app.state.match_engine.catch_up()
        scan = _scan(client, key, "up-1", "acct-1", stand_in)
    assert scan["verdict"] == "block"
    with database.unit_of_work(write=False) as db:
        case = db.get_one(Case, scan["case_ids"][0])
        assert case.state == "open" and case.actual_knowledge_at == T0
    assert _tracks(database, case.id)["ncmec"].due_at == T0 + timedelta(hours=24)


def _api_key(database: Database) -> str:
    with database.unit_of_work() as db:
        return create_api_client(db, actor=SYSTEM, name="platform").key
