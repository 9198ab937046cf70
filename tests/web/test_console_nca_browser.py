"""The console's UK NCA pages in chromium (UK-6): a child-safety specialist drafts an urgent report
through the form, reviews what will be sent and confirms it; under the strict CSP with no violation,
no serious axe-core finding, no sideways scroll at phone width; screenshots at 1,280 and 375 px."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from staydown.actors import SYSTEM
from staydown.authorities.models import NcaReport
from staydown.cases.models import Case, LegalTrack
from staydown.db import now
from staydown.evidence.vault import store_item
from staydown.subjects.models import PlatformAccount, PlatformContent
from tests.helpers import make_staff
from tests.imagegen import jpeg
from tests.web.conftest import screenshot
from tests.web.console_helpers import session_token
from tests.web.test_public_pages import no_horizontal_scroll, run_axe


def _seed(live_server) -> int:
    """A confirmed child-safety case with one item by one account and its file in the vault."""
    with live_server.database.unit_of_work() as db:
        at = now(db)
        account = PlatformAccount(platform_id="acct-42", handle="someone", first_seen_at=at, updated_at=at)
        db.add(account)
        db.flush()
        content = PlatformContent(
            platform_id="post-42",
            url="https://forum.example/p/42",
            account_id=account.id,
            first_seen_at=at,
            updated_at=at,
            created_at=at - timedelta(hours=4),
            meta={"visibility": "public"},
        )
        db.add(content)
        db.flush()
        case = Case(
            state="decided",
            area="child_safety",
            severity="critical",
            child_safety=True,
            policy_id="csam",
            content_id=content.id,
            opened_at=at - timedelta(hours=3),
            actual_knowledge_at=at - timedelta(hours=1),
        )
        db.add(case)
        db.flush()
        db.add(
            LegalTrack(
                case_id=case.id,
                kind="uk_nca",
                state="open",
                received_at=at - timedelta(hours=3),
                due_at=at + timedelta(hours=23),
                details={"hours": 24},
            )
        )
        store_item(
            db,
            actor=SYSTEM,
            vault=live_server.app.state.vault,
            data=jpeg(8),
            content_id=content.id,
            case_id=case.id,
            media_type="image/jpeg",
            original_filename="synthetic-8.jpg",
            context={"ip_capture": [{"ip": "198.51.100.7", "at": at.isoformat(), "port": 40123}]},
        )
        return case.id


def test_uk6_console_nca_pages_in_chromium(live_server, page) -> None:
    live_server.settings.uk_nca_reporting = True  # the platform serves UK users
    make_staff(live_server.database, "cs", "child_safety")
    case_id = _seed(live_server)
    base = live_server.url
    token = session_token(live_server.database, "cs")
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

    page.goto(f"{base}/console/nca")
    assert "UK National Crime Agency reports" in page.locator("h1").inner_text()
    screenshot(page, "console-nca")
    run_axe(page)
    no_horizontal_scroll(page)

    # Drafting through the form, as a person would: urgent, with the reason.
    page.fill("#draft-case", str(case_id))
    page.check("input[name=priority][value=urgent]")
    page.fill("#draft-reason", "the reporter says the child is still in contact with the account")
    page.locator("form[action='/console/nca/draft'] button[type=submit]").click()
    page.wait_for_url("**done=reports-drafted")
    assert "NCA report" in page.locator("h1").inner_text() and "urgent" in page.locator("h1").inner_text()
    assert "198.51.100.7" in page.content() and "acct-42" in page.content()
    screenshot(page, "console-nca-report")
    run_axe(page)
    no_horizontal_scroll(page)

    page.check("input[name=reviewed]")
    page.locator("form[action$='/confirm'] button[type=submit]").click()
    page.wait_for_url("**done=nca-report-confirmed")
    assert "queued for filing with the National Crime Agency" in page.content()
    screenshot(page, "console-nca-report-confirmed")
    assert page.problems == []
    with live_server.database.unit_of_work(write=False) as db:
        report = db.execute(sa.select(NcaReport)).scalar_one()
        assert report.state == "confirmed" and report.priority == "urgent"
