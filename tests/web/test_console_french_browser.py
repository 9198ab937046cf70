"""The console in French, in Debian's chromium (issue 17, "the console in en and fr"): a
French-speaking moderator sees the queue and a case page in French, a senior moderator an appeal;
axe-core finds no violation on them at 1,280 and 375 px; screenshots of each at both widths."""

from __future__ import annotations

import re

from tests.helpers import make_staff
from tests.web.conftest import DESKTOP
from tests.web.test_console_worklist_browser import _cookie, _seed, check


def _french(browser, live_server, username: str):
    context = browser.new_context(
        viewport=DESKTOP, locale="fr-FR", extra_http_headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.3"}
    )
    pg = context.new_page()
    pg.problems = []
    pg.on("console", lambda m: pg.problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.problems.append(str(e)))
    _cookie(pg, live_server, username)
    return context, pg


def test_a_french_speaking_moderator_works_the_queue_and_a_case_in_french(live_server, browser) -> None:
    """REQ X-6 in French: the queue (views, filters, rows, countdowns ticked by the script in
    French), a decided case and an open one claimed, and an appeal; every page axe-clean at both
    widths, `<html lang="fr">`, no English heading left on them."""
    ids = _seed(live_server)
    base = live_server.url
    context, page = _french(browser, live_server, "mo")
    try:
        page.goto(f"{base}/console/queue")
        assert page.evaluate("document.documentElement.lang") == "fr"
        assert page.get_by_role("heading", level=1).inner_text() == "File d’examen"
        assert page.get_by_role("button", name="Filtrer").is_visible()
        row = page.locator("tr.queue-row").first.inner_text()
        assert "Dossier" in row and "gravité" in row
        # console.js rewrites the countdowns every second, with the page's French words.
        clocks = page.eval_on_selector_all("time[data-countdown]", "ts => ts.map(t => t.textContent)")
        assert clocks and all(re.fullmatch(r"encore (\d+j )?\d+h \d\dmin( \d\ds)?", c) for c in clocks), clocks
        check(page, "console-fr-queue")

        page.goto(f"{base}/console/cases/{ids['first']}")
        assert page.get_by_role("heading", level=1).inner_text().startswith(f"Dossier {ids['first']} : ")
        assert "Décidé : enfreint" in page.inner_text("#case-status")
        history = page.inner_text("#history-h + ol")
        assert "a décidé qu’il enfreint, selon harassment@2" in history
        for english in ("Legal tracks", "Notices", "History", "Decisions", "Internal comments"):
            assert page.get_by_role("heading", name=english, exact=True).count() == 0, english
        check(page, "console-fr-case-decided")

        spam = ids["spam"][1]
        page.goto(f"{base}/console/cases/{spam}")
        page.get_by_role("button", name="Prendre").click()
        page.wait_for_url(f"{base}/console/cases/{spam}")
        assert "Vous avez ce dossier jusqu’à" in page.inner_text(".claim-bar")
        assert page.get_by_role("button", name="Enregistrer la décision").is_visible()
        check(page, "console-fr-case-open")
    finally:
        context.close()

    context, page = _french(browser, live_server, "senior")
    try:
        page.goto(f"{base}/console/appeals")
        assert page.get_by_role("heading", level=1).inner_text() == "Recours"
        page.click(f"a:has-text('{ids['appeal']}')")
        page.wait_for_url(re.compile(r".*/console/appeals/\d+$"))
        assert page.get_by_role("heading", level=2, name="La décision contestée").is_visible()
        page.get_by_role("button", name="Prendre pour décider").click()
        page.wait_for_url(re.compile(r".*/console/appeals/\d+.*"))
        assert page.get_by_role("button", name="Décider le recours").is_visible()
        check(page, "console-fr-appeal")
    finally:
        context.close()


def test_the_administrative_console_pages_in_french_pass_axe_at_both_widths(live_server, browser) -> None:
    """The console's other pages in French, each as the role that uses it sees it: no axe-core
    violation and no sideways scroll at 1,280 and 375 px (long French words included)."""
    make_staff(live_server.database, "adm", "admin")
    make_staff(live_server.database, "cs1", "child_safety")
    make_staff(live_server.database, "aud", "auditor")
    base = live_server.url
    pages = {
        "adm": [
            "/console/banks",
            "/console/exchanges",
            "/console/staff",
            "/console/api-keys",
            "/console/trusted-flaggers",
            "/console/dashboard",
            "/console/account/totp",
        ],
        "cs1": ["/console/evidence", "/console/ncmec", "/console/nca"],
        "aud": ["/console/audit"],
    }
    for who, paths in pages.items():
        context, page = _french(browser, live_server, who)
        try:
            for path in paths:
                page.goto(base + path)
                assert page.evaluate("document.documentElement.lang") == "fr", path
                check(page, "console-fr-" + path.strip("/").replace("/", "-"))
        finally:
            context.close()
