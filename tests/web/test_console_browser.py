"""The console's JavaScript in chromium under the strict CSP: the HTMX reveal carries the CSRF
header, the policy picker swaps in the chosen policy's actions, shortcuts stay out of text fields."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa

from staydown.actors import SYSTEM
from staydown.audit.models import AuditEvent
from staydown.evidence.vault import store_item
from staydown.staff.totp import totp_now
from staydown.subjects.models import PlatformContent
from tests.helpers import PASSWORD, make_staff
from tests.imagegen import jpeg
from tests.web.conftest import screenshot
from tests.web.console_support import new_page, problems


def test_reveal_and_policy_swap_with_htmx(live_server, browser) -> None:
    url, database = live_server.url, live_server.database
    make_staff(database, "mo", "moderator")
    r = httpx.post(
        f"{url}/public/notices",
        json={
            "kind": "public_report",
            "reporter_kind": "user",
            "policy_id": "harassment",
            "good_faith": True,
            "explanation": "threats in the comments",
            "items": [{"content_id": "post-b1"}],
        },
    )
    assert r.status_code == 201, r.text
    with database.unit_of_work() as db:
        content = db.execute(sa.select(PlatformContent).where(PlatformContent.platform_id == "post-b1")).scalar_one()
        item = store_item(
            db,
            actor=SYSTEM,
            vault=live_server.app.state.vault,
            data=jpeg(3, size=(300, 200)),
            content_id=content.id,
            case_id=None,
            context={},
            media_type="JPEG",
        )
        item_id = item.id
    context, page = new_page(browser)
    page.goto(f"{url}/console/login")
    page.fill("#username", "mo")
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r".*/console/queue$"))
    page.click("a.case-link")  # (has-text('Case ') would also match the "My cases" view)
    page.wait_for_url(re.compile(r".*/console/cases/\d+$"))
    page.keyboard.press("c")  # claim
    page.wait_for_selector("text=You hold this case")

    # Reveal through HTMX: the swap replaces only that item's figure, with the original inline.
    page.click(f"button:has-text('Reveal item {item_id}')")
    page.wait_for_selector(f"#media-{item_id}.revealed img")
    assert page.get_attribute(f"#media-{item_id} img", "src").startswith("data:image/png;base64,")
    assert "your reveals today: 1 of 20" in page.inner_text(f"#media-{item_id}")
    screenshot(page, "console-media-revealed")
    with database.unit_of_work(write=False) as db:
        assert db.execute(sa.select(AuditEvent).where(AuditEvent.tag == "case:media:reveal")).scalar_one()

    # With the day's budget used, the refusal is swapped in where the item is, and nothing is shown.
    live_server.app.state.settings.reveal_daily_budget = 1
    page.reload()
    page.click(f"button:has-text('Reveal item {item_id}')")
    page.wait_for_selector("#reveal-error")
    assert "1 of your 1 media items for today" in page.inner_text("#reveal-error")
    assert page.locator("img[src^='data:']").count() == 0
    problems(page)  # the 429 itself is the expected answer
    live_server.app.state.settings.reveal_daily_budget = 20

    # The policy picker swaps in that policy's default actions.
    page.keyboard.press("v")
    page.select_option("#policy", "spam@2")
    page.wait_for_selector("#decision-actions input[name=actions_for][value='spam@2']", state="attached")
    # Violates keeps the actions live; "does not violate" greys them out.
    assert not page.is_disabled("#decision-actions input[name=actions] >> nth=0")
    page.keyboard.press("Escape")
    page.click("body")
    page.keyboard.press("d")
    assert page.is_disabled("#decision-actions input[name=actions] >> nth=0")
    # Typing in the facts field never fires a shortcut.
    page.fill("#facts", "")
    page.click("#facts")
    page.keyboard.type("very evident")
    assert page.is_checked("#outcome-does_not_violate") and page.input_value("#facts") == "very evident"
    assert problems(page) == []
    context.close()


def test_totp_enrolment_and_second_step_in_the_browser(live_server, browser) -> None:
    url = live_server.url
    make_staff(live_server.database, "mo", "moderator")
    context, page = new_page(browser)
    page.goto(f"{url}/console/login")
    page.fill("#username", "mo")
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r".*/console/queue$"))
    page.goto(f"{url}/console/account/totp")
    secret = page.inner_text("#totp-secret").strip()
    assert page.inner_text("#totp-uri").startswith("otpauth://totp/staydown%3Amo?secret=" + secret)
    screenshot(page, "console-totp-enrol")
    page.fill("#code", totp_now(secret, datetime.now(UTC)))
    page.click("button:has-text('Turn on two-step sign-in')")
    page.wait_for_selector("text=Two-step sign-in is on")
    page.click("button:has-text('Sign out')")
    page.wait_for_url(re.compile(r".*/console/login$"))
    page.fill("#username", "mo")
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r".*/console/login/totp$"))
    screenshot(page, "console-totp")
    # The enrolment consumed this step's code; the next step's is within the window.
    page.fill("#code", totp_now(secret, datetime.now(UTC) + timedelta(seconds=30)))
    page.click("button:has-text('Continue')")
    page.wait_for_url(re.compile(r".*/console/queue$"))
    assert problems(page) == []
    context.close()
