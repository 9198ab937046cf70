"""The service's OpenAPI document and its page: the errors each operation really answers with, in
the one error shape, and Swagger UI served from the package's own files."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from staydown.actors import Actor
from staydown.http import _unit_of_work, declared_permission, iter_routes, require
from staydown.staff.permissions import Permission

Public = Annotated[Actor, Depends(require(Permission.PUBLIC))]


class ErrorBody(BaseModel):
    """Every error the API answers with (`staydown.http.error_response`)."""

    error: str = Field(description="a stable, machine-readable code: invalid_input, not_found, conflict, busy...")
    message: str = Field(description="what was wrong, for a person")
    details: Any = Field(
        default=None, description="more about it when there is more (e.g. each invalid field), else null"
    )


WHY = {
    400: "The request cannot be read (a body that is not what its Content-Type says, a bad Content-Length).",
    401: "No credentials, or they are not valid: send 'Authorization: Bearer <API key or session token>'.",
    403: "The caller is known but lacks the permission this operation declares.",
    404: "The record named in the path does not exist, or is not visible to this caller.",
    409: "The record is not in a state that allows this (already claimed, decided, released...).",
    413: "The request body is over the limit for this path.",
    415: "The body is not in a media type this operation reads.",
    422: "The input is not valid: `details` names each field and what is wrong with it.",
    429: "Too many requests from this address; wait (see Retry-After when present).",
    503: "Busy or not ready (the database is busy, media slots are full, migrations are missing): nothing was "
    "stored; try again after Retry-After.",
}

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Error answers an operation gives beyond those its shape implies (`document_errors`), for a
    route's `responses=`: e.g. `responses=errors(409)`."""
    return {code: {"description": WHY[code]} for code in codes}


def _dependencies(route: APIRoute) -> list[Any]:
    calls, stack = [], list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        calls.append(dep.call)
        stack.extend(dep.dependencies)
    return calls


def implied_errors(route: APIRoute) -> set[int]:
    """The error statuses a route can answer with, from what it is made of: its permission (401,
    403), its input (422, and 400/413 with a body), a record in its path (404), a write (409: the
    record's state may refuse it), the database (503 when it is busy) and a rate limit (429)."""
    assert route.methods is not None  # FastAPI gives every APIRoute its methods (GET by default)
    codes: set[int] = set()
    calls = _dependencies(route)
    permission = declared_permission(route)
    if permission is not None and permission is not Permission.PUBLIC:
        codes |= {401, 403}
    dependant = route.dependant
    has_body = dependant.body_params or "requestBody" in (route.openapi_extra or {})
    if dependant.path_params or dependant.query_params or dependant.header_params or has_body:
        codes.add(422)
    if has_body:
        codes |= {400, 413}
    if dependant.path_params:
        codes.add(404)
    if route.methods & WRITE_METHODS and permission is not Permission.PUBLIC:
        codes.add(409)
    if any(c is _unit_of_work for c in calls) or permission not in (None, Permission.PUBLIC):
        codes.add(503)  # authentication itself reads the database
    if any("check_rate" in getattr(getattr(c, "__code__", None), "co_names", ()) for c in calls):
        codes.add(429)
    return codes


def document_errors(spec: dict[str, Any], app: FastAPI) -> dict[str, Any]:
    """Give each operation of `spec` its error answers (implied and declared), all in the ErrorBody
    schema; FastAPI's own 422 schema is replaced, since the service answers 422 in ErrorBody too."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, route in iter_routes(app.routes):
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        operations = spec["paths"].get(_format(path), {})
        assert route.methods is not None  # as in implied_errors
        for method in route.methods:
            operation = operations.get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for code in sorted(
                implied_errors(route) | {int(c) for c in responses if str(c).isdigit() and int(c) >= 400}
            ):
                entry = responses.setdefault(str(code), {})
                entry["description"] = (
                    entry.get("description")
                    if entry.get("description") not in (None, "", "Validation Error", "Additional Response")
                    else WHY.get(code, "An error.")
                )
                entry["content"] = error_content
                if code in (429, 503):
                    entry.setdefault("headers", {})["Retry-After"] = {
                        "description": "seconds to wait before trying again, when known",
                        "schema": {"type": "integer", "minimum": 0},
                    }
    return spec


def _format(path: str) -> str:
    # A route's full path as the OpenAPI writes it: a `{name:path}` converter is written `{name}`.
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


def install_openapi(app: FastAPI) -> None:
    """Build the app's OpenAPI once, on first request, with the error answers documented."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = document_errors(spec, app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# -- the documentation pages ---------------------------------------------------------------------


def _page(title: str, head: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<title>{title}</title>\n<link rel="icon" href="/static/favicon.svg">\n{head}</head>\n'
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def docs_router(openapi_url: str) -> APIRouter:
    """/docs (Swagger UI), from /static/apidocs: nothing from another origin and no inline script
    or style, so the page works offline and under the page CSP. There is no /redoc: ReDoc styles
    itself with inline <style> elements, which the CSP (style-src 'self') refuses, and renders
    nothing (docs/decisions.md)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/docs", response_class=HTMLResponse)
    def swagger_ui(_: Public) -> HTMLResponse:
        return HTMLResponse(
            _page(
                "staydown API",
                '<link rel="stylesheet" href="/static/apidocs/swagger-ui.css">\n',
                f'<div id="swagger-ui" data-spec-url="{openapi_url}"></div>\n'
                '<script src="/static/apidocs/swagger-ui-bundle.js"></script>\n'
                '<script src="/static/apidocs/swagger-init.js"></script>',
            )
        )

    return router
