"""What every HTTP handler shares: the unit of work, the caller, the permission a route declares,
the error mapping, request ids and request size limits."""

from __future__ import annotations

import contextvars
import logging
import math
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Mount, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from staydown.actors import Actor
from staydown.db import Database, database_unavailable
from staydown.errors import (
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    StaydownError,
    Unauthenticated,
    http_status_for,
)
from staydown.media.errors import MediaError
from staydown.staff.auth import authenticate_api_key, remembered_api_key
from staydown.staff.permissions import Permission
from staydown.staff.sessions import SESSION_PREFIX, authenticate_session

log = logging.getLogger("staydown.http")

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


# -- the unit of work -------------------------------------------------------------------------


def _database(request: Request) -> Database:
    return request.app.state.database


def _unit_of_work(request: Request) -> Iterator[Session]:
    # Commit before the response leaves: an acknowledged notice must already be durable.
    write = request.method not in ("GET", "HEAD", "OPTIONS")
    with _database(request).unit_of_work(write=write) as db:
        db.info["job_max_attempts"] = request.app.state.settings.job_max_attempts
        yield db


DbSession = Annotated[Session, Depends(_unit_of_work, scope="function")]


# -- who is calling ---------------------------------------------------------------------------


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <API key>'")
    return token.strip()


def _current_actor(request: Request, db: DbSession) -> Actor:
    token = _bearer(request)
    if token is not None:
        if token.startswith(SESSION_PREFIX):
            return authenticate_session(db, token)
        return authenticate_api_key(db, token)
    staff = getattr(request.state, "staff_actor", None)  # set by the console's session layer
    if staff is not None:
        return staff
    raise Unauthenticated("this endpoint needs an API key: send 'Authorization: Bearer <key>'")


def require(permission: Permission) -> Callable[..., Actor]:
    """A route's permission, declared in its signature. The returned dependency carries the
    permission so that a test can walk the route table and find any route without one."""
    if permission is Permission.PUBLIC:

        def public_actor(request: Request) -> Actor:
            return Actor.public()

        public_actor.__permission__ = permission  # type: ignore[attr-defined]
        return public_actor

    def check(request: Request, db: DbSession) -> Actor:
        actor = _current_actor(request, db)
        if permission.value not in actor.permissions:
            raise PermissionDenied(
                f"this needs the '{permission.value}' permission, which {actor.kind.value} "
                f"'{actor.label}' does not have"
            )
        return actor

    check.__permission__ = permission  # type: ignore[attr-defined]
    check.__name__ = f"require_{permission.name.lower()}"
    return check


def require_quick(permission: Permission) -> Callable[..., Awaitable[Actor]]:
    """`require` for routes that never open a unit of work of their own (notice intake, which hands
    its work to the batcher): a key used in the last few seconds is checked in memory, on the event
    loop; anything else is checked as `require` does, in a thread, in a transaction of its own."""
    sync_check = require(permission)

    async def check_quick(request: Request) -> Actor:
        token = _bearer(request)
        if token is not None and not token.startswith(SESSION_PREFIX):
            actor = remembered_api_key(token, _database(request).clock.now())
            if actor is not None and permission.value in actor.permissions:
                return actor

        def in_thread() -> Actor:
            with _database(request).unit_of_work() as db:
                return sync_check(request, db)

        return await run_in_threadpool(in_thread)

    check_quick.__permission__ = permission  # type: ignore[attr-defined]
    check_quick.__name__ = f"require_quick_{permission.name.lower()}"
    return check_quick


def iter_routes(routes: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every route of an app as (full path, route), through included routers of any depth."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from iter_routes(included.routes, prefix + getattr(context, "prefix", ""))
        else:
            yield prefix + getattr(route, "path", ""), route


def declared_permission(route: Any) -> Permission | None:
    """The permission a FastAPI route declared through `require`, if any."""
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        found = getattr(dep.call, "__permission__", None)
        if found is not None:
            return found
        stack.extend(dep.dependencies)
    return None


# -- rate limits ------------------------------------------------------------------------------


class RateLimiter:
    """Token buckets per (name, client address), in this process. Public forms and sign-in are
    bounded so that a flood neither fills the queue nor guesses passwords; a deployment behind
    several processes gets a limit per process, which is what it needs to stay up."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, name: str, client: str, per_minute: int, at: float) -> bool:
        return self.wait(name, client, per_minute, at) == 0.0

    def wait(self, name: str, client: str, per_minute: int, at: float) -> float:
        """Take a token: 0.0 when there was one, else the seconds until there will be."""
        key = (name, client)
        with self._lock:
            tokens, last = self._buckets.get(key, (float(per_minute), at))
            tokens = min(float(per_minute), tokens + (at - last) * per_minute / 60.0)
            if tokens < 1.0:
                self._buckets[key] = (tokens, at)
                return (1.0 - tokens) * 60.0 / per_minute
            self._buckets[key] = (tokens - 1.0, at)
            if len(self._buckets) > 100_000:  # forget idle clients rather than grow without bound
                self._buckets.clear()
            return 0.0


def public_base(request: Request) -> str:
    """The address a link in this answer starts with: STAYDOWN_PUBLIC_BASE_URL when it is set,
    else the scheme, host and port this request came to (`PORT=8801 make serve` links to 8801)."""
    configured = getattr(request.app.state.settings, "public_base_url", None)
    if configured:
        return str(configured).rstrip("/")
    return str(request.base_url).rstrip("/")


def client_address(request: Request) -> str:
    """The caller's address: the connecting peer, or, when the peer is one of
    STAYDOWN_TRUSTED_PROXIES, the client that proxy says it forwarded for (ProxyHeadersMiddleware
    has already rewritten it; a header from any other peer is ignored)."""
    return request.client.host if request.client else "unknown"


def check_rate(request: Request, name: str, per_minute: int) -> None:
    """Count one request against the limit `name` for the caller's address (0: the public rate)."""
    limiter: RateLimiter = request.app.state.rate_limiter
    limit = request.app.state.settings.public_rate_per_minute if per_minute <= 0 else per_minute
    wait = limiter.wait(name, client_address(request), limit, time.monotonic())
    if wait:
        raise RateLimited(
            f"too many requests to {name} from this address: at most {limit} a minute", retry_after=math.ceil(wait)
        )


def rate_limited(name: str, per_minute: int) -> Callable[[Request], Awaitable[None]]:
    async def check(request: Request) -> None:  # memory only: no trip through the thread pool
        check_rate(request, name, per_minute)

    return check


# -- errors -----------------------------------------------------------------------------------


def error_response(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": code, "message": message, "details": details},
        headers={"X-Request-ID": request_id_var.get()},
    )


def allowed_methods(app: Any, path: str) -> list[str]:
    """Every method some route answers at `path` (what a 405's Allow header lists): the router
    names only the first route that matched the path, and a path often has a route per method."""
    table = getattr(app.state, "_method_table", None)
    if table is None:
        table = []
        for full_path, route in iter_routes(app.routes):
            if isinstance(route, Mount):  # static files: read only
                table.append((re.compile("^" + re.escape(full_path) + "/"), {"GET", "HEAD"}))
            elif getattr(route, "methods", None):
                table.append((compile_path(full_path)[0], set(route.methods)))
        app.state._method_table = table
    found: set[str] = set()
    for pattern, methods in table:
        if pattern.match(path):
            found |= methods
    return sorted(found)


def http_error_headers(request: Request, exc: StarletteHTTPException) -> dict[str, str]:
    """The headers an HTTP error carries to the caller: those it was raised with, and on a 405
    the methods the path does answer (RFC 9110 requires Allow there)."""
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        methods = allowed_methods(request.app, request.url.path)
        if methods:
            headers["Allow"] = ", ".join(methods)
    return headers


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StaydownError)
    async def _domain_error(request: Request, exc: StaydownError) -> JSONResponse:
        status = http_status_for(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:  # 429 and 503 (busy, rate limited, not ready): when to come back
            headers = {"Retry-After": str(retry_after)}
        response = error_response(status, exc.code, exc.message, exc.details)
        if headers:
            response.headers.update(headers)
        return response

    @app.exception_handler(MediaError)
    async def _media_error(request: Request, exc: MediaError) -> JSONResponse:
        # Media that cannot be read safely is the caller's input problem: 422 naming what is wrong.
        return error_response(422, exc.code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{p['where']}: {p['problem']}" for p in problems[:5])
        return error_response(422, "invalid_input", f"the request is not valid: {summary}", problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated", 403: "permission_denied"}
        response = error_response(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))
        response.headers.update(http_error_headers(request, exc))
        return response

    @app.exception_handler(sa_exc.DBAPIError)
    @app.exception_handler(sa_exc.TimeoutError)
    async def _busy(request: Request, exc: Exception) -> JSONResponse:
        # Overload and outage are not internal errors: a writer queue that is too long, a pool with
        # no free connection, a database restarting or locked by another program: the caller is
        # told to come back, and nothing of the request was committed.
        if database_unavailable(exc):
            response = error_response(503, "busy", "the database is busy; nothing was stored, try again shortly")
            response.headers["Retry-After"] = "1"
            return response
        log.exception("database error")
        return error_response(500, "internal_error", "an internal error occurred; it was logged with this request id")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "an internal error occurred; it was logged with this request id")


# -- middleware -------------------------------------------------------------------------------


class RequestIdMiddleware:
    """Give every request an id (the caller's X-Request-ID if it is sane), log with it, return it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if REQUEST_ID_RE.match(incoming) else secrets.token_hex(8)
        token = request_id_var.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class RetryAfterMiddleware:
    """Every 429 and 503 says when to come back: an answer that does not set Retry-After itself
    (a page, /readyz) gets `default` seconds."""

    def __init__(self, app: ASGIApp, default: int = 1) -> None:
        self.app = app
        self.default = str(default).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_retry_after(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (429, 503):
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"retry-after" for k, _ in headers):
                    headers.append((b"retry-after", self.default))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_retry_after)


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse bodies over the limit for their path, by Content-Length up front or by counting a
    streamed body, with 413 and a message that says the limit."""

    def __init__(self, app: ASGIApp, limit_for_path: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for_path = limit_for_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for_path(scope.get("path", ""))
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                size = -1
            if size < 0:
                await self._reply(send, 400, "bad_request", "the Content-Length header is not a number")
                return
            if size > limit:
                await self._reply(
                    send,
                    413,
                    PayloadTooLarge.code,
                    f"the request body is {size} bytes; the limit here is {limit} bytes",
                )
                return
        seen = 0
        exceeded = False
        replaced = False

        async def counting_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise _BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            # Whatever the framework makes of the interrupted read (it calls it a parse error),
            # the caller is told the truth: the body was too large.
            nonlocal replaced
            if exceeded:
                if message["type"] == "http.response.start" and not replaced:
                    replaced = True
                    await self._reply(
                        send, 413, PayloadTooLarge.code, f"the request body is over the limit of {limit} bytes here"
                    )
                return
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _BodyTooLarge:
            if not replaced:
                await self._reply(
                    send, 413, PayloadTooLarge.code, f"the request body is over the limit of {limit} bytes here"
                )

    @staticmethod
    async def _reply(send: Send, status: int, code: str, message: str) -> None:
        response = error_response(status, code, message)
        await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


Endpoint = Callable[..., Awaitable[Any]]
