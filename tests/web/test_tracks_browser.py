"""The legal tracks as people see them, in chromium at desktop and phone width: the requester's
status page after a refusal (no "not yet" above the outcome), and the console case page with its
tracks in plain words, an order's own track and the threat-to-life form."""

from __future__ import annotations

import httpx

from tests.helpers import PASSWORD, make_key, make_staff
from tests.web.conftest import screenshot
from tests.web.console_helpers import session_token
from tests.web.test_public_pages import check_page


def _staff_headers(base: str, username: str) -> dict[str, str]:
    r = httpx.post(f"{base}/v1/auth/sign-in", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_TID1_refused_request_status_page_reads_true_at_desktop_and_phone(live_server, page) -> None:
    """REQ TID-1, DSA-1: the requester reads that the request was refused after review, with the
    reasons, and which clocks ended how; nothing says "not done yet" about a closed clock."""
    base = live_server.url
    make_staff(live_server.database, "senior", "senior_moderator")
    make_staff(live_server.database, "cs2", "child_safety")
    r = httpx.post(
        f"{base}/public/takedown-requests",
        json={
            "reporter_kind": "affected_person",
            "items": [{"content_id": "img-2"}],
            "good_faith": True,
            "signature": "/s/ B. Person",
            "contact_email": "b@example.org",
            "explanation": "A picture of me at the beach that I want removed.",
        },
    )
    code = r.json()["tracking_code"]
    senior = _staff_headers(base, "senior")
    queue = httpx.get(f"{base}/v1/queue", headers=senior).json()
    case_id = queue[0]["id"]
    assert httpx.post(f"{base}/v1/cases/{case_id}/claim", headers=senior).status_code == 200
    httpx.post(
        f"{base}/v1/cases/{case_id}/decision",
        headers=senior,
        json={
            "policy": "ncii@2",
            "outcome": "does_not_violate",
            "facts": "a clothed beach photo: not an intimate image",
        },
    )
    r = httpx.post(
        f"{base}/v1/cases/{case_id}/second-review",
        headers=_staff_headers(base, "cs2"),
        json={"agree": True, "facts": "agreed: swimwear in a public place"},
    )
    assert r.status_code == 200, r.text
    page.goto(f"{base}/status/{code}")
    table = page.locator("#deadlines").inner_text()
    assert "Not removed: refused after review" in table and "Decided" in table
    assert "Not done yet" not in page.content()
    assert "swimwear" in page.locator("#outcome").locator("xpath=..").inner_text()
    check_page(page, "tracks-status-refused")


def test_console_case_page_shows_tracks_an_order_and_the_threat_form(live_server, browser) -> None:
    """The console shows each track in plain words with its state, an order's own clock with the
    deadline it states, and the DSA Art. 18 form, at desktop and phone width."""
    base = live_server.url
    key = make_key(live_server.database, ["notices:submit", "scan", "actions:read"])
    platform = {"Authorization": f"Bearer {key}"}
    r = httpx.post(
        f"{base}/public/notices",
        json={
            "reporter_kind": "parent_or_representative",
            "policy_id": "csam",
            "minor_involved": True,
            "explanation": "This shows my son, he is 16.",
            "items": [{"content_id": "vid-1"}],
        },
    )
    assert r.status_code == 201
    r = httpx.post(
        f"{base}/v1/notices",
        headers=platform,
        json={
            "kind": "law_enforcement",
            "reporter_kind": "law_enforcement",
            "policy_id": "csam",
            "minor_involved": True,
            "explanation": "remove and preserve",
            "items": [{"content_id": "vid-1"}],
            "order": {"issued_by": "Homeland Security Investigations", "reference": "HSI-2020-0142", "hours": 6},
        },
    )
    assert r.status_code == 201, r.text
    case_id = r.json()["cases"][0]
    make_staff(live_server.database, "cs1", "child_safety")

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    try:
        token = session_token(live_server.database, "cs1")
        context.add_cookies(
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
        response = pg.goto(f"{base}/console/cases/{case_id}")
        assert response is not None and response.status == 200
        tracks = pg.locator("#tracks-h").locator("xpath=..").inner_text()
        for words in (
            "Swift removal of priority illegal content",
            "Report to NCMEC's CyberTipline",
            "The deadline an order or request set",
            "the order's stated deadline",
            "clock not started",
        ):
            assert words in tracks, words
        assert "Order HSI-2020-0142 from Homeland Security Investigations" in pg.content()
        pg.locator("summary", has_text="Mark a threat to life or safety").click()
        assert pg.locator("#threat-facts").is_visible()
        screenshot(pg, "console-case-tracks")
        width = pg.evaluate("() => { return [document.documentElement.scrollWidth, window.innerWidth]; }")
        assert width[0] <= width[1] + 1
    finally:
        context.close()
