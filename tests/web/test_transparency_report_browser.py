"""The transparency HTML report in chromium: no label clipped by its chart, no horizontal overflow
on a 375 px phone (it was 810 px wide), screenshots at both widths."""

from __future__ import annotations

from pathlib import Path

from staydown.db import Database
from staydown.transparency.export import to_html
from tests.transparency.test_report import Week, _report, week  # noqa: F401 - the fixture
from tests.web.conftest import ARTIFACTS, DESKTOP, PHONE


def test_dsa8_the_html_report_fits_a_phone_with_no_label_clipped(
    database: Database,
    week: Week,  # noqa: F811
    browser,
    tmp_path: Path,
) -> None:
    target = tmp_path / "report.html"
    target.write_text(to_html(_report(database)), encoding="utf-8")
    page = browser.new_page(viewport=PHONE)
    try:
        page.goto(target.as_uri())
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the report is {width} px wide on a {PHONE['width']} px phone"
        clipped = page.evaluate("""[...document.querySelectorAll('.report-chart th[scope=row]')]
            .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)""")
        assert clipped == []
        assert page.locator(".report-chart").count() >= 5
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "transparency-report-phone.png"), full_page=True)
        page.set_viewport_size(DESKTOP)
        page.screenshot(path=str(ARTIFACTS / "transparency-report-desktop.png"), full_page=True)
    finally:
        page.close()
