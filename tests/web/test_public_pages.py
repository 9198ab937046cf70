"""The public pages in Debian's headless chromium: the report flow from the content link, TAKE IT
DOWN, status, keyboard-only use, no JavaScript, phone width, axe-core and screenshots."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from staydown.actors import Actor
from staydown.cases.actions import claim_case
from staydown.cases.models import Case, LegalTrack
from staydown.enforcement.models import EnforcementAction
from staydown.flows.decisions import decide_case, second_review
from staydown.intake.actions import submit_notice
from staydown.intake.models import Notice
from staydown.intake.schemas import NoticeIn
from staydown.staff.permissions import permissions_for_roles
from staydown.subjects.records import ensure_content
from staydown.subjects.schemas import AccountRef, ContentRef
from staydown.transparency.models import StatementOfReasons
from tests.web.conftest import DESKTOP, PHONE, screenshot

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_URL_PATH = "/__test__/axe.min.js"


def run_axe(page) -> None:
    """axe-core in the page, under the page's own CSP: the script is served to the browser from a
    same-origin address that Playwright answers with the npm file, so `script-src 'self'` admits it
    and no bypass_csp is needed (add_script_tag(path=) would inline it, which the CSP refuses)."""
    if not AXE.exists():
        message = "axe-core is not installed: run `npm ci` at the repository root (make install does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; under CI=true the accessibility checks must run")
        pytest.skip(message)
    if not getattr(page, "_axe_routed", False):
        page.context.route(
            "**" + AXE_URL_PATH,
            lambda route: route.fulfill(path=str(AXE), content_type="application/javascript; charset=utf-8"),
        )
        page._axe_routed = True
    origin = re.match(r"^https?://[^/]+", page.url).group(0)  # type: ignore[union-attr]
    page.add_script_tag(url=origin + AXE_URL_PATH)
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
    }""")
    serious = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not serious, f"axe found serious or critical violations on {page.url}: {serious}"


def no_horizontal_scroll(page) -> None:
    page.set_viewport_size(PHONE)
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    page.set_viewport_size(DESKTOP)
    assert width[0] <= width[1], f"{page.url} scrolls sideways at {PHONE['width']} px: {width}"


def check_page(page, name: str, status: int = 200) -> None:
    """The checks every public page passes: axe at desktop and phone width, no sideways scroll,
    screenshots at both widths, no CSP violation or script error. A page answered with an error
    status (422 for a form with errors, 404) is logged by chromium as a console error: that one
    line is expected, anything else is not."""
    run_axe(page)
    no_horizontal_scroll(page)
    page.set_viewport_size(PHONE)
    run_axe(page)
    page.set_viewport_size(DESKTOP)
    screenshot(page, name)
    expected = f"the server responded with a status of {status}"
    problems = [p for p in page.problems if not (status >= 400 and expected in p)]
    assert problems == [], f"console errors or CSP violations on {page.url}: {problems}"
    page.problems.clear()


def notices(live_server) -> list[Notice]:
    with live_server.database.unit_of_work(write=False) as db:
        rows = list(db.execute(sa.select(Notice).order_by(Notice.id)).scalars())
        for n in rows:
            _ = n.items
        db.expunge_all()
        return rows


def test_x6_a_parent_reports_anonymously_from_the_content_link_in_three_steps(live_server, page) -> None:
    """X-1, X-6, UK-2: from the platform's link next to the item, a parent reports a child's abuse
    without giving a name or e-mail: three pages, the last with the tracking code; the notice is
    stored with the right fields and the status page shows it."""
    loads = []
    page.on("framenavigated", lambda frame: loads.append(frame.url) if frame == page.main_frame else None)
    page.goto(f"{live_server.url}/report?content=post-42")
    assert page.locator(".steps").inner_text() == "Step 1 of 3"
    assert "post-42" in page.locator("main").inner_text()
    check_page(page, "public-report-step1")
    page.get_by_label("Sexual images or videos of a child").check()
    page.get_by_role("button", name="Continue").click()

    assert page.locator(".steps").inner_text() == "Step 2 of 3"
    assert page.get_by_role("heading", level=1).inner_text() == "Tell us about it"
    check_page(page, "public-report-step2")
    page.get_by_label("I am a parent, guardian or representative").check()
    page.get_by_label("Anything we should know?").fill("My son is 14. This is him, taken without his knowledge.")
    page.get_by_role("button", name="Send report").click()

    assert page.locator(".steps").inner_text() == "Step 3 of 3"
    code = page.locator("#tracking-code").inner_text()
    assert re.fullmatch(r"[0-9A-Z]{5}(-[0-9A-Z]{5}){3}", code)
    assert "We will act by" in page.locator("main").inner_text()
    check_page(page, "public-report-step3")
    assert len(loads) == 3, loads  # three steps, counted as pages the person sees

    [notice] = notices(live_server)
    assert (notice.tracking_code, notice.kind, notice.reporter_kind, notice.policy_id) == (
        code,
        "public_report",
        "parent_or_representative",
        "csam",
    )
    assert notice.minor_involved and notice.contact_email is None and notice.contact_name is None
    assert notice.explanation.startswith("My son is 14.") and notice.items[0].content_id is not None

    page.get_by_role("button", name="See the status of this report").click()
    assert page.url == f"{live_server.url}/status"  # the code went in the body, not the address
    assert page.locator("#state").inner_text() == "Received: waiting for a decision"
    assert code in page.locator("main").inner_text()
    check_page(page, "public-status")


def test_errors_are_announced_focused_and_linked_to_their_fields(live_server, page) -> None:
    page.goto(f"{live_server.url}/report?about=harassment&step=2")
    page.get_by_label("Your e-mail address").fill("nope")
    page.get_by_role("button", name="Send report").click()
    summary = page.locator("#error-summary")
    assert summary.get_attribute("role") == "alert"
    assert page.evaluate("() => document.activeElement.id") == "error-summary"
    assert page.title().startswith("Error:")
    summary.get_by_role("link", name=re.compile("e-mail address in the form")).click()
    assert page.evaluate("() => document.activeElement.id") == "f-contact_email"
    assert page.get_by_label("Your e-mail address").input_value() == "nope"
    assert page.get_by_label("Your e-mail address").get_attribute("aria-invalid") == "true"
    check_page(page, "public-report-errors", status=422)
    assert notices(live_server) == []


def tab_to(page, selector: str, limit: int = 40) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
            assert outline != "none", f"{selector} has no visible focus"
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_x6_the_report_form_works_with_the_keyboard_alone(live_server, page) -> None:
    """X-6: Tab, Space and Enter take a person from the content link to the confirmation; the
    first Tab reaches the skip link, and every stop shows where focus is."""
    page.goto(f"{live_server.url}/report?content=post-77")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    tab_to(page, "input[name=about]")
    page.keyboard.press("Space")
    assert page.evaluate("() => document.querySelector('input[name=about]:checked').value") == "csam"
    tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"step=2"))
    tab_to(page, "#f-explanation")
    page.keyboard.type("Found on a public thread today.")
    tab_to(page, "input[name=reporter]")
    page.keyboard.press("ArrowDown")  # radios in a group move with the arrow keys
    page.keyboard.press("ArrowDown")
    assert page.evaluate("() => document.querySelector('input[name=reporter]:checked').value") == "user"
    tab_to(page, "#f-good_faith")
    page.keyboard.press("Space")
    tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")
    page.locator("#tracking-code").wait_for()
    [notice] = notices(live_server)
    assert (
        notice.reporter_kind == "user" and notice.good_faith and notice.explanation == "Found on a public thread today."
    )
    assert page.problems == []


def test_tid1_takedown_incomplete_says_what_is_missing_then_is_completed_by_code(live_server, page) -> None:
    """TID-1, TID-4: the plain-language notice, an incomplete request kept with exactly what is
    missing, completed later with the tracking code; then its 48-hour clock runs."""
    page.goto(f"{live_server.url}/takedown?content=post-5")
    notice_text = page.locator(".plain-notice").inner_text()
    assert "48 hours" in notice_text and "If something is missing" in notice_text
    check_page(page, "public-takedown")
    page.get_by_label("I am the person shown").check()
    page.get_by_label("Your signature").fill("Jo Doe")
    page.get_by_role("button", name="Send request").click()

    assert page.get_by_role("heading", level=1).inner_text() == "We kept your request, but it is not complete yet"
    code = page.locator("#tracking-code").inner_text()
    missing = page.locator(".missing-list li").all_inner_texts()
    assert [m.split(" ")[0] for m in missing] == ["A", "The", "Contact"]
    assert [li.get_attribute("data-element") for li in page.locator(".missing-list li").all()] == [
        "good_faith_statement",
        "explanation",
        "contact",
    ]
    check_page(page, "public-takedown-incomplete")

    # Later, from the completion page, with the code alone.
    page.goto(f"{live_server.url}/takedown/complete")
    check_page(page, "public-takedown-code")
    page.get_by_label("Tracking code").fill(code.replace("-", " ").lower())
    page.get_by_role("button", name="Continue").click()
    check_page(page, "public-takedown-complete")
    page.get_by_label("I believe in good faith").check()
    page.get_by_label("The facts").fill("It was sent privately to one person and posted without asking me.")
    page.get_by_label("Your e-mail address").fill("jo@example.org")
    page.get_by_role("button", name="Complete the request").click()
    assert page.get_by_role("heading", level=1).inner_text() == "We received your request"
    check_page(page, "public-takedown-received")

    [notice] = notices(live_server)
    assert notice.state == "received" and notice.kind == "take_it_down" and notice.signature == "Jo Doe"
    assert notice.contact_email == "jo@example.org" and notice.good_faith
    with live_server.database.unit_of_work(write=False) as db:
        track = db.execute(sa.select(LegalTrack).where(LegalTrack.kind == "take_it_down")).scalar_one()
        assert (track.due_at - track.received_at).total_seconds() == 48 * 3600


def test_the_report_and_takedown_work_with_javascript_disabled(live_server, browser) -> None:
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/report")
        page.get_by_label("Harassment or bullying").check()
        page.get_by_role("button", name="Continue").click()
        page.get_by_label("Where is it?").fill("https://forum.example/t/9")
        page.get_by_label("What is wrong with it?").fill("Insults about my family, posted every day.")
        page.locator("#f-minor-no").check()
        page.get_by_label("It is about me").check()
        page.get_by_label("I believe in good faith").check()
        page.get_by_role("button", name="Send report").click()
        code = page.locator("#tracking-code").inner_text()
        page.goto(f"{live_server.url}/status")
        page.get_by_label("Tracking code").fill(code)
        page.get_by_role("button", name="Check status").click()
        assert code in page.locator("main").inner_text()
        [notice] = notices(live_server)
        assert notice.items[0].url == "https://forum.example/t/9" and notice.policy_id == "harassment"
    finally:
        context.close()


@pytest.mark.parametrize(
    "path,name",
    [
        ("/report", "public-report-start"),
        ("/report?about=ncii&step=2", "public-report-step2-url"),
        ("/status", "public-status-form"),
        ("/status/ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ", "public-status-unknown"),
        ("/detection", "public-detection"),
    ],
)
def test_each_public_page_is_accessible_and_fits_a_phone(live_server, page, path: str, name: str) -> None:
    response = page.goto(live_server.url + path)
    assert response is not None
    assert response.status == (404 if "ZZZZZ" in path else 200)
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    if response.status == 404:
        assert "no notice with that tracking code" in page.locator("main").inner_text()
    check_page(page, name, status=response.status)


def _decided_case_with_statement(live_server) -> tuple[str, str]:
    """A report on post-8 that a moderator upheld with a removal: (tracking code, statement code)."""
    mod = Actor.staff(5, "mod", permissions_for_roles(["moderator"]))
    catalogue = live_server.app.state.catalogue
    with live_server.database.unit_of_work() as db:
        receipt = submit_notice(
            db,
            actor=Actor.public(),
            catalogue=catalogue,
            notice=NoticeIn(
                kind="public_report",
                reporter_kind="affected_person",
                policy_id="harassment",
                items=[{"content_id": "post-8", "account_id": "acct-8"}],
                explanation="Daily insults.",
                good_faith=True,
            ),
        )
        case = db.get(Case, receipt.cases[0].id)
        claim_case(db, actor=mod, case=case)
        decide_case(
            db,
            actor=mod,
            case=case,
            policy_ref="harassment@2",
            outcome="violates",
            facts="Repeated insults aimed at one person.",
            actions=["remove"],
            catalogue=catalogue,
        )
        tracking = receipt.notice.tracking_code
    with live_server.database.unit_of_work(write=False) as db:
        statement = db.execute(sa.select(StatementOfReasons.code).order_by(StatementOfReasons.id)).scalars().first()
    return tracking, statement


def test_dsa4_from_the_statement_of_reasons_to_an_appeal_and_the_transparency_page(live_server, page) -> None:
    """DSA-2, DSA-4, DSA-8: the statement page, the appeal form reached from it, the appeal's
    status page and the public figures, each accessible and fitting a phone."""
    tracking, statement = _decided_case_with_statement(live_server)
    page.goto(f"{live_server.url}/statements/{statement}")
    assert "Statement of reasons" in page.get_by_role("heading", level=1).inner_text()
    check_page(page, "public-statement")
    page.get_by_role("link", name="Ask for a review").click()
    assert page.get_by_label("My content was removed, hidden or restricted").is_checked()
    check_page(page, "public-appeal-form")
    page.get_by_label("Why is the decision wrong?").fill("It was a quote from a film.")
    page.get_by_role("button", name="Send appeal").click()
    code = page.locator("#tracking-code").inner_text()
    check_page(page, "public-appeal-received")
    page.get_by_role("link", name="Follow your appeal").click()
    assert page.locator("#state").inner_text() == "Received: waiting for a reviewer"
    assert code in page.locator("main").inner_text()
    check_page(page, "public-appeal-status")

    page.goto(f"{live_server.url}/status/{tracking}")
    assert page.locator("#state").inner_text() == "Decided"
    check_page(page, "public-status-decided")
    page.goto(f"{live_server.url}/appeal")
    check_page(page, "public-appeal-start")
    page.goto(f"{live_server.url}/transparency")
    assert page.locator("#notices-total").inner_text() == "< 5"
    check_page(page, "public-transparency")


def test_a_form_posted_from_another_site_is_refused_in_the_browser(live_server, page) -> None:
    """CSRF end to end: the browser holds the CSRF cookie from a visit; a page elsewhere posts a
    complete report to /report. The cookie is SameSite=Strict and the token unknown: 403, nothing filed."""
    page.goto(f"{live_server.url}/report")
    assert any(c["name"] == "sd_csrf" for c in page.context.cookies())
    page.set_content(f"""<form method="post" action="{live_server.url}/report">
        <input name="csrf_token" value="{"0" * 64}"><input name="about" value="csam">
        <input name="content_id" value="post-1"><input name="reporter" value="anonymous">
        <button>go</button></form>""")
    with page.expect_navigation():
        page.click("button")
    assert "did not come from this site" in page.locator("main").inner_text()
    assert page.get_by_role("heading", level=1).inner_text() == "Not allowed"
    assert notices(live_server) == []


def test_dsa2_eui3_the_interim_statement_the_mothers_status_and_the_figures_tell_only_what_happened(
    live_server, page
) -> None:
    """DSA-2, X-4, EUI-3, DSA-8: the statement of an interim restriction says it is a restriction
    pending review; the mother's status page, once decided, names the rule by its title and no
    handle or id; the figures say what "withheld" means; each page links to how uploads are checked."""

    catalogue = live_server.app.state.catalogue
    cs1 = Actor.staff(7, "cs1", permissions_for_roles(["child_safety"]))
    cs2 = Actor.staff(8, "cs2", permissions_for_roles(["child_safety"]))
    with live_server.database.unit_of_work() as db:
        ensure_content(
            db,
            actor=Actor.public(),
            ref=ContentRef(id="vid-1", kind="image", account=AccountRef(id="acct-a", handle="nightowl")),
        )
        receipt = submit_notice(
            db,
            actor=Actor.public(),
            catalogue=catalogue,
            notice=NoticeIn(
                kind="public_report",
                reporter_kind="parent_or_representative",
                policy_id="csam",
                minor_involved=True,
                items=[{"content_id": "vid-1"}],
                explanation="This shows my son.",
            ),
        )
        tracking, case_id = receipt.notice.tracking_code, receipt.cases[0].id
        interim = db.execute(
            sa.select(StatementOfReasons.code)
            .join(EnforcementAction, EnforcementAction.id == StatementOfReasons.action_id)
            .where(EnforcementAction.interim.is_(True))
        ).scalar_one()
    page.goto(f"{live_server.url}/statements/{interim}")
    assert (
        page.locator("#headline")
        .inner_text()
        .startswith("We have limited content you shared on this platform while it is reviewed")
    )
    assert "Nothing has been removed" in page.locator("main").inner_text()
    assert "Child sexual abuse" not in page.locator("main").inner_text()
    check_page(page, "public-statement-interim")
    with live_server.database.unit_of_work() as db:
        case = db.get(Case, case_id)
        claim_case(db, actor=cs1, case=case)
        decide_case(
            db,
            actor=cs1,
            case=case,
            policy_ref="csam@2",
            outcome="does_not_violate",
            facts="nothing visible",
            catalogue=catalogue,
        )
        second_review(
            db,
            actor=cs2,
            case=case,
            agree=False,
            catalogue=catalogue,
            facts="posted by nightowl (account acct-a) as vid-1: a minor in sexual content",
        )
    page.goto(f"{live_server.url}/status/{tracking}")
    text = page.locator("main").inner_text()
    assert page.locator("#rule").inner_text() == "Child sexual abuse material" and "csam@2" not in text
    for identifier in ("nightowl", "acct-a", "vid-1"):
        assert identifier not in page.content(), identifier
    assert "a minor in sexual content" in text
    check_page(page, "public-status-decided-no-identifiers")
    page.goto(f"{live_server.url}/transparency")
    main = page.locator("main").inner_text()
    assert "withheld" in main
    # Every deadline by a name a person reads, never an internal id (item 5 of issue 15).
    assert not [w for w in ("priority_takedown", "uk_intimate_image", "take_it_down", "csam@") if w in main]
    check_page(page, "public-transparency-truthful")
    page.get_by_role("link", name="how uploads are checked").click()
    assert "PDQ" in page.locator("main").inner_text()
