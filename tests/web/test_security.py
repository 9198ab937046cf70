"""Page security: strict CSP and headers on pages and static files, CSRF tokens that a forged form can't pass."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.testclient import TestClient

from staydown.http import install_error_handlers
from staydown.settings import Settings
from staydown.web.security import CONTENT_SECURITY_POLICY, CSRF_COOKIE, PageSecurityMiddleware, _sign, verify_csrf
from staydown.web.templating import render


@pytest.fixture
def page_app(tmp_path) -> FastAPI:
    app = FastAPI()
    app.state.settings = Settings(env="test", database_url=f"sqlite:///{tmp_path}/x.db", data_dir=tmp_path)
    app.add_middleware(PageSecurityMiddleware)

    @app.get("/form")
    def form(request: Request):
        return render(request, "base.html")

    @app.post("/form")
    def post(request: Request, csrf_token: str = Form("")):
        verify_csrf(request, csrf_token)
        return {"ok": True}

    @app.get("/api")
    def api() -> dict[str, bool]:
        return {"ok": True}

    install_error_handlers(app)
    return app


def test_pages_carry_a_strict_csp_and_json_does_not(page_app: FastAPI) -> None:
    with TestClient(page_app) as c:
        r = c.get("/form")
        assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY and "script-src 'self'" in CONTENT_SECURITY_POLICY
        assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
        assert "content-security-policy" not in c.get("/api").headers


def test_csrf_token_round_trip_and_forgery_refused(page_app: FastAPI) -> None:
    with TestClient(page_app) as c:
        c.get("/form")
        assert CSRF_COOKIE in c.cookies
        token = render_token(c)
        assert c.post("/form", data={"csrf_token": token}).status_code == 200
        # A forged cross-site form has no way to know the token: refused with a reason.
        forged = c.post("/form", data={"csrf_token": "0" * 64})
        assert forged.status_code == 403 and "did not come from this site" in forged.json()["message"]
        c.cookies.clear()
        assert c.post("/form", data={"csrf_token": token}).status_code == 403
    assert re.fullmatch(r"[0-9a-f]{64}", token)


def render_token(c: TestClient) -> str:
    return _sign(b"dev-only-secret-key-do-not-use-in-production", c.cookies[CSRF_COOKIE])


def test_static_files_are_served_with_the_headers(client) -> None:
    r = client.get("/static/staydown.css")
    assert r.status_code == 200 and "text/css" in r.headers["content-type"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/htmx.min.js").status_code == 200


def test_a_malformed_page_address_answers_with_a_page_and_the_api_keeps_json(client) -> None:
    """An integer path parameter given text on a console path is a 422 page naming the field; the
    same mistake on the JSON API stays a JSON body."""
    router = APIRouter()

    @router.get("/console/probe/{number}")
    def probe(number: int) -> dict[str, int]:
        return {"number": number}

    client.app.include_router(router)
    page = client.get("/console/probe/abc")
    assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
    assert "number" in page.text and "content-security-policy" in page.headers
    api = client.get("/v1/cases/abc", headers={"Authorization": "Bearer nope"})
    assert api.headers["content-type"].startswith("application/json")
