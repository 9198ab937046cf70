"""From a confirmed case to exactly one finished CyberTipline report, whatever fails on the way
(NCMEC-2), with its receipt starting a one-year hold (CSAM-4, NCMEC-4). Against the local
CyberTipline server over real HTTP; all media benign and synthetic."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from staydown.actors import SYSTEM, Actor
from staydown.app import worker_services
from staydown.authorities.models import NcmecReport
from staydown.authorities.ncmec import confirm_report
from staydown.authorities.ncmec_client import CyberTiplineClient
from staydown.authorities.ncmec_server import create_app as create_ncmec_app
from staydown.cases.actions import claim_case
from staydown.cases.models import Case, LegalTrack
from staydown.clock import FrozenClock
from staydown.db import Database
from staydown.errors import PermissionDenied, RuleViolation
from staydown.evidence.actions import purge_expired
from staydown.evidence.models import EvidenceItem, LegalHold
from staydown.evidence.vault import read_item, store_item
from staydown.flows.authorities import draft_reports
from staydown.flows.decisions import decide_case
from staydown.jobs import build_registry
from staydown.staff.permissions import permissions_for_roles
from staydown.subjects.queries import content_by_platform_id
from staydown.worker import RetryPolicy, Worker
from tests.authorities.test_ncmec_protocol import PASSWORD, USER, serve
from tests.imagegen import jpeg

CS1 = Actor.staff(101, "cs1", permissions_for_roles(["child_safety"]))
CS2 = Actor.staff(102, "cs2", permissions_for_roles(["child_safety"]))
MOD = Actor.staff(103, "mod", permissions_for_roles(["moderator"]))


@pytest.fixture(scope="module")
def ncmec():
    app = create_ncmec_app(username=USER, password=PASSWORD)
    with serve(app) as url:
        yield url, app.state.ncmec


def _case_with_evidence(client, database: Database, *, confirm: bool = True) -> int:
    client.post(
        "/public/notices",
        json={
            "reporter_kind": "parent_or_representative",
            "policy_id": "csam",
            "minor_involved": True,
            "explanation": "fictitious test report",
            "items": [{"content_id": "c-1", "account_id": "acct-1"}],
        },
    )
    with database.unit_of_work() as db:
        case = db.execute(sa.select(Case)).scalar_one()

        content = content_by_platform_id(db, "c-1")
        for seed in (1, 2):
            store_item(
                db,
                actor=CS1,
                vault=client.app.state.vault,
                data=jpeg(seed),
                content_id=content.id,
                case_id=case.id,
                original_filename=f"upload-{seed}.jpg",
                context={"ip_capture": [{"ip": "198.51.100.23", "at": "2026-05-31T10:00:00+00:00"}]},
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
            )
    return case_id


def _worker(client, database: Database, url: str) -> Worker:
    settings = client.app.state.settings
    settings.ncmec_reporter_email = "safety@platform.example"
    settings.ncmec_reporter_first_name, settings.ncmec_reporter_last_name = "Safety", "Team"
    services = {**worker_services(client.app), "ncmec_client": CyberTiplineClient(url, USER, PASSWORD, timeout=5.0)}
    return Worker(database, build_registry(), services=services, retry=RetryPolicy(base_seconds=1, cap_seconds=1))


def _file(client, database: Database, case_id: int) -> list[int]:
    with database.unit_of_work() as db:
        drafts = draft_reports(db, actor=CS1, case=db.get_one(Case, case_id), catalogue=client.app.state.catalogue)
        for report in drafts:
            confirm_report(db, actor=CS2, report=report)
        return [r.id for r in drafts]


def test_an_unconfirmed_case_cannot_be_reported(client, database: Database) -> None:
    case_id = _case_with_evidence(client, database, confirm=False)
    with database.unit_of_work() as db, pytest.raises(RuleViolation, match="not been confirmed"):
        draft_reports(db, actor=CS1, case=db.get_one(Case, case_id), catalogue=client.app.state.catalogue)


def test_confirmed_case_files_one_finished_report_and_starts_the_hold(
    client, database: Database, ncmec, clock: FrozenClock
) -> None:
    """CSAM-1, NCMEC-1, NCMEC-3, NCMEC-4, CSAM-4."""
    url, server = ncmec
    case_id = _case_with_evidence(client, database)
    with database.unit_of_work() as db:
        # A person looked at one file (audited): only that file is marked viewed by the ESP.
        first = db.execute(sa.select(EvidenceItem).order_by(EvidenceItem.id)).scalars().first()
        assert first is not None
        read_item(db, actor=CS1, vault=client.app.state.vault, item=first, purpose="confirming the report")
        drafts = draft_reports(db, actor=CS1, case=db.get_one(Case, case_id), catalogue=client.app.state.catalogue)
        assert len(drafts) == 1 and drafts[0].plan["reported"]["esp_identifier"] == "acct-1"
        with pytest.raises(PermissionDenied):
            confirm_report(db, actor=MOD, report=drafts[0])
        confirm_report(db, actor=CS2, report=drafts[0])
        report_id = drafts[0].id
    with database.unit_of_work(write=False) as db:
        marker = f"staydown report ref: {db.get_one(NcmecReport, report_id).plan['ref']}"
    _worker(client, database, url).run_until_idle()
    found = server.find_reports(marker)
    assert len(found) == 1 and found[-1].status == "finished"
    assert len(found[-1].files) == 2
    with database.unit_of_work(write=False) as db:
        report = db.get_one(NcmecReport, report_id)
        assert (
            report.state == "finished"
            and report.receipt is not None
            and report.receipt["report_id"] == report.ncmec_report_id
        )
        assert report.confirmed_by == "staff:102"
        assert sorted(f.viewed_by_esp for f in report.files) == [False, True]
        holds = db.execute(sa.select(LegalHold)).scalars().all()
        assert len(holds) == 2 and all(h.kind == "ncmec_report" for h in holds)
        assert all(h.until - h.starts_at >= timedelta(days=365) for h in holds)
        track = db.execute(sa.select(LegalTrack).where(LegalTrack.kind == "ncmec")).scalar_one()
        assert track.state == "met" and track.resolution == "report_finished"
    # Retention cannot purge what the report holds.

    clock.advance(days=200)
    with database.unit_of_work() as db:
        assert purge_expired(db, actor=SYSTEM, vault=client.app.state.vault) == 0


@pytest.mark.parametrize("step", ["submit", "upload", "fileinfo", "finish"])
def test_a_crash_after_each_step_resumes_to_exactly_one_finished_report(
    client, database: Database, ncmec, step: str, clock: FrozenClock
) -> None:
    """NCMEC-2: the server did the step but the answer was lost; the machine resumes and files
    exactly one report."""
    url, server = ncmec
    case_id = _case_with_evidence(client, database)
    (report_id,) = _file(client, database, case_id)
    server.fail_next(step, "after_commit_drop")
    worker = _worker(client, database, url)
    for _ in range(6):
        worker.run_until_idle()
        clock.advance(seconds=5)
        with database.unit_of_work(write=False) as db:
            if db.get_one(NcmecReport, report_id).state == "finished":
                break
    with database.unit_of_work(write=False) as db:
        marker = f"staydown report ref: {db.get_one(NcmecReport, report_id).plan['ref']}"
    finished = [r for r in server.find_reports(marker) if r.status == "finished"]
    assert len(finished) == 1, [r.status for r in server.find_reports(marker)]
    with database.unit_of_work(write=False) as db:
        report = db.get_one(NcmecReport, report_id)
        assert report.state == "finished" and report.ncmec_report_id == finished[0].report_id
    server.clear_faults()
