"""HTTP basics: permissions declared on every route, health and readiness, one error shape,
request ids and body limits."""

from __future__ import annotations

import sqlite3
from typing import Annotated

import pytest
from fastapi import Body, Depends
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from starlette.routing import Route

from staydown.app import create_app
from staydown.db import Database
from staydown.http import declared_permission, iter_routes, require
from staydown.staff.permissions import Permission
from tests.helpers import auth, make_key

# Routes FastAPI adds itself (documentation); they expose no data.
FRAMEWORK_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def test_every_route_declares_a_permission(app) -> None:
    undeclared = []
    api_routes = 0
    for path, route in iter_routes(app.routes):
        if isinstance(route, APIRoute):
            api_routes += 1
            if declared_permission(route) is None:
                undeclared.append(f"{sorted(route.methods or ())} {path}")
        elif isinstance(route, Route) and path not in FRAMEWORK_ROUTES:
            undeclared.append(f"non-API route {path}")
    assert api_routes >= 5  # the walk really reached the included routers
    assert not undeclared, "routes without a declared permission: " + ", ".join(undeclared)


def test_declared_permission_is_found_through_annotated_dependencies(app) -> None:
    perms = {path: declared_permission(route) for path, route in iter_routes(app.routes) if isinstance(route, APIRoute)}
    assert perms["/healthz"] is Permission.PUBLIC
    assert perms["/v1/audit/verify"] is Permission.AUDIT_READ


def test_healthz_and_readyz(client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] and body["checks"]["migrations"]["ok"]


def test_readyz_reports_unapplied_migrations(settings, tmp_path) -> None:
    bare = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path}/empty.db"})
    with TestClient(create_app(bare, run_worker=False)) as c:
        r = c.get("/readyz")
    assert r.status_code == 503
    migrations = r.json()["checks"]["migrations"]
    assert not migrations["ok"] and "staydown db upgrade" in migrations["detail"]["fix"]


def test_missing_bad_and_insufficient_credentials(client, database: Database) -> None:
    r = client.get("/v1/audit/checkpoint")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"] == "unauthenticated" and "API key" in r.json()["message"]
    r = client.get("/v1/audit/checkpoint", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401 and "Bearer" in r.json()["message"]
    platform_key = make_key(database, ["scan"])
    r = client.get("/v1/audit/checkpoint", headers=auth(platform_key))
    assert r.status_code == 403
    assert r.json() == {
        "error": "permission_denied",
        "message": "this needs the 'audit:read' permission, which api_client 'scoped' does not have",
        "details": None,
    }


def test_audit_api_reads_checkpoint_verify_and_events(client, database: Database) -> None:
    key = make_key(database, ["audit:read"])
    cp = client.get("/v1/audit/checkpoint", headers=auth(key)).json()
    assert cp["seq"] == 1  # the key's own creation was audited
    v = client.get("/v1/audit/verify", headers=auth(key), params={"pinned": f"{cp['seq']}:{cp['hash']}"}).json()
    assert v["ok"] and v["events_checked"] == 1
    events = client.get("/v1/audit/events", headers=auth(key)).json()
    assert [e["tag"] for e in events] == ["staff:api_client:create"]
    bad = client.get("/v1/audit/verify", headers=auth(key), params={"pinned": "nonsense"})
    assert bad.status_code == 422 and "SEQ:SHA256HEX" in bad.json()["message"]
    invalid = client.get("/v1/audit/events", headers=auth(key), params={"limit": 5000})
    assert invalid.status_code == 422
    body = invalid.json()
    assert (
        body["error"] == "invalid_input" and "limit" in body["message"] and body["details"][0]["where"] == "query.limit"
    )


def test_unknown_route_uses_the_error_shape(client) -> None:
    r = client.get("/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_request_id_is_returned_and_echoed(client) -> None:
    r = client.get("/healthz")
    assert len(r.headers["x-request-id"]) == 16
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    # A hostile id is replaced, not reflected.
    assert client.get("/healthz", headers={"X-Request-ID": "a b<script>"}).headers["x-request-id"] != "a b<script>"


@pytest.mark.parametrize("chunked", [False, True])
def test_oversized_body_is_refused_with_413(app, chunked: bool) -> None:
    @app.post("/v1/echo")
    def echo(payload: Annotated[dict, Body()], _: object = Depends(require(Permission.PUBLIC))) -> dict:
        return {"n": len(payload)}

    limit = app.state.settings.max_request_bytes
    big = b'{"a": "' + b"x" * (limit + 10) + b'"}'
    with TestClient(app) as c:
        if chunked:
            r = c.post(
                "/v1/echo",
                content=iter([big[i : i + 4096] for i in range(0, len(big), 4096)]),
                headers={"Content-Type": "application/json"},
            )
        else:
            r = c.post("/v1/echo", content=big, headers={"Content-Type": "application/json"})
        assert r.status_code == 413, r.text
        assert r.json()["error"] == "payload_too_large" and str(limit) in r.json()["message"]
        ok = c.post("/v1/echo", json={"a": 1})
        assert ok.status_code == 200 and ok.json() == {"n": 1}


def test_a_locked_database_answers_503_with_retry_after(app) -> None:
    @app.get("/v1/locked")
    def locked(_: object = Depends(require(Permission.PUBLIC))) -> None:
        raise OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked"))

    with TestClient(app) as c:
        r = c.get("/v1/locked")
    assert r.status_code == 503 and r.headers["retry-after"] == "1" and r.json()["error"] == "busy"
