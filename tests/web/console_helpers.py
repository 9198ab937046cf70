"""Sign staff into the console in tests: a real staff session in the `sd_session` cookie, and CSRF-bearing posts."""

from __future__ import annotations

import re
from typing import Any

from staydown.db import Database
from staydown.staff.sessions import sign_in
from staydown.web.console.session import SESSION_COOKIE
from staydown.web.security import CSRF_COOKIE, _sign
from tests.helpers import PASSWORD, make_staff

CSRF_FIELD_RE = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


def session_token(database: Database, username: str, *roles: str) -> str:
    """Create the staff user (when roles are given) and a session for them; return its token."""
    if roles:
        make_staff(database, username, *roles)
    with database.unit_of_work() as db:
        return sign_in(db, username=username, password=PASSWORD).token


class ConsoleUser:
    """One signed-in person on a shared TestClient: their session cookie is put in place before
    each request, so several people can take turns in one test."""

    def __init__(self, client: Any, token: str) -> None:
        self.client = client
        self.token = token

    def _use(self) -> None:
        self.client.cookies.set(SESSION_COOKIE, self.token)

    def get(self, url: str, **kwargs: Any) -> Any:
        self._use()
        return self.client.get(url, **kwargs)

    def csrf(self) -> str:
        if CSRF_COOKIE not in self.client.cookies:
            self.get("/console/dashboard")  # any page sets this browser's CSRF cookie
        secret = self.client.app.state.settings.secret_key.get_secret_value().encode()
        return _sign(secret, self.client.cookies[CSRF_COOKIE])

    def post(
        self,
        url: str,
        data: dict[str, Any] | None = None,
        *,
        csrf: str | None = None,
        follow: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Post a form with this browser's CSRF token (or `csrf`, to forge one)."""
        token = self.csrf() if csrf is None else csrf
        self._use()
        return self.client.post(url, data={**(data or {}), "csrf_token": token}, follow_redirects=follow, **kwargs)


def console_user(client: Any, database: Database, username: str, *roles: str) -> ConsoleUser:
    return ConsoleUser(client, session_token(database, username, *roles))


def csrf_in(html: str) -> str | None:
    found = CSRF_FIELD_RE.search(html)
    return found.group(1) if found else None
