"""The console's worklist in chromium (issue 17): a moderator finds a decided case by its tracking
code, opens the account's page and bulk-decides five spam cases by keyboard alone; a senior
moderator decides an appeal. Every new page passes axe-core with no violation at all at 1,280 and
375 px, does not scroll sideways, and is screenshotted at both widths into test-artifacts/. And the
three reported defects: the second-review panel's width, the second-review form offered to its own
decider, the reveal counter that did not count."""

from __future__ import annotations

import re

import httpx
import pytest
import sqlalchemy as sa

from staydown.actors import SYSTEM
from staydown.appeals.models import Appeal
from staydown.audit.models import AuditEvent
from staydown.cases.models import Case
from staydown.evidence.vault import store_item
from staydown.intake.models import Notice
from staydown.subjects.models import PlatformContent
from staydown.transparency.models import StatementOfReasons
from tests.helpers import make_staff, sign_in
from tests.imagegen import jpeg
from tests.web.conftest import DESKTOP, PHONE, screenshot
from tests.web.console_helpers import session_token
from tests.web.test_public_pages import AXE, AXE_URL_PATH

MINOR = {
    "kind": "public_report",
    "reporter_kind": "parent_or_representative",
    "policy_id": "csam",
    "minor_involved": True,
    "explanation": "This video shows my son, he is 16. " * 8,
    "items": [{"content_id": "vid-1", "account_id": "acct-v"}],
}


def axe_clean(page) -> None:
    """axe-core finds no violation of any impact on the page as it is (served same-origin, as
    tests/web/test_public_pages.run_axe does, under the page's own CSP)."""
    if not AXE.exists():
        pytest.skip("axe-core is not installed: run `npm ci` at the repository root (make install does)")
    if not getattr(page, "_axe_routed", False):
        page.context.route(
            "**" + AXE_URL_PATH,
            lambda route: route.fulfill(path=str(AXE), content_type="application/javascript; charset=utf-8"),
        )
        page._axe_routed = True
    origin = re.match(r"^https?://[^/]+", page.url).group(0)  # type: ignore[union-attr]
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.add_script_tag(url=origin + AXE_URL_PATH)
    found = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
    }""")
    assert found == [], f"axe found violations on {page.url} at {page.viewport_size}: {found}"


def no_sideways_scroll(page) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    if widths[0] > widths[1]:
        wide = page.evaluate("""() => Array.from(document.querySelectorAll('body *'))
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(-5).map(e => e.tagName + '#' + e.id + '.' + e.className + ' '
                           + Math.round(e.getBoundingClientRect().right))
            .concat(Array.from(document.querySelectorAll('body *')).filter(e => e.scrollWidth > window.innerWidth)
                    .slice(-5).map(e => 'scroll:' + e.tagName + '#' + e.id + '.' + e.className + ' '
                                   + e.scrollWidth))""")
        raise AssertionError(f"{page.url} scrolls sideways at {page.viewport_size}: {widths}; too wide: {wide}")


def check(page, name: str) -> None:
    """axe and width at desktop and phone size, screenshots at both, no script error or CSP report."""
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        no_sideways_scroll(page)
        axe_clean(page)
    page.set_viewport_size(DESKTOP)
    screenshot(page, name)
    problems = [p for p in page.problems if "status of 422" not in p and "status of 409" not in p]
    assert problems == [], f"console errors or CSP violations on {page.url}: {problems}"
    page.problems.clear()


def _cookie(page, live_server, username: str) -> None:
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


def _person(browser, live_server, username: str):
    context = browser.new_context(viewport=DESKTOP)
    pg = context.new_page()
    pg.problems = []
    pg.on("console", lambda m: pg.problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.problems.append(str(e)))
    _cookie(pg, live_server, username)
    return context, pg


def _report(url: str, policy: str, content: str, account: str, explanation: str, email: str) -> str:
    r = httpx.post(
        f"{url}/public/notices",
        json={
            "kind": "public_report",
            "reporter_kind": "user",
            "policy_id": policy,
            "explanation": explanation,
            "contact_email": email,
            "items": [{"content_id": content, "account_id": account}],
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["tracking_code"]


def _case_of(live_server, tracking: str) -> int:
    with live_server.database.unit_of_work(write=False) as db:
        return db.execute(sa.select(Notice.case_id).where(Notice.tracking_code == tracking)).scalar_one()


def _seed(live_server) -> dict:
    url = live_server.url
    for name, role in (
        ("mo", "moderator"),
        ("mo2", "moderator"),
        ("senior", "senior_moderator"),
        ("cs1", "child_safety"),
        ("cs2", "child_safety"),
        ("legal", "legal"),
    ):
        make_staff(live_server.database, name, role)
    api = httpx.Client(base_url=url)
    mo2 = sign_in(api, "mo2")
    # The account's first case: decided "violates" by mo2, then appealed by the account holder.
    tracking = _report(
        url, "harassment", "post-1", "acct-1", "he keeps threatening my sister in replies", "sister@example.org"
    )
    first = _case_of(live_server, tracking)
    assert api.post(f"/v1/cases/{first}/claim", headers=mo2).status_code == 200
    r = api.post(
        f"/v1/cases/{first}/decision",
        headers=mo2,
        json={"policy": "harassment@2", "outcome": "violates", "facts": "three replies threatening violence"},
    )
    assert r.status_code == 200, r.text

    with live_server.database.unit_of_work(write=False) as db:
        statement = db.execute(
            sa.select(StatementOfReasons.code).where(
                StatementOfReasons.case_id == first, StatementOfReasons.measure == "remove"
            )
        ).scalar_one()
    r = api.post(
        "/public/appeals",
        json={
            "statement_code": statement,
            "basis": "content_restriction",
            "explanation": "These were quotes from a film we were discussing.",
        },
    )
    assert r.status_code == 201, r.text
    appeal_code = r.json()["code"]
    r = api.post(
        "/v1/disputes",
        headers=sign_in(api, "legal"),
        json={"body": "Example Online Dispute Board", "case_id": first, "reference": "EODB-2026-0042"},
    )
    assert r.status_code == 201, r.text
    # Five spam reports, one stored picture among them (synthetic, benign), and another report on the account.
    spam = [
        _case_of(
            live_server,
            _report(
                url,
                "spam",
                f"spam-{i}",
                f"bot-{i % 2}",
                "the same crypto link posted again and again",
                f"r{i}@example.org",
            ),
        )
        for i in range(5)
    ]
    _report(url, "spam", "post-2", "acct-1", "advertising in every thread", "other@example.org")
    with live_server.database.unit_of_work() as db:
        content = db.execute(sa.select(PlatformContent).where(PlatformContent.platform_id == "spam-0")).scalar_one()
        store_item(
            db,
            actor=SYSTEM,
            vault=live_server.app.state.vault,
            data=jpeg(7),
            content_id=content.id,
            case_id=spam[0],
            context={},
            media_type="image/jpeg",
            original_filename="synthetic-7.jpg",
        )
        account_id = db.execute(sa.text("select id from platform_accounts where platform_id='acct-1'")).scalar_one()
    r = api.post("/public/notices", json=MINOR)
    assert r.status_code == 201, r.text
    minor = _case_of(live_server, r.json()["tracking_code"])
    api.close()
    return {
        "tracking": tracking,
        "first": first,
        "spam": spam,
        "appeal": appeal_code,
        "account": account_id,
        "minor": minor,
    }


def test_issue17_moderator_and_senior_walk_through_the_new_console(live_server, browser) -> None:
    """REQ DSA-4 (appeal decided by another person, with reasons), X-2 (no bulk decision on a
    child-safety case), X-6 (keyboard use)."""
    ids = _seed(live_server)
    base = live_server.url
    context, page = _person(browser, live_server, "mo")

    # 1. Find the decided case by its tracking code, by keyboard: "/" goes to the search box.
    page.goto(f"{base}/console/queue")
    check(page, "console-queue-views")
    page.keyboard.press("/")
    assert page.evaluate("() => document.activeElement.id") == "console-q"
    page.keyboard.type(ids["tracking"].lower())
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/console/cases/{ids['first']}")
    assert "Decided: violates" in page.inner_text("#case-status")
    history = page.inner_text("#history-h + ol")
    assert "decided it violates, under harassment@2" in history and not re.search(r"\w+:\w+:\w+", history)
    check(page, "console-case-decided")

    # 2. The account's page: both its cases, the decision, the appeal, the statement.
    page.click(f"a[href='/console/accounts/{ids['account']}']")
    page.wait_for_url(f"{base}/console/accounts/{ids['account']}")
    cases = page.inner_text("#record-cases")
    assert f"Case {ids['first']}" in cases and "decided violates" in cases and cases.count("Case ") == 2
    assert "remove" in page.inner_text("#record-actions") and ids["appeal"] in page.inner_text("#record-appeals")
    check(page, "console-account")
    page.click("#record-content a >> nth=0")
    page.wait_for_url(re.compile(r".*/console/content/\d+$"))
    check(page, "console-content")

    # A search that is not exact lists its results.
    page.goto(f"{base}/console/search?q=spam-")
    assert page.locator("#search-results li").count() == 5
    check(page, "console-search")

    # 3. Bulk-decide the five spam cases, keyboard only: j/x to tick, b to the form.
    page.goto(f"{base}/console/queue?policy=spam")
    rows = page.locator("tr.queue-row")
    assert rows.count() == 6  # five from the bot wave, one on acct-1
    assert page.locator("img.thumb").count() == 1  # the stored picture, blurred (the preview route)
    assert page.locator("#two-person-note").is_visible()
    spam_ids = set(ids["spam"])
    order = [int(x) for x in page.eval_on_selector_all("tr.queue-row", "rows => rows.map(r => r.dataset.case)")]
    for case_id in order:
        page.keyboard.press("j")
        assert page.evaluate("() => document.activeElement.className") == "case-link"
        if case_id in spam_ids:
            page.keyboard.press("x")
    assert page.inner_text("#bulk-count") == "5"
    page.keyboard.press("b")
    assert page.evaluate("() => document.activeElement.id") == "bulk-policy"
    assert page.input_value("#bulk-policy") == "spam@2"
    page.keyboard.press("Tab")  # the first outcome
    page.keyboard.press("Space")
    assert page.is_checked("#bulk-violates")
    page.keyboard.press("Tab")  # out of the radio group
    assert page.evaluate("() => document.activeElement.id") == "bulk-facts"
    page.keyboard.type("the same crypto link from a bot network, 5 reports in 10 minutes")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "bulk-button"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/console/queue\?view=closed&decided=5$"))
    assert "5 cases were decided with one reason" in page.inner_text("#queue-message")
    check(page, "console-queue-closed")
    with live_server.database.unit_of_work(write=False) as db:
        for case_id in ids["spam"]:
            assert db.get(Case, case_id).outcome == "violates"
            assert (
                db.scalar(
                    sa.select(sa.func.count())
                    .select_from(AuditEvent)
                    .where(AuditEvent.subject_id == str(case_id), AuditEvent.tag == "case:decision:violates")
                )
                == 1
            )

    # A filter that can't be used gets a clear page.
    page.goto(f"{base}/console/queue?view=decidedx&reporter=martian")
    text = page.inner_text("#filter-error")
    assert "is not a view" in text and "is not a reporter kind" in text and "pattern" not in text
    check(page, "console-queue-bad-filter")

    # Comments and assignment on a case, from the keyboard-reachable forms.
    other = next(c for c in order if c not in spam_ids)
    page.goto(f"{base}/console/cases/{other}")
    page.fill("#comment-body", "Same advertiser as last week's wave.")
    page.click("#comment-button")
    page.wait_for_url(re.compile(rf".*/console/cases/{other}#comments-h$"))
    page.select_option("#assign-to", "role:senior_moderator")
    page.fill("#assign-reason", "Advertiser may be a repeat offender: decide on suspension.")
    page.click("#escalate-button")
    page.wait_for_url(re.compile(rf".*/console/cases/{other}#assign-h$"))
    assert "Same advertiser" in page.inner_text("#comment-list")
    assert "escalated the case to everyone with the role senior moderator" in page.inner_text("#history-h + ol")
    check(page, "console-case-comments")
    context.close()

    # 4. A senior moderator decides the appeal in the console.
    context, senior = _person(browser, live_server, "senior")
    senior.goto(f"{base}/console/appeals")
    check(senior, "console-appeals")
    senior.click(f"a:has-text('Appeal {ids['appeal']}')")
    senior.wait_for_url(re.compile(r".*/console/appeals/\d+$"))
    assert "quotes from a film" in senior.inner_text("#appeal-explanation")
    check(senior, "console-appeal")
    senior.click("#claim-appeal")
    senior.wait_for_url(re.compile(r".*done=claimed$"))
    senior.check("#appeal-reversed")
    senior.fill("#appeal-reasons", "The replies quote a film scene the thread was discussing; no threat was made.")
    check(senior, "console-appeal-claimed")
    senior.click("#appeal-decide")
    senior.wait_for_url(re.compile(r".*done=decided$"))
    assert "reversed" in senior.inner_text("#appeal-outcome")
    senior.goto(f"{base}/console/appeals?tab=decided")
    assert ids["appeal"] in senior.inner_text("#appeals-table")
    senior.goto(f"{base}/console/appeals/disputes")
    assert "EODB-2026-0042" in senior.inner_text("#disputes-table")
    check(senior, "console-disputes")
    context.close()
    with live_server.database.unit_of_work(write=False) as db:
        appeal = db.execute(sa.select(Appeal).where(Appeal.code == ids["appeal"])).scalar_one()
        assert appeal.outcome == "reversed" and appeal.decided_by.startswith("staff:")


def test_issue17_second_review_panel_fits_its_form_is_not_offered_to_the_decider_and_reveals_count(
    live_server, browser
) -> None:
    """X-2: the second review is a different person's; the panel fits a 1,280 px window; the
    reveal counter above the media counts the reveal just made."""
    ids = _seed(live_server)
    base = live_server.url
    context, cs1 = _person(browser, live_server, "cs1")
    cs1.goto(f"{base}/console/cases/{ids['minor']}")
    cs1.click("#claim-button")
    cs1.wait_for_selector("#decision-form")
    cs1.check("#outcome-does_not_violate")
    cs1.fill("#facts", "An adult in the video; age documents checked and kept. " * 6)
    cs1.click("#decide-button")
    cs1.wait_for_selector("#case-status")
    # The decider is told why there is no form, instead of being offered one that is then refused.
    assert "You made this" in cs1.inner_text("#own-decision")
    assert cs1.locator("#second-review-button").count() == 0
    context.close()

    context, cs2 = _person(browser, live_server, "cs2")
    cs2.goto(f"{base}/console/cases/{ids['minor']}")
    assert cs2.locator("#second-review-button").is_visible()
    widths = cs2.evaluate("""() => [document.documentElement.scrollWidth, window.innerWidth,
                                    document.getElementById('second-review').scrollWidth,
                                    document.getElementById('second-review').getBoundingClientRect().right]""")
    if widths[0] > widths[1] or widths[2] > widths[1]:
        no_sideways_scroll(cs2)  # names the elements that stick out
    assert widths[0] <= widths[1] and widths[3] <= widths[1], f"the second-review panel overflows: {widths}"
    assert widths[2] <= widths[1]
    check(cs2, "console-second-review-panel")

    # The reveal counter above the media counts (a spam case's synthetic picture).
    cs2.goto(f"{base}/console/cases/{ids['spam'][0]}")
    budget = live_server.settings.reveal_daily_budget
    assert cs2.inner_text("#reveal-count") == f"0 of {budget}"
    cs2.click(".reveal-button")
    cs2.wait_for_selector("figure.revealed img")
    assert cs2.inner_text("#reveal-count") == f"1 of {budget}"
    assert "your reveals today: 1 of" in cs2.inner_text("figure.revealed figcaption")
    context.close()
