"""Complete CyberTipline reports (NCMEC-3, CSAM-3): every reported file with its hashes, upload
time, IP and port, name, address and visibility as the platform registered them; the file itself
from the vault or asked of the platform (`provide_file`) and waited for, with its own deadline;
and the NCMEC track met only by finished reports. Filed against the local CyberTipline server over
real HTTP; every picture is benign and synthetic."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from staydown import audit
from staydown.actors import SYSTEM
from staydown.audit.models import AuditEvent
from staydown.authorities import file_requests, ncmec
from staydown.authorities.models import FileRequest, NcmecReport
from staydown.authorities.ncmec_server import create_app as create_ncmec_app
from staydown.authorities.ncmec_xml import file_details_xml, report_xml
from staydown.cases.models import LegalTrack, StaffAlert
from staydown.clock import FrozenClock
from staydown.db import Database
from staydown.delivery.models import Job
from staydown.enforcement.models import EnforcementAction
from staydown.evidence.vault import store_item
from staydown.subjects.records import ensure_content
from staydown.subjects.schemas import AccountRef, ContentRef
from staydown.transparency.models import StatementOfReasons
from staydown.transparency.report import build_report
from tests.authorities.test_ncmec_filing import _worker
from tests.authorities.test_ncmec_protocol import PASSWORD, USER, serve
from tests.helpers import auth
from tests.imagegen import encode, jpeg, synthetic
from tests.web.console_helpers import console_user

UPLOADED_AT = datetime(2026, 5, 30, 9, 15, 7, tzinfo=UTC)


@pytest.fixture(scope="module")
def ncmec_server():
    app = create_ncmec_app(username=USER, password=PASSWORD)
    with serve(app) as url:
        yield url, app.state.ncmec


def _scan(client, key: str, data: bytes, content_id: str, account: str, **fields: str) -> dict:
    r = client.post(
        "/v1/scan",
        headers=auth(key),
        files={"file": ("upload.bin", data, "image/jpeg")},
        data={"content_id": content_id, "account_id": account, "account_handle": f"{account}-handle", **fields},
    )
    assert r.status_code == 200, r.text
    return r.json()


def _report_and_confirm_by_people(client, staff, key: str, content_ids: list[str]) -> int:
    """A parent reports the content through the platform; a child-safety specialist confirms
    apparent CSAM."""
    r = client.post(
        "/v1/notices",
        headers=auth(key),
        json={
            "reporter_kind": "parent_or_representative",
            "policy_id": "csam",
            "minor_involved": True,
            "explanation": "fictitious test report about a stand-in picture",
            "items": [{"content_id": c} for c in content_ids],
        },
    )
    assert r.status_code == 201, r.text
    case_id = r.json()["cases"][0]
    assert client.post(f"/v1/cases/{case_id}/claim", headers=staff["cs1"]).status_code == 200
    r = client.post(
        f"/v1/cases/{case_id}/decision",
        headers=staff["cs1"],
        json={"policy": "csam@2", "outcome": "violates", "facts": "apparent CSAM (a benign test stand-in)"},
    )
    assert r.status_code == 200, r.text
    return case_id


def _ncmec_track(database: Database, case_id: int) -> LegalTrack:
    with database.unit_of_work(write=False) as db:
        return db.execute(
            sa.select(LegalTrack).where(LegalTrack.case_id == case_id, LegalTrack.kind == "ncmec")
        ).scalar_one()


def _received(server, report_id: int, database: Database):
    with database.unit_of_work(write=False) as db:
        marker = f"staydown report ref: {db.get_one(NcmecReport, report_id).plan['ref']}"
    found = [r for r in server.find_reports(marker) if r.status == "finished"]
    assert len(found) == 1, [r.status for r in server.find_reports(marker)]
    return found[0]


def test_ncmec3_csam3_allowed_upload_reported_later_is_filed_with_its_file_ip_port_and_time(
    client, database: Database, api_key: str, staff, ncmec_server, clock: FrozenClock
) -> None:
    """The report the court said was owed: an upload that passed the scan, reported and confirmed
    later. staydown never held the file, so it asks the platform (webhook and pull feed), waits,
    and files when the file arrives; the XML NCMEC receives over HTTP carries the file, the IP,
    the port and the upload time from the scan, the platform's address and the visibility."""
    url, server = ncmec_server
    data = jpeg(901)
    scanned = _scan(
        client,
        api_key,
        data,
        "post-901",
        "acct-901",
        content_url="https://forum.example/p/901",
        content_visibility="public",
        uploader_ip="203.0.113.45",
        uploader_port="51234",
        uploaded_at=UPLOADED_AT.isoformat(),
        original_filename="holiday.jpg",
    )
    assert scanned["verdict"] == "allow"
    case_id = _report_and_confirm_by_people(client, staff, api_key, ["post-901"])

    r = client.post(f"/v1/cases/{case_id}/ncmec-reports", headers=staff["cs1"])
    assert r.status_code == 201, r.text
    (draft,) = r.json()
    assert draft["waiting_for_files"] == 1
    (wanted,) = draft["file_details"]
    assert wanted["evidence_item_id"] is None and wanted["file_request_state"] == "pending"

    # The platform is asked through the pull feed and a signed webhook, as for any action.
    feed = client.get("/v1/actions", headers=auth(api_key)).json()["actions"]
    (ask,) = [a for a in feed if a["kind"] == "provide_file"]
    assert ask["content_id"] == "post-901" and ask["event"] == "action.applied" and ask["statement"] is None
    request_id = ask["details"]["request_id"]
    assert request_id == wanted["file_request_id"] and ask["details"]["due_at"]
    with database.unit_of_work(write=False) as db:
        assert db.execute(
            sa.select(Job).where(
                Job.kind == "webhook:deliver", Job.idempotency_key == f"action:{ask['id']}:action.applied"
            )
        ).scalar_one()

    # Confirmed, the report still waits: nothing goes to NCMEC, the NCMEC clock is not met.
    assert client.post(f"/v1/ncmec-reports/{draft['id']}/confirm", headers=staff["cs2"]).status_code == 200
    worker = _worker(client, database, url)
    worker.run_until_idle()
    with database.unit_of_work(write=False) as db:
        report = db.get_one(NcmecReport, draft["id"])
        assert report.state == "confirmed" and report.ncmec_report_id is None
        marker = f"staydown report ref: {report.plan['ref']}"
    assert server.find_reports(marker) == []
    assert _ncmec_track(database, case_id).state == "open"

    # The platform answers with the file; the report goes on by itself.
    clock.advance(minutes=20)
    r = client.post(
        "/v1/evidence",
        headers=auth(api_key),
        files={"file": ("IMG_0001.jpg", data, "image/jpeg")},
        data={"request_id": str(request_id)},
    )
    assert r.status_code == 201, r.text
    assert r.json()["file_request_id"] == request_id
    with database.unit_of_work(write=False) as db:
        asked = db.get_one(EnforcementAction, ask["id"])
        assert asked.state == "lifted"  # the platform hears it can stop
        assert db.get_one(FileRequest, request_id).state == "provided"
    worker.run_until_idle()

    received = _received(server, draft["id"], database)
    report_doc = received.element
    assert [u.text for u in report_doc.iter("url")] == ["https://forum.example/p/901"]
    assert b"127.0.0.1:8000" not in received.xml  # never staydown's own address
    reported = report_doc.find("personOrUserReported")
    assert reported.findtext("espIdentifier") == "acct-901" and reported.findtext("screenName") == "acct-901-handle"
    event = reported.find("ipCaptureEvent")
    assert (event.findtext("ipAddress"), event.findtext("eventName"), event.findtext("port")) == (
        "203.0.113.45",
        "Upload",
        "51234",
    )
    assert datetime.fromisoformat(event.findtext("dateTime")) == UPLOADED_AT

    (stored,) = received.files.values()
    assert stored.data == data  # the file itself
    details = stored.details
    assert details.findtext("originalFileName") == "holiday.jpg"
    assert datetime.fromisoformat(details.findtext("uploadedToEspTimestamp")) == UPLOADED_AT
    assert details.findtext("locationOfFile") == "https://forum.example/p/901"
    assert details.findtext("publiclyAvailable") == "true"
    assert details.findtext("fileViewedByEsp") == "false"  # nobody looked at this very file
    hashes = {h.get("hashType"): h.text for h in details.findall("originalFileHash")}
    assert hashes == {"MD5": hashlib.md5(data).hexdigest(), "SHA256": hashlib.sha256(data).hexdigest()}
    (pdq,) = details.findall("details/nameValuePair")
    assert (pdq.get("type"), pdq.findtext("name"), pdq.findtext("value")) == ("HASH", "PDQ", scanned["signals"]["pdq"])
    upload = details.find("ipCaptureEvent")
    assert (upload.findtext("ipAddress"), upload.findtext("port"), upload.findtext("eventName")) == (
        "203.0.113.45",
        "51234",
        "Upload",
    )

    # REQ NCMEC-4: the finished report meets the track and starts the hold on the file.
    track = _ncmec_track(database, case_id)
    assert track.state == "met" and track.resolution == "report_finished"
    with database.unit_of_work(write=False) as db:
        assert audit.verify(db).ok
        tags = [
            e.tag
            for e in db.execute(
                sa.select(AuditEvent).where(AuditEvent.tag.like("authority:ncmec:%")).order_by(AuditEvent.seq)
            ).scalars()
        ]
        assert (
            tags.index("authority:ncmec:file_request")
            < tags.index("authority:ncmec:file_received")
            < tags.index("authority:ncmec:submit")
        )


def _contents(db, *specs: tuple[str, str | None, str | None]) -> list:
    return [
        ensure_content(
            db,
            actor=SYSTEM,
            ref=ContentRef(id=cid, url=url, visibility=vis, kind="image", account=AccountRef(id="acct-v")),
        )
        for cid, url, vis in specs
    ]


def test_ncmec3_publicly_available_is_sent_only_as_the_platform_registered_it(database: Database) -> None:
    """Public (or unlisted) content is publicly available, followers-only or private content is
    not, content the platform never described is left unsaid; content hidden after it was public
    still was publicly available."""
    with database.unit_of_work() as db:
        public, private, unknown, hidden = _contents(
            db,
            ("v-public", "https://p.example/1", "public"),
            ("v-private", None, "private"),
            ("v-unknown", None, None),
            ("v-hidden", None, "public"),
        )
        ensure_content(db, actor=SYSTEM, ref=ContentRef(id="v-hidden", visibility="private"))
        got = {
            c.platform_id: ncmec.file_facts(db, c, None)["publicly_available"]
            for c in (public, private, unknown, hidden)
        }
    assert got == {"v-public": True, "v-private": False, "v-unknown": None, "v-hidden": True}

    report = NcmecReport(
        id=1,
        case_id=1,
        state="submitted",
        plan={},
        escalate=False,
        ncmec_report_id=5,
        created_at=UPLOADED_AT,
        created_by="t",
    )
    for platform_id, expected in (
        ("v-public", b"<publiclyAvailable>true</publiclyAvailable>"),
        ("v-private", b"<publiclyAvailable>false</publiclyAvailable>"),
    ):
        facts = {"content": platform_id, "publicly_available": got[platform_id]}
        assert expected in file_details_xml(ncmec.build_file_details(report, facts, file_id="f", viewed=False))
    unsaid = file_details_xml(
        ncmec.build_file_details(
            report, {"content": "v-unknown", "publicly_available": None}, file_id="f", viewed=False
        )
    )
    assert b"publiclyAvailable" not in unsaid and b"not known: the platform did not say" in unsaid


def test_ncmec3_content_without_an_address_is_named_by_the_platforms_id(client, database: Database) -> None:
    """No URL from the platform: the web page incident names the platform's content ids and
    carries no URL at all, never staydown's own address."""
    settings = client.app.state.settings
    settings.ncmec_reporter_email = "safety@platform.example"
    plan = {
        "ref": "r1",
        "incident": {
            "type": "Child Pornography (possession, manufacture, and distribution)",
            "datetime": UPLOADED_AT.isoformat(),
        },
        "reported": {"esp_identifier": "acct-1", "ip_events": []},
        "files": [{"content": "post-77", "content_kind": "image", "content_url": None}],
    }
    report = NcmecReport(
        id=3, case_id=4, state="confirmed", plan=plan, escalate=False, created_at=UPLOADED_AT, created_by="t"
    )
    document = report_xml(ncmec.build_report(report, settings))
    root = ET.fromstring(document)
    page = root.find("internetDetails/webPageIncident")
    assert page is not None
    assert page.findall("url") == []
    info = page.findtext("additionalInfo")
    assert info is not None and "post-77 (image)" in info
    assert settings.base_url.encode() not in document


def _waiting_report(client, database: Database, staff, api_key: str, content_id: str) -> tuple[int, int, int]:
    """A confirmed case about content staydown never held; a report drafted and confirmed,
    waiting for the platform's file. Returns (case, report, file request)."""
    case_id = _report_and_confirm_by_people(client, staff, api_key, [content_id])
    (draft,) = client.post(f"/v1/cases/{case_id}/ncmec-reports", headers=staff["cs1"]).json()
    assert client.post(f"/v1/ncmec-reports/{draft['id']}/confirm", headers=staff["cs2"]).status_code == 200
    return case_id, draft["id"], draft["file_details"][0]["file_request_id"]


def test_ncmec3_an_overdue_file_alerts_child_safety_once_and_the_report_keeps_waiting(
    client, database: Database, staff, api_key: str, ncmec_server, clock: FrozenClock
) -> None:
    """The request has its own deadline (STAYDOWN_NCMEC_FILE_REQUEST_HOURS): past it, child
    safety is alerted; the report is not filed without the file until a specialist decides so,
    with reasons, and then says in the report that the file is missing and why."""
    url, server = ncmec_server
    case_id, report_id, request_id = _waiting_report(client, database, staff, api_key, "post-902")
    with database.unit_of_work(write=False) as db:
        due = db.get_one(FileRequest, request_id).due_at
    assert due == clock.now() + timedelta(hours=client.app.state.settings.ncmec_file_request_hours)
    (row_id,) = [
        f["id"] for f in client.get(f"/v1/ncmec-reports/{report_id}", headers=staff["cs1"]).json()["file_details"]
    ]
    without = {"reason": "the platform deleted the post before it could be preserved"}
    r = client.post(f"/v1/ncmec-reports/{report_id}/files/{row_id}/file-without", headers=staff["cs1"], json=without)
    assert r.status_code == 409 and "has until" in r.json()["message"]

    clock.advance(hours=3)
    with database.unit_of_work() as db:
        assert file_requests.sweep_overdue(db, actor=SYSTEM) == 0
    clock.advance(hours=2)
    with database.unit_of_work() as db:
        assert file_requests.sweep_overdue(db, actor=SYSTEM) == 1
        assert file_requests.sweep_overdue(db, actor=SYSTEM) == 0  # once
    with database.unit_of_work(write=False) as db:
        (alert,) = db.execute(sa.select(StaffAlert).where(StaffAlert.kind == "ncmec_file_overdue")).scalars().all()
        assert alert.role == "child_safety" and alert.case_id == case_id and "post-902" in alert.message
        assert db.get_one(NcmecReport, report_id).state == "confirmed"
    _worker(client, database, url).run_until_idle()
    assert _ncmec_track(database, case_id).state == "open"

    assert (
        client.post(
            f"/v1/ncmec-reports/{report_id}/files/{row_id}/file-without", headers=staff["mo"], json=without
        ).status_code
        == 403
    )
    r = client.post(f"/v1/ncmec-reports/{report_id}/files/{row_id}/file-without", headers=staff["cs1"], json=without)
    assert r.status_code == 200, r.text
    _worker(client, database, url).run_until_idle()
    received = _received(server, report_id, database)
    assert received.files == {}
    assert "Reported without the file: content post-902: the platform deleted the post" in received.element.findtext(
        "additionalInfo"
    )
    assert _ncmec_track(database, case_id).state == "met"
    with database.unit_of_work(write=False) as db:
        assert db.get_one(FileRequest, request_id).state == "withdrawn"


def test_ncmec3_a_platform_that_cannot_provide_the_file_alerts_at_once(
    client, database: Database, staff, api_key: str
) -> None:
    """Acknowledging the provide_file action as failed (what a platform that does not know the
    request does too) tells child safety now, not at the deadline; the file may still come."""
    _, report_id, request_id = _waiting_report(client, database, staff, api_key, "post-903")
    feed = client.get("/v1/actions", headers=auth(api_key)).json()["actions"]
    (ask,) = [a for a in feed if a["kind"] == "provide_file"]
    r = client.post(
        f"/v1/actions/{ask['id']}/ack",
        headers=auth(api_key),
        json={"status": "failed", "detail": "the forum does not support the action 'provide_file'"},
    )
    assert r.status_code == 200
    with database.unit_of_work(write=False) as db:
        assert db.get_one(FileRequest, request_id).state == "unavailable"
        (alert,) = db.execute(sa.select(StaffAlert).where(StaffAlert.kind == "ncmec_file_unavailable")).scalars().all()
        assert "does not support" in alert.message
    # A specialist may now file without it at once; or the file arrives after all.
    r = client.post(
        "/v1/evidence",
        headers=auth(api_key),
        files={"file": ("a.jpg", jpeg(903), "image/jpeg")},
        data={"content_id": "post-903"},
    )
    assert r.status_code == 201 and r.json()["file_request_id"] == request_id
    assert client.get(f"/v1/ncmec-reports/{report_id}", headers=staff["cs1"]).json()["waiting_for_files"] == 0


def test_ncmec3_bad_answers_to_a_file_request_are_refused_clearly(
    client, database: Database, staff, api_key: str
) -> None:
    _, _, request_id = _waiting_report(client, database, staff, api_key, "post-904")
    platform = auth(api_key)
    upload = {"file": ("a.jpg", jpeg(904), "image/jpeg")}
    r = client.post("/v1/evidence", headers=platform, files=upload, data={"request_id": "twelve"})
    assert r.status_code == 422 and "request_id" in r.json()["message"]
    assert client.post("/v1/evidence", headers=platform, files=upload, data={"request_id": "999999"}).status_code == 404
    r = client.post(
        "/v1/evidence",
        headers=platform,
        files=upload,
        data={"request_id": str(request_id), "content_id": "someone-else"},
    )
    assert r.status_code == 422 and "another content" in r.json()["message"]
    first = client.post("/v1/evidence", headers=platform, files=upload, data={"request_id": str(request_id)})
    again = client.post("/v1/evidence", headers=platform, files=upload, data={"request_id": str(request_id)})
    assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    other = client.post(
        "/v1/evidence",
        headers=platform,
        files={"file": ("b.jpg", jpeg(905), "image/jpeg")},
        data={"request_id": str(request_id)},
    )
    assert other.status_code == 409 and "already answered" in other.json()["message"]


def test_ncmec3_the_track_is_met_only_when_every_report_of_the_case_is_finished(
    client, database: Database, staff, api_key: str, ncmec_server
) -> None:
    """Two accounts posted the material: two reports. The one whose file is in the vault is filed
    at once; the other waits for the platform's file, and so does the NCMEC track."""
    url, server = ncmec_server
    picture = synthetic(906)
    held, copy = encode(picture, "JPEG", quality=90), encode(picture, "PNG")
    # The same picture posted by two accounts; the platform scanned the copy (without the
    # uploader's address) and deposited the first with what it knew of its upload.
    _scan(client, api_key, held, "post-906", "acct-a")
    _scan(client, api_key, copy, "post-907", "acct-b")
    with database.unit_of_work() as db:
        content = ensure_content(db, actor=SYSTEM, ref=ContentRef(id="post-906", account=AccountRef(id="acct-a")))

        store_item(
            db,
            actor=SYSTEM,
            vault=client.app.state.vault,
            data=held,
            content_id=content.id,
            case_id=None,
            context={
                "ip_capture": [{"ip": "198.51.100.8", "port": 40001, "event": "Upload", "at": UPLOADED_AT.isoformat()}]
            },
            original_filename="a.jpg",
        )
    client.app.state.match_engine.catch_up()
    # The copy is reported first; the report of the original joins its case (one incident).
    r = client.post(
        "/v1/notices",
        headers=auth(api_key),
        json={
            "reporter_kind": "user",
            "policy_id": "csam",
            "explanation": "fictitious test report of a stand-in",
            "items": [{"content_id": "post-907"}],
        },
    )
    assert r.status_code == 201, r.text
    case_id = _report_and_confirm_by_people(client, staff, api_key, ["post-906"])
    assert case_id == r.json()["cases"][0]
    drafts = client.post(f"/v1/cases/{case_id}/ncmec-reports", headers=staff["cs1"]).json()
    assert sorted(d["waiting_for_files"] for d in drafts) == [0, 1]
    for d in drafts:
        assert client.post(f"/v1/ncmec-reports/{d['id']}/confirm", headers=staff["cs2"]).status_code == 200
    worker = _worker(client, database, url)
    worker.run_until_idle()
    by_state = {
        d["id"]: client.get(f"/v1/ncmec-reports/{d['id']}", headers=staff["cs1"]).json()["state"] for d in drafts
    }
    assert sorted(by_state.values()) == ["confirmed", "finished"]
    assert _ncmec_track(database, case_id).state == "open", "a report still waiting keeps the track open"
    (waiting,) = [d for d in drafts if d["waiting_for_files"]]
    r = client.post(
        "/v1/evidence",
        headers=auth(api_key),
        files={"file": ("b.jpg", jpeg(907), "image/jpeg")},
        data={"request_id": str(waiting["file_details"][0]["file_request_id"])},
    )
    assert r.status_code == 201
    worker.run_until_idle()
    track = _ncmec_track(database, case_id)
    assert track.state == "met" and track.facts is not None
    assert all(str(_received(server, d["id"], database).report_id) in track.facts for d in drafts)
    # The deposited context fills what no scan recorded: the vault file's IP, port and time.
    vault_report = _received(server, next(d["id"] for d in drafts if not d["waiting_for_files"]), database)
    (stored,) = vault_report.files.values()
    event = stored.details.find("ipCaptureEvent")
    assert (event.findtext("ipAddress"), event.findtext("port")) == ("198.51.100.8", "40001")
    assert stored.details.find("publiclyAvailable") is None  # the platform never said


def test_ncmec3_a_file_request_is_delivered_as_an_action_but_counted_as_no_measure(
    client, database: Database, staff, api_key: str, clock: FrozenClock
) -> None:
    """provide_file travels with the actions (so every integration receives it) but restricts
    nobody: no statement of reasons, no case measure, not in the DSA figures."""

    _waiting_report(client, database, staff, api_key, "post-908")
    with database.unit_of_work(write=False) as db:
        ask = db.execute(sa.select(EnforcementAction).where(EnforcementAction.kind == "provide_file")).scalar_one()
        assert ask.case_id is None and ask.target == "content"
        assert db.execute(sa.select(StatementOfReasons).where(StatementOfReasons.action_id == ask.id)).first() is None
        figures = build_report(
            db,
            start=clock.now() - timedelta(days=1),
            end=clock.now() + timedelta(days=1),
            catalogue=client.app.state.catalogue,
        ).figures
    assert "provide_file" not in figures["actions"]["by_kind"] and figures["actions"]["by_kind"]


def test_ncmec3_the_console_shows_the_wait_and_files_without_only_with_reasons(
    client, database: Database, staff, api_key: str, clock: FrozenClock
) -> None:
    """The report's console page says which file it waits for, from which request, until when;
    a specialist files without it from there once the platform's time is up, with reasons."""

    _, report_id, request_id = _waiting_report(client, database, staff, api_key, "post-909")
    specialist = console_user(client, database, "cs-console", "child_safety")
    page = specialist.get(f"/console/ncmec/{report_id}").text
    assert "waiting for the platform" in page and f"file request {request_id}: pending" in page
    row_id = client.get(f"/v1/ncmec-reports/{report_id}", headers=staff["cs1"]).json()["file_details"][0]["id"]
    form = f"/console/ncmec/{report_id}/files/{row_id}/file-without"
    assert specialist.post(form, {"reason": "too short"}).status_code == 422
    early = specialist.post(form, {"reason": "the platform deleted the post before it was preserved"})
    assert early.status_code == 409 and "has until" in early.text
    clock.advance(hours=5)
    r = specialist.post(form, {"reason": "the platform deleted the post before it was preserved"})
    assert r.status_code == 303 and r.headers["location"].endswith("done=filed-without")
    page = specialist.get(f"/console/ncmec/{report_id}").text
    assert "filed without the file" in page and "deleted the post" in page


def test_csam3_what_the_platform_deposited_is_checked_before_it_goes_into_a_report(client, database: Database) -> None:
    """The deposit context is free JSON: an address that is no IP, a port out of range or a time
    without an offset is left out (the next source is used), never sent as it came."""

    created = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    with database.unit_of_work() as db:
        content = ensure_content(db, actor=SYSTEM, ref=ContentRef(id="post-910", created_at=created))
        item = store_item(
            db,
            actor=SYSTEM,
            vault=client.app.state.vault,
            data=jpeg(910),
            content_id=content.id,
            case_id=None,
            original_filename="x.jpg",
            context={
                "uploaded_at": "2026-05-02 10:00",
                "ip_capture": [{"ip": "not-an-ip", "port": 1}, {"ip": "192.0.2.44", "port": "8443", "at": "noon"}],
            },
        )
        facts = ncmec.file_facts(db, content, item)
        other = ncmec.file_facts(
            db,
            content,
            store_item(
                db,
                actor=SYSTEM,
                vault=client.app.state.vault,
                data=jpeg(911),
                content_id=content.id,
                case_id=None,
                context={"ip_capture": [{"ip": "192.0.2.45", "port": 70000}]},
            ),
        )
    assert (facts["ip"], facts["port"]) == ("192.0.2.44", 8443)
    assert facts["uploaded_at"] == created.isoformat() and facts["sources"]["uploaded_at"] == "the content record"
    assert facts["ip_at"] == created.isoformat()  # the upload's time, the deposit's "noon" being no time
    assert facts["md5"] == hashlib.md5(jpeg(910)).hexdigest() and facts["original_filename"] == "x.jpg"
    assert (other["ip"], other["port"]) == ("192.0.2.45", None)
