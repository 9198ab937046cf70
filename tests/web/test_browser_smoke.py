"""The browser harness itself: chromium loads a page from the live server under the strict CSP."""

from __future__ import annotations


def test_chromium_loads_static_assets_from_the_live_server(live_server, page) -> None:
    response = page.goto(f"{live_server.url}/static/staydown.css")
    assert response is not None and response.status == 200
    assert "staydown" in page.content()
