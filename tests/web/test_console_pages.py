"""Console pages for banks, NCMEC reports, evidence, trusted flaggers, the audit log and the dashboard:
who sees what (CSAM-5, CSAM-6), forged forms refused, and each form's effect and audit event."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute

from staydown import audit
from staydown.actors import SYSTEM
from staydown.audit.models import AuditEvent
from staydown.audit.tags import AuditTag
from staydown.authorities.models import NcmecReport
from staydown.db import Database
from staydown.delivery.models import Job
from staydown.evidence.models import DestructionRequest, EvidenceItem, LegalHold
from staydown.evidence.vault import item_by_id, place_hold, store_item
from staydown.http import declared_permission, iter_routes
from staydown.matching.banks import NewEntry, add_entries, bank_by_name, create_bank
from staydown.matching.models import BankEntry
from staydown.staff.actions import staff_user_by_username
from staydown.staff.permissions import ROLE_PERMISSIONS, Role
from staydown.web.console import banks as console_banks
from tests.audit.test_log import _tamper
from tests.authorities.test_ncmec_filing import _case_with_evidence
from tests.imagegen import jpeg
from tests.web.console_helpers import ConsoleUser, console_user, session_token

PDQ_A = "a" * 64
PDQ_B = "b" * 64
MD5_A = "0123456789abcdef0123456789abcdef"
OTHER_PAGES = (
    "/console/banks",
    "/console/bank-entries",
    "/console/ncmec",
    "/console/nca",
    "/console/evidence",
    "/console/trusted-flaggers",
    "/console/staff",
    "/console/api-keys",
    "/console/audit",
    "/console/dashboard",
)


def _events(database: Database, tag: AuditTag) -> list[AuditEvent]:
    with database.unit_of_work(write=False) as db:
        rows = db.execute(sa.select(AuditEvent).where(AuditEvent.tag == tag.value).order_by(AuditEvent.seq)).scalars()
        return list(rows)


def _event_count(database: Database) -> int:
    with database.unit_of_work(write=False) as db:
        return db.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0


ROLE_OF = {
    "mo": "moderator",
    "senior": "senior_moderator",
    "cs1": "child_safety",
    "cs2": "child_safety",
    "legal1": "legal",
    "legal2": "legal",
    "aud": "auditor",
    "adm": "admin",
}


@pytest.fixture
def people(client, database: Database) -> dict[str, ConsoleUser]:
    return {name: console_user(client, database, name, role) for name, role in ROLE_OF.items()}


@pytest.fixture
def bank(database: Database) -> str:
    with database.unit_of_work() as db:
        b = create_bank(
            db, actor=SYSTEM, name="ours", source="own", permitted_purpose="our confirmed items only", policy_id="csam"
        )
        add_entries(db, actor=SYSTEM, bank=b, entries=[NewEntry("pdq", PDQ_A, "first"), NewEntry("md5", MD5_A)])
    return "ours"


def _entry_id(database: Database, signal: str) -> int:
    with database.unit_of_work(write=False) as db:
        return db.execute(sa.select(BankEntry.id).where(BankEntry.signal == signal)).scalar_one()


def _item(client, database: Database, *, case_id: int | None = None) -> int:
    with database.unit_of_work() as db:
        item = store_item(
            db,
            actor=SYSTEM,
            vault=client.app.state.vault,
            data=jpeg(3),
            content_id=None,
            case_id=case_id,
            context={},
            media_type="image/jpeg",
            original_filename="benign.jpg",
        )
        return item.id


# -- the route table and who sees what ----------------------------------------------------------


def test_every_other_page_route_declares_a_permission(app) -> None:
    mine = [
        (path, route)
        for path, route in iter_routes(app.routes)
        if isinstance(route, APIRoute) and path.startswith(OTHER_PAGES)
    ]
    assert len(mine) >= 25
    assert [path for path, route in mine if declared_permission(route) is None] == []


ACCESS = [
    # page, who may see it, who may not (CSAM-5: report contents and the vault are for child safety
    # and legal; CSAM-6: admins don't get the vault by being admins)
    ("/console/banks", ["mo", "aud", "adm"], ["legal1"]),
    ("/console/ncmec", ["cs1", "legal1"], ["mo", "senior", "adm", "aud"]),
    ("/console/nca", ["cs1", "legal1"], ["mo", "senior", "adm", "aud"]),
    ("/console/evidence", ["cs1", "legal1"], ["mo", "senior", "adm", "aud"]),
    ("/console/trusted-flaggers", ["mo", "adm", "legal1"], ["aud"]),
    ("/console/staff", ["adm"], ["mo", "cs1", "legal1", "aud"]),
    ("/console/api-keys", ["adm"], ["mo", "cs1", "legal1", "aud"]),
    ("/console/audit", ["aud", "legal1", "adm"], ["mo", "cs1"]),
    ("/console/dashboard", ["mo", "senior", "cs1", "legal1", "aud", "adm"], []),
]


@pytest.mark.parametrize("path,allowed,refused", ACCESS, ids=[a[0] for a in ACCESS])
def test_csam5_csam6_roles_decide_who_sees_each_page(people, path, allowed, refused) -> None:
    for name in allowed:
        r = people[name].get(path)
        assert r.status_code == 200, (name, path, r.text[:300])
        assert "text/html" in r.headers["content-type"]
        assert "'unsafe-inline'" not in r.headers["content-security-policy"]
    for name in refused:
        r = people[name].get(path)
        assert r.status_code == 403, (name, path)
        assert "Not allowed" in r.text and "permission" in r.text


def test_nav_links_only_what_the_role_may_open(people) -> None:
    page = people["mo"].get("/console/dashboard").text
    assert 'href="/console/banks"' in page and 'href="/console/staff"' not in page
    assert 'href="/console/evidence"' not in page and 'href="/console/api-keys"' not in page
    admin = people["adm"].get("/console/dashboard").text
    assert 'href="/console/staff"' in admin and 'href="/console/evidence"' not in admin


def test_signed_out_visitor_is_sent_to_sign_in(client) -> None:
    for path in ("/console/banks", "/console/audit", "/console/dashboard"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login?next=")


def test_every_form_refuses_a_forged_post_and_changes_nothing(app, client, database, people, bank) -> None:
    """Walks the route table: every POST of these pages, sent by someone allowed to use it but
    without this browser's CSRF token, is refused before it does anything."""
    posts = [
        (path, declared_permission(route))
        for path, route in iter_routes(app.routes)
        if isinstance(route, APIRoute) and "POST" in (route.methods or ()) and path.startswith(OTHER_PAGES)
    ]
    assert len(posts) >= 17
    before = _event_count(database)
    for path, permission in posts:
        who = next(name for name, role in ROLE_OF.items() if permission in ROLE_PERMISSIONS[Role(role)])
        target = re.sub(r"\{[a-z_]+\}", "1", path)
        for forged in ("0" * 64, ""):
            r = people[who].post(target, {"reason": "a perfectly good reason", "basis": "x" * 40}, csrf=forged)
            assert r.status_code == 403, (target, who, r.status_code)
            assert "did not come from this site" in r.text
    assert _event_count(database) == before


# -- banks ------------------------------------------------------------------------------------


def test_banks_list_shows_counts_and_provenance(people, bank) -> None:
    page = people["mo"].get("/console/banks").text
    assert "ours" in page and "our confirmed items only" in page and ">2</span> active" in page
    entries = people["mo"].get("/console/banks/ours").text
    assert PDQ_A in entries and MD5_A in entries
    # A moderator reads banks but doesn't change them: no form to disable.
    assert "/disable" not in entries
    assert people["mo"].get("/console/banks/none").status_code == 404
    assert people["mo"].get("/console/banks/ours?page=x").status_code == 422


def test_bank_entries_are_paged(people, database, bank) -> None:
    with database.unit_of_work() as db:
        add_entries(
            db,
            actor=SYSTEM,
            bank=bank_by_name(db, "ours"),
            entries=[NewEntry("sha256", f"{i:064x}") for i in range(60)],
        )
    first = people["mo"].get("/console/banks/ours").text
    assert "Page 1 of 2 (62 in all)" in first and 'rel="next"' in first
    second = people["mo"].get("/console/banks/ours?page=2").text
    assert "Page 2 of 2" in second and PDQ_A in second and PDQ_A not in first


def test_import_reports_bad_rows_by_line_and_audits(people, database, bank) -> None:
    body = f"signal_type,signal,note\npdq,{PDQ_B},new\nmd5,nothex,bad\npdq,{PDQ_A},dup\n".encode()
    r = people["cs1"].post(
        "/console/banks/ours/import",
        {"source_ref": "partner list 2026-06"},
        files={"file": ("list.csv", io.BytesIO(body), "text/csv")},
    )
    assert r.status_code == 200, r.text
    assert "1 added, 1 already in the bank" in r.text and "line 3:" in r.text
    [event] = _events(database, AuditTag.BANK_IMPORT)
    assert event.data["added"] == 1 and event.data["rejected"] == 1
    assert event.data["source_ref"] == "partner list 2026-06 (list.csv)" and event.actor_label == "cs1"
    # Nothing readable: 422, nothing imported, and the problems listed.
    r = people["cs1"].post(
        "/console/banks/ours/import",
        {"source_ref": "junk"},
        files={"file": ("junk.csv", io.BytesIO(b"pdq,zz\n"), "text/csv")},
    )
    assert r.status_code == 422 and "Nothing was imported" in r.text and "line 1:" in r.text
    # Required fields and the senior-only write permission.
    assert (
        people["cs1"]
        .post("/console/banks/ours/import", {"source_ref": ""}, files={"file": ("a.csv", io.BytesIO(body), "text/csv")})
        .status_code
        == 422
    )
    assert (
        people["mo"]
        .post(
            "/console/banks/ours/import", {"source_ref": "x"}, files={"file": ("a.csv", io.BytesIO(body), "text/csv")}
        )
        .status_code
        == 403
    )


def test_import_over_the_console_limit_is_refused(people, database, bank, monkeypatch) -> None:
    monkeypatch.setattr(console_banks, "MAX_IMPORT_BYTES", 100)
    body = "\n".join(f"pdq,{i:064x}" for i in range(5)).encode()
    r = people["cs1"].post(
        "/console/banks/ours/import", {"source_ref": "big"}, files={"file": ("big.csv", io.BytesIO(body), "text/csv")}
    )
    assert r.status_code == 413 and "staydown banks import" in r.text
    assert _events(database, AuditTag.BANK_IMPORT) == []


def test_disable_entry_as_false_positive_needs_a_reason_and_can_be_undone(people, database, bank) -> None:
    entry = _entry_id(database, PDQ_A)
    r = people["senior"].post(f"/console/bank-entries/{entry}/disable", {"reason": "  "})
    assert r.status_code == 422 and "reason" in r.text
    r = people["senior"].post(f"/console/bank-entries/{entry}/disable", {"reason": "false positive: a sunset photo"})
    assert r.status_code == 303 and r.headers["location"] == "/console/banks/ours?done=entry-disabled"
    with database.unit_of_work(write=False) as db:
        row = db.get(BankEntry, entry)
        assert not row.enabled and row.disabled_reason == "false positive: a sunset photo"
    [event] = _events(database, AuditTag.BANK_ENTRY_DISABLE)
    assert event.subject_id == str(entry) and event.data["reason"] == "false positive: a sunset photo"
    page = people["senior"].get("/console/banks/ours?show=disabled&done=entry-disabled").text
    assert "no longer matches" in page and "sunset photo" in page and MD5_A not in page
    assert (
        people["senior"].post(f"/console/bank-entries/{entry}/disable", {"reason": "again, twice"}).status_code == 409
    )
    r = people["senior"].post(f"/console/bank-entries/{entry}/enable", {"reason": "it was a real match after all"})
    assert r.status_code == 303
    assert len(_events(database, AuditTag.BANK_ENTRY_ENABLE)) == 1
    assert people["mo"].post(f"/console/bank-entries/{entry}/disable", {"reason": "not my call"}).status_code == 403


# -- NCMEC ------------------------------------------------------------------------------------


def test_csam5_ncmec_review_confirm_and_status(client, database, people) -> None:
    case_id = _case_with_evidence(client, database)
    assert people["mo"].post("/console/ncmec/draft", {"case_id": str(case_id)}).status_code == 403
    r = people["cs1"].post("/console/ncmec/draft", {"case_id": str(case_id)})
    assert r.status_code == 303, r.text
    with database.unit_of_work(write=False) as db:
        report = db.execute(sa.select(NcmecReport)).scalar_one()
        report_id, item_ids = report.id, [f.evidence_item_id for f in report.files]
    assert r.headers["location"] == f"/console/ncmec/{report_id}?done=reports-drafted"
    assert people["cs1"].post("/console/ncmec/draft", {"case_id": str(case_id)}).status_code == 409
    assert people["cs1"].post("/console/ncmec/draft", {"case_id": "abc"}).status_code == 422

    listing = people["legal1"].get("/console/ncmec?state=draft").text
    assert f"/console/ncmec/{report_id}" in listing and "acct-1" in listing
    review = people["cs1"].get(f"/console/ncmec/{report_id}").text
    # What will be sent, with evidence references and never the media itself.
    for item_id in item_ids:
        assert f'href="/console/evidence/{item_id}"' in review
    assert "upload-1.jpg" in review and "198.51.100.23" in review and "<img" not in review
    assert "Confirm and file" in review

    assert people["cs2"].post(f"/console/ncmec/{report_id}/confirm", {}).status_code == 422
    r = people["cs2"].post(f"/console/ncmec/{report_id}/confirm", {"reviewed": "yes"})
    assert r.status_code == 303
    with database.unit_of_work(write=False) as db:
        report = db.get(NcmecReport, report_id)
        cs2_id = staff_user_by_username(db, "cs2").id
        assert report.state == "confirmed" and report.confirmed_by == f"staff:{cs2_id}"
        assert db.execute(sa.select(Job).where(Job.kind == "ncmec:file")).scalar_one()
    [event] = _events(database, AuditTag.NCMEC_CONFIRM)
    assert event.actor_label == "cs2" and event.data["report_id"] == report_id
    status = people["cs1"].get(f"/console/ncmec/{report_id}").text
    assert "by staff:" in status and "Confirm and file" not in status and "authority:ncmec:confirm" in status
    assert people["cs1"].post(f"/console/ncmec/{report_id}/confirm", {"reviewed": "yes"}).status_code == 409
    assert people["cs1"].get("/console/ncmec/999").status_code == 404
    assert people["cs1"].get("/console/ncmec?state=bogus").status_code == 422


# -- evidence ---------------------------------------------------------------------------------


def test_csam4_legal_places_and_releases_holds(client, database, people) -> None:
    item = _item(client, database)
    page = people["legal1"].get(f"/console/evidence/{item}").text
    assert "Place a hold" in page and "benign.jpg" in page and "<img" not in page
    # A child-safety specialist sees the item but does not hold it.
    assert "Place a hold" not in people["cs1"].get(f"/console/evidence/{item}").text
    assert (
        people["cs1"]
        .post(f"/console/evidence/{item}/holds", {"kind": "voluntary", "basis": "keep it", "until": "2027-01-01"})
        .status_code
        == 403
    )
    bad = people["legal1"].post(
        f"/console/evidence/{item}/holds", {"kind": "voluntary", "basis": "keep it", "until": "2026-05-01"}
    )
    assert bad.status_code == 422 and "future" in bad.text
    assert (
        people["legal1"]
        .post(f"/console/evidence/{item}/holds", {"kind": "ncmec_report", "basis": "keep it", "until": "2027-01-01"})
        .status_code
        == 422
    )
    r = people["legal1"].post(
        f"/console/evidence/{item}/holds",
        {"kind": "preservation_request", "basis": "2703(f) letter ref 42", "until": "2027-01-01"},
    )
    assert r.status_code == 303
    with database.unit_of_work(write=False) as db:
        hold = db.execute(sa.select(LegalHold)).scalar_one()
        assert hold.kind == "preservation_request" and hold.until.year == 2027 and hold.released_at is None
    [event] = _events(database, AuditTag.EVIDENCE_HOLD)
    assert event.actor_label == "legal1" and event.data["basis"] == "2703(f) letter ref 42"
    vault = people["legal1"].get("/console/evidence").text
    assert "Holds in force (1)" in vault and "2703(f) letter ref 42" in vault

    assert people["legal1"].post(f"/console/evidence/holds/{hold.id}/release", {"reason": ""}).status_code == 422
    r = people["legal2"].post(f"/console/evidence/holds/{hold.id}/release", {"reason": "the agency withdrew it"})
    assert r.status_code == 303
    [event] = _events(database, AuditTag.EVIDENCE_HOLD_RELEASE)
    assert event.data["reason"] == "the agency withdrew it"
    assert (
        people["legal2"].post(f"/console/evidence/holds/{hold.id}/release", {"reason": "twice over"}).status_code == 422
    )


def test_csam4_ncmec_hold_cannot_be_released_early(client, database, people, clock) -> None:
    item = _item(client, database)
    with database.unit_of_work() as db:
        hold = place_hold(
            db,
            actor=SYSTEM,
            item=item_by_id(db, item),
            kind="ncmec_report",
            basis="CyberTip 1",
            until=clock.now() + timedelta(days=365),
        )
        hold_id = hold.id
    page = people["legal1"].get(f"/console/evidence/{item}").text
    assert "can't be cut short" in page
    r = people["legal1"].post(f"/console/evidence/holds/{hold_id}/release", {"reason": "trying anyway"})
    assert r.status_code == 409 and "CSAM-4" in r.text


def test_csam6_destruction_takes_two_people(client, database, people) -> None:
    item = _item(client, database)
    assert people["cs1"].post(f"/console/evidence/{item}/destruction-requests", {"basis": "x" * 40}).status_code == 403
    assert (
        people["legal1"].post(f"/console/evidence/{item}/destruction-requests", {"basis": "too short"}).status_code
        == 422
    )
    basis = "Det. Example, county police, 2026-06-01, case 77: destroy the copy"
    assert people["legal1"].post(f"/console/evidence/{item}/destruction-requests", {"basis": basis}).status_code == 303
    with database.unit_of_work(write=False) as db:
        request_id = db.execute(sa.select(DestructionRequest.id)).scalar_one()
    vault = people["cs1"].get("/console/evidence").text
    assert "Destruction awaiting a second person (1)" in vault and basis in vault
    # The requester can't approve their own request; the page says so and the server refuses.
    own = people["legal1"].get(f"/console/evidence/{item}").text
    assert "you asked for it" in own and "Approve and destroy" not in own
    r = people["legal1"].post(f"/console/evidence/destruction-requests/{request_id}/approve", {"confirm": "yes"})
    assert r.status_code == 409 and "two people" in r.text
    assert people["cs1"].post(f"/console/evidence/destruction-requests/{request_id}/approve", {}).status_code == 422
    r = people["cs1"].post(f"/console/evidence/destruction-requests/{request_id}/approve", {"confirm": "yes"})
    assert r.status_code == 303
    with database.unit_of_work(write=False) as db:
        row = db.get(EvidenceItem, item)
        assert row.state == "destroyed" and row.blob_key is None
    [event] = _events(database, AuditTag.EVIDENCE_DESTROY)
    assert event.actor_label == "cs1" and event.data["requested_by"].startswith("staff:")
    assert "Destruction awaiting a second person (0)" in people["cs1"].get("/console/evidence").text


def test_evidence_list_filters(client, database, people) -> None:
    item = _item(client, database)
    assert f"item {item}" in people["cs1"].get("/console/evidence?state=stored").text
    assert f"item {item}</a>" not in people["cs1"].get("/console/evidence?state=destroyed").text
    assert people["cs1"].get("/console/evidence?state=lost").status_code == 422
    assert people["cs1"].get("/console/evidence?case=x1").status_code == 422
    assert people["cs1"].get("/console/evidence/999999").status_code == 404


# -- trusted flaggers -------------------------------------------------------------------------


def test_dsa6_trusted_flaggers_registry_and_registration(people, database) -> None:
    assert (
        people["mo"]
        .post("/console/trusted-flaggers", {"name": "X", "designated_by": "DSC", "areas": "spam"})
        .status_code
        == 403
    )
    r = people["adm"].post(
        "/console/trusted-flaggers",
        {
            "name": "Hotline NL",
            "designated_by": "ACM (NL DSC)",
            "contact_email": "desk@hotline.example",
            "areas": ["child_safety", "ncii"],
        },
    )
    assert r.status_code == 303
    [event] = _events(database, AuditTag.TRUSTED_FLAGGER_ADD)
    assert event.data["areas"] == ["child_safety", "ncii"] and event.actor_label == "adm"
    page = people["mo"].get("/console/trusted-flaggers").text
    assert "Hotline NL" in page and "ACM (NL DSC)" in page and "child_safety" in page
    assert "Register a trusted flagger" not in page
    for bad, why in (
        ({"name": "Y", "designated_by": "DSC", "areas": "astrology"}, "fields of expertise"),
        ({"name": "Y", "designated_by": "DSC"}, "fields of expertise"),
        ({"name": "", "designated_by": "DSC", "areas": "spam"}, "name"),
        ({"name": "Y", "designated_by": "DSC", "areas": "spam", "contact_email": "nope"}, "e-mail"),
    ):
        r = people["adm"].post("/console/trusted-flaggers", bad)
        assert r.status_code == 422 and why in r.text, bad
    assert (
        people["adm"]
        .post("/console/trusted-flaggers", {"name": "Hotline NL", "designated_by": "x", "areas": "spam"})
        .status_code
        == 409
    )


# -- audit log --------------------------------------------------------------------------------


def test_audit_log_filters_by_subject_and_tag_prefix(people, database, bank) -> None:
    entry = _entry_id(database, PDQ_A)
    people["senior"].post(f"/console/bank-entries/{entry}/disable", {"reason": "false positive here"})
    by_tag = people["aud"].get("/console/audit?tag=matching:entry").text
    assert "matching:entry:disable" in by_tag and "matching:bank:create" not in by_tag
    by_subject = people["aud"].get(f"/console/audit?subject_type=bank_entry&subject_id={entry}").text
    assert "matching:entry:disable" in by_subject and "staff:session:sign_in" not in by_subject
    assert "staff:session:sign_in" in people["aud"].get("/console/audit").text
    # A LIKE wildcard in the filter is a literal, not "match anything".
    assert "matching:" not in people["aud"].get("/console/audit?tag=%25").text.split("<h2>Events</h2>")[1]
    assert people["aud"].get("/console/audit?subject_id=3").status_code == 422
    assert people["aud"].get("/console/audit?tag=" + "x" * 81).status_code == 422


def test_audit_verify_button_reports_the_first_bad_event(people, database) -> None:
    r = people["aud"].post("/console/audit/verify", {})
    assert r.status_code == 200 and "The chain is intact" in r.text
    with database.unit_of_work(write=False) as db:
        head = audit.checkpoint(db)
    r = people["aud"].post("/console/audit/verify", {"pinned": f"{head.seq}:{head.hash}"})
    assert "matching the pinned checkpoint" in r.text
    assert people["aud"].post("/console/audit/verify", {"pinned": "nonsense"}).status_code == 422
    _tamper(database, "UPDATE audit_events SET subject_id = '999' WHERE seq = 3")
    r = people["aud"].post("/console/audit/verify", {})
    assert r.status_code == 200
    assert "The chain is broken at event 3" in r.text and "was edited" in r.text
    assert people["mo"].post("/console/audit/verify", {}).status_code == 403


def test_csam4_a_lapsed_hold_is_not_counted_in_force(client, database, people, clock) -> None:
    item = _item(client, database)
    with database.unit_of_work() as db:
        place_hold(
            db,
            actor=SYSTEM,
            item=item_by_id(db, item),
            kind="voluntary",
            basis="keep a day",
            until=clock.now() + timedelta(days=1),
        )
    assert "Holds in force (1)" in people["legal1"].get("/console/evidence").text
    clock.advance(timedelta(days=2))
    legal = ConsoleUser(client, session_token(database, "legal1"))  # yesterday's session has ended
    assert "Holds in force (0)" in legal.get("/console/evidence").text
    page = legal.get(f"/console/evidence/{item}").text
    assert "lapsed" in page and ">held<" not in page
