"""Every 429 and 503 says when to come back, and rate limits key on the real client: behind a
trusted proxy the one it forwarded for, otherwise the connecting address whatever headers say
(issue 16 item 5; X-1: the public report form must stay open to every reporter)."""

from __future__ import annotations

import pytest
from fastapi import Depends, Request
from fastapi.testclient import TestClient

from staydown.app import create_app
from staydown.db import Database
from staydown.errors import NotReady
from staydown.http import client_address, rate_limited, require
from staydown.settings import Settings
from staydown.staff.permissions import Permission


def _app(settings: Settings, database: Database, **overrides: object):
    app = create_app(settings.model_copy(update=overrides), database=database, run_worker=False)

    @app.get("/v1/limited", dependencies=[Depends(rate_limited("test-limited", 3))])
    def limited(request: Request, _: object = Depends(require(Permission.PUBLIC))) -> dict[str, str]:
        return {"client": client_address(request)}

    @app.get("/v1/not-ready")
    def not_ready(_: object = Depends(require(Permission.PUBLIC))) -> None:
        raise NotReady("shutting down")

    return app


def _statuses(client: TestClient, forwarded: list[str]) -> list[int]:
    return [client.get("/v1/limited", headers={"X-Forwarded-For": f}).status_code for f in forwarded]


def test_every_429_and_503_carries_retry_after(settings: Settings, database: Database) -> None:
    """Reproduces: public 429s carried no Retry-After."""
    app = _app(settings, database)
    with TestClient(app) as c:
        answers = [c.get("/v1/limited") for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        # Three a minute: the next token comes in about 20 s.
        assert 1 <= int(answers[-1].headers["retry-after"]) <= 20
        r = c.get("/v1/not-ready")
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        # A page's 429 (the public status form's rate limit) says it too.
        app.state.settings.public_rate_per_minute = 1
        pages = [c.get("/status/ABCD-EFGH-JKLM") for _ in range(2)]
        assert pages[-1].status_code == 429 and int(pages[-1].headers["retry-after"]) >= 1
        assert "text/html" in pages[-1].headers["content-type"]
    # /readyz when not ready answers 503 on its own (a JSONResponse): the middleware adds it.
    app.state.readiness_checks = [lambda request: __import__("staydown.health").health.Check("x", False)]
    with TestClient(app) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.headers["retry-after"] == "1"


def test_a_spoofed_forwarded_header_from_an_untrusted_peer_is_ignored(settings: Settings, database: Database) -> None:
    """No trusted proxy configured: a caller sending a new X-Forwarded-For each time still spends
    its own address's tokens."""
    with TestClient(_app(settings, database), client=("203.0.113.7", 40000)) as c:
        assert _statuses(c, ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"]) == [200, 200, 200, 429]
        assert c.get("/v1/limited", headers={"X-Forwarded-For": "5.5.5.5"}).status_code == 429
    # Configured proxies elsewhere do not make this peer trusted either.
    with TestClient(_app(settings, database, trusted_proxies=["10.0.0.0/8"]), client=("203.0.113.7", 40000)) as c:
        assert _statuses(c, ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"]) == [200, 200, 200, 429]


def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(settings: Settings, database: Database) -> None:
    """Reproduces: behind a reverse proxy every reporter shared the proxy's bucket."""
    app = _app(settings, database, trusted_proxies=["10.0.0.0/8"])
    with TestClient(app, client=("10.1.2.3", 40000)) as c:
        # Four reporters, one request each: none is limited by the others.
        assert _statuses(c, ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"]) == [200] * 4
        # One reporter past its own limit is.
        assert _statuses(c, ["198.51.100.9"] * 4) == [200, 200, 200, 429]
        # A reporter who sends its own X-Forwarded-For through the proxy is still keyed on the
        # address the proxy saw (the last untrusted one in the chain), not on the one it made up.
        r = c.get("/v1/limited", headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.20"})
        assert r.json() == {"client": "198.51.100.20"}
        assert _statuses(c, ["7.7.7.7, 198.51.100.9"]) == [429]


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    with pytest.raises(ValueError, match="not an IP address or network"):
        Settings(trusted_proxies=["proxy.internal"])
    assert Settings(trusted_proxies=["10.0.0.0/8", "::1", "192.0.2.1"]).trusted_proxies[0] == "10.0.0.0/8"
