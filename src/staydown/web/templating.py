"""One Jinja2 environment for every page, and `render`, which every view returns through."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from staydown.web.security import csrf_token

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


def _when(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime(fmt)


def _iso(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def build_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        # A misspelt variable is a bug to see in tests, not an empty string on a moderator's screen.
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["iso"] = _iso
    return env


ENV = build_environment()


def render(request: Request, template: str, context: dict[str, Any] | None = None, *, status_code: int = 200,
           headers: dict[str, str] | None = None) -> HTMLResponse:
    """Render a page. Every page gets `request`, the CSRF token for its forms, and the settings'
    platform name; the token's cookie is set on the response when the browser has none yet."""
    settings = request.app.state.settings
    token, cookie = csrf_token(request)
    ctx: dict[str, Any] = {
        "request": request,
        "csrf_token": token,
        "platform_name": getattr(settings, "platform_name", "the platform"),
        "staff": getattr(request.state, "staff", None),
    }
    ctx.update(context or {})
    response = HTMLResponse(ENV.get_template(template).render(ctx), status_code=status_code, headers=headers)
    if cookie is not None:
        name, value, options = cookie
        response.set_cookie(name, value, **options)
    return response
