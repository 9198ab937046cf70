"""The languages of everything a person outside reads: gettext catalogues, the current language, negotiation.

English is the source: every message is written in English in the code and the templates, marked
with `_()` (or `N_()` where it is only named, to be translated where it is shown), and extracted
into `locale/messages.pot` by `make messages`, which also updates each language's `.po`. The `.po`
files are what the repository holds; they are compiled in memory the first time a language is
used (no `.mo` build step, so a fresh clone serves every language; docs/decisions.md, 2026-12-07).

The current language lives in a context variable: a page's language is chosen once per request
(`negotiate`), and a job or an e-mail sets the language of the person it writes to (`using`).
Code that formats a message reads it through `gettext`, so the same functions serve both.

The console has a catalogue of its own (the `console` domain, English and French only): staff
words need not be translated into every language the public pages ship in. A console page reads
its own catalogue first, then the public one, for the words both show (a policy's title, a figure's
label, a form's error).
"""

from __future__ import annotations

import contextlib
import contextvars
import gettext as _gettext
import importlib.resources
import io
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

import yaml
from babel import Locale
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

BASE_LANGUAGE = "en"
DOMAIN = "messages"
# The languages shipped with a complete catalogue (tests/test_i18n_catalogues.py checks each),
# in the order the language switch lists them.
SHIPPED: tuple[str, ...] = ("en", "fr", "de", "es", "it", "nl", "pl", "pt")
# Each language named in itself, as the switch shows it.
ENDONYMS = {
    "en": "English",
    "fr": "Français",
    "de": "Deutsch",
    "es": "Español",
    "it": "Italiano",
    "nl": "Nederlands",
    "pl": "Polski",
    "pt": "Português",
}

# The console's catalogue: the languages it ships in (its own test checks each is complete).
CONSOLE_DOMAIN = "console"
CONSOLE_SHIPPED: tuple[str, ...] = ("en", "fr")

LANG_PARAM = "lang"
LANG_COOKIE = "staydown_lang"
# The console's choice is remembered apart (path /console): a moderator who reads the public pages
# in another language to check what a reporter sees keeps the console in theirs.
CONSOLE_LANG_COOKIE = "staydown_console_lang"
LANG_COOKIE_SECONDS = 365 * 24 * 3600

_current: contextvars.ContextVar[str] = contextvars.ContextVar("staydown_language", default=BASE_LANGUAGE)
_domain: contextvars.ContextVar[str] = contextvars.ContextVar("staydown_text_domain", default=DOMAIN)


def _catalogue_path(language: str, domain: str = DOMAIN) -> Any:
    return importlib.resources.files("staydown").joinpath("locale", language, "LC_MESSAGES", f"{domain}.po")


@cache
def translations(language: str, domain: str = DOMAIN) -> _gettext.NullTranslations:
    """The compiled catalogue of a shipped language (English: the source itself). Compiled from
    the `.po` on first use: about 10 ms a language, once per process. The console's catalogue
    falls back on the public one."""
    if language == BASE_LANGUAGE or language not in SHIPPED:
        return _gettext.NullTranslations()
    if domain == CONSOLE_DOMAIN and language not in CONSOLE_SHIPPED:
        return translations(language)
    path = _catalogue_path(language, domain)
    with path.open("rb") as source:
        catalog = read_po(source, locale=language, domain=domain)
    buffer = io.BytesIO()
    # Fuzzy entries are left out, as msgfmt does: a guess is never shown (and a test forbids them).
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    found = _gettext.GNUTranslations(buffer)
    if domain != DOMAIN:
        found.add_fallback(translations(language))
    return found


def shipped_language(tag: str | None) -> str | None:
    """The shipped language a tag asks for ("pt-BR" is Portuguese), or None."""
    if not tag:
        return None
    primary = tag.strip().lower().replace("_", "-").split("-", 1)[0]
    return primary if primary in SHIPPED else None


def offered(platform_languages: Sequence[str]) -> tuple[str, ...]:
    """The languages the pages are offered in: the platform's languages that ship a catalogue, in
    its order (its first is the default); English if none of them does."""
    found = tuple(dict.fromkeys(lang for lang in map(shipped_language, platform_languages) if lang))
    return found or (BASE_LANGUAGE,)


def parse_accept_language(header: str | None) -> list[str]:
    """The tags of an Accept-Language header, most wanted first (RFC 9110 12.5.4); q=0 is a refusal."""
    wanted: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "")[:1000].split(",")[:40]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and tag != "*" and quality > 0:
            wanted.append((-quality, index, tag.strip()))
    return [tag for _, _, tag in sorted(wanted)]


def choose(
    *, asked: str | None, remembered: str | None, accept_language: str | None, platform_languages: Sequence[str]
) -> str:
    """The language of a page: the one asked for with `?lang=`, else the one remembered from an
    earlier choice, else the browser's first preference the platform offers, else the platform's
    first language."""
    languages = offered(platform_languages)
    for tag in (asked, remembered, *parse_accept_language(accept_language)):
        found = shipped_language(tag)
        if found in languages:
            return found
    return languages[0]


def user_language(tag: str | None, platform_languages: Sequence[str]) -> str:
    """The language to write to a person in: theirs when the platform serves it, else the
    platform's first language (a statement, an e-mail)."""
    languages = offered(platform_languages)
    found = shipped_language(tag)
    return found if found in languages else languages[0]


def current() -> str:
    return _current.get()


def set_current(language: str, domain: str = DOMAIN) -> None:
    _current.set(language if language in SHIPPED else BASE_LANGUAGE)
    _domain.set(domain)


def active() -> _gettext.NullTranslations:
    """The catalogue messages are read from now: the current language's, in the current domain."""
    return translations(_current.get(), _domain.get())


@contextlib.contextmanager
def using(language: str | None) -> Iterator[str]:
    """Write in `language` inside the block (an e-mail to one person); the previous one after.
    What is written for a person outside reads the public catalogue, even during a console request."""
    chosen = shipped_language(language) or BASE_LANGUAGE
    token = _current.set(chosen)
    domain_token = _domain.set(DOMAIN)
    try:
        yield chosen
    finally:
        _domain.reset(domain_token)
        _current.reset(token)


def gettext(message: str, **values: Any) -> str:
    """`message` in the current language, its %(name)s placeholders filled from `values`."""
    text = active().gettext(message)
    return text % values if values else text


def ngettext(singular: str, plural: str, n: int, **values: Any) -> str:
    text = active().ngettext(singular, plural, n)
    return text % {"num": n, **values}


def N_(message: str) -> str:  # noqa: N802 - the gettext convention the extractor knows
    """Mark a message for extraction where it is defined; it is translated where it is shown."""
    return message


_ = gettext


def when(value: datetime | None, language: str | None = None) -> str:
    """A moment in UTC as the reader writes dates: "9 décembre 2026, 14:05 UTC". English keeps
    the ISO form the console and the API show."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    language = language or _current.get()
    if language == BASE_LANGUAGE:
        return value.strftime("%Y-%m-%d %H:%M UTC")
    locale = Locale.parse(language)
    return (
        f"{format_date(value.date(), 'long', locale=locale)}, {format_time(value.time(), 'HH:mm', locale=locale)} UTC"
    )


def day(value: Any, language: str | None = None) -> str:
    """A date as the reader writes it (ISO in English)."""
    language = language or _current.get()
    if language == BASE_LANGUAGE:
        return value.isoformat()
    return format_date(value, "long", locale=Locale.parse(language))


def localise(mapping: dict[str, Any]) -> dict[str, Any]:
    """A table of words marked with `N_`, in the current language: each string value (or each
    string of a tuple value) translated, the keys kept."""

    def one(value: Any) -> Any:
        if isinstance(value, str):
            return gettext(value) if value else value
        if isinstance(value, tuple):
            return tuple(one(v) for v in value)
        return value

    return {key: one(value) for key, value in mapping.items()}


def shipped_translation(english: str, language: str | None) -> str | None:
    """`english` in a shipped catalogue's language, or None when the catalogue does not have it
    (a platform's own words, or English). The shipped policy catalogue's texts are translated this
    way, outside the catalogue file, so that translating them changes no policy's version."""
    lang = shipped_language(language)
    if not lang or lang == BASE_LANGUAGE or not english:
        return None
    found = translations(lang)
    # The catalogue's own table: a message translated by the same word ("Spam") is translated too.
    return found.gettext(english) if english in getattr(found, "_catalog", {}) else None


def extract_policy_texts(fileobj: Any, keywords: Any, comment_tags: Any, options: Any) -> Iterator[tuple]:
    """A Babel extractor for policy catalogues (`make messages`): the English title, rule and
    notice of each policy, and its grounds' reference and explanation, as people outside read them."""
    document = yaml.safe_load(fileobj.read().decode("utf-8")) or {}
    for policy in document.get("policies", []):
        for field in ("title", "rule", "notice"):
            text = policy.get(field)
            if isinstance(text, str) and text.strip():
                yield 0, None, text.strip() if field != "notice" else text, [f"policy {policy.get('id')}: {field}"]
        # The grounds a statement of reasons cites, in words; a legal reference is a citation and
        # stays as the law writes it.
        for ground in policy.get("ground", []):
            for field in ("reference", "explanation"):
                text = ground.get(field)
                if isinstance(text, str) and text.strip():
                    yield 0, None, text.strip(), [f"policy {policy.get('id')}: ground {field}"]
