"""Liveness and readiness: is the process up, can it serve (database, migrations, indexes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from staydown.actors import Actor
from staydown.http import require
from staydown.migrate import current_revision, head_revision
from staydown.staff.permissions import Permission

router = APIRouter(tags=["health"])

Public = Annotated[Actor, Depends(require(Permission.PUBLIC))]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: Any = None


ReadinessCheck = Callable[[Request], Check]


def database_check(request: Request) -> Check:
    database = request.app.state.database
    try:
        with database.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return Check("database", False, f"unreachable: {type(exc).__name__}")
    return Check("database", True, database.dialect)


def migrations_check(request: Request) -> Check:
    database = request.app.state.database
    try:
        current = current_revision(database.engine)
    except Exception as exc:  # noqa: BLE001
        return Check("migrations", False, f"cannot read: {type(exc).__name__}")
    head = head_revision()
    if current != head:
        return Check("migrations", False, {"current": current, "head": head, "fix": "run `staydown db upgrade`"})
    return Check("migrations", True, {"current": current})


def index_check(request: Request) -> Check:
    """How far this node's match indexes are behind the database (rows not yet applied)."""
    engine = getattr(request.app.state, "match_engine", None)
    if engine is None:
        return Check("index", True, "no match engine in this process")
    try:
        lag = engine.lag()
    except Exception as exc:  # noqa: BLE001
        return Check("index", False, f"cannot read: {type(exc).__name__}")
    limit = request.app.state.settings.index_max_lag_rows
    return Check("index", all(v["behind"] <= limit for v in lag.values()), lag)


DEFAULT_CHECKS: tuple[ReadinessCheck, ...] = (database_check, migrations_check)


@router.get("/healthz")
def healthz(_: Public) -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request, _: Public) -> JSONResponse:
    checks = [check(request) for check in request.app.state.readiness_checks]
    ready = all(c.ok for c in checks)
    body = {
        "status": "ready" if ready else "not_ready",
        "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
    }
    return JSONResponse(body, status_code=200 if ready else 503)
