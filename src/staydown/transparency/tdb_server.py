"""A local EU Transparency Database API for tests and demos: the schema v2 rules, the Bearer
token, statements kept in memory, duplicate puids answered with 422, and failures injected on
demand.

`create_app(token=...)` returns a FastAPI app answering, as the Database documents them:
- `POST /api/v1/statement`: one statement; 201 with it, its `uuid` and `permalink`; 422 with
  `errors` per field; 422 with `existing.puid` for a puid the platform already used;
- `POST /api/v1/statements`: `{"statements": [...]}`, 1 to 100, all or nothing: 422 with errors
  under `statement_<index>`, or 422 with `errors.existing_puids` (nothing stored), else 201 with
  every stored statement;
- `GET /api/v1/statement/existing-puid/{puid}`: 302 found, 404 not found;
- 401 without the right `Authorization: Bearer <token>`.

It is stricter than the Database in one way: a field the schema does not have is refused (the
Database drops it silently, which would hide a misspelt field). Its state is `app.state.tdb`
(a `TdbServerState`): `statements` by puid, `requests` (path and number of statements of each
authenticated call, failed ones included), and `fail_next(n, status=503)` to answer the next n
calls with that status.

Run it for a demo, on 127.0.0.1 only: `python -m staydown.transparency.tdb_server --port 8124`
(or `staydown transparency tdb-server`).
"""

from __future__ import annotations

import argparse
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from staydown.settings import DEV_TDB_TOKEN
from staydown.transparency.tdb import MAX_BATCH, validate_statement

__all__ = ["TdbServerState", "create_app", "main"]

MAX_BODY_BYTES = 10 * 1024 * 1024
DUPLICATE_SINGLE = "The identifier given is not unique within this platform."
DUPLICATE_MULTIPLE = "The platform identifier(s) are not all unique within this call."


@dataclass
class TdbServerState:
    token: str
    statements: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, int]] = field(default_factory=list)
    _faults: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, count: int = 1, *, status: int = 503) -> None:
        with self._lock:
            self._faults.extend([status] * count)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self) -> int | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def store(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Store all or none; raises KeyError with the puids already there."""
        with self._lock:
            existing = [b["puid"] for b in bodies if b["puid"] in self.statements]
            if existing:
                raise KeyError(existing)
            out = []
            for body in bodies:
                ident = str(uuid.uuid4())
                stored = {
                    **body,
                    "uuid": ident,
                    "created_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                    "permalink": f"/statement/{ident}",
                    "self": f"/api/v1/statement/{ident}",
                }
                self.statements[body["puid"]] = stored
                out.append(stored)
            return out


def _error(status: int, message: str, errors: dict[str, Any] | None = None, **extra: Any) -> JSONResponse:
    content: dict[str, Any] = {"message": message}
    if errors is not None:
        content["errors"] = errors
    content.update(extra)
    return JSONResponse(content, status_code=status)


def create_app(*, token: str = DEV_TDB_TOKEN, strict: bool = True) -> FastAPI:
    app = FastAPI(title="local EU Transparency Database", docs_url=None, redoc_url=None, openapi_url=None)
    state = TdbServerState(token=token)
    app.state.tdb = state

    async def guard(request: Request) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or given.strip() != state.token:
            return _error(401, "Unauthenticated.")
        return None

    def fault() -> JSONResponse | None:
        status = state.take_fault()
        return _error(status, "Injected failure.") if status is not None else None

    async def read_json(request: Request) -> tuple[Any, JSONResponse | None]:
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return None, _error(413, "Payload too large.")
        try:
            return json.loads(raw or b"null"), None
        except ValueError:
            return None, _error(400, "The body is not valid JSON.")

    @app.post("/api/v1/statement")
    async def store_one(request: Request) -> JSONResponse:
        refused = await guard(request)
        if refused is not None:
            return refused
        body, bad = await read_json(request)
        state.requests.append(("statement", 1))
        refused = bad or fault()
        if refused is not None:
            return refused
        errors = validate_statement(body, strict=strict)
        if errors:
            first = next(iter(errors.values()))[0]
            more = sum(len(v) for v in errors.values()) - 1
            return _error(422, first + (f" (and {more} more errors)" if more else ""), errors)
        try:
            stored = state.store([body])[0]
        except KeyError:
            return _error(422, DUPLICATE_SINGLE, {"puid": [DUPLICATE_SINGLE]}, existing={"puid": body["puid"]})
        return JSONResponse(stored, status_code=201)

    @app.post("/api/v1/statements")
    async def store_many(request: Request) -> JSONResponse:
        refused = await guard(request)
        if refused is not None:
            return refused
        payload, bad = await read_json(request)
        statements = payload.get("statements") if isinstance(payload, dict) else None
        state.requests.append(("statements", len(statements) if isinstance(statements, list) else 0))
        refused = bad or fault()
        if refused is not None:
            return refused
        if not isinstance(statements, list) or not 1 <= len(statements) <= MAX_BATCH:
            message = f"The statements field must be an array of between 1 and {MAX_BATCH} items."
            return _error(422, message, {"statements": [message]})
        errors = {
            f"statement_{i}": e for i, body in enumerate(statements) if (e := validate_statement(body, strict=strict))
        }
        if errors:
            return JSONResponse({"errors": errors}, status_code=422)
        puids = [b["puid"] for b in statements]
        repeated = sorted({p for p in puids if puids.count(p) > 1})
        if repeated:
            return _error(422, DUPLICATE_MULTIPLE, {"puid": [DUPLICATE_MULTIPLE], "existing_puids": repeated})
        try:
            stored = state.store(statements)
        except KeyError as exc:
            return _error(422, DUPLICATE_MULTIPLE, {"puid": [DUPLICATE_MULTIPLE], "existing_puids": exc.args[0]})
        return JSONResponse({"statements": stored}, status_code=201)

    @app.get("/api/v1/statement/existing-puid/{puid}")
    async def existing_puid(puid: str, request: Request) -> JSONResponse:
        refused = await guard(request) or fault()
        if refused is not None:
            return refused
        if puid in state.statements:
            return JSONResponse({"message": "statement of reason found", "puid": puid}, status_code=302)
        return JSONResponse({"message": "statement of reason not found", "puid": puid}, status_code=404)

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m staydown.transparency.tdb_server",
        description="A local EU Transparency Database API (127.0.0.1 only).",
    )
    parser.add_argument("--port", type=int, default=8124)
    parser.add_argument("--token", default=DEV_TDB_TOKEN, help="the Bearer token it accepts")
    args = parser.parse_args(argv)
    uvicorn.run(create_app(token=args.token), host="127.0.0.1", port=args.port, log_level="info")


if __name__ == "__main__":
    main()
