"""The public pages in every shipped language, in Debian's chromium: a French parent files a report
and follows it in French; axe-core finds no violation on any public page in any language at
1,280 and 375 px, the on-device fingerprint pages included (empty, with pictures chosen, the
withdrawal page); screenshots of the French and German pages at both widths."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from staydown import i18n
from staydown.i18n import SHIPPED
from staydown.intake.hash_submissions import MIN_QUALITY
from tests.imagegen import encode, synthetic
from tests.web.conftest import DESKTOP, PHONE, screenshot
from tests.web.test_public_pages import AXE, AXE_URL_PATH
from tests.web.test_public_redress import decided_report

SCREENSHOT_LANGUAGES = ("fr", "de")


def _axe(page: Any) -> list[dict[str, Any]]:
    """Every axe-core violation on the page (any impact), under the page's own CSP."""
    if not getattr(page, "_axe_routed", False):
        page.context.route(
            "**" + AXE_URL_PATH,
            lambda route: route.fulfill(path=str(AXE), content_type="application/javascript; charset=utf-8"),
        )
        page._axe_routed = True
    origin = re.match(r"^https?://[^/]+", page.url).group(0)  # type: ignore[union-attr]
    page.add_script_tag(url=origin + AXE_URL_PATH)
    return page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
    }""")


def _check(page: Any, lang: str, name: str, found: list[str]) -> None:
    """axe at both widths, no sideways scroll on a phone, `<html lang>`; screenshots for fr and de."""
    assert page.evaluate("document.documentElement.lang") == lang, (page.url, lang)
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        for v in _axe(page):
            found.append(f"{lang} {name} {size['width']}px: {v['id']} ({v['impact']}) {v['help']} at {v['nodes']}")
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if width[0] > width[1]:
            found.append(f"{lang} {name} {size['width']}px scrolls sideways: {width}")
    page.set_viewport_size(DESKTOP)
    if lang in SCREENSHOT_LANGUAGES:
        screenshot(page, f"public-{lang}-{name}")


@pytest.fixture
def records(live_server) -> dict[str, str]:
    """A decided report with its statement of reasons, and an appeal against the statement: the
    pages that show them."""

    class _Client:  # what decided_report reads of a test client
        app = live_server.app

    notice, statement = decided_report(_Client(), live_server.database)
    assert statement is not None
    appeal = httpx.post(
        f"{live_server.url}/public/appeals",
        json={
            "statement_code": statement,
            "basis": "content_restriction",
            "explanation": "The replies quoted a film; nobody was threatened.",
        },
    )
    assert appeal.status_code == 201, appeal.text
    return {"notice": notice, "statement": statement, "appeal": appeal.json()["code"]}


def test_x1_a_french_parent_files_a_report_and_reads_its_status_in_french(live_server, browser) -> None:
    """X-1, X-6 in French: the browser says French; every page of the flow is French, with French
    dates, and the status page reads in French too."""
    context = browser.new_context(
        viewport=DESKTOP, locale="fr-FR", extra_http_headers={"Accept-Language": "fr-FR,fr;q=0.9"}
    )
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/report?content=post-42")
        assert page.evaluate("document.documentElement.lang") == "fr"
        assert page.get_by_role("heading", level=1).inner_text() == "Signaler un contenu"
        assert page.locator(".steps").inner_text() == "Étape 1 sur 3"
        page.get_by_label("Images ou vidéos sexuelles d’un enfant").check()
        page.get_by_role("button", name="Continuer").click()

        assert page.locator(".steps").inner_text() == "Étape 2 sur 3"
        page.get_by_label("Je suis parent, tuteur ou représentant").check()
        page.get_by_label("Y a-t-il quelque chose que nous devrions savoir ?").fill(
            "Mon fils a 14 ans. C’est lui, photographié à son insu."
        )
        page.get_by_role("button", name="Envoyer le signalement").click()

        assert page.locator(".steps").inner_text() == "Étape 3 sur 3"
        main = page.locator("main").inner_text()
        assert "Nous avons reçu votre signalement" in main and "Nous agirons au plus tard le" in main
        assert re.search(
            r"\d{1,2} (janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre) "
            r"\d{4}, \d\d:\d\d UTC",
            main,
        ), main
        code = page.locator("#tracking-code").inner_text()
        screenshot(page, "public-fr-parent-report-done")

        page.get_by_role("button", name="Voir l’état de ce signalement").click()
        assert page.url == f"{live_server.url}/status"
        assert page.get_by_role("heading", level=1).inner_text() == "État de votre signalement"
        assert page.locator("#state").inner_text() == "Reçu : en attente d’une décision"
        status = page.locator("main").inner_text()
        assert code in status and "Délais" in status and "Pas encore fait" in status
        assert "Received" not in status and "Deadline" not in status
        screenshot(page, "public-fr-parent-status")
        # The same report reached by its link later, from the French e-mail, is French too.
        page.goto(f"{live_server.url}/status/{code}")
        assert page.locator("#state").inner_text() == "Reçu : en attente d’une décision"
    finally:
        context.close()


def test_axe_finds_no_violation_on_any_public_page_in_any_language(live_server, browser, records) -> None:
    """Every public page (forms, their answers and errors, status, statement, appeal, transparency,
    detection, an error page) in every shipped language, at 1,280 and 375 px: no axe-core
    violation of any impact, no sideways scroll. One browser; a context per language."""
    if not AXE.exists():
        pytest.skip("axe-core is not installed: run `npm ci` at the repository root (make install does)")
    pages = {
        "report": "/report",
        "report-step2": "/report?about=harassment&step=2",
        "report-child": "/report?content=post-3&about=csam&step=2",
        "takedown": "/takedown",
        "takedown-code": "/takedown/complete",
        "status-form": "/status",
        "status": f"/status/{records['notice']}",
        "statement": f"/statements/{records['statement']}",
        "appeal-code": "/appeal",
        "appeal-form": f"/appeal?statement={records['statement']}",
        "appeal-status": f"/appeal/{records['appeal']}",
        "transparency": "/transparency",
        "detection": "/detection",
        "not-found": "/status/ABCDE-12345-FGHJK-67890",
    }
    found: list[str] = []
    for lang in SHIPPED:
        context = browser.new_context(viewport=DESKTOP, extra_http_headers={"Accept-Language": lang})
        page = context.new_page()
        try:
            for name, path in pages.items():
                page.goto(live_server.url + path)
                _check(page, lang, name, found)
            # The answers to forms: a report sent with errors, then sent; an incomplete request.
            page.goto(f"{live_server.url}/report?about=harassment&step=2&content=post-5")
            page.locator("button[type=submit]").click()
            _check(page, lang, "report-errors", found)
            page.locator("#f-explanation").fill("Threatening replies under every post I make.")
            page.locator("#f-minor-no").check()
            page.locator("#f-reporter-anonymous").check()
            page.locator("#f-good_faith").check()
            page.locator("button[type=submit]").click()
            assert page.locator("#tracking-code").count() == 1, page.url
            _check(page, lang, "report-done", found)
            page.goto(f"{live_server.url}/takedown")
            page.locator("#f-reporter").check()
            page.locator("#f-locations").fill("img-1")
            page.locator("#f-contact_email").fill("person@example.org")
            page.locator("button[type=submit]").click()
            assert page.locator(".missing-list li").count() >= 1
            _check(page, lang, "takedown-incomplete", found)
        finally:
            context.close()
    assert found == [], "\n".join(found)


def test_tid1_axe_finds_no_violation_on_the_on_device_pages_in_any_language(
    live_server, browser, tmp_path: Path
) -> None:
    """REQ TID-1, X-1 (issue 20's done-means): the page that fingerprints pictures on the person's
    device, empty and with pictures chosen (two benign ones ready, a flat one refused), and the
    withdrawal page with and without its errors, in every shipped language at 1,280 and 375 px:
    no axe-core violation, no sideways scroll. What the script writes on the page is the page's
    language too: its sentences come from the catalogue, numbers filled in."""
    if not AXE.exists():
        pytest.skip("axe-core is not installed: run `npm ci` at the repository root (make install does)")

    files = []
    for i, (fmt, ext) in enumerate((("JPEG", "jpg"), ("PNG", "png"))):
        files.append(tmp_path / f"holiday-{i}.{ext}")
        files[-1].write_bytes(encode(synthetic(7100 + i, (640, 480)), fmt))
    files.append(tmp_path / "blank.png")
    files[-1].write_bytes(encode(Image.new("RGB", (300, 200), (240, 240, 240)), "PNG"))
    found: list[str] = []
    for lang in SHIPPED:
        context = browser.new_context(viewport=DESKTOP, extra_http_headers={"Accept-Language": lang})
        page = context.new_page()
        try:
            page.goto(f"{live_server.url}/takedown/pictures")
            _check(page, lang, "ondevice", found)
            page.set_input_files("#pick-files", [str(f) for f in files])
            page.wait_for_function(
                "() => document.querySelectorAll('#picture-list li.picture-ready').length === 2"
                " && document.querySelectorAll('#picture-list li.picture-refused').length === 1",
                timeout=60_000,
            )
            words = i18n.translations(lang)
            assert page.inner_text("#hash-status").strip() == words.gettext(
                "{ready} of {total} pictures are ready. Nothing has been sent yet."
            ).format(ready=2, total=3)
            refused = page.inner_text("#picture-list li.picture-refused")
            assert (
                words.gettext(
                    "This picture is too plain to fingerprint reliably (quality {quality} of 100, at "
                    "least {min} is needed): a nearly empty or one-colour picture would match many "
                    "other pictures. It will not be sent."
                ).format(quality=0, min=MIN_QUALITY)
                in refused
            )
            _check(page, lang, "ondevice-chosen", found)
            page.goto(f"{live_server.url}/takedown/pictures/withdraw")
            _check(page, lang, "ondevice-withdraw", found)
            page.locator("button[type=submit]").click()
            assert page.locator(".field-error").count() == 1
            _check(page, lang, "ondevice-withdraw-errors", found)
        finally:
            context.close()
    assert found == [], "\n".join(found)
