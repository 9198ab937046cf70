"""The console's bank, NCMEC, evidence, flagger, staff, key, audit and dashboard pages in chromium:
each visited by the role it is for, under the strict CSP with no violation, screenshotted at desktop
and phone width into test-artifacts/."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from staydown.actors import SYSTEM, Actor
from staydown.authorities.models import NcmecReport, NcmecReportFile
from staydown.cases.models import Case, LegalTrack
from staydown.db import now
from staydown.evidence.actions import request_destruction
from staydown.evidence.vault import place_hold, store_item
from staydown.intake.misuse import register_trusted_flagger
from staydown.matching.banks import NewEntry, add_entries, create_bank
from staydown.staff.actions import create_api_client
from staydown.staff.permissions import permissions_for_roles
from tests.helpers import PASSWORD, make_staff
from tests.imagegen import jpeg
from tests.web.conftest import screenshot
from tests.web.console_helpers import session_token


def _seed(live_server) -> dict[str, int]:
    database = live_server.database
    vault = live_server.app.state.vault
    legal = Actor.staff(900, "legal-seed", permissions_for_roles(["legal"]))
    with database.unit_of_work() as db:
        at = now(db)
        bank = create_bank(
            db,
            actor=SYSTEM,
            name="partner-list",
            source="ncmec",
            policy_id="csam",
            permitted_purpose="detect known CSAM at upload (industry hash list)",
        )
        add_entries(db, actor=SYSTEM, bank=bank, entries=[NewEntry("pdq", f"{i:064x}", f"entry {i}") for i in range(8)])
        case = Case(
            state="open",
            area="child_safety",
            severity="critical",
            child_safety=True,
            opened_at=at - timedelta(hours=3),
            actual_knowledge_at=at - timedelta(hours=1),
        )
        other = Case(state="open", area="spam", severity="low", opened_at=at - timedelta(hours=30))
        db.add_all([case, other])
        db.flush()
        db.add(
            LegalTrack(
                case_id=case.id,
                kind="ncmec",
                state="open",
                received_at=at - timedelta(hours=1),
                due_at=at + timedelta(hours=3),
            )
        )
        db.add(
            LegalTrack(
                case_id=other.id,
                kind="dsa_notice",
                state="open",
                received_at=at - timedelta(hours=30),
                due_at=at + timedelta(hours=20),
            )
        )
        item = store_item(
            db,
            actor=SYSTEM,
            vault=vault,
            data=jpeg(5),
            content_id=None,
            case_id=case.id,
            context={},
            media_type="image/jpeg",
            original_filename="synthetic-5.jpg",
        )
        second = store_item(
            db,
            actor=SYSTEM,
            vault=vault,
            data=jpeg(6),
            content_id=None,
            case_id=case.id,
            context={},
            media_type="image/jpeg",
            original_filename="synthetic-6.jpg",
        )
        place_hold(
            db,
            actor=SYSTEM,
            item=item,
            kind="preservation_request",
            basis="2703(f) letter, ref PD-77",
            until=at + timedelta(days=90),
        )
        request_destruction(
            db, actor=legal, item=second, basis="County police, 2026-06-01, ref PD-78: destroy the copy held"
        )
        report = NcmecReport(
            case_id=case.id,
            state="draft",
            escalate=False,
            created_at=at,
            created_by="staff:900",
            plan={
                "ref": "0f0f0f0f",
                "case_id": case.id,
                "incident": {
                    "type": "Child Pornography (possession, manufacture, and distribution)",
                    "datetime": (at - timedelta(hours=3)).isoformat(),
                    "knowledge_at": (at - timedelta(hours=1)).isoformat(),
                },
                "reported": {
                    "esp_identifier": "acct-42",
                    "screen_name": "someone",
                    "ip_events": [{"ip": "198.51.100.7", "at": at.isoformat()}],
                    "disabled_permanently": False,
                    "disabled_temporarily": True,
                },
                "files": [
                    {
                        "evidence_item_id": item.id,
                        "original_filename": "synthetic-5.jpg",
                        "viewed_by_esp": False,
                        "publicly_available": True,
                        "content_url": "https://forum.example/p/1",
                    }
                ],
            },
        )
        db.add(report)
        db.flush()
        db.add(NcmecReportFile(report_id=report.id, evidence_item_id=item.id, viewed_by_esp=False))
        register_trusted_flagger(
            db,
            actor=SYSTEM,
            name="Hotline Example",
            areas=["child_safety", "ncii"],
            designated_by="Digital Services Coordinator (example)",
        )
        create_api_client(db, actor=SYSTEM, name="forum production")
        return {"item": item.id, "report": report.id, "case": case.id}


def _sign_in(page, live_server, username: str) -> None:
    token = session_token(live_server.database, username)
    page.context.add_cookies(
        [
            {
                "name": "sd_session",
                "value": token,
                "domain": "127.0.0.1",
                "path": "/console",
                "httpOnly": True,
                "sameSite": "Strict",
            }
        ]
    )


def _watched(browser):
    """A fresh context and page recording console errors with where they came from."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.problems = []
    pg.on("console", lambda m: pg.problems.append((m.text, m.location.get("url", ""))) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.problems.append((str(e), "")))
    return context, pg


def _problems(pg) -> list[tuple[str, str]]:
    """CSP violations and script errors; chromium's own /favicon.ico probe is not the page's doing."""
    return [(text, where) for text, where in pg.problems if not where.endswith("/favicon.ico")]


def _visit(page, url: str, name: str, heading: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response.status if response else None)
    assert heading in page.locator("h1").first.inner_text()
    screenshot(page, name)


def test_console_other_pages_render_under_csp_at_desktop_and_phone(live_server, browser) -> None:
    for username, role in (("cs", "child_safety"), ("legal", "legal"), ("adm", "admin"), ("aud", "auditor")):
        make_staff(live_server.database, username, role)
    ids = _seed(live_server)
    base = live_server.url
    first_context, page = _watched(browser)

    # The first person signs in through the real sign-in page.
    page.goto(f"{base}/console/login?next=/console/banks")
    page.fill("#username", "cs")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/console/banks")
    _visit(page, f"{base}/console/banks", "console-banks", "Hash banks")
    _visit(page, f"{base}/console/banks/partner-list", "console-bank-entries", "Bank partner-list")
    _visit(page, f"{base}/console/ncmec", "console-ncmec", "CyberTipline reports")
    _visit(page, f"{base}/console/ncmec/{ids['report']}", "console-ncmec-report", "CyberTipline report")
    _visit(page, f"{base}/console/dashboard", "console-dashboard", "Dashboard")
    assert page.locator("svg.chart-svg rect.bar").count() >= 2

    # A false positive disabled through the form, as a person would.
    page.goto(f"{base}/console/banks/partner-list")
    first_reason = page.locator("form.inline-form input[name=reason]").first
    first_reason.fill("false positive: a synthetic test pattern")
    page.locator("form.inline-form button[type=submit]").first.click()
    page.wait_for_url("**done=entry-disabled")
    assert "no longer matches" in page.content()
    assert _problems(page) == []
    first_context.close()

    for username, pages in (
        (
            "legal",
            [
                ("/console/evidence", "console-evidence", "Evidence vault"),
                (f"/console/evidence/{ids['item']}", "console-evidence-item", "Evidence item"),
                ("/console/trusted-flaggers", "console-trusted-flaggers", "Trusted flaggers"),
            ],
        ),
        ("adm", [("/console/staff", "console-staff", "Staff"), ("/console/api-keys", "console-api-keys", "API keys")]),
        ("aud", [("/console/audit", "console-audit", "Audit log")]),
    ):
        context, other = _watched(browser)
        try:
            _sign_in(other, live_server, username)
            for path, name, heading in pages:
                _visit(other, base + path, name, heading)
            if username == "adm":
                other.goto(f"{base}/console/staff")
                other.locator("summary", has_text="Add a staff user").click()
                screenshot(other, "console-staff-form")
                other.goto(f"{base}/console/api-keys")
                other.locator("summary", has_text="Create a key").click()
                other.fill("#key-name", "browser test key")
                other.locator("form[action='/console/api-keys'] button[type=submit]").click()
                other.wait_for_selector("#new-key")
                assert other.input_value("#new-key").startswith("sd_")
                screenshot(other, "console-api-key-created")
            if username == "aud":
                other.locator("form[action='/console/audit/verify'] button[type=submit]").click()
                other.wait_for_selector("#verify-result")
                assert "The chain is intact" in other.inner_text("#verify-result")
                screenshot(other, "console-audit-verified")
            assert _problems(other) == [], username
        finally:
            context.close()
    with live_server.database.unit_of_work(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(NcmecReport)) == 1
