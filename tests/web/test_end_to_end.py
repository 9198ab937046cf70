"""End to end in chromium (REQ X-1, X-2, X-6): a parent reports a minor anonymously from the report
link; a child-safety reviewer finds it at the top of the queue with its countdown, reveals nothing,
decides "does not violate"; the two-person rule holds it for a second reviewer, who agrees; the
parent's status page shows the outcome and reasons. Screenshots of every page at desktop and phone
width go to test-artifacts/."""

from __future__ import annotations

import re

import httpx
import sqlalchemy as sa

from staydown.actors import SYSTEM
from staydown.audit.models import AuditEvent
from staydown.cases.models import Case
from staydown.evidence.vault import store_item
from staydown.subjects.models import PlatformContent
from tests.helpers import PASSWORD, make_staff
from tests.imagegen import jpeg
from tests.web.conftest import screenshot
from tests.web.console_support import new_page, problems

CONTENT = "vid-e2e-77"
FACTS_FIRST = "The person shown is an adult: the account's age verification and the parent's own follow-up confirm 19."
FACTS_SECOND = "Checked the verification record and the follow-up message: the person shown is 19. No violation."


def _sign_in(pg, url: str, username: str) -> None:
    pg.goto(f"{url}/console/queue")
    assert "/console/login" in pg.url  # sent to sign in first
    pg.fill("#username", username)
    pg.fill("#password", PASSWORD)
    pg.click("button:has-text('Sign in')")
    pg.wait_for_url(re.compile(r".*/console/queue$"))


def test_parent_reports_reviewers_decide_with_two_people_and_the_parent_sees_the_outcome(live_server, browser) -> None:
    url = live_server.url
    database = live_server.database
    make_staff(database, "cs1", "child_safety")
    make_staff(database, "cs2", "child_safety")
    # Something else already waits in the queue: the minor's case must still come first.
    r = httpx.post(
        f"{url}/public/notices",
        json={
            "kind": "public_report",
            "reporter_kind": "user",
            "policy_id": "harassment",
            "good_faith": True,
            "explanation": "insults in the comments",
            "items": [{"content_id": "post-older"}],
        },
    )
    assert r.status_code == 201, r.text

    ctx0, page = new_page(browser)
    # 1. The parent, with no account, from the report link next to the content.
    page.goto(f"{url}/report?content={CONTENT}")
    page.check("input[name=about][value=csam]")
    screenshot(page, "e2e-report-step1")
    page.click("button:has-text('Continue')")
    page.check("input[name=reporter][value=parent_or_representative]")
    page.fill("textarea[name=explanation]", "This shows my daughter. She is 15.")
    screenshot(page, "e2e-report-step2")
    page.click("button:has-text('Send report')")
    code = page.inner_text("#tracking-code").strip()
    assert code
    screenshot(page, "e2e-report-done")
    assert problems(page) == []

    with database.unit_of_work() as db:
        case = db.execute(sa.select(Case).order_by(Case.id.desc()).limit(1)).scalar_one()
        case_id = case.id
        assert case.minor_involved and case.child_safety
        # The upload, as a scan that held it would have kept it in the vault (a benign synthetic image).
        content = db.execute(sa.select(PlatformContent).where(PlatformContent.platform_id == CONTENT)).scalar_one()
        store_item(
            db,
            actor=SYSTEM,
            vault=live_server.app.state.vault,
            data=jpeg(5, size=(480, 360)),
            content_id=content.id,
            case_id=case_id,
            context={},
            media_type="JPEG",
        )

    # 2. The first reviewer: the case is at the top, its countdown running.
    ctx1, cs1 = new_page(browser)
    cs1.goto(f"{url}/console/login")
    screenshot(cs1, "console-login")
    _sign_in(cs1, url, "cs1")
    rows = cs1.locator("tr.queue-row")
    assert rows.count() == 2
    assert rows.first.get_attribute("data-case") == str(case_id)
    assert "minor" in rows.first.inner_text()
    countdown = rows.first.locator("time[data-countdown]").first
    before = countdown.inner_text()
    cs1.wait_for_function("el => /\\d\\ds left$/.test(el.textContent)", arg=countdown.element_handle())
    cs1.wait_for_timeout(1100)
    assert countdown.inner_text() != before  # it ticks
    screenshot(cs1, "console-queue")

    # "n": claim and open the next case.
    cs1.keyboard.press("n")
    cs1.wait_for_url(re.compile(rf".*/console/cases/{case_id}$"))
    assert cs1.locator("text=You hold this case").count() == 1
    preview = cs1.locator(".media-item img").first
    cs1.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=preview.element_handle())
    assert "/preview.png" in preview.get_attribute("src")
    screenshot(cs1, "console-case")

    # Decide "does not violate" with the keyboard and the facts; reveal nothing.
    cs1.keyboard.press("d")
    assert cs1.is_checked("#outcome-does_not_violate")
    assert cs1.evaluate("document.activeElement.id") == "facts"
    cs1.keyboard.type(FACTS_FIRST)  # typing 'v', 'd', 'e'... in the field must not change the outcome
    assert cs1.is_checked("#outcome-does_not_violate")
    screenshot(cs1, "console-decide")
    cs1.click("#decide-button")
    cs1.wait_for_selector("#case-status")
    assert "awaits a second, senior reviewer" in cs1.inner_text("#case-status")
    screenshot(cs1, "console-case-awaiting-second-review")

    assert problems(cs1) == []
    # The rule: the first reviewer can't be the second, and is not offered a form that would be refused.
    assert cs1.locator("#second-review-button").count() == 0
    assert "a different senior reviewer must" in cs1.inner_text("#own-decision")
    screenshot(cs1, "console-second-review-refused")
    assert problems(cs1) == []

    # Nothing is effective yet: the parent sees it is in second review.
    status = httpx.get(f"{url}/public/status/{code}").json()
    assert status["state"] == "in_second_review" and status["outcome"] is None

    # 3. The second reviewer agrees.
    ctx2, cs2 = new_page(browser)
    _sign_in(cs2, url, "cs2")
    cs2.click("a:has-text('Second review')")
    cs2.wait_for_url(re.compile(r".*/console/second-review$"))
    assert cs2.locator(f"a[href='/console/cases/{case_id}']").count() == 1
    screenshot(cs2, "console-second-review")
    cs2.click(f"a[href='/console/cases/{case_id}']")
    cs2.check("#agree-yes")
    cs2.fill("#second-facts", FACTS_SECOND)
    cs2.click("#second-review-button")
    cs2.wait_for_selector("#case-status")
    assert "Decided" in cs2.inner_text("#case-status") and "does not violate" in cs2.inner_text("#case-status")
    screenshot(cs2, "console-case-decided")
    assert problems(cs2) == []

    # 4. The parent's status page: the outcome and the reasons.
    page.goto(f"{url}/status/{code}")
    assert page.locator("#outcome").count() == 1
    body = page.inner_text("main")
    assert FACTS_FIRST in body or FACTS_SECOND in body
    screenshot(page, "e2e-status")
    assert problems(page) == []

    with database.unit_of_work(write=False) as db:
        reveals = db.execute(sa.select(AuditEvent).where(AuditEvent.tag == "case:media:reveal")).all()
        assert reveals == []  # decided without revealing anything
        tags = list(
            db.execute(
                sa.select(AuditEvent.tag).where(
                    AuditEvent.subject_type == "case", AuditEvent.subject_id == str(case_id)
                )
            ).scalars()
        )
        assert "case:decision:no_violation" in tags and "case:decision:second_review" in tags
    for context in (ctx0, ctx1, ctx2):
        context.close()
