"""Security for HTML pages: a strict Content-Security-Policy and the other headers, and CSRF tokens.

CSRF uses a signed double-submit token: a random value in a SameSite=Strict, HttpOnly cookie, and
in each form an HMAC of that value under the server's secret key. A forged cross-site form can't
read the cookie, so can't compute the field; the same scheme serves anonymous public forms (no
session) and the console (where the cookie is rotated at sign-in)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from staydown.errors import PermissionDenied
from staydown.i18n import N_

CSRF_COOKIE = "sd_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

# No inline script or style anywhere: scripts and styles come from /static only. HTMX is configured
# (a meta tag in the layout) not to inject its indicator styles and not to evaluate attributes.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "manifest-src 'self'",
    ]
)

# The on-device hashing worker (static/ondevice/worker.js) reads the person's pictures: its own
# policy (a dedicated worker's CSP is the one its script is served with) allows loading its own
# code and nothing else, so no request can leave it, whatever it runs.
WORKER_PATHS = ("/static/ondevice/worker.js",)
WORKER_CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'"

PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "cross-origin-opener-policy": "same-origin",
}


class CsrfError(PermissionDenied):
    """A form arrived without a valid CSRF token (a forged cross-site post, or an expired page): 403."""

    code = "csrf_failed"


class PageSecurityMiddleware:
    """Adds the page headers to every HTML response (and to /static), leaving the JSON API alone."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html") or scope.get("path", "").startswith("/static/"):
                    present = {k.lower() for k, _ in headers}
                    if scope.get("path") in WORKER_PATHS:
                        headers.append((b"content-security-policy", WORKER_CONTENT_SECURITY_POLICY.encode()))
                        present.add(b"content-security-policy")
                    for name, value in PAGE_HEADERS.items():
                        if name.encode() not in present:
                            headers.append((name.encode(), value.encode()))
                    if content_type.startswith(b"text/html") and b"cache-control" not in present:
                        headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _secret(request: Request) -> bytes:
    return request.app.state.settings.secret_key.get_secret_value().encode()


def _sign(secret: bytes, value: str) -> str:
    return hmac.new(secret, b"csrf:" + value.encode(), hashlib.sha256).hexdigest()


def is_https(request: Request) -> bool:
    """Whether cookies must be Secure: the site is served over https (by its public address or
    this request)."""
    return (request.app.state.settings.public_base_url or "").startswith("https://") or request.url.scheme == "https"


def _csrf_cookie_options(request: Request) -> dict[str, Any]:
    return {"httponly": True, "samesite": "strict", "secure": is_https(request), "path": "/"}


def csrf_token(request: Request) -> tuple[str, tuple[str, str, dict[str, Any]] | None]:
    """The token for this page's forms, and the cookie to set if this response must set one (the
    browser has none yet, or it was rotated in this request)."""
    value = getattr(request.state, "csrf_cookie", None)
    if value is None:
        value = request.cookies.get(CSRF_COOKIE)
        if not value or len(value) > 100:
            value = request.state.csrf_cookie = secrets.token_urlsafe(32)
    fresh = getattr(request.state, "csrf_cookie", None) is not None
    return _sign(_secret(request), value), (CSRF_COOKIE, value, _csrf_cookie_options(request)) if fresh else None


def rotate_csrf(request: Request) -> None:
    """A new CSRF value for this browser (call at sign-in and sign-out, then render or redirect
    with `set_csrf_cookie`)."""
    request.state.csrf_cookie = secrets.token_urlsafe(32)


def set_csrf_cookie(request: Request, response: Any) -> None:
    value = getattr(request.state, "csrf_cookie", None)
    if value:
        response.set_cookie(CSRF_COOKIE, value, **_csrf_cookie_options(request))


def verify_csrf(request: Request, submitted: str | None) -> None:
    """Raise CsrfError unless `submitted` (the form field, or the X-CSRF-Token header for HTMX
    requests) matches this browser's cookie."""
    submitted = submitted or request.headers.get(CSRF_HEADER)
    value = request.cookies.get(CSRF_COOKIE)
    if not value or not submitted:
        raise CsrfError(N_("this form has expired or did not come from this site; reload the page and send it again"))
    if not hmac.compare_digest(_sign(_secret(request), value), submitted):
        raise CsrfError(N_("this form has expired or did not come from this site; reload the page and send it again"))
