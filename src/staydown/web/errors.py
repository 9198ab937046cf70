"""Errors on HTML pages are pages: the same domain errors the API maps to JSON, shown as a page
that says what was wrong, with the same status code. API paths keep their JSON bodies."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from staydown.errors import StaydownError, http_status_for
from staydown.http import error_response, http_error_headers
from staydown.i18n import N_
from staydown.i18n import gettext as _
from staydown.web.console.session import LoginRequired, login_redirect
from staydown.web.templating import page_language, render

# Paths whose answers are HTML pages (the JSON API lives under /v1 and /public).
PAGE_PREFIXES = ("/console", "/report", "/takedown", "/status", "/appeal", "/transparency", "/statements", "/detection")


def is_page(request: Request) -> bool:
    path = request.url.path
    return any(path == p or path.startswith((p + "/", p + "?")) for p in PAGE_PREFIXES)


def page_error(request: Request, status: int, message: str) -> Response:
    # The page's language is chosen first: a domain error's message, written in English for the
    # API, is shown translated where the catalogue has it (messages marked with N_ where raised).
    page_language(request)
    title = TITLES.get(status, TITLES[500])
    return render(
        request, "error.html", {"status": status, "title": _(title), "message": _(message)}, status_code=status
    )


TITLES = {
    400: N_("Bad request"),
    401: N_("Please sign in"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    409: N_("Conflict"),
    413: N_("Too large"),
    422: N_("Please check what you sent"),
    429: N_("Too many requests"),
    503: N_("Busy"),
    500: N_("Something went wrong"),
}


def install_page_errors(app: FastAPI) -> None:
    """Register handlers that render pages for page paths and defer to the JSON body elsewhere.
    Registered for the StaydownError base: Starlette picks the handler by the exception's MRO, and
    this replaces the API's handler for that class with one that does both."""
    previous = app.exception_handlers.get(StaydownError)
    previous_http = app.exception_handlers.get(StarletteHTTPException)

    async def domain_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StaydownError)
        if isinstance(exc, LoginRequired) and is_page(request):
            return login_redirect(request)
        if is_page(request):
            response = page_error(request, http_status_for(exc), exc.message)
            retry_after = getattr(exc, "retry_after", None)
            if retry_after:
                response.headers["Retry-After"] = str(retry_after)
            return response
        if previous is not None:
            return await previous(request, exc)  # type: ignore[misc]
        return error_response(http_status_for(exc), exc.code, exc.message, exc.details)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if is_page(request):
            response = page_error(
                request,
                exc.status_code,
                N_("There is no page at this address.") if exc.status_code == 404 else str(exc.detail),
            )
            response.headers.update(http_error_headers(request, exc))
            return response
        if previous_http is not None:
            return await previous_http(request, exc)  # type: ignore[misc]
        return error_response(exc.status_code, "http_error", str(exc.detail))

    previous_validation = app.exception_handlers.get(RequestValidationError)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if is_page(request):
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}"
                for e in exc.errors()[:5]
            )
            return page_error(request, 422, f"Some of what was sent is not valid: {problems}.")
        if previous_validation is not None:
            return await previous_validation(request, exc)  # type: ignore[misc]
        return error_response(422, "invalid_input", "the request is not valid")

    app.add_exception_handler(StaydownError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
