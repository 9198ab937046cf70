"""One Jinja2 environment for every page, and `render`, which every view returns through."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from staydown import i18n
from staydown.transparency.labels import figure_label
from staydown.web.console.words import GLOBALS as console_words
from staydown.web.security import csrf_token

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


def _when(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    if value is None:
        return ""
    if fmt == "%Y-%m-%d %H:%M UTC" and i18n.current() != i18n.BASE_LANGUAGE:
        return i18n.when(value)  # a public page in the reader's language
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime(fmt)


def _iso(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _figure_label(key: object) -> str:
    """A transparency figure's key in words ("dsa_notice" reads "EU notices"); a name that is
    not a key of ours (a bank, a policy ref, a reviewer) as it is."""
    text = str(key)
    if (text.islower() and "_" in text) or text.startswith("STATEMENT_CATEGORY_") or text in _KNOWN_WORDS:
        return figure_label(text)
    return text


_KNOWN_WORDS = frozenset(
    {
        "notice",
        "authority",
        "content",
        "account",
        "ncmec",
        "upheld",
        "reversed",
        "modified",
        "detection",
        "remove",
        "disable",
        "demote",
        "label",
        "demonetise",
        "warn",
        "suspend",
        "terminate",
        "strike",
        "user",
        "automated",
        "human",
        "decided",
        "violates",
        "pending",
        "completed",
        "agreed",
        "sampled",
        "count",
        "opened",
        "overdue",
        "open",
        "waiting",
        "missed",
        "detections",
        "confirmed",
    }
)


def build_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        # A misspelt variable is a bug to see in tests, not an empty string on a moderator's screen.
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # `_()` and `{% trans %}` read the current language (i18n.current), set per request by
    # `render` and per message by the code that writes it; newstyle: `%(name)s` filled by keyword.
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda message: i18n.active().gettext(message),
        lambda singular, plural, n: i18n.active().ngettext(singular, plural, n),
        newstyle=True,
    )
    env.filters["when"] = _when
    env.filters["day"] = lambda value: i18n.day(value)
    env.filters["figure_label"] = _figure_label
    # A sentence in {% trans %} is one line in the catalogue, however the template wraps it.
    env.policies["ext.i18n.trimmed"] = True
    env.filters["iso"] = _iso
    env.globals.update(console_words)
    env.filters["word"] = console_words["word"]
    env.filters["staff_name"] = lambda ref, names: names.get(ref, ref)
    return env


ENV = build_environment()


def _is_console(request: Request) -> bool:
    return request.url.path.startswith("/console")


def page_language(request: Request) -> str:
    """The language of a page, chosen once per request and made current. A public page: i18n.choose
    among the platform's languages. A console page: the staff member's own choice (`?lang=`, then
    the console's cookie, then the browser's), among the console's languages, whatever the
    platform serves its users in."""
    chosen = getattr(request.state, "language", None)
    console = _is_console(request)
    if chosen is None:
        if console:
            chosen = i18n.choose(
                asked=request.query_params.get(i18n.LANG_PARAM),
                remembered=request.cookies.get(i18n.CONSOLE_LANG_COOKIE),
                accept_language=request.headers.get("accept-language"),
                platform_languages=i18n.CONSOLE_SHIPPED,
            )
        else:
            settings = request.app.state.settings
            chosen = i18n.choose(
                asked=request.query_params.get(i18n.LANG_PARAM),
                remembered=request.cookies.get(i18n.LANG_COOKIE),
                accept_language=request.headers.get("accept-language"),
                platform_languages=getattr(settings, "platform_languages", [i18n.BASE_LANGUAGE]),
            )
        request.state.language = chosen
    i18n.set_current(chosen, i18n.CONSOLE_DOMAIN if console else i18n.DOMAIN)
    return chosen


async def use_page_language(request: Request) -> None:
    """A dependency of the public and console routers: the language is current before the view
    runs, so the errors and messages it writes are in it too. Async, so that it is set in the
    request's own context, which the view's thread inherits."""
    page_language(request)


def _switch(request: Request, languages: tuple[str, ...]) -> list[dict[str, str]]:
    """The language switch: this address with `?lang=` for each offered language."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != i18n.LANG_PARAM]
    out = []
    for lang in languages:
        href = str(request.url.path) + "?" + urlencode([*query, (i18n.LANG_PARAM, lang)])
        out.append({"lang": lang, "name": i18n.ENDONYMS.get(lang, lang), "href": href})
    return out


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render a page. Every page gets `request`, the CSRF token for its forms, the settings'
    platform name and its language (`lang`, with the switch's links); the token's cookie is set
    on the response when the browser has none yet, and a language asked for with `?lang=` is
    remembered in a cookie."""
    settings = request.app.state.settings
    token, cookie = csrf_token(request)
    lang = page_language(request)
    console = _is_console(request)
    languages = (
        i18n.CONSOLE_SHIPPED if console else i18n.offered(getattr(settings, "platform_languages", [i18n.BASE_LANGUAGE]))
    )
    ctx: dict[str, Any] = {
        "request": request,
        "csrf_token": token,
        "platform_name": getattr(settings, "platform_name", "the platform"),
        "staff": getattr(request.state, "staff", None),
        "lang": lang,
        "languages": _switch(request, languages) if len(languages) > 1 else [],
    }
    ctx.update(context or {})
    response = HTMLResponse(ENV.get_template(template).render(ctx), status_code=status_code, headers=headers)
    if cookie is not None:
        name, value, options = cookie
        response.set_cookie(name, value, **options)
    response.headers["Content-Language"] = lang
    response.headers["Vary"] = "Accept-Language, Cookie"
    asked = i18n.shipped_language(request.query_params.get(i18n.LANG_PARAM))
    cookie_name = i18n.CONSOLE_LANG_COOKIE if console else i18n.LANG_COOKIE
    if asked == lang and request.cookies.get(cookie_name) != lang:
        # Remembered for the next pages and visits: a choice made once, not on every link.
        response.set_cookie(
            cookie_name,
            lang,
            max_age=i18n.LANG_COOKIE_SECONDS,
            path="/console" if console else "/",
            samesite="lax",
            httponly=True,
            secure=request.url.scheme == "https",
        )
    return response
