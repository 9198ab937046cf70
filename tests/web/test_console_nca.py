"""The console's UK NCA pages (UK-6, CSAM-5): who sees them, drafting with the priority assessment
and the UK link, the review page showing what will be sent, confirmation by a child-safety reviewer,
the filing state, and a page that says so plainly when the platform has NCA reporting off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from staydown.authorities.models import NcaReport
from staydown.db import Database
from staydown.delivery.models import Job
from staydown.settings import Settings
from tests.authorities.test_nca_filing import NCA_SETTINGS, make_case
from tests.web.console_helpers import ConsoleUser, console_user


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    nca: dict[str, Any] = NCA_SETTINGS
    return Settings(env="test", database_url=database_url, data_dir=tmp_path / "var", worker_in_process=False, **nca)


@pytest.fixture
def people(client, database: Database) -> dict[str, ConsoleUser]:
    roles = {"mo": "moderator", "cs1": "child_safety", "cs2": "child_safety", "legal1": "legal", "adm": "admin"}
    return {name: console_user(client, database, name, role) for name, role in roles.items()}


def test_uk6_csam5_console_drafts_reviews_confirms_and_shows_the_state(client, database: Database, people) -> None:
    case_id = make_case(client, database)
    assert 'href="/console/nca"' in people["cs1"].get("/console/dashboard").text
    assert 'href="/console/nca"' not in people["mo"].get("/console/dashboard").text
    assert people["mo"].post("/console/nca/draft", {"case_id": str(case_id)}).status_code == 403
    for bad in (
        {"case_id": "abc"},
        {"case_id": str(case_id), "priority": "soon"},
        {"case_id": str(case_id), "priority": "urgent"},  # urgent says why
        {"case_id": str(case_id), "uk_link_basis": "moon"},
    ):
        assert people["cs1"].post("/console/nca/draft", bad).status_code == 422, bad
    assert people["cs1"].post("/console/nca/draft", {"case_id": "999999"}).status_code == 404

    r = people["legal1"].post(
        "/console/nca/draft",
        {
            "case_id": str(case_id),
            "priority": "urgent",
            "priority_reason": "the reporter says the child is still with the uploader",
        },
    )
    assert r.status_code == 303
    with database.unit_of_work(write=False) as db:
        report = db.execute(sa.select(NcaReport)).scalar_one()
        report_id = report.id
        assert report.priority == "urgent" and report.created_by.startswith("staff:")
    assert r.headers["location"] == f"/console/nca/{report_id}?done=reports-drafted"
    assert people["cs1"].post("/console/nca/draft", {"case_id": str(case_id)}).status_code == 409

    listing = people["legal1"].get("/console/nca?state=draft").text
    assert f"/console/nca/{report_id}" in listing and "acct-1" in listing and "urgent" in listing
    review = people["legal1"].get(f"/console/nca/{report_id}").text
    # What will be sent, and never the media: the hashes, the upload's IP, the vault references.
    assert "198.51.100.20" in review and "sha256" in review and "/console/evidence/" in review
    assert "<img" not in review
    assert "Confirm and file" not in review and "child-safety reviewer confirms" in review  # legal can't confirm
    assert people["legal1"].post(f"/console/nca/{report_id}/confirm", {"reviewed": "yes"}).status_code == 403

    page = people["cs2"].get(f"/console/nca/{report_id}").text
    assert "Confirm and file" in page and "s.69" in page
    assert people["cs2"].post(f"/console/nca/{report_id}/confirm", {}).status_code == 422  # the declaration
    r = people["cs2"].post(f"/console/nca/{report_id}/confirm", {"reviewed": "yes"})
    assert r.status_code == 303 and r.headers["location"] == f"/console/nca/{report_id}?done=nca-report-confirmed"
    with database.unit_of_work(write=False) as db:
        assert db.get_one(NcaReport, report_id).state == "confirmed"
        assert db.execute(sa.select(Job).where(Job.kind == "nca:file")).scalar_one()
    status = people["cs1"].get(f"/console/nca/{report_id}?done=nca-report-confirmed").text
    assert "queued for filing with the National Crime Agency" in status
    assert "Confirm and file" not in status and "authority:nca:confirm" in status
    assert people["cs1"].post(f"/console/nca/{report_id}/confirm", {"reviewed": "yes"}).status_code == 409
    assert people["cs1"].get("/console/nca/999").status_code == 404
    assert people["cs1"].get("/console/nca?state=bogus").status_code == 422


def test_uk6_the_console_says_plainly_when_nca_reporting_is_off(client, database: Database, people) -> None:
    case_id = make_case(client, database)
    client.app.state.settings.uk_nca_reporting = False
    page = people["cs1"].get("/console/nca").text
    assert "NCA reporting is off for this platform" in page and 'action="/console/nca/draft"' not in page
    r = people["cs1"].post("/console/nca/draft", {"case_id": str(case_id)})
    assert r.status_code == 409 and "off for this platform" in r.text
    with database.unit_of_work(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(NcaReport)) == 0


def test_uk6_a_non_uk_provider_is_asked_for_the_uk_link(client, database: Database, people) -> None:
    client.app.state.settings.uk_nca_provider = "non_uk"
    case_id = make_case(client, database)
    page = people["cs1"].get("/console/nca").text
    assert 'name="uk_link_basis"' in page and "the child is in the UK" in page
    assert people["cs1"].post("/console/nca/draft", {"case_id": str(case_id)}).status_code == 422
    r = people["cs1"].post(
        "/console/nca/draft",
        {
            "case_id": str(case_id),
            "uk_link_basis": "victim_location",
            "uk_link_facts": "the parent who reported lives in Leeds",
        },
    )
    assert r.status_code == 303
    report_page = people["cs1"].get(r.headers["location"]).text
    assert "the child is in the UK: the parent who reported lives in Leeds" in report_page
