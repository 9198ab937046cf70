"""/docs in chromium: it renders the API from the package's own files, under the page CSP, asking
nothing of any other origin."""

from __future__ import annotations

from urllib.parse import urlsplit


def _watch_requests(page, origin: str) -> list[str]:
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda r: (
            elsewhere.append(r.url)
            if urlsplit(r.url).scheme in ("http", "https") and not r.url.startswith(origin)
            else None
        ),
    )
    return elsewhere


def test_swagger_ui_renders_every_operation_offline_under_the_csp(live_server, page) -> None:
    elsewhere = _watch_requests(page, live_server.url)
    page.goto(f"{live_server.url}/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    shown = page.locator(".opblock").count()
    spec = page.request.get(f"{live_server.url}/openapi.json").json()
    assert shown == sum(len(ops) for ops in spec["paths"].values())
    assert not elsewhere, elsewhere
    assert not [p for p in page.problems if "Content Security Policy" in p or "Refused" in p], page.problems
