"""Helpers for the console tests: sign in through the real form, read the CSRF token off a page."""

from __future__ import annotations

import re

import httpx
import sqlalchemy as sa
from fastapi.testclient import TestClient

from staydown.cases.models import Case
from staydown.db import Database
from tests.helpers import PASSWORD
from tests.web.conftest import DESKTOP

TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')

HARASSMENT = {
    "kind": "public_report",
    "reporter_kind": "user",
    "policy_id": "harassment",
    "explanation": "threatening messages",
    "items": [{"content_id": "post-5", "account_id": "u-5"}],
}
MINOR_REPORT = {
    "kind": "public_report",
    "reporter_kind": "parent_or_representative",
    "policy_id": "csam",
    "minor_involved": True,
    "explanation": "This video shows my son, he is 16. He was coerced.",
    "contact_name": "Pat Parent",
    "contact_email": "pat@example.org",
    "items": [{"content_id": "vid-1", "url": "https://social.example/v/1"}],
}


def token(html: str) -> str:
    found = TOKEN_RE.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def browser(app) -> TestClient:
    """A client with its own cookie jar (one person's browser); redirects are not followed."""
    return TestClient(app, follow_redirects=False)


def login(app, username: str, password: str = PASSWORD) -> TestClient:
    c = browser(app)
    page = c.get("/console/login")
    r = c.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": token(page.text), "next": "/console/queue"},
    )
    assert r.status_code == 303, r.text
    return c


def post_form(c: TestClient, page_url: str, url: str, data: dict) -> httpx.Response:
    """Post a form the way a browser does: with the token from the page it sits on."""
    page = c.get(page_url)
    assert page.status_code == 200, page.text
    return c.post(url, data={"csrf_token": token(page.text), **data})


def last_case(database: Database) -> Case:
    with database.unit_of_work(write=False) as db:
        case = db.execute(sa.select(Case).order_by(Case.id.desc()).limit(1)).scalar_one()
        db.expunge(case)
        return case


# -- chromium ------------------------------------------------------------------------------------


def watch(pg) -> None:
    pg.problems = []
    pg.on("console", lambda m: pg.problems.append((m.text, m.location.get("url", ""))) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.problems.append((str(e), "")))


def new_page(browser):
    """One person's browser: its own cookies; console errors and CSP violations are collected."""
    context = browser.new_context(viewport=DESKTOP)
    pg = context.new_page()
    watch(pg)
    return context, pg


def problems(pg) -> list[str]:
    """What went wrong on the page since the last call: script errors, CSP violations and failed
    loads. Chromium's own request for /favicon.ico (no page links one) is not the page's doing."""
    found = []
    for text, where in pg.problems:
        if "favicon.ico" in where:
            continue
        status = re.search(r"status of (\d+)", text)
        found.append(f"{status.group(1)} {re.sub(r'^https?://[^/]+', '', where)}" if status else text)
    pg.problems.clear()
    return found
