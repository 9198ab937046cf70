"""From a confirmed case to exactly one report submitted to the UK National Crime Agency (UK-6),
whatever is lost on the way, meeting the case's `uk_nca` track only when every report is in; and
nothing at all while the platform has NCA reporting turned off. Against the local NCA stand-in
over real HTTP; all media benign and synthetic."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from staydown.actors import Actor
from staydown.app import worker_services
from staydown.audit.models import AuditEvent
from staydown.authorities.dsa18 import mark_threat
from staydown.authorities.models import NcaReport
from staydown.authorities.nca import FILE_NCA_REPORT, NcaRules, _priority, confirm_report, draft_reports
from staydown.authorities.nca_client import NcaClient
from staydown.authorities.nca_format import validate_report
from staydown.authorities.nca_server import create_app as create_nca_app
from staydown.cases.actions import claim_case
from staydown.cases.models import Case, LegalTrack
from staydown.cases.rules import CaseRules
from staydown.clock import FrozenClock
from staydown.db import Database, now
from staydown.delivery.models import Job
from staydown.errors import InvalidInput, PermissionDenied, RuleViolation
from staydown.evidence.models import EvidenceItem, LegalHold
from staydown.evidence.vault import read_item, store_item
from staydown.flows.decisions import decide_case
from staydown.intake.models import Notice, NoticeItem
from staydown.jobs import build_registry
from staydown.matching.models import ContentSignal, Scan
from staydown.settings import Settings
from staydown.staff.permissions import permissions_for_roles
from staydown.subjects.models import PlatformAccount, PlatformContent
from staydown.subjects.queries import content_by_platform_id
from staydown.worker import RetryPolicy, Worker
from tests.authorities.test_ncmec_protocol import serve
from tests.helpers import make_staff, sign_in
from tests.imagegen import jpeg

TOKEN = "nca-test-token-not-real"
CS1 = Actor.staff(201, "cs1", permissions_for_roles(["child_safety"]))
CS2 = Actor.staff(202, "cs2", permissions_for_roles(["child_safety"]))
LEGAL = Actor.staff(203, "legal", permissions_for_roles(["legal"]))
MOD = Actor.staff(204, "mod", permissions_for_roles(["moderator"]))
ON = NcaRules(enabled=True, uk_provider=True)
PDQ = "f" * 16 + "0" * 48
NCA_SETTINGS: dict[str, Any] = {
    "uk_nca_reporting": True,
    "uk_nca_provider": "uk",
    "uk_nca_organisation_id": "ORG-TEST-0001",
    "uk_nca_authorised_person_name": "Safety Lead (test)",
    "uk_nca_authorised_person_email": "safety@platform.example",
}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The platform serves UK users: NCA reporting is on, and its registration is configured."""
    return Settings(
        env="test", database_url=database_url, data_dir=tmp_path / "var", worker_in_process=False, **NCA_SETTINGS
    )


@pytest.fixture(scope="module")
def nca():
    app = create_nca_app(token=TOKEN)
    with serve(app) as url:
        yield url, app.state.nca


@pytest.fixture(autouse=True)
def _clear_faults(nca):
    yield
    nca[1].clear_faults()


def make_case(
    client,
    database: Database,
    *,
    accounts: tuple[str, ...] = ("acct-1",),
    confirm: bool = True,
    imminent_danger: bool = False,
) -> int:
    """A child-safety case about content of `accounts[0]`, with copies posted by the others
    grouped into it (as a perceptual match would), two benign files in the vault per item, the
    upload's IP and time from the scan, and its hashes; confirmed by a person unless told not to."""
    r = client.post(
        "/public/notices",
        json={
            "reporter_kind": "parent_or_representative",
            "policy_id": "csam",
            "minor_involved": True,
            "explanation": "fictitious test report",
            "items": [{"content_id": "c-1", "account_id": accounts[0]}],
        },
    )
    assert r.status_code in (200, 201, 202), r.text

    with database.unit_of_work() as db:
        case = db.execute(sa.select(Case)).scalar_one()
        notice = db.execute(sa.select(Notice)).scalar_one()
        at = now(db)
        contents = [content_by_platform_id(db, "c-1")]
        for i, platform_id in enumerate(accounts[1:], start=2):
            account = PlatformAccount(platform_id=platform_id, handle=f"user{i}", first_seen_at=at, updated_at=at)
            db.add(account)
            db.flush()
            copy = PlatformContent(
                platform_id=f"c-{i}",
                url=f"https://forum.example/p/{i}",
                account_id=account.id,
                first_seen_at=at,
                updated_at=at,
                meta={"visibility": "public"},
            )
            db.add(copy)
            db.flush()
            db.add(NoticeItem(notice_id=notice.id, content_id=copy.id, case_id=case.id))
            contents.append(copy)
        for n, content in enumerate(contents):
            db.add(
                Scan(
                    content_id=content.id,
                    verdict="allow",
                    matches=[],
                    signals={},
                    media={},
                    uploader_ip=f"198.51.100.{20 + n}",
                    uploaded_at=at - timedelta(hours=2),
                    scanned_by="test",
                    scanned_at=at - timedelta(hours=2),
                )
            )
            db.add(ContentSignal(content_id=content.id, signal_type="pdq", signal=PDQ, quality=90, created_at=at))
            for seed in (1, 2):
                store_item(
                    db,
                    actor=CS1,
                    vault=client.app.state.vault,
                    data=jpeg(seed + 10 * n),
                    content_id=content.id,
                    case_id=case.id,
                    original_filename=f"upload-{n}-{seed}.jpg",
                    media_type="image/jpeg",
                    context={"ip_capture": [{"ip": f"203.0.113.{n + 1}", "at": at.isoformat(), "port": 51000}]},
                )
        case_id = case.id
    if confirm:
        with database.unit_of_work() as db:
            case = db.get_one(Case, case_id)
            claim_case(db, actor=CS1, case=case)
            decide_case(
                db,
                actor=CS1,
                case=case,
                policy_ref="csam@2",
                outcome="violates",
                facts="apparent CSAM (test stand-in)",
                catalogue=client.app.state.catalogue,
                rules=client.app.state.case_rules,
            )
            if imminent_danger:
                mark_threat(
                    db,
                    actor=CS1,
                    case=case,
                    facts="the child is at risk of further abuse now",
                    member_states=None,
                    authorities={},
                    rules=client.app.state.case_rules,
                )
    return case_id


def worker(client, database: Database, url: str, *, timeout: float = 5.0) -> Worker:
    services = {**worker_services(client.app), "nca_client": NcaClient(url, TOKEN, timeout=timeout)}
    return Worker(database, build_registry(), services=services, retry=RetryPolicy(base_seconds=1, cap_seconds=1))


def draft_and_confirm(client, database: Database, case_id: int, **kwargs: Any) -> list[int]:
    with database.unit_of_work() as db:
        drafts = draft_reports(
            db, actor=CS1, case=db.get_one(Case, case_id), catalogue=client.app.state.catalogue, rules=ON, **kwargs
        )
        for report in drafts:
            confirm_report(db, actor=CS2, report=report, rules=ON)
        return [r.id for r in drafts]


def run_until_finished(
    w: Worker, database: Database, clock: FrozenClock, report_ids: list[int], rounds: int = 8
) -> None:
    for _ in range(rounds):
        w.run_until_idle()
        with database.unit_of_work(write=False) as db:
            if all(db.get_one(NcaReport, i).state == "finished" for i in report_ids):
                return
        clock.advance(seconds=5)


def _ref(database: Database, report_id: int) -> str:
    with database.unit_of_work(write=False) as db:
        return db.get_one(NcaReport, report_id).plan["ref"]


def _tags(database: Database) -> list[str]:
    with database.unit_of_work(write=False) as db:
        return list(
            db.execute(
                sa.select(AuditEvent.tag).where(AuditEvent.tag.like("authority:nca:%")).order_by(AuditEvent.seq)
            ).scalars()
        )


def _track(database: Database, case_id: int) -> LegalTrack:
    with database.unit_of_work(write=False) as db:
        return db.execute(
            sa.select(LegalTrack).where(LegalTrack.case_id == case_id, LegalTrack.kind == "uk_nca")
        ).scalar_one()


# -- drafting and confirming -------------------------------------------------------------------


def test_uk6_drafting_is_refused_without_actual_knowledge(client, database: Database) -> None:
    """UK-6, CSAM-7: a report alone is not knowledge; until a person confirms, there is nothing to report."""
    case_id = make_case(client, database, confirm=False)
    with database.unit_of_work() as db, pytest.raises(RuleViolation, match="not been confirmed"):
        draft_reports(db, actor=CS1, case=db.get_one(Case, case_id), catalogue=client.app.state.catalogue, rules=ON)
    assert _track(database, case_id).state == "waiting"  # its clock waits for knowledge
    with database.unit_of_work(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(NcaReport)) == 0


def test_uk6_csam5_only_a_child_safety_reviewer_confirms(client, database: Database) -> None:
    """UK-6, CSAM-5: moderators never see or make NCA reports; legal may draft and read them; only a
    child-safety reviewer confirms (and makes the declaration the report carries)."""
    case_id = make_case(client, database)
    with database.unit_of_work() as db:
        case = db.get_one(Case, case_id)
        with pytest.raises(PermissionDenied):
            draft_reports(db, actor=MOD, case=case, catalogue=client.app.state.catalogue, rules=ON)
        (report,) = draft_reports(db, actor=LEGAL, case=case, catalogue=client.app.state.catalogue, rules=ON)
        assert report.state == "draft" and len(report.files) == 2
        for who in (MOD, LEGAL):
            with pytest.raises(PermissionDenied):
                confirm_report(db, actor=who, report=report, rules=ON)
        assert db.execute(sa.select(Job).where(Job.kind == FILE_NCA_REPORT)).first() is None
        confirm_report(db, actor=CS2, report=report, rules=ON)
        assert report.state == "confirmed" and report.confirmed_by == "staff:202"
        assert db.execute(sa.select(Job).where(Job.kind == FILE_NCA_REPORT)).scalar_one().payload == {
            "report_id": report.id
        }
    assert _tags(database) == ["authority:nca:draft", "authority:nca:confirm"]


def test_uk6_an_urgent_case_is_reported_as_urgent(client, database: Database) -> None:
    """UK-6: the priority assessment. A case marked as a threat to a child is urgent and cannot be
    drafted as standard; an urgent report says why."""
    case_id = make_case(client, database, imminent_danger=True)
    with database.unit_of_work() as db:
        case = db.get_one(Case, case_id)
        with pytest.raises(InvalidInput, match="urgent"):
            draft_reports(db, actor=CS1, case=case, catalogue=client.app.state.catalogue, rules=ON, priority="standard")
        (report,) = draft_reports(db, actor=CS1, case=case, catalogue=client.app.state.catalogue, rules=ON)
        assert report.priority == "urgent" and report.priority_reason is not None and "threat" in report.priority_reason
    # The rule for a case nobody marked, directly (a second case here would share c-1).

    with database.unit_of_work(write=False) as db:
        plain = Case(state="open", area="child_safety", severity="critical", opened_at=now(db))
        with pytest.raises(InvalidInput, match="says why"):
            _priority(plain, "urgent", None)
        assert _priority(plain, None, None) == ("standard", None)
        assert _priority(plain, "urgent", "the child is named and reachable")[0] == "urgent"


def test_uk6_a_non_uk_provider_reports_only_uk_linked_content(client, database: Database) -> None:
    """UK-6 (OSA s.66(2), s.70(6)): a non-UK provider must not report content that is not UK-linked."""
    case_id = make_case(client, database)
    non_uk = NcaRules(enabled=True, uk_provider=False)
    with database.unit_of_work() as db:
        case = db.get_one(Case, case_id)
        with pytest.raises(InvalidInput, match="UK-linked"):
            draft_reports(db, actor=CS1, case=case, catalogue=client.app.state.catalogue, rules=non_uk)
        with pytest.raises(InvalidInput, match="uk_link_basis"):
            draft_reports(
                db,
                actor=CS1,
                case=case,
                catalogue=client.app.state.catalogue,
                rules=non_uk,
                uk_link_basis="somewhere",
                uk_link_facts="uploaded from a UK address",
            )
        (report,) = draft_reports(
            db,
            actor=CS1,
            case=case,
            catalogue=client.app.state.catalogue,
            rules=non_uk,
            uk_link_basis="place_published_generated_uploaded_or_shared",
            uk_link_facts="uploaded from an address the platform places in the UK",
        )
        assert report.plan["uk_link"]["basis"] == "place_published_generated_uploaded_or_shared"


# -- filing ---------------------------------------------------------------------------------------


def test_uk6_a_confirmed_report_is_filed_over_http_with_what_the_case_holds(
    client, database: Database, nca, clock: FrozenClock
) -> None:
    """UK-6, CSAM-3, CSAM-4: filed against the local NCA over real HTTP; the report carries the
    files, their hashes, the upload's IP, port and time, the account, how it was found and the
    reviewer's declaration; the receipt meets the track and starts the hold."""
    url, server = nca
    case_id = make_case(client, database)
    assert _track(database, case_id).state == "open"  # started at knowledge
    with database.unit_of_work() as db:
        # A person looked at one file (audited): only that one is marked as viewed by the provider.
        first = db.execute(sa.select(EvidenceItem).order_by(EvidenceItem.id)).scalars().first()
        assert first is not None
        read_item(db, actor=CS1, vault=client.app.state.vault, item=first, purpose="confirming the NCA report")
    (report_id,) = draft_and_confirm(client, database, case_id)
    worker(client, database, url).run_until_idle()

    (stored,) = server.find(_ref(database, report_id))
    assert stored.status == "submitted" and len(stored.files) == 2
    document = json.loads(stored.document)
    assert validate_report(document) == []
    assert document["organisation"]["registrationId"] == "ORG-TEST-0001"
    assert document["authorisedPerson"]["email"] == "safety@platform.example"
    assert document["reportedUser"]["platformAccountId"] == "acct-1"
    assert {"ip": "203.0.113.1", "port": 51000}.items() <= document["reportedUser"]["ipEvents"][0].items()
    assert document["detection"]["methods"] == ["public_report"]
    assert document["declaration"]["confirmedBy"] == "staff:202"
    assert document["priority"]["level"] == "standard"
    items = document["content"]
    assert [i["platformContentId"] for i in items] == ["c-1", "c-1"]
    assert items[0]["uploadIp"]["ip"] == "198.51.100.20" and items[0]["uploadedAt"]
    assert {h["type"] for h in items[0]["hashes"]} == {"md5", "sha256", "pdq"}
    assert sorted(i["viewedByProvider"] for i in items) == [False, True]
    for item in items:  # each file the NCA received is the one the document describes
        sha = next(h["value"] for h in item["hashes"] if h["type"] == "sha256")
        assert any(f.sha256 == sha for f in stored.files.values())

    with database.unit_of_work(write=False) as db:
        report = db.get_one(NcaReport, report_id)
        assert report.state == "finished" and report.nca_reference == stored.nca_reference
        assert (
            report.nca_report_id == stored.report_id
            and report.document is not None
            and report.document.encode() == stored.document
        )
        holds = db.execute(sa.select(LegalHold)).scalars().all()
        assert len(holds) == 2 and {h.kind for h in holds} == {"nca_report"}
        assert all(h.until - h.starts_at == timedelta(days=365) for h in holds)
    track = _track(database, case_id)
    assert track.state == "met" and track.resolution == "report_finished"
    assert _tags(database) == [
        "authority:nca:draft",
        "authority:nca:confirm",
        "authority:nca:open",
        "authority:nca:upload",
        "authority:nca:upload",
        "authority:nca:submit",
    ]


STEPS = [
    (step, mode)
    for step in ("create", "upload", "submit")
    for mode in ("after_commit_drop", "after_commit_timeout", "drop", "error")
]


@pytest.mark.parametrize("step,mode", STEPS, ids=[f"{s}-{m}" for s, m in STEPS])
def test_uk6_a_lost_answer_at_each_step_resumes_without_a_second_report(
    client, database: Database, nca, clock: FrozenClock, step: str, mode: str
) -> None:
    """UK-6: the NCA did the step (or not) and the answer never came; the machine, which committed
    before and after each call, resumes and ends with exactly one report at the NCA, each file in
    it once. (A crash of our process between the call and its commit looks the same from here.)"""
    url, server = nca
    case_id = make_case(client, database)
    (report_id,) = draft_and_confirm(client, database, case_id)
    server.fail_next(step, mode, hold_seconds=5.0)
    calls_before = len(server.calls)
    w = worker(client, database, url, timeout=1.0)
    run_until_finished(w, database, clock, [report_id])
    assert server.calls[calls_before:].count(step) >= 2  # the step was asked again

    found = server.find(_ref(database, report_id))
    assert len(found) == 1, [r.status for r in found]  # no second report, not even an unfinished one
    assert found[0].status == "submitted" and len(found[0].files) == 2
    with database.unit_of_work(write=False) as db:
        report = db.get_one(NcaReport, report_id)
        assert report.state == "finished" and report.nca_report_id == found[0].report_id
        assert sorted((f.nca_file_id for f in report.files), key=str) == sorted(
            f.file_id for f in found[0].files.values()
        )
    assert _tags(database).count("authority:nca:submit") == 1
    assert _track(database, case_id).state == "met"
    if step in ("create", "upload"):
        # The audit says whether the repeat found the step already done (the answer was lost
        # after the NCA acted) or did it now (the request was lost before).
        tag = {"create": "authority:nca:open", "upload": "authority:nca:upload"}[step]
        with database.unit_of_work(write=False) as db:
            first = (
                db.execute(sa.select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.seq))
                .scalars()
                .first()
            )
        assert first is not None
        assert first.data["repeated_after_a_lost_answer"] is mode.startswith("after_commit")


def test_uk6_a_report_the_nca_lost_before_submission_is_made_again(
    client, database: Database, nca, clock: FrozenClock
) -> None:
    """UK-6: if the NCA no longer holds an unfinished report, a new one is made under a new key and
    submitted; the lost one was never submitted, so one report counts."""
    url, server = nca
    case_id = make_case(client, database)
    (report_id,) = draft_and_confirm(client, database, case_id)
    server.fail_next("upload", "error", status=503)
    w = worker(client, database, url)
    w.run_until_idle()
    with database.unit_of_work(write=False) as db:
        first_id = db.get_one(NcaReport, report_id).nca_report_id
        assert first_id and db.get_one(NcaReport, report_id).state == "opened"
    server.expire(first_id)
    run_until_finished(w, database, clock, [report_id])
    found = server.find(_ref(database, report_id))
    assert sorted(r.status for r in found) == ["expired", "submitted"]
    with database.unit_of_work(write=False) as db:
        report = db.get_one(NcaReport, report_id)
        assert report.state == "finished" and report.nca_report_id != first_id
        assert report.plan["abandoned"][0]["nca_report_id"] == first_id
    assert "authority:nca:restart" in _tags(database)


def test_uk6_the_track_is_met_only_when_every_report_for_the_case_is_finished(
    client, database: Database, nca, clock: FrozenClock
) -> None:
    """UK-6: one report per reported account; the case's uk_nca track stays open until the last
    of them is submitted."""
    url, server = nca
    case_id = make_case(client, database, accounts=("acct-1", "acct-2"))
    with database.unit_of_work() as db:
        drafts = draft_reports(
            db, actor=CS1, case=db.get_one(Case, case_id), catalogue=client.app.state.catalogue, rules=ON
        )
        assert [r.plan["user"]["platform_account_id"] for r in drafts] == ["acct-1", "acct-2"]
        confirm_report(db, actor=CS2, report=drafts[0], rules=ON)
        ids = [r.id for r in drafts]
        # Drafting again makes nothing new: each account already has its report.
        assert (
            draft_reports(db, actor=CS1, case=db.get_one(Case, case_id), catalogue=client.app.state.catalogue, rules=ON)
            == []
        )
    w = worker(client, database, url)
    run_until_finished(w, database, clock, ids[:1])
    assert _track(database, case_id).state == "open"
    with database.unit_of_work() as db:
        confirm_report(db, actor=CS2, report=db.get_one(NcaReport, ids[1]), rules=ON)
    run_until_finished(w, database, clock, ids)
    track = _track(database, case_id)
    assert track.state == "met" and track.resolution == "report_finished"
    assert len(server.find(_ref(database, ids[1]))) == 1


# -- off unless the platform serves UK users -----------------------------------------------------


def test_uk6_nothing_is_drafted_or_filed_when_nca_reporting_is_off(
    client, database: Database, nca, clock: FrozenClock
) -> None:
    """UK-6: with STAYDOWN_UK_NCA_REPORTING off, a case gets no uk_nca track, nothing can be drafted
    or confirmed, and a report confirmed before it was turned off is not sent."""
    url, server = nca
    settings = client.app.state.settings
    settings.uk_nca_reporting = False
    client.app.state.case_rules = CaseRules.from_settings(settings, client.app.state.catalogue)
    case_id = make_case(client, database)
    with database.unit_of_work(write=False) as db:
        kinds = {t.kind for t in db.get_one(Case, case_id).tracks}
        assert "ncmec" in kinds and "uk_nca" not in kinds
    off = NcaRules.from_settings(settings)
    with database.unit_of_work() as db, pytest.raises(RuleViolation, match="off for this platform"):
        draft_reports(db, actor=CS1, case=db.get_one(Case, case_id), catalogue=client.app.state.catalogue, rules=off)
    r = client.post(f"/v1/cases/{case_id}/nca-reports", headers=_cs_headers(client, database), json={})
    assert r.status_code == 409 and "off for this platform" in r.json()["message"]

    # Confirmed while on, then turned off before the worker ran: nothing leaves.
    (report_id,) = draft_and_confirm(client, database, case_id)
    calls_before = len(server.calls)
    worker(client, database, url).run_until_idle()
    assert server.calls[calls_before:] == [] and server.find(_ref(database, report_id)) == []
    with database.unit_of_work(write=False) as db:
        report = db.get_one(NcaReport, report_id)
        assert report.state == "confirmed" and report.last_error is not None and "turned off" in report.last_error
        with pytest.raises(RuleViolation):
            confirm_report(db, actor=CS2, report=report, rules=off)


def _cs_headers(client, database: Database) -> dict[str, str]:
    make_staff(database, "cs-api", "child_safety")
    return sign_in(client, "cs-api")


# -- the HTTP API ---------------------------------------------------------------------------------


def test_uk6_csam5_api_drafts_confirms_and_shows_status(client, database: Database, nca, clock: FrozenClock) -> None:
    """UK-6, CSAM-5: the routes, each behind its permission, with a clear 4xx for bad input."""

    url, _server = nca
    for name, role in (("mod-api", "moderator"), ("legal-api", "legal"), ("cs-api2", "child_safety")):
        make_staff(database, name, role)
    mod, legal, cs = (sign_in(client, n) for n in ("mod-api", "legal-api", "cs-api2"))
    unconfirmed = make_case(client, database, confirm=False)
    assert client.post(f"/v1/cases/{unconfirmed}/nca-reports", headers=mod, json={}).status_code == 403
    assert client.get("/v1/nca-reports", headers=mod).status_code == 403
    r = client.post(f"/v1/cases/{unconfirmed}/nca-reports", headers=cs, json={})
    assert r.status_code == 409 and "not been confirmed" in r.json()["message"]

    with database.unit_of_work() as db:
        case = db.get_one(Case, unconfirmed)
        claim_case(db, actor=CS1, case=case)
        decide_case(
            db,
            actor=CS1,
            case=case,
            policy_ref="csam@2",
            outcome="violates",
            facts="apparent CSAM (test)",
            catalogue=client.app.state.catalogue,
            rules=client.app.state.case_rules,
        )
    for bad in (
        {"priority": "soon"},
        {"priority": "urgent"},
        {"surprise": True},
        {"uk_link_basis": "moon", "uk_link_facts": "not a basis the Act knows"},
    ):
        r = client.post(f"/v1/cases/{unconfirmed}/nca-reports", headers=cs, json=bad)
        assert r.status_code == 422, (bad, r.text)
    assert client.post("/v1/cases/999999/nca-reports", headers=cs, json={}).status_code == 404
    r = client.post(f"/v1/cases/{unconfirmed}/nca-reports", headers=legal)  # no body: defaults
    assert r.status_code == 201, r.text
    (drafted,) = r.json()
    assert drafted["state"] == "draft" and drafted["reported_account"] == "acct-1" and drafted["files"] == 2
    assert client.post(f"/v1/cases/{unconfirmed}/nca-reports", headers=cs, json={}).json() == []

    report_id = drafted["id"]
    detail = client.get(f"/v1/nca-reports/{report_id}", headers=legal).json()
    assert detail["plan"]["content"][0]["platform_content_id"] == "c-1" and len(detail["file_details"]) == 2
    assert client.post(f"/v1/nca-reports/{report_id}/confirm", headers=legal).status_code == 403
    r = client.post(f"/v1/nca-reports/{report_id}/confirm", headers=cs)
    assert r.status_code == 200 and r.json()["state"] == "confirmed"
    assert client.post(f"/v1/nca-reports/{report_id}/confirm", headers=cs).status_code == 409
    assert client.get("/v1/nca-reports/424242", headers=cs).status_code == 404
    assert client.get("/v1/nca-reports?state=lost", headers=cs).status_code == 422
    assert client.get("/v1/nca-reports?limit=0", headers=cs).status_code == 422
    assert [x["id"] for x in client.get("/v1/nca-reports?state=confirmed", headers=cs).json()] == [report_id]

    worker(client, database, url).run_until_idle()
    done = client.get(f"/v1/nca-reports/{report_id}", headers=cs).json()
    assert done["state"] == "finished" and done["nca_reference"] and done["receipt"]["status"] == "submitted"
    assert all(x["nca_file_id"] for x in done["file_details"])


def test_uk6_files_can_stay_in_the_vault_with_only_their_hashes_sent(
    client, database: Database, nca, clock: FrozenClock
) -> None:
    """UK-6: whether the NCA's API takes the files themselves is not public; with
    STAYDOWN_UK_NCA_SEND_FILES off the report describes each file by its hashes and details, no
    file leaves, and the files are still held from the receipt."""
    url, server = nca
    case_id = make_case(client, database)
    hashes_only = NcaRules(enabled=True, uk_provider=True, send_files=False)
    with database.unit_of_work() as db:
        (report,) = draft_reports(
            db, actor=CS1, case=db.get_one(Case, case_id), catalogue=client.app.state.catalogue, rules=hashes_only
        )
        confirm_report(db, actor=CS2, report=report, rules=hashes_only)
        report_id = report.id
    calls_before = len(server.calls)
    worker(client, database, url).run_until_idle()
    assert "upload" not in server.calls[calls_before:]
    (stored,) = server.find(_ref(database, report_id))
    document = json.loads(stored.document)
    assert stored.status == "submitted" and stored.files == {}
    assert all("fileRef" not in item and item["hashes"] for item in document["content"])
    with database.unit_of_work(write=False) as db:
        assert db.get_one(NcaReport, report_id).state == "finished"
        assert len(db.execute(sa.select(LegalHold).where(LegalHold.kind == "nca_report")).scalars().all()) == 2
